//! The mutation over generated pod specs and settings: containers and
//! initContainers named from a small set, env (secretKeyRef, configMapKeyRef,
//! value), envFrom, volumeMounts at a few paths (incl. /etc/secrets) with
//! readOnly/subPath variations, volumes (secret, projected with
//! secret/configMap/serviceAccountToken sources and items, emptyDir,
//! configMap), and settings with secretMounts (items, containers, selectors).
//! Mostly a Deployment CREATE with `mutate: true` (some Pods, CronJobs and
//! `mutate: false` too). Properties: see `fuzz_support::check_mutation`, which
//! compares the policy's `validate` with the reference evaluator of the native
//! tests; plus a well-formed response.
#![no_main]

use arbitrary::Unstructured;
use fuzz_support::*;
use libfuzzer_sys::fuzz_target;
use secret_mounts_policy::evaluate;
use secret_mounts_policy::settings::Settings;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let u = &mut Unstructured::new(data);
    let (group, kind, pointer) = KINDS[u.choose_index(KINDS.len()).unwrap_or(0)];
    let spec = pod_spec(u);
    let labels = labels(u);
    let mutate = !one_in(u, 8);
    let settings_json = settings_json(u, mutate);
    // The generator makes valid settings; the reference is given them as the
    // host sends them, as JSON.
    if let Err(e) = Settings::from_json(settings_json.to_string().as_bytes()) {
        panic!("the generator makes valid settings: {e}\n{settings_json}");
    }
    // As a host holds it: parsed from JSON text (serde_json rounds some floats).
    let object: Value = serde_json::from_str(&wrap(kind, spec, labels).to_string()).expect("JSON");

    check_mutation(&settings_json, group, kind, pointer, &object);
    let response = evaluate::validate(
        &payload(&settings_json, request_json(group, "v1", kind, "CREATE", object)),
        &evaluate::NoCluster,
    );
    check_validation_response(&response);
});
