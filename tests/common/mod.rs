//! Helpers shared by the native integration tests: wrap a pod spec in any
//! built-in kind, run it through the policy and the reference evaluator
//! (`tests/reference`), read the answer.
#![allow(dead_code)]

#[path = "../reference/mod.rs"]
pub mod reference;

use kubewarden_policy_sdk::response::ValidationResponse;
pub use reference::{request, Request};
// Only the tests that judge with a cluster (vaultSync) use it.
#[allow(unused_imports)]
pub use reference::TestCluster;
use secret_mounts_policy::evaluate;
use secret_mounts_policy::settings::Settings;
use serde_json::{json, Value};

/// Every built-in kind: (group, kind, pointer of its pod spec), from the reference's table.
#[allow(unused_imports)]
pub use reference::KINDS;

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
            let api_version = match kind {
                "ReplicationController" => "v1",
                "Job" => "batch/v1",
                _ => "apps/v1",
            };
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "ns"}, "spec": {"template": template}})
        }
    }
}

pub fn settings(v: Value) -> Settings {
    Settings::from_json(v.to_string().as_bytes()).expect("test settings are valid")
}

/// The reference evaluation of a request, with the policy's own answer.
#[derive(Debug)]
pub struct Evaluation {
    /// The reference's findings (rule id, field path), in the README's order.
    pub findings: Vec<reference::Finding>,
    /// The object with the declared mounts added, when the reference adds any
    /// (also when the request is rejected).
    pub mutated: Option<Value>,
    /// What the policy answered, as the host reads it.
    pub response: ValidationResponse,
    /// The policy's finding lines, in the order of `findings` (those listed).
    lines: Vec<String>,
}

/// Evaluates a request with the reference evaluator and checks that the
/// policy's `validate` (the payload as a host writes it) agrees on everything
/// it answers (see `reference::check_against_product`, which also checks that
/// a mutated object is what the API server accepts).
pub fn evaluate(settings: &Settings, request: Request) -> Evaluation {
    let settings = serde_json::to_value(settings).expect("settings serialise");
    let (expected, answer) = reference::check_against_product(&settings, &request);
    let response = evaluate::read_response(&evaluate::validate(
        &reference::host_payload(&settings, &request),
        &request.cluster,
    ))
    .expect("the response reads back as the host reads it");
    // The product's lines in the reference's order of findings.
    let mut pool: Vec<(String, String, String)> = answer.rejecting.into_iter().chain(answer.warned).collect();
    // A message cut short by maxMessageBytes lists a prefix of them (the
    // comparison checked the count of the rest).
    let lines = expected
        .findings
        .iter()
        .map_while(|f| {
            let i = pool.iter().position(|(rule, at, _)| *rule == f.rule && *at == f.at)?;
            Some(pool.remove(i).2)
        })
        .collect();
    Evaluation {
        findings: expected.findings,
        mutated: expected.mutated,
        response,
        lines,
    }
}

/// Deserializes an object of a built-in kind into its k8s-openapi type: a
/// mutation must never produce a field of the wrong type or shape.
pub fn assert_kubernetes_shape(group: &str, kind: &str, object: &Value) {
    if let Err(e) = reference::kubernetes_shape(group, kind, object) {
        panic!("the mutated {kind} is not a valid {kind}: {e}\n{object}");
    }
}

/// Evaluates a pod spec wrapped as a Deployment CREATE.
pub fn eval_deployment(settings: &Settings, spec: Value) -> Evaluation {
    evaluate(
        settings,
        request("apps", "Deployment", "CREATE", wrap("Deployment", spec, json!({}))),
    )
}

/// The rule ids of an evaluation's findings, in order.
pub fn rules(e: &Evaluation) -> Vec<&str> {
    e.findings.iter().map(|f| f.rule.as_str()).collect()
}

/// The policy's rendered line of each finding, in the order of the findings.
pub fn rendered(e: &Evaluation, _settings: &Settings) -> Vec<String> {
    e.lines.clone()
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
