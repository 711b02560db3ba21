//! vaultSync: provenance (`require`) and discovery (`discover`) from the VSO
//! resources of the request's namespace, answered by a test cluster. Every
//! request also runs through the reference evaluator (tests/common).
// Tests may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use secret_mounts_policy::settings::Settings;
use serde_json::{json, Value};

/// A VSO resource of `kind` in namespace `ns` syncing `secret`, restarting `targets`.
fn vso(kind: &str, name: &str, secret: &str, targets: Value) -> Value {
    json!({
        "apiVersion": "secrets.hashicorp.com/v1beta1", "kind": kind,
        "metadata": {"name": name, "namespace": "ns", "uid": "0f6c", "generation": 1,
                     "managedFields": [{"manager": "helm", "operation": "Update"}]},
        "spec": {"vaultAuthRef": "default", "mount": "kv", "path": format!("apps/{name}"), "type": "kv-v2",
                 "refreshAfter": "30s", "destination": {"name": secret, "create": true},
                 "rolloutRestartTargets": targets},
        "status": {"secretMAC": "abc", "lastGeneration": 1}
    })
}

/// A Deployment "w" in namespace "ns" whose container "app" mounts `secrets`
/// properly (one projected volume, read-only at /etc/secrets) and reads the
/// env secrets `env` (as `secretKeyRef`).
fn deployment(secrets: &[&str], env: &[&str]) -> Value {
    let mut container = json!({"name": "app", "image": "app:1"});
    if !secrets.is_empty() {
        container["volumeMounts"] = json!([{"name": "secret-mounts", "mountPath": "/etc/secrets", "readOnly": true}]);
    }
    if !env.is_empty() {
        container["env"] = env
            .iter()
            .map(|s| json!({"name": "X", "valueFrom": {"secretKeyRef": {"name": s, "key": "k"}}}))
            .collect();
    }
    let mut spec = json!({"containers": [container]});
    if !secrets.is_empty() {
        let sources: Vec<Value> = secrets.iter().map(|s| json!({"secret": {"name": s}})).collect();
        spec["volumes"] = json!([{"name": "secret-mounts", "projected": {"sources": sources}}]);
    }
    wrap("Deployment", spec, json!({"app": "w"}))
}

fn in_cluster(object: Value, cluster: TestCluster) -> Request {
    Request {
        cluster,
        ..request("apps", "Deployment", "CREATE", object)
    }
}

fn vault(require: &str, discover: bool) -> Settings {
    settings(json!({"vaultSync": {"require": require, "discover": discover}}))
}

fn messages(e: &Evaluation) -> String {
    format!("{:?} {:?}", e.response.message, e.response.warnings)
}

#[test]
fn a_secret_vso_syncs_is_accepted() {
    let cluster = TestCluster::holding(vec![vso("VaultStaticSecret", "db", "db-creds", json!([]))]);
    let e = evaluate(
        &vault("reject", false),
        in_cluster(deployment(&["db-creds"], &[]), cluster),
    );
    assert!(e.findings.is_empty(), "{:?}", e.findings);
    assert!(e.response.accepted);
}

#[test]
fn every_kind_of_vso_resource_syncs() {
    for kind in ["VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"] {
        let cluster = TestCluster::holding(vec![vso(kind, "db", "db-creds", json!([]))]);
        let e = evaluate(
            &vault("reject", false),
            in_cluster(deployment(&["db-creds"], &[]), cluster),
        );
        assert!(e.response.accepted, "{kind}: {}", messages(&e));
    }
}

#[test]
fn a_secret_no_vso_resource_syncs_is_rejected_naming_container_field_secret_namespace_and_fix() {
    let cluster = TestCluster::holding(vec![vso("VaultStaticSecret", "db", "db-creds", json!([]))]);
    let request = in_cluster(deployment(&["db-creds", "by-hand"], &[]), cluster);
    let e = evaluate(&vault("reject", false), request.clone());
    assert_eq!(rules(&e), ["secret-not-vault-synced"]);
    assert!(!e.response.accepted);
    assert_eq!(
        e.response.message.as_deref().unwrap(),
        "Deployment \"ns/w\" breaks the secret mounts rules (1 violation):\n\
         [secret-not-vault-synced] spec.template.spec.containers[0].volumeMounts[0]: container \"app\": \
         volumeMount of volume \"secret-mounts\" uses secret \"by-hand\", which no Vault Secrets Operator resource \
         in namespace \"ns\" syncs from Vault. Sync the secret with a VaultStaticSecret (or VaultDynamicSecret, \
         VaultPKISecret) of the namespace whose spec.destination.name is its name, or, if it must not come from \
         Vault, list it in exemptSecrets."
    );
    // The namespace's resources of the other namespace do not count.
    let elsewhere = TestCluster::holding(vec![{
        let mut r = vso("VaultStaticSecret", "x", "by-hand", json!([]));
        r["metadata"]["namespace"] = json!("other");
        r
    }]);
    let e = evaluate(
        &vault("reject", false),
        in_cluster(deployment(&["by-hand"], &[]), elsewhere),
    );
    assert_eq!(rules(&e), ["secret-not-vault-synced"]);
}

#[test]
fn under_warn_an_unsynced_secret_is_a_warning_and_other_rules_still_reject() {
    let cluster = TestCluster::holding(vec![]);
    let e = evaluate(
        &vault("warn", false),
        in_cluster(deployment(&["by-hand"], &[]), cluster.clone()),
    );
    assert!(e.response.accepted, "{}", messages(&e));
    let warnings = e.response.warnings.clone().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("[secret-not-vault-synced]"), "{warnings:?}");
    assert_eq!(
        e.response.audit_annotations.unwrap()["violations"],
        "secret-not-vault-synced"
    );
    // An env secret breaks env-secret-ref (rejects under action: reject) and
    // is also unsynced (a warning, listed beside the rejection).
    let e = evaluate(
        &vault("warn", false),
        in_cluster(deployment(&[], &["by-hand"]), cluster),
    );
    assert_eq!(rules(&e), ["env-secret-ref", "secret-not-vault-synced"]);
    assert!(!e.response.accepted);
    let message = e.response.message.unwrap();
    assert!(
        message.contains("(1 violation)") && message.contains("[env-secret-ref]"),
        "{message}"
    );
    assert!(e.response.warnings.unwrap()[0].starts_with("[secret-not-vault-synced]"));
}

#[test]
fn env_envfrom_and_plain_volumes_are_judged_for_provenance_in_the_usual_order() {
    let spec = json!({
        "containers": [{"name": "app", "image": "a",
            "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}],
            "envFrom": [{"secretRef": {"name": "envfrom-secret"}}],
            "volumeMounts": [{"name": "plain", "mountPath": "/etc/secrets", "readOnly": true}]}],
        "volumes": [{"name": "plain", "secret": {"secretName": "plain-secret"}}]
    });
    let object = wrap("Deployment", spec, json!({}));
    let e = evaluate(
        &vault("reject", false),
        in_cluster(object, TestCluster::holding(vec![])),
    );
    assert_eq!(
        rules(&e),
        [
            "env-secret-ref",
            "secret-not-vault-synced",
            "envfrom-secret-ref",
            "secret-not-vault-synced",
            "plain-secret-volume",
            "secret-not-vault-synced"
        ]
    );
    let text = rendered(&e, &Settings::default()).join("\n");
    for needle in [
        "env \"A\" uses secret \"env-secret\"",
        "envFrom uses secret \"envfrom-secret\"",
        "volumeMount of volume \"plain\" uses secret \"plain-secret\"",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
}

#[test]
fn exempt_secrets_and_exempt_containers_are_not_judged_and_image_pull_secrets_never() {
    let settings = settings(json!({"vaultSync": {"require": "reject"}, "exemptSecrets": ["*-tls"],
                                   "exemptContainers": ["vault-agent"]}));
    let spec = json!({
        "imagePullSecrets": [{"name": "registry"}],
        "containers": [
            {"name": "app", "volumeMounts": [{"name": "secret-mounts", "mountPath": "/etc/secrets", "readOnly": true}]},
            {"name": "vault-agent", "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "agent-token", "key": "t"}}}]}
        ],
        "volumes": [{"name": "secret-mounts", "projected": {"sources": [{"secret": {"name": "web-tls"}}]}}]
    });
    let e = evaluate(
        &settings,
        in_cluster(wrap("Deployment", spec, json!({})), TestCluster::holding(vec![])),
    );
    assert!(e.findings.is_empty(), "{:?}", rendered(&e, &settings));
}

#[test]
fn a_declared_mount_the_mutation_adds_is_judged_for_provenance() {
    let settings = settings(json!({"vaultSync": {"require": "reject"},
                                   "secretMounts": [{"name": "db", "secretName": "db-creds"}]}));
    let e = evaluate(
        &settings,
        in_cluster(deployment(&[], &[]), TestCluster::holding(vec![])),
    );
    assert_eq!(rules(&e), ["secret-not-vault-synced"]);
    assert!(!e.response.accepted);
    let synced = TestCluster::holding(vec![vso("VaultStaticSecret", "db", "db-creds", json!([]))]);
    let e = evaluate(&settings, in_cluster(deployment(&[], &[]), synced));
    assert!(e.findings.is_empty() && e.mutated.is_some());
}

#[test]
fn a_vso_resource_naming_the_workload_declares_its_mount_and_the_mutation_adds_it() {
    let cluster = TestCluster::holding(vec![
        vso(
            "VaultStaticSecret",
            "db",
            "db-creds",
            json!([{"kind": "Deployment", "name": "w"}]),
        ),
        vso(
            "VaultDynamicSecret",
            "pg",
            "pg-creds",
            json!([{"kind": "Deployment", "name": "other"}]),
        ),
        vso(
            "VaultPKISecret",
            "cert",
            "cert",
            json!([{"kind": "StatefulSet", "name": "w"}]),
        ),
    ]);
    let object = deployment(&[], &[]);
    let e = evaluate(&vault("off", true), in_cluster(object.clone(), cluster.clone()));
    assert!(e.findings.is_empty(), "{:?}", e.findings);
    let mutated = e.mutated.expect("the discovered mount is added");
    let spec = &mutated["spec"]["template"]["spec"];
    assert_eq!(
        spec["volumes"],
        json!([{"name": "secret-mounts", "projected": {"sources": [{"secret": {"name": "db-creds"}}]}}])
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"],
        json!([{"name": "secret-mounts", "mountPath": "/etc/secrets", "readOnly": true}])
    );
    // Idempotent: the mutated object is left alone.
    let again = evaluate(&vault("off", true), in_cluster(mutated, cluster));
    assert!(again.findings.is_empty() && again.mutated.is_none());
}

#[test]
fn a_discovered_mount_already_present_changes_nothing() {
    let cluster = TestCluster::holding(vec![vso(
        "VaultStaticSecret",
        "db",
        "db-creds",
        json!([{"kind": "Deployment", "name": "w"}]),
    )]);
    let e = evaluate(
        &vault("reject", true),
        in_cluster(deployment(&["db-creds"], &[]), cluster),
    );
    assert!(e.findings.is_empty() && e.mutated.is_none(), "{:?}", e.findings);
}

#[test]
fn validate_only_reports_a_discovered_mount_naming_the_vso_resource() {
    let settings = settings(json!({"vaultSync": {"discover": true}, "mutate": false}));
    let cluster = TestCluster::holding(vec![vso(
        "VaultStaticSecret",
        "db",
        "db-creds",
        json!([{"kind": "Deployment", "name": "w"}]),
    )]);
    let e = evaluate(&settings, in_cluster(deployment(&[], &[]), cluster));
    assert_eq!(rules(&e), ["declared-mount-missing"]);
    assert_eq!(
        rendered(&e, &settings),
        ["[declared-mount-missing] spec.template.spec: container \"app\": the mount of secret \"db-creds\" declared by \
          VaultStaticSecret \"db\" (its rolloutRestartTargets name this workload) is missing: no volumeMount at \
          /etc/secrets; add {name: secret-mounts, mountPath: /etc/secrets, readOnly: true}. Add the declared \
          mounts, or let the policy add them (mutate: true)."]
    );
}

#[test]
fn an_explicit_secret_mounts_entry_for_the_same_secret_wins_over_discovery() {
    let settings = settings(json!({"vaultSync": {"discover": true},
        "secretMounts": [{"name": "db", "secretName": "db-creds", "items": [{"key": "password", "path": "db/password"}]}]}));
    let cluster = TestCluster::holding(vec![vso(
        "VaultStaticSecret",
        "db-sync",
        "db-creds",
        json!([{"kind": "Deployment", "name": "w"}]),
    )]);
    let e = evaluate(&settings, in_cluster(deployment(&[], &[]), cluster));
    let mutated = e.mutated.unwrap();
    assert_eq!(
        mutated["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"],
        json!([{"secret": {"name": "db-creds", "items": [{"key": "password", "path": "db/password"}]}}])
    );
}

#[test]
fn pods_jobs_and_other_names_are_not_discovered() {
    let cluster = TestCluster::holding(vec![vso(
        "VaultStaticSecret",
        "db",
        "db-creds",
        json!([{"kind": "Deployment", "name": "w"}, {"kind": "Pod", "name": "p"}, {"kind": "Job", "name": "w"}]),
    )]);
    let spec = json!({"containers": [{"name": "app"}]});
    for (group, kind) in [
        ("", "Pod"),
        ("batch", "Job"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
    ] {
        let object = wrap(kind, spec.clone(), json!({}));
        let request = Request {
            cluster: cluster.clone(),
            ..request(group, kind, "CREATE", object)
        };
        let e = evaluate(&vault("off", true), request);
        assert!(e.mutated.is_none() && e.findings.is_empty(), "{kind}");
    }
}

#[test]
fn a_failed_read_is_vault_sync_unavailable_rejecting_only_under_require_reject() {
    let failing = || TestCluster::failing("kubernetes.list_resources_by_namespace: forbidden");
    let e = evaluate(
        &vault("reject", true),
        in_cluster(deployment(&["db-creds"], &[]), failing()),
    );
    assert_eq!(rules(&e), ["vault-sync-unavailable"]);
    assert!(!e.response.accepted);
    let message = e.response.message.unwrap();
    assert!(
        message.contains(
            "[vault-sync-unavailable] metadata.namespace: could not list VaultStaticSecret \
             (secrets.hashicorp.com/v1beta1) in namespace \"ns\" through the host's kubernetes capability: \
             kubernetes.list_resources_by_namespace: forbidden."
        ),
        "{message}"
    );
    for (require, discover) in [("warn", false), ("off", true)] {
        let e = evaluate(
            &vault(require, discover),
            in_cluster(deployment(&["db-creds"], &[]), failing()),
        );
        assert!(e.response.accepted, "{require}");
        assert!(e.response.warnings.unwrap()[0].starts_with("[vault-sync-unavailable]"));
    }
}

#[test]
fn the_feature_off_makes_no_call_and_on_makes_three_per_judged_request() {
    let cluster = TestCluster::holding(vec![]);
    let request = in_cluster(deployment(&["db-creds"], &[]), cluster.clone());
    let payload = reference::host_payload(&Settings::default(), &request);
    secret_mounts_policy::evaluate::validate(&payload, &cluster);
    assert_eq!(cluster.calls(), 0);
    let payload = reference::host_payload(&vault("warn", false), &request);
    secret_mounts_policy::evaluate::validate(&payload, &cluster);
    assert_eq!(cluster.calls(), 3);
    // A kind the policy does not judge makes no call either.
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}});
    let request = Request {
        cluster: cluster.clone(),
        ..common::request("", "ConfigMap", "CREATE", configmap)
    };
    let payload = reference::host_payload(&vault("warn", false), &request);
    secret_mounts_policy::evaluate::validate(&payload, &cluster);
    assert_eq!(cluster.calls(), 3);
}

#[test]
fn the_namespace_comes_from_the_request_or_else_from_the_object() {
    let cluster = TestCluster::holding(vec![vso("VaultStaticSecret", "db", "db-creds", json!([]))]);
    let request = Request {
        namespace: None,
        ..in_cluster(deployment(&["db-creds"], &[]), cluster)
    };
    let e = evaluate(&vault("reject", false), request.clone());
    assert!(e.response.accepted, "{}", messages(&e));
    let mut object = request.object.clone();
    object["metadata"].as_object_mut().unwrap().remove("namespace");
    let e = evaluate(&vault("reject", false), Request { object, ..request });
    assert_eq!(rules(&e), ["vault-sync-unavailable"]);
    assert!(messages(&e).contains("the request names no namespace"));
}

#[test]
fn discovery_alone_reads_only_for_the_kinds_vso_restarts() {
    let restarted = ["Deployment", "StatefulSet", "DaemonSet"];
    for &(group, kind, _) in KINDS {
        let object = wrap(kind, json!({"containers": [{"name": "app"}]}), json!({}));
        for (require, discover) in [("off", true), ("warn", false), ("warn", true)] {
            let cluster = TestCluster::holding(vec![]);
            let request = Request {
                cluster: cluster.clone(),
                ..common::request(group, kind, "CREATE", object.clone())
            };
            let payload = reference::host_payload(&vault(require, discover), &request);
            secret_mounts_policy::evaluate::validate(&payload, &cluster);
            let reads = require != "off" || restarted.contains(&kind);
            assert_eq!(
                cluster.calls(),
                if reads { 3 } else { 0 },
                "{kind} require={require} discover={discover}"
            );
        }
    }
    // A read that would fail warns nowhere it is not made.
    let pod = wrap("Pod", json!({"containers": [{"name": "app"}]}), json!({}));
    let e = evaluate(
        &vault("off", true),
        Request {
            cluster: TestCluster::failing("kubernetes.list_resources_by_namespace: forbidden"),
            ..common::request("", "Pod", "CREATE", pod)
        },
    );
    assert!(e.response.accepted && e.response.warnings.is_none(), "{}", messages(&e));
}

#[test]
fn discovered_whole_secrets_sharing_a_volume_are_a_warning_naming_them() {
    let targets = json!([{"kind": "Deployment", "name": "w"}]);
    let two = TestCluster::holding(vec![
        vso("VaultStaticSecret", "db", "db-creds", targets.clone()),
        vso("VaultDynamicSecret", "api", "api-token", targets.clone()),
    ]);
    // Under action: reject too: keys that may collide are no certainty.
    let e = evaluate(&vault("off", true), in_cluster(deployment(&[], &[]), two.clone()));
    assert!(e.response.accepted, "{}", messages(&e));
    assert_eq!(rules(&e), ["discovered-secrets-may-collide"]);
    assert!(e.mutated.is_some());
    let warning = &e.response.warnings.as_ref().unwrap()[0];
    assert!(
        warning.starts_with(
            "[discovered-secrets-may-collide] spec.template.spec: secrets \"db-creds\", \"api-token\", declared by \
             VaultStaticSecret \"db\", VaultDynamicSecret \"api\", go whole into one volume at /etc/secrets"
        ),
        "{warning}"
    );
    // One discovered Secret, or one whose keys an explicit entry declares: nothing to collide.
    let one = TestCluster::holding(vec![vso("VaultStaticSecret", "db", "db-creds", targets)]);
    let e = evaluate(&vault("off", true), in_cluster(deployment(&[], &[]), one));
    assert!(
        e.findings.is_empty() && e.response.warnings.is_none(),
        "{}",
        messages(&e)
    );
    let declared = settings(json!({"vaultSync": {"discover": true}, "secretMounts": [
        {"name": "db", "secretName": "db-creds", "items": [{"key": "password", "path": "db/password"}]}]}));
    let e = evaluate(&declared, in_cluster(deployment(&[], &[]), two.clone()));
    assert!(e.findings.is_empty(), "{}", messages(&e));
    // No container receives them (all exempt): nothing is projected.
    let exempt = settings(json!({"vaultSync": {"discover": true}, "exemptContainers": ["app"]}));
    let e = evaluate(&exempt, in_cluster(deployment(&[], &[]), two));
    assert!(e.findings.is_empty(), "{}", messages(&e));
}
