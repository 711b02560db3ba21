//! `policy-runner check`: evaluate manifests as CREATE requests (policy CI).
//!
//! Manifests are read as kubectl reads them ([`crate::manifests`]); every
//! document that can be read is judged, and each one that cannot is reported
//! as an error with its place, so one bad document hides no other.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::cli::CheckArgs;
use crate::context::cluster_state::ClusterState;
use crate::context::{declared, read_cluster_state, ContextHost, Source};
use crate::host::{HostOptions, Policy, PolicyInstance};
use crate::input::load_settings;
use crate::manifests::{read_manifests, Entry};
use crate::metadata::{find_metadata, PolicyMetadata};
use crate::outcome::{exit_code, Location, ObjectReport, Verdict};
use crate::patch;
use crate::removed_apis;
use crate::report;
use crate::request::ManifestObject;
use crate::response::{admission_response, Outcome};

/// The policy puts the ids of the rules an object breaks in this audit
/// annotation, comma-separated.
pub const VIOLATIONS_ANNOTATION: &str = "violations";

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
    let policy = Policy::open(&args.policy, options, Arc::new(context))?;
    let mut instance = policy.instantiate()?;
    instance.ready(&settings)?;

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
            instance = policy
                .instantiate()
                .and_then(|i| i.ready(&settings).map(|()| i))
                .map_err(|e| anyhow!("cannot re-create the policy instance: {e:#}"))?;
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
    fn rule_ids_come_from_the_violations_annotation_in_order() {
        assert_eq!(
            rule_ids("env-secret-ref,plain-secret-volume"),
            ["env-secret-ref", "plain-secret-volume"]
        );
        assert_eq!(rule_ids(" a , ,b"), ["a", "b"]);
        assert!(rule_ids("").is_empty());
    }
}
