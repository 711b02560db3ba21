//! The mutation: what it adds, what it refuses to guess, and the exact RFC 6902
//! patch it amounts to.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use serde_json::{json, Value};

/// The RFC 6902 diff from `before` to `after`, as JSON.
fn patch(before: &Value, after: &Value) -> Value {
    serde_json::to_value(json_patch::diff(before, after)).unwrap()
}

/// The object after the policy's mutation (panics if it did not mutate).
fn mutated(
    settings: &secret_mounts_policy::settings::Settings,
    group: &str,
    kind: &str,
    op: &str,
    object: &Value,
) -> Value {
    let e = evaluate(settings, request(group, kind, op, object.clone()));
    assert!(
        e.findings.is_empty(),
        "unexpected findings: {:?}",
        rendered(&e, settings)
    );
    e.mutated.expect("the policy should have mutated the object")
}

fn seed_settings() -> secret_mounts_policy::settings::Settings {
    settings(fixture("settings-seed.json"))
}

fn api_key_entry() -> Value {
    json!({"name": "api-key", "secretName": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]})
}

#[test]
fn the_seed_example_is_reproduced_exactly_and_a_second_pass_is_a_no_op() {
    let settings = seed_settings();
    let request = fixture("deployment-missing-mount.json");
    let object = request["object"].clone();
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    assert_eq!(
        patch(&object, &after),
        json!([
            {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/1",
             "value": {"name": "processor-secrets", "mountPath": "/etc/secrets", "readOnly": true}},
            {"op": "add", "path": "/spec/template/spec/volumes/1",
             "value": {"name": "processor-secrets", "projected": {"sources": [
                 {"secret": {"name": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}}]}}}
        ])
    );
    // The seed's rendered volume, exactly.
    assert_eq!(
        after["spec"]["template"]["spec"]["volumes"][1],
        json!({"name": "processor-secrets", "projected": {"sources": [{"secret": {"name": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}}]}})
    );
    let again = evaluate(&settings, common::request("apps", "Deployment", "UPDATE", after));
    assert!(
        again.findings.is_empty() && again.mutated.is_none(),
        "second pass must be a no-op"
    );
}

#[test]
fn a_compliant_object_is_left_untouched() {
    let settings = seed_settings();
    let object = fixture("deployment-helm-compliant.json")["object"].clone();
    let e = evaluate(&settings, request("apps", "Deployment", "CREATE", object));
    assert!(e.findings.is_empty(), "{:?}", rendered(&e, &settings));
    assert!(e.mutated.is_none());
}

#[test]
fn missing_sources_are_merged_into_the_projected_volume_already_at_the_path() {
    let settings = settings(json!({"secretMounts": [api_key_entry(), {"name": "db", "secretName": "db"}]}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "mine", "mountPath": "/etc/secrets", "readOnly": true}]}],
                      "volumes": [{"name": "mine", "projected": {"defaultMode": 256, "sources": [{"secret": {"name": "other"}}]}}]});
    let object = wrap("Deployment", spec, json!({}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    assert_eq!(
        patch(&object, &after),
        json!([
            {"op": "add", "path": "/spec/template/spec/volumes/0/projected/sources/1",
             "value": {"secret": {"name": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}}},
            {"op": "add", "path": "/spec/template/spec/volumes/0/projected/sources/2", "value": {"secret": {"name": "db"}}}
        ])
    );
}

#[test]
fn missing_items_join_the_existing_source_of_their_secret_without_duplicates() {
    let settings = settings(json!({"secretMounts": [{"name": "api", "secretName": "api", "items": [
        {"key": "A", "path": "api/A"}, {"key": "B", "path": "api/B"}]}]}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets", "readOnly": true}]}],
                      "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "api", "items": [{"key": "A", "path": "api/A"}]}}]}}]});
    let object = wrap("Deployment", spec, json!({}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    assert_eq!(
        patch(&object, &after),
        json!([{"op": "add", "path": "/spec/template/spec/volumes/0/projected/sources/0/secret/items/1", "value": {"key": "B", "path": "api/B"}}])
    );
}

#[test]
fn a_writable_mount_at_the_path_is_made_read_only_with_a_replace() {
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets", "readOnly": false}]}],
                      "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}}]}}]});
    let object = wrap("Deployment", spec, json!({}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    assert_eq!(
        patch(&object, &after),
        json!([{"op": "replace", "path": "/spec/template/spec/containers/0/volumeMounts/0/readOnly", "value": true}])
    );
}

#[test]
fn unknown_fields_survive_the_mutation() {
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    let spec = json!({"futurePodField": {"x": [1, 2]}, "containers": [{"name": "app", "futureContainerField": true, "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}],
                      "volumes": [{"name": "x", "image": {"reference": "quay.io/a/b:1"}}]});
    let object = wrap("Deployment", spec, json!({"team": "a"}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    for op in patch(&object, &after).as_array().unwrap() {
        assert_eq!(op["op"], "add", "{op}");
    }
    let spec = &after["spec"]["template"]["spec"];
    assert_eq!(spec["futurePodField"], json!({"x": [1, 2]}));
    assert_eq!(spec["containers"][0]["futureContainerField"], json!(true));
    assert_eq!(spec["volumes"][0]["image"]["reference"], "quay.io/a/b:1");
}

#[test]
fn every_kind_is_mutated_on_create_and_update_but_a_pod_only_on_create() {
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    for (group, kind, pointer) in KINDS {
        for op in ["CREATE", "UPDATE"] {
            let object = wrap(kind, json!({"containers": [{"name": "app"}]}), json!({}));
            let e = evaluate(&settings, request(group, kind, op, object.clone()));
            assert!(e.findings.is_empty(), "{kind} {op}: {:?}", rendered(&e, &settings));
            if *kind == "Pod" && op == "UPDATE" {
                assert!(e.mutated.is_none(), "a Pod's volumes cannot change after creation");
                continue;
            }
            let after = e.mutated.unwrap_or_else(|| panic!("{kind} {op} should be mutated"));
            let p = patch(&object, &after);
            let paths: Vec<&str> = p
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["path"].as_str().unwrap())
                .collect();
            assert_eq!(
                paths,
                [
                    format!("{pointer}/containers/0/volumeMounts"),
                    format!("{pointer}/volumes")
                ],
                "{kind} {op}"
            );
        }
    }
}

#[test]
fn entries_target_named_containers_including_init_containers() {
    let settings = settings(json!({"secretMounts": [
        {"name": "api", "secretName": "api", "containers": ["app"]},
        {"name": "db", "secretName": "db", "containers": ["migrate"]}]}));
    let spec = json!({"initContainers": [{"name": "migrate"}], "containers": [{"name": "app"}, {"name": "sidecar"}]});
    let object = wrap("Deployment", spec, json!({}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &object);
    let spec = &after["spec"]["template"]["spec"];
    let mount = json!([{"name": "secret-mounts", "mountPath": "/etc/secrets", "readOnly": true}]);
    assert_eq!(spec["containers"][0]["volumeMounts"], mount);
    assert_eq!(spec["containers"][1].get("volumeMounts"), None, "sidecar is not named");
    assert_eq!(spec["initContainers"][0]["volumeMounts"], mount);
    // One shared volume carries both entries.
    assert_eq!(
        spec["volumes"],
        json!([{"name": "secret-mounts", "projected": {"sources": [{"secret": {"name": "api"}}, {"secret": {"name": "db"}}]}}])
    );
}

#[test]
fn default_targets_are_the_containers_minus_exempt_ones_never_init_containers() {
    let settings = settings(json!({"exemptContainers": ["vault-agent"], "secretMounts": [api_key_entry()]}));
    let spec = json!({"initContainers": [{"name": "init"}], "containers": [{"name": "app"}, {"name": "vault-agent"}, {"name": "web"}]});
    let after = mutated(
        &settings,
        "apps",
        "Deployment",
        "CREATE",
        &wrap("Deployment", spec, json!({})),
    );
    let spec = &after["spec"]["template"]["spec"];
    assert!(spec["containers"][0]["volumeMounts"].is_array());
    assert_eq!(spec["containers"][1].get("volumeMounts"), None);
    assert!(spec["containers"][2]["volumeMounts"].is_array());
    assert_eq!(spec["initContainers"][0].get("volumeMounts"), None);
}

#[test]
fn selectors_pick_workloads_by_pod_template_labels() {
    let settings = settings(json!({"secretMounts": [
        {"name": "a", "secretName": "a", "selector": {"matchLabels": {"app": "payments"}}},
        {"name": "b", "secretName": "b", "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}}]}));
    let spec = json!({"containers": [{"name": "app"}]});
    let payments = wrap("Deployment", spec.clone(), json!({"app": "payments", "tier": "front"}));
    let after = mutated(&settings, "apps", "Deployment", "CREATE", &payments);
    assert_eq!(
        after["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"],
        json!([{"secret": {"name": "a"}}])
    );
    let other = wrap("Deployment", spec.clone(), json!({"app": "web"}));
    let e = evaluate(&settings, request("apps", "Deployment", "CREATE", other));
    assert!(e.findings.is_empty() && e.mutated.is_none());
    // A Pod is selected by its own labels.
    let pod = wrap("Pod", spec, json!({"tier": "back"}));
    let after = mutated(&settings, "", "Pod", "CREATE", &pod);
    assert_eq!(
        after["spec"]["volumes"][0]["projected"]["sources"],
        json!([{"secret": {"name": "b"}}])
    );
}

fn conflict_message(settings_json: Value, spec: Value) -> String {
    let settings = settings(settings_json);
    let e = eval_deployment(&settings, spec);
    assert!(e.mutated.is_none(), "a conflict must never be guessed around");
    assert!(
        rules(&e).contains(&"secret-mounts-conflict"),
        "{:?}",
        rendered(&e, &settings)
    );
    rendered(&e, &settings).join("\n")
}

#[test]
fn what_cannot_be_reconciled_is_rejected_never_guessed() {
    let entry = json!({"secretMounts": [api_key_entry()]});
    let msg = conflict_message(
        entry.clone(),
        json!({"containers": [{"name": "app", "volumeMounts": [{"name": "scratch", "mountPath": "/etc/secrets"}]}], "volumes": [{"name": "scratch", "emptyDir": {}}]}),
    );
    assert!(msg.contains("container \"app\": the declared secretMounts cannot be added: /etc/secrets is taken by volume \"scratch\", which is not a projected volume"), "{msg}");

    let msg = conflict_message(
        entry.clone(),
        json!({"containers": [{"name": "app"}], "volumes": [{"name": "secret-mounts", "configMap": {"name": "c"}}]}),
    );
    assert!(
        msg.contains("volumeName \"secret-mounts\" already names a volume that is not projected"),
        "{msg}"
    );

    let msg = conflict_message(
        entry,
        json!({"containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets", "readOnly": true}]}],
               "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "other", "items": [{"key": "X", "path": "api-key/API_KEY"}]}}]}}]}),
    );
    assert!(msg.contains("volume \"v\": the declared secretMounts cannot be added: item \"API_KEY\" of secretMounts entry \"api-key\" would project path \"api-key/API_KEY\", already projected by secret \"other\" key \"X\""), "{msg}");

    let msg = conflict_message(
        json!({"secretMounts": [{"name": "api", "secretName": "api", "containers": ["worker"]}]}),
        json!({"containers": [{"name": "app"}]}),
    );
    assert!(msg.contains("secretMounts entry \"api\": the declared secretMounts cannot be added: it names container \"worker\", which this pod spec does not have"), "{msg}");
}

#[test]
fn validate_only_reports_each_missing_declared_mount() {
    let settings =
        settings(json!({"mutate": false, "secretMounts": [api_key_entry(), {"name": "db", "secretName": "db"}]}));
    let e = eval_deployment(&settings, json!({"containers": [{"name": "app"}]}));
    assert!(e.mutated.is_none());
    assert_eq!(rules(&e), ["declared-mount-missing"]);
    let msg = &rendered(&e, &settings)[0];
    assert!(msg.contains("container \"app\": secretMounts entries \"api-key\", \"db\" (secrets \"api-key\", \"db\") are missing: no volumeMount at /etc/secrets"), "{msg}");

    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets", "readOnly": true}]}],
                      "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "api-key", "items": [{"key": "OTHER", "path": "other"}]}}]}}]});
    let e = eval_deployment(&settings, spec);
    let msgs = rendered(&e, &settings);
    assert_eq!(
        rules(&e),
        ["declared-mount-missing", "declared-mount-missing"],
        "{msgs:?}"
    );
    assert!(
        msgs[0].contains(
            "entry \"api-key\" (secret \"api-key\") is missing: volume \"v\" does not project \"api-key/API_KEY\""
        ),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("entry \"db\" (secret \"db\") is missing: volume \"v\" has no secret source for it"),
        "{msgs:?}"
    );
}

#[test]
fn the_mutated_result_is_validated_and_env_secrets_still_reject() {
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    let spec = json!({"containers": [{"name": "app", "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "API_KEY"}}}]}]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), ["env-secret-ref"]);
    let response = e.response;
    assert!(!response.accepted);
    assert!(
        response.mutated_object.is_none(),
        "a rejected request carries no mutation"
    );
}

#[test]
fn an_existing_mount_of_the_volume_elsewhere_is_still_judged() {
    // The container mounts the policy's volume at a second path: the added sources make it
    // secret-bearing there, so validation of the mutated spec rejects it.
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "secret-mounts", "mountPath": "/opt/creds", "readOnly": true}]}],
                      "volumes": [{"name": "secret-mounts", "projected": {"sources": []}}]});
    let e = eval_deployment(&settings, spec);
    assert_eq!(rules(&e), ["secret-mount-path"], "{:?}", rendered(&e, &settings));
}

#[test]
fn warn_mode_accepts_with_warnings_and_still_mutates() {
    let settings = settings(json!({"action": "warn", "secretMounts": [api_key_entry()]}));
    let spec = json!({"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]});
    let e = eval_deployment(&settings, spec);
    let response = e.response;
    assert!(response.accepted);
    assert!(response.mutated_object.is_some());
    let warnings = response.warnings.unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("[envfrom-secret-ref] spec.template.spec.containers[0].envFrom[0]: container \"app\""),
        "{warnings:?}"
    );
    assert_eq!(response.audit_annotations.unwrap()["violations"], "envfrom-secret-ref");
}

#[test]
fn a_mount_at_the_path_spelled_with_a_trailing_slash_gets_the_sources_not_a_second_mount() {
    let settings = settings(json!({"secretMounts": [api_key_entry()]}));
    let spec = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets/", "readOnly": true}]}],
                      "volumes": [{"name": "v", "projected": {"sources": []}}]});
    let e = eval_deployment(&settings, spec);
    assert!(e.findings.is_empty(), "{:?}", rendered(&e, &settings));
    let mutated = e.mutated.expect("the source is added");
    let spec = &mutated["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["volumeMounts"].as_array().unwrap().len(),
        1,
        "{mutated}"
    );
    assert_eq!(
        spec["volumes"][0]["projected"]["sources"][0]["secret"]["name"],
        "api-key"
    );
}

#[test]
fn messages_name_the_secrets_the_submitted_object_mounts() {
    let settings = settings(json!({"action": "warn", "secretMounts": [
        api_key_entry(),
        {"name": "db", "secretName": "db-credentials"}
    ]}));
    let spec = json!({"containers": [
        {"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/etc/secrets", "readOnly": true}]},
        {"name": "sidecar", "volumeMounts": [{"name": "v", "mountPath": "/var/run/creds", "readOnly": true}]}
    ], "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "api-key"}}]}}]});
    let e = eval_deployment(&settings, spec);
    let messages = rendered(&e, &settings);
    assert_eq!(rules(&e), ["secret-mount-path"], "{messages:?}");
    assert!(
        messages[0].contains(r#"volumeMount of volume "v" (secret "api-key") is at "/var/run/creds""#),
        "{messages:?}"
    );
    // The patch is about the mutated object: the volume gains both secrets.
    let mutated = e.mutated.expect("mutated under warn");
    let sources = &mutated["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"];
    assert_eq!(sources.as_array().unwrap().len(), 3, "{sources}");
}
