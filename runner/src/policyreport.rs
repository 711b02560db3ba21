//! The `check` report as `wgpolicyk8s.io/v1alpha2` PolicyReports, the shape
//! Kubewarden's audit scanner writes (kubewarden-controller,
//! `internal/audit-scanner/report/`), so that Policy Reporter and the
//! Rancher UI show CI results beside the cluster's:
//!
//! - one report per judged object, its `scope` the object: a PolicyReport in
//!   the object's namespace, a ClusterPolicyReport for a cluster-scoped one;
//! - labelled `app.kubernetes.io/managed-by: kubewarden` and
//!   `kubewarden.io/policyreport-version: v2`;
//! - one result for the policy: `source: kubewarden`, the policy's unique
//!   name (`clusterwide-NAME`), `pass` (admitted, mutated or not), `fail`
//!   (rejected) or `error` (not judged), `scored: true`, the policy's message,
//!   its severity and category annotations (`io.kubewarden.policy.severity`,
//!   `io.kubewarden.policy.category`), and properties saying whether it
//!   validates or mutates and reads the cluster;
//! - a summary counting the results.
//!
//! What a manifest lacks is left out where the scanner fills it from the
//! cluster: the object's UID (the report is named by a digest of the
//! object's identity instead, stable across runs, and has no owner
//! reference), the policy's UID and resource version, the scanner's run id.
//! Objects the policy's rules do not cover and documents that are not
//! objects have no report, as the scanner audits neither.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use crate::kubernetes::is_cluster_scoped;
use crate::metadata::PolicyMetadata;
use crate::request::ManifestObject;
use crate::results::{sha256_hex, ObjectReport, Verdict};

/// The severities the CRD allows.
const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// What the reports say of the policy.
pub struct PolicyFacts {
    /// The policy's name (a ClusterAdmissionPolicy's).
    pub name: String,
    pub severity: Option<String>,
    pub category: Option<String>,
    pub mutating: bool,
    pub context_aware: bool,
}

impl PolicyFacts {
    /// The facts of a policy named `name` (as a ClusterAdmissionPolicy),
    /// from its metadata's annotations; a severity the CRD does not allow is
    /// left out.
    pub fn new(name: &str, metadata: Option<&PolicyMetadata>) -> PolicyFacts {
        let annotation = |key: &str| {
            metadata
                .and_then(|m| m.annotations.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        PolicyFacts {
            name: name.to_string(),
            severity: annotation("io.kubewarden.policy.severity").filter(|s| SEVERITIES.contains(&s.as_str())),
            category: annotation("io.kubewarden.policy.category"),
            mutating: metadata.is_some_and(|m| m.mutating),
            context_aware: metadata.is_some_and(|m| !m.context_aware_resources.is_empty()),
        }
    }
}

/// A report, its keys in alphabetical order (as the reports have always
/// been written).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ReportMetadata<'a>,
    results: [PolicyResult<'a>; 1],
    scope: ObjectReference<'a>,
    summary: Summary,
}

#[derive(Serialize)]
struct ReportMetadata<'a> {
    labels: BTreeMap<&'static str, &'static str>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

/// The object a report is about.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectReference<'a> {
    api_version: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

#[derive(Serialize)]
struct PolicyResult<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    policy: String,
    properties: BTreeMap<&'static str, &'a str>,
    result: &'static str,
    scored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'a str>,
    source: &'static str,
    /// `{"nanos": 0, "seconds": ...}`: the run's time, as the scanner's.
    timestamp: &'a Value,
}

#[derive(Serialize, Default)]
struct Summary {
    error: usize,
    fail: usize,
    pass: usize,
    skip: usize,
    warn: usize,
}

/// The report's name: the object's identity digested, UUID-shaped as the
/// scanner's names (the object's UID) are.
fn report_name(object: &ManifestObject, namespace: Option<&str>) -> String {
    let hex = sha256_hex(&object.identity(namespace));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The one result of the policy for a judged object, and the summary
/// counting it; `None` for others.
fn result<'a>(r: &'a ObjectReport, policy: &'a PolicyFacts, now: &'a Value) -> Option<(PolicyResult<'a>, Summary)> {
    let mut summary = Summary::default();
    let outcome = match r.verdict {
        Verdict::Allowed | Verdict::Mutated => ("pass", &mut summary.pass),
        Verdict::Rejected => ("fail", &mut summary.fail),
        Verdict::Error => ("error", &mut summary.error),
        Verdict::Skipped => return None,
    };
    *outcome.1 += 1;
    let kind = if policy.mutating { "mutating" } else { "validating" };
    let mut properties = BTreeMap::from([(kind, "true"), ("policy-name", policy.name.as_str())]);
    if policy.context_aware {
        properties.insert("context-aware", "true");
    }
    let result = PolicyResult {
        category: policy.category.as_deref(),
        message: r.message.as_deref().filter(|m| !m.is_empty()),
        // the scanner's unique name of a ClusterAdmissionPolicy
        policy: format!("clusterwide-{}", policy.name),
        properties,
        result: outcome.0,
        scored: true,
        severity: policy.severity.as_deref(),
        source: "kubewarden",
        timestamp: now,
    };
    Some((result, summary))
}

/// The report of one judged object, `None` for others.
fn report<'a>(
    r: &'a ObjectReport,
    policy: &'a PolicyFacts,
    default_namespace: &'a str,
    now: &'a Value,
) -> Option<Report<'a>> {
    let object = r.object.as_ref()?;
    let (result, summary) = result(r, policy, now)?;
    let namespace = match is_cluster_scoped(&object.kind.kind) {
        true => None,
        false => object.request_namespace(default_namespace),
    };
    let labels = [
        ("app.kubernetes.io/managed-by", "kubewarden"),
        ("kubewarden.io/policyreport-version", "v2"),
    ];
    Some(Report {
        api_version: "wgpolicyk8s.io/v1alpha2",
        kind: if namespace.is_some() {
            "PolicyReport"
        } else {
            "ClusterPolicyReport"
        },
        metadata: ReportMetadata {
            labels: BTreeMap::from(labels),
            name: report_name(object, namespace),
            namespace,
        },
        results: [result],
        scope: ObjectReference {
            api_version: &object.api_version,
            kind: &object.kind.kind,
            name: object.name.as_deref(),
            namespace,
        },
        summary,
    })
}

/// The reports of a `check` run, as a `v1` List that `kubectl apply -f`
/// reads; objects without a namespace are in `default_namespace`.
pub fn render(reports: &[ObjectReport], policy: &PolicyFacts, default_namespace: &str) -> String {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now = json!({"seconds": since_epoch.as_secs(), "nanos": 0});
    let items: Vec<Report> = reports
        .iter()
        .filter_map(|r| report(r, policy, default_namespace, &now))
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Location;
    use serde_json::json;

    fn judged(object: Value, verdict: Verdict) -> ObjectReport {
        let object = ManifestObject::new(object).unwrap();
        ObjectReport::new(Location::default(), Some(object), verdict)
    }

    #[test]
    fn namespaced_objects_get_policy_reports_cluster_scoped_ones_cluster_policy_reports() {
        let facts = PolicyFacts::new("p", None);
        let reports = [
            judged(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}),
                Verdict::Allowed,
            ),
            judged(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
                Verdict::Rejected,
            ),
            judged(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
                Verdict::Skipped,
            ),
        ];
        let list: Value = serde_json::from_str(&render(&reports, &facts, "ns")).unwrap();
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "a skipped object has no report");
        assert_eq!(items[0]["kind"], "PolicyReport");
        assert_eq!(items[0]["metadata"]["namespace"], "ns");
        assert_eq!(
            items[0]["scope"],
            json!({"apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": "a"})
        );
        assert_eq!(items[0]["results"][0]["result"], "pass");
        assert_eq!(items[1]["kind"], "ClusterPolicyReport");
        assert!(items[1]["metadata"].get("namespace").is_none());
        assert_eq!(
            items[1]["scope"],
            json!({"apiVersion": "v1", "kind": "Namespace", "name": "n"})
        );
        assert_eq!(items[1]["results"][0]["result"], "fail");
        assert_eq!(
            items[1]["summary"],
            json!({"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})
        );
    }

    #[test]
    fn the_policy_is_described_from_its_metadata() {
        let metadata = PolicyMetadata::parse(
            "mutating: true\nannotations:\n  io.kubewarden.policy.severity: high\n  io.kubewarden.policy.category: Secrets\n",
        )
        .unwrap();
        let facts = PolicyFacts::new("p", Some(&metadata));
        assert_eq!(facts.severity.as_deref(), Some("high"));
        assert_eq!(facts.category.as_deref(), Some("Secrets"));
        assert!(facts.mutating && !facts.context_aware);
        // a severity the CRD does not allow is left out
        let odd = PolicyMetadata::parse("annotations:\n  io.kubewarden.policy.severity: severe\n").unwrap();
        assert_eq!(PolicyFacts::new("p", Some(&odd)).severity, None);
    }
}
