//! What `check` found, object by object: the verdicts, where each object
//! is, its findings, the counts and the exit code. The one model every
//! output (text, JSON, JUnit, SARIF, Code Quality, PolicyReport) renders:
//! a policy's message is split into findings once ([`crate::findings`]),
//! counted once ([`counts`]). A leaf: the outputs and `check` itself depend
//! on it, it on nothing of theirs.

use serde::Serialize;
use serde_json::Value;

use crate::request::ManifestObject;

/// Exit codes of `check`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Mutated,
    Rejected,
    Skipped,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Mutated => "mutated",
            Verdict::Rejected => "rejected",
            Verdict::Skipped => "skipped",
            Verdict::Error => "error",
        }
    }
}

/// Where an object (or an unreadable document) is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file as given (`<stdin>` for `-`).
    pub file: String,
    /// 1-based among the file's non-empty documents; `None` when the file
    /// itself could not be read.
    pub document: Option<usize>,
    /// 1-based position among the items of a `List` document.
    pub item: Option<usize>,
    /// 1-based line where the document starts (or where reading it failed).
    pub line: Option<usize>,
    /// The chart template the document was rendered from, as the `# Source:`
    /// comment before it names it ([`crate::helm_source`]).
    pub template: Option<String>,
}

impl Location {
    /// `m.yaml, document 2, line 7`, `m.yaml, document 1, item 3, line 1`.
    pub fn describe(&self) -> String {
        let line = self.line.map(|line| format!("line {line}"));
        let parts: Vec<String> = std::iter::once(self.file.clone())
            .chain(self.within_file())
            .chain(line)
            .collect();
        parts.join(", ")
    }

    /// `document 2`, `item 3`: the document, and the item of a `List`, as
    /// far as they are known.
    pub fn within_file(&self) -> impl Iterator<Item = String> {
        let document = self.document.map(|document| format!("document {document}"));
        document.into_iter().chain(self.item.map(|item| format!("item {item}")))
    }
}

/// How much a finding weighs: it rejects the object, is an admission
/// warning, or is one operation of the policy's mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Reject,
    Warn,
    Mutation,
}

/// One thing the policy said about an object, placed in the user's file:
/// a line of its rejection message, a warning, or a patch operation. Its
/// JSON form is the one of `check -o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The id of the policy's rule the finding breaks, when the policy gave
    /// one (`[id] ...`).
    #[serde(rename = "rule")]
    pub rule_id: Option<String>,
    pub level: Level,
    /// The field as the policy wrote it (`spec.containers[0].env[1]`), or
    /// the path of a patch operation; `None` when the finding names none.
    pub path: Option<String>,
    /// What the policy says (after the `[id] path: ` part), or the patch
    /// operation (`add /spec/x {...}`).
    pub message: String,
    /// 1-based line in the file: of the field (its key), else of the nearest
    /// written ancestor, else of the object.
    pub line: Option<usize>,
    /// 1-based column, in characters, on `line` (a byte order mark is not
    /// counted); `None` when only the line is known.
    pub column: Option<usize>,
    /// What the policy wrote, as it wrote it: the line of the rejection
    /// message, the whole warning, or the patch operation in words; `None`
    /// for the runner's own words (a rejection without a message).
    #[serde(skip)]
    pub written: Option<String>,
    /// The JSON patch operation of a [`Level::Mutation`].
    #[serde(skip)]
    pub operation: Option<Value>,
}

impl Finding {
    /// The finding in the convention's words: `[id] path: text` (a rule or
    /// a field the policy did not give is left out; a patch operation is
    /// its text alone), `warning: ` before a warning.
    pub fn said(&self) -> String {
        let mut out = String::new();
        if self.level == Level::Warn {
            out.push_str("warning: ");
        }
        if let Some(rule) = &self.rule_id {
            out.push_str(&format!("[{rule}] "));
        }
        if let (Some(path), false) = (&self.path, self.level == Level::Mutation) {
            out.push_str(&format!("{path}: "));
        }
        out.push_str(&self.message);
        out
    }
}

/// The result for one manifest object (or one unreadable document).
#[derive(Debug, Clone)]
pub struct ObjectReport {
    pub location: Location,
    /// `None` when the document could not be read as an object.
    pub object: Option<ManifestObject>,
    pub verdict: Verdict,
    /// The policy's message as it gave it, or why the object was skipped
    /// or could not be judged.
    pub message: Option<String>,
    pub code: Option<u16>,
    /// The first line of a rejection message whose other lines are its
    /// findings.
    pub summary: Option<String>,
    /// Ids of the policy's rules the object breaks, from its rule
    /// annotation, in the policy's order.
    pub rule_ids: Vec<String>,
    /// What the message, the warnings and the patch say, each in its place.
    pub findings: Vec<Finding>,
    /// The `--policy` manifest that judged the object; `None` without one.
    pub judged_by: Option<JudgedBy>,
}

/// A cluster's policy (`check --policy`) that judged an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedBy {
    /// `ClusterAdmissionPolicy secret-mounts`.
    pub policy: String,
    /// Its `mode` is `monitor`: a rejection is reported, never enforced.
    pub monitor: bool,
}

impl ObjectReport {
    pub fn new(location: Location, object: Option<ManifestObject>, verdict: Verdict) -> ObjectReport {
        ObjectReport {
            location,
            object,
            verdict,
            message: None,
            code: None,
            summary: None,
            rule_ids: Vec::new(),
            findings: Vec::new(),
            judged_by: None,
        }
    }

    /// Where a finding is, as the text reports write it: `m.yaml:7:9`,
    /// `m.yaml:7` or the file alone, then ` (from chart/templates/x.yaml)`
    /// when the document names its template.
    pub fn place_of(&self, finding: &Finding) -> String {
        let file = &self.location.file;
        let mut place = match (finding.line, finding.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            (Some(line), None) => format!("{file}:{line}"),
            _ => file.to_string(),
        };
        if let Some(template) = &self.location.template {
            place.push_str(&format!(" (from {template})"));
        }
        place
    }

    /// The report with `message`.
    pub fn saying(mut self, message: impl Into<Option<String>>) -> ObjectReport {
        self.message = message.into();
        self
    }

    /// The findings of one level, in order.
    pub fn of_level(&self, level: Level) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.level == level)
    }

    /// The admission warnings, as the policy gave them.
    pub fn warnings(&self) -> Vec<&str> {
        self.of_level(Level::Warn)
            .filter_map(|f| f.written.as_deref())
            .collect()
    }

    /// The JSON patch operations of a mutation.
    pub fn patch(&self) -> Vec<&Value> {
        self.of_level(Level::Mutation)
            .filter_map(|f| f.operation.as_ref())
            .collect()
    }

    /// A rejection the cluster would enforce (not one of a policy in
    /// monitor mode).
    pub fn enforced_rejection(&self) -> bool {
        self.verdict == Verdict::Rejected && !self.judged_by.as_ref().is_some_and(|j| j.monitor)
    }

    /// `Kind namespace/name`, or the place of a document that has none.
    pub fn title(&self) -> String {
        match &self.object {
            Some(object) => object.display(),
            None => self.location.describe(),
        }
    }
}

/// The runner's own rules: what it reports that no policy rule names.
pub mod own_rule {
    /// A manifest file or document that could not be read.
    pub const UNREADABLE: &str = "policy-runner/unreadable";
    /// An object the policy failed on.
    pub const EVALUATION_FAILED: &str = "policy-runner/evaluation-failed";
    /// A patch operation of a mutation.
    pub const MUTATION: &str = "policy-runner/mutation";
    /// A finding for which the policy named no rule.
    pub const UNNAMED: &str = "policy-runner/unnamed";
}

/// One thing the code-review formats (SARIF, Code Quality) report: a
/// finding of a judged object, or an object that could not be read or
/// judged (`finding` is then `None`). Skipped objects have none.
pub struct Issue<'r> {
    pub report: &'r ObjectReport,
    pub finding: Option<&'r Finding>,
    /// The policy's rule id, else one of the runner's [`own_rule`]s.
    pub rule_id: &'r str,
    /// Whether `rule_id` is one of the runner's own.
    pub own: bool,
    /// `Deployment team-a/x: spec.containers[0]: what the policy said`.
    pub message: String,
    /// 1-based: the finding's line, else the object's, else the file's first.
    pub line: usize,
    pub column: Option<usize>,
}

/// The issues of a run, object by object, finding by finding.
pub fn issues(reports: &[ObjectReport]) -> Vec<Issue<'_>> {
    let mut out = Vec::new();
    for r in reports {
        let at_object = r.location.line.unwrap_or(1);
        match r.verdict {
            Verdict::Skipped => {}
            Verdict::Error => out.push(Issue {
                report: r,
                finding: None,
                rule_id: match r.object {
                    Some(_) => own_rule::EVALUATION_FAILED,
                    None => own_rule::UNREADABLE,
                },
                own: true,
                message: format!("{}: {}", r.title(), r.message.as_deref().unwrap_or("error")),
                line: at_object,
                column: None,
            }),
            Verdict::Allowed | Verdict::Mutated | Verdict::Rejected => out.extend(r.findings.iter().map(|f| {
                let (rule_id, own) = match (&f.rule_id, f.level) {
                    (Some(id), _) => (id.as_str(), false),
                    (None, Level::Mutation) => (own_rule::MUTATION, true),
                    (None, _) => (own_rule::UNNAMED, true),
                };
                let message = match (&f.path, f.level) {
                    (Some(path), Level::Reject | Level::Warn) if !path.is_empty() => {
                        format!("{}: {path}: {}", r.title(), f.message)
                    }
                    _ => format!("{}: {}", r.title(), f.message),
                };
                Issue {
                    report: r,
                    finding: Some(f),
                    rule_id,
                    own,
                    message,
                    line: f.line.unwrap_or(at_object),
                    column: f.column,
                }
            })),
        }
    }
    out
}

/// The SHA-256 of `text`, in lowercase hex: how reports name what must stay
/// the same from run to run.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text).iter().map(|b| format!("{b:02x}")).collect()
}

pub const SKIPPED_NOTE: &str = "skipped (not covered by the policy's rules)";

pub fn exit_code(reports: &[ObjectReport]) -> u8 {
    counts(reports).exit_code
}

/// How many objects got each verdict, and the exit code they make.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub objects: usize,
    pub allowed: usize,
    pub mutated: usize,
    pub rejected: usize,
    pub skipped: usize,
    pub errors: usize,
    /// Errors before enforced rejections: [`EXIT_ERROR`], [`EXIT_REJECTED`],
    /// [`EXIT_OK`].
    pub exit_code: u8,
    /// Rejections of policies in monitor mode (among `rejected`).
    #[serde(skip)]
    pub monitored: usize,
}

pub fn counts(reports: &[ObjectReport]) -> Counts {
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    let (rejected, errors) = (count(Verdict::Rejected), count(Verdict::Error));
    let enforced = reports.iter().filter(|r| r.enforced_rejection()).count();
    Counts {
        objects: reports.len(),
        allowed: count(Verdict::Allowed),
        mutated: count(Verdict::Mutated),
        rejected,
        skipped: count(Verdict::Skipped),
        errors,
        exit_code: match (errors, enforced) {
            (0, 0) => EXIT_OK,
            (0, _) => EXIT_REJECTED,
            _ => EXIT_ERROR,
        },
        monitored: rejected - enforced,
    }
}

/// `5 objects: 1 allowed, 1 mutated, 1 rejected, 1 skipped, 1 error`.
pub fn summary(reports: &[ObjectReport]) -> String {
    let c = counts(reports);
    let monitored = match c.monitored {
        0 => String::new(),
        n => format!(" ({n} in monitor mode, not enforced)"),
    };
    let mut line = format!(
        "{} object{}: {} allowed, {} mutated, {} rejected{monitored}, {} skipped",
        c.objects,
        if c.objects == 1 { "" } else { "s" },
        c.allowed,
        c.mutated,
        c.rejected,
        c.skipped,
    );
    if c.errors > 0 {
        line.push_str(&format!(", {} error{}", c.errors, if c.errors == 1 { "" } else { "s" }));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::object;

    #[test]
    fn exit_codes_put_errors_before_rejections() {
        let at = Location::default();
        let allowed = ObjectReport::new(at.clone(), Some(object("v1", "Pod", None, "a")), Verdict::Allowed);
        let rejected = ObjectReport::new(at.clone(), Some(object("v1", "Pod", None, "b")), Verdict::Rejected);
        let error = ObjectReport::new(at, None, Verdict::Error);
        assert_eq!(exit_code(std::slice::from_ref(&allowed)), EXIT_OK);
        assert_eq!(exit_code(&[allowed.clone(), rejected.clone()]), EXIT_REJECTED);
        assert_eq!(exit_code(&[rejected.clone(), error, allowed.clone()]), EXIT_ERROR);
        // a monitor-mode policy's rejection never fails the run
        let mut monitored = rejected;
        monitored.judged_by = Some(JudgedBy {
            policy: "ClusterAdmissionPolicy p".into(),
            monitor: true,
        });
        assert_eq!(exit_code(&[allowed.clone(), monitored.clone()]), EXIT_OK);
        assert_eq!(
            summary(&[allowed, monitored]),
            "2 objects: 1 allowed, 0 mutated, 1 rejected (1 in monitor mode, not enforced), 0 skipped"
        );
    }

    #[test]
    fn locations_describe_file_document_item_and_line() {
        let at = Location {
            file: "m.yaml".into(),
            document: Some(2),
            item: Some(3),
            line: Some(7),
            template: None,
        };
        assert_eq!(at.describe(), "m.yaml, document 2, item 3, line 7");
        let file_only = Location {
            file: "gone.yaml".into(),
            ..Location::default()
        };
        assert_eq!(file_only.describe(), "gone.yaml");
    }
}
