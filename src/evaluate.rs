//! The policy's two waPC entry points as pure functions from the payload bytes
//! to the response bytes: no host, no wasm, natively testable. `lib.rs` only
//! wires them.
//!
//! One path: parse the payload ([`request`]) → parse the object into the view
//! its kind calls for ([`pruned`]) — and, on UPDATE only, the old object into
//! the same view → read the namespace's VSO resources when `vaultSync` is on
//! ([`vault_sync`]) → find its pod specs and judge each into findings and
//! edits ([`judge`]), on UPDATE setting aside what the old object already had
//! ([`update`]) → splice the edits into the object's text ([`splice`]) →
//! write the response ([`response`]). An object being deleted is accepted
//! untouched as soon as its view says so.

/// The SDK's response type, which [`read_response`] reads into.
pub use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;

use crate::judge::{self, Mounts};
use crate::locate;
use crate::pruned;
use crate::request::{self, describe_object_error, describe_old_object_error};
use crate::response::{self, Response};
use crate::settings::Settings;
use crate::splice;
use crate::update;
pub use crate::vault_sync::NoCluster;
use crate::vault_sync::{self, Cluster};

/// `validate`: settings and request in, a Kubewarden ValidationResponse out,
/// as the JSON the host reads. Malformed input is answered with a rejection
/// that says what is wrong. `cluster` answers the host calls `vaultSync` makes
/// ([`NoCluster`] where there is none: those reads then fail).
pub fn validate(payload: &[u8], cluster: &dyn Cluster) -> Vec<u8> {
    answer(payload, cluster).to_json()
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

/// [`validate`]'s answer read back as a host reads it, for tests and tools:
/// strictly, into the SDK's type. Bytes that are not one JSON object, a field
/// the SDK does not know, a field given twice or of the wrong type, and a
/// `mutated_object` that is not an object are errors, never a fallback answer.
pub fn validate_typed(payload: &[u8], cluster: &dyn Cluster) -> Result<ValidationResponse, String> {
    read_response(&validate(payload, cluster))
}

/// The strict read behind [`validate_typed`].
pub fn read_response(bytes: &[u8]) -> Result<ValidationResponse, String> {
    const FIELDS: [&str; 6] = [
        "accepted",
        "message",
        "code",
        "mutated_object",
        "audit_annotations",
        "warnings",
    ];
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the response is not UTF-8: {e}"))?;
    let fields: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(text).map_err(|e| format!("the response is not a JSON object: {e}"))?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("the response has a field the host does not know: {unknown:?}"));
    }
    let response: ValidationResponse =
        serde_json::from_str(text).map_err(|e| format!("the response is not a ValidationResponse: {e}"))?;
    if response.mutated_object.as_ref().is_some_and(|m| !m.is_object()) {
        return Err("the response's mutated_object is not an object".to_string());
    }
    Ok(response)
}

fn answer(payload: &[u8], cluster: &dyn Cluster) -> Response {
    let payload = match request::parse(payload) {
        Ok(payload) => payload,
        Err(message) => return Response::malformed(message),
    };
    let settings = match Settings::cached(payload.settings) {
        Ok(settings) => settings,
        Err(message) => return Response::malformed(format!("the policy settings are not valid: {message}")),
    };
    let request = &payload.request;
    let settings = request::settings_for(&payload, settings);
    let Some(object) = request.object.filter(|_| locate::is_judged(&settings, request)) else {
        return Response::accept(None);
    };
    let shape = update::view_shape(&settings, request);
    let images = settings.pins_images();
    let view = match pruned::parse(object.get(), shape, images) {
        Ok(view) => view,
        Err(e) => return Response::malformed(describe_object_error(e)),
    };
    if update::is_deleting(&view) {
        return Response::accept(None);
    }
    let old = match request
        .old_object_on_update()
        .map(|old| pruned::parse(old.get(), shape, images))
    {
        None => None,
        Some(Ok(old)) => Some(old),
        Some(Err(e)) => return Response::malformed(describe_old_object_error(e)),
    };
    let vault = vault_sync::is_read_for(&settings.vault_sync, &request.kind)
        .then(|| vault_sync::read(request::namespace(request, &view), cluster));
    let mounts = update::mounts(&settings, request, &view, old.as_ref());
    let added = old
        .as_ref()
        .and_then(|old| update::added_ephemeral(request, &view, old));
    let judge::Judgement {
        subject,
        findings,
        edits,
    } = judge::judge(&settings, request, view, vault.as_ref(), mounts);
    let before = old
        .filter(|_| settings.allow_existing_violations)
        .map(|old| judge::judge(&settings, request, old, vault.as_ref(), Mounts::Reported).findings);
    let (mut findings, existing) = update::settle(findings, before.as_deref(), added.as_deref());
    // The mutated object is written only for an answer that accepts.
    let mut mutated = None;
    if !edits.is_empty() && response::accepts(&settings, &findings) {
        match splice::apply(object.get(), &edits, &settings.mount_path) {
            Ok(text) => mutated = Some(text),
            Err(unplaced) => findings.push(unplaced.into_finding()),
        }
    }
    Response::judged(&settings, &subject, &findings, &existing, mutated)
}
