//! respond: the ValidationResponse the host reads, as a type written once.
//!
//! The fields and their JSON names are those of the Kubewarden SDK's
//! `ValidationResponse`; fields without a value are left out (hosts read a
//! missing field as `None`). The mutated object is the spliced JSON text
//! ([`crate::splice`]), written into the response as it is: it is valid JSON by
//! construction (the request's own object with serde_json-written values
//! inserted at places a JSON scan found), so it is neither parsed again nor
//! checked by a second scan. The tests and the fuzz targets read every
//! response's bytes strictly, as a host does, and compare its mutated object
//! with the independent reference evaluator's.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::settings::{Action, Requirement, Settings};
use crate::violation::{Finding, Rule};

/// Audit annotation listing the rules an object breaks, for grouping reports.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

/// The policy's answer to one `validate` call.
#[derive(Debug)]
pub struct Response {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    /// The mutated object's JSON text.
    pub mutated_object: Option<String>,
    pub audit_annotations: Option<BTreeMap<&'static str, String>>,
    pub warnings: Option<Vec<String>>,
}

/// Every field of [`Response`] but the mutated object, which is text already.
#[derive(Serialize)]
struct Fields<'r> {
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: &'r Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_annotations: &'r Option<BTreeMap<&'static str, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: &'r Option<Vec<String>>,
}

impl Response {
    /// Accepts, carrying the mutated object when there is one.
    pub fn accept(mutated: Option<String>) -> Response {
        Response {
            accepted: true,
            message: None,
            code: None,
            mutated_object: mutated,
            audit_annotations: None,
            warnings: None,
        }
    }

    /// Rejects input the policy cannot judge (not JSON, the wrong envelope,
    /// invalid settings), saying what is wrong.
    pub fn malformed(message: String) -> Response {
        Response {
            accepted: false,
            message: Some(message),
            code: Some(400),
            mutated_object: None,
            audit_annotations: Some(violations(&[Rule::MalformedObject.name()])),
            warnings: None,
        }
    }

    /// The response the settings call for: accepted (with `mutated`, the
    /// mutated object, if any) unless a finding rejects ([`rejects`]);
    /// rejected otherwise, listing those. Findings that do not reject are
    /// admission warnings either way.
    pub fn judged(settings: &Settings, subject: &str, findings: &[Finding], mutated: Option<String>) -> Response {
        if findings.is_empty() {
            return Response::accept(mutated);
        }
        let mut rules: Vec<&str> = Vec::new();
        for f in findings {
            let name = f.violation.rule().name();
            if !rules.contains(&name) {
                rules.push(name);
            }
        }
        let (rejecting, warned): (Vec<&Finding>, Vec<&Finding>) =
            findings.iter().partition(|f| rejects(settings, f.violation.rule()));
        let render = |fs: &[&Finding]| -> Vec<String> { fs.iter().map(|f| f.render(&settings.mount_path)).collect() };
        let warnings = (!warned.is_empty()).then(|| render(&warned));
        if rejecting.is_empty() {
            return Response {
                audit_annotations: Some(violations(&rules)),
                warnings,
                ..Response::accept(mutated)
            };
        }
        Response {
            accepted: false,
            message: Some(rejection(subject, &render(&rejecting))),
            code: None,
            mutated_object: None,
            audit_annotations: Some(violations(&rules)),
            warnings,
        }
    }

    /// Adds the findings an UPDATE left as the old object had them
    /// (`allowExistingViolations`): admission warnings, which `kubectl`
    /// prints, and their rules in the `violations` annotation.
    pub fn with_existing(mut self, settings: &Settings, existing: &[Finding]) -> Response {
        if existing.is_empty() {
            return self;
        }
        let listed = self
            .audit_annotations
            .as_ref()
            .and_then(|a| a.get(VIOLATIONS_ANNOTATION))
            .map_or("", String::as_str);
        let mut rules: Vec<&str> = listed.split(',').filter(|r| !r.is_empty()).collect();
        for f in existing {
            let name = f.violation.rule().name();
            if !rules.contains(&name) {
                rules.push(name);
            }
        }
        let annotations = violations(&rules);
        let warnings = self.warnings.get_or_insert_with(Vec::new);
        for f in existing {
            warnings.push(format!(
                "{} (Already there before this update: allowExistingViolations lets it through.)",
                f.render(&settings.mount_path)
            ));
        }
        self.audit_annotations = Some(annotations);
        self
    }

    /// The JSON the host reads: the fields, then the mutated object's text.
    pub fn to_json(&self) -> Vec<u8> {
        let fields = Fields {
            accepted: self.accepted,
            message: &self.message,
            code: self.code,
            audit_annotations: &self.audit_annotations,
            warnings: &self.warnings,
        };
        let extra = self.mutated_object.as_ref().map_or(0, |m| m.len() + 20);
        let mut json = Vec::with_capacity(256 + extra);
        // Writing plain fields into a Vec cannot fail (every map key is a
        // string) and ends with the object's `}`: were that ever untrue, the
        // answer is a defect report, never a half-written response.
        if serde_json::to_writer(&mut json, &fields).is_err() || json.last() != Some(&b'}') {
            return br#"{"accepted":false,"message":"secret-mounts-policy defect: its response could not be written; please report it","code":500}"#.to_vec();
        }
        if let Some(object) = &self.mutated_object {
            // `{"accepted":...}` becomes `{"accepted":...,"mutated_object":<text>}`.
            json.pop();
            json.extend_from_slice(b",\"mutated_object\":");
            json.extend_from_slice(object.as_bytes());
            json.push(b'}');
        }
        json
    }
}

/// Whether an answer with these findings accepts: none of them rejects.
pub fn accepts(settings: &Settings, findings: &[Finding]) -> bool {
    !findings.iter().any(|f| rejects(settings, f.violation.rule()))
}

/// Whether a finding of `rule` rejects: provenance (`secret-not-vault-synced`,
/// `vault-sync-unavailable`) as `vaultSync.require` says, every other rule as
/// `action` says.
pub fn rejects(settings: &Settings, rule: Rule) -> bool {
    match rule {
        Rule::SecretNotVaultSynced | Rule::VaultSyncUnavailable => settings.vault_sync.require == Requirement::Reject,
        _ => settings.action == Action::Reject,
    }
}

fn violations(rules: &[&str]) -> BTreeMap<&'static str, String> {
    BTreeMap::from([(VIOLATIONS_ANNOTATION, rules.join(","))])
}

fn rejection(subject: &str, lines: &[String]) -> String {
    let count = match lines.len() {
        1 => "1 violation".to_string(),
        n => format!("{n} violations"),
    };
    format!(
        "{subject} breaks the secret mounts rules ({count}):\n{}",
        lines.join("\n")
    )
}
