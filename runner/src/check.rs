//! `policy-runner check`: evaluate manifests as CREATE requests (policy CI).
//!
//! Manifests are read as kubectl reads them ([`crate::manifests`]); every
//! document that can be read is judged, and each one that cannot is reported
//! as an error with its place, so one bad document hides no other.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::admission_match::RequestFacts;
use crate::admission_policy::{read_policies, uncovered_pod_spec_kinds, AdmissionPolicy, Namespaces};
use crate::catalogue;
use crate::cli::{host_options, CheckArgs};
use crate::context::cluster_state::ClusterState;
use crate::context::{declared, read_cluster_state, ContextHost, Source};
use crate::findings::read_answer;
use crate::host::{load, Load, Loaded, Policy, PolicyInstance};
use crate::input::{load_settings, origin_name};
use crate::kubernetes;
use crate::manifests::{self, read_manifests, Entry};
use crate::metadata::{ContextAwareResource, FoundMetadata, PolicyMetadata};
use crate::report;
use crate::request::{AdmissionRequest, ManifestObject};
use crate::response::{admission_response, Decision};
use crate::results::{exit_code, Location, ObjectReport, Verdict};

/// Which objects the policy sees: those its metadata's rules send it on
/// CREATE in `namespace`, as the admission rules of a cluster do (custom
/// kinds a policy handles through its settings need a rule there, and so in
/// the metadata given here); every object when there is no metadata.
fn covers(metadata: Option<&PolicyMetadata>, object: &ManifestObject, namespace: Option<&str>) -> bool {
    metadata.is_none_or(|meta| meta.covers(&RequestFacts::create(&object.resource, namespace)))
}

pub fn check(args: &CheckArgs, verbose: bool) -> Result<u8> {
    let admission = match args.admission_policies.is_empty() {
        true => Vec::new(),
        false => read_policies(&args.admission_policies, &args.cluster.namespace)?,
    };
    let settings = match admission.first() {
        Some(first) => first.settings.clone(),
        None => load_settings(&args.settings.source())?,
    };
    let catalogue = catalogue::for_check(args.rules.as_deref(), &args.policy)?;
    let entries = read_input(args)?;
    let Loaded {
        metadata,
        policy,
        instance,
        ..
    } = load_policy(args, &entries, &settings, verbose, &admission)?;
    let (judges, warnings) = judges(args, &policy, instance, settings, admission, metadata.as_ref())?;
    let metadata = metadata.map(|found| found.metadata);
    let rule_annotation = rule_annotation(args, metadata.as_ref());
    let namespaces = known_namespaces(args, &entries, &judges)?;
    let mut judging = Judging {
        policy: &policy,
        judges,
        metadata: metadata.as_ref(),
        rule_annotation: rule_annotation.as_deref(),
        namespace: args.cluster.namespace.as_str(),
        namespaces: &namespaces,
    };
    let mut reports = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        judging.judge(index, entry, &mut reports)?;
    }

    report::write(&reports, args, catalogue.as_deref(), metadata.as_ref(), &warnings)?;
    Ok(exit_code(&reports))
}

/// What judging each object needs: the judges and what they select by.
struct Judging<'a> {
    policy: &'a Policy,
    judges: Vec<Judge>,
    metadata: Option<&'a PolicyMetadata>,
    rule_annotation: Option<&'a str>,
    /// The namespace of an object that has none.
    namespace: &'a str,
    namespaces: &'a Namespaces,
}

impl Judging<'_> {
    /// The reports of one entry: an error, a skip, or one per judge that
    /// selects the object.
    fn judge(&mut self, index: usize, entry: Entry, reports: &mut Vec<ObjectReport>) -> Result<()> {
        let object = match entry.content {
            Ok(object) => object,
            Err(message) => {
                reports.push(ObjectReport::new(entry.location, None, Verdict::Error).saying(message));
                return Ok(());
            }
        };
        if let Some(reason) = kubernetes::not_served(&object.api_version, &object.kind.kind) {
            reports.push(ObjectReport::new(entry.location, Some(object), Verdict::Skipped).saying(reason));
            return Ok(());
        }
        let request_namespace = object.request_namespace(self.namespace);
        let request = object.create_request(format!("check-{}", index + 1), self.namespace);
        let mut not_selected = Vec::new();
        let judged_before = reports.len();
        for judge in &mut self.judges {
            let selected = match &judge.admission {
                Some(admission) => admission.selects(&object, request_namespace, self.namespaces),
                None if covers(self.metadata, &object, request_namespace) => Ok(()),
                None => Err(String::new()),
            };
            if let Err(reason) = selected {
                not_selected.push(reason);
                continue;
            }
            let (location, object) = (entry.location.clone(), Some(object.clone()));
            let mut report = match evaluate(judge, &request) {
                Ok(decision) => {
                    report_decision(location, object, decision, self.rule_annotation, entry.source.as_ref())
                }
                Err(err) => ObjectReport::new(location, object, Verdict::Error).saying(format!("{err:#}")),
            };
            report.judged_by = judge.admission.as_ref().map(AdmissionPolicy::judged_by);
            if report.verdict == Verdict::Error {
                // A trap or a deadline can leave the guest's state broken.
                judge.instance = ready_instance(self.policy, &judge.settings)
                    .map_err(|e| anyhow!("cannot re-create the policy instance: {e:#}"))?;
            }
            reports.push(report);
        }
        if reports.len() == judged_before {
            reports.push(not_selected_report(entry.location, object, not_selected));
        }
        Ok(())
    }
}

/// A new instance of the policy, ready with `settings`.
fn ready_instance(policy: &Policy, settings: &Value) -> Result<PolicyInstance> {
    let instance = policy.instantiate()?;
    instance.ready(settings)?;
    Ok(instance)
}

/// An object no judge selects: skipped, with the reasons the policy
/// manifests give (the metadata's rules give none).
fn not_selected_report(location: Location, object: ManifestObject, reasons: Vec<String>) -> ObjectReport {
    let reasons: Vec<String> = reasons.into_iter().filter(|r| !r.is_empty()).collect();
    let message = (!reasons.is_empty()).then(|| format!("not selected: {}", reasons.join("; ")));
    ObjectReport::new(location, Some(object), Verdict::Skipped).saying(message)
}

/// The entries of the MANIFEST arguments. None at all is an error unless
/// `--allow-empty`: an empty input is more often a command that failed
/// before the pipe (`helm template … | policy-runner check … -`) than a
/// chart with nothing in it.
fn read_input(args: &CheckArgs) -> Result<Vec<Entry>> {
    let entries = read_manifests(&args.manifests, args.recursive)?;
    if entries.is_empty() && !args.allow_empty {
        let names: Vec<_> = args.manifests.iter().map(|path| origin_name(path)).collect();
        bail!(
            "no object was read from {} (empty input: did the command writing it fail?); pass --allow-empty to accept empty input",
            names.join(", ")
        );
    }
    Ok(entries)
}

/// The policy as the cluster runs it: one judge per `--policy` manifest,
/// each with its settings; else one judge whose coverage is the metadata's.
struct Judge {
    admission: Option<AdmissionPolicy>,
    settings: Value,
    instance: PolicyInstance,
}

/// The judges of the run, and the run's warnings; says on stderr where
/// coverage comes from, and what the cluster does that `check` does not.
fn judges(
    args: &CheckArgs,
    policy: &Policy,
    instance: PolicyInstance,
    settings: Value,
    admission: Vec<AdmissionPolicy>,
    metadata: Option<&FoundMetadata>,
) -> Result<(Vec<Judge>, Vec<String>)> {
    if admission.is_empty() {
        let warnings = metadata_coverage(args, &settings, metadata);
        let judge = Judge {
            admission: None,
            settings,
            instance,
        };
        return Ok((vec![judge], warnings));
    }
    let mut warnings = Vec::new();
    let titles: Vec<&str> = admission.iter().map(|p| p.title.as_str()).collect();
    eprintln!(
        "policy-runner: coverage: the rules and selectors of {} (--policy {})",
        titles.join(", "),
        args.admission_policies.join(", ")
    );
    let mut judges = Vec::with_capacity(admission.len());
    let mut first = Some(instance);
    for policy_manifest in admission {
        for note in policy_manifest.notes(&args.policy)? {
            eprintln!("policy-runner: note: {note}");
        }
        warnings.extend(uncovered_pod_spec_kinds(
            &policy_manifest.settings,
            &policy_manifest.title,
            &policy_manifest.rules,
        ));
        let instance = match first.take() {
            Some(instance) => instance,
            None => ready_instance(policy, &policy_manifest.settings).with_context(|| policy_manifest.title.clone())?,
        };
        judges.push(Judge {
            settings: policy_manifest.settings.clone(),
            admission: Some(policy_manifest),
            instance,
        });
    }
    Ok((judges, warnings))
}

/// Says where coverage comes from without `--policy`: the metadata's
/// rules, or none; the warnings of the kinds those rules leave out.
fn metadata_coverage(args: &CheckArgs, settings: &Value, metadata: Option<&FoundMetadata>) -> Vec<String> {
    let Some(found) = metadata else {
        eprintln!(
            "policy-runner: coverage: no policy metadata (none in {}, no policy-metadata.yml beside it, no --metadata): every object is judged",
            args.policy.display()
        );
        return Vec::new();
    };
    eprintln!(
        "policy-runner: coverage: the rules of the policy metadata in {}",
        found.origin
    );
    let whose = format!("the policy metadata in {}", found.origin);
    uncovered_pod_spec_kinds(settings, &whose, &found.metadata.rules)
}

/// The labels of the namespaces whose Namespace objects are in the
/// manifests or the cluster state (read only when a policy manifest's
/// selectors need them).
fn known_namespaces(args: &CheckArgs, entries: &[Entry], judges: &[Judge]) -> Result<Namespaces> {
    if judges.iter().all(|j| j.admission.is_none()) {
        return Ok(Namespaces::default());
    }
    let state = read_manifests(&args.cluster.cluster_state, false)?;
    let objects = state.iter().chain(entries).filter_map(|e| e.content.as_ref().ok());
    Ok(Namespaces::new(objects))
}

/// The policy of `check`, its Kubernetes look-ups answered by [`context_host`].
fn load_policy(
    args: &CheckArgs,
    entries: &[Entry],
    settings: &Value,
    verbose: bool,
    admission: &[AdmissionPolicy],
) -> Result<Loaded> {
    let spec = Load {
        policy: &args.policy,
        metadata: args.metadata.as_deref(),
        options: host_options(verbose, &args.deadline, &args.cache),
        settings,
        name_module_when_not_ready: false,
    };
    load(spec, |found| {
        let granted = match admission.is_empty() {
            true => declared(found.map(|f| &f.metadata)),
            // policy-server grants what the policy manifests list
            false => admission
                .iter()
                .flat_map(|p| p.context_aware_resources.iter().cloned())
                .collect(),
        };
        context_host(args, entries, granted)
    })
}

/// The context-aware host of `check`: the resources the metadata declares
/// (or the --policy manifests list) are granted (the answers come from
/// files the user gave, not from a cluster), and answered from the --cluster-state files and every readable
/// object of the checked manifests, in that order (an object of the
/// manifests replaces the cluster state's object of the same identity).
fn context_host(
    args: &CheckArgs,
    entries: &[Entry],
    granted: std::collections::BTreeSet<ContextAwareResource>,
) -> Result<ContextHost> {
    let namespace = &args.cluster.namespace;
    let mut state = ClusterState::new();
    read_cluster_state(&mut state, &args.cluster.cluster_state, namespace)?;
    for entry in entries {
        if let Ok(object) = &entry.content {
            state.add(object.object.clone(), namespace);
        }
    }
    Ok(ContextHost::new(granted, Source::ClusterState(Arc::new(state))))
}

/// The audit annotation that carries rule ids: the one given, else the one
/// the metadata names; none when neither names one (a policy's annotations
/// are then not read as rule ids).
fn rule_annotation(args: &CheckArgs, metadata: Option<&PolicyMetadata>) -> Option<String> {
    args.rule_annotation.clone().or_else(|| {
        let declared = metadata?.annotations.get(RULE_ANNOTATION)?;
        declared.as_str().map(str::to_string)
    })
}

/// The metadata annotation in which a policy names the audit annotation
/// that carries its rule ids.
pub const RULE_ANNOTATION: &str = "policy-runner/rule-annotation";

/// The policy's decision on the request, through `judge`.
fn evaluate(judge: &Judge, request: &AdmissionRequest) -> Result<Decision> {
    let validation = judge.instance.validate(&request.validate_payload(&judge.settings)?)?;
    admission_response(&request.uid, request.object.as_ref(), &validation)
}

/// The report of an object the policy judged: its verdict, code and
/// message, the rule ids of `rule_annotation`, and its findings, placed in
/// `source`.
fn report_decision(
    location: Location,
    object: Option<ManifestObject>,
    decision: Decision,
    rule_annotation: Option<&str>,
    source: Option<&manifests::Source>,
) -> ObjectReport {
    let mut report = ObjectReport::new(location, object, decision.verdict());
    let response = decision.response;
    if let Some(status) = response.status {
        report.message = status.message;
        // kwctl's code: the policy's own, and none when it gave none.
        report.code = status.code;
    }
    report.rule_ids = rule_annotation
        .and_then(|key| response.audit_annotations.as_ref()?.get(key))
        .map(|list| rule_ids(list))
        .unwrap_or_default();
    let warnings = response.warnings.unwrap_or_default();
    read_answer(&mut report, &warnings, decision.patch.as_ref(), source);
    report
}

/// The ids in the rule annotation's value, comma-separated: `a, b,,c` →
/// `[a, b, c]`.
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
    use crate::admission_match::RuleWithOperations;
    use crate::request::object;

    #[test]
    fn coverage_follows_the_metadata_rules_alone() {
        let rule = |group: &str, version: &str, resources: &[&str]| RuleWithOperations {
            api_groups: vec![group.into()],
            api_versions: vec![version.into()],
            resources: resources.iter().map(|r| r.to_string()).collect(),
            operations: vec!["CREATE".into()],
            ..RuleWithOperations::default()
        };
        let mut meta = PolicyMetadata {
            rules: vec![rule("", "v1", &["pods"]), rule("apps", "v1", &["deployments"])],
            mutating: false,
            ..PolicyMetadata::default()
        };
        let rollout = object("argoproj.io/v1alpha1", "Rollout", None, "r");
        assert!(covers(Some(&meta), &object("v1", "Pod", None, "p"), Some("default")));
        assert!(covers(
            Some(&meta),
            &object("apps/v1", "Deployment", None, "d"),
            Some("default")
        ));
        assert!(!covers(
            Some(&meta),
            &object("v1", "ConfigMap", None, "c"),
            Some("default")
        ));
        assert!(!covers(
            Some(&meta),
            &object("apps/v1", "StatefulSet", None, "s"),
            Some("default")
        ));
        // a custom kind is covered when the metadata has a rule for it, as in
        // a cluster, whatever the settings say
        assert!(!covers(Some(&meta), &rollout, Some("default")));
        meta.rules.push(rule("argoproj.io", "v1alpha1", &["rollouts"]));
        assert!(covers(Some(&meta), &rollout, Some("default")));
        // no metadata: everything is evaluated
        assert!(covers(None, &object("v1", "ConfigMap", None, "c"), Some("default")));
    }

    #[test]
    fn rule_ids_are_the_values_comma_separated_ids_in_order() {
        assert_eq!(rule_ids("b-rule,a-rule"), ["b-rule", "a-rule"]);
        assert_eq!(rule_ids(" a , ,b"), ["a", "b"]);
        assert!(rule_ids("").is_empty());
    }

    #[test]
    fn a_rejection_reports_the_ids_of_the_rule_annotation_alone() {
        let response = crate::response::AdmissionResponse {
            uid: "u".into(),
            allowed: false,
            patch_type: None,
            patch: None,
            status: None,
            audit_annotations: Some(
                [
                    ("example.com/broken".to_string(), "b-rule, a-rule".to_string()),
                    ("example.com/owner".to_string(), "team-a".to_string()),
                ]
                .into(),
            ),
            warnings: None,
        };
        let outcome = |rule_annotation| {
            let decision = Decision {
                response: response.clone(),
                patch: None,
            };
            report_decision(
                Location::default(),
                Some(object("v1", "Pod", None, "p")),
                decision,
                rule_annotation,
                None,
            )
        };
        let report = outcome(Some("example.com/broken"));
        assert_eq!(report.verdict, Verdict::Rejected);
        // the ids in the value's order; the other annotation is not a rule
        assert_eq!(report.rule_ids, ["b-rule", "a-rule"]);
        // no rule annotation declared, or one the response lacks: no ids
        assert!(outcome(None).rule_ids.is_empty());
        assert!(outcome(Some("example.com/missing")).rule_ids.is_empty());
    }

    #[test]
    fn the_rule_annotation_is_the_flags_else_the_metadatas() {
        use clap::Parser;
        let args = |extra: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(
                ["policy-runner", "check"]
                    .iter()
                    .chain(extra)
                    .chain(&["p.wasm", "m.yaml"]),
            )
            .unwrap();
            let crate::cli::Command::Check(args) = cli.command else {
                panic!("not check");
            };
            args
        };
        let metadata =
            PolicyMetadata::parse("annotations:\n  policy-runner/rule-annotation: example.com/broken\n").unwrap();
        assert_eq!(
            rule_annotation(&args(&[]), Some(&metadata)).as_deref(),
            Some("example.com/broken")
        );
        let flag = args(&["--rule-annotation", "example.com/rules"]);
        assert_eq!(
            rule_annotation(&flag, Some(&metadata)).as_deref(),
            Some("example.com/rules")
        );
        assert_eq!(rule_annotation(&flag, None).as_deref(), Some("example.com/rules"));
        // nothing declares one: annotations are not rule ids
        assert_eq!(rule_annotation(&args(&[]), None), None);
        assert_eq!(rule_annotation(&args(&[]), Some(&PolicyMetadata::default())), None);
    }
}
