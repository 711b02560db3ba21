//! parse: the host's `validate` payload, `{"request": {...}, "settings": ...}`.
//!
//! The payload is parsed once, into borrowed text: the settings and the
//! request's object stay `&RawValue` slices of the payload. The settings are
//! parsed on their own (and cached, [`crate::settings`]); the object is parsed
//! into the view its kind calls for ([`crate::pruned`]) and its text is where a
//! mutation is spliced ([`crate::splice`]). Of the rest, only what tells an
//! audit scanner's request apart ([`AdmissionRequest::is_audit_scan`]) is
//! kept: `uid`, and `userInfo` and `resource` as text, read only when the
//! request could be the scanner's. `oldObject` is kept as text too, and parsed
//! only on UPDATE ([`AdmissionRequest::old_object_on_update`]); everything else
//! (`options`, ...) is skipped.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::json;
use crate::settings::Settings;

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
    /// The object as stored before an UPDATE, as text; `None` when absent or `null`.
    #[serde(default, borrow)]
    pub old_object: Option<&'a RawValue>,
    /// The request's own uid (the audit scanner sets the object's).
    #[serde(default)]
    pub uid: String,
    /// Who sent the request (`userInfo`), as text: read only to tell an
    /// audit scanner's request ([`AdmissionRequest::is_audit_scan`]).
    #[serde(default, borrow)]
    pub user_info: Option<&'a RawValue>,
    /// The request's resource (`resource`), as text, likewise.
    #[serde(default, borrow)]
    pub resource: Option<&'a RawValue>,
}

impl<'a> AdmissionRequest<'a> {
    /// The object as it was, on UPDATE only: CREATE has no earlier object,
    /// and a stray `oldObject` on another operation is not read.
    pub fn old_object_on_update(&self) -> Option<&'a RawValue> {
        self.old_object.filter(|_| self.operation == "UPDATE")
    }

    /// Whether this is the Kubewarden audit scanner's request for an object as
    /// stored, rather than one the API server sends to a webhook.
    ///
    /// The audit scanner (adm-controller's `internal/audit-scanner/scanner/
    /// admission_request.go`, unchanged since 2024) builds its request from the
    /// stored object: `operation: CREATE`, no `userInfo` at all, `uid` set to
    /// the object's own `metadata.uid`, and `resource.resource` set to the Kind
    /// (`Deployment`) rather than the plural resource name. All four are
    /// required here, because each rules out a different sender:
    ///
    /// - the API server always names the user (`system:anonymous` at least),
    ///   gives every request a fresh uid of its own, and names the plural
    ///   resource (`deployments`), never a Kind;
    /// - a request written by hand for `kwctl run` has an empty `userInfo`
    ///   but a uid of its own (or none), and a plural resource.
    ///
    /// The parts are read in that order, each only when the ones before
    /// matched: an admission request costs a look at its `resource` (or, on
    /// DELETE, UPDATE and CONNECT, nothing), never a second look at its object. A future
    /// scanner that changed its shape would be judged as admission judges
    /// (mutation accepted): the audit would miss the finding, and no request
    /// would be wrongly rejected.
    pub fn is_audit_scan(&self) -> bool {
        if self.operation != "CREATE" || self.uid.is_empty() || self.kind.kind.is_empty() {
            return false;
        }
        let is = |value: Option<Value>, expected: &str| value.is_some_and(|v| v.as_str() == Some(expected));
        let named = field(self.user_info, "/username").is_some_and(|u| u.as_str().is_some_and(|u| !u.is_empty()));
        is(field(self.resource, "/resource"), &self.kind.kind)
            && !named
            && is(field(self.object, "/metadata/uid"), &self.uid)
    }
}

/// The value at `pointer` in a part of the request kept as text. The parts are
/// parsed only here, and only when the request could be the audit scanner's.
fn field(text: Option<&RawValue>, pointer: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(text?.get()).ok()?;
    json::pointer(&value, pointer).cloned()
}

/// The settings the payload's request is judged under. The audit scanner's requests
/// ([`AdmissionRequest::is_audit_scan`]) are judged as if `mutate` were false:
/// a declared mount the object lacks is then the finding
/// `declared-mount-missing` (which rejects, under `action: reject`), so the
/// PolicyReport says `fail` where admission would have added the mount,
/// instead of `pass` for an accepted mutation that is never applied.
pub fn settings_for(payload: &Payload, settings: Rc<Settings>) -> Rc<Settings> {
    if !settings.mutate || !payload.request.is_audit_scan() {
        return settings;
    }
    // Parsed again (they parsed once already) rather than cloned: the audit's
    // requests pay for it, instead of every module carrying a clone of
    // Settings (1.7 KB of wasm, measured).
    let text = payload.settings.map_or(&b""[..], |t| t.get().as_bytes());
    match Settings::from_json(text) {
        Ok(mut audit) => {
            audit.mutate = false;
            Rc::new(audit)
        }
        Err(_) => settings,
    }
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

/// Why the old object's text could not be parsed into its view.
pub fn describe_old_object_error(e: serde_json::Error) -> String {
    format!("the admission request could not be parsed at request.oldObject: {e}")
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
        assert_eq!(parsed.request.old_object.map(RawValue::get), Some(r#"{"x": [1]}"#));
        assert!(
            parsed.request.old_object_on_update().is_none(),
            "CREATE reads no oldObject"
        );
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
