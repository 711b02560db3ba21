//! vault_sync: what the Vault Secrets Operator's resources in a namespace say.
//!
//! VSO keeps a Kubernetes Secret in sync with Vault when one of its resources
//! (`VaultStaticSecret`, `VaultDynamicSecret`, `VaultPKISecret`) names it in
//! `spec.destination.name`, and restarts the workloads its
//! `spec.rolloutRestartTargets` name when the secret rotates. From one read of
//! those resources the policy learns both what it needs: which Secrets are
//! Vault-synced (`vaultSync.require`) and which mounts a workload is meant to
//! have (`vaultSync.discover`).
//!
//! The read is a contract that hosts and recorded sessions depend on: for the
//! request's namespace, exactly [`VSO_KINDS`] in that order, one
//! `list_resources_by_namespace` call each through the host's `kubernetes`
//! capability, with no selector and a field mask of the three fields above
//! ([`FIELDS_READ`]). A call that fails ends the read. No Secret is ever read:
//! provenance comes from the VSO resources alone, so the policy server needs no
//! access to Secrets. Each answer is parsed pruned all the same (a host may
//! not know masks): only the three fields are kept, the rest of every item
//! (status, the Vault paths) is skipped without being built.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::ListResourcesByNamespaceRequest;
use serde::Deserialize;

use crate::request::GroupVersionKind;
use crate::settings::{Requirement, SecretMount, VaultSync};

/// The API version of the VSO resources the policy reads.
pub const VSO_API_VERSION: &str = "secrets.hashicorp.com/v1beta1";

/// The VSO kinds that sync a Secret, in the order they are read.
pub const VSO_KINDS: [&str; 3] = ["VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"];

/// The fields of each VSO resource the policy reads, sent as the request's
/// field mask: a host that knows masks (Kubewarden 1.33 and later) prunes the
/// rest of `spec` and `status` before it serialises the list (it sends
/// `metadata` whole); an older one ignores them.
pub const FIELDS_READ: [&str; 3] = ["metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"];

/// The host's `kubernetes` capability, as far as the policy uses it: one
/// implementation over waPC (`lib.rs`), others in tests and tools.
pub trait Cluster {
    /// `list_resources_by_namespace`: the request's JSON in; the list's JSON
    /// out, or the host's error.
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// A host that has no cluster to ask: every call fails, saying so.
pub struct NoCluster;

impl Cluster for NoCluster {
    fn list_resources_by_namespace(&self, _request: &[u8]) -> Result<Vec<u8>, String> {
        Err("this host offers no kubernetes capability".to_string())
    }
}

/// One VSO resource, as far as the policy reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsoResource {
    /// One of [`VSO_KINDS`].
    pub kind: &'static str,
    pub name: String,
    /// `spec.destination.name`: the Secret it syncs (empty when it names none).
    pub destination: String,
    /// `spec.rolloutRestartTargets`, as (kind, name).
    pub restart_targets: Vec<(String, String)>,
}

/// The VSO resources of one namespace, in the order the host listed them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultSynced {
    pub namespace: String,
    pub resources: Vec<VsoResource>,
    /// Every `spec.destination.name`, for lookups.
    destinations: BTreeSet<String>,
}

/// Why the VSO resources could not be read: which call, and what the host said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// `list VaultStaticSecret (secrets.hashicorp.com/v1beta1) in namespace "team-a"`.
    pub call: String,
    pub error: String,
}

/// Reads the VSO resources of `namespace` (`None`: the request names none).
pub fn read(namespace: Option<&str>, cluster: &dyn Cluster) -> Result<VaultSynced, Unavailable> {
    let Some(namespace) = namespace.filter(|n| !n.is_empty()) else {
        return Err(Unavailable {
            call: "list the VSO resources of the request's namespace".to_string(),
            error: "the request names no namespace".to_string(),
        });
    };
    let mut resources = Vec::new();
    for kind in VSO_KINDS {
        let call = || format!("list {kind} ({VSO_API_VERSION}) in namespace {namespace:?}");
        let listed = list(kind, namespace, cluster).map_err(|error| Unavailable {
            call: call(),
            error: brief(&error),
        })?;
        resources.extend(listed);
    }
    Ok(VaultSynced::new(namespace.to_string(), resources))
}

/// The most of a host's error a message carries.
pub const MAX_ERROR_CHARS: usize = 200;

/// A host's error as a rejection can carry it: its first line, at most
/// [`MAX_ERROR_CHARS`] characters. A host's error can be long: policy-server
/// run with `RUST_BACKTRACE` set appends its whole stack backtrace, which
/// kubectl would print.
pub fn brief(error: &str) -> String {
    let line = error.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut chars = line.char_indices();
    match chars.nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or(line)),
        None if line.len() < error.trim().len() => format!("{line} …"),
        None => line.to_string(),
    }
}

/// One call: the request the SDK's `list_resources_by_namespace` sends, and its
/// answer parsed pruned.
fn list(kind: &'static str, namespace: &str, cluster: &dyn Cluster) -> Result<Vec<VsoResource>, String> {
    let request = ListResourcesByNamespaceRequest {
        api_version: VSO_API_VERSION.to_string(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        label_selector: None,
        field_selector: None,
        field_masks: Some(FIELDS_READ.iter().map(|f| f.to_string()).collect()),
    };
    let request = serde_json::to_vec(&request).map_err(|e| format!("the request could not be written: {e}"))?;
    let answer = cluster.list_resources_by_namespace(&request)?;
    let list: List = serde_json::from_slice(&answer)
        .map_err(|e| format!("the host's answer is not a list of {kind} resources: {e}"))?;
    Ok(list
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| item.into_resource(kind))
        .collect())
}

impl VaultSynced {
    pub fn new(namespace: String, resources: Vec<VsoResource>) -> Self {
        let destinations = resources
            .iter()
            .filter(|r| !r.destination.is_empty())
            .map(|r| r.destination.clone())
            .collect();
        VaultSynced {
            namespace,
            resources,
            destinations,
        }
    }

    /// Is `secret` kept in sync by a VSO resource of the namespace? Whether the
    /// Secret exists yet does not matter: VSO creates it.
    pub fn is_synced(&self, secret: &str) -> bool {
        self.destinations.contains(secret)
    }

    /// The mounts the VSO resources declare for the object `name` of `kind`:
    /// one `secretMounts` entry per resource whose `rolloutRestartTargets` name
    /// it (every key of its Secret, projected under its own name, into every
    /// container), unless `explicit` has an entry for the same Secret, or an
    /// earlier resource declared it already.
    pub fn declared_mounts(&self, kind: &GroupVersionKind, name: &str, explicit: &[SecretMount]) -> Vec<SecretMount> {
        // An object without a name yet (generateName) is named by no target.
        let Some(target_kind) = restart_target_kind(kind).filter(|_| !name.is_empty()) else {
            return Vec::new();
        };
        let mut secrets: BTreeSet<&str> = explicit.iter().map(|e| e.secret_name.as_str()).collect();
        let mut declared = Vec::new();
        for resource in &self.resources {
            let targets_it = resource
                .restart_targets
                .iter()
                .any(|(k, n)| k == target_kind && n == name);
            if targets_it && !resource.destination.is_empty() && secrets.insert(&resource.destination) {
                declared.push(SecretMount {
                    name: resource.name.clone(),
                    secret_name: resource.destination.clone(),
                    declared_by: Some(format!("{} {:?}", resource.kind, resource.name)),
                    ..SecretMount::default()
                });
            }
        }
        declared
    }
}

/// Whether judging an object of `kind` uses the VSO resources: always for
/// provenance (`require`), and for discovery only when VSO can restart the
/// kind (a Pod, ReplicaSet or Job is named by no `rolloutRestartTargets`), so
/// no host call is made for an answer nobody reads.
pub fn is_read_for(settings: &VaultSync, kind: &GroupVersionKind) -> bool {
    settings.require != Requirement::Off || (settings.discover && restart_target_kind(kind).is_some())
}

/// How `rolloutRestartTargets` name an object of this kind ([`crate::kinds`]).
fn restart_target_kind(kind: &GroupVersionKind) -> Option<&'static str> {
    crate::kinds::find(&kind.group, &kind.kind).and_then(|k| k.restart_target)
}

// The pruned shape of a list answer: serde skips every other field unbuilt.

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Option<Vec<Item>>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    destination: Option<Destination>,
    #[serde(default)]
    rollout_restart_targets: Option<Vec<RestartTarget>>,
}

#[derive(Deserialize)]
struct Destination {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RestartTarget {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl Item {
    fn into_resource(self, kind: &'static str) -> VsoResource {
        let spec = self.spec;
        let (destination, targets) = match spec {
            Some(spec) => (
                spec.destination.and_then(|d| d.name),
                spec.rollout_restart_targets.unwrap_or_default(),
            ),
            None => (None, Vec::new()),
        };
        VsoResource {
            kind,
            name: self.metadata.and_then(|m| m.name).unwrap_or_default(),
            destination: destination.unwrap_or_default(),
            restart_targets: targets
                .into_iter()
                .map(|t| (t.kind.unwrap_or_default(), t.name.unwrap_or_default()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::{json, Value};

    use super::*;

    /// Answers from a list per kind, recording every request.
    struct Recorded {
        answers: Vec<Result<Value, String>>,
        requests: RefCell<Vec<Value>>,
    }

    impl Cluster for Recorded {
        fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
            let mut requests = self.requests.borrow_mut();
            requests.push(serde_json::from_slice(request).unwrap());
            match self.answers.get(requests.len() - 1) {
                Some(Ok(list)) => Ok(list.to_string().into_bytes()),
                Some(Err(e)) => Err(e.clone()),
                None => Err("no answer recorded".into()),
            }
        }
    }

    fn vss(name: &str, destination: &str, targets: Value) -> Value {
        json!({
            "apiVersion": VSO_API_VERSION, "kind": "VaultStaticSecret",
            "metadata": {"name": name, "namespace": "team-a", "uid": "u", "managedFields": [{"manager": "x"}]},
            "spec": {"mount": "kv", "path": "app/db", "type": "kv-v2",
                     "destination": {"name": destination, "create": true},
                     "rolloutRestartTargets": targets},
            "status": {"secretMAC": "abc"}
        })
    }

    fn list_of(items: Vec<Value>) -> Result<Value, String> {
        Ok(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}))
    }

    fn deployment() -> GroupVersionKind {
        GroupVersionKind {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
        }
    }

    #[test]
    fn the_three_kinds_are_listed_in_order_with_no_selector_and_the_fields_read_as_mask() {
        let cluster = Recorded {
            answers: vec![list_of(vec![]), list_of(vec![]), list_of(vec![])],
            requests: RefCell::new(vec![]),
        };
        read(Some("team-a"), &cluster).unwrap();
        let expected: Vec<Value> = VSO_KINDS
            .iter()
            .map(|kind| {
                json!({"api_version": "secrets.hashicorp.com/v1beta1", "kind": kind, "namespace": "team-a",
                       "label_selector": null, "field_selector": null,
                       "field_masks": ["metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"]})
            })
            .collect();
        assert_eq!(*cluster.requests.borrow(), expected);
    }

    #[test]
    fn a_failed_call_names_the_call_and_the_error_and_ends_the_read() {
        let cluster = Recorded {
            answers: vec![list_of(vec![]), Err("forbidden".into())],
            requests: RefCell::new(vec![]),
        };
        let e = read(Some("team-a"), &cluster).unwrap_err();
        assert_eq!(
            e.call,
            "list VaultDynamicSecret (secrets.hashicorp.com/v1beta1) in namespace \"team-a\""
        );
        assert_eq!(e.error, "forbidden");
        assert_eq!(cluster.requests.borrow().len(), 2);
    }

    #[test]
    fn an_answer_that_is_not_a_list_is_a_failed_call() {
        let cluster = Recorded {
            answers: vec![Ok(json!({"items": "nope"}))],
            requests: RefCell::new(vec![]),
        };
        let e = read(Some("team-a"), &cluster).unwrap_err();
        assert!(e
            .error
            .starts_with("the host's answer is not a list of VaultStaticSecret resources"));
    }

    #[test]
    fn no_namespace_means_no_call() {
        let cluster = Recorded {
            answers: vec![],
            requests: RefCell::new(vec![]),
        };
        assert!(read(None, &cluster).is_err());
        assert!(cluster.requests.borrow().is_empty());
    }

    #[test]
    fn destinations_are_synced_and_restart_targets_declare_mounts() {
        let cluster = Recorded {
            answers: vec![
                list_of(vec![
                    vss("db", "db-creds", json!([{"kind": "Deployment", "name": "api"}])),
                    vss("cache", "cache-creds", json!([{"kind": "StatefulSet", "name": "api"}])),
                ]),
                list_of(vec![vss(
                    "pg",
                    "pg-creds",
                    json!([{"kind": "Deployment", "name": "api"}]),
                )]),
                Ok(json!({"items": null})),
            ],
            requests: RefCell::new(vec![]),
        };
        let synced = read(Some("team-a"), &cluster).unwrap();
        assert!(synced.is_synced("db-creds") && synced.is_synced("pg-creds") && synced.is_synced("cache-creds"));
        assert!(!synced.is_synced("by-hand"));
        let explicit = [SecretMount {
            name: "pg".into(),
            secret_name: "pg-creds".into(),
            ..SecretMount::default()
        }];
        let declared = synced.declared_mounts(&deployment(), "api", &explicit);
        assert_eq!(declared.len(), 1, "{declared:?}");
        assert_eq!(declared[0].name, "db");
        assert_eq!(declared[0].secret_name, "db-creds");
        assert_eq!(declared[0].declared_by.as_deref(), Some("VaultStaticSecret \"db\""));
        let pod = GroupVersionKind {
            kind: "Pod".into(),
            ..GroupVersionKind::default()
        };
        assert!(synced.declared_mounts(&pod, "api", &[]).is_empty());
    }

    #[test]
    fn an_answer_pruned_by_the_mask_reads_the_same() {
        let pruned = json!({"items": [
            {"metadata": {"name": "db"}, "spec": {"destination": {"name": "db-creds"},
             "rolloutRestartTargets": [{"kind": "Deployment", "name": "api"}]}},
            {"metadata": {"name": "bare"}}
        ]});
        let cluster = Recorded {
            answers: vec![Ok(pruned), list_of(vec![]), list_of(vec![])],
            requests: RefCell::new(vec![]),
        };
        let synced = read(Some("team-a"), &cluster).unwrap();
        assert!(synced.is_synced("db-creds"));
        assert_eq!(synced.declared_mounts(&deployment(), "api", &[]).len(), 1);
        assert_eq!(synced.resources[1].destination, "");
    }

    #[test]
    fn an_argo_rollout_is_named_argo_rollout() {
        let synced = VaultSynced::new(
            "team-a".into(),
            vec![VsoResource {
                kind: "VaultStaticSecret",
                name: "db".into(),
                destination: "db-creds".into(),
                restart_targets: vec![("argo.Rollout".into(), "api".into())],
            }],
        );
        let rollout = GroupVersionKind {
            group: "argoproj.io".into(),
            version: "v1alpha1".into(),
            kind: "Rollout".into(),
        };
        assert_eq!(synced.declared_mounts(&rollout, "api", &[]).len(), 1);
        assert!(synced.declared_mounts(&deployment(), "api", &[]).is_empty());
    }

    #[test]
    fn a_host_error_is_cut_to_its_first_line_and_a_bounded_length() {
        assert_eq!(brief("forbidden"), "forbidden");
        assert_eq!(
            brief("error listing: forbidden\n\nStack backtrace:\n   0: policy_evaluator::x\n"),
            "error listing: forbidden …"
        );
        let long = "é".repeat(MAX_ERROR_CHARS + 50);
        let cut = brief(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS + 1);
        assert!(cut.ends_with('…'));
        let cluster = FailingHost(format!("{}\nStack backtrace:\n   0: x", "a".repeat(300)));
        let error = read(Some("ns"), &cluster).unwrap_err().error;
        assert_eq!(error, format!("{}…", "a".repeat(MAX_ERROR_CHARS)));
    }

    struct FailingHost(String);

    impl Cluster for FailingHost {
        fn list_resources_by_namespace(&self, _: &[u8]) -> Result<Vec<u8>, String> {
            Err(self.0.clone())
        }
    }
}
