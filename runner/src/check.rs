//! `policy-runner check`: evaluate manifests as CREATE requests (policy CI).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{CheckArgs, OutputFormat};
use crate::host::{HostOptions, Policy, PolicyInstance};
use crate::input::{expand_lists, load_settings, origin_name, parse_documents, read_text};
use crate::metadata::{metadata_path, PolicyMetadata};
use crate::patch;
use crate::request::ManifestObject;
use crate::response::admission_response;

/// Exit codes of `check`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The result for one manifest object.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    pub source: String,
    pub object: ManifestObject,
    pub verdict: Verdict,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub patch: Vec<Value>,
    pub patch_lines: Vec<String>,
    pub warnings: Vec<String>,
}

impl ObjectReport {
    fn new(source: &str, object: ManifestObject, verdict: Verdict) -> ObjectReport {
        ObjectReport {
            source: source.to_string(),
            object,
            verdict,
            message: None,
            code: None,
            patch: Vec::new(),
            patch_lines: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

pub const SKIPPED_NOTE: &str = "skipped (not covered by the policy's rules)";

/// Which objects the policy sees.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// `None`: no metadata, every object is evaluated.
    pub metadata: Option<PolicyMetadata>,
    /// `apiVersion/Kind` keys of the settings' `podSpecPaths`.
    pub extra_kinds: BTreeSet<String>,
}

impl Coverage {
    pub fn new(metadata: Option<PolicyMetadata>, settings: &Value) -> Coverage {
        let extra_kinds = settings
            .get("podSpecPaths")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Coverage { metadata, extra_kinds }
    }

    pub fn covers(&self, object: &ManifestObject) -> bool {
        match &self.metadata {
            None => true,
            Some(meta) => meta.covers(&object.resource, "CREATE") || self.extra_kinds.contains(&object.kind_key()),
        }
    }
}

/// Reads every manifest into objects (Lists expanded), with their origin.
pub fn read_manifests(paths: &[String]) -> Result<Vec<(String, ManifestObject)>> {
    let mut objects = Vec::new();
    let mut stdin_used = false;
    for path in paths {
        if path == "-" {
            if stdin_used {
                bail!("standard input (`-`) can be given only once");
            }
            stdin_used = true;
        }
        let origin = origin_name(path);
        let text = read_text(path, "manifest")?;
        let docs = parse_documents(&text).with_context(|| format!("cannot parse {origin}"))?;
        for (index, doc) in expand_lists(docs).into_iter().enumerate() {
            let object = ManifestObject::new(doc).with_context(|| format!("{origin}: object {}", index + 1))?;
            objects.push((origin.clone(), object));
        }
    }
    Ok(objects)
}

fn fresh_instance(policy: &Policy) -> Result<PolicyInstance> {
    let instance = policy.instantiate()?;
    instance.check_protocol_version()?;
    Ok(instance)
}

pub fn check(args: &CheckArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let objects = read_manifests(&args.manifests)?;
    let metadata = metadata_path(args.metadata.as_deref(), &args.policy)
        .map(|path| PolicyMetadata::load(&path))
        .transpose()?;
    let coverage = Coverage::new(metadata, &settings);

    let options = HostOptions {
        verbose,
        track_memory: false,
        deadline: args.deadline.deadline(),
    };
    let (policy, mut instance) = Policy::open(&args.policy, options)?;
    instance.require_valid_settings(&settings)?;

    let mut reports = Vec::with_capacity(objects.len());
    for (index, (source, object)) in objects.into_iter().enumerate() {
        if !coverage.covers(&object) {
            reports.push(ObjectReport::new(&source, object, Verdict::Skipped));
            continue;
        }
        let request = object.create_request(format!("check-{}", index + 1));
        let evaluated = request
            .validate_payload(&settings)
            .and_then(|payload| instance.validate(&payload))
            .and_then(|v| admission_response(&request.uid, request.object.as_ref(), &v));
        let report = match evaluated {
            Ok(outcome) => {
                let response = outcome.response;
                let verdict = match (response.allowed, &outcome.patch) {
                    (false, _) => Verdict::Rejected,
                    (true, Some(_)) => Verdict::Mutated,
                    (true, None) => Verdict::Allowed,
                };
                let mut report = ObjectReport::new(&source, object, verdict);
                if let Some(status) = response.status {
                    report.message = status.message;
                    report.code = status.code;
                }
                if verdict == Verdict::Mutated {
                    if let Some(p) = &outcome.patch {
                        report.patch = patch::operations(p);
                        report.patch_lines = patch::readable_lines(p);
                    }
                }
                report.warnings = response.warnings.unwrap_or_default();
                report
            }
            Err(err) => {
                let mut report = ObjectReport::new(&source, object, Verdict::Error);
                report.message = Some(format!("{err:#}"));
                // A trap can leave the guest's state broken: start afresh.
                instance =
                    fresh_instance(&policy).map_err(|e| anyhow!("cannot re-create the policy instance: {e:#}"))?;
                report
            }
        };
        reports.push(report);
    }

    let mut stdout = std::io::stdout().lock();
    let written = match args.output {
        OutputFormat::Text => write!(stdout, "{}", render_text(&reports)),
        OutputFormat::Json => {
            let mut result = Ok(());
            for report in &reports {
                result = writeln!(stdout, "{}", render_json(report));
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                eprintln!("{}", summary(&reports));
            }
            result
        }
    };
    written
        .and_then(|()| stdout.flush())
        .context("cannot write the report to standard output")?;
    Ok(exit_code(&reports))
}

pub fn exit_code(reports: &[ObjectReport]) -> u8 {
    if reports.iter().any(|r| r.verdict == Verdict::Error) {
        EXIT_ERROR
    } else if reports.iter().any(|r| r.verdict == Verdict::Rejected) {
        EXIT_REJECTED
    } else {
        EXIT_OK
    }
}

pub fn summary(reports: &[ObjectReport]) -> String {
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    let n = reports.len();
    let mut line = format!(
        "{n} object{}: {} allowed, {} mutated, {} rejected, {} skipped",
        if n == 1 { "" } else { "s" },
        count(Verdict::Allowed),
        count(Verdict::Mutated),
        count(Verdict::Rejected),
        count(Verdict::Skipped),
    );
    let errors = count(Verdict::Error);
    if errors > 0 {
        line.push_str(&format!(", {errors} error{}", if errors == 1 { "" } else { "s" }));
    }
    line
}

const INDENT: &str = "    ";

/// The human report: one block per object, then the summary line.
pub fn render_text(reports: &[ObjectReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let mut head = format!("{}: ", r.object.display());
        match r.verdict {
            Verdict::Skipped => head.push_str(SKIPPED_NOTE),
            Verdict::Rejected => {
                head.push_str("rejected");
                if let Some(code) = r.code {
                    head.push_str(&format!(" (code {code})"));
                }
            }
            other => head.push_str(other.as_str()),
        }
        out.push_str(&head);
        out.push('\n');
        for line in &r.patch_lines {
            out.push_str(&format!("{INDENT}{line}\n"));
        }
        if let Some(message) = &r.message {
            for line in message.lines() {
                out.push_str(&format!("{INDENT}{line}\n"));
            }
        }
        for warning in &r.warnings {
            let mut lines = warning.lines();
            out.push_str(&format!("{INDENT}warning: {}\n", lines.next().unwrap_or_default()));
            for line in lines {
                out.push_str(&format!("{INDENT}  {line}\n"));
            }
        }
    }
    if !reports.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary(reports));
    out.push('\n');
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    kind: &'a str,
    api_version: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    verdict: &'static str,
    message: Option<&'a str>,
    code: Option<u16>,
    patch: &'a [Value],
    warnings: &'a [String],
    source: &'a str,
}

/// The machine report for one object (one JSON line).
pub fn render_json(r: &ObjectReport) -> String {
    let report = JsonReport {
        kind: &r.object.kind.kind,
        api_version: &r.object.api_version,
        namespace: r.object.namespace.as_deref(),
        name: r.object.name.as_deref(),
        verdict: r.verdict.as_str(),
        message: r.message.as_deref(),
        code: r.code,
        patch: &r.patch,
        warnings: &r.warnings,
        source: &r.source,
    };
    serde_json::to_string(&report).unwrap_or_else(|e| {
        serde_json::json!({"verdict": "error", "message": format!("cannot serialise report: {e}")}).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Rule;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> ManifestObject {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        ManifestObject::new(json!({"apiVersion": api_version, "kind": kind, "metadata": meta})).unwrap()
    }

    #[test]
    fn coverage_uses_rules_and_pod_spec_paths() {
        let meta = PolicyMetadata {
            rules: vec![Rule {
                api_groups: vec!["".into(), "apps".into()],
                api_versions: vec!["v1".into()],
                resources: vec!["pods".into(), "deployments".into()],
                operations: vec!["CREATE".into()],
            }],
            mutating: false,
        };
        let settings = json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"]}});
        let cov = Coverage::new(Some(meta), &settings);
        assert!(cov.covers(&object("v1", "Pod", None, "p")));
        assert!(cov.covers(&object("apps/v1", "Deployment", None, "d")));
        assert!(cov.covers(&object("argoproj.io/v1alpha1", "Rollout", None, "r")));
        assert!(!cov.covers(&object("v1", "ConfigMap", None, "c")));
        assert!(!cov.covers(&object("apps/v1", "StatefulSet", None, "s")));
        // no metadata: everything is evaluated
        let all = Coverage::new(None, &json!({}));
        assert!(all.covers(&object("v1", "ConfigMap", None, "c")));
    }

    #[test]
    fn text_report_shows_verdicts_patches_messages_and_summary() {
        let mut allowed = ObjectReport::new("f", object("v1", "Pod", Some("ns"), "a"), Verdict::Allowed);
        allowed.warnings = vec!["careful".into()];
        let mut mutated = ObjectReport::new("f", object("apps/v1", "Deployment", Some("ns"), "b"), Verdict::Mutated);
        mutated.patch_lines = vec![r#"add /spec/x {"a":1}"#.into()];
        let mut rejected = ObjectReport::new("f", object("v1", "Pod", None, "c"), Verdict::Rejected);
        rejected.message = Some("first line\nsecond line".into());
        rejected.code = Some(403);
        let skipped = ObjectReport::new("f", object("v1", "ConfigMap", Some("ns"), "d"), Verdict::Skipped);
        let reports = vec![allowed, mutated, rejected, skipped];
        let text = render_text(&reports);
        let expected = "Pod ns/a: allowed\n    warning: careful\nDeployment ns/b: mutated\n    add /spec/x {\"a\":1}\nPod c: rejected (code 403)\n    first line\n    second line\nConfigMap ns/d: skipped (not covered by the policy's rules)\n\n4 objects: 1 allowed, 1 mutated, 1 rejected, 1 skipped\n";
        assert_eq!(text, expected);
        assert_eq!(exit_code(&reports), EXIT_REJECTED);
        assert_eq!(exit_code(&reports[..2]), EXIT_OK);
        assert_eq!(exit_code(&reports[3..]), EXIT_OK);
        let error = ObjectReport::new("f", object("v1", "Pod", None, "e"), Verdict::Error);
        assert_eq!(exit_code(std::slice::from_ref(&error)), EXIT_ERROR);
        assert!(summary(&[error]).ends_with(", 1 error"));
    }

    #[test]
    fn json_report_has_one_object_per_line() {
        let mut r = ObjectReport::new("m.yaml", object("v1", "Pod", Some("ns"), "p"), Verdict::Mutated);
        r.patch = vec![json!({"op": "add", "path": "/x", "value": 1})];
        let line = render_json(&r);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(r#"{"kind":"Pod","apiVersion":"v1","namespace":"ns","name":"p","verdict":"mutated""#),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "Pod");
        assert_eq!(v["namespace"], "ns");
        assert_eq!(v["name"], "p");
        assert_eq!(v["verdict"], "mutated");
        assert_eq!(v["patch"][0]["op"], "add");
        assert_eq!(v["warnings"], json!([]));
        assert_eq!(v["message"], Value::Null);
        assert_eq!(v["source"], "m.yaml");
    }

    #[test]
    fn manifests_are_read_and_expanded() {
        let dir = std::env::temp_dir().join(format!("policy-runner-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.yaml");
        std::fs::write(
            &file,
            "# Source: x\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: n}\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let objects = read_manifests(std::slice::from_ref(&path)).unwrap();
        let names: Vec<_> = objects.iter().map(|(_, o)| o.display()).collect();
        assert_eq!(names, ["Pod a", "Deployment n/b"]);

        std::fs::write(&file, "apiVersion: v1\nkind: Pod\n---\n- just\n- a list\n").unwrap();
        let err = format!("{:#}", read_manifests(&[path]).unwrap_err());
        assert!(err.contains("object 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
