//! The `check` report as GitLab Code Quality JSON (Code Climate's issue
//! format, as GitLab reads it for the merge request widget): a list of
//! issues, one per finding and per object that could not be read or judged,
//! each with the fields GitLab requires — `description`, `check_name`,
//! `fingerprint`, `severity`, `location.path` and `location.lines.begin`.
//!
//! GitLab tells an issue that is new in a merge request from one already
//! there by its fingerprint, so it names what the issue is about, not where
//! it happens to be: the SHA-256 of the rule, the file, the object's identity
//! (API version, kind, namespace, name; an unreadable document's number) and
//! the field, with the issue's rank among issues of the same identity. A line
//! added above a finding does not change it.

use std::collections::HashMap;

use crate::results::{issues, sha256_hex, Issue, Level, ObjectReport};
use serde::Serialize;

#[derive(Serialize)]
struct CodeQualityIssue {
    description: String,
    check_name: String,
    fingerprint: String,
    severity: &'static str,
    location: IssueLocation,
}

#[derive(Serialize)]
struct IssueLocation {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

/// A rejection blocks the object at admission; a warning is shown by
/// kubectl; a mutation is for information; an object the policy could not
/// judge (or a document that could not be read) is critical.
fn severity(issue: &Issue) -> &'static str {
    match issue.finding.map(|f| f.level) {
        Some(Level::Reject) => "blocker",
        Some(Level::Warn) => "minor",
        Some(Level::Mutation) => "info",
        None => "critical",
    }
}

/// A path relative to the repository, as GitLab (and GitHub, in SARIF)
/// match it against its files: the file as given, `\\` as `/`, without a
/// leading `./`.
pub fn repository_path(file: &str) -> String {
    let mut path = file.replace('\\', "/");
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.to_string();
    }
    path
}

/// What an issue is about: rule, file, object identity, field.
fn identity(issue: &Issue) -> String {
    let r = issue.report;
    let object = match &r.object {
        Some(o) => o.identity(o.namespace.as_deref()),
        None => format!("document {:?} item {:?}", r.location.document, r.location.item),
    };
    let field = issue.finding.and_then(|f| f.path.as_deref()).unwrap_or_default();
    [issue.rule_id, &r.location.file, &object, field].join("\u{1}")
}

/// The Code Quality report of a `check` run, pretty-printed.
pub fn render(reports: &[ObjectReport]) -> String {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let list: Vec<CodeQualityIssue> = issues(reports)
        .iter()
        .map(|issue| {
            let identity = identity(issue);
            let rank = seen.entry(identity.clone()).or_default();
            let fingerprint = sha256_hex(&format!("{identity}\u{2}{rank}"));
            *rank += 1;
            CodeQualityIssue {
                description: issue.message.clone(),
                check_name: issue.rule_id.to_string(),
                fingerprint,
                severity: severity(issue),
                location: IssueLocation {
                    path: repository_path(&issue.report.location.file),
                    lines: Lines { begin: issue.line },
                },
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_string());
    text.push('\n');
    text
}
