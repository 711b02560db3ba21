//! The policy's two waPC entry points as pure functions from the payload bytes to
//! the response: no host, no wasm, natively testable. `lib.rs` only wires them.
//!
//! The payload is parsed once ([`envelope`]): the object pruned to what the
//! policy reads ([`pruned`]), everything else skipped; a mutation is spliced
//! into the request's own text ([`splice`]). The two-pass path (object kept
//! raw, then parsed on its own) answers what the one pass does not, and
//! `evaluate` judges an already parsed object, for tests and tools.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::envelope::{self, Object};
use crate::mutate;
use crate::podspec::{self, PodSpecLocation};
use crate::pruned;
use crate::settings::{Action, Settings};
use crate::splice;
use crate::validate::validate_pod_spec;
use crate::violation::{Finding, Rule, Violation};

/// Audit annotation listing the rules an object breaks, for grouping reports.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    settings: Option<&'a RawValue>,
    #[serde(borrow)]
    request: AdmissionRequest<Option<&'a RawValue>>,
}

/// The parts of a Kubernetes AdmissionRequest the policy reads. The host's
/// request keeps its object as raw JSON (`O = Option<&RawValue>`): it is parsed
/// only once the policy knows it judges it, and only as far as the policy reads it.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<O = Value> {
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub object: O,
}

impl<O> AdmissionRequest<O> {
    /// The same request carrying `object` instead.
    pub fn with_object<P>(&self, object: P) -> AdmissionRequest<P> {
        AdmissionRequest {
            kind: self.kind.clone(),
            sub_resource: self.sub_resource.clone(),
            operation: self.operation.clone(),
            namespace: self.namespace.clone(),
            object,
        }
    }
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

/// `validate`: settings and request in, a Kubewarden ValidationResponse out,
/// as the JSON the host reads. Malformed input is answered with a rejection
/// that says what is wrong.
pub fn validate_json(payload: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let (mut response, mutated) = answer(payload);
    let mut json = serde_json::to_vec(&response)?;
    if let Some(object) = mutated.filter(|_| response.accepted) {
        // The object is JSON text already (spliced into the request's own text,
        // see [`splice`]): it goes in as it is instead of through a `Value` built
        // only to be written out again. `response.mutated_object` is `None`, so
        // its `null` is replaced (the first occurrence is the field: a message
        // or warning quoting it would have its quotes escaped).
        let null_field = b"\"mutated_object\":null";
        match json.windows(null_field.len()).position(|w| w == null_field) {
            Some(at) => {
                let value_at = at + null_field.len() - b"null".len();
                json.splice(value_at..value_at + 4, object.into_bytes());
            }
            None => {
                response.mutated_object = Some(serde_json::from_str(&object)?);
                json = serde_json::to_vec(&response)?;
            }
        }
    }
    Ok(json)
}

/// [`validate_json`]'s answer read back into the SDK's type, for tests and tools.
pub fn validate(payload: &[u8]) -> ValidationResponse {
    validate_json(payload)
        .and_then(|json| serde_json::from_slice(&json))
        .unwrap_or_else(|e| unparsable(format!("the response could not be written: {e}")))
}

/// The response, and the mutated object it carries when it accepts.
fn answer(payload: &[u8]) -> (ValidationResponse, Option<String>) {
    // One pass over the payload parses the object pruned, as it goes. Anything
    // unusual (a parse error, podSpecPaths for a built-in kind, a mutation that
    // needs the object's text) is answered by the two-pass path, which also
    // names the field of a parse error.
    let choose =
        |kind: &GroupVersionKind| podspec::built_in_pointer(&kind.group, &kind.kind).and_then(pruned::shape_for);
    let Ok(envelope) = envelope::parse(payload, &choose) else {
        return answer_two_pass(payload);
    };
    let settings = match settings_for(envelope.settings) {
        Ok(s) => s,
        Err(rejection) => return (*rejection, None),
    };
    if matches!(envelope.request.object, Object::Pruned(_)) && pruned_shape(&settings, &envelope.request.kind).is_none()
    {
        // podSpecPaths also apply to this built-in kind: JSONPath reads the whole object.
        return answer_two_pass(payload);
    }
    let (head, object) = split(envelope.request);
    let result = match object {
        Object::Absent => Ok(RawEvaluation::default()),
        Object::Raw(raw) => evaluate_raw(&settings, &head.with_object(Some(raw))),
        Object::Pruned(_) if !is_judged(&settings, &head) => Ok(RawEvaluation::default()),
        Object::Pruned(object) => {
            let mut spliced = None;
            // Only a mutation needs the text: the splicer finds the object in it.
            let text = || std::str::from_utf8(payload).ok();
            let parse = Parse::Pruned {
                json: &text,
                root: &["request", "object"],
                spliced: &mut spliced,
            };
            match judge_object(&settings, &head, object, parse) {
                Judgement::Done(evaluation, subject) => Ok(RawEvaluation {
                    subject,
                    findings: evaluation.findings,
                    mutated: spliced,
                }),
                Judgement::NeedsFullObject => return answer_two_pass(payload),
            }
        }
    };
    finish(&settings, result)
}

/// The response for an evaluation (or for why the object could not be parsed).
fn finish(settings: &Settings, result: Result<RawEvaluation, String>) -> (ValidationResponse, Option<String>) {
    match result {
        Ok(RawEvaluation {
            subject,
            findings,
            mutated,
        }) => {
            let evaluation = Evaluation {
                findings,
                mutated: None,
            };
            (respond(settings, &subject, evaluation), mutated)
        }
        Err(message) => (unparsable(message), None),
    }
}

/// The payload parsed with the object kept raw, then the object parsed on its own.
fn answer_two_pass(payload: &[u8]) -> (ValidationResponse, Option<String>) {
    // The fast path parses plainly; only a failure is parsed again with
    // serde_path_to_error, which copies every key, to name the offending field.
    let payload: Payload = match serde_json::from_slice(payload) {
        Ok(p) => p,
        Err(plain) => return (unparsable(describe_request_error(payload, plain)), None),
    };
    let settings = match settings_for(payload.settings) {
        Ok(s) => s,
        Err(rejection) => return (*rejection, None),
    };
    finish(&settings, evaluate_raw(&settings, &payload.request))
}

/// The settings, or the rejection saying why they are not valid.
fn settings_for(raw: Option<&RawValue>) -> Result<Rc<Settings>, Box<ValidationResponse>> {
    cached_settings(raw)
        .map_err(|message| Box::new(unparsable(format!("the policy settings are not valid: {message}"))))
}

/// Settings with the bytes they were parsed from.
type CachedSettings = Option<(Box<[u8]>, Rc<Settings>)>;

thread_local! {
    /// The settings of the last call, with the bytes they were parsed from. A
    /// policy server sends the same settings with every request of a policy, so
    /// they are parsed and checked once, not on every admission.
    static SETTINGS: RefCell<CachedSettings> = const { RefCell::new(None) };
}

fn cached_settings(raw: Option<&RawValue>) -> Result<Rc<Settings>, String> {
    let bytes = raw.map_or(&b""[..], |r| r.get().as_bytes());
    SETTINGS.with(|cache| {
        if let Some((key, settings)) = &*cache.borrow() {
            if **key == *bytes {
                return Ok(Rc::clone(settings));
            }
        }
        let settings = Rc::new(Settings::from_json(bytes)?);
        *cache.borrow_mut() = Some((bytes.into(), Rc::clone(&settings)));
        Ok(settings)
    })
}

fn describe_request_error(payload: &[u8], plain: serde_json::Error) -> String {
    describe_parse_error::<Payload>(payload, None, plain)
}

fn describe_object_error(raw: &RawValue, plain: serde_json::Error) -> String {
    describe_parse_error::<Value>(raw.get().as_bytes(), Some("request.object"), plain)
}

/// Parses `json` again as a `T` with serde_path_to_error, which copies every key,
/// to name the field where the plain parse failed; `within` is where `json` is
/// in the payload. A parse error is a host bug or a hand-written request, so
/// only this rare path pays for the copies.
fn describe_parse_error<'a, T: Deserialize<'a>>(
    json: &'a [u8],
    within: Option<&str>,
    plain: serde_json::Error,
) -> String {
    let mut de = serde_json::Deserializer::from_slice(json);
    let named = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) if e.path().to_string() != "." => Some((e.path().to_string(), e.into_inner())),
        _ => None,
    };
    let prefix = "the admission request could not be parsed";
    match (within, named) {
        (None, Some((path, e))) => format!("{prefix} at {path}: {e}"),
        (Some(within), Some((path, e))) => format!("{prefix} at {within}.{path}: {e}"),
        (None, None) => format!("{prefix}: {plain}"),
        (Some(within), None) => format!("{prefix} at {within}: {plain}"),
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
fn subject(kind: &str, request_namespace: Option<&str>, object: &Value) -> String {
    let meta = object.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let name = field("name")
        .map(str::to_string)
        .or_else(|| field("generateName").map(|g| format!("{g}*")))
        .unwrap_or_default();
    let namespace = field("namespace").or(request_namespace).unwrap_or("");
    let kind = if kind.is_empty() { "object" } else { kind };
    match (namespace.is_empty(), name.is_empty()) {
        (_, true) => kind.to_string(),
        (true, false) => format!("{kind} {name:?}"),
        (false, false) => format!("{kind} \"{namespace}/{name}\""),
    }
}

/// Whether the policy judges this request at all, from its kind, operation and
/// subresource alone (before the object is parsed).
fn is_judged<O>(settings: &Settings, request: &AdmissionRequest<O>) -> bool {
    let sub_resource = request.sub_resource.as_deref().unwrap_or("");
    // Only the object itself and the ephemeral-containers subresource carry a pod spec.
    matches!(request.operation.as_str(), "CREATE" | "UPDATE")
        && matches!(sub_resource, "" | "ephemeralcontainers")
        && podspec::is_covered(settings, &request.kind.group, &request.kind.version, &request.kind.kind)
}

/// Judges (and, where allowed, mutates) every pod spec of the request's object.
pub fn evaluate(settings: &Settings, request: AdmissionRequest) -> Evaluation {
    if request.object.is_null() || !is_judged(settings, &request) {
        return Evaluation::default();
    }
    let (head, object) = split(request);
    match judge_object(settings, &head, object, Parse::Full) {
        Judgement::Done(evaluation, _) => evaluation,
        // Only a pruned parse defers to a full one.
        Judgement::NeedsFullObject => Evaluation::default(),
    }
}

/// Like [`evaluate`], for a request whose object is still raw JSON (what the host
/// sends). For a built-in kind the object is parsed pruned to the fields the
/// policy reads ([`pruned`]); it is parsed in full only when it must be mutated,
/// or when `podSpecPaths` (JSONPath over the whole object) applies to its kind.
/// Returns the subject for messages with the evaluation, or why the object could
/// not be parsed.
pub fn evaluate_raw(
    settings: &Settings,
    request: &AdmissionRequest<Option<&RawValue>>,
) -> Result<RawEvaluation, String> {
    let Some(raw) = request.object else {
        return Ok(RawEvaluation::default());
    };
    if !is_judged(settings, request) {
        return Ok(RawEvaluation::default());
    }
    let head = request.with_object(());
    match pruned_shape(settings, &request.kind) {
        Some(shape) => {
            let object = pruned::parse(raw.get(), shape).map_err(|e| describe_object_error(raw, e))?;
            judge_pruned(settings, &head, object, raw)
        }
        None => judge_full(settings, &head, raw),
    }
}

/// The shape that keeps what the policy reads of this kind, when its pod spec is
/// at a built-in place (no `podSpecPaths`, which need the whole object).
fn pruned_shape(settings: &Settings, kind: &GroupVersionKind) -> Option<&'static pruned::Shape> {
    podspec::built_in_only(settings, &kind.group, &kind.version, &kind.kind).and_then(pruned::shape_for)
}

/// Judges a pruned object whose JSON text is `raw`: mutations are spliced into
/// the text; what the splicer cannot do is done on a full parse.
fn judge_pruned(
    settings: &Settings,
    head: &AdmissionRequest<()>,
    object: Value,
    raw: &RawValue,
) -> Result<RawEvaluation, String> {
    let mut spliced = None;
    let text = || Some(raw.get());
    let parse = Parse::Pruned {
        json: &text,
        root: &[],
        spliced: &mut spliced,
    };
    match judge_object(settings, head, object, parse) {
        Judgement::Done(evaluation, subject) => Ok(RawEvaluation {
            subject,
            findings: evaluation.findings,
            mutated: spliced,
        }),
        Judgement::NeedsFullObject => judge_full(settings, head, raw),
    }
}

/// Judges the object parsed in full (custom kinds, and what splicing cannot do).
fn judge_full(settings: &Settings, head: &AdmissionRequest<()>, raw: &RawValue) -> Result<RawEvaluation, String> {
    let object: Value = serde_json::from_str(raw.get()).map_err(|e| describe_object_error(raw, e))?;
    match judge_object(settings, head, object, Parse::Full) {
        Judgement::Done(evaluation, subject) => Ok(RawEvaluation {
            subject,
            findings: evaluation.findings,
            mutated: evaluation
                .mutated
                .map(|v| serde_json::to_string(&v))
                .transpose()
                .map_err(|e| format!("the mutated object could not be written: {e}"))?,
        }),
        Judgement::NeedsFullObject => Err("the object could not be judged even when parsed in full".to_string()),
    }
}

/// The request without its object, and the object.
fn split<O>(request: AdmissionRequest<O>) -> (AdmissionRequest<()>, O) {
    let AdmissionRequest {
        kind,
        sub_resource,
        operation,
        namespace,
        object,
    } = request;
    let head = AdmissionRequest {
        kind,
        sub_resource,
        operation,
        namespace,
        object: (),
    };
    (head, object)
}

/// How much of the object was parsed.
enum Parse<'j, 's> {
    /// Every field: the object itself is mutated.
    Full,
    /// Only what validation and planning read ([`pruned`]). Edits are spliced
    /// into the object's JSON text, found at the keys `root` of the text `json`
    /// gives (called only for a mutation: the payload itself, or the object's
    /// own text); the mutated object is left in `spliced`.
    Pruned {
        json: &'j dyn Fn() -> Option<&'j str>,
        root: &'j [&'j str],
        spliced: &'s mut Option<String>,
    },
}

enum Judgement {
    /// The evaluation, with the subject for messages.
    Done(Evaluation, String),
    /// A pruned object needs a change the splicer cannot make: parse it in full
    /// and judge it again.
    NeedsFullObject,
}

/// What [`evaluate_raw`] concluded.
#[derive(Debug, Default)]
pub struct RawEvaluation {
    /// The object named for messages: `Deployment "team-a/processor"`.
    pub subject: String,
    /// Every violation, in a stable order.
    pub findings: Vec<Finding>,
    /// The object with the declared mounts added, as JSON text, when anything was added.
    pub mutated: Option<String>,
}

fn judge_object(settings: &Settings, request: &AdmissionRequest<()>, mut object: Value, mut parse: Parse) -> Judgement {
    let GroupVersionKind { group, version, kind } = &request.kind;
    let subject = subject(kind, request.namespace.as_deref(), &object);
    let locations = match podspec::locate(settings, group, version, kind, &object) {
        Ok(l) => l,
        Err(e) => {
            let evaluation = Evaluation {
                findings: vec![Finding {
                    at: e.at,
                    violation: Violation::MalformedObject { detail: e.message },
                }],
                mutated: None,
            };
            return Judgement::Done(evaluation, subject);
        }
    };
    // A Pod's spec cannot gain volumes after creation: on UPDATE (and through the
    // ephemeralcontainers subresource) a Pod is judged but never mutated.
    let is_pod = group.is_empty() && kind == "Pod";
    let declared_apply = !settings.secret_mounts.is_empty()
        && !(is_pod
            && (request.operation == "UPDATE" || request.sub_resource.as_deref().is_some_and(|s| !s.is_empty())));

    if locations.len() > 1 && matches!(parse, Parse::Pruned { .. }) {
        // Splicing edits text one pod spec at a time; pruning is for built-in
        // kinds, which have one pod spec.
        return Judgement::NeedsFullObject;
    }
    let mut evaluation = Evaluation::default();
    let mut changed = false;
    for location in &locations {
        let parse = match &mut parse {
            Parse::Full => Parse::Full,
            Parse::Pruned { json, root, spliced } => Parse::Pruned {
                json: *json,
                root,
                spliced,
            },
        };
        match judge_pod_spec(
            settings,
            &mut object,
            location,
            declared_apply,
            parse,
            &mut evaluation.findings,
        ) {
            Some(c) => changed |= c,
            // A change the splicer cannot make: judged again on a full parse.
            None => return Judgement::NeedsFullObject,
        }
    }
    if changed && matches!(parse, Parse::Full) {
        evaluation.mutated = Some(object);
    }
    Judgement::Done(evaluation, subject)
}

/// Plans the declared mounts, applies them when allowed, and validates the
/// result. Returns whether the object was changed, or `None` when it must be
/// changed but only a pruned copy was parsed.
fn judge_pod_spec(
    settings: &Settings,
    object: &mut Value,
    location: &PodSpecLocation,
    declared_apply: bool,
    parse: Parse<'_, '_>,
    findings: &mut Vec<Finding>,
) -> Option<bool> {
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
            if let Parse::Pruned { json, root, spliced } = parse {
                // The pruned object takes the edits for validation; the text takes
                // them for the answer. What the splicer cannot do, a full parse does.
                *spliced = Some(splice::apply(
                    json()?,
                    root,
                    &location.pointer,
                    &edits,
                    &settings.mount_path,
                )?);
            }
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
    Some(changed)
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
