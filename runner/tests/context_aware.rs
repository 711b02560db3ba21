//! Context-aware host calls end to end: a tiny waPC guest (WebAssembly text)
//! lists the three Vault Secrets Operator kinds in namespace `team-a`, as
//! secret-mounts-policy does with `vaultSync` on, and reports how each call
//! went; the runner answers from session files or manifests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_policy-runner");
const VSO: &str = "secrets.hashicorp.com/v1beta1";
const KINDS: [&str; 3] = ["VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"];

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("policy-runner-ctx-{}-{name}", std::process::id()));
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

/// The SDK 0.17 request for one kind in `team-a`, with the field masks of
/// secret-mounts-policy's vaultSync read.
fn list_payload(kind: &str) -> String {
    format!(
        r#"{{"api_version":"{VSO}","kind":"{kind}","namespace":"team-a","label_selector":null,"field_selector":null,"field_masks":["metadata.name","spec.destination.name","spec.rolloutRestartTargets"]}}"#
    )
}

/// A waPC guest whose `validate` makes the three list calls in order and
/// accepts with a message of one letter per call: `S` when the host
/// answered, `E` when it returned an error.
fn guest() -> String {
    let mut data = String::new();
    let mut calls = String::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let at = 1024 + 512 * i;
        let payload = list_payload(kind);
        data.push_str(&format!(
            "  (data (i32.const {at}) \"{}\")\n",
            payload.replace('"', "\\\"")
        ));
        calls.push_str(&format!(
            "(call $list (i32.const {at}) (i32.const {len}) (i32.const {slot}))\n",
            len = payload.len(),
            slot = 8192 + 28 + i
        ));
    }
    let answer_len = r#"{"accepted":true,"message":"???"}"#.len();
    format!(
        r#"(module
  (import "wapc" "__guest_response" (func $respond (param i32 i32)))
  (import "wapc" "__guest_error" (func $error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "kubewarden")
  (data (i32.const 120) "kubernetes")
  (data (i32.const 140) "list_resources_by_namespace")
  (data (i32.const 512) "unknown operation")
  (data (i32.const 600) "\"v1\"")
  (data (i32.const 700) "{{\"valid\":true}}")
{data}  (data (i32.const 8192) "{{\"accepted\":true,\"message\":\"???\"}}")
  (func $list (param $ptr i32) (param $len i32) (param $slot i32)
    (i32.store8 (local.get $slot)
      (select (i32.const 83) (i32.const 69)
        (call $host_call (i32.const 100) (i32.const 10) (i32.const 120) (i32.const 10)
          (i32.const 140) (i32.const 27) (local.get $ptr) (local.get $len)))))
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $respond (i32.const 600) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $respond (i32.const 700) (i32.const 14)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 8))
      (then
        {calls}
        (call $respond (i32.const 8192) (i32.const {answer_len}))
        (return (i32.const 1))))
    (call $error (i32.const 512) (i32.const 17))
    (i32.const 0)))
"#
    )
}

const METADATA: &str = "rules: []\ncontextAwareResources:\n  - {apiVersion: secrets.hashicorp.com/v1beta1, kind: VaultStaticSecret}\n  - {apiVersion: secrets.hashicorp.com/v1beta1, kind: VaultDynamicSecret}\n  - {apiVersion: secrets.hashicorp.com/v1beta1, kind: VaultPKISecret}\n";

const REQUEST: &str = r#"{
  "uid": "req-1",
  "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
  "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
  "name": "web", "namespace": "team-a", "operation": "CREATE",
  "userInfo": {"username": "admin"},
  "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team-a"}}
}"#;

/// One exchange in the current kwctl's format, as it writes it.
fn exchange(kind: &str, response: &str) -> String {
    format!(
        "- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n    api_version: {VSO}\n    kind: {kind}\n    namespace: team-a\n    label_selector: null\n    field_selector: null\n    disable_cache: false\n    field_masks:\n    - metadata.name\n    - spec.destination.name\n    - spec.rolloutRestartTargets\n  response:\n{response}"
    )
}

fn success(kind: &str) -> String {
    exchange(
        kind,
        &format!("    type: Success\n    payload: '{{\"apiVersion\":\"{VSO}\",\"kind\":\"{kind}List\",\"metadata\":{{}},\"items\":[]}}'\n"),
    )
}

fn failure(kind: &str, message: &str) -> String {
    exchange(kind, &format!("    type: Error\n    message: {message}\n"))
}

/// A policy with its metadata beside it.
fn setup(name: &str) -> (Scratch, PathBuf, PathBuf) {
    let dir = Scratch::new(name);
    let policy = dir.file("policy.wat", guest());
    dir.file("policy-metadata.yml", METADATA);
    let request = dir.file("request.json", REQUEST);
    (dir, policy, request)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn message(o: &Output) -> String {
    let response: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"));
    response["status"]["message"].as_str().unwrap_or_default().to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_session_is_replayed_in_order() {
    let (dir, policy, request) = setup("replay");
    let text = [
        success(KINDS[0]),
        failure(KINDS[1], "the server is gone"),
        success(KINDS[2]),
    ]
    .concat();
    let session = dir.file("session.yml", text);
    let o = run(&[
        "-v",
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(message(&o), "SES");
    assert!(
        err(&o).contains("replayed 3 of 3 recorded host capability exchanges"),
        "{}",
        err(&o)
    );
}

#[test]
fn without_allow_context_aware_every_look_up_is_denied() {
    let (dir, policy, request) = setup("denied");
    let session = dir.file("session.yml", KINDS.map(success).concat());
    let o = run(&[
        "run",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(message(&o), "EEE");
    let e = err(&o);
    assert!(e.contains("without --allow-context-aware the access is denied"), "{e}");
    assert!(e.contains("which it was not granted"), "{e}");
    // denied calls never reach the session: all three are left over
    assert!(e.contains("3 of the 3 recorded exchanges"), "{e}");
}

#[test]
fn without_metadata_nothing_is_granted() {
    let dir = Scratch::new("no-metadata");
    let policy = dir.file("policy.wat", guest());
    let request = dir.file("request.json", REQUEST);
    let session = dir.file("session.yml", KINDS.map(success).concat());
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(message(&o), "EEE");
    assert!(err(&o).contains("has no metadata"), "{}", err(&o));
}

#[test]
fn a_session_out_of_step_is_reported_and_fails_the_run() {
    let (dir, policy, request) = setup("out-of-step");
    // the second and third exchanges are swapped
    let session = dir.file(
        "session.yml",
        [success(KINDS[0]), success(KINDS[2]), success(KINDS[1])].concat(),
    );
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    // the policy still answered, and got an error for each bad call
    assert_eq!(message(&o), "SEE");
    let e = err(&o);
    assert!(e.contains("host call 2 does not match exchange 2: Replay error: unexpected request. Was expecting KubernetesListResourceNamespace { api_version: \"secrets.hashicorp.com/v1beta1\", kind: \"VaultPKISecret\""), "{e}");
    assert!(
        e.contains("is out of step with the policy's host calls (2 of them had no matching exchange"),
        "{e}"
    );
}

#[test]
fn a_call_after_the_last_exchange_fails_the_run() {
    let (dir, policy, request) = setup("exhausted");
    let session = dir.file("session.yml", success(KINDS[0]));
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert_eq!(message(&o), "SEE");
    assert!(
        err(&o).contains("host call 2 has no recorded exchange (1 recorded; the list of recorded responses is empty or has been exhausted)"),
        "{}",
        err(&o)
    );
    // an empty session: kwctl writes `[]`
    let empty = dir.file("empty.yml", "[]\n");
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&empty),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(message(&o), "EEE");
}

#[test]
fn an_unreadable_session_is_an_error_before_evaluation() {
    let (dir, policy, request) = setup("bad-session");
    let session = dir.file(
        "session.yml",
        "- request: not tagged\n  response: {type: Success, payload: x}\n",
    );
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&session),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = err(&o);
    assert!(
        e.starts_with("policy-runner: error: cannot read host capabilities session"),
        "{e}"
    );
    assert!(e.contains("exchange 1"), "{e}");
}

const CLUSTER: &str = "apiVersion: secrets.hashicorp.com/v1beta1\nkind: VaultStaticSecret\nmetadata:\n  name: db\n  namespace: team-a\nspec:\n  destination: {name: db-creds, create: true}\n---\napiVersion: secrets.hashicorp.com/v1beta1\nkind: VaultPKISecret\nmetadata: {name: tls}\nspec:\n  destination: {name: tls-cert}\n";

#[test]
fn cluster_state_answers_and_can_be_recorded_for_kwctl() {
    let (dir, policy, request) = setup("record");
    let cluster = dir.file("cluster.yaml", CLUSTER);
    let recorded = dir.0.join("recorded.yml");
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--cluster-state",
        s(&cluster),
        "--namespace",
        "team-a",
        "--record-host-capabilities-interactions",
        s(&recorded),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(message(&o), "SSS");
    let text = std::fs::read_to_string(&recorded).unwrap();
    assert!(
        text.starts_with("- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n"),
        "{text}"
    );
    assert!(
        text.contains("    disable_cache: false\n    field_masks:\n    - metadata.name\n    - spec.destination.name\n    - spec.rolloutRestartTargets\n"),
        "{text}"
    );
    // the tls object has no namespace of its own: --namespace gave it team-a
    assert!(text.contains("\"name\":\"tls\",\"namespace\":\"team-a\""), "{text}");
    // the recorded answers are pruned to the masks
    assert!(text.contains(r#""spec":{"destination":{"name":"db-creds"}}"#), "{text}");
    assert!(!text.contains("create"), "{text}");
    // and the recorded session replays
    let o = run(&[
        "run",
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        s(&recorded),
        "-r",
        s(&request),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(message(&o), "SSS");
    assert!(err(&o).is_empty(), "{}", err(&o));
}

#[test]
fn check_answers_from_the_manifests_and_the_cluster_state() {
    let (dir, policy, _) = setup("check");
    let chart = dir.file(
        "chart.yaml",
        "apiVersion: secrets.hashicorp.com/v1beta1\nkind: VaultStaticSecret\nmetadata: {name: db, namespace: team-a}\nspec:\n  destination: {name: db-creds}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-a}\nspec: {}\n",
    );
    let o = run(&["check", "-o", "json", s(&policy), s(&chart)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // `rules: []` covers nothing: both are skipped; with no metadata rules the
    // guest sees every object (below)
    assert_eq!(lines[0]["verdict"], "skipped");
    std::fs::write(
        dir.0.join("policy-metadata.yml"),
        METADATA.replace(
            "rules: []",
            "rules: [{apiGroups: [apps], apiVersions: [v1], resources: [deployments], operations: [CREATE]}]",
        ),
    )
    .unwrap();
    let cluster = dir.file("cluster.yaml", CLUSTER);
    let o = run(&[
        "check",
        "-o",
        "json",
        "--cluster-state",
        s(&cluster),
        s(&policy),
        s(&chart),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "VaultStaticSecret");
    assert_eq!(lines[0]["verdict"], "skipped");
    assert_eq!(lines[1]["kind"], "Deployment");
    assert_eq!(lines[1]["message"], "SSS");
    // an unreadable cluster state stops check before any evaluation
    let bad = dir.file("bad.yaml", "kind: [\n");
    let o = run(&["check", "--cluster-state", s(&bad), s(&policy), s(&chart)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("cannot read cluster state:"), "{}", err(&o));
    assert!(err(&o).contains("bad.yaml, document 1, line 1"), "{}", err(&o));
}

#[test]
fn bench_counts_the_host_calls_of_each_module() {
    let (dir, policy, request) = setup("bench");
    let cluster = dir.file("cluster.yaml", CLUSTER);
    let o = run(&[
        "bench",
        "-r",
        s(&request),
        "-n",
        "3",
        "--warmup",
        "1",
        "-o",
        "json",
        "--cluster-state",
        s(&cluster),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["host_calls"], 3);
    assert_eq!(line["verdict"], "allowed");
    let o = run(&[
        "bench",
        "--fresh-instance",
        "-r",
        s(&request),
        "-n",
        "3",
        "--warmup",
        "1",
        "-o",
        "json",
        "--cluster-state",
        s(&cluster),
        s(&policy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["host_calls"], 3);
}
