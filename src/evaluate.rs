//! The policy's two waPC entry points as pure functions from the payload bytes to
//! the response: no host, no wasm, natively testable. `lib.rs` only wires them.
//!
//! The request is parsed once, into a lean envelope that keeps the object as raw
//! JSON and skips what the policy never reads (`oldObject`, `userInfo`, ...).

use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::mutate;
use crate::podspec::{self, PodSpecLocation};
use crate::settings::{Action, Settings};
use crate::validate::validate_pod_spec;
use crate::violation::{Finding, Rule, Violation};

/// Audit annotation listing the rules an object breaks, for grouping reports.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    settings: Option<&'a RawValue>,
    request: AdmissionRequest,
}

/// The parts of a Kubernetes AdmissionRequest the policy reads.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub object: Value,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// What the policy concluded about one request.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Every violation, in a stable order.
    pub findings: Vec<Finding>,
    /// The object with the declared mounts added, when anything was added.
    pub mutated: Option<Value>,
}

/// `validate_settings`: the settings alone, answered with `valid` and a message.
pub fn validate_settings(payload: &[u8]) -> SettingsValidationResponse {
    match Settings::from_json(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}

/// `validate`: settings and request in, a Kubewarden ValidationResponse out.
/// Malformed input is answered with a rejection that says what is wrong.
pub fn validate(payload: &[u8]) -> ValidationResponse {
    // The fast path parses plainly; only a failure is parsed again with
    // serde_path_to_error, which copies every key, to name the offending field.
    let payload: Payload = match serde_json::from_slice(payload) {
        Ok(p) => p,
        Err(plain) => return unparsable(describe_request_error(payload, plain)),
    };
    let settings = match payload
        .settings
        .map(|raw| Settings::from_json(raw.get().as_bytes()))
        .transpose()
    {
        Ok(s) => s.unwrap_or_default(),
        Err(message) => return unparsable(format!("the policy settings are not valid: {message}")),
    };
    let request = payload.request;
    let subject = subject(&request);
    let evaluation = evaluate(&settings, request);
    respond(&settings, &subject, evaluation)
}

fn describe_request_error(payload: &[u8], plain: serde_json::Error) -> String {
    let mut de = serde_json::Deserializer::from_slice(payload);
    match serde_path_to_error::deserialize::<_, Payload>(&mut de) {
        Err(e) if e.path().to_string() != "." => {
            let path = e.path().to_string();
            format!(
                "the admission request could not be parsed at {path}: {}",
                e.into_inner()
            )
        }
        _ => format!("the admission request could not be parsed: {plain}"),
    }
}

fn unparsable(message: String) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code: Some(400),
        mutated_object: None,
        audit_annotations: Some(HashMap::from([(
            VIOLATIONS_ANNOTATION.to_string(),
            Rule::MalformedObject.name().to_string(),
        )])),
        warnings: None,
    }
}

/// `Deployment "team-a/processor"`, for the first line of a rejection.
fn subject(request: &AdmissionRequest) -> String {
    let meta = request.object.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let name = field("name")
        .map(str::to_string)
        .or_else(|| field("generateName").map(|g| format!("{g}*")))
        .unwrap_or_default();
    let namespace = field("namespace").or(request.namespace.as_deref()).unwrap_or("");
    let kind = if request.kind.kind.is_empty() {
        "object"
    } else {
        &request.kind.kind
    };
    match (namespace.is_empty(), name.is_empty()) {
        (_, true) => kind.to_string(),
        (true, false) => format!("{kind} {name:?}"),
        (false, false) => format!("{kind} \"{namespace}/{name}\""),
    }
}

/// Judges (and, where allowed, mutates) every pod spec of the request's object.
pub fn evaluate(settings: &Settings, request: AdmissionRequest) -> Evaluation {
    let sub_resource = request.sub_resource.as_deref().unwrap_or("");
    let judged_operation = matches!(request.operation.as_str(), "CREATE" | "UPDATE");
    // Only the object itself and the ephemeral-containers subresource carry a pod spec.
    let judged_sub_resource = matches!(sub_resource, "" | "ephemeralcontainers");
    let GroupVersionKind { group, version, kind } = &request.kind;
    if !judged_operation || !judged_sub_resource || request.object.is_null() {
        return Evaluation::default();
    }
    if !podspec::is_covered(settings, group, version, kind) {
        return Evaluation::default();
    }
    let mut object = request.object;
    let locations = match podspec::locate(settings, group, version, kind, &object) {
        Ok(l) => l,
        Err(e) => {
            return Evaluation {
                findings: vec![Finding {
                    at: e.at,
                    violation: Violation::MalformedObject { detail: e.message },
                }],
                mutated: None,
            }
        }
    };
    // A Pod's spec cannot gain volumes after creation: on UPDATE (and through the
    // ephemeralcontainers subresource) a Pod is judged but never mutated.
    let is_pod = group.is_empty() && kind == "Pod";
    let declared_apply =
        !settings.secret_mounts.is_empty() && !(is_pod && (request.operation == "UPDATE" || !sub_resource.is_empty()));

    let mut evaluation = Evaluation::default();
    let mut changed = false;
    for location in &locations {
        changed |= judge_pod_spec(
            settings,
            &mut object,
            location,
            declared_apply,
            &mut evaluation.findings,
        );
    }
    if changed {
        evaluation.mutated = Some(object);
    }
    evaluation
}

/// Plans the declared mounts, applies them when allowed, and validates the
/// result. Returns whether the object was changed.
fn judge_pod_spec(
    settings: &Settings,
    object: &mut Value,
    location: &PodSpecLocation,
    declared_apply: bool,
    findings: &mut Vec<Finding>,
) -> bool {
    let at = location.display();
    let empty = Map::new();
    let planned = if declared_apply {
        let labels = podspec::lookup(object, &location.labels_pointer())
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let spec = podspec::lookup(object, &location.pointer)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        mutate::plan(spec, labels, &at, settings)
    } else {
        Ok(Vec::new())
    };
    let mut changed = false;
    match planned {
        Ok(edits) if !edits.is_empty() && settings.mutate => {
            if let Some(spec) = podspec::lookup_mut(object, &location.pointer).and_then(Value::as_object_mut) {
                changed = mutate::apply(spec, edits, &settings.mount_path);
            }
            validate_at(settings, object, location, &at, findings);
        }
        Ok(edits) => {
            validate_at(settings, object, location, &at, findings);
            findings.extend(mutate::missing_as_findings(&edits, &at, &settings.mount_path));
        }
        Err(conflicts) => {
            validate_at(settings, object, location, &at, findings);
            findings.extend(conflicts);
        }
    }
    changed
}

fn validate_at(settings: &Settings, object: &Value, location: &PodSpecLocation, at: &str, findings: &mut Vec<Finding>) {
    if let Some(spec) = podspec::lookup(object, &location.pointer).and_then(Value::as_object) {
        validate_pod_spec(spec, at, settings, findings);
    }
}

/// Turns an evaluation into the response the settings' `action` calls for.
pub fn respond(settings: &Settings, subject: &str, evaluation: Evaluation) -> ValidationResponse {
    let Evaluation { findings, mutated } = evaluation;
    if findings.is_empty() {
        return ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: mutated,
            audit_annotations: None,
            warnings: None,
        };
    }
    let mut rules: Vec<&str> = Vec::new();
    for f in &findings {
        let name = f.violation.rule().name();
        if !rules.contains(&name) {
            rules.push(name);
        }
    }
    let audit = Some(HashMap::from([(VIOLATIONS_ANNOTATION.to_string(), rules.join(","))]));
    let lines: Vec<String> = findings.iter().map(|f| f.render(&settings.mount_path)).collect();
    match settings.action {
        Action::Warn => ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: mutated,
            audit_annotations: audit,
            warnings: Some(lines),
        },
        Action::Reject => {
            let count = match lines.len() {
                1 => "1 violation".to_string(),
                n => format!("{n} violations"),
            };
            ValidationResponse {
                accepted: false,
                message: Some(format!(
                    "{subject} breaks the secret mounts rules ({count}):\n{}",
                    lines.join("\n")
                )),
                code: None,
                mutated_object: None,
                audit_annotations: audit,
                warnings: None,
            }
        }
    }
}
