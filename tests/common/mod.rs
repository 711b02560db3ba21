//! Helpers shared by the native integration tests: wrap a pod spec in any
//! built-in kind, run the policy's pure core, read the answer.
#![allow(dead_code)]

use secret_mounts_policy::evaluate::{self, AdmissionRequest, Evaluation, GroupVersionKind};
use secret_mounts_policy::settings::Settings;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// Every built-in kind: (group, kind, pointer of its pod spec).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("", "Pod", "/spec"),
    ("", "ReplicationController", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "ReplicaSet", "/spec/template/spec"),
    ("apps", "StatefulSet", "/spec/template/spec"),
    ("apps", "DaemonSet", "/spec/template/spec"),
    ("batch", "Job", "/spec/template/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

/// An object of `kind` whose pod spec is `spec` (and pod template labels `labels`).
pub fn wrap(kind: &str, spec: Value, labels: Value) -> Value {
    let template = json!({"metadata": {"labels": labels}, "spec": spec});
    match kind {
        "Pod" => {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": template["spec"]})
        }
        "CronJob" => json!({"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": "w", "namespace": "ns"},
                            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
        _ => {
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "ns"}, "spec": {"template": template}})
        }
    }
}

pub fn request(group: &str, kind: &str, operation: &str, object: Value) -> AdmissionRequest {
    AdmissionRequest {
        kind: GroupVersionKind {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
        },
        sub_resource: None,
        operation: operation.into(),
        namespace: Some("ns".into()),
        object,
    }
}

pub fn settings(v: Value) -> Settings {
    Settings::from_json(v.to_string().as_bytes()).expect("test settings are valid")
}

/// Evaluates a request through every way the core judges an object, and checks
/// they agree: `evaluate` over the parsed object, `evaluate_raw` over its JSON
/// text (a built-in kind is parsed pruned to the fields the policy reads, and
/// mutations are spliced into the text), and `validate` over the whole payload
/// as a host writes it (parsed in one pass, the object pruned as it is reached). Every native test that evaluates a
/// request thereby also tests the pruned parse, the splicer and the envelope.
pub fn evaluate(settings: &Settings, request: AdmissionRequest) -> Evaluation {
    let text = RawValue::from_string(request.object.to_string()).unwrap();
    let raw_request = AdmissionRequest {
        kind: request.kind.clone(),
        sub_resource: request.sub_resource.clone(),
        operation: request.operation.clone(),
        namespace: request.namespace.clone(),
        object: (!request.object.is_null()).then_some(&*text),
    };
    // As policy-evaluator (kwctl, policy-server) writes it: a JSON map with
    // sorted keys, so the request before the settings, its kind before its
    // object, and its operation after.
    let payload = serde_json::to_vec(&json!({
        "request": {
            "kind": {"group": request.kind.group, "kind": request.kind.kind, "version": request.kind.version},
            "namespace": request.namespace,
            "object": request.object,
            "operation": request.operation,
            "subResource": request.sub_resource,
            "uid": "test",
        },
        "settings": settings,
    }))
    .unwrap();

    let full = evaluate::evaluate(settings, request);
    let raw = evaluate::evaluate_raw(settings, &raw_request).expect("the object's own JSON text parses");
    assert_eq!(
        full.findings, raw.findings,
        "evaluate and evaluate_raw disagree on the findings"
    );
    let raw_mutated: Option<Value> = raw
        .mutated
        .map(|m| serde_json::from_str(&m).expect("the mutated object is JSON"));
    assert_eq!(
        full.mutated, raw_mutated,
        "evaluate and evaluate_raw disagree on the mutation"
    );

    let expected = evaluate::respond(
        settings,
        &raw.subject,
        Evaluation {
            findings: full.findings.clone(),
            mutated: full.mutated.clone(),
        },
    );
    let answered = evaluate::validate(&payload);
    assert_eq!(
        (
            answered.accepted,
            &answered.message,
            &answered.warnings,
            &answered.mutated_object
        ),
        (
            expected.accepted,
            &expected.message,
            &expected.warnings,
            &expected.mutated_object
        ),
        "validate (one pass over the payload) and evaluate disagree"
    );
    full
}

/// Evaluates a pod spec wrapped as a Deployment CREATE.
pub fn eval_deployment(settings: &Settings, spec: Value) -> Evaluation {
    evaluate(
        settings,
        request("apps", "Deployment", "CREATE", wrap("Deployment", spec, json!({}))),
    )
}

/// The rule names of an evaluation's findings, in order.
pub fn rules(e: &Evaluation) -> Vec<&'static str> {
    e.findings.iter().map(|f| f.violation.rule().name()).collect()
}

pub fn rendered(e: &Evaluation, settings: &Settings) -> Vec<String> {
    e.findings.iter().map(|f| f.render(&settings.mount_path)).collect()
}

/// A full `validate` payload, as the host sends it.
pub fn payload(settings: Value, request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"settings": settings, "request": request})).unwrap()
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
