//! The settings: `Settings::from_json` / `validate_settings` from raw bytes, then
//! the same bytes read as a recipe for structured settings whose `podSpecPaths`
//! hold generated JSONPath expressions (jsonpath_lib's parser and evaluator are
//! the likeliest panic source). Valid settings are then used for real: objects
//! of the configured kinds are evaluated (and mutated) through those paths.
#![no_main]

use arbitrary::Unstructured;
use fuzz_support::*;
use libfuzzer_sys::fuzz_target;
use secret_mounts_policy::evaluate;
use secret_mounts_policy::settings::Settings;
use serde_json::{json, Map, Value};

const KIND_KEYS: &[&str] = &[
    "example.com/v1/Thing",
    "example.com/v1/Thing",
    "v1/Thing",
    "apps/v1/Deployment",
    "v1/Pod",
    "argoproj.io/v1alpha1/Rollout",
    "Thing",
];

const SETTING_KEYS: &[&str] = &[
    "mountPath",
    "exemptContainers",
    "action",
    "secretMounts",
    "volumeName",
    "mutate",
    "podSpecPaths",
    "mountpath",
];

fuzz_target!(|data: &[u8]| {
    raw(data);
    structured(&mut Unstructured::new(data));
});

/// The bytes as they come: valid or not, a clean answer.
fn raw(data: &[u8]) {
    let parsed = Settings::from_json(data);
    let response = evaluate::validate_settings(data);
    check_settings_response(&response);
    assert_eq!(parsed.is_ok(), response.valid, "from_json and validate_settings agree");
    if let Ok(settings) = parsed {
        // What the policy accepted, serialised, is accepted again as the same settings.
        let again = Settings::from_json(&serde_json::to_vec(&settings).expect("settings serialise"))
            .expect("valid settings stay valid once serialised");
        assert_eq!(again, settings);
    }
}

fn split_kind(key: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [version, kind] => ("", version, kind),
        [group, version, kind] => (group, version, kind),
        _ => ("", "", key),
    }
}

/// An object with pod specs where configured paths are likely to look.
fn object(u: &mut Unstructured) -> Value {
    match u.int_in_range(0..=3).unwrap_or(0) {
        0 => arbitrary_json(u, 5),
        1 => {
            let workloads: Vec<Value> = (0..count(u, 3))
                .map(|_| json!({"template": {"metadata": {"labels": labels(u)}, "spec": pod_spec(u)}}))
                .collect();
            json!({"metadata": {"name": "t"}, "spec": {"workloads": workloads}})
        }
        _ => {
            let mut o = wrap("Thing", pod_spec(u), labels(u));
            if flip(u) {
                o["spec"]["a/b"] = json!({"spec": pod_spec(u)});
            }
            o
        }
    }
}

fn structured(u: &mut Unstructured) {
    let mut paths = Map::new();
    for _ in 0..count(u, 2) {
        let exprs: Vec<String> = (0..count(u, 3)).map(|_| json_path(u)).collect();
        paths.insert(pick(u, KIND_KEYS).to_string(), json!(exprs));
    }
    let mutate = !one_in(u, 4);
    let mut s = settings_json(u, mutate);
    s["podSpecPaths"] = Value::Object(paths);
    if one_in(u, 6) {
        // One setting of the wrong shape, or an unknown one.
        s[pick(u, SETTING_KEYS)] = arbitrary_json(u, 2);
    }
    let bytes = serde_json::to_vec(&s).expect("settings serialise");
    let response = evaluate::validate_settings(&bytes);
    check_settings_response(&response);
    let Ok(settings) = Settings::from_json(&bytes) else {
        return;
    };
    for key in settings.pod_spec_paths.keys() {
        let (group, version, kind) = split_kind(key);
        let object = object(u);
        let (evaluation, _) =
            reference::check_against_product(&s, &request(group, version, kind, "CREATE", object.clone()));
        if let Some(mutated) = &evaluation.mutated {
            if let Err(e) = additions_only(&object, mutated, &settings.mount_path) {
                panic!("the mutation is not append-only: {e}\nsettings: {s}\noriginal: {object}\nmutated:  {mutated}");
            }
            let (again, _) =
                reference::check_against_product(&s, &request(group, version, kind, "CREATE", mutated.clone()));
            assert!(
                again.mutated.is_none(),
                "the mutation is not idempotent\nsettings: {s}\noriginal: {object}\nmutated:  {mutated}"
            );
        }
        let payload = payload(&s, request_json(group, version, kind, "CREATE", object));
        let response = evaluate::validate(&payload, &evaluate::NoCluster);
        check_validation_response(&response);
    }
}
