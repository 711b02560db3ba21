//! The reports of `check`: text for people, JSON lines for tools, a JUnit
//! file for CI systems, and the summary line.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::catalogue::RuleEntry;
use crate::cli::{CheckArgs, CheckFormat};
use crate::metadata::PolicyMetadata;
use crate::policyreport::{self, PolicyFacts};
use crate::results::{counts, summary, Counts, Finding, Level, ObjectReport, Verdict, SKIPPED_NOTE};
use crate::{codequality, junit, sarif};

/// Prints the report on stdout (and the JUnit, SARIF and Code Quality
/// files, when asked for); `catalogue` describes the policy's rules
/// (`--rules`), `metadata` the policy.
///
/// `warnings` are about the run (a kind the policy's settings name that its
/// rules leave out): on stderr, and in the text report before the summary.
pub fn write(
    reports: &[ObjectReport],
    args: &CheckArgs,
    catalogue: Option<&[RuleEntry]>,
    metadata: Option<&PolicyMetadata>,
    warnings: &[String],
) -> Result<()> {
    for warning in warnings {
        eprintln!("policy-runner: warning: {warning}");
    }
    let text = match args.output {
        CheckFormat::Text => render_text(reports, warnings),
        CheckFormat::Sarif => sarif::render(reports, catalogue, &args.source_roots),
        CheckFormat::Codequality => codequality::render(reports),
        CheckFormat::Policyreport => {
            let stem = args.policy.file_stem().map(|s| s.to_string_lossy());
            let name = args.policy_name.as_deref().or(stem.as_deref()).unwrap_or("policy");
            let facts = PolicyFacts::new(name, metadata);
            policyreport::render(reports, &facts, &args.cluster.namespace)
        }
        CheckFormat::Json => {
            let mut out: String = reports.iter().map(|r| render_json(r) + "\n").collect();
            if args.summary {
                out.push_str(&render_json_summary(reports, warnings));
                out.push('\n');
            }
            out
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report to standard output")?;
    if args.output != CheckFormat::Text {
        eprintln!("{}", summary(reports));
    }
    if let Some(path) = &args.junit {
        let suite = crate::host::display_name(&args.policy);
        std::fs::write(path, junit::render(reports, &suite))
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    if let Some(path) = &args.sarif {
        std::fs::write(path, sarif::render(reports, catalogue, &args.source_roots))
            .with_context(|| format!("cannot write the SARIF report {}", path.display()))?;
    }
    if let Some(path) = &args.codequality {
        std::fs::write(path, codequality::render(reports))
            .with_context(|| format!("cannot write the Code Quality report {}", path.display()))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    summary: SummaryCounts<'a>,
}

/// The counts, then the run's warnings when there are any.
#[derive(Serialize)]
struct SummaryCounts<'a> {
    #[serde(flatten)]
    counts: Counts,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The `--summary` line of the JSON output: the counts and the exit code.
pub fn render_json_summary(reports: &[ObjectReport], warnings: &[String]) -> String {
    let summary = JsonSummary {
        summary: SummaryCounts {
            counts: counts(reports),
            warnings,
        },
    };
    serde_json::to_string(&summary).unwrap_or_default()
}

const INDENT: &str = "    ";

/// Titles shown more than once get their place appended, so that two
/// objects of the same kind and name can be told apart.
fn display_titles(reports: &[ObjectReport]) -> Vec<String> {
    let titles: Vec<String> = reports.iter().map(ObjectReport::title).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for title in &titles {
        *seen.entry(title.as_str()).or_default() += 1;
    }
    titles
        .iter()
        .zip(reports)
        .map(|(title, r)| match (seen.get(title.as_str()), &r.object) {
            (Some(n), Some(_)) if *n > 1 => format!("{title} ({})", r.location.describe()),
            _ => title.clone(),
        })
        .collect()
}

fn head(title: &str, r: &ObjectReport) -> String {
    let verdict = verdict_text(title, r);
    match (&r.judged_by, r.verdict) {
        (Some(judge), Verdict::Rejected) if judge.monitor => {
            format!("{verdict} by {} (monitor mode: not enforced)", judge.policy)
        }
        (Some(judge), Verdict::Allowed | Verdict::Mutated | Verdict::Rejected) => {
            format!("{verdict} by {}", judge.policy)
        }
        _ => verdict,
    }
}

fn verdict_text(title: &str, r: &ObjectReport) -> String {
    match (r.verdict, &r.message) {
        (Verdict::Skipped, Some(reason)) => format!("{title}: skipped: {reason}"),
        (Verdict::Skipped, None) => format!("{title}: {SKIPPED_NOTE}"),
        (Verdict::Rejected, _) => match r.code {
            Some(code) => format!("{title}: rejected (code {code})"),
            None => format!("{title}: rejected"),
        },
        (other, _) => format!("{title}: {}", other.as_str()),
    }
}

/// The human report: one block per object, then the summary line, last.
/// What the policy said is shown as it said it, each finding after its
/// place in the file (`m.yaml:7:9: `).
pub fn render_text(reports: &[ObjectReport], warnings: &[String]) -> String {
    let mut out = String::new();
    for (title, r) in display_titles(reports).iter().zip(reports) {
        out.push_str(&head(title, r));
        out.push('\n');
        for f in r.of_level(Level::Mutation) {
            out.push_str(&format!("{INDENT}{}: {}\n", r.place_of(f), f.message));
        }
        push_message(&mut out, r);
        for f in r.of_level(Level::Warn) {
            let mut lines = f.written.as_deref().unwrap_or_default().lines();
            let first = lines.next().unwrap_or_default();
            out.push_str(&format!("{INDENT}{}: warning: {first}\n", r.place_of(f)));
            for line in lines {
                out.push_str(&format!("{INDENT}  {line}\n"));
            }
        }
    }
    if !reports.is_empty() {
        out.push('\n');
    }
    for warning in warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out.push_str(&summary(reports));
    out.push('\n');
    out
}

/// The message of a judged object: its summary, then each finding written
/// in it after its place; a message no finding was read from (an error's, an
/// admitted object's) as it is.
fn push_message(out: &mut String, r: &ObjectReport) {
    let written: Vec<(&Finding, &str)> = r
        .of_level(Level::Reject)
        .filter_map(|f| Some((f, f.written.as_deref()?)))
        .collect();
    match (&r.message, r.verdict) {
        (_, Verdict::Skipped) | (None, _) => {}
        (Some(message), _) if written.is_empty() => {
            for line in message.lines() {
                out.push_str(&format!("{INDENT}{line}\n"));
            }
        }
        (Some(_), _) => {
            if let Some(summary) = &r.summary {
                out.push_str(&format!("{INDENT}{summary}\n"));
            }
            for (f, line) in written {
                out.push_str(&format!("{INDENT}{}: {line}\n", r.place_of(f)));
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    kind: Option<&'a str>,
    api_version: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    verdict: Verdict,
    message: Option<&'a str>,
    code: Option<u16>,
    rules: &'a [String],
    patch: Vec<&'a Value>,
    warnings: Vec<&'a str>,
    findings: &'a [Finding],
    file: &'a str,
    document: Option<usize>,
    item: Option<usize>,
    line: Option<usize>,
    /// The chart template of the document (its `# Source:` comment).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    /// The `--policy` manifest that judged the object, and its mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
}

/// The machine report for one object (one JSON line).
pub fn render_json(r: &ObjectReport) -> String {
    let object = r.object.as_ref();
    let report = JsonReport {
        kind: object.map(|o| o.kind.kind.as_str()),
        api_version: object.map(|o| o.api_version.as_str()),
        namespace: object.and_then(|o| o.namespace.as_deref()),
        name: object.and_then(|o| o.name.as_deref()),
        verdict: r.verdict,
        message: r.message.as_deref(),
        code: r.code,
        rules: &r.rule_ids,
        patch: r.patch(),
        warnings: r.warnings(),
        findings: &r.findings,
        file: &r.location.file,
        document: r.location.document,
        item: r.location.item,
        line: r.location.line,
        source: r.location.template.as_deref(),
        policy: r.judged_by.as_ref().map(|j| j.policy.as_str()),
        mode: r
            .judged_by
            .as_ref()
            .map(|j| if j.monitor { "monitor" } else { "protect" }),
    };
    serde_json::to_string(&report).unwrap_or_else(|e| {
        serde_json::json!({"verdict": "error", "message": format!("cannot serialise report: {e}")}).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::read_answer;
    use crate::request::object;
    use crate::request::ManifestObject;
    use crate::results::Location;
    use serde_json::json;

    fn at(document: usize) -> Location {
        Location {
            file: "f.yaml".into(),
            document: Some(document),
            item: None,
            line: Some(document * 10),
            template: None,
        }
    }

    fn report(document: usize, object: ManifestObject, verdict: Verdict) -> ObjectReport {
        ObjectReport::new(at(document), Some(object), verdict)
    }

    #[test]
    fn text_report_shows_verdicts_patches_messages_and_summary() {
        let mut allowed = report(1, object("v1", "Pod", Some("ns"), "a"), Verdict::Allowed);
        read_answer(&mut allowed, &["careful".into()], None, None);
        let mut mutated = report(2, object("apps/v1", "Deployment", Some("ns"), "b"), Verdict::Mutated);
        let patch = serde_json::from_value(json!([{"op": "add", "path": "/spec/x", "value": {"a": 1}}])).unwrap();
        read_answer(&mut mutated, &[], Some(&patch), None);
        let mut rejected = report(3, object("v1", "Pod", None, "c"), Verdict::Rejected);
        rejected.message = Some("first line\nsecond line".into());
        rejected.code = Some(403);
        read_answer(&mut rejected, &[], None, None);
        let skipped = report(4, object("v1", "ConfigMap", Some("ns"), "d"), Verdict::Skipped);
        let mut old = report(5, object("apps/v1beta1", "Deployment", None, "e"), Verdict::Skipped);
        old.message = Some("apps/v1beta1 Deployment is not served".into());
        let reports = vec![allowed, mutated, rejected, skipped, old];
        let text = render_text(&reports, &[]);
        // each finding after its place: without a source, the object's line
        let expected = "Pod ns/a: allowed\n    f.yaml:10: warning: careful\nDeployment ns/b: mutated\n    f.yaml:20: add /spec/x {\"a\":1}\nPod c: rejected (code 403)\n    first line\n    f.yaml:30: second line\nConfigMap ns/d: skipped (not covered by the policy's rules)\nDeployment e: skipped: apps/v1beta1 Deployment is not served\n\n5 objects: 1 allowed, 1 mutated, 1 rejected, 2 skipped\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn unreadable_documents_and_same_named_objects_are_told_apart() {
        let mut broken = ObjectReport::new(at(2), None, Verdict::Error);
        broken.message = Some("invalid YAML: bad".into());
        let reports = vec![
            report(1, object("v1", "Pod", None, "a"), Verdict::Allowed),
            broken,
            report(3, object("v1", "Pod", None, "a"), Verdict::Rejected),
        ];
        let text = render_text(&reports, &[]);
        assert_eq!(
            text,
            "Pod a (f.yaml, document 1, line 10): allowed\nf.yaml, document 2, line 20: error\n    invalid YAML: bad\nPod a (f.yaml, document 3, line 30): rejected\n\n3 objects: 1 allowed, 0 mutated, 1 rejected, 0 skipped, 1 error\n"
        );
        let json: Value = serde_json::from_str(&render_json(&reports[1])).unwrap();
        assert_eq!(
            json,
            json!({"kind": null, "apiVersion": null, "namespace": null, "name": null, "verdict": "error",
                   "message": "invalid YAML: bad", "code": null, "rules": [], "patch": [], "warnings": [], "findings": [],
                   "file": "f.yaml", "document": 2, "item": null, "line": 20})
        );
    }

    #[test]
    fn json_report_has_one_object_per_line_with_its_place_and_rules() {
        let mut r = report(2, object("v1", "Pod", Some("ns"), "p"), Verdict::Rejected);
        r.rule_ids = vec!["env-secret-ref".into(), "plain-secret-volume".into()];
        r.message = Some("no".into());
        let line = render_json(&r);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(r#"{"kind":"Pod","apiVersion":"v1","namespace":"ns","name":"p","verdict":"rejected""#),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["rules"], json!(["env-secret-ref", "plain-secret-volume"]));
        assert_eq!(v["code"], Value::Null);
        assert_eq!(v["file"], "f.yaml");
        assert_eq!(v["document"], 2);
        assert_eq!(v["line"], 20);
        assert_eq!(v["item"], Value::Null);
    }

    #[test]
    fn reports_name_the_policy_manifest_that_judged_and_its_mode() {
        use crate::results::JudgedBy;
        let judged = |verdict, monitor| {
            let mut r = report(1, object("v1", "Pod", Some("ns"), "p"), verdict);
            r.judged_by = Some(JudgedBy {
                policy: "ClusterAdmissionPolicy secret-mounts".into(),
                monitor,
            });
            r
        };
        let reports = vec![judged(Verdict::Rejected, true), judged(Verdict::Rejected, false)];
        let text = render_text(&reports, &["podSpecPaths names x".into()]);
        assert!(
            text.starts_with("Pod ns/p (f.yaml, document 1, line 10): rejected by ClusterAdmissionPolicy secret-mounts (monitor mode: not enforced)\nPod ns/p (f.yaml, document 1, line 10): rejected by ClusterAdmissionPolicy secret-mounts\n"),
            "{text}"
        );
        assert!(text.ends_with("\nwarning: podSpecPaths names x\n2 objects: 0 allowed, 0 mutated, 2 rejected (1 in monitor mode, not enforced), 0 skipped\n"), "{text}");
        let json: Value = serde_json::from_str(&render_json(&reports[0])).unwrap();
        assert_eq!(json["policy"], "ClusterAdmissionPolicy secret-mounts");
        assert_eq!(json["mode"], "monitor");
        let json: Value = serde_json::from_str(&render_json(&reports[1])).unwrap();
        assert_eq!(json["mode"], "protect");
        let summary: Value = serde_json::from_str(&render_json_summary(&reports, &["w".into()])).unwrap();
        assert_eq!(summary["summary"]["exitCode"], 1);
        assert_eq!(summary["summary"]["warnings"], json!(["w"]));
    }

    #[test]
    fn json_summary_counts_and_gives_the_exit_code() {
        let reports = vec![
            report(1, object("v1", "Pod", None, "a"), Verdict::Rejected),
            report(2, object("v1", "Pod", None, "b"), Verdict::Allowed),
        ];
        assert_eq!(
            render_json_summary(&reports, &[]),
            r#"{"summary":{"objects":2,"allowed":1,"mutated":0,"rejected":1,"skipped":0,"errors":0,"exitCode":1}}"#
        );
    }
}
