//! The mutation floor policy: the honest baseline of `make bench` for the
//! fixtures the policy mutates.
//!
//! It does what any SDK-based policy that mutates must do, with no judgement
//! at all: parse the whole `ValidationRequest` with the SDK's generic parser
//! (the object as a `serde_json::Value`, the settings' `secretMounts`), add
//! one projected volume (`volumeName`) with a source per entry's Secret (and
//! its items) and one read-only mount of it at `mountPath` to every container,
//! naively on the `Value` (no check of what is already there), and return the
//! object with the SDK's `mutate_request`. On
//! `benches/fixtures/typical-mutate.json` with `benches/settings.json` these
//! are the volume and mounts secret-mounts-policy adds, so the ratio of the
//! policy to this module is what its judging costs on top of parsing,
//! editing and writing the object. Keep it that way: do not add checks here.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use serde::Deserialize;
use serde_json::{json, Value};

/// The part of secret-mounts-policy's settings the edits need, with its
/// defaults.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    volume_name: String,
    mount_path: String,
    secret_mounts: Vec<SecretMount>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            volume_name: "secret-mounts".to_string(),
            mount_path: "/etc/secrets".to_string(),
            secret_mounts: Vec::new(),
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct SecretMount {
    secret_name: String,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

#[no_mangle]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", kubewarden_policy_sdk::protocol_version_guest);
}

fn validate(payload: &[u8]) -> guest::CallResult {
    let request = match ValidationRequest::<Settings>::new(payload) {
        Ok(request) => request,
        Err(e) => {
            return kubewarden_policy_sdk::reject_request(
                Some(format!("cannot parse the request: {e}")),
                Some(400),
                None,
                None,
            )
        }
    };
    let mut object = request.request.object;
    add_mounts(&mut object, &request.settings);
    kubewarden_policy_sdk::mutate_request(object)
}

/// The pod spec of a workload (`spec.template.spec`) or of a Pod (`spec`).
fn pod_spec(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let spec = object.get_mut("spec")?;
    if spec.pointer("/template/spec").is_some() {
        spec.pointer_mut("/template/spec")?.as_object_mut()
    } else {
        spec.as_object_mut()
    }
}

fn push(map: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    if let Some(list) = map.entry(key).or_insert_with(|| json!([])).as_array_mut() {
        list.push(value);
    }
}

fn add_mounts(object: &mut Value, settings: &Settings) {
    let Some(spec) = pod_spec(object) else {
        return;
    };
    let sources: Vec<Value> = settings
        .secret_mounts
        .iter()
        .map(|m| {
            let mut secret = json!({"name": m.secret_name});
            if let Some(items) = &m.items {
                secret["items"] = Value::Array(items.clone());
            }
            json!({"secret": secret})
        })
        .collect();
    push(
        spec,
        "volumes",
        json!({"name": settings.volume_name, "projected": {"sources": sources}}),
    );
    let mount = json!({"name": settings.volume_name, "mountPath": settings.mount_path, "readOnly": true});
    for list in ["initContainers", "containers"] {
        let containers = spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten();
        for container in containers.filter_map(Value::as_object_mut) {
            push(container, "volumeMounts", mount.clone());
        }
    }
}

fn validate_settings(_payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
