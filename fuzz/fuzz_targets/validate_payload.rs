//! The whole `validate` entry point from raw bytes, as the waPC host calls it:
//! whatever the bytes, the policy answers (never panics, which in the wasm
//! module would be a trap), and its answer serialises to a well-formed
//! ValidationResponse (a rejection always says why).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secret_mounts_policy::evaluate;

fuzz_target!(|data: &[u8]| {
    fuzz_support::check_validation_response(&evaluate::validate(data, &evaluate::NoCluster));
});
