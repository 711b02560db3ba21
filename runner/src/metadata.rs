//! Kubewarden policy metadata (`policy-metadata.yml`, or the JSON that
//! `kwctl annotate` embeds in the module) and its rules.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use crate::admission_match::{rules_select, RequestFacts, RuleWithOperations};

/// The parts of policy metadata that matter here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyMetadata {
    /// Read as kwctl reads them: unknown fields are ignored.
    pub rules: Vec<RuleWithOperations>,
    pub mutating: bool,
    /// The Kubernetes resources the policy reads at evaluation time.
    pub context_aware_resources: Vec<ContextAwareResource>,
    /// Free-form; the runner reads its own keys there (`check`'s rule
    /// annotation), and a value of another type is not refused here.
    pub annotations: std::collections::BTreeMap<String, serde_json::Value>,
}

impl PolicyMetadata {
    pub fn parse(text: &str) -> Result<PolicyMetadata> {
        // The runner's one YAML reader (YAML 1.1, as the rules of a
        // ClusterAdmissionPolicy manifest are read by kubectl).
        match crate::input::parse_single_document(text)? {
            None => Ok(PolicyMetadata::default()),
            Some(value) => Ok(serde_json::from_value(value)?),
        }
    }

    pub fn load(path: &Path) -> Result<PolicyMetadata> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read policy metadata {}", path.display()))?;
        PolicyMetadata::parse(&text).with_context(|| format!("cannot parse policy metadata {}", path.display()))
    }

    /// Whether a rule sends the policy the request, scope included, as the
    /// API server matches the webhook that kwctl's rules become.
    pub fn covers(&self, request: &RequestFacts) -> bool {
        rules_select(&self.rules, request)
    }
}

/// The custom section where `kwctl annotate` puts the metadata, as JSON
/// (policy-evaluator's `KUBEWARDEN_CUSTOM_SECTION_METADATA`).
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The data of the first custom section called `name` in a binary module;
/// `None` when there is none, or when `bytes` is not a binary module (the
/// text format has no custom sections).
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    if !wasmparser::Parser::is_core_wasm(bytes) {
        return Ok(None);
    }
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CustomSection(section) = payload? {
            if section.name() == name {
                return Ok(Some(section.data()));
            }
        }
    }
    Ok(None)
}

/// The metadata `kwctl annotate` embedded in a module, if any.
pub fn embedded(bytes: &[u8]) -> Result<Option<PolicyMetadata>> {
    let Some(data) = custom_section(bytes, METADATA_SECTION)? else {
        return Ok(None);
    };
    let metadata = serde_json::from_slice(data).map_err(|e| anyhow!("invalid {METADATA_SECTION} section: {e}"))?;
    Ok(Some(metadata))
}

/// Policy metadata and where it was found.
#[derive(Debug, Clone)]
pub struct FoundMetadata {
    pub metadata: PolicyMetadata,
    /// `policy-metadata.yml`, or `the module's io.kubewarden.metadata section`.
    pub origin: String,
}

/// The policy's metadata: the explicit file, else what `kwctl annotate`
/// embedded in the module (where kwctl reads it), else the
/// `policy-metadata.yml` (or `.yaml`) beside the module.
pub fn find_metadata(explicit: Option<&Path>, policy: &Path) -> Result<Option<FoundMetadata>> {
    if let Some(path) = explicit {
        return from_file(path).map(Some);
    }
    // An unreadable module is reported when it is loaded.
    if let Ok(bytes) = std::fs::read(policy) {
        let found = embedded(&bytes).with_context(|| format!("policy module {}", policy.display()))?;
        if let Some(metadata) = found {
            return Ok(Some(FoundMetadata {
                metadata,
                origin: format!("the {METADATA_SECTION} section of {}", policy.display()),
            }));
        }
    }
    metadata_beside(policy).map(|path| from_file(&path)).transpose()
}

fn from_file(path: &Path) -> Result<FoundMetadata> {
    Ok(FoundMetadata {
        metadata: PolicyMetadata::load(path)?,
        origin: path.display().to_string(),
    })
}

/// `policy-metadata.yml` (or `.yaml`) next to the module, when it exists.
fn metadata_beside(policy: &Path) -> Option<PathBuf> {
    let dir = policy.parent().unwrap_or_else(|| Path::new(""));
    ["policy-metadata.yml", "policy-metadata.yaml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// An entry of the metadata's `contextAwareResources`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

impl ContextAwareResource {
    pub fn new(api_version: &str, kind: &str) -> ContextAwareResource {
        ContextAwareResource {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::GroupVersionResource;

    /// The `operation` of a main resource in namespace `default`.
    fn request<'a>(resource: &'a GroupVersionResource, operation: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            operation,
            ..RequestFacts::create(resource, Some("default"))
        }
    }

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
        assert!(m.covers(&request(&gvr("", "v1", "pods"), "CREATE")));
        assert!(!m.covers(&request(&gvr("", "v1", "pods"), "DELETE")));
        assert!(!m.covers(&request(&gvr("", "v1", "configmaps"), "CREATE")));
        assert!(!m.covers(&request(&gvr("", "v2", "pods"), "CREATE")));
        assert!(m.covers(&request(&gvr("apps", "v1beta2", "statefulsets"), "CREATE")));
        assert!(!m.covers(&request(&gvr("apps", "v1", "daemonsets"), "CREATE")));
        assert!(!m.covers(&request(&gvr("extensions", "v1", "deployments"), "CREATE")));
        // operations must include CREATE
        assert!(!m.covers(&request(&gvr("batch", "v1", "jobs"), "CREATE")));
        // a subresource entry does not select the main resource
        let only_sub = PolicyMetadata::parse(
            "rules: [{apiGroups: ['*'], apiVersions: ['*'], resources: [pods/status], operations: [CREATE]}]",
        )
        .unwrap();
        assert!(!only_sub.covers(&request(&gvr("", "v1", "pods"), "CREATE")));
        let all = PolicyMetadata::parse(
            "rules: [{apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], operations: [CREATE]}]",
        )
        .unwrap();
        assert!(all.covers(&request(&gvr("x.io", "v9", "things"), "CREATE")));
    }

    #[test]
    fn rules_are_read_as_kwctl_reads_them_and_matched_with_their_scope() {
        // an unknown field is ignored, as k8s-openapi's types ignore it
        let m = PolicyMetadata::parse(
            "rules: [{apiGroups: [''], apiVersions: [v1], resources: ['*'], operations: [CREATE], scope: Namespaced, sideEffects: None}]",
        )
        .unwrap();
        let (pods, namespaces) = (gvr("", "v1", "pods"), gvr("", "v1", "namespaces"));
        assert!(m.covers(&RequestFacts::create(&pods, Some("a"))));
        // the API server sends a Namespaced rule no cluster-scoped object
        assert!(!m.covers(&RequestFacts::create(&namespaces, None)));
        assert!(!m.covers(&RequestFacts::create(&gvr("", "v1", "nodes"), None)));
    }

    #[test]
    fn empty_metadata_covers_nothing() {
        let m = PolicyMetadata::parse("").unwrap();
        assert!(m.rules.is_empty());
        assert!(!m.covers(&request(&gvr("", "v1", "pods"), "CREATE")));
        assert!(PolicyMetadata::parse("rules: 3").is_err());
    }

    #[test]
    fn metadata_next_to_the_module_is_found() {
        let dir = std::env::temp_dir().join(format!("policy-runner-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("policy.wasm");
        assert_eq!(metadata_beside(&wasm), None);
        std::fs::write(dir.join("policy-metadata.yml"), METADATA).unwrap();
        assert_eq!(metadata_beside(&wasm), Some(dir.join("policy-metadata.yml")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A binary module with the given custom sections (name, data), and a
    /// type section between them, as `kwctl annotate` leaves a module.
    fn module_with_sections(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&[1, 1, 0]); // an empty type section
        for (name, data) in sections {
            let mut content = vec![name.len() as u8];
            content.extend_from_slice(name.as_bytes());
            content.extend_from_slice(data);
            bytes.push(0);
            // a two-byte LEB128 size, as large sections have
            let size = content.len();
            bytes.extend_from_slice(&[(size as u8 & 0x7f) | 0x80, (size >> 7) as u8]);
            bytes.extend_from_slice(&content);
        }
        bytes
    }

    #[test]
    fn context_aware_resources_are_read() {
        let m = PolicyMetadata::parse(
            "contextAwareResources:\n  - apiVersion: secrets.hashicorp.com/v1beta1\n    kind: VaultStaticSecret\n  - {apiVersion: v1, kind: Namespace}\n",
        )
        .unwrap();
        assert_eq!(
            m.context_aware_resources,
            [
                ContextAwareResource::new("secrets.hashicorp.com/v1beta1", "VaultStaticSecret"),
                ContextAwareResource::new("v1", "Namespace")
            ]
        );
        assert!(PolicyMetadata::parse(METADATA)
            .unwrap()
            .context_aware_resources
            .is_empty());
    }

    #[test]
    fn metadata_embedded_by_kwctl_annotate_is_found() {
        let json = br#"{"protocolVersion":"v1","rules":[{"apiGroups":["apps"],"apiVersions":["v1"],"resources":["deployments"],"operations":["CREATE"]}],"annotations":{"io.kubewarden.policy.title":"t"},"mutating":true,"contextAwareResources":[{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultPKISecret"}],"executionMode":"kubewarden-wapc","backgroundAudit":true,"policyType":"kubernetes"}"#;
        let module = module_with_sections(&[("name", b"\x01x"), (METADATA_SECTION, json)]);
        let m = embedded(&module).unwrap().unwrap();
        assert!(m.mutating);
        assert!(m.covers(&request(&gvr("apps", "v1", "deployments"), "CREATE")));
        assert_eq!(
            m.context_aware_resources,
            [ContextAwareResource::new(
                "secrets.hashicorp.com/v1beta1",
                "VaultPKISecret"
            )]
        );
        assert!(embedded(&module_with_sections(&[("other", b"{}")])).unwrap().is_none());
        assert!(embedded(b"(module)").unwrap().is_none());
        assert!(embedded(&module_with_sections(&[(METADATA_SECTION, b"not json")])).is_err());
        let mut truncated = module_with_sections(&[(METADATA_SECTION, json)]);
        truncated.truncate(truncated.len() - 10);
        assert!(embedded(&truncated).is_err());
    }

    #[test]
    fn explicit_then_embedded_then_beside_the_module() {
        let dir = std::env::temp_dir().join(format!("policy-runner-find-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("policy.wasm");
        std::fs::write(&wasm, module_with_sections(&[])).unwrap();
        assert!(find_metadata(None, &wasm).unwrap().is_none());
        std::fs::write(dir.join("policy-metadata.yml"), "mutating: false\n").unwrap();
        let beside = find_metadata(None, &wasm).unwrap().unwrap();
        assert!(beside.origin.ends_with("policy-metadata.yml"));
        std::fs::write(
            &wasm,
            module_with_sections(&[(METADATA_SECTION, br#"{"mutating":true}"#)]),
        )
        .unwrap();
        let annotated = find_metadata(None, &wasm).unwrap().unwrap();
        assert!(annotated.metadata.mutating);
        assert!(annotated.origin.contains(METADATA_SECTION), "{}", annotated.origin);
        let explicit = dir.join("explicit.yml");
        std::fs::write(&explicit, "contextAwareResources: [{apiVersion: v1, kind: Pod}]\n").unwrap();
        let chosen = find_metadata(Some(&explicit), &wasm).unwrap().unwrap();
        assert_eq!(chosen.metadata.context_aware_resources.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
