//! The guest's ValidationResponse and the AdmissionResponse printed by `run`.
//!
//! The printed shape follows what `kwctl run` prints (policy-evaluator's
//! `AdmissionResponse::from_policy_validation_response`, serialised with
//! serde_json):
//! - keys in this order: `uid`, `allowed`, `patchType`, `patch`, `status`,
//!   `auditAnnotations`, `warnings`;
//! - `patchType`/`patch` only when the policy returned a `mutated_object`
//!   whose diff against the request's `object` is not empty;
//! - `status` (`{"message","code"}`, each only when set) whenever the policy
//!   gave a message or a code — accepted or not; without either there is no
//!   `status` at all, and a missing code stays missing (no default);
//! - `auditAnnotations` and `warnings` are always present: `null` when the
//!   policy gave none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::patch::{self, Patch};
use crate::results::Verdict;

/// Kubewarden's ValidationResponse, as returned by the guest's `validate`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ValidationResponse {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<Value>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

/// admission/v1 AdmissionResponse, in the subset and shape kwctl prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// What the policy decided on a request: the AdmissionResponse, and its
/// patch decoded for `check`'s reports.
#[derive(Debug, Clone)]
pub struct Decision {
    pub response: AdmissionResponse,
    pub patch: Option<Patch>,
}

impl Decision {
    /// The verdict of `check` and `bench`: rejected, mutated (admitted with
    /// a patch that changes something) or allowed.
    pub fn verdict(&self) -> Verdict {
        match (self.response.allowed, &self.patch) {
            (false, _) => Verdict::Rejected,
            (true, Some(_)) => Verdict::Mutated,
            (true, None) => Verdict::Allowed,
        }
    }
}

/// Text kwctl uses when a policy mutates a request that has no object.
pub const MUTATION_WITHOUT_OBJECT: &str = "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed";

/// Converts the guest's answer the way policy-evaluator does.
pub fn admission_response(
    uid: &str,
    request_object: Option<&Value>,
    validation: &ValidationResponse,
) -> anyhow::Result<Decision> {
    let request_object = request_object.filter(|o| !o.is_null());
    let patch = match (&validation.mutated_object, request_object) {
        (Some(_), None) => {
            let refusal = ValidationResponse {
                message: Some(MUTATION_WITHOUT_OBJECT.to_string()),
                ..ValidationResponse::default()
            };
            return admission_response(uid, None, &refusal);
        }
        (Some(mutated), Some(original)) => Some(patch::diff(original, mutated)).filter(|p| !p.0.is_empty()),
        (None, _) => None,
    };
    let encoded = patch.as_ref().map(patch::encode).transpose()?;
    let status = (validation.message.is_some() || validation.code.is_some()).then(|| Status {
        message: validation.message.clone(),
        code: validation.code,
    });
    Ok(Decision {
        response: AdmissionResponse {
            uid: uid.to_string(),
            allowed: validation.accepted,
            patch_type: encoded.as_ref().map(|_| "JSONPatch".to_string()),
            patch: encoded,
            status,
            audit_annotations: validation.audit_annotations.clone(),
            warnings: validation.warnings.clone(),
        },
        patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> ValidationResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepted_without_extras_prints_nulls_and_no_status() {
        let out = admission_response("u1", Some(&json!({"a": 1})), &parse(json!({"accepted": true}))).unwrap();
        assert_eq!(
            serde_json::to_string(&out.response).unwrap(),
            r#"{"uid":"u1","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
        assert!(out.patch.is_none());
    }

    #[test]
    fn rejection_without_code_has_no_code() {
        let v = parse(json!({"accepted": false, "message": "no", "code": null,
            "mutated_object": null, "audit_annotations": null, "warnings": null}));
        let out = admission_response("u", Some(&json!({})), &v).unwrap();
        assert_eq!(
            serde_json::to_value(&out.response).unwrap(),
            json!({"uid":"u","allowed":false,"status":{"message":"no"},
                   "auditAnnotations":null,"warnings":null})
        );
    }

    #[test]
    fn rejection_with_code_annotations_and_warnings() {
        let v = parse(json!({"accepted": false, "message": "no", "code": 403,
            "audit_annotations": {"k": "v"}, "warnings": ["w1", "w2"]}));
        let out = admission_response("u", Some(&json!({})), &v).unwrap();
        assert_eq!(
            serde_json::to_string(&out.response).unwrap(),
            r#"{"uid":"u","allowed":false,"status":{"message":"no","code":403},"auditAnnotations":{"k":"v"},"warnings":["w1","w2"]}"#
        );
    }

    #[test]
    fn rejection_without_message_or_code_has_no_status() {
        let out = admission_response("u", None, &parse(json!({"accepted": false}))).unwrap();
        let v = serde_json::to_value(&out.response).unwrap();
        assert!(v.get("status").is_none());
        assert_eq!(v["allowed"], json!(false));
    }

    #[test]
    fn mutation_yields_patch_type_and_base64_patch() {
        let original = json!({"metadata": {"name": "p"}});
        let mutated = json!({"metadata": {"name": "p", "annotations": {"x": "y"}}});
        let v = parse(json!({"accepted": true, "mutated_object": mutated}));
        let out = admission_response("u", Some(&original), &v).unwrap();
        let text = serde_json::to_string(&out.response).unwrap();
        assert!(
            text.starts_with(r#"{"uid":"u","allowed":true,"patchType":"JSONPatch","patch":""#),
            "{text}"
        );
        let expected = patch::encode(&patch::diff(&original, &mutated)).unwrap();
        assert_eq!(out.response.patch.as_deref(), Some(expected.as_str()));
        assert_eq!(out.patch.unwrap().0.len(), 1);
    }

    #[test]
    fn unchanged_mutated_object_gives_no_patch() {
        let original = json!({"a": 1});
        let v = parse(json!({"accepted": true, "mutated_object": original}));
        let out = admission_response("u", Some(&original), &v).unwrap();
        let v = serde_json::to_value(&out.response).unwrap();
        assert!(v.get("patch").is_none() && v.get("patchType").is_none());
    }

    #[test]
    fn mutation_without_request_object_is_rejected() {
        let v = parse(json!({"accepted": true, "mutated_object": {"a": 1}}));
        let out = admission_response("u", None, &v).unwrap();
        assert!(!out.response.allowed);
        assert_eq!(
            out.response.status.unwrap().message.as_deref(),
            Some(MUTATION_WITHOUT_OBJECT)
        );
    }

    #[test]
    fn accepted_with_message_keeps_status() {
        let v = parse(json!({"accepted": true, "message": "fyi"}));
        let out = admission_response("u", Some(&json!({})), &v).unwrap();
        assert_eq!(
            out.response.status,
            Some(Status {
                message: Some("fyi".into()),
                code: None
            })
        );
    }
}
