//! Cluster state made of manifests: the objects a context-aware policy may
//! list, answered as policy-evaluator answers `list_resources_by_namespace`.
//!
//! policy-evaluator serves the call from a reflector of the resource in the
//! namespace (one per apiVersion, kind, namespace, selectors and field
//! masks, made on the first call) and returns kube's
//! `ObjectList<DynamicObject>` as JSON: `{"apiVersion": <the request's
//! apiVersion>, "kind": "<Kind>List", "metadata": {}, "items": [<the
//! objects>]}`. The reflector stores each object as [`ListedObject`] makes
//! it: cleaned up, and pruned to the request's field masks. Here the items
//! are the manifests' objects of that apiVersion and kind in that namespace,
//! in the order they were read, made into listed objects on the first call
//! for their (apiVersion, kind, namespace, masks) and kept; an object without
//! `metadata.namespace` is in the default namespace (`default`, as kubectl
//! puts it), and its copy gets that namespace, as the API server would store
//! it. The list is serialised on every call, as policy-server does, so that
//! the cost is counted where the policy pays it.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Map, Value};

use super::field_mask::{mask_of, ListedObject};
use crate::kubernetes::is_cluster_scoped;

/// What a namespaced list is of: apiVersion, kind and namespace.
type ListKey = (String, String, String);

/// Objects by apiVersion, kind and namespace.
#[derive(Debug, Default)]
pub struct ClusterState {
    objects: Vec<Value>,
    /// Each object's place in `objects`, by its list and name.
    places: HashMap<(ListKey, String), usize>,
    /// Positions in `objects` of each list's objects, in order.
    lists: HashMap<ListKey, Vec<usize>>,
    /// The listed objects of each (apiVersion, kind, namespace, masks)
    /// asked for so far: the reflectors' stores.
    stores: Mutex<HashMap<StoreKey, Arc<Vec<ListedObject>>>>,
    /// Length of the last answer.
    last_size: AtomicUsize,
}

type StoreKey = (ListKey, Option<BTreeSet<String>>);

#[derive(Serialize)]
struct ListAnswer<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: String,
    metadata: Map<String, Value>,
    items: &'a [ListedObject],
}

impl ClusterState {
    pub fn new() -> ClusterState {
        ClusterState::default()
    }

    /// Adds an object of a manifest. One with the identity (apiVersion,
    /// kind, namespace, name) of an object already added replaces it in its
    /// place, as applying it again would. Objects without `apiVersion`,
    /// `kind` or a name, and cluster-scoped ones, are left out: no
    /// namespaced list can hold them.
    pub fn add(&mut self, mut object: Value, default_namespace: &str) {
        // The stores are made again from the objects on the next call.
        self.stores = Mutex::default();
        let text = |o: &Value, key: &str| o.get(key).and_then(Value::as_str).map(str::to_string);
        let (Some(api_version), Some(kind)) = (text(&object, "apiVersion"), text(&object, "kind")) else {
            return;
        };
        if is_cluster_scoped(&kind) {
            return;
        }
        let Some(Value::Object(meta)) = object.get_mut("metadata") else {
            return;
        };
        let Some(name) = meta.get("name").and_then(Value::as_str).map(str::to_string) else {
            return;
        };
        let namespace = match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => {
                meta.insert("namespace".into(), Value::String(default_namespace.to_string()));
                default_namespace.to_string()
            }
        };
        let list = (api_version, kind, namespace);
        if let Some(&at) = self.places.get(&(list.clone(), name.clone())) {
            self.objects[at] = object;
            return;
        }
        let at = self.objects.len();
        self.objects.push(object);
        self.lists.entry(list.clone()).or_default().push(at);
        self.places.insert((list, name), at);
    }

    /// The answer to `list_resources_by_namespace`, serialised now. The
    /// listed objects are made on the first call for these arguments.
    pub fn list_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        field_masks: Option<&BTreeSet<String>>,
    ) -> serde_json::Result<Vec<u8>> {
        let items = self.store(api_version, kind, namespace, field_masks);
        // Sized as the last answer was, so that a large list is written
        // without the vector growing step by step.
        let mut out = Vec::with_capacity(self.last_size.load(Ordering::Relaxed));
        serde_json::to_writer(
            &mut out,
            &ListAnswer {
                api_version,
                kind: format!("{kind}List"),
                metadata: Map::new(),
                items: &items,
            },
        )?;
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    fn store(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        field_masks: Option<&BTreeSet<String>>,
    ) -> Arc<Vec<ListedObject>> {
        let list = (api_version.to_string(), kind.to_string(), namespace.to_string());
        let key = (list, field_masks.cloned());
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            return store.clone();
        }
        let mask = mask_of(field_masks);
        let listed: Vec<ListedObject> = self
            .lists
            .get(&key.0)
            .map(|at| {
                at.iter()
                    .map(|&i| ListedObject::new(&self.objects[i], mask.as_ref()))
                    .collect()
            })
            .unwrap_or_default();
        let store = Arc::new(listed);
        stores.insert(key, store.clone());
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VSO: &str = "secrets.hashicorp.com/v1beta1";

    fn vss(name: &str, ns: Option<&str>, destination: &str) -> Value {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": VSO, "kind": "VaultStaticSecret", "metadata": meta,
               "spec": {"destination": {"name": destination, "create": true}}})
    }

    fn answer(state: &ClusterState, kind: &str, ns: &str) -> Value {
        serde_json::from_slice(&state.list_by_namespace(VSO, kind, ns, None).unwrap()).unwrap()
    }

    #[test]
    fn lists_have_policy_evaluators_shape_and_the_input_order() {
        let mut state = ClusterState::new();
        state.add(vss("b", Some("team-a"), "db"), "default");
        state.add(vss("a", Some("team-a"), "api"), "default");
        state.add(vss("c", Some("team-b"), "other"), "default");
        state.add(
            json!({"apiVersion": VSO, "kind": "VaultPKISecret", "metadata": {"name": "tls", "namespace": "team-a"}}),
            "default",
        );
        let list = answer(&state, "VaultStaticSecret", "team-a");
        assert_eq!(list["apiVersion"], VSO);
        assert_eq!(list["kind"], "VaultStaticSecretList");
        assert_eq!(list["metadata"], json!({}));
        let names: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].clone())
            .collect();
        assert_eq!(names, [json!("b"), json!("a")]);
        // the object as the host lists it: managed fields and annotations emptied
        let mut listed = vss("b", Some("team-a"), "db");
        listed["metadata"]["annotations"] = json!({});
        listed["metadata"]["managedFields"] = json!([]);
        assert_eq!(list["items"][0], listed);
        // the fields come in policy-evaluator's order
        let text = String::from_utf8(
            state
                .list_by_namespace(VSO, "VaultDynamicSecret", "team-a", None)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultDynamicSecretList","metadata":{},"items":[]}"#
        );
        assert_eq!(
            answer(&state, "VaultPKISecret", "team-a")["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(answer(&state, "VaultStaticSecret", "team-c")["items"], json!([]));
        // another apiVersion is another resource
        let other: Value = serde_json::from_slice(
            &state
                .list_by_namespace("secrets.hashicorp.com/v1", "VaultStaticSecret", "team-a", None)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(other["items"], json!([]));
    }

    #[test]
    fn objects_without_a_namespace_are_in_the_default_one() {
        let mut state = ClusterState::new();
        state.add(vss("a", None, "api"), "team-x");
        let list = answer(&state, "VaultStaticSecret", "team-x");
        assert_eq!(
            list["items"][0]["metadata"],
            json!({"annotations": {}, "managedFields": [], "name": "a", "namespace": "team-x"})
        );
        assert_eq!(answer(&state, "VaultStaticSecret", "default")["items"], json!([]));
    }

    #[test]
    fn the_same_object_again_replaces_the_first_in_place() {
        let mut state = ClusterState::new();
        state.add(vss("a", Some("n"), "one"), "default");
        state.add(vss("b", Some("n"), "two"), "default");
        state.add(vss("a", None, "three"), "n");
        assert_eq!(state.objects.len(), 2);
        let list = answer(&state, "VaultStaticSecret", "n");
        let destinations: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["spec"]["destination"]["name"].clone())
            .collect();
        assert_eq!(destinations, [json!("three"), json!("two")]);
    }

    #[test]
    fn objects_no_namespaced_list_can_hold_are_left_out() {
        let mut state = ClusterState::new();
        state.add(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
            "default",
        );
        state.add(
            json!({"apiVersion": VSO, "kind": "VaultStaticSecret", "metadata": {}}),
            "default",
        );
        state.add(
            json!({"kind": "VaultStaticSecret", "metadata": {"name": "x"}}),
            "default",
        );
        state.add(json!([1, 2]), "default");
        assert_eq!(state.objects.len(), 0);
        assert!(is_cluster_scoped("ClusterRole"));
        assert!(!is_cluster_scoped("VaultStaticSecret"));
    }

    #[test]
    fn field_masks_prune_every_listed_object() {
        let mut state = ClusterState::new();
        let mut tls = vss("tls", Some("n"), "web-tls");
        tls["spec"]["rolloutRestartTargets"] = json!([{"kind": "Deployment", "name": "web"}]);
        tls["status"] = json!({"valid": true});
        state.add(vss("a", Some("n"), "one"), "default");
        state.add(tls, "default");
        let masks: BTreeSet<String> = ["metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"]
            .iter()
            .map(|m| m.to_string())
            .collect();
        let text = String::from_utf8(
            state
                .list_by_namespace(VSO, "VaultStaticSecret", "n", Some(&masks))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":["#,
                r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecret","metadata":{"annotations":{},"managedFields":[],"name":"a","namespace":"n"},"spec":{"destination":{"name":"one"}}},"#,
                r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecret","metadata":{"annotations":{},"managedFields":[],"name":"tls","namespace":"n"},"spec":{"destination":{"name":"web-tls"},"rolloutRestartTargets":[{"kind":"Deployment","name":"web"}]}}]}"#
            )
        );
        // the same list without masks is whole, and kept apart from the masked one
        let whole = answer(&state, "VaultStaticSecret", "n");
        assert_eq!(whole["items"][1]["status"], json!({"valid": true}));
        assert_eq!(whole["items"][0]["spec"]["destination"]["create"], json!(true));
        let again = String::from_utf8(
            state
                .list_by_namespace(VSO, "VaultStaticSecret", "n", Some(&masks))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(again, text);
        // an object added later is listed (the stores are made again)
        state.add(vss("b", Some("n"), "two"), "default");
        let list: Value = serde_json::from_slice(
            &state
                .list_by_namespace(VSO, "VaultStaticSecret", "n", Some(&masks))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            list["items"][2],
            json!({"apiVersion": VSO, "kind": "VaultStaticSecret",
            "metadata": {"annotations": {}, "managedFields": [], "name": "b", "namespace": "n"},
            "spec": {"destination": {"name": "two"}}})
        );
    }
}
