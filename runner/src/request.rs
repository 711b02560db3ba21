//! AdmissionRequests: reading user-given ones (bare or in an
//! AdmissionReview), and building them for manifests' objects.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kubernetes::{is_cluster_scoped, GroupVersionKind, GroupVersionResource};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

/// admission/v1 AdmissionRequest. Which fields are required and which are
/// dropped when absent follows policy-evaluator, which kwctl uses to
/// re-serialise the request before handing it to the policy: `uid`, `kind`,
/// `resource`, `operation` and `userInfo` are required; unknown fields are
/// not passed on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub operation: String,
    pub user_info: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

impl AdmissionRequest {
    /// Parses a request given by the user (AdmissionReview already unwrapped).
    pub fn from_value(value: Value) -> Result<AdmissionRequest> {
        serde_json::from_value(value).map_err(|e| anyhow!("cannot build AdmissionRequest object from given input: {e}"))
    }

    /// The payload of the waPC `validate` call.
    pub fn validate_payload(&self, settings: &Value) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&json!({"request": self, "settings": settings}))?)
    }
}

/// Reads the request for `run`/`bench`: a bare AdmissionRequest or an
/// AdmissionReview wrapping one, as JSON or YAML (`-` for stdin).
pub fn load_request(path: &str) -> Result<AdmissionRequest> {
    let origin = crate::input::origin_name(path);
    let text = crate::input::read_text(path, "request file")?;
    let value = crate::input::parse_single_document(&text)
        .map_err(|e| anyhow!("cannot parse request file {origin}: {e}"))?
        .ok_or_else(|| anyhow!("request file {origin} is empty"))?;
    let request = unwrap_admission_review(value).map_err(|e| anyhow!("request file {origin}: {e}"))?;
    AdmissionRequest::from_value(request).map_err(|e| anyhow!("request file {origin}: {e}"))
}

/// `AdmissionReview` → its `.request`; anything else is taken as a bare
/// AdmissionRequest (kwctl's rule: `kind` is the string `AdmissionReview`).
fn unwrap_admission_review(input: Value) -> Result<Value> {
    let Value::Object(mut map) = input else {
        bail!("the request must be a JSON/YAML object (an AdmissionRequest or an AdmissionReview)");
    };
    if map.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Ok(Value::Object(map));
    }
    match map.remove("request") {
        Some(request @ Value::Object(_)) => Ok(request),
        _ => bail!("invalid AdmissionReview object: it has no `request` object"),
    }
}

/// A Kubernetes object taken from a manifest, with its identity.
#[derive(Debug, Clone)]
pub struct ManifestObject {
    pub api_version: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub object: Value,
}

impl ManifestObject {
    /// Checks that `object` looks like a Kubernetes object and reads its identity.
    pub fn new(object: Value) -> Result<ManifestObject> {
        let Value::Object(map) = &object else {
            bail!(
                "not a Kubernetes object: expected a map, got {}",
                crate::input::type_name(&object)
            );
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
            bail!("not a Kubernetes object: `apiVersion` and `kind` must be non-empty strings");
        };
        let resource = GroupVersionResource::of_kind(api_version, kind);
        let meta = map.get("metadata");
        let meta_text = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let kind = GroupVersionKind {
            group: resource.group.clone(),
            version: resource.version.clone(),
            kind: kind.to_string(),
        };
        let (api_version, name) = (
            api_version.to_string(),
            meta_text("name").or_else(|| meta_text("generateName")),
        );
        let namespace = meta_text("namespace");
        Ok(ManifestObject {
            api_version,
            kind,
            resource,
            name,
            namespace,
            object,
        })
    }

    /// What names the object in a namespace (`namespace`, which reports
    /// resolve each their way): API version, kind, namespace, name.
    pub fn identity(&self, namespace: Option<&str>) -> String {
        let name = self.name.as_deref().unwrap_or_default();
        [
            self.api_version.as_str(),
            &self.kind.kind,
            namespace.unwrap_or_default(),
            name,
        ]
        .join("\u{0}")
    }

    /// `Kind namespace/name`, or `Kind name`.
    pub fn display(&self) -> String {
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{name}", self.kind.kind),
            None => format!("{} {name}", self.kind.kind),
        }
    }

    /// The namespace of the object's CREATE request: its own, else
    /// `default_namespace`, as `kubectl apply` would create it; `None` for a
    /// cluster-scoped object that names none.
    pub fn request_namespace<'a>(&'a self, default_namespace: &'a str) -> Option<&'a str> {
        match &self.namespace {
            Some(ns) => Some(ns),
            None if is_cluster_scoped(&self.kind.kind) => None,
            None => Some(default_namespace),
        }
    }

    /// Wraps the object in a CREATE AdmissionRequest in its
    /// [`ManifestObject::request_namespace`] (the object itself is left as
    /// written, so that patches are computed against the manifest).
    pub fn create_request(&self, uid: String, default_namespace: &str) -> AdmissionRequest {
        let namespace = self.request_namespace(default_namespace).map(str::to_string);
        AdmissionRequest {
            uid,
            kind: self.kind.clone(),
            resource: self.resource.clone(),
            sub_resource: None,
            request_kind: Some(self.kind.clone()),
            request_resource: Some(self.resource.clone()),
            request_sub_resource: None,
            name: self.name.clone(),
            namespace,
            operation: "CREATE".to_string(),
            user_info: UserInfo {
                username: Some("policy-runner".to_string()),
                uid: None,
                groups: Some(vec!["system:authenticated".to_string()]),
                extra: None,
            },
            object: Some(self.object.clone()),
            old_object: None,
            dry_run: Some(false),
            options: Some(json!({"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"})),
        }
    }
}

/// A manifest object with just its identity, for tests.
#[cfg(test)]
pub fn object(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> ManifestObject {
    let mut meta = json!({"name": name});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    #[allow(clippy::unwrap_used)]
    ManifestObject::new(json!({"apiVersion": api_version, "kind": kind, "metadata": meta})).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_review_is_unwrapped_and_bare_request_kept() {
        let request = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}});
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        assert_eq!(unwrap_admission_review(review).unwrap(), request);
        assert_eq!(unwrap_admission_review(request.clone()).unwrap(), request);
        let err = unwrap_admission_review(json!({"kind": "AdmissionReview"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `request`"), "{err}");
        assert!(unwrap_admission_review(json!([1])).is_err());
    }

    #[test]
    fn manifest_objects_become_create_requests() {
        let obj = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}, "spec": {}});
        let m = ManifestObject::new(obj.clone()).unwrap();
        assert_eq!(m.display(), "Deployment prod/web");
        let req = serde_json::to_value(m.create_request("check-1".into(), "default")).unwrap();
        assert_eq!(req["uid"], "check-1");
        assert_eq!(req["operation"], "CREATE");
        assert_eq!(
            req["kind"],
            serde_json::json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert_eq!(
            req["resource"],
            serde_json::json!({"group": "apps", "version": "v1", "resource": "deployments"})
        );
        assert_eq!(req["name"], "web");
        assert_eq!(req["namespace"], "prod");
        assert_eq!(req["object"], obj);
        assert!(req.get("oldObject").is_none());

        let pod =
            ManifestObject::new(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))
                .unwrap();
        assert_eq!(pod.display(), "Pod p");
        let req = serde_json::to_value(pod.create_request("x".into(), "team-a")).unwrap();
        assert_eq!(req["namespace"], "team-a");
        assert_eq!(req["object"]["metadata"], serde_json::json!({"name": "p"}));
        assert_eq!(req["kind"]["group"], "");
        // a cluster-scoped object stays without a namespace
        let ns = ManifestObject::new(
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        )
        .unwrap();
        let req = serde_json::to_value(ns.create_request("y".into(), "team-a")).unwrap();
        assert!(req.get("namespace").is_none());
    }

    #[test]
    fn non_objects_are_rejected() {
        assert!(ManifestObject::new(serde_json::json!("text")).is_err());
        assert!(ManifestObject::new(serde_json::json!({"kind": "Pod"})).is_err());
    }

    #[test]
    fn user_requests_follow_policy_evaluator_rules() {
        let full = serde_json::json!({
            "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {"username": "me"},
            "object": {"a": 1}, "unknownField": true, "oldObject": null
        });
        let req = AdmissionRequest::from_value(full.clone()).unwrap();
        let out = serde_json::to_value(&req).unwrap();
        assert!(out.get("unknownField").is_none());
        assert!(out.get("oldObject").is_none());
        assert_eq!(out["userInfo"], serde_json::json!({"username": "me"}));

        let mut missing = full;
        missing.as_object_mut().unwrap().remove("userInfo");
        let err = AdmissionRequest::from_value(missing).unwrap_err().to_string();
        assert!(err.contains("missing field `userInfo`"), "{err}");
    }
}
