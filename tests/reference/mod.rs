//! The reference evaluator: slow and obviously correct, kept in tests only.
//!
//! It parses the whole object into a `serde_json::Value` (no pruned view), has
//! the policy's judge decide the findings and edits on it, applies the edits to
//! that `Value` (no splicing), derives the JSON patch by diffing the object
//! before and after, and writes the expected response from the findings by the
//! README's rules (no shared response code). [`check_against_product`] runs the
//! product's `validate` on the same request, written as a host writes it, and
//! fails on any difference: findings (through the message or the warnings),
//! patch, `accepted`, `code`, `message`, `warnings` and `audit_annotations`.
//! The native tests run every request through it, and so does the `mutation`
//! fuzz target.
#![allow(dead_code)]

use secret_mounts_policy::evaluate;
use secret_mounts_policy::judge;
use secret_mounts_policy::locate;
use secret_mounts_policy::plan;
use secret_mounts_policy::request::{AdmissionRequest, GroupVersionKind};
use secret_mounts_policy::response::rejects;
use secret_mounts_policy::settings::Settings;
use secret_mounts_policy::vault_sync::{self, Cluster};
use secret_mounts_policy::violation::Finding;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::cell::Cell;

/// An admission request with its object parsed, as tests build them.
#[derive(Debug, Clone)]
pub struct Request {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub operation: String,
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub object: Value,
    /// What the host's `kubernetes` capability answers (`vaultSync`).
    pub cluster: TestCluster,
}

/// The cluster a request is judged in, as the host's `kubernetes` capability
/// shows it: objects (VSO resources) it lists by kind and namespace, or a
/// host whose every call fails. Counts the calls.
#[derive(Debug, Clone)]
pub enum TestCluster {
    Holding(Vec<Value>, Cell<usize>),
    Failing(String, Cell<usize>),
}

impl TestCluster {
    pub fn holding(objects: Vec<Value>) -> Self {
        TestCluster::Holding(objects, Cell::new(0))
    }

    pub fn failing(error: &str) -> Self {
        TestCluster::Failing(error.to_string(), Cell::new(0))
    }

    pub fn calls(&self) -> usize {
        match self {
            TestCluster::Holding(_, calls) | TestCluster::Failing(_, calls) => calls.get(),
        }
    }
}

impl Cluster for TestCluster {
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let request: Value = serde_json::from_slice(request).expect("the policy's request is JSON");
        match self {
            TestCluster::Failing(error, calls) => {
                calls.set(calls.get() + 1);
                Err(error.clone())
            }
            TestCluster::Holding(objects, calls) => {
                calls.set(calls.get() + 1);
                let items: Vec<&Value> = objects
                    .iter()
                    .filter(|o| {
                        o["apiVersion"] == request["api_version"]
                            && o["kind"] == request["kind"]
                            && o["metadata"]["namespace"] == request["namespace"]
                    })
                    .collect();
                let list =
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
                Ok(list.to_string().into_bytes())
            }
        }
    }
}

pub fn request(group: &str, kind: &str, operation: &str, object: Value) -> Request {
    Request {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        operation: operation.into(),
        sub_resource: None,
        namespace: Some("ns".into()),
        object,
        cluster: TestCluster::holding(Vec::new()),
    }
}

/// What the reference concluded.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub subject: String,
    /// Every violation, in a stable order.
    pub findings: Vec<Finding>,
    /// The object with the declared mounts added, when anything was added.
    pub mutated: Option<Value>,
}

/// The reference evaluation of `request`.
pub fn evaluate(settings: &Settings, request: &Request) -> Evaluation {
    let text = request.object.to_string();
    let raw = RawValue::from_string(text).expect("a Value is JSON");
    let admission = AdmissionRequest {
        kind: GroupVersionKind {
            group: request.group.clone(),
            version: request.version.clone(),
            kind: request.kind.clone(),
        },
        sub_resource: request.sub_resource.clone(),
        operation: request.operation.clone(),
        namespace: request.namespace.clone(),
        object: Some(&raw),
        ..AdmissionRequest::default()
    };
    if request.object.is_null() || !locate::is_judged(settings, &admission) {
        return Evaluation::default();
    }
    let namespace = request
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| request.object.pointer("/metadata/namespace").and_then(Value::as_str));
    let vault = settings
        .vault_sync
        .is_enabled()
        .then(|| vault_sync::read(namespace, &request.cluster));
    let judgement = judge::judge(settings, &admission, request.object.clone(), vault.as_ref());
    let mut mutated = request.object.clone();
    for planned in &judgement.edits {
        let spec = mutated
            .pointer_mut(&planned.pointer)
            .and_then(Value::as_object_mut)
            .expect("edits address a pod spec the object has");
        plan::apply_to_view(spec, &planned.edits, &settings.mount_path, "").expect("every planned edit has its place");
    }
    Evaluation {
        subject: judgement.subject,
        findings: judgement.findings,
        mutated: (!judgement.edits.is_empty()).then_some(mutated),
    }
}

/// The response the README promises for an evaluation: rejected when any
/// finding rejects (provenance by `vaultSync.require`, the rest by `action`),
/// with those listed; every other finding a warning.
pub fn expected_response(settings: &Settings, evaluation: &Evaluation, original: &Value) -> Value {
    let render = |f: &Finding| f.render(&settings.mount_path);
    let rejecting: Vec<String> = evaluation
        .findings
        .iter()
        .filter(|f| rejects(settings, f.violation.rule()))
        .map(render)
        .collect();
    let warned: Vec<String> = evaluation
        .findings
        .iter()
        .filter(|f| !rejects(settings, f.violation.rule()))
        .map(render)
        .collect();
    let mut rules: Vec<&str> = Vec::new();
    for f in &evaluation.findings {
        if !rules.contains(&f.violation.rule().name()) {
            rules.push(f.violation.rule().name());
        }
    }
    let found = !evaluation.findings.is_empty();
    let accepted = rejecting.is_empty();
    let message = (!accepted).then(|| {
        let count = if rejecting.len() == 1 {
            "1 violation".to_string()
        } else {
            format!("{} violations", rejecting.len())
        };
        format!(
            "{} breaks the secret mounts rules ({count}):\n{}",
            evaluation.subject,
            rejecting.join("\n")
        )
    });
    let patch = evaluation
        .mutated
        .as_ref()
        .filter(|_| accepted)
        .map(|m| serde_json::to_value(json_patch::diff(original, m)).expect("a patch serialises"));
    json!({
        "accepted": accepted,
        "code": null,
        "message": message,
        "warnings": (!warned.is_empty()).then_some(warned),
        "audit_annotations": found.then(|| json!({"violations": rules.join(",")})),
        "patch": patch,
    })
}

/// The product's answer in the same terms: the mutated object as a patch.
pub fn product_response(settings: &Settings, request: &Request) -> Value {
    let payload = host_payload(settings, request);
    let response = evaluate::validate(&payload, &request.cluster);
    let mut response: Value = serde_json::from_slice(&response).expect("the response is JSON");
    let object = response.as_object_mut().expect("the response is an object");
    let patch = object
        .remove("mutated_object")
        .filter(|m| !m.is_null())
        .map(|m| serde_json::to_value(json_patch::diff(&request.object, &m)).expect("a patch serialises"));
    let field = |object: &serde_json::Map<String, Value>, k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "accepted": field(object, "accepted"),
        "code": field(object, "code"),
        "message": field(object, "message"),
        "warnings": field(object, "warnings"),
        "audit_annotations": field(object, "audit_annotations"),
        "patch": patch,
    })
}

/// Runs the reference and the product on `request` and fails on any
/// difference; returns the reference's evaluation.
pub fn check_against_product(settings: &Settings, request: &Request) -> Evaluation {
    let evaluation = evaluate(settings, request);
    let expected = expected_response(settings, &evaluation, &request.object);
    let answered = product_response(settings, request);
    assert_eq!(
        answered, expected,
        "the policy and the reference evaluator disagree on {}",
        request.object
    );
    evaluation
}

/// The `validate` payload as policy-evaluator (kwctl, policy-server) writes
/// it: a JSON map with sorted keys.
pub fn host_payload(settings: &Settings, request: &Request) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "request": {
            "kind": {"group": request.group, "kind": request.kind, "version": request.version},
            "namespace": request.namespace,
            "object": request.object,
            "operation": request.operation,
            "subResource": request.sub_resource,
            "uid": "test",
        },
        "settings": settings,
    }))
    .expect("a payload serialises")
}
