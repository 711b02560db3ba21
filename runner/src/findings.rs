//! What a policy says about an object, as findings placed in the user's file.
//!
//! The runner knows nothing of a policy's rules; it reads a convention that
//! any policy can follow (runner/README.md, "Findings"):
//!
//! - the first line of a rejection message is its summary; every other
//!   non-blank line is one finding, and so is every admission warning;
//! - a finding written `[id] path: text` breaks rule `id` at the field
//!   `path`, a Kubernetes field path as kubectl and the API server write them
//!   (`spec.containers[0].env[1]`); a key with dots or other odd characters
//!   may be quoted (`metadata.annotations["example.com/x"]`), and an
//!   unquoted one is matched against the object's keys, dots and all; a
//!   leading `$` or `.` is the object itself, an empty path too;
//! - `[id] text` breaks rule `id` with no field; any other text is a finding
//!   without a rule or a field (a rejection whose message is its summary
//!   alone is one such finding). A finding without a rule whose object names
//!   exactly one rule in its audit annotations is given that rule;
//! - each operation of a mutation's JSON patch is a finding of its own, at
//!   the deepest part of the operation's path that the submitted object has
//!   (an added `volumeMounts` is placed at its container).
//!
//! A field is placed at its key in the file ([`Source::position`]), or at
//! its nearest ancestor written there (a node reached through an alias or a
//! merge key is not); a finding without a field is placed at the object.

use serde_json::Value;

use crate::manifests::Source;
use crate::patch::{self, Patch};
use crate::results::{Finding, Level, ObjectReport, Verdict};

/// One step of a field path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// An unquoted key: may be part of a key with dots in it.
    Name(String),
    /// A quoted key, `["a.b"]` or `['a.b']`.
    Key(String),
    /// `[2]`: an item of a list (or the key `2` of a map).
    Index(String),
    /// `[*]` and the like: nothing below it can be placed.
    Any,
}

/// What one line or warning says: rule, field, text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    rule: Option<String>,
    path: Option<String>,
    text: String,
}

/// Reads `[id] path: text`, `[id] text` or `text`.
fn read_said(line: &str) -> Said {
    let plain = || Said {
        rule: None,
        path: None,
        text: line.to_string(),
    };
    let Some((rule, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) else {
        return plain();
    };
    let rule_ok = !rule.is_empty() && !rule.contains(|c: char| c.is_whitespace() || c == '[');
    let rest = match rest.strip_prefix(' ') {
        Some(rest) if rule_ok => rest,
        None if rule_ok && rest.is_empty() => rest,
        _ => return plain(),
    };
    let rule = Some(rule.to_string());
    match path_end(rest) {
        Some(end) if steps(&rest[..end]).is_some() => Said {
            rule,
            path: Some(rest[..end].to_string()),
            text: rest[end + 1..].trim_start().to_string(),
        },
        _ => Said {
            rule,
            path: None,
            text: rest.to_string(),
        },
    }
}

/// Where the path of `path: text` ends (at its `:`): the first `:` outside
/// brackets that a space or the end follows, before any space outside them.
fn path_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' if depth > 0 => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            ':' if depth == 0 && chars.peek().is_none_or(|(_, next)| *next == ' ') => return Some(at),
            c if depth == 0 && c.is_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// The steps of a field path, `None` when it is not one.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    let mut out = Vec::new();
    let mut after_dot = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if after_dot {
                return None; // `a..b`
            }
            after_dot = true;
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let (step, r) = bracket(r)?;
            out.push(step);
            rest = r;
        } else {
            let end = rest.find(['.', '[', ']', '"', '\'']).unwrap_or(rest.len());
            if end == 0 || rest[..end].contains(char::is_whitespace) {
                return None;
            }
            out.push(Step::Name(rest[..end].to_string()));
            rest = &rest[end..];
        }
        after_dot = false;
    }
    (!after_dot || out.is_empty()).then_some(out)
}

/// The step of a bracket whose `[` has been read, and the text after its `]`.
fn bracket(text: &str) -> Option<(Step, &str)> {
    if text.starts_with('"') {
        // JSON string syntax: serde_json decodes it and says where it ends.
        let mut strings = serde_json::Deserializer::from_str(text).into_iter::<String>();
        let key = strings.next()?.ok()?;
        return Some((Step::Key(key), text[strings.byte_offset()..].strip_prefix(']')?));
    }
    if let Some(r) = text.strip_prefix('\'') {
        // JSONPath's single quotes: `\'` and `\\` are escapes.
        let mut key = String::new();
        let mut chars = r.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => key.push(chars.next()?.1),
                '\'' => return Some((Step::Key(key), r[at + 1..].strip_prefix(']')?)),
                c => key.push(c),
            }
        }
        return None;
    }
    let (inside, rest) = text.split_once(']')?;
    let step = match inside {
        "" => return None,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => Step::Index(digits.to_string()),
        _ if inside.contains(['[', '"', '\'']) => return None,
        _ => Step::Any,
    };
    Some((step, rest))
}

/// The pointer tokens of the deepest part of `steps` that `value` has, and
/// whether that is all of it. An unquoted name may be a key with dots in it:
/// `a.b.c` is tried as `a`, then `a.b` and so on; the first reading that
/// reaches the end wins, else the one that reaches deepest.
fn resolve(value: &Value, steps: &[Step]) -> (Vec<String>, bool) {
    let Some(first) = steps.first() else {
        return (Vec::new(), true);
    };
    let mut readings: Vec<(String, &[Step])> = Vec::new();
    match first {
        Step::Key(key) | Step::Index(key) => readings.push((key.clone(), &steps[1..])),
        Step::Name(_) => {
            let mut key = String::new();
            for (taken, step) in steps.iter().enumerate() {
                let Step::Name(name) = step else { break };
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(name);
                readings.push((key.clone(), &steps[taken + 1..]));
            }
        }
        Step::Any => {}
    }
    let mut best = (Vec::new(), false);
    for (key, rest) in readings {
        let Some(next) = child(value, &key) else {
            continue;
        };
        let (below, complete) = resolve(next, rest);
        let mut tokens = vec![key];
        tokens.extend(below);
        if complete {
            return (tokens, true);
        }
        if tokens.len() > best.0.len() {
            best = (tokens, false);
        }
    }
    best
}

fn child<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    }
}

fn pointer(tokens: &[String]) -> String {
    jsonptr::PointerBuf::from_tokens(tokens.iter().map(String::as_str)).to_string()
}

/// The tokens of a JSON pointer (none when it is not one).
fn pointer_tokens(pointer: &str) -> Vec<String> {
    jsonptr::Pointer::parse(pointer)
        .map(|p| p.tokens().map(|t| t.decoded().into_owned()).collect())
        .unwrap_or_default()
}

/// The deepest part of `tokens` that `value` has.
fn existing(value: &Value, tokens: &[String]) -> usize {
    let mut current = value;
    for (depth, token) in tokens.iter().enumerate() {
        match child(current, token) {
            Some(next) => current = next,
            None => return depth,
        }
    }
    tokens.len()
}

/// Where the node at `tokens` is written, or its nearest written ancestor.
fn place(source: Option<&Source>, tokens: &[String]) -> Option<(usize, usize)> {
    let source = source?;
    let at = (0..=tokens.len())
        .rev()
        .find_map(|depth| source.position(&pointer(&tokens[..depth])))?;
    Some((at.line, at.column))
}

/// Splits what the policy answered about `report`'s object (its message,
/// `warnings` and `patch`) into the report's findings, each placed in the
/// file: the rejection message's lines after its summary, the warnings, the
/// patch operations. The one place a policy's answer is read.
pub fn read_answer(report: &mut ObjectReport, warnings: &[String], patch: Option<&Patch>, source: Option<&Source>) {
    let Some(object) = &report.object else {
        return;
    };
    let placing = Placing {
        object: &object.object,
        source,
        object_line: report.location.line,
        sole_rule: match report.rule_ids.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
    };
    let mut out = Vec::new();
    if report.verdict == Verdict::Rejected {
        let message = report.message.as_deref().unwrap_or_default();
        let mut lines = message.lines().filter(|l| !l.trim().is_empty());
        let summary = lines.next();
        out.extend(lines.map(|line| placing.finding(Level::Reject, read_said(line), line)));
        match (summary, out.is_empty()) {
            (Some(summary), false) => report.summary = Some(summary.to_string()),
            // The summary is all the policy said: it is the finding.
            (Some(summary), true) => out.push(placing.finding(Level::Reject, read_said(summary), summary)),
            (None, _) => {
                let mut finding = placing.finding(Level::Reject, read_said("rejected, without a message"), "");
                finding.written = None;
                out.push(finding);
            }
        }
    }
    if matches!(report.verdict, Verdict::Allowed | Verdict::Mutated | Verdict::Rejected) {
        for warning in warnings {
            let (first, more) = warning.split_once('\n').unwrap_or((warning, ""));
            let mut said = read_said(first);
            if !more.is_empty() {
                said.text = format!("{}\n{more}", said.text);
            }
            out.push(placing.finding(Level::Warn, said, warning));
        }
    }
    if let (Verdict::Mutated, Some(patch)) = (report.verdict, patch) {
        out.extend(patch::operations(patch).into_iter().map(|op| placing.operation(op)));
    }
    report.findings = out;
}

/// What placing an object's findings needs.
struct Placing<'a> {
    object: &'a Value,
    source: Option<&'a Source>,
    /// Where the object starts, when its source is unknown.
    object_line: Option<usize>,
    /// The rule of findings that name none, when the object's rule
    /// annotation names exactly one.
    sole_rule: Option<String>,
}

impl Placing<'_> {
    /// The place of the node at `tokens`, or of its nearest written
    /// ancestor, else of the object.
    fn at(&self, tokens: &[String]) -> (Option<usize>, Option<usize>) {
        match place(self.source, tokens) {
            Some((line, column)) => (Some(line), Some(column)),
            None => (self.object_line, None),
        }
    }

    fn finding(&self, level: Level, said: Said, written: &str) -> Finding {
        let tokens = said.path.as_deref().map(|path| placed_tokens(self.object, level, path));
        let (line, column) = self.at(&tokens.unwrap_or_default());
        Finding {
            rule_id: said.rule.or_else(|| self.sole_rule.clone()),
            level,
            path: said.path,
            message: said.text,
            line,
            column,
            written: Some(written.to_string()),
            operation: None,
        }
    }

    /// A patch operation, at the deepest part of its path the object has.
    fn operation(&self, op: Value) -> Finding {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default().to_string();
        let (line, column) = self.at(&placed_tokens(self.object, Level::Mutation, &path));
        let text = patch::readable(&op);
        Finding {
            rule_id: None,
            level: Level::Mutation,
            path: Some(path),
            message: text.clone(),
            line,
            column,
            written: Some(text),
            operation: Some(op),
        }
    }
}

/// The pointer tokens of where a finding of `level` about `path` is placed
/// in `object`: the deepest part of a patch operation's path that the object
/// has, or of the field path's.
fn placed_tokens(object: &Value, level: Level, path: &str) -> Vec<String> {
    if level != Level::Mutation {
        return steps(path).map(|steps| resolve(object, &steps).0).unwrap_or_default();
    }
    let mut tokens = pointer_tokens(path);
    tokens.truncate(existing(object, &tokens));
    tokens
}

/// The last mapping key on the way to where `finding` is placed in `object`
/// (`mountPath`; `env` for an item of `env`): the word that names the field
/// in a chart template ([`crate::helm_source::key_line`]). `None` for a
/// finding placed at the object itself.
pub(crate) fn placed_key(object: &Value, finding: &Finding) -> Option<String> {
    let tokens = placed_tokens(object, finding.level, finding.path.as_deref()?);
    let mut current = object;
    let mut key = None;
    for token in tokens {
        if current.is_object() {
            key = Some(token.clone());
        }
        current = child(current, &token)?;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn said(rule: Option<&str>, path: Option<&str>, text: &str) -> Said {
        Said {
            rule: rule.map(str::to_string),
            path: path.map(str::to_string),
            text: text.to_string(),
        }
    }

    #[test]
    fn lines_are_read_as_rule_field_and_text() {
        assert_eq!(
            read_said("[env-secret-ref] spec.template.spec.containers[0].env[0]: container \"app\": env"),
            said(
                Some("env-secret-ref"),
                Some("spec.template.spec.containers[0].env[0]"),
                "container \"app\": env"
            )
        );
        assert_eq!(
            read_said("[r] metadata.annotations[\"a.b/c: d\"]: text"),
            said(Some("r"), Some("metadata.annotations[\"a.b/c: d\"]"), "text")
        );
        // the pod spec at the object's root: a dot-led path, or none at all
        assert_eq!(
            read_said("[r] .containers[0]: x"),
            said(Some("r"), Some(".containers[0]"), "x")
        );
        assert_eq!(read_said("[r] : x"), said(Some("r"), Some(""), "x"));
        assert_eq!(
            read_said("[r] $.spec['a b']: x"),
            said(Some("r"), Some("$.spec['a b']"), "x")
        );
        // a rule without a field, a field that is not a path, no rule at all
        assert_eq!(read_said("[r] the object: x"), said(Some("r"), None, "the object: x"));
        assert_eq!(read_said("[r] just words"), said(Some("r"), None, "just words"));
        assert_eq!(read_said("[r]"), said(Some("r"), None, ""));
        assert_eq!(read_said("container \"a\": x"), said(None, None, "container \"a\": x"));
        assert_eq!(read_said("[not a rule] a: b"), said(None, None, "[not a rule] a: b"));
        assert_eq!(read_said("[r]x: y"), said(None, None, "[r]x: y"));
        // a colon inside a key is not the end of the path
        assert_eq!(read_said("[r] a:b.c: t"), said(Some("r"), Some("a:b.c"), "t"));
    }

    const WORKLOAD: &str = "# Source: chart/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        env: &env\n        - name: X\n          valueFrom: {secretKeyRef: {name: s, key: k}}\n      - name: b\n        env: *env\n";

    /// The findings [`read_answer`] makes of an answer.
    fn findings(
        report: &mut ObjectReport,
        warnings: &[String],
        patch: Option<&Patch>,
        source: Option<&Source>,
    ) -> Vec<Finding> {
        read_answer(report, warnings, patch, source);
        std::mem::take(&mut report.findings)
    }

    fn judged(verdict: Verdict) -> (ObjectReport, Option<Source>) {
        let entry = crate::manifests::file_entries("d.yaml", WORKLOAD).remove(0);
        let report = ObjectReport::new(entry.location, entry.content.ok(), verdict);
        (report, entry.source)
    }

    type Placed<'f> = (Option<&'f str>, Level, Option<usize>, Option<usize>);

    fn places(findings: &[Finding]) -> Vec<Placed<'_>> {
        findings
            .iter()
            .map(|f| (f.rule_id.as_deref(), f.level, f.line, f.column))
            .collect()
    }

    #[test]
    fn rejections_and_warnings_are_placed_at_their_fields_or_nearest_written_ancestor() {
        let (mut report, source) = judged(Verdict::Rejected);
        report.message = Some(
            "Deployment \"d\" breaks 3 rules:\n[env-secret-ref] spec.template.spec.containers[0].env[0]: a\n\n[env-secret-ref] spec.template.spec.containers[1].env[0]: b\nno rule, no field"
                .into(),
        );
        let warnings = [
            "[other] spec.template.spec.volumes[0]: w\nmore".to_string(),
            "plain".into(),
        ];
        let found = findings(&mut report, &warnings, None, source.as_ref());
        assert_eq!(
            places(&found),
            [
                (Some("env-secret-ref"), Level::Reject, Some(11), Some(11)),
                // container b's env is an alias: its item is written nowhere, its key is
                (Some("env-secret-ref"), Level::Reject, Some(14), Some(9)),
                // no field: the object's first line
                (None, Level::Reject, Some(2), Some(1)),
                // volumes do not exist: the pod spec
                (Some("other"), Level::Warn, Some(7), Some(5)),
                (None, Level::Warn, Some(2), Some(1)),
            ]
        );
        assert_eq!(found[3].message, "w\nmore");
        assert_eq!(
            found[1].path.as_deref(),
            Some("spec.template.spec.containers[1].env[0]")
        );
        // one rule in the audit annotations names the findings that name none
        report.rule_ids = vec!["env-secret-ref".into()];
        assert_eq!(
            findings(&mut report, &warnings, None, source.as_ref())[2]
                .rule_id
                .as_deref(),
            Some("env-secret-ref")
        );
        // the summary alone is the finding; with no source, the document's line
        report.message = Some("cannot parse the request".into());
        let found = findings(&mut report, &[], None, None);
        assert_eq!(places(&found), [(Some("env-secret-ref"), Level::Reject, Some(2), None)]);
        assert_eq!(found[0].message, "cannot parse the request");
    }

    #[test]
    fn patch_operations_are_placed_at_what_the_object_has_of_their_path() {
        let (mut report, source) = judged(Verdict::Mutated);
        let ops = [
            json!({"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts", "value": []}),
            json!({"op": "add", "path": "/spec/template/spec/volumes", "value": []}),
            json!({"op": "replace", "path": "/metadata/name", "value": "e"}),
        ];
        let patch: Patch = serde_json::from_value(json!(ops)).unwrap();
        let found = findings(&mut report, &[], Some(&patch), source.as_ref());
        assert_eq!(
            places(&found),
            [
                (None, Level::Mutation, Some(9), Some(9)),
                (None, Level::Mutation, Some(7), Some(5)),
                (None, Level::Mutation, Some(4), Some(12)),
            ]
        );
        assert_eq!(found[1].path.as_deref(), Some("/spec/template/spec/volumes"));
        assert_eq!(found[1].message, "add /spec/template/spec/volumes []");
    }

    #[test]
    fn paths_are_steps() {
        use Step::*;
        let name = |s: &str| Name(s.to_string());
        assert_eq!(
            steps("spec.containers[0].env[12]").unwrap(),
            [
                name("spec"),
                name("containers"),
                Index("0".into()),
                name("env"),
                Index("12".into())
            ]
        );
        assert_eq!(
            steps("$.spec['a.b'][\"c\\\"d\"][*].x").unwrap(),
            [name("spec"), Key("a.b".into()), Key("c\"d".into()), Any, name("x")]
        );
        assert_eq!(steps("").unwrap(), []);
        assert_eq!(steps("$").unwrap(), []);
        assert_eq!(steps(".containers").unwrap(), [name("containers")]);
        for bad in ["a..b", "a.", "a b", "a[", "a[]", "a[\"x]", "a]", "a['x'"] {
            assert!(steps(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn paths_resolve_against_the_object_dotted_keys_included() {
        let object = json!({"metadata": {"annotations": {"example.com/x": "1", "example": {"com": 2}}},
                            "spec": {"containers": [{"name": "a"}], "0": {"k": 1}}});
        let tokens = |path: &str| resolve(&object, &steps(path).unwrap()).0;
        assert_eq!(tokens("spec.containers[0].name"), ["spec", "containers", "0", "name"]);
        // missing below: the deepest part that exists
        assert_eq!(tokens("spec.containers[3].env"), ["spec", "containers"]);
        // an unquoted key with dots, the way display paths write it
        assert_eq!(
            tokens("metadata.annotations.example.com/x"),
            ["metadata", "annotations", "example.com/x"]
        );
        assert_eq!(
            tokens("metadata.annotations.example.com"),
            ["metadata", "annotations", "example", "com"]
        );
        assert_eq!(
            tokens("metadata.annotations[\"example.com/x\"]"),
            ["metadata", "annotations", "example.com/x"]
        );
        // `[0]` of a map is its key "0"
        assert_eq!(tokens("spec[0].k"), ["spec", "0", "k"]);
        assert_eq!(tokens("spec.containers[*].name"), ["spec", "containers"]);
        assert_eq!(
            pointer(&tokens("metadata.annotations.example.com/x")),
            "/metadata/annotations/example.com~1x"
        );
    }
}
