//! The audit: Kubewarden's audit scanner sends every stored object to the
//! policy as a request of its own shape (test_data/audit/scanner-*.json, as
//! adm-controller's `internal/audit-scanner/scanner/admission_request.go`
//! builds it and policy-server hands it on), and the PolicyReport says `pass`
//! for any answer that accepts. Such a request is judged as if `mutate` were
//! false, so a declared mount the object lacks is `declared-mount-missing`;
//! every request the API server can send, and one written by hand for
//! `kwctl run`, keeps the answer it had. Only the public entry points are
//! used: payload bytes in, response bytes out.
// Tests may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use secret_mounts_policy::evaluate::{validate, validate_typed};
use secret_mounts_policy::vault_sync::{Cluster, NoCluster};
use serde_json::{json, Value};

const SCANNER: &str = "scanner-deployment-missing-mount.json";
/// Every request the API server can send for the same Deployment, and one
/// written by hand for `kwctl run`.
const NOT_AUDIT: [&str; 4] = [
    "apiserver-create.json",
    "apiserver-validating-create.json",
    "apiserver-update.json",
    "kwctl-hand-written.json",
];

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/audit").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mutating() -> Value {
    fixture("settings.json")
}

fn with(settings: &Value, extra: Value) -> Value {
    let mut settings = settings.clone();
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    settings
}

/// The policy's answer, as the host reads it (JSON).
fn answer_in(request: &Value, settings: &Value, cluster: &dyn Cluster) -> Value {
    let payload = json!({"request": request, "settings": settings}).to_string();
    serde_json::from_slice(&validate(payload.as_bytes(), cluster)).unwrap()
}

fn answer(request: &Value, settings: &Value) -> Value {
    answer_in(request, settings, &NoCluster)
}

fn violations(answer: &Value) -> &str {
    answer["audit_annotations"]["violations"].as_str().unwrap_or("")
}

fn mutated(answer: &Value) -> Option<Value> {
    answer.get("mutated_object").cloned()
}

/// The projected volume the policy adds for settings.json.
fn added_volume(object: &Value) -> Value {
    object["spec"]["template"]["spec"]["volumes"][0].clone()
}

#[test]
fn the_scanner_request_reports_the_missing_mount_and_mutates_nothing() {
    let a = answer(&fixture(SCANNER), &mutating());
    assert_eq!(a["accepted"], false, "{a}");
    let message = a["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"Deployment "team-a/processor" breaks the secret mounts rules (1 violation):"#),
        "{message}"
    );
    assert!(message.contains("[declared-mount-missing]"), "{message}");
    // it names the mount admission would add
    assert!(message.contains(r#""api-key""#), "{message}");
    assert_eq!(violations(&a), "declared-mount-missing");
    assert_eq!(mutated(&a), None);
}

/// A ReplicaSet its Deployment controls, as the scanner sends it: its
/// missing mount is its owner's, so the report says `pass`; the same
/// ReplicaSet without a controller fails as a Deployment does.
#[test]
fn the_scanner_does_not_report_a_missing_mount_of_an_owned_object() {
    let mut request = fixture(SCANNER);
    request["kind"]["kind"] = json!("ReplicaSet");
    request["requestKind"]["kind"] = json!("ReplicaSet");
    request["resource"]["resource"] = json!("ReplicaSet");
    request["object"]["kind"] = json!("ReplicaSet");
    let unowned = answer(&request, &mutating());
    assert_eq!(violations(&unowned), "declared-mount-missing", "{unowned}");
    request["object"]["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "name": "processor", "uid": "d-uid", "controller": true, "blockOwnerDeletion": true}]);
    let owned = answer(&request, &mutating());
    assert_eq!(owned, json!({"accepted": true}), "{owned}");
}

/// The audit's answer is, byte for byte, the answer the same settings give
/// with `mutate: false` (the path that has always reported missing mounts).
#[test]
fn the_scanner_request_is_judged_as_under_mutate_false() {
    let request = fixture(SCANNER);
    let settings = mutating();
    let no_mutation = with(&settings, json!({"mutate": false}));
    let payload = |s: &Value| json!({"request": request, "settings": s}).to_string();
    let audit = validate(payload(&settings).as_bytes(), &NoCluster);
    let reported = validate(payload(&no_mutation).as_bytes(), &NoCluster);
    assert_eq!(String::from_utf8(audit).unwrap(), String::from_utf8(reported).unwrap());
}

/// The API server's requests (a mutating CREATE without `metadata.uid`, a
/// validating CREATE that has one, an UPDATE) and a hand-written one keep
/// today's answer: accepted, with the mount added.
#[test]
fn api_server_and_hand_written_requests_are_still_mutated() {
    let settings = mutating();
    let expected = mutated(&answer(&fixture("apiserver-create.json"), &settings)).expect("a mutation");
    let volume = added_volume(&expected);
    assert_eq!(volume["name"], "secret-mounts", "{expected}");
    assert_eq!(
        volume["projected"]["sources"][0]["secret"]["name"], "api-key",
        "{expected}"
    );
    for name in NOT_AUDIT {
        let a = answer(&fixture(name), &settings);
        assert_eq!(a["accepted"], true, "{name}: {a}");
        assert!(a.get("message").is_none(), "{name}: {a}");
        let object = mutated(&a).unwrap_or_else(|| panic!("{name}: no mutation: {a}"));
        assert_eq!(added_volume(&object), volume, "{name}");
    }
    // kwctl's own docs write requests with no uid at all
    let mut no_uid = fixture("kwctl-hand-written.json");
    no_uid.as_object_mut().unwrap().remove("uid");
    assert!(mutated(&answer(&no_uid, &settings)).is_some());
}

/// One change to a request.
type Change = fn(&mut Value);

/// Each of the scanner's signals is needed: a request that lacks any one of
/// them is judged as admission judges it (mutated), so a request the API
/// server or a person wrote is never taken for an audit.
#[test]
fn every_signal_of_the_scanner_is_needed() {
    let settings = mutating();
    let scanner = fixture(SCANNER);
    let variants: [(&str, Change); 7] = [
        (
            "a user is named",
            |r| r["userInfo"] = json!({"username": "system:serviceaccount:argocd:argocd-application-controller"}),
        ),
        ("the uid is the request's own", |r| {
            r["uid"] = json!("a2c4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f")
        }),
        ("no uid", |r| {
            r.as_object_mut().unwrap().remove("uid");
        }),
        ("the object has no uid", |r| {
            r["object"]["metadata"].as_object_mut().unwrap().remove("uid");
        }),
        ("the resource is plural", |r| {
            r["resource"]["resource"] = json!("deployments")
        }),
        ("no resource", |r| {
            r.as_object_mut().unwrap().remove("resource");
        }),
        ("an UPDATE", |r| r["operation"] = json!("UPDATE")),
    ];
    for (what, change) in variants {
        let mut request = scanner.clone();
        change(&mut request);
        let a = answer(&request, &settings);
        assert_eq!(a["accepted"], true, "{what}: {a}");
        assert!(mutated(&a).is_some(), "{what}: not mutated: {a}");
    }
    // an empty username is no username: still the scanner
    let mut request = scanner.clone();
    request["userInfo"] = json!({"username": ""});
    assert_eq!(answer(&request, &settings)["accepted"], false);
}

/// What admission adds is what the audit wants: the object as admission
/// would have admitted it passes the audit, untouched.
#[test]
fn an_object_with_the_declared_mount_passes_the_audit() {
    let settings = mutating();
    let admitted = mutated(&answer(&fixture("apiserver-create.json"), &settings)).unwrap();
    let mut request = fixture(SCANNER);
    request["object"]["spec"] = admitted["spec"].clone();
    let a = answer(&request, &settings);
    assert_eq!(a, json!({"accepted": true}));
}

/// `mutate: false` was already honest in the audit and stays as it was; under
/// `action: warn` nothing rejects, in the audit as at admission.
#[test]
fn mutate_false_and_action_warn_keep_their_meaning() {
    let request = fixture(SCANNER);
    let no_mutation = with(&mutating(), json!({"mutate": false}));
    let a = answer(&request, &no_mutation);
    assert_eq!(a["accepted"], false);
    assert_eq!(violations(&a), "declared-mount-missing");

    let warn = with(&mutating(), json!({"action": "warn"}));
    let a = answer(&request, &warn);
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(mutated(&a), None, "the audit never mutates: {a}");
    let warnings = a["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{a}");
    assert!(
        warnings[0].as_str().unwrap().starts_with("[declared-mount-missing]"),
        "{a}"
    );
}

// ---------------------------------------------------------------------------
// vaultSync
// ---------------------------------------------------------------------------

/// A cluster holding VSO resources of namespace team-a.
struct Vso(Vec<Value>);

impl Cluster for Vso {
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let request: Value = serde_json::from_slice(request).unwrap();
        let items: Vec<&Value> = self
            .0
            .iter()
            .filter(|o| o["kind"] == request["kind"] && o["metadata"]["namespace"] == request["namespace"])
            .collect();
        Ok(
            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
                .to_string()
                .into_bytes(),
        )
    }
}

fn vso(kind: &str, name: &str, secret: &str, targets: Value) -> Value {
    json!({"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": kind,
           "metadata": {"name": name, "namespace": "team-a"},
           "spec": {"destination": {"name": secret}, "rolloutRestartTargets": targets}})
}

/// A mount `vaultSync.discover` finds is reported missing by the audit, and
/// added at admission.
#[test]
fn a_discovered_mount_is_reported_missing_by_the_audit() {
    let cluster = Vso(vec![vso(
        "VaultPKISecret",
        "processor-tls",
        "processor-tls",
        json!([{"kind": "Deployment", "name": "processor"}]),
    )]);
    let settings = json!({"vaultSync": {"require": "off", "discover": true}});
    let a = answer_in(&fixture(SCANNER), &settings, &cluster);
    assert_eq!(a["accepted"], false, "{a}");
    let message = a["message"].as_str().unwrap();
    assert!(
        message.contains(r#"[declared-mount-missing] spec.template.spec: container "app": the mount of secret "processor-tls" declared by VaultPKISecret "processor-tls""#),
        "{message}"
    );
    let admitted = answer_in(&fixture("apiserver-create.json"), &settings, &cluster);
    assert_eq!(admitted["accepted"], true, "{admitted}");
    let volume = added_volume(&mutated(&admitted).unwrap());
    assert_eq!(volume["projected"]["sources"][0]["secret"]["name"], "processor-tls");
}

/// Provenance findings (`secret-not-vault-synced`, `vault-sync-unavailable`)
/// do not depend on `mutate`: for an object that needs no mutation the audit
/// answers exactly as admission does.
#[test]
fn provenance_findings_are_the_same_in_the_audit() {
    let settings = with(&mutating(), json!({"vaultSync": {"require": "reject"}}));
    // the object as admission admits it: it mounts api-key, which no VSO resource syncs
    let admitted = mutated(&answer(&fixture("apiserver-create.json"), &mutating())).unwrap();
    let mut audit = fixture(SCANNER);
    audit["object"]["spec"] = admitted["spec"].clone();
    let mut update = fixture("apiserver-update.json");
    update["object"]["spec"] = admitted["spec"].clone();
    let unsynced = Vso(vec![vso("VaultStaticSecret", "other", "other", json!([]))]);
    let synced = Vso(vec![vso("VaultStaticSecret", "api-key", "api-key", json!([]))]);
    let cases: [(&dyn Cluster, &str); 3] = [
        (&unsynced, "secret-not-vault-synced"),
        (&NoCluster, "vault-sync-unavailable"),
        (&synced, ""),
    ];
    for (cluster, expected) in cases {
        let a = answer_in(&audit, &settings, cluster);
        let u = answer_in(&update, &settings, cluster);
        assert_eq!(violations(&a), expected, "{a}");
        assert_eq!(a["accepted"], expected.is_empty(), "{a}");
        assert_eq!(a, u, "the audit and an UPDATE of the same object answer alike");
        assert_eq!(mutated(&a), None);
    }
    // and the SDK reads the answer
    let payload = json!({"request": audit, "settings": settings}).to_string();
    assert!(!validate_typed(payload.as_bytes(), &unsynced).unwrap().accepted);
}
