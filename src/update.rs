//! update: what an UPDATE changed since its `oldObject`, and what that means
//! for the answer.
//!
//! A cluster sends UPDATEs for reasons of its own (a label, a scale, a
//! finalizer removed, a debug container added), and the policy must not turn
//! them into rollouts or block them for what the object already was. Three
//! questions are answered here, each only on UPDATE: whether the pod template
//! changed (only then are declared mounts added, [`mounts`]), which ephemeral
//! containers the `ephemeralcontainers` subresource adds ([`added_ephemeral`]),
//! and which findings the old object already had ([`settle`]).

use serde_json::Value;

use crate::json;
use crate::judge::Mounts;
use crate::kinds;
use crate::locate;
use crate::pruned::Shape;
use crate::request::{AdmissionRequest, GroupVersionKind};
use crate::settings::Settings;
use crate::violation::{ContainerList, ContainerRef, Finding, Rule, Violation};

/// The subresource through which containers are added to a running Pod.
const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

/// Whether the object is being deleted (`metadata.deletionTimestamp` set):
/// what is left of its life is controllers removing finalizers, which must
/// never be blocked or changed.
pub fn is_deleting(object: &Value) -> bool {
    json::get(object, "metadata")
        .and_then(|metadata| json::get(metadata, "deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

/// Whether the request comes after the object's creation: an UPDATE, or a
/// subresource.
fn after_create(request: &AdmissionRequest) -> bool {
    request.operation == "UPDATE" || request.sub_resource.as_deref().is_some_and(|s| !s.is_empty())
}

/// Whether the object's pod spec cannot gain volumes after creation (a Pod):
/// after creation it is judged but never mutated.
fn is_fixed(request: &AdmissionRequest) -> bool {
    kinds::find(&request.kind.group, &request.kind.kind).is_some_and(|k| !k.mutable_after_create)
}

/// Whether the request's pod templates are compared with the old object's:
/// on UPDATE of a kind whose pod spec can still change, when the policy
/// mutates (with `mutate: false` a missing mount is a finding like any
/// other, judged on every UPDATE).
fn compares_templates(settings: &Settings, request: &AdmissionRequest) -> bool {
    settings.mutate && request.old_object_on_update().is_some() && !is_fixed(request)
}

/// What of the object (and the old object) is parsed: whole where the pod
/// templates are compared, since any field of them may have changed; else
/// the view its kind calls for ([`locate::view_shape`]).
pub fn view_shape(settings: &Settings, request: &AdmissionRequest) -> &'static Shape {
    if compares_templates(settings, request) {
        &Shape::Whole
    } else {
        locate::view_shape(settings, &request.kind)
    }
}

/// What the declared mounts mean for the request's object (`old` is the old
/// object's view, on UPDATE). A Pod after creation gains none. Any other
/// object gains them on UPDATE only when its pod template (its spec or
/// metadata) changed: a rollout that happens anyway. A metadata or replicas
/// update is never patched.
pub fn mounts(settings: &Settings, request: &AdmissionRequest, object: &Value, old: Option<&Value>) -> Mounts {
    if after_create(request) && is_fixed(request) {
        return Mounts::Ignored;
    }
    let Some(old) = old.filter(|_| compares_templates(settings, request)) else {
        return Mounts::AsSettings;
    };
    let GroupVersionKind { group, version, kind } = &request.kind;
    // A pod spec that cannot be located is reported by the judgement.
    let Ok(locations) = locate::locate(settings, group, version, kind, object) else {
        return Mounts::AsSettings;
    };
    let changed = |pointer: &str| json::pointer(object, pointer) != json::pointer(old, pointer);
    if locations
        .iter()
        .any(|l| changed(&l.pointer) || changed(&l.metadata_pointer()))
    {
        Mounts::AsSettings
    } else {
        Mounts::Ignored
    }
}

/// The names of the ephemeral containers an `ephemeralcontainers` request
/// adds: those of the new Pod that the old one has no container of that name
/// in `ephemeralContainers`. `None` for any other request: all is judged.
pub fn added_ephemeral(request: &AdmissionRequest, object: &Value, old: &Value) -> Option<Vec<String>> {
    if request.sub_resource.as_deref() != Some(EPHEMERAL_CONTAINERS) {
        return None;
    }
    let names = |pod: &Value| -> Vec<String> {
        json::pointer(pod, "/spec/ephemeralContainers")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|c| json::get(c, "name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let before = names(old);
    Some(names(object).into_iter().filter(|n| !before.contains(n)).collect())
}

/// Splits an UPDATE's findings into those that answer it as on CREATE and
/// those left as warnings. Through the `ephemeralcontainers` subresource
/// (`added` is `Some`), a finding about a container other than an added
/// ephemeral one is dropped: that request changes nothing else. Under
/// `allowExistingViolations` (`before` is the old object's findings), a
/// finding the old object already had ([`identity`]) is a warning.
pub fn settle(
    findings: Vec<Finding>,
    before: Option<&[Finding]>,
    added: Option<&[String]>,
) -> (Vec<Finding>, Vec<Finding>) {
    let judged = findings.into_iter().filter(|f| match (added, identity(f).1) {
        (Some(added), Some(c)) => c.list == ContainerList::EphemeralContainers && added.contains(&c.name),
        _ => true,
    });
    let Some(before) = before else {
        return (judged.collect(), Vec::new());
    };
    // A failed read of the VSO resources is this request's, not the old object's.
    let known: Vec<Identity> = before
        .iter()
        .filter(|f| f.violation.rule() != Rule::VaultSyncUnavailable)
        .map(identity)
        .collect();
    judged.partition(|f| !known.contains(&identity(f)))
}

/// What makes two findings the same one across an UPDATE: the rule, the
/// container and the Secret or volume it names — not the index, which shifts.
/// A finding that names none of them (a malformed field, a missing declared
/// mount, a conflict, a failed read, a possible collision) is the same one at
/// the same field.
type Identity<'f> = (Rule, Option<&'f ContainerRef>, &'f str);

fn identity(finding: &Finding) -> Identity<'_> {
    let rule = finding.violation.rule();
    match &finding.violation {
        Violation::EnvSecretRef { container, secret, .. }
        | Violation::EnvFromSecretRef { container, secret }
        | Violation::SecretNotVaultSynced { container, secret, .. } => (rule, Some(container), secret),
        Violation::SecretMountPath { container, volume, .. }
        | Violation::SecretMountWritable { container, volume, .. }
        | Violation::SecretMountSubpath { container, volume, .. } => (rule, Some(container), volume),
        Violation::PlainSecretVolume { volume, mount, .. } => (rule, mount.as_ref().map(|(c, _)| c), volume),
        Violation::ProjectedPathConflict { volume, .. } => (rule, None, volume),
        Violation::DeclaredMountMissing { .. }
        | Violation::SecretMountsConflict { .. }
        | Violation::VaultSyncUnavailable { .. }
        | Violation::DiscoveredSecretsMayCollide { .. }
        | Violation::MalformedObject { .. } => (rule, None, &finding.at),
    }
}
