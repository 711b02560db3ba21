//! Which requests an admission webhook is sent, as the API server decides:
//! its rules (admissionregistration/v1 `RuleWithOperations`) and its label
//! selectors (meta/v1 `LabelSelector`). Kubewarden's policies are webhooks,
//! so `check --policy` selects objects with these, and the policy metadata's
//! rules (the same type, as kwctl reads them) with the same matcher.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::de::Error as _;
use serde::Deserialize;
use serde_json::Value;

use crate::kubernetes::GroupVersionResource;

/// What the API server knows of a request when it picks webhooks.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub resource: &'a GroupVersionResource,
    /// `""` for the main resource.
    pub subresource: &'a str,
    pub operation: &'a str,
    /// The request's namespace; `None` for a cluster-scoped object.
    pub namespace: Option<&'a str>,
}

/// Whether `values` holds `wanted` or `*`.
fn listed(values: &[String], wanted: &str) -> bool {
    values.iter().any(|v| v == "*" || v == wanted)
}

/// Whether a rule's `resources` select a resource and subresource, as the
/// API server's rule matcher does: each entry is `resource[/subresource]`,
/// either part `*`. An entry without `/` selects the main resource alone
/// (`pods`, `*`); `pods/status` a subresource alone; an entry whose
/// subresource part is `*` (`pods/*`, `*/*`) selects the main resource too,
/// since `*` matches the empty subresource.
fn resource_listed(resources: &[String], resource: &str, subresource: &str) -> bool {
    resources.iter().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
        (res == "*" || res == resource) && (sub == "*" || sub == subresource)
    })
}

/// One rule of a webhook, of a Kubewarden policy's `rules` and of its
/// metadata's. Read leniently, as kwctl reads the metadata (k8s-openapi's
/// types ignore unknown fields); a policy manifest refuses what
/// [`RuleWithOperations::unknown`] kept
/// ([`RuleWithOperations::refuse_unknown`]), as the API server's strict
/// field validation does.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleWithOperations {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<String>,
    /// `Cluster`, `Namespaced` or `*` (the default).
    pub scope: Option<String>,
    /// The fields of no rule.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// The fields of a rule, in the order serde names them in its error.
const RULE_FIELDS: &[&str] = &["apiGroups", "apiVersions", "resources", "operations", "scope"];

impl<'a> RequestFacts<'a> {
    /// The CREATE of a main resource in `namespace` (`None`: cluster-scoped).
    pub fn create(resource: &'a GroupVersionResource, namespace: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts {
            resource,
            subresource: "",
            operation: "CREATE",
            namespace,
        }
    }
}

/// Whether a rule of `rules` selects the request.
pub fn rules_select(rules: &[RuleWithOperations], request: &RequestFacts) -> bool {
    rules.iter().any(|rule| rule.matches(request))
}

impl RuleWithOperations {
    /// A field of no rule, in the words serde's strict reading uses.
    pub fn refuse_unknown(&self) -> Result<()> {
        match self.unknown.keys().next() {
            Some(field) => Err(serde::de::value::Error::unknown_field(field, RULE_FIELDS).into()),
            None => Ok(()),
        }
    }

    /// The API server's own checks of a rule (a manifest it would refuse is
    /// refused here).
    pub fn validate(&self) -> Result<()> {
        if let Some(scope) = self.scope.as_deref() {
            if !matches!(scope, "Cluster" | "Namespaced" | "*") {
                bail!("scope {scope:?} is not one of \"Cluster\", \"Namespaced\", \"*\"");
            }
        }
        for operation in &self.operations {
            if !matches!(operation.as_str(), "*" | "CREATE" | "UPDATE" | "DELETE" | "CONNECT") {
                bail!("operation {operation:?} is not one of \"CREATE\", \"UPDATE\", \"DELETE\", \"CONNECT\", \"*\"");
            }
        }
        Ok(())
    }

    pub fn matches(&self, request: &RequestFacts) -> bool {
        listed(&self.operations, request.operation)
            && listed(&self.api_groups, &request.resource.group)
            && listed(&self.api_versions, &request.resource.version)
            && resource_listed(&self.resources, &request.resource.resource, request.subresource)
            && self.scope_matches(request)
    }

    /// A Namespace is cluster-scoped, whatever its request says.
    fn scope_matches(&self, request: &RequestFacts) -> bool {
        let cluster_scoped = request.namespace.is_none() || request.resource.is_namespaces();
        match self.scope.as_deref() {
            Some("Cluster") => cluster_scoped,
            Some("Namespaced") => !cluster_scoped,
            _ => true,
        }
    }
}

/// A label selector (meta/v1): every `matchLabels` pair and every
/// requirement must hold; the empty selector selects everything.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

pub type Labels = BTreeMap<String, String>;

impl LabelSelector {
    /// The checks the API server makes of a selector: `In` and `NotIn` need
    /// values, `Exists` and `DoesNotExist` take none.
    pub fn validate(&self) -> Result<()> {
        for requirement in &self.match_expressions {
            let needs_values = matches!(requirement.operator, Operator::In | Operator::NotIn);
            if needs_values == requirement.values.is_empty() {
                bail!(
                    "matchExpressions key {:?}: operator {:?} {}",
                    requirement.key,
                    requirement.operator,
                    if needs_values {
                        "needs at least one value"
                    } else {
                        "takes no values"
                    }
                );
            }
        }
        Ok(())
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// The label keys the selector reads.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.match_labels
            .keys()
            .map(String::as_str)
            .chain(self.match_expressions.iter().map(|r| r.key.as_str()))
    }
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvr(group: &str, version: &str, resource: &str) -> GroupVersionResource {
        GroupVersionResource {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn rule(resources: &[&str]) -> RuleWithOperations {
        RuleWithOperations {
            api_groups: strings(&[""]),
            api_versions: strings(&["v1"]),
            resources: strings(resources),
            operations: strings(&["CREATE"]),
            ..RuleWithOperations::default()
        }
    }

    fn create<'a>(resource: &'a GroupVersionResource, namespace: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts::create(resource, namespace)
    }

    #[test]
    fn resources_select_main_resources_and_subresources_as_the_api_server_does() {
        let pods = |entries: &[&str], sub: &str| resource_listed(&strings(entries), "pods", sub);
        assert!(pods(&["pods"], ""));
        assert!(!pods(&["pods"], "status"));
        assert!(pods(&["*"], ""));
        assert!(!pods(&["*"], "ephemeralcontainers"));
        assert!(!pods(&["pods/status"], ""));
        assert!(pods(&["pods/status"], "status"));
        assert!(!pods(&["pods/status"], "exec"));
        // `*` as the subresource part matches the empty one as well
        assert!(pods(&["pods/*"], ""));
        assert!(pods(&["pods/*"], "exec"));
        assert!(pods(&["*/*"], ""));
        assert!(pods(&["*/*"], "status"));
        assert!(pods(&["*/status"], "status"));
        assert!(!pods(&["*/status"], ""));
        assert!(!pods(&["deployments", "deployments/*"], ""));
    }

    #[test]
    fn rules_match_group_version_operation_and_scope() {
        let pods = gvr("", "v1", "pods");
        let ns = gvr("", "v1", "namespaces");
        assert!(rule(&["pods"]).matches(&create(&pods, Some("a"))));
        assert!(!rule(&["pods"]).matches(&create(&gvr("", "v2", "pods"), Some("a"))));
        assert!(!rule(&["pods"]).matches(&create(&gvr("apps", "v1", "pods"), Some("a"))));
        let mut update_only = rule(&["pods"]);
        update_only.operations = strings(&["UPDATE"]);
        assert!(!update_only.matches(&create(&pods, Some("a"))));
        update_only.operations = strings(&["UPDATE", "*"]);
        assert!(update_only.matches(&create(&pods, Some("a"))));
        let mut any = rule(&["*"]);
        any.api_groups = strings(&["*"]);
        any.api_versions = strings(&["*"]);
        assert!(any.matches(&create(&gvr("argoproj.io", "v1alpha1", "rollouts"), Some("a"))));
        // no operations, groups or resources listed: nothing
        assert!(!RuleWithOperations::default().matches(&create(&pods, Some("a"))));

        any.scope = Some("Namespaced".into());
        assert!(any.matches(&create(&pods, Some("a"))));
        assert!(!any.matches(&create(&ns, None)));
        assert!(!any.matches(&create(&gvr("", "v1", "nodes"), None)));
        any.scope = Some("Cluster".into());
        assert!(!any.matches(&create(&pods, Some("a"))));
        assert!(any.matches(&create(&ns, None)));
        // a namespace is cluster-scoped even in a request that names it
        assert!(any.matches(&create(&ns, Some("n"))));
        any.scope = Some("*".into());
        assert!(any.matches(&create(&pods, Some("a"))) && any.matches(&create(&ns, None)));
    }

    #[test]
    fn rules_the_api_server_refuses_are_refused() {
        let mut bad = rule(&["pods"]);
        bad.scope = Some("cluster".into());
        assert!(bad.validate().unwrap_err().to_string().contains("scope \"cluster\""));
        let mut bad = rule(&["pods"]);
        bad.operations = strings(&["create"]);
        assert!(bad.validate().is_err());
        assert!(rule(&["pods"]).validate().is_ok());
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn selector(yaml: &str) -> LabelSelector {
        let value = crate::input::parse_single_document(yaml).unwrap().unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn label_selectors_match_as_kubernetes_label_selectors() {
        let team_a = labels(&[("team", "a"), ("env", "prod")]);
        let bare = labels(&[]);
        assert!(LabelSelector::default().matches(&bare));
        let s = selector("matchLabels: {team: a}");
        assert!(s.matches(&team_a) && !s.matches(&bare));
        assert!(!s.matches(&labels(&[("team", "b")])));
        let s = selector("matchExpressions: [{key: env, operator: In, values: [prod, staging]}]");
        assert!(s.matches(&team_a) && !s.matches(&bare));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        // NotIn holds where the label is absent
        let s = selector("matchExpressions: [{key: env, operator: NotIn, values: [prod]}]");
        assert!(!s.matches(&team_a) && s.matches(&bare));
        assert!(s.matches(&labels(&[("env", "dev")])));
        let s = selector("matchExpressions: [{key: env, operator: Exists}]");
        assert!(s.matches(&team_a) && !s.matches(&bare));
        let s = selector("matchExpressions: [{key: env, operator: DoesNotExist}]");
        assert!(!s.matches(&team_a) && s.matches(&bare));
        // every part must hold
        let s = selector("matchLabels: {team: a}\nmatchExpressions: [{key: env, operator: NotIn, values: [prod]}]");
        assert!(!s.matches(&team_a));
        assert!(s.matches(&labels(&[("team", "a")])));
        assert_eq!(s.keys().collect::<Vec<_>>(), ["team", "env"]);
    }

    #[test]
    fn selectors_the_api_server_refuses_are_refused() {
        assert!(selector("matchExpressions: [{key: a, operator: In, values: []}]")
            .validate()
            .is_err());
        assert!(selector("matchExpressions: [{key: a, operator: Exists, values: [x]}]")
            .validate()
            .is_err());
        assert!(selector("matchExpressions: [{key: a, operator: Exists}]")
            .validate()
            .is_ok());
        let parse = |yaml: &str| {
            serde_json::from_value::<LabelSelector>(crate::input::parse_single_document(yaml).unwrap().unwrap())
        };
        assert!(parse("matchExpressions: [{key: a, operator: in, values: [x]}]").is_err());
        assert!(parse("matchLabel: {a: b}").is_err());
    }
}
