//! Kubewarden policy metadata (`policy-metadata.yml`) and its rules.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::request::GroupVersionResource;

/// One admission rule, as in a ValidatingWebhookConfiguration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub operations: Vec<String>,
}

/// The parts of policy metadata that matter here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetadata {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub mutating: bool,
}

fn listed(values: &[String], wanted: &str) -> bool {
    values.iter().any(|v| v == "*" || v == wanted)
}

impl Rule {
    /// Whether the rule selects this (main, not sub-) resource and operation.
    /// `*` matches anything; for resources `*/*` also matches (it covers
    /// resources and their subresources), while `pods/status`-style entries
    /// only select subresources.
    pub fn matches(&self, resource: &GroupVersionResource, operation: &str) -> bool {
        listed(&self.api_groups, &resource.group)
            && listed(&self.api_versions, &resource.version)
            && self
                .resources
                .iter()
                .any(|r| r == "*" || r == "*/*" || *r == resource.resource)
            && listed(&self.operations, operation)
    }
}

impl PolicyMetadata {
    pub fn parse(text: &str) -> Result<PolicyMetadata> {
        Ok(serde_yaml::from_str::<Option<PolicyMetadata>>(text)?.unwrap_or_default())
    }

    pub fn load(path: &Path) -> Result<PolicyMetadata> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read policy metadata {}", path.display()))?;
        PolicyMetadata::parse(&text).with_context(|| format!("cannot parse policy metadata {}", path.display()))
    }

    /// Whether any rule selects the resource for the operation.
    pub fn covers(&self, resource: &GroupVersionResource, operation: &str) -> bool {
        self.rules.iter().any(|r| r.matches(resource, operation))
    }
}

/// The metadata file to use: the explicit one, else `policy-metadata.yml`
/// (or `.yaml`) next to the module when it exists.
pub fn metadata_path(explicit: Option<&Path>, policy: &Path) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let dir = policy.parent().unwrap_or_else(|| Path::new(""));
    ["policy-metadata.yml", "policy-metadata.yaml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|candidate| candidate.is_file())
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

    const METADATA: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE", "UPDATE"]
  - apiGroups: ["apps"]
    apiVersions: ["*"]
    resources: ["deployments", "statefulsets", "deployments/scale"]
    operations: ["*"]
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    resources: ["jobs"]
    operations: ["UPDATE"]
mutating: true
contextAwareResources: []
executionMode: kubewarden-wapc
annotations:
  io.kubewarden.policy.title: test
"#;

    #[test]
    fn rules_match_with_wildcards_and_operations() {
        let m = PolicyMetadata::parse(METADATA).unwrap();
        assert!(m.mutating);
        assert!(m.covers(&gvr("", "v1", "pods"), "CREATE"));
        assert!(!m.covers(&gvr("", "v1", "pods"), "DELETE"));
        assert!(!m.covers(&gvr("", "v1", "configmaps"), "CREATE"));
        assert!(!m.covers(&gvr("", "v2", "pods"), "CREATE"));
        assert!(m.covers(&gvr("apps", "v1beta2", "statefulsets"), "CREATE"));
        assert!(!m.covers(&gvr("apps", "v1", "daemonsets"), "CREATE"));
        assert!(!m.covers(&gvr("extensions", "v1", "deployments"), "CREATE"));
        // operations must include CREATE
        assert!(!m.covers(&gvr("batch", "v1", "jobs"), "CREATE"));
        // a subresource entry does not select the main resource
        let only_sub = Rule {
            api_groups: vec!["*".into()],
            api_versions: vec!["*".into()],
            resources: vec!["pods/status".into()],
            operations: vec!["CREATE".into()],
        };
        assert!(!only_sub.matches(&gvr("", "v1", "pods"), "CREATE"));
        let all = Rule {
            resources: vec!["*/*".into()],
            ..only_sub
        };
        assert!(all.matches(&gvr("x.io", "v9", "things"), "CREATE"));
    }

    #[test]
    fn empty_metadata_covers_nothing() {
        let m = PolicyMetadata::parse("").unwrap();
        assert!(m.rules.is_empty());
        assert!(!m.covers(&gvr("", "v1", "pods"), "CREATE"));
        assert!(PolicyMetadata::parse("rules: 3").is_err());
    }

    #[test]
    fn metadata_next_to_the_module_is_found() {
        let dir = std::env::temp_dir().join(format!("policy-runner-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("policy.wasm");
        assert_eq!(metadata_path(None, &wasm), None);
        std::fs::write(dir.join("policy-metadata.yml"), METADATA).unwrap();
        assert_eq!(metadata_path(None, &wasm), Some(dir.join("policy-metadata.yml")));
        let explicit = Path::new("/elsewhere/meta.yml");
        assert_eq!(metadata_path(Some(explicit), &wasm), Some(explicit.to_path_buf()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
