//! The real-looking AdmissionRequests under test_data/, through the full
//! `validate` entry point (payload bytes in, ValidationResponse out).
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::common;

use common::*;
use secret_mounts_policy::evaluate;
use serde_json::{json, Value};

fn validate(settings: Value, request_fixture: &str) -> kubewarden_policy_sdk::response::ValidationResponse {
    evaluate::validate_typed(&payload(settings, fixture(request_fixture)), &evaluate::NoCluster)
        .expect("the response reads back as the host reads it")
}

#[test]
fn helm_rendered_deployment_is_accepted_untouched() {
    let r = validate(json!({}), "deployment-helm-compliant.json");
    assert!(r.accepted, "{:?}", r.message);
    assert!(r.mutated_object.is_none() && r.warnings.is_none() && r.audit_annotations.is_none());
}

#[test]
fn pod_with_kube_api_access_is_accepted() {
    let r = validate(json!({}), "pod-kube-api-access.json");
    assert!(r.accepted, "{:?}", r.message);
    assert!(r.mutated_object.is_none());
}

#[test]
fn deployment_with_three_violations_lists_them_all() {
    let r = validate(json!({}), "deployment-three-violations.json");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        "Deployment \"team-a/processor\" breaks the secret mounts rules (4 violations):"
    );
    assert!(lines[1].starts_with("[env-secret-ref] spec.template.spec.containers[0].env[3]: container \"processor\": env \"DB_PASSWORD\" reads key \"password\" of secret \"db-credentials\""), "{message}");
    assert!(lines[2].starts_with("[secret-mount-path] spec.template.spec.containers[0].volumeMounts[0].mountPath: container \"processor\": volumeMount of volume \"processor-secrets\" (secret \"api-key\") is at \"/etc/secrets/api-key\""), "{message}");
    assert!(lines[3].starts_with("[secret-mount-subpath] spec.template.spec.containers[0].volumeMounts[0].subPath: container \"processor\": volumeMount of volume \"processor-secrets\" (secret \"api-key\") uses subPath \"api-key\""), "{message}");
    assert!(lines[4].starts_with("[plain-secret-volume] spec.template.spec.containers[0].volumeMounts[2]: container \"processor\": volume \"tls\" mounted at \"/etc/tls\" is a plain secret volume of secret \"processor-tls\""), "{message}");
    assert_eq!(lines.len(), 5);
    assert_eq!(
        r.audit_annotations.unwrap()["violations"],
        "env-secret-ref,secret-mount-path,secret-mount-subpath,plain-secret-volume"
    );
}

#[test]
fn cronjob_init_container_envfrom_secret_is_rejected() {
    let r = validate(json!({}), "cronjob-envfrom-secret.json");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(message.contains("[envfrom-secret-ref] spec.jobTemplate.spec.template.spec.initContainers[0].envFrom[1]: initContainer \"migrate\": envFrom imports every key of secret \"db-credentials\""), "{message}");
}

#[test]
fn vso_app_with_exempt_vault_agent_is_accepted() {
    let r = validate(fixture("settings-vso.json"), "deployment-vso-app.json");
    assert!(r.accepted, "{:?}", r.message);
    // Without the exemption the agent's own secrets are judged (the fixture
    // is an UPDATE that changes nothing: judged as a CREATE, they reject).
    let r = validate(json!({"allowExistingViolations": false}), "deployment-vso-app.json");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(
        message.contains("container \"vault-agent\": env \"VAULT_TOKEN\""),
        "{message}"
    );
    assert!(
        message.contains("container \"vault-agent\": volume \"vault-agent-config\""),
        "{message}"
    );
}

#[test]
fn seed_settings_mutate_the_deployment_that_lacks_the_mount() {
    let r = validate(fixture("settings-seed.json"), "deployment-missing-mount.json");
    assert!(r.accepted, "{:?}", r.message);
    let mutated = r.mutated_object.expect("mutated");
    let spec = &mutated["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["volumeMounts"][1],
        json!({"name": "processor-secrets", "mountPath": "/etc/secrets", "readOnly": true})
    );
    // The compliant fixture is what Helm renders: the mutated spec now matches it.
    let rendered = fixture("deployment-helm-compliant.json")["object"]["spec"]["template"]["spec"]["volumes"][0]
        ["projected"]["sources"]
        .clone();
    assert_eq!(spec["volumes"][1]["projected"]["sources"], rendered);
}

#[test]
fn settings_inside_the_payload_are_validated_too() {
    let r = validate(json!({"mountpath": "/etc/secrets"}), "deployment-helm-compliant.json");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(
        message.starts_with("the policy settings are not valid: unknown field `mountpath`"),
        "{message}"
    );
}

#[test]
fn unparsable_payloads_are_rejected_with_a_clear_message() {
    for (payload, expected) in [
        (
            &b"not json"[..],
            "the admission request could not be parsed: expected ident at line 1 column 2",
        ),
        (
            &b""[..],
            "the admission request could not be parsed: EOF while parsing a value at line 1 column 0",
        ),
        (
            &b"{\"settings\": {}}"[..],
            "the admission request could not be parsed: missing field `request`",
        ),
        (
            &b"{\"request\": {\"kind\": 5}}"[..],
            "the admission request could not be parsed: invalid type: integer `5`, expected struct GroupVersionKind at line 1 column 22",
        ),
        (
            &b"{\"request\": {}} trailing"[..],
            "the admission request could not be parsed: trailing characters",
        ),
    ] {
        let r = evaluate::validate_typed(payload, &evaluate::NoCluster)
            .expect("the response reads back as the host reads it");
        assert!(!r.accepted);
        let message = r.message.unwrap();
        assert!(
            message.starts_with(expected),
            "{message:?} should start with {expected:?}"
        );
        assert_eq!(r.audit_annotations.unwrap()["violations"], "malformed-object");
    }
}

#[test]
fn settings_entry_point_answers_valid_or_names_the_problem() {
    let ok = evaluate::validate_settings(br#"{"secretMounts": [{"name": "api-key", "secretName": "api-key"}]}"#);
    assert!(ok.valid && ok.message.is_none());
    let bad = evaluate::validate_settings(br#"{"action": "deny"}"#);
    assert!(!bad.valid);
    assert!(bad
        .message
        .unwrap()
        .starts_with("action: unknown variant `deny`, expected `reject` or `warn`"));
}

/// Hosts write the settings first and the request's kind before its object,
/// which lets the policy parse the object pruned in one pass. Any other order
/// must give the same answer (the object is then kept raw and parsed after).
#[test]
fn the_answer_does_not_depend_on_the_order_of_the_payload_fields() {
    let settings = fixture("settings-seed.json");
    for request_fixture in [
        "deployment-missing-mount.json",
        "deployment-three-violations.json",
        "deployment-helm-compliant.json",
    ] {
        let request = fixture(request_fixture);
        let object = request["object"].to_string();
        let mut head = request.clone();
        head.as_object_mut().unwrap().remove("object");
        let head = head.to_string();
        let head_fields = &head[1..head.len() - 1];
        let orders = [
            format!(r#"{{"settings": {settings}, "request": {{{head_fields}, "object": {object}}}}}"#),
            format!(r#"{{"settings": {settings}, "request": {{"object": {object}, {head_fields}}}}}"#),
            format!(r#"{{"request": {{{head_fields}, "object": {object}}}, "settings": {settings}}}"#),
        ];
        let answers: Vec<Value> = orders
            .iter()
            .map(|payload| {
                let bytes = evaluate::validate(payload.as_bytes(), &evaluate::NoCluster);
                serde_json::from_slice(&bytes).expect("the response is JSON")
            })
            .collect();
        let expect_accepted = request_fixture != "deployment-three-violations.json";
        assert_eq!(
            answers[0]["accepted"],
            json!(expect_accepted),
            "{request_fixture}: {}",
            answers[0]
        );
        let expect_mutated = request_fixture == "deployment-missing-mount.json";
        assert_eq!(
            answers[0]["mutated_object"].is_object(),
            expect_mutated,
            "{request_fixture}"
        );
        assert_eq!(answers[0], answers[1], "{request_fixture}: object before kind");
        assert_eq!(answers[0], answers[2], "{request_fixture}: settings after the request");
    }
}
