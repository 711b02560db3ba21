//! "Never trap": every input kept under `test_data/fuzz-regressions/` — crashes
//! found by `scripts/fuzz.sh` and hand-made nasty inputs — is answered cleanly.
//!
//! - `settings-*` files are raw settings: `validate_settings` must answer (valid
//!   or not, with a message), and when they are valid JSON they are also sent,
//!   inside `validate` payloads, with objects of every kind they configure, so
//!   JSONPath expressions are evaluated and not only parsed.
//! - `mutation-*` files are JSON `validate` payloads sent the way a host sends
//!   them (parsed, then serialised again); when the policy mutates, the mutated
//!   object must only add to the host's object (every value kept bit for bit,
//!   bar a secret mount's `readOnly` turned `true`) and evaluating it again must
//!   mutate nothing.
//! - every other file is a raw `validate` payload (the bytes the waPC host hands
//!   to the module).
//!
//! A clean answer serialises, has `accepted`, and a rejection says why. In the
//! wasm module (`panic = "abort"`) a panic is a trap; here each file runs under
//! `catch_unwind`, so one failing file does not hide the others.
//!
//! Inputs a real host can never deliver (bytes that are not JSON, lone
//! surrogates, duplicate keys in the envelope, nesting past serde_json's limit:
//! kwctl and policy-server parse and re-serialise the request first) are tested
//! here, at the guest level, rather than in e2e-tests/hostile.bats.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use secret_mounts_policy::evaluate;
use serde_json::{json, Value};

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data/fuzz-regressions")
}

/// Every fixture, sorted by name.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(regressions_dir())
        .expect("test_data/fuzz-regressions exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Asserts that a `validate` answer is clean, judged on the raw bytes the host
/// reads (strictly, see `evaluate::read_response`); returns it as JSON.
fn clean_validation(payload: &[u8]) -> Value {
    let bytes = evaluate::validate(payload, &evaluate::NoCluster);
    let response = evaluate::read_response(&bytes).unwrap_or_else(|e| {
        panic!(
            "the host cannot read the answer: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_ne!(
        response.code,
        Some(500),
        "the module reported a defect: {:?}",
        response.message
    );
    let v = serde_json::to_value(&response).expect("the response serialises");
    if !response.accepted {
        let message = response.message.as_deref().unwrap_or("");
        assert!(!message.trim().is_empty(), "a rejection says why: {v}");
        assert!(
            response.mutated_object.is_none(),
            "a rejection carries no mutated object: {v}"
        );
    }
    v
}

/// Asserts that a `validate_settings` answer is clean; returns whether valid.
fn clean_settings(settings: &[u8]) -> bool {
    let response = evaluate::validate_settings(settings);
    let v = serde_json::to_value(&response).expect("the settings response serialises");
    let valid = v["valid"].as_bool().expect("`valid` is a boolean");
    if !valid {
        let message = v["message"].as_str().unwrap_or("");
        assert!(!message.trim().is_empty(), "invalid settings say why: {v}");
    }
    valid
}

/// Objects for a configured kind: pod specs where paths usually point, lists
/// where slices and filters apply, and scalars where they should not.
fn objects_for_configured_kinds() -> Vec<Value> {
    let spec = json!({"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]});
    vec![
        json!({"metadata": {"name": "t"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": spec}}}),
        json!({"metadata": {"name": "t"}, "spec": [{"containers": []}, {"template": {"spec": spec}}, 5, null]}),
        json!({"metadata": {"name": "t"}, "spec": {"workloads": [{"template": {"spec": spec}}, {"x": 1}], "x": 1.5}}),
        json!({"spec": "x"}),
        json!({}),
    ]
}

/// Runs one settings fixture: `validate_settings`, then `validate` with objects
/// of every kind it configures (when it is JSON at all).
fn run_settings_fixture(bytes: &[u8]) {
    clean_settings(bytes);
    let mut kinds = vec![("apps".to_string(), "v1".to_string(), "Deployment".to_string())];
    if let Ok(Value::Object(settings)) = serde_json::from_slice::<Value>(bytes) {
        if let Some(Value::Object(paths)) = settings.get("podSpecPaths") {
            for key in paths.keys() {
                let parts: Vec<&str> = key.split('/').collect();
                let gvk = match parts.as_slice() {
                    [v, k] => (String::new(), v.to_string(), k.to_string()),
                    [g, v, k] => (g.to_string(), v.to_string(), k.to_string()),
                    _ => continue,
                };
                kinds.push(gvk);
            }
        }
    }
    for (group, version, kind) in kinds {
        for object in objects_for_configured_kinds() {
            let request = json!({
                "uid": "regression", "operation": "CREATE", "namespace": "ns",
                "kind": {"group": group, "version": version, "kind": kind},
                "object": object,
            });
            // The settings go in as they are, raw: the payload may well not be JSON.
            let mut payload = b"{\"settings\": ".to_vec();
            payload.extend_from_slice(if bytes.trim_ascii().is_empty() { b"null" } else { bytes });
            payload.extend_from_slice(b", \"request\": ");
            payload.extend_from_slice(request.to_string().as_bytes());
            payload.push(b'}');
            clean_validation(&payload);
        }
    }
}

/// Checks that `mutated` only adds to `original`: every key and list element
/// of the original is still there and equal, except a volumeMount at
/// `mount_path` whose `readOnly` became `true`; a `null` may become a value
/// (Kubernetes reads `null` as absent).
fn additions_only(original: &Value, mutated: &Value, mount_path: &str, at: &str) -> Result<(), String> {
    match (original, mutated) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, before) in a {
                let here = format!("{at}/{key}");
                let after = b.get(key).ok_or_else(|| format!("{here} was removed"))?;
                let read_only_made_true = key == "readOnly"
                    && at.rsplit('/').nth(1) == Some("volumeMounts")
                    && a.get("mountPath").and_then(Value::as_str) == Some(mount_path)
                    && after == &Value::Bool(true);
                if !read_only_made_true {
                    additions_only(before, after, mount_path, &here)?;
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if b.len() >= a.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| additions_only(x, y, mount_path, &format!("{at}/{i}"))),
        (Value::Null, _) => Ok(()),
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{at} changed from {a} to {b}")),
    }
}

/// Runs one mutation fixture the way a host does: the payload is parsed, then
/// serialised for the module; the answer is compared with the host's values.
fn run_mutation_fixture(bytes: &[u8]) {
    let payload: Value = serde_json::from_slice(bytes).expect("a mutation fixture is a JSON payload");
    let v = clean_validation(&serde_json::to_vec(&payload).unwrap());
    let Some(mutated) = v.get("mutated_object").filter(|m| !m.is_null()) else {
        return;
    };
    let mount_path = payload["settings"]["mountPath"].as_str().unwrap_or("/etc/secrets");
    if let Err(e) = additions_only(&payload["request"]["object"], mutated, mount_path, "") {
        panic!("the mutation is not append-only: {e}");
    }
    let mut again = payload.clone();
    again["request"]["object"] = mutated.clone();
    let second = clean_validation(&serde_json::to_vec(&again).unwrap());
    assert!(
        second["mutated_object"].is_null(),
        "the mutation is not idempotent: evaluating the mutated object mutates it again"
    );
}

thread_local! {
    /// Set while this thread replays the corpus and catches its panics.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn every_regression_input_is_answered_cleanly() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10, "the regression corpus is seeded");
    // libtest's panic hook would print every caught panic; keep the report
    // short. Only this thread's panics are silenced: the other tests of the
    // binary run beside it and keep their panic messages.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            hook(info)
        }
    }));
    QUIET.with(|quiet| quiet.set(true));
    let mut failures = Vec::new();
    for (name, bytes) in &fixtures {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if name.starts_with("settings-") {
                run_settings_fixture(bytes);
            } else if name.starts_with("mutation-") {
                run_mutation_fixture(bytes);
            } else {
                clean_validation(bytes);
            }
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            failures.push(format!("{name}: panicked: {message}"));
        }
    }
    QUIET.with(|quiet| quiet.set(false));
    assert!(
        failures.is_empty(),
        "{} of {} regression inputs are not answered cleanly:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Inputs only a misbehaving host could deliver, with the answer they get.
// ---------------------------------------------------------------------------

fn rejection(payload: &[u8]) -> String {
    let v = clean_validation(payload);
    assert_eq!(v["accepted"], json!(false), "rejected: {v}");
    assert_eq!(v["code"], json!(400), "a malformed request is a 400: {v}");
    assert_eq!(v["audit_annotations"]["violations"], json!("malformed-object"), "{v}");
    v["message"].as_str().unwrap().to_string()
}

fn deployment_payload(object: &str) -> Vec<u8> {
    format!(
        r#"{{"settings": {{}}, "request": {{"uid": "1", "kind": {{"group": "apps", "version": "v1", "kind": "Deployment"}}, "operation": "CREATE", "object": {object}}}}}"#
    )
    .into_bytes()
}

#[test]
fn bytes_that_are_not_json_are_a_parse_rejection() {
    for payload in [
        &b""[..],
        b"\xff\xfe\x00garbage",
        b"{\"request\": ",
        b"null",
        b"5",
        b"[]",
    ] {
        let message = rejection(payload);
        assert!(
            message.starts_with("the admission request could not be parsed"),
            "{payload:?}: {message}"
        );
    }
}

#[test]
fn deep_nesting_past_the_parser_limit_is_a_clean_rejection() {
    for depth in [200, 1_000, 100_000] {
        let object = format!(
            r#"{{"metadata": {{"annotations": {{"x": {}1{}}}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let message = rejection(&deployment_payload(&object));
        assert!(message.contains("recursion limit exceeded"), "{depth}: {message}");
    }
    // Just under the limit is judged normally.
    let object = format!(
        r#"{{"metadata": {{"annotations": {{"x": {}1{}}}}}, "spec": {{"template": {{"spec": {{"containers": []}}}}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let v = clean_validation(&deployment_payload(&object));
    assert_eq!(v["accepted"], json!(true), "{v}");
}

#[test]
fn invalid_utf16_and_utf8_in_strings_are_a_parse_rejection() {
    let message = rejection(&deployment_payload(
        r#"{"spec": {"template": {"spec": {"containers": [{"name": "\ud800"}]}}}}"#,
    ));
    // serde_json: "unexpected end of hex escape" (a lone leading surrogate must be
    // followed by a trailing one) — a clean 400 saying where in the object.
    assert!(
        message.starts_with("the admission request could not be parsed at request.object: ")
            && message.contains("hex escape at line 1 column "),
        "{message}"
    );
    let message = rejection(&deployment_payload(r#"{"metadata": {"name": "\udc00x"}}"#));
    assert!(
        message.contains("at request.object: ") && message.contains(" at line 1 column "),
        "{message}"
    );
    let message = rejection(&deployment_payload(r#"{"metadata": {"name": "\ud800\u0041"}}"#));
    assert!(
        message.contains("at request.object: ") && message.contains(" at line 1 column "),
        "{message}"
    );
    // Raw bytes that are not UTF-8 inside a string.
    let mut raw = deployment_payload(r#"{"metadata": {"name": "XX"}}"#);
    let at = raw.windows(2).position(|w| w == b"XX").unwrap();
    raw[at] = 0xc3;
    raw[at + 1] = 0x28;
    let message = rejection(&raw);
    assert!(message.contains("invalid unicode code point"), "{message}");
}

#[test]
fn duplicate_keys_in_the_envelope_are_rejected_and_in_the_object_the_last_wins() {
    let request = r#"{"uid": "1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "operation": "CREATE", "object": {}}"#;
    let message = rejection(format!(r#"{{"request": {request}, "request": {request}}}"#).as_bytes());
    assert!(message.contains("duplicate field `request`"), "{message}");
    // Inside the object (a JSON map) the last key wins, as in the API server's own decoder.
    let v = clean_validation(&deployment_payload(
        r#"{"spec": {"template": {"spec": {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}], "containers": []}}}}"#,
    ));
    assert_eq!(v["accepted"], json!(true), "{v}");
    let v = clean_validation(&deployment_payload(
        r#"{"spec": {"template": {"spec": {"containers": [], "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}}}}"#,
    ));
    assert_eq!(v["accepted"], json!(false), "{v}");
}

#[test]
fn numbers_out_of_range_are_a_parse_rejection() {
    let message = rejection(&deployment_payload(r#"{"spec": {"replicas": 1e400}}"#));
    assert!(message.contains("number out of range"), "{message}");
}

#[test]
fn wrong_types_in_the_envelope_are_a_parse_rejection_saying_what_was_expected_where() {
    let message = rejection(br#"{"request": {"kind": 5, "operation": "CREATE"}}"#);
    assert!(
        message.contains("invalid type: integer `5`, expected struct GroupVersionKind at line 1 column 22"),
        "{message}"
    );
    let message = rejection(br#"{"request": {"kind": {"kind": "Pod"}, "operation": 1}}"#);
    assert!(
        message.contains("invalid type: integer `1`, expected a string at line 1 column 52"),
        "{message}"
    );
}
