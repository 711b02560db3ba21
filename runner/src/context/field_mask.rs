//! What a Kubewarden ≥ 1.33 host keeps of each object it lists: the
//! `field_masks` of a `list_resources_by_namespace` request, and the clean-up
//! it applies to every object, masked or not.
//!
//! policy-evaluator (`callback_handler/kubernetes/field_mask.rs`,
//! `modify_object`) holds each listed object as kube's `DynamicObject`: the
//! type (`apiVersion`, `kind`), `metadata` (k8s-openapi's `ObjectMeta`) and
//! `data`, every other top-level field. Before the object is stored (the
//! reflector applies it to every object it watches; a direct list to every
//! item it gets) it:
//!
//! - empties `metadata.managedFields` (to `[]`, also when it had none),
//! - removes the `kubectl.kubernetes.io/last-applied-configuration`
//!   annotation (`metadata.annotations` becomes `{}` when it had none),
//! - and, given a mask, prunes `data` only: `apiVersion`, `kind` and the whole
//!   `metadata` always survive, so a mask path under `metadata` (such as
//!   `metadata.name`) changes nothing.
//!
//! A mask is a set of dot-separated paths made into a tree (`spec.a.b` and
//! `spec.c` give `spec → {a → {b}, c}`). Pruning a value against a node with
//! no children keeps it whole; against a node with children, an object keeps
//! only the keys that are children (each pruned against its child), an array
//! is transparent (every element is pruned against the same node), and a
//! string, number, boolean or null is kept as it is. So a path keeps
//! everything below it unless a longer path with it as prefix is also in the
//! mask (`spec` with `spec.a` keeps only `spec.a`), a missing field is not
//! added, and an empty mask (or none) keeps the whole object. Paths are split
//! at every `.`, with no escaping: `a..b` and `a.` name keys that are empty
//! strings.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

/// The annotation policy-evaluator drops from every listed object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The fields of k8s-openapi's `ObjectMeta`: a listed object's `metadata` is
/// read into it, so other keys do not survive.
#[rustfmt::skip]
const OBJECT_META_FIELDS: [&str; 15] = [
    "annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
    "finalizers", "generateName", "generation", "labels", "managedFields", "name", "namespace",
    "ownerReferences", "resourceVersion", "selfLink", "uid",
];

/// A field mask, as a tree of path segments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldMask {
    children: BTreeMap<String, FieldMask>,
}

impl FieldMask {
    /// The mask of these dot-separated paths.
    pub fn new<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> FieldMask {
        let mut root = FieldMask::default();
        for path in paths {
            let mut node = &mut root;
            for part in path.as_ref().split('.') {
                node = node.children.entry(part.to_string()).or_default();
            }
        }
        root
    }

    /// Prunes `value` in place to the mask.
    pub fn prune(&self, value: &mut Value) {
        if self.children.is_empty() {
            return;
        }
        match value {
            Value::Object(map) => map.retain(|key, value| match self.children.get(key) {
                Some(child) => {
                    child.prune(value);
                    true
                }
                None => false,
            }),
            Value::Array(items) => {
                for item in items {
                    self.prune(item);
                }
            }
            _ => {}
        }
    }
}

/// An object as the host lists it: serialised in `DynamicObject`'s order
/// (`apiVersion`, `kind`, `metadata`, then the other fields by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedObject {
    #[serde(rename = "apiVersion")]
    api_version: Value,
    kind: Value,
    metadata: Map<String, Value>,
    #[serde(flatten)]
    data: Map<String, Value>,
}

impl ListedObject {
    /// What the host keeps of `object` (a manifest's object, with `apiVersion`
    /// and `kind`) under `mask`.
    pub fn new(object: &Value, mask: Option<&FieldMask>) -> ListedObject {
        let empty = Map::new();
        let fields = object.as_object().unwrap_or(&empty);
        let mut metadata: Map<String, Value> = match fields.get("metadata") {
            Some(Value::Object(meta)) => meta
                .iter()
                .filter(|(key, _)| OBJECT_META_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            _ => Map::new(),
        };
        metadata.insert("managedFields".into(), Value::Array(Vec::new()));
        let mut annotations = match metadata.remove("annotations") {
            Some(Value::Object(annotations)) => annotations,
            _ => Map::new(),
        };
        annotations.remove(LAST_APPLIED);
        metadata.insert("annotations".into(), Value::Object(annotations));
        let mut data = Value::Object(
            fields
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        );
        if let Some(mask) = mask {
            mask.prune(&mut data);
        }
        let Value::Object(data) = data else {
            unreachable!("an object pruned stays an object")
        };
        ListedObject {
            api_version: fields.get("apiVersion").cloned().unwrap_or(Value::Null),
            kind: fields.get("kind").cloned().unwrap_or(Value::Null),
            metadata,
            data,
        }
    }
}

/// The mask a request's `field_masks` make, as policy-evaluator makes it:
/// `None` without masks; an empty set makes a mask that keeps everything.
pub fn mask_of(field_masks: Option<&BTreeSet<String>>) -> Option<FieldMask> {
    field_masks.map(FieldMask::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pruned(mut value: Value, paths: &[&str]) -> Value {
        FieldMask::new(paths).prune(&mut value);
        value
    }

    #[test]
    fn objects_keep_only_the_masked_keys() {
        let value = json!({"a": {"b": 1, "c": 2}, "d": 3, "e": {"f": 4}});
        assert_eq!(pruned(value.clone(), &["a.b", "d"]), json!({"a": {"b": 1}, "d": 3}));
        // a path keeps everything below it
        assert_eq!(pruned(value.clone(), &["a"]), json!({"a": {"b": 1, "c": 2}}));
        // ... unless a longer path under it is in the mask too
        assert_eq!(pruned(value.clone(), &["a", "a.c"]), json!({"a": {"c": 2}}));
        // the order of the paths does not matter, nor do repeated ones
        assert_eq!(pruned(value.clone(), &["a.c", "a", "a.c"]), json!({"a": {"c": 2}}));
        // nothing in the mask exists: nothing is left
        assert_eq!(pruned(value, &["x.y"]), json!({}));
    }

    #[test]
    fn an_empty_mask_keeps_everything() {
        let value = json!({"a": {"b": [1, {"c": 2}]}, "d": null});
        assert_eq!(pruned(value.clone(), &[]), value);
    }

    #[test]
    fn missing_fields_are_not_added() {
        let value = json!({"spec": {"destination": {"create": true}}});
        assert_eq!(
            pruned(value, &["spec.destination.name", "spec.rolloutRestartTargets"]),
            json!({"spec": {"destination": {}}})
        );
    }

    #[test]
    fn arrays_are_transparent() {
        let value = json!({"users": [{"name": "a", "age": 1}, {"name": "b", "age": 2}, {"age": 3}], "count": 3});
        assert_eq!(
            pruned(value, &["users.name"]),
            json!({"users": [{"name": "a"}, {"name": "b"}, {}]})
        );
        // nested arrays too, and an array at the top level
        let value = json!([[{"a": 1, "b": 2}], {"a": 3, "c": 4}]);
        assert_eq!(pruned(value, &["a"]), json!([[{"a": 1}], {"a": 3}]));
        // a path ending at an array keeps its elements whole
        let value = json!({"spec": {"rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}], "ttl": "1h"}});
        assert_eq!(
            pruned(value, &["spec.rolloutRestartTargets"]),
            json!({"spec": {"rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}]}})
        );
    }

    #[test]
    fn values_that_are_not_objects_are_kept_where_a_path_goes_on() {
        // the path goes below a string, a number, a boolean, null: kept as they are
        let value = json!({"a": "text", "b": 7, "c": false, "d": null, "e": [1, "x", null, {"f": 1, "g": 2}]});
        assert_eq!(
            pruned(value.clone(), &["a.x", "b.x", "c.x", "d.x", "e.f"]),
            json!({"a": "text", "b": 7, "c": false, "d": null, "e": [1, "x", null, {"f": 1}]})
        );
        // a primitive at the top is kept whatever the mask
        assert_eq!(pruned(json!("s"), &["a"]), json!("s"));
    }

    #[test]
    fn paths_are_split_at_every_dot() {
        let value = json!({"a": {"": {"b": 1}, "b": 2}, "c": {"d": 1}});
        assert_eq!(pruned(value.clone(), &["a..b"]), json!({"a": {"": {"b": 1}}}));
        assert_eq!(pruned(value.clone(), &["c."]), json!({"c": {}}));
        // a dotted key cannot be named: "x.y" is x then y
        assert_eq!(
            pruned(json!({"x.y": 1, "x": {"y": 2}}), &["x.y"]),
            json!({"x": {"y": 2}})
        );
        assert_eq!(pruned(value, &[""]), json!({}));
    }

    const VSO: &str = "secrets.hashicorp.com/v1beta1";
    const POLICY_MASK: [&str; 3] = ["metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"];

    fn pki() -> Value {
        json!({
            "apiVersion": VSO, "kind": "VaultPKISecret",
            "metadata": {
                "name": "web-tls", "namespace": "team-a", "labels": {"app": "web"},
                "annotations": {LAST_APPLIED: "{...}", "team": "a"},
                "managedFields": [{"manager": "kubectl"}],
                "uid": "u-1", "notAMetaField": 1
            },
            "spec": {"destination": {"name": "web-tls", "create": true},
                     "rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}], "ttl": "72h"},
            "status": {"valid": true}
        })
    }

    #[test]
    fn listed_objects_keep_type_and_metadata_whatever_the_mask() {
        let listed = ListedObject::new(&pki(), Some(&FieldMask::new(POLICY_MASK)));
        assert_eq!(
            serde_json::to_value(&listed).unwrap(),
            json!({
                "apiVersion": VSO, "kind": "VaultPKISecret",
                // metadata.name in the mask prunes nothing: metadata is not data
                "metadata": {"name": "web-tls", "namespace": "team-a", "labels": {"app": "web"},
                             "annotations": {"team": "a"}, "managedFields": [], "uid": "u-1"},
                "spec": {"destination": {"name": "web-tls"},
                         "rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}]}
            })
        );
        // a mask of metadata only leaves no data at all
        let listed = ListedObject::new(&pki(), Some(&FieldMask::new(["metadata.name"])));
        let text = serde_json::to_string(&listed).unwrap();
        assert!(text.ends_with(r#""uid":"u-1"}}"#), "{text}");
        // a mask naming apiVersion or kind keeps them, as always, and nothing else
        let listed = serde_json::to_value(ListedObject::new(&pki(), Some(&FieldMask::new(["kind"])))).unwrap();
        assert_eq!(listed["kind"], "VaultPKISecret");
        assert!(listed.get("spec").is_none());
    }

    #[test]
    fn listed_objects_are_cleaned_up_without_a_mask_too() {
        for mask in [None, Some(FieldMask::new(Vec::<String>::new()))] {
            let listed = serde_json::to_value(ListedObject::new(&pki(), mask.as_ref())).unwrap();
            let mut expected = pki();
            expected["metadata"]["annotations"] = json!({"team": "a"});
            expected["metadata"]["managedFields"] = json!([]);
            expected["metadata"].as_object_mut().unwrap().remove("notAMetaField");
            assert_eq!(listed, expected);
        }
        // no annotations or managed fields: both appear, empty
        let bare = json!({"apiVersion": VSO, "kind": "VaultStaticSecret", "metadata": {"name": "a"}});
        assert_eq!(
            serde_json::to_string(&ListedObject::new(&bare, None)).unwrap(),
            r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecret","metadata":{"annotations":{},"managedFields":[],"name":"a"}}"#
        );
    }

    #[test]
    fn listed_objects_are_written_in_dynamic_objects_order() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"k": "v"}, "immutable": true});
        assert_eq!(
            serde_json::to_string(&ListedObject::new(&object, None)).unwrap(),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{},"managedFields":[],"name":"c"},"data":{"k":"v"},"immutable":true}"#
        );
    }

    #[test]
    fn no_masks_and_empty_masks_differ_only_in_name() {
        assert_eq!(mask_of(None), None);
        let empty = BTreeSet::new();
        let mut value = pki();
        mask_of(Some(&empty)).unwrap().prune(&mut value);
        assert_eq!(value, pki());
    }
}
