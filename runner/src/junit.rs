//! The `check` report as JUnit XML, the format CI systems show as tests:
//! one testsuite per manifest file, one testcase per object. A rejection is
//! a failure (its text the policy's message), a skipped object is skipped,
//! and a document that could not be read or evaluated is an error.

use crate::outcome::{summary, ObjectReport, Verdict, SKIPPED_NOTE};

/// Escapes text for an XML attribute value. Characters XML 1.0 cannot hold
/// at all (most C0 controls) become U+FFFD, so the file always parses; line
/// breaks are kept as character references (an XML reader would turn raw
/// ones in an attribute into spaces).
pub fn escape(text: &str) -> String {
    escape_with(text, true)
}

/// Escapes text for XML element content, where line breaks stay as they are.
pub fn escape_text(text: &str) -> String {
    escape_with(text, false)
}

fn escape_with(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{fffd}'),
        }
    }
    out
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// `Pod ns/a (document 2)`: unique within its file, so that CI tools that key
/// testcases by name keep two objects of the same kind and name apart.
fn testcase_name(r: &ObjectReport) -> String {
    let mut place = Vec::new();
    if let Some(document) = r.location.document {
        place.push(format!("document {document}"));
    }
    if let Some(item) = r.location.item {
        place.push(format!("item {item}"));
    }
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

fn testcase(r: &ObjectReport) -> String {
    let open = format!(
        "    <testcase classname=\"{}\" name=\"{}\"",
        escape(&r.location.file),
        escape(&testcase_name(r))
    );
    let message = r.message.as_deref().unwrap_or_default();
    let body = match r.verdict {
        Verdict::Allowed | Verdict::Mutated => system_out(r),
        Verdict::Rejected => format!(
            "      <failure message=\"{}\" type=\"rejected\">{}</failure>\n",
            escape(first_line(message)),
            escape_text(message)
        ),
        Verdict::Skipped => format!(
            "      <skipped message=\"{}\"/>\n",
            escape(r.message.as_deref().unwrap_or(SKIPPED_NOTE))
        ),
        Verdict::Error => format!(
            "      <error message=\"{}\" type=\"error\">{}</error>\n",
            escape(first_line(message)),
            escape_text(message)
        ),
    };
    if body.is_empty() {
        format!("{open}/>\n")
    } else {
        format!("{open}>\n{body}    </testcase>\n")
    }
}

/// What an accepted object's testcase shows: the patch and the warnings.
fn system_out(r: &ObjectReport) -> String {
    let mut lines: Vec<String> = r.patch_lines.clone();
    lines.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
    if lines.is_empty() {
        return String::new();
    }
    format!("      <system-out>{}</system-out>\n", escape_text(&lines.join("\n")))
}

fn counts(reports: &[&ObjectReport]) -> String {
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
        reports.len(),
        count(Verdict::Rejected),
        count(Verdict::Error),
        count(Verdict::Skipped)
    )
}

/// The whole JUnit document; `name` names the run (the policy module).
pub fn render(reports: &[ObjectReport], name: &str) -> String {
    let mut files: Vec<&str> = Vec::new();
    for r in reports {
        if !files.contains(&r.location.file.as_str()) {
            files.push(&r.location.file);
        }
    }
    let all: Vec<&ObjectReport> = reports.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{}\" {}>\n",
        escape(&format!("policy-runner check {name}")),
        counts(&all)
    ));
    for file in files {
        let in_file: Vec<&ObjectReport> = reports.iter().filter(|r| r.location.file == file).collect();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" {}>\n",
            escape(file),
            counts(&in_file)
        ));
        for r in in_file {
            out.push_str(&testcase(r));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str(&format!("  <!-- {} -->\n", summary(reports).replace("--", "- -")));
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Location;
    use crate::request::ManifestObject;
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
        }
    }

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        assert_eq!(escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
        assert_eq!(escape("x\ny\u{1}z\u{1b}"), "x&#10;y\u{fffd}z\u{fffd}");
        assert_eq!(escape("ünïcødé ✓"), "ünïcødé ✓");
        assert_eq!(escape_text("a\nb\tc\u{0}<"), "a\nb\tc\u{fffd}&lt;");
    }

    #[test]
    fn every_verdict_becomes_its_junit_element() {
        let mut rejected = ObjectReport::new(at("a.yaml", 1), Some(object("Pod", "p")), Verdict::Rejected);
        rejected.message = Some("Pod p breaks <rules>:\nline & two".into());
        let same_name = ObjectReport::new(at("a.yaml", 2), Some(object("Pod", "p")), Verdict::Allowed);
        let mut skipped = ObjectReport::new(at("b.yaml", 1), Some(object("ConfigMap", "c")), Verdict::Skipped);
        skipped.message = None;
        let mut error = ObjectReport::new(at("b.yaml", 2), None, Verdict::Error);
        error.message = Some("invalid YAML: \"x\"".into());
        let xml = render(&[rejected, same_name, skipped, error], "policy.wasm");
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="policy-runner check policy.wasm" tests="4" failures="1" errors="1" skipped="1">
  <testsuite name="a.yaml" tests="2" failures="1" errors="0" skipped="0">
    <testcase classname="a.yaml" name="Pod p (document 1)">
      <failure message="Pod p breaks &lt;rules&gt;:" type="rejected">Pod p breaks &lt;rules&gt;:
line &amp; two</failure>
    </testcase>
    <testcase classname="a.yaml" name="Pod p (document 2)"/>
  </testsuite>
  <testsuite name="b.yaml" tests="2" failures="0" errors="1" skipped="1">
    <testcase classname="b.yaml" name="ConfigMap c (document 1)">
      <skipped message="skipped (not covered by the policy&apos;s rules)"/>
    </testcase>
    <testcase classname="b.yaml" name="document 2">
      <error message="invalid YAML: &quot;x&quot;" type="error">invalid YAML: &quot;x&quot;</error>
    </testcase>
  </testsuite>
  <!-- 4 objects: 1 allowed, 0 mutated, 1 rejected, 1 skipped, 1 error -->
</testsuites>
"#;
        assert_eq!(xml, expected);
    }
}
