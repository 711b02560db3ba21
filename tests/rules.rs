//! Every validation rule, positive and negative, for every built-in kind and
//! every container list.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use secret_mounts_policy::settings::Settings;
use serde_json::{json, Value};

const LISTS: [(&str, &str); 3] = [
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
];

fn projected_secret(name: &str, secret: &str) -> Value {
    json!({"name": name, "projected": {"sources": [{"secret": {"name": secret}}]}})
}

fn good_mount(volume: &str) -> Value {
    json!({"name": volume, "mountPath": "/etc/secrets", "readOnly": true})
}

/// A case: a container (placed in each list in turn) plus pod volumes, and the
/// rules expected.
struct Case {
    name: &'static str,
    container: Value,
    volumes: Value,
    expected: &'static [&'static str],
    /// Substrings the rendered message must contain.
    mentions: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "env secretKeyRef",
            container: json!({"name": "app", "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}),
            volumes: json!([]),
            expected: &["env-secret-ref"],
            mentions: &[
                "env \"DB_PASSWORD\"",
                "secret \"db\"",
                "key \"password\"",
                "read-only at /etc/secrets",
            ],
        },
        Case {
            name: "envFrom secretRef",
            container: json!({"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}),
            volumes: json!([]),
            expected: &["envfrom-secret-ref"],
            mentions: &["envFrom", "secret \"db\"", "Remove the envFrom entry"],
        },
        Case {
            name: "plain secret volume mounted",
            container: json!({"name": "app", "volumeMounts": [{"name": "creds", "mountPath": "/etc/secrets", "readOnly": true}]}),
            volumes: json!([{"name": "creds", "secret": {"secretName": "db"}}]),
            expected: &["plain-secret-volume"],
            mentions: &["volume \"creds\"", "secret \"db\"", "projected volume"],
        },
        Case {
            name: "secret-bearing projected volume at another path",
            container: json!({"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/var/secrets", "readOnly": true}]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &["secret-mount-path"],
            mentions: &[
                "volume \"s\"",
                "secret \"db\"",
                "\"/var/secrets\"",
                "set mountPath: /etc/secrets",
            ],
        },
        Case {
            name: "secret-bearing mount without readOnly",
            container: json!({"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets"}]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &["secret-mount-writable"],
            mentions: &["volume \"s\"", "secret \"db\"", "readOnly: true"],
        },
        Case {
            name: "secret-bearing mount with readOnly false",
            container: json!({"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": false}]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &["secret-mount-writable"],
            mentions: &["not read-only"],
        },
        Case {
            name: "secret-bearing mount with subPath",
            container: json!({"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": true, "subPath": "db"}]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &["secret-mount-subpath"],
            mentions: &["subPath \"db\"", "rotated", "secret \"db\""],
        },
        Case {
            name: "secret-bearing mount with subPathExpr",
            container: json!({"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": true, "subPathExpr": "$(POD)"}]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &["secret-mount-subpath"],
            mentions: &["subPathExpr \"$(POD)\""],
        },
        Case {
            name: "two items projecting one path",
            container: json!({"name": "app", "volumeMounts": [good_mount("s")]}),
            volumes: json!([{"name": "s", "projected": {"sources": [
                {"secret": {"name": "a", "items": [{"key": "K", "path": "same"}]}},
                {"secret": {"name": "b", "items": [{"key": "K2", "path": "same"}]}}]}}]),
            expected: &["projected-path-conflict"],
            mentions: &[
                "volume \"s\"",
                "secret \"a\" key \"K\"",
                "secret \"b\" key \"K2\"",
                "\"same\"",
            ],
        },
        Case {
            name: "compliant projected mount",
            container: json!({"name": "app", "volumeMounts": [good_mount("s")]}),
            volumes: json!([projected_secret("s", "db")]),
            expected: &[],
            mentions: &[],
        },
        Case {
            name: "legitimate non-secret sources",
            container: json!({"name": "app",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "envFrom": [{"configMapRef": {"name": "c"}}],
                "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
                                 {"name": "cm", "mountPath": "/etc/config"}, {"name": "tmp", "mountPath": "/tmp"},
                                 {"name": "csi", "mountPath": "/mnt/secrets-store", "readOnly": true},
                                 {"name": "dapi", "mountPath": "/etc/podinfo", "subPath": "labels"}]}),
            volumes: json!([
                {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}},
                {"name": "cm", "configMap": {"name": "c"}}, {"name": "tmp", "emptyDir": {}},
                {"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": true, "volumeAttributes": {"secretProviderClass": "x"}}},
                {"name": "dapi", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]),
            expected: &[],
            mentions: &[],
        },
    ]
}

#[test]
fn every_rule_in_every_kind_and_container_list() {
    let settings = Settings::default();
    for case in cases() {
        for (group, kind, _) in KINDS {
            for (list, noun) in LISTS {
                let mut spec = json!({"volumes": case.volumes, "imagePullSecrets": [{"name": "registry"}]});
                // Keep one ordinary container so the spec is realistic when the case sits elsewhere.
                spec["containers"] = json!([{"name": "main"}]);
                if list == "containers" {
                    spec["containers"] = json!([case.container]);
                } else {
                    spec[list] = json!([case.container]);
                }
                let e = evaluate(&settings, request(group, kind, "CREATE", wrap(kind, spec, json!({}))));
                let context = format!("case {:?}, {kind}, {list}", case.name);
                assert_eq!(rules(&e), case.expected, "{context}");
                assert!(
                    e.mutated.is_none(),
                    "{context}: no secretMounts declared, nothing to mutate"
                );
                for line in rendered(&e, &settings) {
                    if !line.starts_with("[projected-path-conflict]") {
                        assert!(line.contains(&format!("{noun} \"app\"")), "{context}: {line}");
                    }
                    for m in case.mentions {
                        assert!(line.contains(m), "{context}: {line:?} should mention {m:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn update_is_judged_like_create() {
    let spec = json!({"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]});
    for (group, kind, _) in KINDS {
        let e = evaluate(
            &Settings::default(),
            request(group, kind, "UPDATE", wrap(kind, spec.clone(), json!({}))),
        );
        assert_eq!(rules(&e), ["envfrom-secret-ref"], "{kind}");
    }
}

#[test]
fn delete_and_connect_without_object_are_accepted() {
    for op in ["DELETE", "CONNECT"] {
        let e = evaluate(&Settings::default(), request("apps", "Deployment", op, Value::Null));
        assert!(e.findings.is_empty() && e.mutated.is_none(), "{op}");
    }
    // Even with an object (DELETE carries oldObject only, but be safe): not judged.
    let bad = wrap(
        "Deployment",
        json!({"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}]}),
        json!({}),
    );
    assert!(
        evaluate(&Settings::default(), request("apps", "Deployment", "DELETE", bad))
            .findings
            .is_empty()
    );
}

#[test]
fn other_kinds_and_subresources_are_accepted_untouched() {
    let spec = json!({"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}]});
    let obj = wrap("Deployment", spec.clone(), json!({}));
    assert!(evaluate(
        &Settings::default(),
        request("example.com", "Deployment", "CREATE", obj.clone())
    )
    .findings
    .is_empty());
    assert!(evaluate(
        &Settings::default(),
        request("", "ConfigMap", "CREATE", json!({"data": {}}))
    )
    .findings
    .is_empty());
    let mut scale = request("apps", "Deployment", "UPDATE", obj);
    scale.sub_resource = Some("status".into());
    assert!(evaluate(&Settings::default(), scale).findings.is_empty());
}

#[test]
fn ephemeral_containers_subresource_is_judged() {
    let pod = wrap(
        "Pod",
        json!({"containers": [{"name": "app"}],
        "ephemeralContainers": [{"name": "debugger", "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}),
        json!({}),
    );
    let mut req = request("", "Pod", "UPDATE", pod);
    req.sub_resource = Some("ephemeralcontainers".into());
    let settings = Settings::default();
    let e = evaluate(&settings, req);
    assert_eq!(rules(&e), ["env-secret-ref"]);
    assert!(rendered(&e, &settings)[0].contains("ephemeralContainer \"debugger\""));
}

#[test]
fn exempt_containers_are_not_judged() {
    let settings = settings(json!({"exemptContainers": ["vault-agent"]}));
    let spec = json!({
        "containers": [{"name": "app", "volumeMounts": [good_mount("s")]},
                       {"name": "vault-agent", "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "b", "key": "t"}}}],
                        "envFrom": [{"secretRef": {"name": "b"}}],
                        "volumeMounts": [{"name": "cfg", "mountPath": "/vault/config"}, {"name": "s", "mountPath": "/vault/s", "subPath": "x"}]}],
        "volumes": [projected_secret("s", "db"), {"name": "cfg", "secret": {"secretName": "agent-config"}}]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), Vec::<&str>::new(), "{:?}", rendered(&e, &settings));
}

#[test]
fn a_plain_secret_volume_is_judged_through_non_exempt_mounts_or_when_unmounted() {
    let settings = settings(json!({"exemptContainers": ["vault-agent"]}));
    let volumes = json!([{"name": "cfg", "secret": {"secretName": "agent-config"}}]);
    // Mounted only by the exempt container: fine.
    let only_exempt = json!({"containers": [{"name": "vault-agent", "volumeMounts": [{"name": "cfg", "mountPath": "/c"}]}], "volumes": volumes});
    assert!(eval_deployment(&settings, only_exempt).findings.is_empty());
    // Mounted by nobody: a violation of its own, naming the volume.
    let unmounted = json!({"containers": [{"name": "app"}], "volumes": volumes});
    let e = eval_deployment(&settings, unmounted);
    assert_eq!(rules(&e), ["plain-secret-volume"]);
    assert_eq!(e.findings[0].at, "spec.template.spec.volumes[0]");
    assert!(rendered(&e, &settings)[0]
        .contains("volume \"cfg\" (mounted by no container) is a plain secret volume of secret \"agent-config\""));
    // Mounted by both: one violation, through the judged container.
    let both = json!({"containers": [{"name": "vault-agent", "volumeMounts": [{"name": "cfg", "mountPath": "/c"}]},
                                     {"name": "app", "volumeMounts": [{"name": "cfg", "mountPath": "/c"}]}], "volumes": volumes});
    let e = eval_deployment(&settings, both);
    assert_eq!(rules(&e), ["plain-secret-volume"]);
    assert_eq!(e.findings[0].at, "spec.template.spec.containers[1].volumeMounts[0]");
}

#[test]
fn path_conflicts_count_only_in_volumes_a_judged_container_mounts() {
    let settings = settings(json!({"exemptContainers": ["agent"]}));
    let volume = json!({"name": "s", "projected": {"sources": [
        {"secret": {"name": "a", "items": [{"key": "K", "path": "p"}]}},
        {"serviceAccountToken": {"path": "p"}}]}});
    let spec =
        json!({"containers": [{"name": "agent", "volumeMounts": [good_mount("s")]}], "volumes": [volume.clone()]});
    assert!(eval_deployment(&settings, spec).findings.is_empty());
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [good_mount("s")]}], "volumes": [volume]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), ["projected-path-conflict"]);
    assert!(rendered(&e, &settings)[0].contains("serviceAccountToken path"));
}

#[test]
fn custom_mount_path_is_the_allowed_path() {
    let settings = settings(json!({"mountPath": "/run/secrets/app"}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [good_mount("s")]}], "volumes": [projected_secret("s", "db")]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), ["secret-mount-path"]);
    assert!(rendered(&e, &settings)[0].contains("set mountPath: /run/secrets/app"));
}

#[test]
fn all_violations_are_listed_in_a_stable_order() {
    let spec = json!({
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "i"}}]}],
        "containers": [
            {"name": "one", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}],
             "envFrom": [{"secretRef": {"name": "y"}}],
             "volumeMounts": [{"name": "s", "mountPath": "/wrong", "subPath": "a"}]},
            {"name": "two", "volumeMounts": [{"name": "plain", "mountPath": "/p"}]}],
        "volumes": [projected_secret("s", "db"), {"name": "plain", "secret": {"secretName": "p"}}, {"name": "orphan", "secret": {"secretName": "o"}}]});
    let settings = Settings::default();
    let e = eval_deployment(&settings, spec.clone());
    assert_eq!(
        rules(&e),
        [
            "env-secret-ref",
            "envfrom-secret-ref",
            "secret-mount-path",
            "secret-mount-writable",
            "secret-mount-subpath",
            "plain-secret-volume",
            "envfrom-secret-ref",
            "plain-secret-volume"
        ]
    );
    let ats: Vec<&str> = e.findings.iter().map(|f| f.at.as_str()).collect();
    assert_eq!(ats[0], "spec.template.spec.containers[0].env[0]");
    assert_eq!(ats[6], "spec.template.spec.initContainers[0].envFrom[0]");
    assert_eq!(ats[7], "spec.template.spec.volumes[2]");
    // Same input, same answer.
    assert_eq!(
        rendered(&eval_deployment(&settings, spec), &settings),
        rendered(&e, &settings)
    );
}

#[test]
fn malformed_pod_specs_are_rejected_with_the_field_named() {
    let settings = Settings::default();
    for (spec, at, detail) in [
        (
            json!({"containers": 5}),
            "spec.template.spec.containers",
            "must be a list, found a number",
        ),
        (
            json!({"containers": ["app"]}),
            "spec.template.spec.containers[0]",
            "must be an object, found a string",
        ),
        (
            json!({"containers": [{"name": "a", "env": {"A": "1"}}]}),
            "spec.template.spec.containers[0].env",
            "must be a list, found an object",
        ),
        (
            json!({"containers": [{"name": "a"}], "volumes": "x"}),
            "spec.template.spec.volumes",
            "must be a list, found a string",
        ),
        (
            json!({"containers": [{"name": "a", "volumeMounts": [7]}]}),
            "spec.template.spec.containers[0].volumeMounts[0]",
            "must be an object, found a number",
        ),
    ] {
        let e = eval_deployment(&settings, spec.clone());
        assert_eq!(rules(&e), ["malformed-object"], "{spec}");
        assert_eq!(e.findings[0].at, at, "{spec}");
        assert!(
            rendered(&e, &settings)[0].contains(detail),
            "{spec}: {:?}",
            rendered(&e, &settings)
        );
    }
    let e = evaluate(&settings, request("apps", "Deployment", "CREATE", json!({"spec": 5})));
    assert_eq!(rules(&e), ["malformed-object"]);
    assert_eq!(
        rendered(&e, &settings)[0],
        "[malformed-object] spec: spec must be an object, found a number."
    );
}

#[test]
fn mount_paths_are_directories_as_the_kubelet_mounts_them() {
    let settings = settings(json!({}));
    for path in ["/etc/secrets/", "/etc//secrets", "/etc/./secrets"] {
        let mount = json!({"name": "s", "mountPath": path, "readOnly": true});
        let spec =
            json!({"containers": [{"name": "app", "volumeMounts": [mount]}], "volumes": [projected_secret("s", "db")]});
        let e = eval_deployment(&settings, spec);
        assert!(e.findings.is_empty(), "{path}: {:?}", rendered(&e, &settings));
    }
    // Elsewhere is still elsewhere, and the message keeps the user's spelling.
    let mount = json!({"name": "s", "mountPath": "/etc//secrets/db/", "readOnly": true});
    let spec =
        json!({"containers": [{"name": "app", "volumeMounts": [mount]}], "volumes": [projected_secret("s", "db")]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), ["secret-mount-path"]);
    assert!(
        rendered(&e, &settings)[0].contains(r#"is at "/etc//secrets/db/""#),
        "{:?}",
        rendered(&e, &settings)
    );
}

#[test]
fn exempt_secrets_are_judged_by_no_rule_wherever_they_are_mounted() {
    let settings = settings(json!({"exemptSecrets": ["*-tls", "webhook-ca"]}));
    let spec = json!({"containers": [{"name": "controller",
    "env": [{"name": "CA", "valueFrom": {"secretKeyRef": {"name": "webhook-ca", "key": "ca.crt"}}}],
    "envFrom": [{"secretRef": {"name": "ingress-tls"}}],
    "volumeMounts": [
        {"name": "cert", "mountPath": "/usr/local/certificates"},
        {"name": "mixed", "mountPath": "/etc/secrets", "readOnly": true, "subPath": "x"}
    ]}],
    "volumes": [
        {"name": "cert", "secret": {"secretName": "ingress-tls"}},
        {"name": "unmounted", "secret": {"secretName": "old-tls"}},
        {"name": "mixed", "projected": {"sources": [{"secret": {"name": "api-tls"}}, {"secret": {"name": "db"}}]}}
    ]});
    let e = eval_deployment(&settings, spec);
    // Only the mixed volume's Secret that is not exempt is judged, and only it is named.
    assert_eq!(rules(&e), ["secret-mount-subpath"], "{:?}", rendered(&e, &settings));
    assert!(
        rendered(&e, &settings)[0].contains(r#"(secret "db")"#),
        "{:?}",
        rendered(&e, &settings)
    );
}

#[test]
fn a_plain_secret_volume_at_another_path_names_the_escape_hatch() {
    let spec = json!({"containers": [{"name": "controller", "volumeMounts": [{"name": "cert", "mountPath": "/etc/tls", "readOnly": true}]}],
        "volumes": [{"name": "cert", "secret": {"secretName": "webhook-cert"}}]});
    let e = eval_deployment(&settings(json!({})), spec);
    let message = &rendered(&e, &settings(json!({})))[0];
    assert!(
        message.contains(
            r#"; if it is a certificate the program must find at /etc/tls, list "webhook-cert" in exemptSecrets instead. "#
        ),
        "{message}"
    );
    // At the mount path itself the fix moves nothing: no escape hatch.
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": true}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "db"}}]});
    let e = eval_deployment(&settings(json!({})), spec);
    assert!(!rendered(&e, &settings(json!({})))[0].contains("exemptSecrets"));
}

/// A container `vault-agent` running `image` (none: `None`) that reads a Secret
/// from an environment variable, next to an `app` container.
fn agent_spec(image: Option<&str>) -> Value {
    let mut agent = json!({"name": "vault-agent", "env": [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "vault-token", "key": "token"}}}]});
    if let Some(image) = image {
        agent["image"] = json!(image);
    }
    json!({"containers": [{"name": "app", "image": "app:1"}, agent]})
}

#[test]
fn a_pinned_exemption_holds_only_for_its_image() {
    let pinned = settings(json!({
        "exemptContainers": [{"name": "vault-agent", "image": "hashicorp/vault:*"}],
        "secretMounts": [{"name": "api-key", "secretName": "api-key"}]
    }));
    // The image it was meant for: neither judged nor mutated.
    let e = eval_deployment(&pinned, agent_spec(Some("hashicorp/vault:1.15.2")));
    assert!(e.response.accepted && e.findings.is_empty(), "{:?}", e.response.message);
    let mutated = e.mutated.expect("app gets the declared mount");
    let containers = &mutated["spec"]["template"]["spec"]["containers"];
    assert!(containers[0]["volumeMounts"].is_array() && containers[1].get("volumeMounts").is_none());
    // Another image, or none, under the same name: judged and mutated like any container.
    for image in [Some("evil.example/vault:1.15"), Some("hashicorp/vault"), None] {
        let e = eval_deployment(&pinned, agent_spec(image));
        assert_eq!(rules(&e), ["env-secret-ref"], "{image:?}");
        let message = e.response.message.unwrap();
        assert!(
            message.contains("[env-secret-ref] spec.template.spec.containers[1].env[0]: container \"vault-agent\""),
            "{message}"
        );
    }
}

#[test]
fn a_name_only_exemption_trusts_whatever_the_container_runs() {
    for written in [json!("vault-agent"), json!({"name": "vault-agent"})] {
        let by_name = settings(json!({"exemptContainers": [written]}));
        for image in [Some("hashicorp/vault:1.15"), Some("evil.example/vault:1"), None] {
            let e = eval_deployment(&by_name, agent_spec(image));
            assert!(e.response.accepted && e.findings.is_empty(), "{written} {image:?}");
        }
    }
}

/// A Deployment whose container "app" reads `env` Secrets through env
/// entries, then imports `env_from` whole Secrets.
fn many_findings(env: usize, env_from: usize) -> Value {
    let env: Vec<Value> = (0..env)
        .map(|i| json!({"name": format!("SECRET_{i}"), "valueFrom": {"secretKeyRef": {"name": format!("secret-{i}"), "key": "k"}}}))
        .collect();
    let env_from: Vec<Value> = (0..env_from)
        .map(|i| json!({"secretRef": {"name": format!("bundle-{i}")}}))
        .collect();
    json!({"containers": [{"name": "app", "env": env, "envFrom": env_from}]})
}

/// The lines of a bounded text: the findings listed, then the count of the
/// rest, `(more, total, [(rule, count)])`.
fn counted(last: &str) -> (usize, usize, Vec<(String, usize)>) {
    let rest = last
        .strip_prefix("and ")
        .unwrap_or_else(|| panic!("no count line: {last}"));
    let (more, rest) = rest.split_once(" more of ").unwrap();
    let (total, rest) = rest.split_once(", not listed: ").unwrap();
    let (counts, _) = rest.split_once(" (").unwrap();
    let counts = counts
        .split(", ")
        .map(|c| {
            let (rule, n) = c.rsplit_once(' ').unwrap();
            (rule.to_string(), n.parse().unwrap())
        })
        .collect();
    (more.parse().unwrap(), total.parse().unwrap(), counts)
}

/// Checks a bounded list of lines (a message without its first line, or the
/// warnings) of `total` findings: within `limit`, every rule's advice once,
/// the rest counted per rule.
fn assert_bounded(lines: &[&str], total: usize, limit: usize, env: usize) {
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(bytes <= limit, "{bytes} bytes");
    let (listed, last) = lines.split_at(lines.len() - 1);
    let (more, announced_total, per_rule) = counted(last[0]);
    assert_eq!(announced_total, total);
    assert_eq!(listed.len() + more, total);
    assert!(listed.iter().all(|l| l.starts_with("[env-secret-ref] ")));
    assert!(listed.len() >= 10, "only {} findings listed", listed.len());
    assert_eq!(
        per_rule,
        [
            ("env-secret-ref".to_string(), env - listed.len()),
            ("envfrom-secret-ref".to_string(), total - env)
        ]
    );
    let advice = "Secrets must not be environment variables";
    assert_eq!(listed.iter().filter(|l| l.contains(advice)).count(), 1);
    assert!(listed[0].contains(advice));
}

#[test]
fn a_rejection_of_40_or_5000_findings_fits_in_4_kib_and_counts_the_rest() {
    for (env, env_from) in [(30, 10), (4000, 1000)] {
        let total = env + env_from;
        let e = eval_deployment(&settings(json!({})), many_findings(env, env_from));
        assert!(!e.response.accepted);
        assert_eq!(
            e.response.audit_annotations.as_ref().unwrap()["violations"],
            "env-secret-ref,envfrom-secret-ref"
        );
        let message = e.response.message.unwrap();
        assert!(message.len() <= 4096, "{total}: {} bytes", message.len());
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines[0],
            format!("Deployment \"ns/w\" breaks the secret mounts rules ({total} violations):")
        );
        assert_bounded(&lines[1..], total, 4096 - lines[0].len(), env);
    }
}

#[test]
fn warnings_follow_the_same_bound() {
    let e = eval_deployment(&settings(json!({"action": "warn"})), many_findings(30, 10));
    assert!(e.response.accepted);
    let warnings = e.response.warnings.unwrap();
    let lines: Vec<&str> = warnings.iter().map(String::as_str).collect();
    assert_bounded(&lines, 40, 4096, 30);
}

#[test]
fn a_raised_bound_lists_every_finding_for_policy_ci() {
    let e = eval_deployment(
        &settings(json!({"maxMessageBytes": 16_777_216})),
        many_findings(4000, 1000),
    );
    let message = e.response.message.unwrap();
    let lines: Vec<&str> = message.lines().skip(1).collect();
    assert_eq!(lines.len(), 5000);
    assert!(lines.iter().all(|l| l.starts_with('[')));
    // Each rule's advice still once.
    assert_eq!(message.matches("Secrets must not be environment variables").count(), 1);
    assert_eq!(message.matches("Remove the envFrom entry").count(), 1);
}
