//! kwctl's host capabilities session files, as written by
//! `kwctl run --record-host-capabilities-interactions FILE` and read by
//! `--replay-host-capabilities-interactions FILE`.
//!
//! The file is a YAML list of exchanges, in the order the policy made its
//! host calls:
//!
//! ```yaml
//! - type: Exchange
//!   request: |
//!     !KubernetesListResourceNamespace
//!     api_version: secrets.hashicorp.com/v1beta1
//!     kind: VaultStaticSecret
//!     namespace: team-a
//!     label_selector: null
//!     field_selector: null
//!     disable_cache: false
//!     field_masks:
//!     - metadata.name
//!     - spec.destination.name
//!   response:
//!     type: Success
//!     payload: '{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[]}'
//! - type: Exchange
//!   request: |
//!     ...
//!   response:
//!     type: Error
//!     message: the server could not find the requested resource
//! ```
//!
//! `request` is a string holding the YAML of policy-evaluator's
//! `CallbackRequestType` (an externally tagged enum: the variant is the YAML
//! tag); `type: Exchange` is written by kwctl and not needed to read the file;
//! `response.type` is `Success` (`payload`: the answer's text) or `Error`
//! (`message`). Fields a request does not have are ignored, a missing
//! optional field (`label_selector`, `field_masks`) reads as `null` and a
//! missing `disable_cache` as `false`, as serde reads them in kwctl; so a file
//! written by a kwctl older than 1.33 (no `field_masks`) still matches a
//! policy that sends no masks. An empty file is a session with no exchanges
//! (kwctl writes `[]`).
//!
//! Replay is strict: the n-th host call must be the n-th recorded request.
//! A call that differs from it, or one made after the last exchange, fails
//! with kwctl's error text (the guest sees it as a host error) and is
//! remembered, so that the runner can report the session out of step.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::Value as Yaml;

/// policy-evaluator's `CallbackRequestType::KubernetesListResourceNamespace`
/// (Kubewarden's adm-controller, kwctl 1.37), field for field and in its
/// order: its `Debug` text is the one kwctl prints in replay errors, its YAML
/// the one kwctl records. A guest's request never sets `disable_cache` (the
/// SDK's request has no such field: policy-evaluator makes it `false`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct KubernetesListResourceNamespace {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    #[serde(default)]
    pub disable_cache: bool,
    pub field_masks: Option<BTreeSet<String>>,
}

/// The YAML tag of [`KubernetesListResourceNamespace`] in a session file.
pub const LIST_BY_NAMESPACE: &str = "KubernetesListResourceNamespace";

/// A host call as a session file records it.
#[derive(Clone, PartialEq, Eq)]
pub enum HostRequest {
    ListByNamespace(KubernetesListResourceNamespace),
    /// Any other `CallbackRequestType` variant (OCI, sigstore, DNS, other
    /// Kubernetes look-ups): kept as written, never equal to a call this
    /// runner makes.
    Other {
        variant: String,
        fields: String,
    },
}

impl fmt::Debug for HostRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostRequest::ListByNamespace(request) => request.fmt(f),
            HostRequest::Other { variant, fields } => write!(f, "{variant} {{ {fields} }}"),
        }
    }
}

impl HostRequest {
    /// The text kwctl stores in `request:`.
    pub fn to_yaml(&self) -> Result<String> {
        match self {
            HostRequest::ListByNamespace(request) => {
                let tagged = serde_yaml::value::TaggedValue {
                    tag: serde_yaml::value::Tag::new(LIST_BY_NAMESPACE),
                    value: serde_yaml::to_value(request)?,
                };
                Ok(serde_yaml::to_string(&Yaml::Tagged(Box::new(tagged)))?)
            }
            HostRequest::Other { .. } => bail!("only Kubernetes list requests can be written"),
        }
    }

    /// Reads the `request:` text of an exchange.
    pub fn from_yaml(text: &str) -> Result<HostRequest> {
        let value: Yaml = serde_yaml::from_str(text).map_err(|e| anyhow!("invalid YAML: {e}"))?;
        let Yaml::Tagged(tagged) = value else {
            bail!("expected a YAML tag naming the request type (such as `!{LIST_BY_NAMESPACE}`) before its fields");
        };
        let variant = tagged.tag.to_string().trim_start_matches('!').to_string();
        if variant == LIST_BY_NAMESPACE {
            let request = serde_yaml::from_value(tagged.value).map_err(|e| anyhow!("invalid !{variant}: {e}"))?;
            return Ok(HostRequest::ListByNamespace(request));
        }
        let fields = match &tagged.value {
            Yaml::Mapping(map) => map
                .iter()
                .map(|(k, v)| {
                    let key = serde_yaml::to_string(k).unwrap_or_default();
                    let value = serde_yaml::to_string(v).unwrap_or_default();
                    format!("{}: {}", key.trim_end(), value.trim_end())
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => serde_yaml::to_string(other).unwrap_or_default().trim_end().to_string(),
        };
        Ok(HostRequest::Other { variant, fields })
    }
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type")]
pub enum Response {
    Success { payload: String },
    Error { message: String },
}

/// One recorded call and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request: HostRequest,
    pub response: Response,
}

/// An exchange as the file holds it (`type: Exchange` is not required).
#[derive(Deserialize, Serialize)]
struct ExchangeText {
    #[serde(rename = "type", default = "exchange_tag", skip_deserializing)]
    tag: String,
    request: String,
    response: Response,
}

fn exchange_tag() -> String {
    "Exchange".to_string()
}

/// Parses the text of a session file.
pub fn parse(text: &str) -> Result<Vec<Exchange>> {
    let raw: Vec<ExchangeText> =
        serde_yaml::from_str(text).map_err(|e| anyhow!("not a list of host capability exchanges: {e}"))?;
    raw.into_iter()
        .enumerate()
        .map(|(index, exchange)| {
            let request = HostRequest::from_yaml(&exchange.request)
                .map_err(|e| anyhow!("exchange {}: cannot read its request: {e}", index + 1))?;
            Ok(Exchange {
                request,
                response: exchange.response,
            })
        })
        .collect()
}

/// Writes exchanges in kwctl's format.
pub fn render(exchanges: &[Exchange]) -> Result<String> {
    let raw = exchanges
        .iter()
        .map(|e| {
            Ok(ExchangeText {
                tag: exchange_tag(),
                request: e.request.to_yaml()?,
                response: e.response.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_yaml::to_string(&raw)?)
}

/// What replaying one call gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The recorded answer: the payload, or the recorded error message.
    Answer(std::result::Result<Vec<u8>, String>),
    /// The call does not match the next exchange, or there is none left:
    /// kwctl's error text for the guest.
    OutOfStep(String),
}

#[derive(Debug, Default)]
struct Progress {
    pending: VecDeque<Exchange>,
    replayed: usize,
    problems: Vec<String>,
}

/// A session being replayed, strictly in order.
#[derive(Debug)]
pub struct Session {
    pub path: PathBuf,
    recorded: usize,
    progress: Mutex<Progress>,
}

impl Session {
    pub fn new(path: PathBuf, exchanges: Vec<Exchange>) -> Session {
        Session {
            path,
            recorded: exchanges.len(),
            progress: Mutex::new(Progress {
                pending: exchanges.into(),
                ..Progress::default()
            }),
        }
    }

    pub fn load(path: &Path) -> Result<Session> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read host capabilities session {}", path.display()))?;
        let exchanges =
            parse(&text).with_context(|| format!("cannot read host capabilities session {}", path.display()))?;
        Ok(Session::new(path.to_path_buf(), exchanges))
    }

    /// Answers one host call from the next exchange, as kwctl's replay does:
    /// the exchange is used up whether it matches or not.
    pub fn replay(&self, request: &HostRequest) -> Replayed {
        let mut progress = match self.progress.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        let call = progress.replayed + progress.problems.len() + 1;
        let Some(next) = progress.pending.pop_front() else {
            let text = "the list of recorded responses is empty or has been exhausted".to_string();
            progress.problems.push(format!(
                "host call {call} has no recorded exchange ({} recorded; {text}): {request:?}",
                self.recorded
            ));
            return Replayed::OutOfStep(text);
        };
        if next.request != *request {
            let text = format!(
                "Replay error: unexpected request. Was expecting {:?}, got {request:?} instead",
                next.request
            );
            progress
                .problems
                .push(format!("host call {call} does not match exchange {call}: {text}"));
            return Replayed::OutOfStep(text);
        }
        progress.replayed += 1;
        Replayed::Answer(match next.response {
            Response::Success { payload } => Ok(payload.into_bytes()),
            Response::Error { message } => Err(message),
        })
    }

    /// Exchanges in the file.
    pub fn recorded(&self) -> usize {
        self.recorded
    }

    fn with_progress<T>(&self, f: impl FnOnce(&Progress) -> T) -> T {
        match self.progress.lock() {
            Ok(p) => f(&p),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Calls answered from a matching exchange.
    pub fn replayed(&self) -> usize {
        self.with_progress(|p| p.replayed)
    }

    /// Exchanges never reached.
    pub fn leftover(&self) -> usize {
        self.with_progress(|p| p.pending.len())
    }

    /// Why the session is out of step, one line per bad call.
    pub fn problems(&self) -> Vec<String> {
        self.with_progress(|p| p.problems.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(kind: &str, ns: &str) -> HostRequest {
        HostRequest::ListByNamespace(KubernetesListResourceNamespace {
            api_version: "secrets.hashicorp.com/v1beta1".into(),
            kind: kind.into(),
            namespace: ns.into(),
            label_selector: None,
            field_selector: None,
            disable_cache: false,
            field_masks: None,
        })
    }

    /// The request of the policy's vaultSync read.
    fn masked(kind: &str, ns: &str) -> HostRequest {
        let HostRequest::ListByNamespace(mut request) = list(kind, ns) else {
            unreachable!()
        };
        request.field_masks = Some(
            ["metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"]
                .iter()
                .map(|m| m.to_string())
                .collect(),
        );
        HostRequest::ListByNamespace(request)
    }

    /// Written in the format of the current kwctl (1.37): `disable_cache` and
    /// `field_masks` (kwctl 1.33 to 1.36 write no `disable_cache`).
    const MASKED_SESSION: &str = r#"- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultStaticSecret
    namespace: team-a
    label_selector: null
    field_selector: null
    disable_cache: false
    field_masks:
    - metadata.name
    - spec.destination.name
    - spec.rolloutRestartTargets
  response:
    type: Success
    payload: '{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[]}'
- request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultPKISecret
    namespace: team-a
    label_selector: null
    field_selector: null
    field_masks: [spec.rolloutRestartTargets, metadata.name, spec.destination.name, metadata.name]
  response:
    type: Error
    message: boom
- request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultPKISecret
    namespace: team-a
    disable_cache: true
    field_masks: []
  response:
    type: Error
    message: boom
"#;

    /// Written by hand in the format of kwctl's own session files.
    const SESSION: &str = r#"- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultStaticSecret
    namespace: team-a
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[]}'
- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultDynamicSecret
    namespace: team-a
  response:
    type: Error
    message: 'error finding resource secrets.hashicorp.com/v1beta1 / VaultDynamicSecret: 404'
- request: |
    !KubernetesGetResource
    api_version: v1
    kind: Namespace
    name: team-a
    namespace: null
    disable_cache: false
  response:
    type: Success
    payload: |
      {"apiVersion": "v1", "kind": "Namespace"}
"#;

    #[test]
    fn kwctl_session_files_are_read() {
        let exchanges = parse(SESSION).unwrap();
        assert_eq!(exchanges.len(), 3);
        assert_eq!(exchanges[0].request, list("VaultStaticSecret", "team-a"));
        assert_eq!(
            exchanges[0].response,
            Response::Success {
                payload: r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[]}"#.into()
            }
        );
        // missing optional fields read as null
        assert_eq!(exchanges[1].request, list("VaultDynamicSecret", "team-a"));
        assert!(matches!(&exchanges[1].response, Response::Error { message } if message.contains("404")));
        let HostRequest::Other { variant, fields } = &exchanges[2].request else {
            panic!("not kept as another request");
        };
        assert_eq!(variant, "KubernetesGetResource");
        assert!(fields.contains("name: team-a"), "{fields}");
        // an empty file (or kwctl's `[]`) has no exchanges
        assert!(parse("").unwrap().is_empty());
        assert!(parse("[]\n").unwrap().is_empty());
    }

    #[test]
    fn the_current_format_with_masks_is_read() {
        let exchanges = parse(MASKED_SESSION).unwrap();
        assert_eq!(exchanges[0].request, masked("VaultStaticSecret", "team-a"));
        // a set: the order and repetitions of the masks do not matter
        assert_eq!(exchanges[1].request, masked("VaultPKISecret", "team-a"));
        let HostRequest::ListByNamespace(third) = &exchanges[2].request else {
            panic!("not a list request");
        };
        assert!(third.disable_cache);
        assert_eq!(third.field_masks, Some(BTreeSet::new()));
        // an empty mask is not no mask: kwctl compares the requests as they are
        assert_ne!(exchanges[2].request, list("VaultPKISecret", "team-a"));
        assert_ne!(exchanges[0].request, list("VaultStaticSecret", "team-a"));
        // kwctl's debug text of the request, as its replay error shows it
        assert_eq!(
            format!("{:?}", exchanges[0].request),
            "KubernetesListResourceNamespace { api_version: \"secrets.hashicorp.com/v1beta1\", kind: \"VaultStaticSecret\", namespace: \"team-a\", label_selector: None, field_selector: None, disable_cache: false, field_masks: Some({\"metadata.name\", \"spec.destination.name\", \"spec.rolloutRestartTargets\"}) }"
        );
        let bad = "- request: |\n    !KubernetesListResourceNamespace\n    api_version: v1\n    kind: Pod\n    namespace: a\n    field_masks: metadata.name\n  response: {type: Error, message: x}\n";
        let err = parse(bad).unwrap_err().to_string();
        assert!(
            err.contains("exchange 1") && err.contains("expected a sequence"),
            "{err}"
        );
    }

    #[test]
    fn the_written_format_is_kwctls() {
        let text = render(&[Exchange {
            request: list("VaultPKISecret", "ns"),
            response: Response::Error { message: "boom".into() },
        }])
        .unwrap();
        assert_eq!(
            text,
            "- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n    api_version: secrets.hashicorp.com/v1beta1\n    kind: VaultPKISecret\n    namespace: ns\n    label_selector: null\n    field_selector: null\n    disable_cache: false\n    field_masks: null\n  response:\n    type: Error\n    message: boom\n"
        );
        assert_eq!(parse(&text).unwrap()[0].request, list("VaultPKISecret", "ns"));
        // with masks: a sorted YAML sequence, as kwctl writes the BTreeSet
        let text = render(&[Exchange {
            request: masked("VaultStaticSecret", "team-a"),
            response: Response::Success {
                payload: r#"{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultStaticSecretList","metadata":{},"items":[]}"#.into(),
            },
        }])
        .unwrap();
        let expected = MASKED_SESSION.split("- request:").next().unwrap();
        assert_eq!(text, expected);
        assert_eq!(render(&[]).unwrap(), "[]\n");
    }

    #[test]
    fn malformed_sessions_are_refused() {
        let err = parse("a: 1").unwrap_err().to_string();
        assert!(err.contains("not a list of host capability exchanges"), "{err}");
        let untagged = "- request: |\n    api_version: v1\n  response: {type: Success, payload: x}\n";
        let err = parse(untagged).unwrap_err().to_string();
        assert!(err.contains("exchange 1") && err.contains("YAML tag"), "{err}");
        let no_kind = "- request: '!KubernetesListResourceNamespace {api_version: v1, namespace: a}'\n  response: {type: Success, payload: x}\n";
        let err = parse(no_kind).unwrap_err().to_string();
        assert!(err.contains("missing field `kind`"), "{err}");
        let bad_response = "- request: '!DNSLookupHost {host: a}'\n  response: {type: Maybe}\n";
        assert!(parse(bad_response).is_err());
    }

    #[test]
    fn replay_is_strictly_in_order() {
        let session = Session::new("s.yml".into(), parse(SESSION).unwrap());
        let first = session.replay(&list("VaultStaticSecret", "team-a"));
        assert!(matches!(first, Replayed::Answer(Ok(ref p)) if p.starts_with(b"{\"apiVersion\"")));
        let second = session.replay(&list("VaultDynamicSecret", "team-a"));
        assert!(matches!(second, Replayed::Answer(Err(ref m)) if m.contains("404")));
        assert_eq!(session.replayed(), 2);
        assert!(session.problems().is_empty());
        assert_eq!(session.leftover(), 1);
    }

    #[test]
    fn a_call_that_differs_from_the_next_exchange_is_out_of_step() {
        let session = Session::new("s.yml".into(), parse(SESSION).unwrap());
        let Replayed::OutOfStep(text) = session.replay(&list("VaultPKISecret", "team-a")) else {
            panic!("matched");
        };
        assert_eq!(
            text,
            "Replay error: unexpected request. Was expecting KubernetesListResourceNamespace { api_version: \"secrets.hashicorp.com/v1beta1\", kind: \"VaultStaticSecret\", namespace: \"team-a\", label_selector: None, field_selector: None, disable_cache: false, field_masks: None }, got KubernetesListResourceNamespace { api_version: \"secrets.hashicorp.com/v1beta1\", kind: \"VaultPKISecret\", namespace: \"team-a\", label_selector: None, field_selector: None, disable_cache: false, field_masks: None } instead"
        );
        // the exchange is used up, as in kwctl: the next call meets the second one
        assert!(matches!(
            session.replay(&list("VaultDynamicSecret", "team-a")),
            Replayed::Answer(Err(_))
        ));
        // another namespace is another request
        assert!(matches!(
            session.replay(&list("VaultStaticSecret", "team-b")),
            Replayed::OutOfStep(_)
        ));
        let problems = session.problems();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("host call 1 does not match exchange 1"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("host call 3 does not match exchange 3"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_call_after_the_last_exchange_is_out_of_step() {
        let session = Session::new("s.yml".into(), Vec::new());
        let Replayed::OutOfStep(text) = session.replay(&list("VaultStaticSecret", "team-a")) else {
            panic!("answered");
        };
        assert_eq!(text, "the list of recorded responses is empty or has been exhausted");
        let problems = session.problems();
        assert!(
            problems[0].contains("host call 1 has no recorded exchange (0 recorded"),
            "{problems:?}"
        );
        assert_eq!(session.replayed(), 0);
    }
}
