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
use serde_json::Value;

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

/// Parses the payload; the error names the offending field.
pub fn parse(payload: &[u8]) -> Result<Payload<'_>, String> {
    serde_json::from_slice(payload).map_err(|plain| describe_error::<Payload>(payload, None, plain))
}

/// Why the object's text could not be parsed into its view, naming the field.
pub fn describe_object_error(object: &RawValue, plain: serde_json::Error) -> String {
    describe_error::<Value>(object.get().as_bytes(), Some("request.object"), plain)
}

/// Parses `json` again as a `T` with serde_path_to_error, which copies every key,
/// to name the field where the plain parse failed; `within` is where `json` is
/// in the payload. A parse error is a host bug or a hand-written request, so
/// only this rare path pays for the copies.
fn describe_error<'a, T: Deserialize<'a>>(json: &'a [u8], within: Option<&str>, plain: serde_json::Error) -> String {
    let mut de = serde_json::Deserializer::from_slice(json);
    let named = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) if e.path().to_string() != "." => Some((e.path().to_string(), e.into_inner())),
        _ => None,
    };
    let prefix = "the admission request could not be parsed";
    match (within, named) {
        (None, Some((path, e))) => format!("{prefix} at {path}: {e}"),
        (Some(within), Some((path, e))) => format!("{prefix} at {within}.{path}: {e}"),
        (None, None) => format!("{prefix}: {plain}"),
        (Some(within), None) => format!("{prefix} at {within}: {plain}"),
    }
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
        assert!(
            err.starts_with("the admission request could not be parsed at request.kind: "),
            "{err}"
        );
    }
}
