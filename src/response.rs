//! respond: the ValidationResponse the host reads, as a type written once.
//!
//! The fields and their JSON names are those of the Kubewarden SDK's
//! `ValidationResponse`; fields without a value are left out (hosts read a
//! missing field as `None`), and the mutated object is the spliced JSON text,
//! carried as a `RawValue` so it is written as it is.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::settings::{Action, Settings};
use crate::violation::{Finding, Rule};

/// Audit annotation listing the rules an object breaks, for grouping reports.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

/// The policy's answer to one `validate` call.
#[derive(Serialize, Debug)]
pub struct Response {
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutated_object: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<&'static str, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl Response {
    /// Accepts, carrying the mutated object when there is one.
    pub fn accept(mutated: Option<Box<RawValue>>) -> Response {
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

    /// The response the settings' `action` calls for: accepted (and mutated)
    /// without findings; with findings, rejected listing every one, or under
    /// `warn` accepted (and mutated) with every one as a warning.
    pub fn judged(
        settings: &Settings,
        subject: &str,
        findings: &[Finding],
        mutated: Option<Box<RawValue>>,
    ) -> Response {
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
        let lines: Vec<String> = findings.iter().map(|f| f.render(&settings.mount_path)).collect();
        match settings.action {
            Action::Warn => Response {
                audit_annotations: Some(violations(&rules)),
                warnings: Some(lines),
                ..Response::accept(mutated)
            },
            Action::Reject => Response {
                accepted: false,
                message: Some(rejection(subject, &lines)),
                code: None,
                mutated_object: None,
                audit_annotations: Some(violations(&rules)),
                warnings: None,
            },
        }
    }

    /// The JSON the host reads.
    pub fn to_json(&self) -> Vec<u8> {
        // Writing these fields into a Vec cannot fail: every map key is a string.
        serde_json::to_vec(self).unwrap_or_default()
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
