//! The policy's two waPC entry points as pure functions from the payload bytes
//! to the response bytes: no host, no wasm, natively testable. `lib.rs` only
//! wires them.
//!
//! One path: parse the payload ([`request`]) → parse the object into the view
//! its kind calls for ([`pruned`]) → find its pod specs and judge each into
//! findings and edits ([`judge`]) → splice the edits into the object's text
//! ([`splice`]) → write the response ([`response`]).

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;

use crate::judge;
use crate::locate;
use crate::pruned;
use crate::request::{self, describe_object_error};
use crate::response::Response;
use crate::settings::Settings;
use crate::splice;

/// `validate`: settings and request in, a Kubewarden ValidationResponse out,
/// as the JSON the host reads. Malformed input is answered with a rejection
/// that says what is wrong.
pub fn validate_json(payload: &[u8]) -> Vec<u8> {
    answer(payload).to_json()
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
    let json = validate_json(payload);
    serde_json::from_slice(&json).unwrap_or_else(|e| ValidationResponse {
        accepted: false,
        message: Some(format!("the response is not a ValidationResponse: {e}")),
        code: Some(500),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    })
}

fn answer(payload: &[u8]) -> Response {
    let payload = match request::parse(payload) {
        Ok(payload) => payload,
        Err(message) => return Response::malformed(message),
    };
    let settings = match Settings::cached(payload.settings) {
        Ok(settings) => settings,
        Err(message) => return Response::malformed(format!("the policy settings are not valid: {message}")),
    };
    let request = &payload.request;
    let Some(object) = request.object.filter(|_| locate::is_judged(&settings, request)) else {
        return Response::accept(None);
    };
    let view = match pruned::parse(object.get(), locate::view_shape(&settings, &request.kind)) {
        Ok(view) => view,
        Err(e) => return Response::malformed(describe_object_error(object, e)),
    };
    let judgement = judge::judge(&settings, request, view);
    let mutated =
        || (!judgement.edits.is_empty()).then(|| splice::apply(object.get(), &judgement.edits, &settings.mount_path));
    Response::judged(&settings, &judgement.subject, &judgement.findings, mutated)
}
