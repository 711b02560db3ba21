//! Safe rollout (README "Safe rollout"): the requests a living cluster sends
//! over a policy's lifetime. Controllers write owned objects from their
//! owner's template, UPDATEs arrive for labels, scales, finalizers and debug
//! containers, and objects being deleted must be let go. Every request goes
//! through the policy and the reference evaluator (`common::evaluate`).
// Tests may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use secret_mounts_policy::settings::Settings;
use serde_json::{json, Value};

fn mounting() -> Settings {
    settings(json!({
        "secretMounts": [{"name": "api-key", "secretName": "api-key",
                          "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]}],
        "volumeName": "processor-secrets"
    }))
}

fn with_existing(allow: bool) -> Settings {
    let mut s = mounting();
    s.allow_existing_violations = allow;
    s
}

/// A Deployment as a user writes it: one container, no declared mount yet.
fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "processor", "namespace": "ns", "uid": "d-uid"},
           "spec": {"replicas": 2,
                    "selector": {"matchLabels": {"app": "processor"}},
                    "template": {"metadata": {"labels": {"app": "processor"}},
                                 "spec": {"containers": [{"name": "app", "image": "processor:1"}]}}}})
}

fn owner(kind: &str, name: &str, controller: Option<bool>) -> Value {
    let mut reference = json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("{name}-uid"),
                               "blockOwnerDeletion": true});
    if let Some(controller) = controller {
        reference["controller"] = json!(controller);
    }
    reference
}

/// The ReplicaSet the Deployment controller writes for `deployment`: its
/// template with a `pod-template-hash` label (on the template, the selector
/// and the ReplicaSet), owned by the Deployment as its controller.
fn replica_set_of(deployment: &Value) -> Value {
    let hash = "5d8f7c9b6";
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = deployment["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": format!("processor-{hash}"), "namespace": "ns",
                        "labels": template["metadata"]["labels"],
                        "ownerReferences": [owner("Deployment", "processor", Some(true))]},
           "spec": {"replicas": deployment["spec"]["replicas"], "selector": selector, "template": template}})
}

/// The Pod the ReplicaSet controller writes from `replica_set`'s template.
fn pod_of(replica_set: &Value) -> Value {
    let template = &replica_set["spec"]["template"];
    let mut owned_by = owner(
        "ReplicaSet",
        replica_set["metadata"]["name"].as_str().unwrap(),
        Some(true),
    );
    owned_by["apiVersion"] = json!("apps/v1");
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "processor-5d8f7c9b6-", "namespace": "ns",
                        "labels": template["metadata"]["labels"], "ownerReferences": [owned_by]},
           "spec": template["spec"]})
}

/// What the API server stores for a request: the mutated object, else the object.
fn admitted(e: &Evaluation, object: &Value) -> Value {
    assert!(e.response.accepted, "rejected: {:?}", e.response.message);
    e.mutated.clone().unwrap_or_else(|| object.clone())
}

/// The Deployment controller's `EqualIgnoreHash`: the ReplicaSet's template
/// is the Deployment's, but for the `pod-template-hash` label.
fn equal_ignore_hash(replica_set: &Value, deployment: &Value) -> bool {
    let mut template = replica_set["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    template == deployment["spec"]["template"]
}

fn update(group: &str, kind: &str, old: &Value, new: Value) -> Request {
    Request {
        old_object: Some(old.clone()),
        ..request(group, kind, "UPDATE", new)
    }
}

fn env_secret(container: &str, secret: &str) -> Value {
    json!({"name": container, "image": "processor:1",
           "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}]})
}

fn warnings(e: &Evaluation) -> Vec<String> {
    e.response.warnings.clone().unwrap_or_default()
}

#[test]
fn the_controllers_reach_a_fixed_point_from_a_mutated_deployment() {
    let settings = mounting();
    let submitted = deployment();
    let created = evaluate(&settings, request("apps", "Deployment", "CREATE", submitted.clone()));
    let stored = admitted(&created, &submitted);
    assert_ne!(stored, submitted, "the Deployment itself gains its mount");
    let rs = replica_set_of(&stored);
    let e = evaluate(&settings, request("apps", "ReplicaSet", "CREATE", rs.clone()));
    assert!(e.mutated.is_none() && e.findings.is_empty(), "{:?}", e.response);
    assert!(
        equal_ignore_hash(&admitted(&e, &rs), &stored),
        "the controller finds its ReplicaSet"
    );
    let pod = pod_of(&rs);
    let e = evaluate(&settings, request("", "Pod", "CREATE", pod.clone()));
    assert!(e.mutated.is_none() && e.findings.is_empty(), "{:?}", e.response);
}

#[test]
fn the_controllers_reach_a_fixed_point_from_a_deployment_the_policy_never_saw() {
    // Created before the policy, in monitor mode, or exempted by an
    // objectSelector on the Deployment: its template lacks the mount.
    let settings = mounting();
    let stored = deployment();
    let rs = replica_set_of(&stored);
    let e = evaluate(&settings, request("apps", "ReplicaSet", "CREATE", rs.clone()));
    assert!(e.mutated.is_none(), "an owned ReplicaSet is never patched");
    assert!(
        e.findings.is_empty(),
        "its missing mount is the owner's business: {:?}",
        e.findings
    );
    assert!(equal_ignore_hash(&admitted(&e, &rs), &stored));
    let e = evaluate(&settings, request("", "Pod", "CREATE", pod_of(&rs)));
    assert!(e.mutated.is_none() && e.findings.is_empty(), "{:?}", e.response);
    // Nor is it declared-mount-missing under mutate: false.
    let mut validating = mounting();
    validating.mutate = false;
    let e = evaluate(&validating, request("apps", "ReplicaSet", "CREATE", rs));
    assert!(e.response.accepted && e.findings.is_empty(), "{:?}", e.findings);
}

#[test]
fn a_cron_jobs_job_is_not_patched() {
    let template = json!({"metadata": {"labels": {"app": "report"}},
                          "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "report:1"}]}});
    let mut cron_owner = owner("CronJob", "report", Some(true));
    cron_owner["apiVersion"] = json!("batch/v1");
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": "report-29000000", "namespace": "ns", "ownerReferences": [cron_owner]},
                     "spec": {"template": template}});
    let e = evaluate(&mounting(), request("batch", "Job", "CREATE", job));
    assert!(e.mutated.is_none() && e.findings.is_empty(), "{:?}", e.response);
}

#[test]
fn an_owner_that_is_not_the_controller_changes_nothing() {
    for controller in [Some(false), None] {
        let mut rs = replica_set_of(&deployment());
        rs["metadata"]["ownerReferences"] = json!([owner("Deployment", "processor", controller)]);
        let e = evaluate(&mounting(), request("apps", "ReplicaSet", "CREATE", rs));
        assert!(e.mutated.is_some(), "controller {controller:?}: mutated as any object");
    }
}

#[test]
fn an_owned_object_is_still_judged() {
    let mut rs = replica_set_of(&deployment());
    rs["spec"]["template"]["spec"]["containers"][0] = env_secret("app", "db");
    let e = evaluate(&mounting(), request("apps", "ReplicaSet", "CREATE", rs.clone()));
    assert!(!e.response.accepted);
    assert_eq!(rules(&e), ["env-secret-ref"]);
    let e = evaluate(&mounting(), request("", "Pod", "CREATE", pod_of(&rs)));
    assert_eq!(rules(&e), ["env-secret-ref"]);
}

#[test]
fn a_metadata_or_replicas_update_is_never_patched() {
    let old = deployment();
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"team": "a"});
    new["spec"]["replicas"] = json!(5);
    let e = evaluate(&mounting(), update("apps", "Deployment", &old, new));
    assert!(e.response.accepted && e.mutated.is_none(), "{:?}", e.response);
    assert!(e.findings.is_empty(), "{:?}", e.findings);
}

#[test]
fn a_template_update_is_patched() {
    let old = deployment();
    for change in [
        "/spec/template/spec/containers/0/image",
        "/spec/template/metadata/labels/version",
    ] {
        let mut new = old.clone();
        *new.pointer_mut(change.rsplit_once('/').unwrap().0)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .entry(change.rsplit_once('/').unwrap().1)
            .or_insert(Value::Null) = json!("2");
        let e = evaluate(&mounting(), update("apps", "Deployment", &old, new));
        assert!(
            e.mutated.is_some(),
            "{change}: a rollout happens anyway, the mount comes with it"
        );
    }
}

#[test]
fn an_existing_violation_warns_and_a_new_one_rejects_on_update() {
    let mut old = deployment();
    old["spec"]["template"]["spec"]["containers"][0] = env_secret("app", "db");
    // The update puts a sidecar first (indexes shift) and changes a label.
    let mut kept = old.clone();
    kept["metadata"]["labels"] = json!({"team": "a"});
    let containers = kept["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap();
    containers.insert(0, json!({"name": "sidecar", "image": "proxy:1"}));
    let e = evaluate(&with_existing(true), update("apps", "Deployment", &old, kept.clone()));
    assert!(e.response.accepted, "{:?}", e.response.message);
    let warned = warnings(&e);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("[env-secret-ref] spec.template.spec.containers[1].env[0]: ")
            && warned[0].contains("allowExistingViolations"),
        "{warned:?}"
    );
    assert_eq!(e.response.audit_annotations.unwrap()["violations"], "env-secret-ref");
    let e = evaluate(&with_existing(false), update("apps", "Deployment", &old, kept.clone()));
    assert!(
        !e.response.accepted,
        "allowExistingViolations: false blocks every UPDATE"
    );

    let mut added = kept.clone();
    added["spec"]["template"]["spec"]["containers"][0] = env_secret("sidecar", "db");
    for allow in [true, false] {
        let e = evaluate(&with_existing(allow), update("apps", "Deployment", &old, added.clone()));
        assert!(!e.response.accepted, "allow {allow}: the new violation rejects");
        let message = e.response.message.clone().unwrap();
        assert!(message.contains("container \"sidecar\""), "{message}");
        assert_eq!(message.contains("container \"app\""), !allow, "{message}");
    }
    // The same container reading another Secret is a new violation.
    let mut other = old.clone();
    other["spec"]["template"]["spec"]["containers"][0] = env_secret("app", "other");
    let e = evaluate(&with_existing(true), update("apps", "Deployment", &old, other));
    assert!(!e.response.accepted);
}

#[test]
fn a_pod_update_is_judged_never_patched_and_keeps_what_it_had() {
    let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                     "spec": {"containers": [env_secret("app", "db")]}});
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({"checked": "yes"});
    let e = evaluate(&mounting(), update("", "Pod", &old, labelled.clone()));
    assert!(e.response.accepted && e.mutated.is_none(), "{:?}", e.response);
    assert_eq!(warnings(&e).len(), 1);
    let e = evaluate(&with_existing(false), update("", "Pod", &old, labelled));
    assert!(!e.response.accepted);
    let mut changed = old.clone();
    changed["spec"]["containers"][0] = env_secret("app", "other");
    let e = evaluate(&mounting(), update("", "Pod", &old, changed));
    assert!(!e.response.accepted);
}

#[test]
fn the_ephemeral_containers_subresource_judges_the_containers_it_adds() {
    let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                     "spec": {"containers": [env_secret("app", "db")],
                              "ephemeralContainers": [{"name": "debug-1", "image": "busybox"}]}});
    let debug = |container: Value| {
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"]
            .as_array_mut()
            .unwrap()
            .push(container);
        Request {
            sub_resource: Some("ephemeralcontainers".into()),
            ..update("", "Pod", &old, new)
        }
    };
    for allow in [true, false] {
        let e = evaluate(
            &with_existing(allow),
            debug(json!({"name": "debug-2", "image": "busybox"})),
        );
        assert!(e.response.accepted, "allow {allow}: {:?}", e.response.message);
        assert!(
            e.findings.is_empty() && e.mutated.is_none(),
            "only the added container is judged"
        );
        let e = evaluate(&with_existing(allow), debug(env_secret("debug-2", "db")));
        assert!(!e.response.accepted);
        assert_eq!(
            e.findings.iter().map(|f| f.at.as_str()).collect::<Vec<_>>(),
            ["spec.ephemeralContainers[1].env[0]"]
        );
    }
}

#[test]
fn an_object_being_deleted_is_accepted_untouched() {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "p", "namespace": "ns", "finalizers": ["example.com/x"]},
                         "spec": {"containers": [env_secret("app", "db")]}});
    let mut deployment = deployment();
    deployment["spec"]["template"]["spec"]["containers"][0] = env_secret("app", "db");
    deployment["metadata"]["finalizers"] = json!(["example.com/x"]);
    for (group, kind, object) in [("", "Pod", &mut pod), ("apps", "Deployment", &mut deployment)] {
        object["metadata"]["deletionTimestamp"] = json!("2026-12-07T10:00:00Z");
        let old = object.clone();
        object["metadata"].as_object_mut().unwrap().remove("finalizers");
        for allow in [true, false] {
            let e = evaluate(&with_existing(allow), update(group, kind, &old, object.clone()));
            assert!(e.response.accepted, "{kind}: {:?}", e.response.message);
            assert!(
                e.mutated.is_none() && e.response.warnings.is_none(),
                "{kind}: {:?}",
                e.response
            );
        }
    }
}
