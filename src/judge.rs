//! judge: one object's findings and the edits it needs, from its parsed view.
//!
//! For every pod spec the object holds: unless it is malformed, the planner
//! decides the declared mounts it lacks; when the policy mutates, the edits are
//! applied to the view, and the findings are those of the pod spec as it will
//! be admitted (what the edits fix is not found, what they cause is), each
//! message naming what the user wrote ([`crate::rules::Submitted`]). The edits are returned for the
//! splicer; the view is the policy's own copy, so nothing here reaches outside
//! its arguments.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::json;
use crate::locate::{self, PodSpecLocation};
use crate::plan::{self, Edit, PlannedEdits};
use crate::request::{AdmissionRequest, GroupVersionKind};
use crate::rules::{validate_pod_spec, Criteria};
use crate::settings::{Requirement, SecretMount, Settings};
use crate::vault_sync::{Unavailable, VaultSynced};
use crate::violation::{EntryRef, Finding, Rule, Violation};

/// What the namespace's VSO resources said ([`crate::vault_sync::read`]), when
/// `vaultSync` is on.
pub type VaultRead = Result<VaultSynced, Unavailable>;

/// What the policy concluded about one object.
#[derive(Debug, Default)]
pub struct Judgement {
    /// The object named for messages: `Deployment "team-a/processor"`.
    pub subject: String,
    /// Every violation, in a stable order.
    pub findings: Vec<Finding>,
    /// The edits to splice into the object, per pod spec; empty unless the
    /// policy mutates and something is missing.
    pub edits: Vec<PlannedEdits>,
}

/// Judges every pod spec of `object`, the view of the request's object;
/// `vault` is what the VSO resources said, when `vaultSync` is on; `mounts`
/// says what the declared mounts mean for this object. Called twice on an
/// UPDATE (the old object too), so kept out of line: one copy in the module.
#[inline(never)]
pub fn judge(
    settings: &Settings,
    request: &AdmissionRequest,
    mut object: Value,
    vault: Option<&VaultRead>,
    mounts: Mounts,
) -> Judgement {
    let GroupVersionKind { group, version, kind } = &request.kind;
    let subject = subject(kind, crate::request::namespace(request, &object), &object);
    let locations = match locate::locate(settings, group, version, kind, &object) {
        Ok(locations) => locations,
        Err(e) => {
            let finding = Finding {
                at: e.at,
                violation: Violation::MalformedObject { detail: e.message },
            };
            return Judgement {
                subject,
                findings: vec![finding],
                edits: Vec::new(),
            };
        }
    };
    let (synced, unavailable) = match vault {
        Some(Ok(synced)) => (Some(synced), None),
        Some(Err(unavailable)) => (None, Some(unavailable)),
        None => (None, None),
    };
    let declared = match mounts {
        Mounts::Ignored => Cow::Borrowed(&[][..]),
        _ if is_controlled(&object) => Cow::Borrowed(&[][..]),
        _ => declared_mounts(settings, request, &object, synced),
    };
    let mutate = settings.mutate && mounts == Mounts::AsSettings;
    let criteria = Criteria {
        settings,
        synced: synced.filter(|_| settings.vault_sync.require != Requirement::Off),
    };
    let mut judgement = Judgement {
        subject,
        findings: unavailable.map(unavailable_finding).into_iter().collect(),
        edits: Vec::new(),
    };
    for location in &locations {
        let (findings, edits) = judge_pod_spec(criteria, mutate, &mut object, location, &declared);
        // A malformed pod spec gets no mount, so nothing of it can collide.
        let planned = !findings.iter().any(is_malformed);
        judgement.findings.extend(findings);
        if planned {
            let collide = discovered_whole_secrets(settings, &object, location, &declared);
            judgement.findings.extend(collide);
        }
        if !edits.is_empty() {
            judgement.edits.push(PlannedEdits {
                pointer: location.pointer.clone(),
                edits,
            });
        }
    }
    judgement
}

/// What the declared mounts mean for the object judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounts {
    /// As the settings say: added under `mutate`, else a missing one is a finding.
    AsSettings,
    /// A missing one is a finding, never an edit: an UPDATE's old object,
    /// judged as it is stored.
    Reported,
    /// Neither added nor missing: an object that cannot or must not change
    /// now ([`crate::update::mounts`]).
    Ignored,
}

/// Whether a controller owns the object (an `ownerReferences` entry with
/// `controller: true`). The controller writes it from its own template and
/// finds it again by comparing templates: a mount is the owner's to add, and
/// one added here would make the controller write another object.
pub fn is_controlled(object: &Value) -> bool {
    json::get(object, "metadata")
        .and_then(|metadata| json::get(metadata, "ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| json::get(o, "controller") == Some(&Value::Bool(true)))
        })
}

/// The mounts planned for this request: the settings' `secretMounts`, then
/// those the VSO resources declare for it (`vaultSync.discover`).
fn declared_mounts<'s>(
    settings: &'s Settings,
    request: &AdmissionRequest,
    object: &Value,
    synced: Option<&VaultSynced>,
) -> Cow<'s, [SecretMount]> {
    let explicit = settings.secret_mounts.as_slice();
    let discovered = match synced {
        Some(synced) if settings.vault_sync.discover => {
            let name = json::pointer(object, "/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            synced.declared_mounts(&request.kind, name, explicit)
        }
        _ => Vec::new(),
    };
    if discovered.is_empty() {
        Cow::Borrowed(explicit)
    } else {
        Cow::Owned([explicit, &discovered].concat())
    }
}

/// Two or more Secrets discovered from VSO resources go whole (every key,
/// under its own name) into the one volume at the mount path of the pod
/// spec's containers; their keys cannot be seen at admission, so a key two of
/// them share, which would be one file, is told as a warning naming them.
fn discovered_whole_secrets(
    settings: &Settings,
    object: &Value,
    location: &PodSpecLocation,
    declared: &[SecretMount],
) -> Option<Finding> {
    let discovered: Vec<&SecretMount> = declared
        .iter()
        .filter(|e| e.declared_by.is_some() && e.items.is_none())
        .collect();
    if discovered.len() < 2 {
        return None;
    }
    let containers = json::pointer(object, &location.pointer)
        .and_then(|spec| spec.get("containers"))
        .and_then(Value::as_array)?;
    let received = containers
        .iter()
        .filter_map(Value::as_object)
        .any(|c| !settings.is_exempt(c));
    received.then(|| Finding {
        at: json::place(&location.display()),
        violation: Violation::DiscoveredSecretsMayCollide {
            entries: discovered.iter().map(|e| EntryRef::of(e)).collect(),
        },
    })
}

/// A failed read of the VSO resources, told once for the whole object.
fn unavailable_finding(unavailable: &Unavailable) -> Finding {
    Finding {
        at: "metadata.namespace".to_string(),
        violation: Violation::VaultSyncUnavailable {
            call: unavailable.call.clone(),
            error: unavailable.error.clone(),
        },
    }
}

/// The findings of one pod spec, and the edits it needs (only when `mutate`). Its findings come from one judgement: of the pod spec as it will
/// be admitted when the policy mutates it (the view gets the edits), else as
/// submitted. The pod spec as submitted is walked by the rules first all the
/// same, to learn whether it has Kubernetes' shape: a malformed one gets no
/// plan, and its findings are those of the object as submitted.
fn judge_pod_spec(
    criteria: Criteria,
    mutate: bool,
    object: &mut Value,
    location: &PodSpecLocation,
    declared: &[SecretMount],
) -> (Vec<Finding>, Vec<Edit>) {
    let settings = criteria.settings;
    let at = location.display();
    let mut findings = Vec::new();
    if let Some(spec) = json::pointer(object, &location.pointer).and_then(Value::as_object) {
        validate_pod_spec(spec, &at, criteria, None, &mut findings);
    }
    if findings.iter().any(is_malformed) {
        return (findings, Vec::new());
    }
    let edits = match plan_pod_spec(settings, object, location, &at, declared) {
        Err(conflicts) => return ([findings, conflicts].concat(), Vec::new()),
        Ok(edits) if edits.is_empty() => return (findings, edits),
        Ok(edits) if !mutate => {
            findings.extend(plan::missing_as_findings(&edits, &at, &settings.mount_path));
            return (findings, Vec::new());
        }
        Ok(edits) => edits,
    };
    let Some(spec) = json::pointer_mut(object, &location.pointer).and_then(Value::as_object_mut) else {
        return (findings, Vec::new());
    };
    let sources = source_counts(spec);
    if let Err(unplaced) = plan::apply_to_view(spec, &edits, &settings.mount_path, &at) {
        findings.push(unplaced.into_finding());
        return (findings, Vec::new());
    }
    let mut admitted = Vec::new();
    validate_pod_spec(spec, &at, criteria, Some(&sources), &mut admitted);
    (admitted, edits)
}

/// The planner's answer for the pod spec at `location`: the edits that give
/// it its declared mounts, or the conflicts that forbid guessing.
fn plan_pod_spec(
    settings: &Settings,
    object: &Value,
    location: &PodSpecLocation,
    at: &str,
    declared: &[SecretMount],
) -> Result<Vec<Edit>, Vec<Finding>> {
    let spec = json::pointer(object, &location.pointer).and_then(Value::as_object);
    let Some(spec) = spec.filter(|_| !declared.is_empty()) else {
        return Ok(Vec::new());
    };
    let empty = Map::new();
    let labels = json::pointer(object, &location.labels_pointer())
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    plan::plan(spec, labels, at, settings, declared)
}

/// How many sources each volume of the pod spec has (0 for one that is not projected).
fn source_counts(spec: &Map<String, Value>) -> Vec<usize> {
    json::list(spec, "volumes")
        .iter()
        .map(|v| {
            json::pointer(v, "/projected/sources")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .collect()
}

fn is_malformed(finding: &Finding) -> bool {
    finding.violation.rule() == Rule::MalformedObject
}

/// `Deployment "team-a/processor"`, for the first line of a rejection.
fn subject(kind: &str, namespace: Option<&str>, object: &Value) -> String {
    let meta = object.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let name = field("name")
        .map(str::to_string)
        .or_else(|| field("generateName").map(|g| format!("{g}*")))
        .unwrap_or_default();
    let namespace = namespace.unwrap_or("");
    let kind = if kind.is_empty() { "object" } else { kind };
    match (namespace.is_empty(), name.is_empty()) {
        (_, true) => kind.to_string(),
        (true, false) => format!("{kind} {name:?}"),
        (false, false) => format!("{kind} \"{namespace}/{name}\""),
    }
}
