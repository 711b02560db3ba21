//! The floor policy: the honest baseline of `make bench`.
//!
//! It does what every policy built on the Kubewarden SDK must do and nothing
//! else: parse the whole `ValidationRequest` with the SDK's generic parser (the
//! object as a `serde_json::Value`) into empty settings, then accept. The cost of
//! secret-mounts-policy is reported relative to this module, so the ratio is what
//! the policy's own logic costs on top of the SDK. Keep it that way: do not add
//! work here, and do not remove the parse.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use serde::Deserialize;

/// No settings at all; whatever the caller sends is ignored (no `deny_unknown_fields`).
#[derive(Deserialize, Default, Debug)]
pub struct Settings {}

#[no_mangle]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", kubewarden_policy_sdk::protocol_version_guest);
}

fn validate(payload: &[u8]) -> guest::CallResult {
    match ValidationRequest::<Settings>::new(payload) {
        Ok(request) => {
            // Keep the parsed request observable so the parse cannot be optimised away.
            std::hint::black_box(&request);
            kubewarden_policy_sdk::accept_request()
        }
        Err(e) => {
            kubewarden_policy_sdk::reject_request(Some(format!("cannot parse the request: {e}")), Some(400), None, None)
        }
    }
}

fn validate_settings(_payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
