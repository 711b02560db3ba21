//! secret-mounts-policy: a Kubewarden policy that lets Secrets reach containers only
//! as files, through a read-only projected volume at one path, and adds the mounts
//! a workload's declared `secretMounts` call for.
//!
//! This file only wires the waPC functions; the logic lives in pure modules beside
//! it and is tested natively.

pub mod envelope;
pub mod evaluate;
pub mod mutate;
pub mod podspec;
pub mod pruned;
pub mod settings;
pub mod splice;
pub mod validate;
pub mod violation;

use kubewarden_policy_sdk::wapc_guest as guest;

#[no_mangle]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", kubewarden_policy_sdk::protocol_version_guest);
}

fn validate(payload: &[u8]) -> guest::CallResult {
    Ok(evaluate::validate_json(payload)?)
}

fn validate_settings(payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&evaluate::validate_settings(payload))?)
}
