//! The policy's integration tests, one test binary: each file of tests/ is a
//! module of it, so the shared helpers (tests/common, tests/reference) are
//! compiled and the binary linked once rather than once per file. Run one
//! file's tests with its module name as the filter:
//! `cargo test --test policy audit::`.

// The deny list of Cargo.toml is for the module's code; tests may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod audit;
mod common;
mod custom_kinds;
mod docs;
mod fixtures;
mod fuzz_regressions;
mod mutation;
mod packaging;
mod properties;
mod readme;
mod rules;
mod safe_rollout;
mod vault_sync;

/// With `autotests = false` cargo builds no file of tests/ on its own: a file
/// left out of the list above would never run.
#[test]
fn every_test_file_is_a_module() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let declared = std::fs::read_to_string(root.join("policy.rs")).unwrap_or_default();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let module = match name.strip_suffix(".rs") {
            Some(module) if module != "policy" => module.to_owned(),
            _ if entry.path().join("mod.rs").is_file() && name != "reference" => name,
            _ => continue,
        };
        if !declared.lines().any(|line| line == format!("mod {module};")) {
            missing.push(module);
        }
    }
    assert!(
        missing.is_empty(),
        "tests/policy.rs does not declare `mod {};`: add it",
        missing.join(";`, `mod ")
    );
}
