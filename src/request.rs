//! parse: the host's `validate` payload, `{"request": {...}, "settings": ...}`.
//!
//! The payload is parsed once, into borrowed text: the settings and the
//! request's object stay `&RawValue` slices of the payload. The settings are
//! parsed on their own (and cached, [`crate::settings`]); the object is parsed
//! into the view its kind calls for ([`crate::pruned`]) and its text is where a
//! mutation is spliced ([`crate::splice`]). Everything else of the request
//! (`uid`, `userInfo`, `oldObject`, ...) is skipped without being kept.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The `validate` payload.
#[derive(Deserialize)]
pub struct Payload<'a> {
    #[serde(borrow, default)]
    pub settings: Option<&'a RawValue>,
    #[serde(borrow)]
    pub request: AdmissionRequest<'a>,
}

/// The parts of a Kubernetes AdmissionRequest the policy reads.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's JSON text; `None` when absent or `null` (DELETE).
    #[serde(default, borrow)]
    pub object: Option<&'a RawValue>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The namespace a request is about: the request's own (the API server sets it
/// from the URL the object was sent to), else the object's
/// `metadata.namespace` (a hand-written request may name only that). The one
/// rule for every step: the VSO resources read, and the subject of a message.
pub fn namespace<'a>(request: &'a AdmissionRequest, object: &'a serde_json::Value) -> Option<&'a str> {
    let own = request.namespace.as_deref().filter(|n| !n.is_empty());
    own.or_else(|| {
        crate::json::pointer(object, "/metadata/namespace")
            .and_then(serde_json::Value::as_str)
            .filter(|n| !n.is_empty())
    })
}

/// Parses the payload. A host parses the request before it sends it, so an
/// error here is a host bug or a hand-written request: serde_json's message
/// says what was expected where (line and column).
pub fn parse(payload: &[u8]) -> Result<Payload<'_>, String> {
    serde_json::from_slice(payload).map_err(|e| format!("the admission request could not be parsed: {e}"))
}

/// Why the object's text could not be parsed into its view.
pub fn describe_object_error(e: serde_json::Error) -> String {
    format!("the admission request could not be parsed at request.object: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_stays_text_and_the_rest_is_skipped() {
        let payload = br#"{"request": {"uid": "u", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "operation": "CREATE", "namespace": "a", "oldObject": {"x": [1]}, "object": {"spec": {}}},
            "settings": {"mutate": false}}"#;
        let parsed = parse(payload).unwrap();
        assert_eq!(parsed.request.object.map(RawValue::get), Some(r#"{"spec": {}}"#));
        assert_eq!(parsed.settings.map(RawValue::get), Some(r#"{"mutate": false}"#));
        assert_eq!(parsed.request.kind.kind, "Deployment");
        assert_eq!(parsed.request.namespace.as_deref(), Some("a"));
    }

    #[test]
    fn a_null_object_is_none() {
        let parsed = parse(br#"{"request": {"operation": "DELETE", "object": null}}"#).unwrap();
        assert!(parsed.request.object.is_none());
        assert!(parsed.settings.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(br#"{"request": {"kind": 5}}"#).err().unwrap();
        assert_eq!(
            err,
            "the admission request could not be parsed: invalid type: integer `5`, expected struct GroupVersionKind at line 1 column 22"
        );
    }
}
