//! Context-aware policies: the Kubernetes look-ups a policy makes through
//! `kubewarden/kubernetes/*` host calls, gated and answered the way kwctl
//! (policy-evaluator's host) gates and answers them.
//!
//! - **Gate** (policy-evaluator, `runtimes/callback.rs`): a
//!   `list_resources_by_namespace`, `list_resources_all` or `get_resource`
//!   call for an apiVersion/kind that is not in the policy's allow list fails
//!   with `Policy has not been granted access to Kubernetes <apiVersion>/<kind>
//!   resources. The violation has been reported.` before anything is looked
//!   up. kwctl's allow list is the module's `contextAwareResources` metadata
//!   with `--allow-context-aware`, and empty without it (or when the module
//!   carries no metadata).
//! - **Answers**: from a kwctl session file ([`session`], strictly in
//!   order), or from manifests ([`cluster_state`], each object cleaned up and
//!   pruned to the request's field masks as [`field_mask`] describes). Only
//!   `list_resources_by_namespace` is served; any other capability gets an
//!   error.
//!
//! Every call the policy makes here is counted, answered or not.

pub mod cluster_state;
pub mod field_mask;
pub mod session;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Deserialize;

use self::cluster_state::ClusterState;
use self::session::{Exchange, HostRequest, KubernetesListResourceNamespace, Replayed, Response, Session};
use crate::manifests::read_manifests;
pub use crate::metadata::ContextAwareResource;
use crate::metadata::PolicyMetadata;

/// Where the answers come from.
#[derive(Debug, Default)]
pub enum Source {
    /// Nothing: granted calls fail, saying how to give answers.
    #[default]
    None,
    /// A kwctl session file, replayed in order.
    Replay(Session),
    /// Manifests.
    ClusterState(Arc<ClusterState>),
}

/// The context-aware side of one policy's host.
#[derive(Debug, Default)]
pub struct ContextHost {
    granted: BTreeSet<ContextAwareResource>,
    source: Source,
    calls: AtomicU64,
    /// Time spent answering them, in nanoseconds.
    busy_nanos: AtomicU64,
    /// Denied resources already mentioned on stderr.
    warned: Warnings,
    /// Answered look-ups, when recording.
    recorded: Option<Mutex<Vec<Exchange>>>,
}

/// The two fields every gated request has.
#[derive(Debug, Deserialize)]
struct GuestResource {
    api_version: String,
    kind: String,
}

type Answer = std::result::Result<Vec<u8>, String>;

/// Warnings already printed on stderr, by what they are about: each is
/// printed once.
#[derive(Debug, Default)]
pub struct Warnings(Mutex<BTreeSet<String>>);

impl Warnings {
    /// Prints the `line` about `key` unless a line about it was printed.
    pub fn once(&self, key: String, line: impl FnOnce() -> String) {
        if self.0.lock().map(|mut seen| seen.insert(key)).unwrap_or(true) {
            eprintln!("{}", line());
        }
    }
}

/// The resources a policy's metadata declares.
pub fn declared(metadata: Option<&PolicyMetadata>) -> BTreeSet<ContextAwareResource> {
    metadata
        .map(|m| m.context_aware_resources.iter().cloned().collect())
        .unwrap_or_default()
}

/// Reads cluster-state manifests (as `check` reads its input, a directory's
/// files directly in it) into `state`; fails on the first document that
/// cannot be read, naming its place.
pub fn read_cluster_state(state: &mut ClusterState, paths: &[String], default_namespace: &str) -> Result<()> {
    for entry in read_manifests(paths, false)? {
        match entry.content {
            Ok(object) => state.add(object.object, default_namespace),
            Err(message) => bail!("cannot read cluster state: {}: {message}", entry.location.describe()),
        }
    }
    Ok(())
}

/// policy-evaluator's error for a call outside the allow list.
pub fn not_granted_error(api_version: &str, kind: &str) -> String {
    format!(
        "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. The violation has been reported."
    )
}

impl ContextHost {
    pub fn new(granted: BTreeSet<ContextAwareResource>, source: Source) -> ContextHost {
        ContextHost {
            granted,
            source,
            ..ContextHost::default()
        }
    }

    /// Also records every answered look-up, for
    /// `--record-host-capabilities-interactions`.
    pub fn recording(mut self) -> ContextHost {
        self.recorded = Some(Mutex::new(Vec::new()));
        self
    }

    /// The recorded exchanges, in kwctl's session format.
    pub fn recorded_session(&self) -> Option<Result<String>> {
        let recorded = self.recorded.as_ref()?;
        let exchanges = recorded.lock().unwrap_or_else(PoisonError::into_inner);
        Some(session::render(&exchanges))
    }

    pub fn session(&self) -> Option<&Session> {
        match &self.source {
            Source::Replay(session) => Some(session),
            _ => None,
        }
    }

    /// `kubewarden/kubernetes/*` calls the policy has made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Time the host has spent answering them so far.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed))
    }

    /// Answers a `kubewarden/kubernetes/<operation>` call, or `None` when the
    /// operation is not one this module handles. Problems worth the user's
    /// attention are printed on stderr, once per kind of problem, prefixed
    /// with `label`.
    pub fn answer(&self, label: &str, operation: &str, payload: &[u8]) -> Option<Answer> {
        if !matches!(
            operation,
            "list_resources_by_namespace" | "list_resources_all" | "get_resource"
        ) {
            return None;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let answer = self.answer_call(label, operation, payload);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
        Some(answer)
    }

    fn answer_call(&self, label: &str, operation: &str, payload: &[u8]) -> Answer {
        // policy-evaluator reads the whole request before the resource gate:
        // a list request it cannot read fails as such, granted or not.
        // The guest's list request is read as policy-evaluator (kwctl 1.33
        // and later) reads kubewarden-policy-sdk 0.17's
        // `ListResourcesByNamespaceRequest`: unknown fields are ignored, the
        // optional ones may be left out (null), repeated masks count once.
        let list_request = (operation == "list_resources_by_namespace")
            .then(|| serde_json::from_slice::<KubernetesListResourceNamespace>(payload))
            .transpose()
            .map_err(|e| e.to_string())?;
        let resource: GuestResource = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if !self
            .granted
            .contains(&ContextAwareResource::new(&resource.api_version, &resource.kind))
        {
            self.warned.once(format!("{}/{}", resource.api_version, resource.kind), || {
                format!(
                    "policy-runner: warning: policy {label} asked for Kubernetes {}/{} resources, which it was not granted ({})",
                    resource.api_version,
                    resource.kind,
                    self.grant_hint()
                )
            });
            return Err(not_granted_error(&resource.api_version, &resource.kind));
        }
        match list_request {
            Some(request) => self.list_by_namespace(label, request),
            None => Err(format!(
                "host capability kubewarden/kubernetes/{operation} is not available in policy-runner (only list_resources_by_namespace is answered)"
            )),
        }
    }

    fn list_by_namespace(&self, label: &str, mut request: KubernetesListResourceNamespace) -> Answer {
        // what policy-evaluator sets for every guest's list request
        request.disable_cache = false;
        let request = HostRequest::ListByNamespace(request);
        let answer = self.look_up(label, &request);
        if let (Some(recorded), Ok(answer)) = (&self.recorded, &answer) {
            let response = match answer {
                Ok(payload) => Response::Success {
                    payload: String::from_utf8_lossy(payload).into_owned(),
                },
                Err(message) => Response::Error {
                    message: message.clone(),
                },
            };
            if let Ok(mut exchanges) = recorded.lock() {
                exchanges.push(Exchange { request, response });
            }
        }
        // kwctl's host wraps every failed look-up in this prefix.
        answer
            .unwrap_or_else(Err)
            .map_err(|message| format!("Callback evaluation failure: {message}"))
    }

    /// The look-up: `Ok` with what a host (or a session) answered, `Err`
    /// when there is no answer to record (a session out of step).
    fn look_up(&self, label: &str, request: &HostRequest) -> std::result::Result<Answer, String> {
        let HostRequest::ListByNamespace(list) = request else {
            return Ok(Err("unsupported request".to_string()));
        };
        match &self.source {
            Source::Replay(session) => match session.replay(request) {
                Replayed::Answer(answer) => Ok(answer),
                Replayed::OutOfStep(text) => {
                    if let Some(problem) = session.problems().last() {
                        eprintln!(
                            "policy-runner: error: policy {label}: host capabilities session {} is out of step: {problem}",
                            session.path.display()
                        );
                    }
                    Err(text)
                }
            },
            Source::ClusterState(state) => {
                if list.label_selector.is_some() || list.field_selector.is_some() {
                    return Ok(Err(
                        "policy-runner cannot apply label or field selectors to the cluster state of manifests"
                            .to_string(),
                    ));
                }
                Ok(state
                    .list_by_namespace(
                        &list.api_version,
                        &list.kind,
                        &list.namespace,
                        list.field_masks.as_ref(),
                    )
                    .map_err(|e| format!("error serializing payload: {e}")))
            }
            Source::None => {
                self.warned.once("no-source".to_string(), || {
                    format!(
                        "policy-runner: warning: policy {label} listed Kubernetes {}/{} resources, but policy-runner has no cluster: give --replay-host-capabilities-interactions FILE or --cluster-state FILE",
                        list.api_version, list.kind
                    )
                });
                Ok(Err(
                    "policy-runner has no Kubernetes cluster to list resources from (give --replay-host-capabilities-interactions FILE or --cluster-state FILE)".to_string(),
                ))
            }
        }
    }

    fn grant_hint(&self) -> &'static str {
        if self.granted.is_empty() {
            "run with --allow-context-aware, and declare the resources in the metadata's contextAwareResources"
        } else {
            "it is not in the metadata's contextAwareResources"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VSO: &str = "secrets.hashicorp.com/v1beta1";

    fn payload(kind: &str, ns: &str) -> Vec<u8> {
        // What kubewarden-policy-sdk 0.17 sends.
        serde_json::to_vec(&json!({"api_version": VSO, "kind": kind, "namespace": ns,
            "label_selector": null, "field_selector": null, "field_masks": null}))
        .unwrap()
    }

    fn all_vso() -> BTreeSet<ContextAwareResource> {
        ["VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"]
            .iter()
            .map(|k| ContextAwareResource::new(VSO, k))
            .collect()
    }

    fn state() -> Arc<ClusterState> {
        let mut state = ClusterState::new();
        state.add(
            json!({"apiVersion": VSO, "kind": "VaultStaticSecret", "metadata": {"name": "db", "namespace": "team-a"},
                   "spec": {"destination": {"name": "db-creds"}}}),
            "default",
        );
        Arc::new(state)
    }

    #[test]
    fn calls_outside_the_allow_list_fail_as_in_policy_evaluator() {
        let host = ContextHost::new(BTreeSet::new(), Source::ClusterState(state()));
        let answer = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &payload("VaultStaticSecret", "team-a"),
            )
            .unwrap();
        assert_eq!(
            answer.unwrap_err(),
            "Policy has not been granted access to Kubernetes secrets.hashicorp.com/v1beta1/VaultStaticSecret resources. The violation has been reported."
        );
        // granted another kind only
        let host = ContextHost::new(
            [ContextAwareResource::new(VSO, "VaultPKISecret")].into(),
            Source::ClusterState(state()),
        );
        for operation in ["list_resources_by_namespace", "list_resources_all", "get_resource"] {
            let err = host
                .answer("p", operation, &payload("VaultStaticSecret", "team-a"))
                .unwrap()
                .unwrap_err();
            assert!(
                err.starts_with("Policy has not been granted access"),
                "{operation}: {err}"
            );
        }
        assert_eq!(host.calls(), 3);
        // can_i and the rest are not this module's
        assert!(host.answer("p", "can_i", b"{}").is_none());
    }

    #[test]
    fn granted_lists_are_answered_from_the_cluster_state() {
        let host = ContextHost::new(all_vso(), Source::ClusterState(state()));
        let answer = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &payload("VaultStaticSecret", "team-a"),
            )
            .unwrap()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(list["kind"], "VaultStaticSecretList");
        assert_eq!(list["items"][0]["spec"]["destination"]["name"], "db-creds");
        let empty = host
            .answer("p", "list_resources_by_namespace", &payload("VaultPKISecret", "team-a"))
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&empty).unwrap()["items"],
            json!([])
        );
        // granted, but not served here
        let err = host
            .answer("p", "get_resource", &payload("VaultPKISecret", "team-a"))
            .unwrap()
            .unwrap_err();
        assert!(err.contains("not available in policy-runner"), "{err}");
        // a payload that is not the SDK's request
        let err = host
            .answer("p", "list_resources_by_namespace", br#"{"kind":"x"}"#)
            .unwrap()
            .unwrap_err();
        assert!(err.contains("missing field `api_version`"), "{err}");
        assert_eq!(host.calls(), 4);
    }

    #[test]
    fn granted_lists_are_replayed_from_a_session() {
        let text = format!(
            "- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n    api_version: {VSO}\n    kind: VaultStaticSecret\n    namespace: team-a\n    label_selector: null\n    field_selector: null\n  response:\n    type: Error\n    message: connection refused\n"
        );
        let session = Session::new("s.yml".into(), session::parse(&text).unwrap());
        let host = ContextHost::new(all_vso(), Source::Replay(session));
        let err = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &payload("VaultStaticSecret", "team-a"),
            )
            .unwrap()
            .unwrap_err();
        assert_eq!(err, "Callback evaluation failure: connection refused");
        let err = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &payload("VaultDynamicSecret", "team-a"),
            )
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err,
            "Callback evaluation failure: the list of recorded responses is empty or has been exhausted"
        );
        assert_eq!(host.session().unwrap().problems().len(), 1);
        // a denied call does not reach the session
        let denied = ContextHost::new(BTreeSet::new(), Source::Replay(Session::new("s".into(), Vec::new())));
        denied.answer("p", "list_resources_by_namespace", &payload("VaultStaticSecret", "a"));
        assert!(denied.session().unwrap().problems().is_empty());
    }

    /// What the policy's vaultSync read sends (kubewarden-policy-sdk 0.17).
    fn masked_payload(kind: &str, ns: &str) -> Vec<u8> {
        format!(
            r#"{{"api_version":"{VSO}","kind":"{kind}","namespace":"{ns}","label_selector":null,"field_selector":null,"field_masks":["metadata.name","spec.destination.name","spec.rolloutRestartTargets"]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn masked_lists_are_answered_pruned_and_recorded_with_their_masks() {
        let host = ContextHost::new(all_vso(), Source::ClusterState(state())).recording();
        let answer = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &masked_payload("VaultStaticSecret", "team-a"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(answer.clone()).unwrap(),
            r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecret","metadata":{"annotations":{},"managedFields":[],"name":"db","namespace":"team-a"},"spec":{"destination":{"name":"db-creds"}}}]}"#
        );
        // absent optional fields are null, as the SDK's request reads them
        let minimal = format!(r#"{{"api_version":"{VSO}","kind":"VaultPKISecret","namespace":"team-a"}}"#);
        host.answer("p", "list_resources_by_namespace", minimal.as_bytes())
            .unwrap()
            .unwrap();
        let recorded = host.recorded_session().unwrap().unwrap();
        let exchanges = session::parse(&recorded).unwrap();
        assert_eq!(exchanges.len(), 2);
        assert!(
            recorded.contains("    disable_cache: false\n    field_masks:\n    - metadata.name\n    - spec.destination.name\n    - spec.rolloutRestartTargets\n"),
            "{recorded}"
        );
        assert!(recorded.contains("    field_masks: null\n"), "{recorded}");
        // the recording replays for the same calls, and answers the same
        let replay = ContextHost::new(all_vso(), Source::Replay(Session::new("s".into(), exchanges)));
        let replayed = replay
            .answer(
                "p",
                "list_resources_by_namespace",
                &masked_payload("VaultStaticSecret", "team-a"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(replayed, answer);
        // the same call without masks is another request
        let err = replay
            .answer(
                "p",
                "list_resources_by_namespace",
                &masked_payload("VaultPKISecret", "team-a"),
            )
            .unwrap()
            .unwrap_err();
        assert!(
            err.contains("Replay error: unexpected request")
                && err.contains("field_masks: None }, got")
                && err.contains("field_masks: Some({"),
            "{err}"
        );
    }

    #[test]
    fn a_list_request_that_cannot_be_read_fails_before_the_gate() {
        let host = ContextHost::new(BTreeSet::new(), Source::ClusterState(state()));
        let bad = format!(
            r#"{{"api_version":"{VSO}","kind":"VaultStaticSecret","namespace":"a","field_masks":"metadata.name"}}"#
        );
        let err = host
            .answer("p", "list_resources_by_namespace", bad.as_bytes())
            .unwrap()
            .unwrap_err();
        assert!(err.contains("invalid type: string"), "{err}");
    }

    #[test]
    fn without_a_source_granted_calls_say_what_is_missing() {
        let host = ContextHost::new(all_vso(), Source::None);
        let err = host
            .answer(
                "p",
                "list_resources_by_namespace",
                &payload("VaultStaticSecret", "team-a"),
            )
            .unwrap()
            .unwrap_err();
        assert!(err.contains("--replay-host-capabilities-interactions"), "{err}");
    }
}
