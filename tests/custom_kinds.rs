//! Custom workload kinds located through `podSpecPaths` are validated and mutated
//! exactly like a Deployment.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use secret_mounts_policy::evaluate;
use serde_json::{json, Value};

fn patch_paths(before: &Value, after: &Value) -> Vec<String> {
    let ops = serde_json::to_value(json_patch::diff(before, after)).unwrap();
    ops.as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
        .collect()
}

#[test]
fn rollout_and_knative_service_are_mutated_like_a_deployment() {
    let settings = fixture("settings-custom-kinds.json");
    for name in ["rollout-missing-mount.json", "knative-service-missing-mount.json"] {
        let request = fixture(name);
        let r = evaluate::validate_typed(&payload(settings.clone(), request.clone()), &evaluate::NoCluster)
            .expect("the response reads back as the host reads it");
        assert!(r.accepted, "{name}: {:?}", r.message);
        let after = r.mutated_object.unwrap_or_else(|| panic!("{name} should be mutated"));
        assert_eq!(
            patch_paths(&request["object"], &after),
            [
                "add /spec/template/spec/containers/0/volumeMounts",
                "add /spec/template/spec/volumes"
            ],
            "{name}: the patch touches only the selected pod spec"
        );
        assert_eq!(
            after["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "secret-mounts", "projected": {"sources": [{"secret": {"name": "api-key", "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}}]}}])
        );
        // Idempotent, as for every kind.
        let mut again = request.clone();
        again["object"] = after;
        again["operation"] = json!("UPDATE");
        let r = evaluate::validate_typed(&payload(settings.clone(), again), &evaluate::NoCluster)
            .expect("the response reads back as the host reads it");
        assert!(r.accepted && r.mutated_object.is_none(), "{name}: second pass");
    }
}

#[test]
fn rollout_violations_say_where_the_pod_spec_was_found() {
    let r = evaluate::validate_typed(
        &payload(
            fixture("settings-custom-kinds.json"),
            fixture("rollout-env-secret.json"),
        ),
        &evaluate::NoCluster,
    )
    .expect("the response reads back as the host reads it");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(message.starts_with("Rollout \"team-a/checkout\" breaks the secret mounts rules (1 violation):\n[env-secret-ref] spec.template.spec.containers[0].env[0]: container \"checkout\": env \"STRIPE_KEY\""), "{message}");
}

#[test]
fn custom_kinds_without_configured_paths_are_not_judged() {
    let r = evaluate::validate_typed(
        &payload(json!({}), fixture("rollout-env-secret.json")),
        &evaluate::NoCluster,
    )
    .expect("the response reads back as the host reads it");
    assert!(r.accepted && r.mutated_object.is_none());
}

#[test]
fn several_pod_specs_in_one_object_are_each_judged_and_mutated() {
    let settings = json!({
        "podSpecPaths": {"example.com/v1/Fleet": ["$.spec.groups[*].template.spec"]},
        "secretMounts": [{"name": "db", "secretName": "db"}]});
    let object = json!({"apiVersion": "example.com/v1", "kind": "Fleet", "metadata": {"name": "f", "namespace": "ns"},
        "spec": {"groups": [
            {"template": {"spec": {"containers": [{"name": "a"}]}}},
            {"template": {"spec": {"containers": [{"name": "b", "envFrom": [{"secretRef": {"name": "x"}}]}]}}}]}});
    let request = json!({"uid": "u", "kind": {"group": "example.com", "version": "v1", "kind": "Fleet"}, "operation": "CREATE", "object": object});
    let r = evaluate::validate_typed(&payload(settings.clone(), request.clone()), &evaluate::NoCluster)
        .expect("the response reads back as the host reads it");
    assert!(!r.accepted);
    assert!(r
        .message
        .unwrap()
        .contains("[envfrom-secret-ref] spec.groups[1].template.spec.containers[0].envFrom[0]: container \"b\""));
    // Without the violation both groups get the mount, and only under their pod specs.
    let mut clean = request;
    clean["object"]["spec"]["groups"][1]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("envFrom");
    let r = evaluate::validate_typed(&payload(settings, clean.clone()), &evaluate::NoCluster)
        .expect("the response reads back as the host reads it");
    let after = r.mutated_object.expect("mutated");
    let paths = patch_paths(&clean["object"], &after);
    assert_eq!(paths.len(), 4, "{paths:?}");
    for p in &paths {
        assert!(
            p.starts_with("add /spec/groups/0/template/spec/") || p.starts_with("add /spec/groups/1/template/spec/"),
            "{p}"
        );
    }
}

#[test]
fn a_path_selecting_a_non_object_is_rejected_clearly() {
    let settings = json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": ["$.spec.replicas"]}});
    let r = evaluate::validate_typed(
        &payload(settings, fixture("rollout-missing-mount.json")),
        &evaluate::NoCluster,
    )
    .expect("the response reads back as the host reads it");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(message.contains("[malformed-object] spec.replicas: podSpecPaths expression \"$.spec.replicas\" selects spec.replicas, which is a number, not a pod spec object"), "{message}");
}

#[test]
fn malformed_pod_spec_paths_settings_are_refused_naming_the_entry() {
    for (settings, expected) in [
        (json!({"podSpecPaths": {"Rollout": ["$.spec.template.spec"]}}), "podSpecPaths key \"Rollout\": must be group/version/Kind"),
        (json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": ["$.spec.template[?(@.x =="]}}), "podSpecPaths[\"argoproj.io/v1alpha1/Rollout\"][0] \"$.spec.template[?(@.x ==\": is not a valid JSONPath expression"),
        (json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": "$.spec.template.spec"}}), "podSpecPaths.argoproj.io/v1alpha1/Rollout: invalid type: string \"$.spec.template.spec\", expected a sequence"),
        (json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": ["spec.template.spec"]}}), "must be a JSONPath expression starting with '$'"),
    ] {
        let r = evaluate::validate_settings(settings.to_string().as_bytes());
        assert!(!r.valid, "{settings}");
        let message = r.message.unwrap();
        assert!(message.contains(expected), "{message:?} should contain {expected:?}");
    }
}

/// `podSpecPaths` may add pod specs to a built-in kind; those need the whole
/// object (JSONPath), so the one-pass pruned parse must give way to a full one.
#[test]
fn pod_spec_paths_for_a_built_in_kind_are_honoured() {
    let settings = json!({"podSpecPaths": {"apps/v1/Deployment": ["$.spec.template.metadata.annotations.extra"]}});
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"template": {
            "metadata": {"annotations": {"extra": {"containers": [{"name": "side", "envFrom": [{"secretRef": {"name": "db"}}]}]}}},
            "spec": {"containers": [{"name": "app"}]}
        }}
    });
    let request = json!({
        "uid": "1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "operation": "CREATE", "namespace": "ns", "object": object
    });
    let r = evaluate::validate_typed(&payload(settings, request), &evaluate::NoCluster)
        .expect("the response reads back as the host reads it");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(
        message.contains("spec.template.metadata.annotations.extra.containers[0].envFrom[0]"),
        "{message}"
    );
}

/// A custom kind whose pod spec is the object itself (`podSpecPaths: ["$"]`)
/// and, for `with_empty_key`, a second one under the key `""`.
fn root_spec_request(spec: Value, with_empty_key: bool) -> (Value, common::Request) {
    let paths = if with_empty_key {
        json!(["$", "$['']"])
    } else {
        json!(["$"])
    };
    let settings = json!({"podSpecPaths": {"example.com/v1/Thing": paths},
                          "secretMounts": [{"name": "api-key", "secretName": "api-key"}]});
    let mut object = spec.clone();
    object["apiVersion"] = json!("example.com/v1");
    object["kind"] = json!("Thing");
    object["metadata"] = json!({"name": "t", "namespace": "ns"});
    if with_empty_key {
        object[""] = spec;
    }
    (settings, common::request("example.com", "Thing", "CREATE", object))
}

#[test]
fn a_pod_spec_at_the_root_writes_its_paths_from_the_root() {
    let env = json!({"containers": [{"name": "app", "env": [
        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}]}]});
    let (settings_json, request) = root_spec_request(env.clone(), false);
    let e = evaluate(&settings(settings_json), request);
    let message = e.response.message.unwrap();
    assert!(
        message.contains("\n[env-secret-ref] containers[0].env[0]: container \"app\""),
        "{message}"
    );
    // A finding about the pod spec as a whole is at the object.
    let blocked = json!({"containers": [{"name": "app", "volumeMounts": [{"name": "scratch", "mountPath": "/etc/secrets"}]}],
                         "volumes": [{"name": "scratch", "emptyDir": {}}]});
    let (settings_json, request) = root_spec_request(blocked, false);
    let e = evaluate(&settings(settings_json), request);
    let message = e.response.message.unwrap();
    assert!(message.contains("\n[secret-mounts-conflict] the object: "), "{message}");
    // A second pod spec under the key "" reads apart from the root's.
    let (settings_json, request) = root_spec_request(env, true);
    let e = evaluate(&settings(settings_json), request);
    let message = e.response.message.unwrap();
    assert!(
        message.contains("\n[env-secret-ref] containers[0].env[0]: ")
            && message.contains("\n[env-secret-ref] [\"\"].containers[0].env[0]: "),
        "{message}"
    );
}
