//! secret-mounts-policy: a Kubewarden policy that lets Secrets reach containers only
//! as files, through a read-only projected volume at one path, and adds the mounts
//! a workload's declared `secretMounts` call for.
//!
//! This file only wires the waPC functions. The path of a `validate` call, one
//! module per step: [`request`] (parse) → [`pruned`] (the object's view) →
//! [`locate`] (its pod specs) → [`judge`] ([`rules`] and [`plan`]) → [`splice`]
//! (apply) → [`response`] (respond), driven by [`evaluate`]; on UPDATE,
//! [`update`] compares with the old object; [`vault_sync`]
//! reads the namespace's VSO resources through the host when `vaultSync` is on.

// Unit tests may unwrap and index: a failing test is meant to panic.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod evaluate;
pub mod json;
pub mod jsonpath;
pub mod judge;
pub mod kinds;
pub mod locate;
pub mod plan;
pub mod pruned;
pub mod request;
pub mod response;
pub mod rules;
pub mod settings;
pub mod splice;
pub mod update;
pub mod vault_sync;
pub mod violation;

use kubewarden_policy_sdk::wapc_guest as guest;

// The rule catalogue as a custom section of the module (build.rs).
#[cfg(target_arch = "wasm32")]
include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

#[no_mangle]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", kubewarden_policy_sdk::protocol_version_guest);
}

fn validate(payload: &[u8]) -> guest::CallResult {
    Ok(evaluate::validate(payload, &WapcHost))
}

/// The waPC host's `kubernetes` capability, which `vaultSync` reads through.
struct WapcHost;

impl vault_sync::Cluster for WapcHost {
    #[cfg(target_arch = "wasm32")]
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        guest::host_call("kubewarden", "kubernetes", "list_resources_by_namespace", request).map_err(|e| {
            // waPC's error says "Host error: <what the host said>"; keep what the host said.
            let e = e.to_string();
            e.strip_prefix("Host error: ").map(str::to_string).unwrap_or(e)
        })
    }

    /// Natively there is no waPC host to call.
    #[cfg(not(target_arch = "wasm32"))]
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        vault_sync::NoCluster.list_resources_by_namespace(request)
    }
}

fn validate_settings(payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&evaluate::validate_settings(payload))?)
}
