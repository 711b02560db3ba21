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
use secret_mounts_policy::violation::Finding;
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
    pub findings: Vec<Finding>,
    pub mutated: Option<Value>,
    /// What the policy answered, as the host reads it.
    pub response: ValidationResponse,
}

/// Evaluates a request with the reference evaluator and checks that the
/// policy's `validate` (the payload as a host writes it) agrees on everything
/// it answers. Every mutated object must also be what the API server accepts:
/// it deserializes into its Kubernetes type.
pub fn evaluate(settings: &Settings, request: Request) -> Evaluation {
    let evaluation = reference::check_against_product(settings, &request);
    if let Some(mutated) = &evaluation.mutated {
        assert_kubernetes_shape(&request.kind, mutated);
    }
    let response = evaluate::validate_typed(&reference::host_payload(settings, &request), &request.cluster)
        .expect("the response reads back as the host reads it");
    Evaluation {
        findings: evaluation.findings,
        mutated: evaluation.mutated,
        response,
    }
}

/// Deserializes an object of a built-in kind into its k8s-openapi type: a
/// mutation must never produce a field of the wrong type or shape.
pub fn assert_kubernetes_shape(kind: &str, object: &Value) {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    fn typed<T: serde::de::DeserializeOwned>(object: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(object.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    let result = match kind {
        "Pod" => typed::<core::Pod>(object),
        "ReplicationController" => typed::<core::ReplicationController>(object),
        "Deployment" => typed::<apps::Deployment>(object),
        "ReplicaSet" => typed::<apps::ReplicaSet>(object),
        "StatefulSet" => typed::<apps::StatefulSet>(object),
        "DaemonSet" => typed::<apps::DaemonSet>(object),
        "Job" => typed::<batch::Job>(object),
        "CronJob" => typed::<batch::CronJob>(object),
        _ => Ok(()), // custom kinds have no k8s-openapi type
    };
    if let Err(e) = result {
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
