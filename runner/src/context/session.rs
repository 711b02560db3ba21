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
//! tag); `response.type` is `Success` (`payload`: the answer's text) or
//! `Error` (`message`). Both levels are read and written with `yaml_serde`,
//! the crate kwctl itself uses for these files, through types derived as
//! kwctl's are, so the format is kwctl's by construction: unknown fields are
//! ignored, a missing optional field reads as `None` and a missing
//! `disable_cache` as `false` (a file written by a kwctl older than 1.33, with
//! no `field_masks`, still matches a policy that sends no masks). An empty
//! file is a session with no exchanges (kwctl writes `[]`).
//!
//! Replay is strict: the n-th host call must be the n-th recorded request.
//! A call that differs from it, or one made after the last exchange, fails
//! with kwctl's error text (the guest sees it as a host error) and is
//! remembered, so that the runner can report the session out of step.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use yaml_serde::Value as Yaml;

/// policy-evaluator's `CallbackRequestType::KubernetesListResourceNamespace`
/// (Kubewarden's adm-controller, kwctl 1.37), field for field and in its
/// order: its `Debug` text is the one kwctl prints in replay errors, its YAML
/// the one kwctl records. A guest's request never sets `disable_cache` (the
/// SDK's request has no such field: policy-evaluator makes it `false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// policy-evaluator's `CallbackRequestType` reduced to the variant this
/// runner makes, serialised as kwctl serialises the enum (the variant is the
/// YAML tag).
#[derive(Serialize, Deserialize)]
enum CallbackRequestType {
    KubernetesListResourceNamespace(KubernetesListResourceNamespace),
}

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
        let HostRequest::ListByNamespace(request) = self else {
            bail!("only Kubernetes list requests can be written");
        };
        let request = CallbackRequestType::KubernetesListResourceNamespace(request.clone());
        yaml_serde::to_string(&request).map_err(|e| anyhow!("cannot write YAML: {e}"))
    }

    /// Reads the `request:` text of an exchange: the variant this runner
    /// makes exactly as kwctl reads it, any other one kept as text.
    pub fn from_yaml(text: &str) -> Result<HostRequest> {
        let value: Yaml = yaml_serde::from_str(text).map_err(|e| anyhow!("invalid YAML: {e}"))?;
        let Yaml::Tagged(tagged) = value else {
            bail!("expected a YAML tag naming the request type (such as `!{LIST_BY_NAMESPACE}`) before its fields");
        };
        let variant = tagged.tag.to_string().trim_start_matches('!').to_string();
        if variant == LIST_BY_NAMESPACE {
            let CallbackRequestType::KubernetesListResourceNamespace(request) =
                yaml_serde::from_str(text).map_err(|e| anyhow!("invalid !{variant}: {e}"))?;
            return Ok(HostRequest::ListByNamespace(request));
        }
        let fields = match &tagged.value {
            Yaml::Mapping(entries) => entries_inline(entries),
            other => inline(other),
        };
        Ok(HostRequest::Other { variant, fields })
    }
}

/// A node on one line, for the text of a request this runner never makes.
fn inline(value: &Yaml) -> String {
    match value {
        Yaml::Null => "null".to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(text) => text.clone(),
        Yaml::Sequence(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Yaml::Mapping(entries) => format!("{{{}}}", entries_inline(entries)),
        Yaml::Tagged(tagged) => format!("{} {}", tagged.tag, inline(&tagged.value)),
    }
}

fn entries_inline(entries: &yaml_serde::Mapping) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{}: {}", inline(k), inline(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// An exchange as kwctl's `Exchange` stores it: the request as its YAML text,
/// under `type: Exchange` (which reading does not need).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename = "Exchange")]
struct RecordedExchange {
    request: String,
    response: Response,
}

/// Parses the text of a session file.
pub fn parse(text: &str) -> Result<Vec<Exchange>> {
    let recorded: Option<Vec<RecordedExchange>> =
        yaml_serde::from_str(text).map_err(|e| anyhow!("not a list of host capability exchanges: {e}"))?;
    recorded
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, recorded)| {
            let request = HostRequest::from_yaml(&recorded.request)
                .map_err(|e| anyhow!("exchange {}: cannot read its request: {e}", index + 1))?;
            Ok(Exchange {
                request,
                response: recorded.response,
            })
        })
        .collect()
}

/// Writes exchanges in kwctl's format.
pub fn render(exchanges: &[Exchange]) -> Result<String> {
    let recorded = exchanges
        .iter()
        .map(|exchange| {
            Ok(RecordedExchange {
                request: exchange.request.to_yaml()?,
                response: exchange.response.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    yaml_serde::to_string(&recorded).map_err(|e| anyhow!("cannot write YAML: {e}"))
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
        let mut progress = self.progress();
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

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls answered from a matching exchange.
    pub fn replayed(&self) -> usize {
        self.progress().replayed
    }

    /// Exchanges never reached.
    pub fn leftover(&self) -> usize {
        self.progress().pending.len()
    }

    /// Why the session is out of step, one line per bad call.
    pub fn problems(&self) -> Vec<String> {
        self.progress().problems.clone()
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

    /// Session files are kwctl's: read and written as serde_yaml does in
    /// kwctl (YAML 1.2 scalars for its typed fields), not as manifests.
    #[test]
    fn strings_are_read_and_written_as_kwctls_serde_yaml_does() {
        let mut request = list("VaultStaticSecret", "no");
        if let HostRequest::ListByNamespace(r) = &mut request {
            r.label_selector = Some("123".into());
            r.field_selector = Some("metadata.name=on".into());
        }
        let payload = format!("{{\"items\":[{}]}}", vec!["{\"a\":1}"; 200].join(","));
        let text = render(&[Exchange {
            request: request.clone(),
            response: Response::Success {
                payload: payload.clone(),
            },
        }])
        .unwrap();
        // `no` is a string to serde_yaml, so plain; `123` would be a number, so quoted
        assert!(text.contains("\n    namespace: no\n"), "{text}");
        assert!(text.contains("\n    label_selector: '123'\n"), "{text}");
        // no line folding, however long the payload
        assert!(text.contains(&format!("  payload: '{payload}'\n")), "{text}");
        let read = parse(&text).unwrap();
        assert_eq!(read[0].request, request);
        assert_eq!(read[0].response, Response::Success { payload });
        let written = |namespace: &str| {
            let request = list("VaultStaticSecret", namespace);
            let response = Response::Error { message: "m".into() };
            render(&[Exchange { request, response }]).unwrap()
        };
        for number_or_null in ["0x1F", "-1.5e3", "~"] {
            let text = written(number_or_null);
            assert!(
                text.contains(&format!("\n    namespace: '{number_or_null}'\n")),
                "{text}"
            );
            assert_eq!(
                parse(&text).unwrap()[0].request,
                list("VaultStaticSecret", number_or_null)
            );
        }
        for string in ["yes", "1.2.3", "inf"] {
            let text = written(string);
            assert!(text.contains(&format!("\n    namespace: {string}\n")), "{text}");
        }
    }

    /// Written by hand in the layout kwctl writes (serde_yaml's emitter over
    /// kwctl's `Exchange` and `Response`, the request as its own YAML text):
    /// quoting where a scalar needs it, `''` for a quote inside one.
    const KWCTL_LAYOUT: &str = r#"- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultDynamicSecret
    namespace: team-b
    label_selector: app=db
    field_selector: null
    disable_cache: false
    field_masks:
    - metadata.name
  response:
    type: Success
    payload: '{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultDynamicSecretList","metadata":{"annotations":{"note":"it''s"}},"items":[]}'
- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: secrets.hashicorp.com/v1beta1
    kind: VaultPKISecret
    namespace: team-b
    label_selector: null
    field_selector: null
    disable_cache: false
    field_masks: null
  response:
    type: Error
    message: 'error finding resource: 404'
"#;

    #[test]
    fn a_file_in_kwctls_layout_is_written_back_byte_for_byte() {
        let exchanges = parse(KWCTL_LAYOUT).unwrap();
        let HostRequest::ListByNamespace(first) = &exchanges[0].request else {
            panic!("not a list request");
        };
        assert_eq!(first.label_selector.as_deref(), Some("app=db"));
        assert_eq!(first.field_masks, Some(BTreeSet::from(["metadata.name".to_string()])));
        let Response::Success { payload } = &exchanges[0].response else {
            panic!("not a success");
        };
        assert!(payload.contains(r#""note":"it's""#), "{payload}");
        assert_eq!(
            exchanges[1].response,
            Response::Error {
                message: "error finding resource: 404".into()
            }
        );
        assert_eq!(render(&exchanges).unwrap(), KWCTL_LAYOUT);
        // kwctl 1.36 writes no `disable_cache`: the same requests
        let older = KWCTL_LAYOUT.replace("    disable_cache: false\n", "");
        let requests = |e: Vec<Exchange>| e.into_iter().map(|e| e.request).collect::<Vec<_>>();
        assert_eq!(requests(parse(&older).unwrap()), requests(exchanges));
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
