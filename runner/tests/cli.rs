//! End-to-end tests of the `policy-runner` binary against tiny waPC guests
//! written in the WebAssembly text format (wasmtime compiles WAT directly).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-runner");

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("policy-runner-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wat_string(bytes: &str) -> String {
    bytes.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What the guest's `validate` does.
enum Validate<'a> {
    /// Answer with this ValidationResponse JSON text.
    Answer(&'a str),
    /// Grow linear memory by `n` pages, then answer.
    GrowThenAnswer(u32, &'a str),
    /// Execute `unreachable`.
    Trap,
    /// Loop forever.
    Loop,
}

/// A waPC guest: `protocol_version` → "v1"; `validate_settings` accepts only
/// `{}`; `validate` as given; other operations fail with a guest error.
fn wat_policy(validate: Validate) -> String {
    let answered = |grow: u32, answer: &str| {
        format!(
            "(drop (memory.grow (i32.const {grow})))
             (call $respond (i32.const 8192) (i32.const {len}))
             (return (i32.const 1))",
            len = answer.len()
        )
    };
    let (answer, body) = match validate {
        Validate::Answer(a) => (a, answered(0, a)),
        Validate::GrowThenAnswer(n, a) => (a, answered(n, a)),
        Validate::Trap => ("", "unreachable".to_string()),
        Validate::Loop => ("", "(loop $forever (br $forever))".to_string()),
    };
    let invalid = r#"{"valid":false,"message":"only {} is accepted"}"#;
    format!(
        r#"(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $respond (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (memory (export "memory") 4)
  (data (i32.const 512) "unknown operation")
  (data (i32.const 1024) "\"v1\"")
  (data (i32.const 2048) "{{\"valid\":true}}")
  (data (i32.const 3072) "{invalid_data}")
  (data (i32.const 8192) "{answer_data}")
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $request (i32.const 0) (i32.const 65536))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $respond (i32.const 1024) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then
        (if (i32.eq (local.get $msg_len) (i32.const 2))
          (then (call $respond (i32.const 2048) (i32.const 14)) (return (i32.const 1))))
        (call $respond (i32.const 3072) (i32.const {invalid_len}))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 8))
      (then {body}))
    (call $error (i32.const 512) (i32.const 17))
    (i32.const 0)))
"#,
        invalid_data = wat_string(invalid),
        invalid_len = invalid.len(),
        answer_data = wat_string(answer),
    )
}

const REQUEST: &str = r#"{
  "uid": "req-1",
  "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "p", "namespace": "default", "operation": "CREATE",
  "userInfo": {"username": "admin"},
  "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
}"#;

fn run(args: &[&Path]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

fn run_args(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_one_error_line(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected failure: {o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("policy-runner: error: "), "{err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn run_prints_kwctl_shaped_rejection() {
    let dir = Scratch::new("reject");
    let policy = dir.file(
        "p.wat",
        wat_policy(Validate::Answer(
            r#"{"accepted":false,"message":"no secrets\nhere","code":null,"mutated_object":null,"audit_annotations":null,"warnings":["w"]}"#,
        )),
    );
    let req = dir.file("req.json", REQUEST);
    let o = run_args(&["run", "-r", s(&req), s(&policy)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"uid\":\"req-1\",\"allowed\":false,\"status\":{\"message\":\"no secrets\\nhere\"},\"auditAnnotations\":null,\"warnings\":[\"w\"]}\n"
    );
}

#[test]
fn run_accepts_admission_review_in_yaml_and_reports_mutation_patch() {
    let dir = Scratch::new("mutate");
    let policy = dir.file(
        "p.wat",
        wat_policy(Validate::Answer(
            r#"{"accepted":true,"mutated_object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"x":"y"}}}}"#,
        )),
    );
    let review = format!(
        "apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {}\n",
        REQUEST.replace('\n', " ")
    );
    let req = dir.file("review.yaml", review);
    let o = run_args(&["run", "--request-path", s(&req), s(&policy)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["uid"], "req-1");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["patchType"], "JSONPatch");
    assert!(v.get("status").is_none());
    let patch = base64::engine::general_purpose::STANDARD
        .decode(v["patch"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(patch).unwrap(),
        r#"[{"op":"add","path":"/metadata/labels","value":{"x":"y"}}]"#
    );
}

#[test]
fn run_with_invalid_settings_fails_with_kwctl_message() {
    let dir = Scratch::new("settings");
    let policy = dir.file("p.wat", wat_policy(Validate::Answer(r#"{"accepted":true}"#)));
    let req = dir.file("req.json", REQUEST);
    let settings = dir.file("settings.yml", "a: 1\n");
    let o = run_args(&["run", "-r", s(&req), "--settings-path", s(&settings), s(&policy)]);
    assert_eq!(o.status.code(), Some(1));
    assert_one_error_line(&o, "Provided settings are not valid: only {} is accepted");
    assert_eq!(stdout(&o), "");
}

#[test]
fn errors_are_one_line_without_panics() {
    let dir = Scratch::new("errors");
    let req = dir.file("req.json", REQUEST);
    let trap = dir.file("trap.wat", wat_policy(Validate::Trap));
    let empty = dir.file("empty.wasm", "");
    let random = dir.file("random.wasm", [0x13u8, 0x37, 0xff, 0x00, 0x42, 0x99, 0x01]);
    let not_wapc = dir.file(
        "plain.wat",
        "(module (memory (export \"memory\") 1) (func (export \"_start\")))",
    );
    let bad_request = dir.file("bad.yaml", "uid: [unclosed\n");
    let missing = dir.0.join("missing.wasm");

    assert_one_error_line(
        &run(&[Path::new("run"), Path::new("-r"), &req, &trap]),
        "the guest trapped",
    );
    assert_one_error_line(&run(&[Path::new("run"), Path::new("-r"), &req, &empty]), "is empty");
    assert_one_error_line(
        &run(&[Path::new("run"), Path::new("-r"), &req, &random]),
        "not a WebAssembly module",
    );
    assert_one_error_line(
        &run(&[Path::new("run"), Path::new("-r"), &req, &not_wapc]),
        "not a waPC policy",
    );
    assert_one_error_line(
        &run(&[Path::new("run"), Path::new("-r"), &req, &missing]),
        "cannot read policy module",
    );
    assert_one_error_line(
        &run(&[Path::new("run"), Path::new("-r"), &bad_request, &trap]),
        "cannot parse request file",
    );
}

/// A waPC guest whose `wapc_init` never returns.
const LOOPING_INIT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "wapc_init") (loop $forever (br $forever)))
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 0)))
"#;

#[test]
fn a_looping_policy_fails_at_the_deadline_instead_of_hanging() {
    let dir = Scratch::new("deadline");
    let looping = dir.file("loop.wat", wat_policy(Validate::Loop));
    let req = dir.file("req.json", REQUEST);
    let manifests = dir.file("m.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n");

    let started = std::time::Instant::now();
    let o = run_args(&["run", "--timeout-ms", "200", "-r", s(&req), s(&looping)]);
    let elapsed = started.elapsed();
    assert_eq!(o.status.code(), Some(1));
    assert_one_error_line(
        &o,
        "policy loop.wat: evaluation exceeded the 200 ms deadline in `validate`",
    );
    assert!(elapsed >= std::time::Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");

    // check: the object is an error, the run goes on and exits 2
    let o = run_args(&[
        "check",
        "--timeout-ms",
        "100",
        s(&looping),
        s(&manifests),
        s(&manifests),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("): error\n").count(), 2, "{out}");
    assert_eq!(out.matches("exceeded the 100 ms deadline").count(), 2, "{out}");
    assert!(out.contains("exceeded the 100 ms deadline"), "{out}");

    let o = run_args(&["bench", "--timeout-ms", "100", "-n", "1", "-r", s(&req), s(&looping)]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_error_line(&o, "exceeded the 100 ms deadline");

    // the default deadline holds too: 2000 ms
    let o = run_args(&["run", "-r", s(&req), s(&looping)]);
    assert_one_error_line(&o, "exceeded the 2000 ms deadline");

    let init = dir.file("init.wat", LOOPING_INIT);
    let o = run_args(&["run", "--timeout-ms", "100", "-r", s(&req), s(&init)]);
    assert_one_error_line(&o, "its initialisation exceeded the 100 ms deadline");
}

#[test]
fn check_reports_rejections_skips_and_exit_code() {
    let dir = Scratch::new("check");
    let policy = dir.file(
        "p.wat",
        wat_policy(Validate::Answer(
            r#"{"accepted":false,"message":"line one\nline two","code":403}"#,
        )),
    );
    dir.file(
        "policy-metadata.yml",
        "rules:\n- apiGroups: [\"\"]\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n",
    );
    let manifests = dir.file(
        "m.yaml",
        "# Source: chart/templates/x.yaml\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: ns}\n---\n# nothing here\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let o = run_args(&["check", s(&policy), s(&manifests)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("Pod ns/a: rejected (code 403)\n    line one\n    {}:3:1: line two\nConfigMap c: skipped (not covered by the policy's rules)\n\n2 objects: 0 allowed, 0 mutated, 1 rejected, 1 skipped\n", s(&manifests))
    );

    let o = run_args(&["check", "-o", "json", s(&policy), s(&manifests)]);
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["verdict"], "rejected");
    assert_eq!(lines[0]["code"], 403);
    assert_eq!(lines[1]["verdict"], "skipped");
    // the message's lines after the first are findings, at the object when
    // they name no field
    assert_eq!(
        lines[0]["findings"],
        json!([{"rule": null, "level": "reject", "path": null, "message": "line two", "line": 3, "column": 1}])
    );
}

#[test]
fn check_shows_mutations_and_passes() {
    let dir = Scratch::new("check-mutate");
    let policy = dir.file(
        "p.wat",
        wat_policy(Validate::Answer(
            r#"{"accepted":true,"mutated_object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"x":"y"}}}}"#,
        )),
    );
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"x": "y"}}}
    ]});
    let manifests = dir.file("list.json", list.to_string());
    let o = run_args(&["check", s(&policy), s(&manifests)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // two objects of one kind and name: each is shown with its place
    let file = s(&manifests);
    assert_eq!(
        stdout(&o),
        format!("Pod a ({file}, document 1, item 1, line 1): mutated\n    {file}:1:61: add /metadata/labels {{\"x\":\"y\"}}\nPod a ({file}, document 1, item 2, line 1): allowed\n\n2 objects: 1 allowed, 1 mutated, 0 rejected, 0 skipped\n")
    );
}

#[test]
fn check_errors_exit_2() {
    let dir = Scratch::new("check-errors");
    let policy = dir.file("p.wat", wat_policy(Validate::Answer(r#"{"accepted":true}"#)));
    // an unreadable document is reported on stdout with its place, exit 2
    let broken = dir.file("broken.yaml", "a: [\n");
    let o = run_args(&["check", s(&policy), s(&broken)]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.starts_with(&format!("{}, document 1, line ", s(&broken))), "{out}");
    assert!(out.contains(": error\n    invalid YAML: "), "{out}");
    assert!(
        out.ends_with("1 object: 0 allowed, 0 mutated, 0 rejected, 0 skipped, 1 error\n"),
        "{out}"
    );

    let manifests = dir.file("m.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n");
    let o = run_args(&["check", "--settings-json", "{\"x\":1}", s(&policy), s(&manifests)]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_error_line(&o, "Provided settings are not valid");

    let trap = dir.file("trap.wat", wat_policy(Validate::Trap));
    let o = run_args(&["check", s(&trap), s(&manifests)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("Pod a: error"), "{}", stdout(&o));
}

#[test]
fn bench_reports_interleaved_modules_and_memory_growth() {
    let dir = Scratch::new("bench");
    let grows = dir.file(
        "grows.wat",
        wat_policy(Validate::GrowThenAnswer(3, r#"{"accepted":true}"#)),
    );
    let flat = dir.file(
        "flat.wat",
        wat_policy(Validate::Answer(r#"{"accepted":false,"message":"no"}"#)),
    );
    let req = dir.file("req.json", REQUEST);
    let o = run_args(&[
        "bench",
        "-r",
        s(&req),
        "-n",
        "3",
        "--warmup",
        "2",
        "-o",
        "json",
        s(&grows),
        s(&flat),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let page = 65536;
    // 4 initial pages; 1 checked call + 2 warm-up + 3 timed calls grow 3 pages each
    assert_eq!(lines[0]["memory_initial_bytes"], 4 * page);
    assert_eq!(lines[0]["memory_peak_bytes"], (4 + 6 * 3) * page);
    assert_eq!(lines[0]["verdict"], "allowed");
    assert_eq!(lines[0]["p50_ratio"], 1.0);
    assert_eq!(lines[1]["memory_peak_bytes"], 4 * page);
    assert_eq!(lines[1]["verdict"], "rejected");
    assert_eq!(lines[1]["iterations"], 3);
    for key in [
        "size_bytes",
        "size_kb",
        "instantiate_ms",
        "mean_us",
        "p50_us",
        "p90_us",
        "p99_us",
    ] {
        assert!(lines[1][key].is_number(), "{key}: {}", lines[1]);
    }

    let o = run_args(&["bench", "-r", s(&req), "-n", "5", s(&flat), s(&grows)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("p50 ratio"), "{text}");
    assert!(text.contains("flat.wat") && text.contains("grows.wat"), "{text}");
    assert!(text.contains("1.00x"), "{text}");
}
