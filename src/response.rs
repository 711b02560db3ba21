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
    pub fn judged(
        settings: &Settings,
        subject: &str,
        findings: &[Finding],
        existing: &[Finding],
        mutated: Option<String>,
    ) -> Response {
        if findings.is_empty() && existing.is_empty() {
            return Response::accept(mutated);
        }
        let mut rules: Vec<&str> = Vec::new();
        for f in findings.iter().chain(existing) {
            let name = f.violation.rule().name();
            if !rules.contains(&name) {
                rules.push(name);
            }
        }
        let (rejecting, mut warned): (Vec<&Finding>, Vec<&Finding>) =
            findings.iter().partition(|f| rejects(settings, f.violation.rule()));
        // What an UPDATE left as the old object had it (`allowExistingViolations`)
        // is warned after the update's own warnings, within the same bound.
        let first_existing = warned.len();
        warned.extend(existing);
        let limit = settings.max_message_bytes;
        let warnings =
            (!warned.is_empty()).then(|| bounded_lines(&warned, &settings.mount_path, limit, 0, first_existing));
        if rejecting.is_empty() {
            return Response {
                audit_annotations: Some(violations(&rules)),
                warnings,
                ..Response::accept(mutated)
            };
        }
        Response {
            accepted: false,
            message: Some(rejection(subject, &rejecting, settings)),
            code: None,
            mutated_object: None,
            audit_annotations: Some(violations(&rules)),
            warnings,
        }
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
/// `vault-sync-unavailable`) as `vaultSync.require` says,
/// `discovered-secrets-may-collide` never, every other rule as `action` says.
pub fn rejects(settings: &Settings, rule: Rule) -> bool {
    match rule {
        Rule::SecretNotVaultSynced | Rule::VaultSyncUnavailable => settings.vault_sync.require == Requirement::Reject,
        // A possibility, not a certainty: the keys are not known at admission.
        Rule::DiscoveredSecretsMayCollide => false,
        _ => settings.action == Action::Reject,
    }
}

fn violations(rules: &[&str]) -> BTreeMap<&'static str, String> {
    BTreeMap::from([(VIOLATIONS_ANNOTATION, rules.join(","))])
}

/// The mark of a warning about what the old object already had.
const EXISTING: &str = " (Already there before this update: allowExistingViolations lets it through.)";

/// The rejection: a first line stating the total, then the findings as
/// [`bounded_lines`] lists them, all within `maxMessageBytes`.
fn rejection(subject: &str, findings: &[&Finding], settings: &Settings) -> String {
    let count = match findings.len() {
        1 => "1 violation".to_string(),
        n => format!("{n} violations"),
    };
    let mut message = format!("{subject} breaks the secret mounts rules ({count}):");
    let lines = bounded_lines(
        findings,
        &settings.mount_path,
        settings.max_message_bytes,
        message.len(),
        findings.len(),
    );
    for line in lines {
        message.push('\n');
        message.push_str(&line);
    }
    message
}

/// The findings as lines (each rule's advice after its first finding only),
/// as many as fit in `limit` bytes after `used` bytes, one `\n` before each;
/// the rest is counted per rule in a last line. kubectl prints a message
/// whole, so however many findings there are, the answer stays readable.
pub fn bounded_lines(
    findings: &[&Finding],
    mount_path: &str,
    limit: usize,
    used: usize,
    first_existing: usize,
) -> Vec<String> {
    // The summary line can only be shorter than one counting every finding.
    let reserve = 1 + not_listed(findings, findings.len()).len();
    let mut used = used;
    let mut advised: Vec<Rule> = Vec::new();
    let mut lines = Vec::new();
    for (i, finding) in findings.iter().enumerate() {
        let rule = finding.violation.rule();
        let mut line = finding.render(mount_path, !advised.contains(&rule));
        if i >= first_existing {
            line.push_str(EXISTING);
        }
        let last = i + 1 == findings.len();
        if used + 1 + line.len() + if last { 0 } else { reserve } > limit {
            lines.push(not_listed(findings.get(i..).unwrap_or_default(), findings.len()));
            break;
        }
        used += 1 + line.len();
        advised.push(rule);
        lines.push(line);
    }
    lines
}

/// `and 35 more of 40, not listed: env-secret-ref 30, envfrom-secret-ref 5 (maxMessageBytes bounds this message)`.
fn not_listed(rest: &[&Finding], total: usize) -> String {
    let mut counts: Vec<(Rule, usize)> = Vec::new();
    for finding in rest {
        let rule = finding.violation.rule();
        match counts.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += 1,
            None => counts.push((rule, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(r, n)| format!("{} {n}", r.name())).collect();
    format!(
        "and {} more of {total}, not listed: {} (the policy's maxMessageBytes bounds this message)",
        rest.len(),
        counts.join(", ")
    )
}
