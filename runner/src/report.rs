//! The reports of `check`: text for people, JSON lines for tools, a JUnit
//! file for CI systems, and the summary line.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::catalogue::RuleInfo;
use crate::cli::{CheckArgs, CheckFormat};
use crate::outcome::{counts, exit_code, summary, Finding, Level, ObjectReport, Verdict, SKIPPED_NOTE};
use crate::{junit, sarif};

/// Prints the report on stdout (and the JUnit and SARIF files, when asked
/// for); `rules` is the rule catalogue (`--rules`).
///
/// `warnings` are about the run (a kind the policy's settings name that its
/// rules leave out): on stderr, and in the text report before the summary.
pub fn write(
    reports: &[ObjectReport],
    args: &CheckArgs,
    rules: Option<&[RuleInfo]>,
    warnings: &[String],
) -> Result<()> {
    for warning in warnings {
        eprintln!("policy-runner: warning: {warning}");
    }
    let text = match args.output {
        CheckFormat::Text => render_text(reports, warnings),
        CheckFormat::Sarif => sarif::render(reports, rules),
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
        std::fs::write(path, sarif::render(reports, rules))
            .with_context(|| format!("cannot write the SARIF report {}", path.display()))?;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonCounts {
    objects: usize,
    allowed: usize,
    mutated: usize,
    rejected: usize,
    skipped: usize,
    errors: usize,
    exit_code: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct JsonSummary {
    summary: JsonCounts,
}

/// The `--summary` line of the JSON output: the counts and the exit code.
pub fn render_json_summary(reports: &[ObjectReport], warnings: &[String]) -> String {
    let c = counts(reports);
    let summary = JsonSummary {
        summary: JsonCounts {
            objects: c.objects,
            allowed: c.allowed,
            mutated: c.mutated,
            rejected: c.rejected,
            skipped: c.skipped,
            errors: c.errors,
            exit_code: exit_code(reports),
            warnings: warnings.to_vec(),
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

/// `m.yaml:7:9: ` before what a finding says, when there is a finding.
fn placed(r: &ObjectReport, finding: Option<&Finding>) -> String {
    finding.map_or_else(String::new, |f| format!("{}: ", f.place(&r.location.file)))
}

/// The human report: one block per object, then the summary line, last.
/// What the policy said is shown as it said it, each finding after its
/// place in the file (`m.yaml:7:9: `).
pub fn render_text(reports: &[ObjectReport], warnings: &[String]) -> String {
    let mut out = String::new();
    for (title, r) in display_titles(reports).iter().zip(reports) {
        out.push_str(&head(title, r));
        out.push('\n');
        let of_level = |level: Level| r.findings.iter().filter(move |f| f.level == level);
        let mut mutations = of_level(Level::Mutation);
        for line in &r.patch_lines {
            out.push_str(&format!("{INDENT}{}{line}\n", placed(r, mutations.next())));
        }
        if let (Some(message), false) = (&r.message, r.verdict == Verdict::Skipped) {
            let rejects: Vec<&Finding> = of_level(Level::Reject).collect();
            let said: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
            let lines: Vec<(Option<&Finding>, &str)> = if rejects.len() + 1 == said.len() {
                // the summary, then one finding a line
                std::iter::once(None)
                    .chain(rejects.into_iter().map(Some))
                    .zip(said)
                    .collect()
            } else if rejects.len() == 1 && said.len() == 1 {
                // the summary alone, which is the finding
                vec![(rejects.first().copied(), said[0])]
            } else {
                message.lines().map(|line| (None, line)).collect()
            };
            for (finding, line) in lines {
                out.push_str(&format!("{INDENT}{}{line}\n", placed(r, finding)));
            }
        }
        let mut warned = of_level(Level::Warn);
        for warning in &r.warnings {
            let mut lines = warning.lines();
            let place = placed(r, warned.next());
            out.push_str(&format!(
                "{INDENT}{place}warning: {}\n",
                lines.next().unwrap_or_default()
            ));
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    kind: Option<&'a str>,
    api_version: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    verdict: &'static str,
    message: Option<&'a str>,
    code: Option<u16>,
    rules: &'a [String],
    patch: &'a [Value],
    warnings: &'a [String],
    findings: Vec<JsonFinding<'a>>,
    file: &'a str,
    document: Option<usize>,
    item: Option<usize>,
    line: Option<usize>,
    /// The `--policy` manifest that judged the object, and its mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: Option<&'a str>,
    level: &'static str,
    path: Option<&'a str>,
    message: &'a str,
    line: Option<usize>,
    column: Option<usize>,
}

/// The machine report for one object (one JSON line).
pub fn render_json(r: &ObjectReport) -> String {
    let object = r.object.as_ref();
    let report = JsonReport {
        kind: object.map(|o| o.kind.kind.as_str()),
        api_version: object.map(|o| o.api_version.as_str()),
        namespace: object.and_then(|o| o.namespace.as_deref()),
        name: object.and_then(|o| o.name.as_deref()),
        verdict: r.verdict.as_str(),
        message: r.message.as_deref(),
        code: r.code,
        rules: &r.rules,
        patch: &r.patch,
        warnings: &r.warnings,
        findings: r
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule: f.rule.as_deref(),
                level: f.level.as_str(),
                path: f.path.as_deref(),
                message: &f.message,
                line: f.line,
                column: f.column,
            })
            .collect(),
        file: &r.location.file,
        document: r.location.document,
        item: r.location.item,
        line: r.location.line,
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
    use crate::outcome::Location;
    use crate::request::object;
    use crate::request::ManifestObject;
    use serde_json::json;

    fn at(document: usize) -> Location {
        Location {
            file: "f.yaml".into(),
            document: Some(document),
            item: None,
            line: Some(document * 10),
        }
    }

    fn report(document: usize, object: ManifestObject, verdict: Verdict) -> ObjectReport {
        ObjectReport::new(at(document), Some(object), verdict)
    }

    #[test]
    fn text_report_shows_verdicts_patches_messages_and_summary() {
        let mut allowed = report(1, object("v1", "Pod", Some("ns"), "a"), Verdict::Allowed);
        allowed.warnings = vec!["careful".into()];
        let mut mutated = report(2, object("apps/v1", "Deployment", Some("ns"), "b"), Verdict::Mutated);
        mutated.patch_lines = vec![r#"add /spec/x {"a":1}"#.into()];
        let mut rejected = report(3, object("v1", "Pod", None, "c"), Verdict::Rejected);
        rejected.message = Some("first line\nsecond line".into());
        rejected.code = Some(403);
        let skipped = report(4, object("v1", "ConfigMap", Some("ns"), "d"), Verdict::Skipped);
        let mut old = report(5, object("apps/v1beta1", "Deployment", None, "e"), Verdict::Skipped);
        old.message = Some("apps/v1beta1 Deployment is not served".into());
        let reports = vec![allowed, mutated, rejected, skipped, old];
        let text = render_text(&reports, &[]);
        let expected = "Pod ns/a: allowed\n    warning: careful\nDeployment ns/b: mutated\n    add /spec/x {\"a\":1}\nPod c: rejected (code 403)\n    first line\n    second line\nConfigMap ns/d: skipped (not covered by the policy's rules)\nDeployment e: skipped: apps/v1beta1 Deployment is not served\n\n5 objects: 1 allowed, 1 mutated, 1 rejected, 2 skipped\n";
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
        r.rules = vec!["env-secret-ref".into(), "plain-secret-volume".into()];
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
        use crate::outcome::JudgedBy;
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
