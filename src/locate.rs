//! locate: where the pod specs of an object are, and whether a request is
//! judged at all.
//!
//! Built-in workload kinds have fixed locations; the `podSpecPaths` setting adds
//! JSONPath expressions per `group/version/Kind`. Every location is resolved to a
//! JSON pointer, so the rules, the planner and the splicer address the object the
//! same way for every kind, and messages can say exactly where a pod spec was found.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::json::{display_pointer, kind_of};
use crate::jsonpath;
use crate::kinds;
use crate::pruned::Shape;
use crate::request::{AdmissionRequest, GroupVersionKind};
use crate::settings::Settings;

/// A pod spec found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpecLocation {
    /// JSON pointer of the pod spec object (RFC 6901), e.g. `/spec/template/spec`.
    pub pointer: String,
}

impl PodSpecLocation {
    fn new(pointer: String) -> Self {
        PodSpecLocation { pointer }
    }

    /// Dotted path for messages: `spec.template.spec`, `spec.workloads[1].template.spec`.
    pub fn display(&self) -> String {
        display_pointer(&self.pointer)
    }

    /// Pointer of the object whose `metadata.labels` select this pod spec:
    /// the pod template (`/spec/template`) or, for a Pod, the Pod itself.
    pub fn labels_pointer(&self) -> String {
        format!("{}/labels", self.metadata_pointer())
    }

    /// Pointer of the pod template's `metadata` (for a Pod, its own): with
    /// the pod spec, what a controller compares to tell a template changed.
    pub fn metadata_pointer(&self) -> String {
        let parent = self.pointer.rsplit_once('/').map_or("", |(p, _)| p);
        format!("{parent}/metadata")
    }
}

/// The built-in pod spec pointer of a kind, if the policy knows where it is.
pub fn built_in_pointer(group: &str, kind: &str) -> Option<&'static str> {
    kinds::find(group, kind).and_then(|k| k.pod_spec)
}

/// Why pod specs could not be located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocateError {
    /// Dotted path of the offending field.
    pub at: String,
    pub message: String,
}

/// Whether the policy judges this request at all, from its kind, operation and
/// subresource alone (before the object is parsed).
pub fn is_judged(settings: &Settings, request: &AdmissionRequest) -> bool {
    let sub_resource = request.sub_resource.as_deref().unwrap_or("");
    let GroupVersionKind { group, version, kind } = &request.kind;
    // Only the object itself and the ephemeral-containers subresource carry a pod spec.
    matches!(request.operation.as_str(), "CREATE" | "UPDATE")
        && matches!(sub_resource, "" | "ephemeralcontainers")
        && is_covered(settings, group, version, kind)
}

/// Does this kind have any pod spec location (built-in or configured)?
pub fn is_covered(settings: &Settings, group: &str, version: &str, kind: &str) -> bool {
    built_in_pointer(group, kind).is_some() || configured_paths(settings, group, version, kind).is_some()
}

/// What of an object of this kind is parsed: for a built-in kind without
/// `podSpecPaths`, the pod spec's place is known before the object is read, so
/// only the fields the policy reads are kept ([`pruned`]); JSONPath reads the
/// whole object.
pub fn view_shape(settings: &Settings, kind: &GroupVersionKind) -> &'static Shape {
    kinds::find(&kind.group, &kind.kind)
        .filter(|k| k.pod_spec.is_some())
        .filter(|_| configured_paths(settings, &kind.group, &kind.version, &kind.kind).is_none())
        .map_or(&Shape::Whole, |k| k.shape)
}

fn configured_paths<'s>(settings: &'s Settings, group: &str, version: &str, kind: &str) -> Option<&'s Vec<String>> {
    let key = if group.is_empty() {
        format!("{version}/{kind}")
    } else {
        format!("{group}/{version}/{kind}")
    };
    settings.pod_spec_paths.get(&key)
}

/// Finds every pod spec of `object`, a resource of the given kind. A location that
/// is absent is skipped (the field may be optional); one that holds something other
/// than an object is an error, as is a built-in path crossing a non-object.
pub fn locate(
    settings: &Settings,
    group: &str,
    version: &str,
    kind: &str,
    object: &Value,
) -> Result<Vec<PodSpecLocation>, LocateError> {
    let mut found = Vec::new();
    if let Some(pointer) = built_in_pointer(group, kind) {
        if let Some(location) = follow_pointer(object, pointer)? {
            found.push(location);
        }
    }
    if let Some(paths) = configured_paths(settings, group, version, kind) {
        let mut seen: BTreeSet<String> = found.iter().map(|l| l.pointer.clone()).collect();
        for path in paths {
            for location in select(object, path)? {
                if seen.insert(location.pointer.clone()) {
                    found.push(location);
                }
            }
        }
    }
    Ok(found)
}

/// Follows a built-in pointer: absent fields mean "no pod spec", a non-object
/// (e.g. `spec: 5`) on the way is malformed.
fn follow_pointer(object: &Value, pointer: &str) -> Result<Option<PodSpecLocation>, LocateError> {
    let mut current = object;
    let mut walked = String::new();
    for token in pointer.split('/').skip(1) {
        let Some(map) = current.as_object() else {
            return Err(not_an_object(&walked, current));
        };
        walked.push('/');
        walked.push_str(token);
        match map.get(token) {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => current = next,
        }
    }
    if current.is_object() {
        Ok(Some(PodSpecLocation::new(pointer.to_string())))
    } else {
        Err(not_an_object(&walked, current))
    }
}

fn not_an_object(pointer: &str, value: &Value) -> LocateError {
    let at = place(pointer);
    LocateError {
        message: format!("{at} must be an object, found {}", kind_of(value)),
        at,
    }
}

/// A location for messages: its dotted path, or "the object" for the root.
fn place(pointer: &str) -> String {
    crate::json::place(&display_pointer(pointer))
}

/// The pod specs a `podSpecPaths` expression selects; each must be an object.
fn select(object: &Value, path: &str) -> Result<Vec<PodSpecLocation>, LocateError> {
    let selected = jsonpath::select(object, path).map_err(|e| LocateError {
        at: path.to_string(),
        message: format!("podSpecPaths expression {path:?} failed: {e}"),
    })?;
    selected
        .into_iter()
        .map(|s| {
            if s.node.is_object() {
                Ok(PodSpecLocation::new(s.pointer))
            } else {
                let at = place(&s.pointer);
                Err(LocateError {
                    message: format!(
                        "podSpecPaths expression {path:?} selects {at}, which is {}, not a pod spec object",
                        kind_of(s.node)
                    ),
                    at,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings_with(paths: Value) -> Settings {
        Settings::from_json(json!({ "podSpecPaths": paths }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn built_in_kinds_have_their_pod_spec_pointer() {
        let s = Settings::default();
        let deployment = json!({"spec": {"template": {"spec": {"containers": []}}}});
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            let found = locate(&s, group, "v1", kind, &deployment).unwrap();
            assert_eq!(
                found,
                vec![PodSpecLocation::new("/spec/template/spec".into())],
                "{kind}"
            );
        }
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}});
        assert_eq!(
            locate(&s, "batch", "v1", "CronJob", &cron).unwrap()[0].display(),
            "spec.jobTemplate.spec.template.spec"
        );
        let pod = json!({"spec": {"containers": []}});
        assert_eq!(locate(&s, "", "v1", "Pod", &pod).unwrap()[0].pointer, "/spec");
    }

    #[test]
    fn a_kind_from_another_group_is_not_built_in() {
        let s = Settings::default();
        let obj = json!({"spec": {"template": {"spec": {}}}});
        assert!(locate(&s, "example.com", "v1", "Deployment", &obj).unwrap().is_empty());
        assert!(!is_covered(&s, "example.com", "v1", "Deployment"));
        assert!(is_covered(&s, "apps", "v1", "Deployment"));
    }

    #[test]
    fn absent_pod_spec_is_skipped_and_non_objects_are_malformed() {
        let s = Settings::default();
        assert!(locate(&s, "apps", "v1", "Deployment", &json!({"spec": {}}))
            .unwrap()
            .is_empty());
        assert!(locate(&s, "apps", "v1", "Deployment", &json!({"metadata": {}}))
            .unwrap()
            .is_empty());
        let err = locate(&s, "apps", "v1", "Deployment", &json!({"spec": 5})).unwrap_err();
        assert_eq!(err.message, "spec must be an object, found a number");
        let err = locate(
            &s,
            "apps",
            "v1",
            "Deployment",
            &json!({"spec": {"template": {"spec": []}}}),
        )
        .unwrap_err();
        assert_eq!(err.message, "spec.template.spec must be an object, found a list");
        let err = locate(&s, "", "v1", "Pod", &json!("pod")).unwrap_err();
        assert_eq!(err.message, "the object must be an object, found a string");
    }

    #[test]
    fn configured_paths_resolve_to_pointers() {
        let s = settings_with(json!({"example.com/v1/Fleet": ["$.spec.workloads[*].template.spec"]}));
        let obj = json!({"spec": {"workloads": [
            {"template": {"spec": {"containers": []}}},
            {"template": {"spec": {"containers": []}}}
        ]}});
        let found = locate(&s, "example.com", "v1", "Fleet", &obj).unwrap();
        let displays: Vec<String> = found.iter().map(|l| l.display()).collect();
        assert_eq!(
            displays,
            ["spec.workloads[0].template.spec", "spec.workloads[1].template.spec"]
        );
        assert_eq!(found[1].labels_pointer(), "/spec/workloads/1/template/metadata/labels");
    }

    #[test]
    fn configured_path_selecting_nothing_is_not_an_error() {
        let s = settings_with(json!({"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"]}));
        assert!(locate(&s, "argoproj.io", "v1alpha1", "Rollout", &json!({"spec": {}}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn configured_path_selecting_a_non_object_is_an_error() {
        let s = settings_with(json!({"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"]}));
        let err = locate(
            &s,
            "argoproj.io",
            "v1alpha1",
            "Rollout",
            &json!({"spec": {"template": {"spec": "x"}}}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("selects spec.template.spec, which is a string"),
            "{}",
            err.message
        );
    }

    #[test]
    fn user_paths_for_built_in_kinds_add_and_do_not_duplicate() {
        let s = settings_with(json!({"apps/v1/Deployment": ["$.spec.template.spec", "$.spec.extra.spec"]}));
        let obj = json!({"spec": {"template": {"spec": {}}, "extra": {"spec": {}}}});
        let displays: Vec<String> = locate(&s, "apps", "v1", "Deployment", &obj)
            .unwrap()
            .iter()
            .map(|l| l.display())
            .collect();
        assert_eq!(displays, ["spec.template.spec", "spec.extra.spec"]);
    }

    #[test]
    fn keys_with_slashes_are_escaped_in_pointers() {
        let s = settings_with(json!({"example.com/v1/Odd": ["$.spec['a/b'].spec"]}));
        let obj = json!({"spec": {"a/b": {"spec": {}}}});
        let found = locate(&s, "example.com", "v1", "Odd", &obj).unwrap();
        assert_eq!(found[0].pointer, "/spec/a~1b/spec");
        assert!(obj.pointer(&found[0].pointer).is_some());
    }
}
