//! The policy's two waPC entry points as pure functions from the payload bytes
//! to the response bytes: no host, no wasm, natively testable. `lib.rs` only
//! wires them.
//!
//! One path: parse the payload ([`request`]) → parse the object into the view
//! its kind calls for ([`pruned`]) → read the namespace's VSO resources when
//! `vaultSync` is on ([`vault_sync`]) → find its pod specs and judge each into
//! findings and edits ([`judge`]) → splice the edits into the object's text
//! ([`splice`]) → write the response ([`response`]).

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;

use crate::json;
use crate::judge;
use crate::locate;
use crate::pruned;
use crate::request::{self, describe_object_error};
use crate::response::Response;
use crate::settings::Settings;
use crate::splice;
use crate::vault_sync::{self, Cluster, NoCluster};

/// `validate`: settings and request in, a Kubewarden ValidationResponse out,
/// as the JSON the host reads. Malformed input is answered with a rejection
/// that says what is wrong. `cluster` answers the host calls `vaultSync` makes.
pub fn validate_json_in(payload: &[u8], cluster: &dyn Cluster) -> Vec<u8> {
    answer(payload, cluster).to_json()
}

/// [`validate_json_in`] on a host without a cluster: `vaultSync`'s reads fail.
pub fn validate_json(payload: &[u8]) -> Vec<u8> {
    validate_json_in(payload, &NoCluster)
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

/// [`validate_json`]'s answer read back into the SDK's type, for tests and tools.
pub fn validate(payload: &[u8]) -> ValidationResponse {
    validate_in(payload, &NoCluster)
}

/// [`validate_json_in`]'s answer read back into the SDK's type.
pub fn validate_in(payload: &[u8], cluster: &dyn Cluster) -> ValidationResponse {
    let json = validate_json_in(payload, cluster);
    serde_json::from_slice(&json).unwrap_or_else(|e| ValidationResponse {
        accepted: false,
        message: Some(format!("the response is not a ValidationResponse: {e}")),
        code: Some(500),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    })
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
    let view = match pruned::parse(object.get(), locate::view_shape(&settings, &request.kind)) {
        Ok(view) => view,
        Err(e) => return Response::malformed(describe_object_error(object, e)),
    };
    let vault = settings.vault_sync.is_enabled().then(|| {
        let namespace = request.namespace.as_deref().filter(|n| !n.is_empty());
        let namespace = namespace.or_else(|| json::pointer(&view, "/metadata/namespace").and_then(|n| n.as_str()));
        vault_sync::read(namespace, cluster)
    });
    let judgement = judge::judge(&settings, request, view, vault.as_ref());
    let mutated =
        || (!judgement.edits.is_empty()).then(|| splice::apply(object.get(), &judgement.edits, &settings.mount_path));
    Response::judged(&settings, &judgement.subject, &judgement.findings, mutated)
}
