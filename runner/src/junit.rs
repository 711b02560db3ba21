//! The `check` report as JUnit XML, the format CI systems show as tests:
//! one testsuite per manifest file, one testcase per object. A rejection is
//! a failure (its message the policy's summary line, its text each finding
//! after its `file:line:col`), a skipped object is skipped, and a document
//! that could not be read or evaluated is an error. Written by quick-junit
//! (nextest's JUnit model), which escapes what XML needs and drops the
//! characters XML 1.0 cannot hold.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{Finding, Level, ObjectReport, Verdict, SKIPPED_NOTE};

/// `Pod ns/a (document 2)`: unique within its file, so that CI tools that key
/// testcases by name keep two objects of the same kind and name apart.
fn testcase_name(r: &ObjectReport) -> String {
    let place: Vec<String> = r.location.within_file().collect();
    match (&r.object, place.is_empty()) {
        (Some(object), false) => format!("{} ({})", object.display(), place.join(", ")),
        (Some(object), true) => object.display(),
        (None, false) => place.join(", "),
        (None, true) => "(file)".to_string(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// `m.yaml:7:9: [id] path: text`, one line a finding (`m.yaml:7:9 (from
/// chart/templates/x.yaml): ...` when the document names its template).
fn placed<'f>(r: &ObjectReport, findings: impl Iterator<Item = &'f Finding>) -> Vec<String> {
    findings.map(|f| format!("{}: {}", r.place_of(f), f.said())).collect()
}

fn testcase(r: &ObjectReport) -> TestCase {
    let message = r.message.as_deref().unwrap_or_default();
    let status = match r.verdict {
        Verdict::Allowed | Verdict::Mutated => TestCaseStatus::success(),
        Verdict::Rejected => {
            let summary = first_line(message);
            let rejects = r.findings.iter().filter(|f| f.level == Level::Reject);
            let mut text = vec![summary.to_string()];
            text.extend(placed(r, rejects));
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(summary)
                .set_type("rejected")
                .set_description(text.join("\n"));
            status
        }
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(r.message.as_deref().unwrap_or(SKIPPED_NOTE));
            status
        }
        Verdict::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(first_line(message))
                .set_type("error")
                .set_description(message);
            status
        }
    };
    let mut case = TestCase::new(testcase_name(r), status);
    case.set_classname(r.location.file.as_str());
    if let Some(template) = &r.location.template {
        case.extra.insert("source".into(), template.as_str().into());
    }
    // What an accepted object's testcase shows: the patch and the warnings.
    let shown = r.findings.iter().filter(|f| f.level != Level::Reject);
    let out = placed(r, shown);
    if !out.is_empty() {
        case.set_system_out(out.join("\n"));
    }
    case
}

/// The whole JUnit document; `name` names the run (the policy module).
pub fn render(reports: &[ObjectReport], name: &str) -> String {
    let mut files: Vec<&str> = Vec::new();
    for r in reports {
        if !files.contains(&r.location.file.as_str()) {
            files.push(&r.location.file);
        }
    }
    let mut report = Report::new(format!("policy-runner check {name}"));
    for file in files {
        let mut suite = TestSuite::new(file);
        suite.add_test_cases(reports.iter().filter(|r| r.location.file == file).map(testcase));
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- cannot write the report: {e} -->\n<testsuites/>\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ManifestObject;
    use crate::results::Location;
    use serde_json::json;

    fn object(kind: &str, name: &str) -> ManifestObject {
        ManifestObject::new(json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}})).unwrap()
    }

    fn at(file: &str, document: usize) -> Location {
        Location {
            file: file.into(),
            document: Some(document),
            item: None,
            line: Some(1),
            template: None,
        }
    }

    #[test]
    fn every_verdict_becomes_its_junit_element() {
        let mut rejected = ObjectReport::new(at("a.yaml", 1), Some(object("Pod", "p")), Verdict::Rejected);
        rejected.message = Some("Pod p breaks <rules>:\n[r] spec: line & two".into());
        rejected.findings = vec![Finding {
            rule_id: Some("r".into()),
            level: Level::Reject,
            path: Some("spec".into()),
            message: "line & two".into(),
            line: Some(4),
            column: Some(1),
            written: Some("[r] spec: line & two".into()),
            operation: None,
        }];
        let mut same_name = ObjectReport::new(at("a.yaml", 2), Some(object("Pod", "p")), Verdict::Allowed);
        same_name.findings = vec![Finding {
            rule_id: None,
            level: Level::Warn,
            path: None,
            message: "careful \u{1b}[1mnow".into(),
            line: Some(9),
            column: None,
            written: Some("careful \u{1b}[1mnow".into()),
            operation: None,
        }];
        let mut skipped = ObjectReport::new(at("b.yaml", 1), Some(object("ConfigMap", "c")), Verdict::Skipped);
        skipped.message = None;
        let mut error = ObjectReport::new(at("b.yaml", 2), None, Verdict::Error);
        error.message = Some("invalid YAML: \"x\"\u{1}".into());
        let xml = render(&[rejected, same_name, skipped, error], "policy.wasm");
        // ANSI escapes and characters XML 1.0 cannot hold are dropped
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="policy-runner check policy.wasm" tests="4" skipped="1" failures="1" errors="1">
    <testsuite name="a.yaml" tests="2" skipped="0" errors="0" failures="1">
        <testcase name="Pod p (document 1)" classname="a.yaml">
            <failure message="Pod p breaks &lt;rules&gt;:" type="rejected">Pod p breaks &lt;rules&gt;:
a.yaml:4:1: [r] spec: line &amp; two</failure>
        </testcase>
        <testcase name="Pod p (document 2)" classname="a.yaml">
            <system-out>a.yaml:9: warning: careful now</system-out>
        </testcase>
    </testsuite>
    <testsuite name="b.yaml" tests="2" skipped="1" errors="1" failures="0">
        <testcase name="ConfigMap c (document 1)" classname="b.yaml">
            <skipped message="skipped (not covered by the policy&apos;s rules)"/>
        </testcase>
        <testcase name="document 2" classname="b.yaml">
            <error message="invalid YAML: &quot;x&quot;" type="error">invalid YAML: &quot;x&quot;</error>
        </testcase>
    </testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }
}
