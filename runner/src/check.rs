//! `policy-runner check`: evaluate manifests as CREATE requests (policy CI).
//!
//! Manifests are read as kubectl reads them ([`crate::manifests`]); every
//! document that can be read is judged, and each one that cannot is reported
//! as an error with its place, so one bad document hides no other.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::cli::CheckArgs;
use crate::context::cluster_state::ClusterState;
use crate::context::{declared, read_cluster_state, ContextHost, Source};
use crate::host::{HostOptions, Policy, PolicyInstance};
use crate::input::{expand_lists, load_settings, origin_name, read_text};
use crate::manifests;
use crate::metadata::{find_metadata, PolicyMetadata};
use crate::patch;
use crate::removed_apis;
use crate::report;
use crate::request::ManifestObject;
use crate::response::{admission_response, Outcome};

/// Exit codes of `check`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// The policy puts the ids of the rules an object breaks in this audit
/// annotation, comma-separated.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

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
}

impl Location {
    /// `m.yaml, document 2, line 7`, `m.yaml, document 1, item 3, line 1`.
    pub fn describe(&self) -> String {
        let mut text = self.file.clone();
        if let Some(document) = self.document {
            text.push_str(&format!(", document {document}"));
        }
        if let Some(item) = self.item {
            text.push_str(&format!(", item {item}"));
        }
        if let Some(line) = self.line {
            text.push_str(&format!(", line {line}"));
        }
        text
    }
}

/// One object of a manifest, or why a document did not give one.
#[derive(Debug, Clone)]
pub struct Entry {
    pub location: Location,
    pub content: std::result::Result<ManifestObject, String>,
}

/// The result for one manifest object (or one unreadable document).
#[derive(Debug, Clone)]
pub struct ObjectReport {
    pub location: Location,
    /// `None` when the document could not be read as an object.
    pub object: Option<ManifestObject>,
    pub verdict: Verdict,
    pub message: Option<String>,
    pub code: Option<u16>,
    /// Ids of the rules the object breaks, in the policy's order.
    pub rules: Vec<String>,
    pub patch: Vec<Value>,
    pub patch_lines: Vec<String>,
    pub warnings: Vec<String>,
}

impl ObjectReport {
    pub fn new(location: Location, object: Option<ManifestObject>, verdict: Verdict) -> ObjectReport {
        ObjectReport {
            location,
            object,
            verdict,
            message: None,
            code: None,
            rules: Vec::new(),
            patch: Vec::new(),
            patch_lines: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `Kind namespace/name`, or the place of a document that has none.
    pub fn title(&self) -> String {
        match &self.object {
            Some(object) => object.display(),
            None => self.location.describe(),
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

/// Reads every manifest into entries: objects (Lists expanded) and the
/// documents or files that could not be read, each with its place.
pub fn read_manifests(paths: &[String]) -> Result<Vec<Entry>> {
    if paths.iter().filter(|p| *p == "-").count() > 1 {
        bail!("standard input (`-`) can be given only once");
    }
    let mut entries = Vec::new();
    for path in paths {
        let file = origin_name(path);
        match read_text(path, "manifest") {
            Ok(text) => entries.extend(file_entries(&file, &text)),
            Err(err) => entries.push(Entry {
                location: Location {
                    file,
                    ..Location::default()
                },
                content: Err(format!("{err:#}")),
            }),
        }
    }
    Ok(entries)
}

fn file_entries(file: &str, text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for document in manifests::documents(text) {
        let location = Location {
            file: file.to_string(),
            document: Some(document.index),
            item: None,
            line: Some(document.line),
        };
        let value = match document.content {
            Ok(value) => value,
            Err(message) => {
                entries.push(Entry {
                    location,
                    content: Err(message),
                });
                continue;
            }
        };
        let items = expand_lists(vec![value.clone()]);
        let from_list = !(items.len() == 1 && items[0] == value);
        for (index, item) in items.into_iter().enumerate() {
            let location = Location {
                item: from_list.then_some(index + 1),
                ..location.clone()
            };
            entries.push(Entry {
                location,
                content: ManifestObject::new(item).map_err(|e| format!("{e:#}")),
            });
        }
    }
    entries
}

fn fresh_instance(policy: &Policy) -> Result<PolicyInstance> {
    let instance = policy.instantiate()?;
    instance.check_protocol_version()?;
    Ok(instance)
}

pub fn check(args: &CheckArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let entries = read_manifests(&args.manifests)?;
    let metadata = find_metadata(args.metadata.as_deref(), &args.policy)?.map(|found| found.metadata);
    let context = context_host(args, &entries, metadata.as_ref())?;
    let coverage = Coverage::new(metadata, &settings);
    let namespace = args.cluster.namespace.as_str();

    let options = HostOptions {
        verbose,
        track_memory: false,
        deadline: args.deadline.deadline(),
    };
    let mut policy = Policy::load(&args.policy, options)?;
    policy.set_context(Arc::new(context));
    let mut instance = fresh_instance(&policy)?;
    instance.require_valid_settings(&settings)?;

    let mut reports = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let object = match entry.content {
            Ok(object) => object,
            Err(message) => {
                let mut report = ObjectReport::new(entry.location, None, Verdict::Error);
                report.message = Some(message);
                reports.push(report);
                continue;
            }
        };
        if let Some(reason) = removed_apis::not_served(&object.api_version, &object.kind.kind) {
            let mut report = ObjectReport::new(entry.location, Some(object), Verdict::Skipped);
            report.message = Some(reason);
            reports.push(report);
            continue;
        }
        if !coverage.covers(&object) {
            reports.push(ObjectReport::new(entry.location, Some(object), Verdict::Skipped));
            continue;
        }
        let report = evaluate(&instance, &settings, entry.location, object, index, namespace);
        if report.verdict == Verdict::Error {
            // A trap or a deadline can leave the guest's state broken.
            instance = fresh_instance(&policy).map_err(|e| anyhow!("cannot re-create the policy instance: {e:#}"))?;
        }
        reports.push(report);
    }

    report::write(&reports, args)?;
    Ok(exit_code(&reports))
}

/// The context-aware host of `check`: the resources the metadata declares
/// are granted (the answers come from files the user gave, not from a
/// cluster), and answered from the --cluster-state files and every readable
/// object of the checked manifests, in that order (an object of the
/// manifests replaces the cluster state's object of the same identity).
fn context_host(args: &CheckArgs, entries: &[Entry], metadata: Option<&PolicyMetadata>) -> Result<ContextHost> {
    let namespace = &args.cluster.namespace;
    let mut state = ClusterState::new();
    read_cluster_state(&mut state, &args.cluster.cluster_state, namespace)?;
    for entry in entries {
        if let Ok(object) = &entry.content {
            state.add(object.object.clone(), namespace);
        }
    }
    Ok(ContextHost::new(
        declared(metadata),
        Source::ClusterState(Arc::new(state)),
    ))
}

/// Evaluates one object as a CREATE request.
fn evaluate(
    instance: &PolicyInstance,
    settings: &Value,
    location: Location,
    object: ManifestObject,
    index: usize,
    namespace: &str,
) -> ObjectReport {
    let request = object.create_request(format!("check-{}", index + 1), namespace);
    let evaluated = request
        .validate_payload(settings)
        .and_then(|payload| instance.validate(&payload))
        .and_then(|v| admission_response(&request.uid, request.object.as_ref(), &v));
    match evaluated {
        Ok(outcome) => report_outcome(location, object, outcome),
        Err(err) => {
            let mut report = ObjectReport::new(location, Some(object), Verdict::Error);
            report.message = Some(format!("{err:#}"));
            report
        }
    }
}

fn report_outcome(location: Location, object: ManifestObject, outcome: Outcome) -> ObjectReport {
    let response = outcome.response;
    let verdict = match (response.allowed, &outcome.patch) {
        (false, _) => Verdict::Rejected,
        (true, Some(_)) => Verdict::Mutated,
        (true, None) => Verdict::Allowed,
    };
    let mut report = ObjectReport::new(location, Some(object), verdict);
    if let Some(status) = response.status {
        report.message = status.message;
        // kwctl's code: the policy's own, and none when it gave none.
        report.code = status.code;
    }
    report.rules = response
        .audit_annotations
        .as_ref()
        .and_then(|a| a.get(VIOLATIONS_ANNOTATION))
        .map(|list| rule_ids(list))
        .unwrap_or_default();
    if verdict == Verdict::Mutated {
        if let Some(p) = &outcome.patch {
            report.patch = patch::operations(p);
            report.patch_lines = patch::readable_lines(p);
        }
    }
    report.warnings = response.warnings.unwrap_or_default();
    report
}

/// `a, b,,c` → `[a, b, c]`.
fn rule_ids(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
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

/// Reads manifests for tests and tools: fails on the first unreadable entry.
#[cfg(test)]
pub fn read_objects(paths: &[String]) -> Result<Vec<(Location, ManifestObject)>> {
    read_manifests(paths)?
        .into_iter()
        .map(|e| {
            let place = e.location.describe();
            e.content.map(|o| (e.location, o)).map_err(|m| anyhow!("{place}: {m}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Rule;
    use serde_json::json;

    pub fn object(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> ManifestObject {
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
            ..PolicyMetadata::default()
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
    fn exit_codes_put_errors_before_rejections() {
        let at = Location::default();
        let allowed = ObjectReport::new(at.clone(), Some(object("v1", "Pod", None, "a")), Verdict::Allowed);
        let rejected = ObjectReport::new(at.clone(), Some(object("v1", "Pod", None, "b")), Verdict::Rejected);
        let error = ObjectReport::new(at, None, Verdict::Error);
        assert_eq!(exit_code(std::slice::from_ref(&allowed)), EXIT_OK);
        assert_eq!(exit_code(&[allowed.clone(), rejected.clone()]), EXIT_REJECTED);
        assert_eq!(exit_code(&[rejected, error, allowed]), EXIT_ERROR);
    }

    #[test]
    fn rule_ids_come_from_the_violations_annotation_in_order() {
        assert_eq!(
            rule_ids("env-secret-ref,plain-secret-volume"),
            ["env-secret-ref", "plain-secret-volume"]
        );
        assert_eq!(rule_ids(" a , ,b"), ["a", "b"]);
        assert!(rule_ids("").is_empty());
    }

    #[test]
    fn locations_describe_file_document_item_and_line() {
        let at = Location {
            file: "m.yaml".into(),
            document: Some(2),
            item: Some(3),
            line: Some(7),
        };
        assert_eq!(at.describe(), "m.yaml, document 2, item 3, line 7");
        let file_only = Location {
            file: "gone.yaml".into(),
            ..Location::default()
        };
        assert_eq!(file_only.describe(), "gone.yaml");
    }

    #[test]
    fn manifests_are_read_and_expanded_and_bad_documents_reported() {
        let dir = std::env::temp_dir().join(format!("policy-runner-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.yaml");
        std::fs::write(
            &file,
            "# Source: x\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: ns}\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let objects = read_objects(std::slice::from_ref(&path)).unwrap();
        let names: Vec<_> = objects.iter().map(|(_, o)| o.display()).collect();
        assert_eq!(names, ["Pod a", "Deployment ns/b"]);
        assert_eq!(objects[0].0.document, Some(1));
        assert_eq!(objects[0].0.item, Some(1));
        assert_eq!(objects[0].0.line, Some(3));
        assert_eq!(objects[1].0.document, Some(2));
        assert_eq!(objects[1].0.item, None);
        assert_eq!(objects[1].0.line, Some(10));

        std::fs::write(&file, "apiVersion: v1\nkind: Pod\n---\n- just\n- a list\n").unwrap();
        let entries = read_manifests(std::slice::from_ref(&path)).unwrap();
        assert_eq!(entries.len(), 2);
        let err = entries[1].content.as_ref().unwrap_err();
        assert!(err.contains("not a Kubernetes object"), "{err}");
        assert_eq!(entries[1].location.document, Some(2));

        let missing = dir.join("missing.yaml").display().to_string();
        let entries = read_manifests(&[missing, path]).unwrap();
        assert!(entries[0]
            .content
            .as_ref()
            .unwrap_err()
            .contains("cannot read manifest"));
        assert_eq!(entries[0].location.document, None);
        assert_eq!(entries.len(), 3);
        assert!(read_manifests(&["-".into(), "-".into()]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
