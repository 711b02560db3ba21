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
use libyaml_safer::{Emitter, Encoding, Event, MappingStyle, ScalarStyle, SequenceStyle};

use crate::kube_yaml::{self, Node};

/// policy-evaluator's `CallbackRequestType::KubernetesListResourceNamespace`
/// (Kubewarden's adm-controller, kwctl 1.37), field for field and in its
/// order: its `Debug` text is the one kwctl prints in replay errors, its YAML
/// the one kwctl records. A guest's request never sets `disable_cache` (the
/// SDK's request has no such field: policy-evaluator makes it `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesListResourceNamespace {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
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
        let HostRequest::ListByNamespace(request) = self else {
            bail!("only Kubernetes list requests can be written");
        };
        let mut out = Vec::new();
        {
            let mut yaml = Writer::new(&mut out)?;
            yaml.emit(Event::mapping_start(
                None,
                Some(&format!("!{LIST_BY_NAMESPACE}")),
                false,
                MappingStyle::Any,
            ))?;
            yaml.field("api_version", &request.api_version)?;
            yaml.field("kind", &request.kind)?;
            yaml.field("namespace", &request.namespace)?;
            yaml.string("label_selector")?;
            yaml.optional(request.label_selector.as_deref())?;
            yaml.string("field_selector")?;
            yaml.optional(request.field_selector.as_deref())?;
            yaml.string("disable_cache")?;
            yaml.plain(if request.disable_cache { "true" } else { "false" })?;
            yaml.string("field_masks")?;
            match &request.field_masks {
                None => yaml.plain("null")?,
                Some(masks) => {
                    yaml.emit(Event::sequence_start(None, None, true, SequenceStyle::Any))?;
                    for mask in masks {
                        yaml.string(mask)?;
                    }
                    yaml.emit(Event::sequence_end())?;
                }
            }
            yaml.emit(Event::mapping_end())?;
            yaml.finish()?;
        }
        Ok(String::from_utf8(out)?)
    }

    /// Reads the `request:` text of an exchange.
    pub fn from_yaml(text: &str) -> Result<HostRequest> {
        let mut nodes = kube_yaml::parse_nodes(text).map_err(|e| anyhow!("invalid YAML: {e}"))?;
        let (Some(node), None) = (nodes.pop(), nodes.pop()) else {
            bail!("expected one YAML document, a tagged request");
        };
        let tag = match &node {
            Node::Scalar { tag, .. } | Node::Seq { tag, .. } | Node::Map { tag, .. } => tag.clone(),
        };
        let Some(tag) = tag else {
            bail!("expected a YAML tag naming the request type (such as `!{LIST_BY_NAMESPACE}`) before its fields");
        };
        let variant = tag.trim_start_matches('!').to_string();
        if variant == LIST_BY_NAMESPACE {
            let request = list_request(&node).map_err(|e| anyhow!("invalid !{variant}: {e}"))?;
            return Ok(HostRequest::ListByNamespace(request));
        }
        let fields = match &node {
            Node::Map { entries, .. } => entries
                .iter()
                .map(|(k, v)| format!("{}: {}", inline(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", "),
            other => inline(other),
        };
        Ok(HostRequest::Other { variant, fields })
    }
}

/// The fields of a `!KubernetesListResourceNamespace` request, read as serde
/// reads them in kwctl (serde_yaml): a string field takes any scalar's text,
/// an optional one is `null` or missing for `None`, unknown fields are ignored.
fn list_request(node: &Node) -> Result<KubernetesListResourceNamespace> {
    let entries = entries_of(node)?;
    let required = |name: &str| -> Result<String> {
        let value = field(entries, name).ok_or_else(|| anyhow!("missing field `{name}`"))?;
        string(value).map_err(|e| anyhow!("{name}: {e}"))
    };
    let optional = |name: &str| -> Result<Option<String>> {
        match field(entries, name) {
            None => Ok(None),
            Some(value) if is_null(value) => Ok(None),
            Some(value) => string(value).map(Some).map_err(|e| anyhow!("{name}: {e}")),
        }
    };
    let disable_cache = match field(entries, "disable_cache") {
        None => false,
        Some(value) => match value {
            Node::Scalar { text, plain: true, .. } if matches!(text.as_str(), "true" | "True" | "TRUE") => true,
            Node::Scalar { text, plain: true, .. } if matches!(text.as_str(), "false" | "False" | "FALSE") => false,
            other => bail!("disable_cache: invalid type: {}, expected a boolean", describe(other)),
        },
    };
    let field_masks = match field(entries, "field_masks") {
        None => None,
        Some(value) if is_null(value) => None,
        Some(Node::Seq { items, .. }) => Some(
            items
                .iter()
                .map(string)
                .collect::<Result<BTreeSet<_>>>()
                .map_err(|e| anyhow!("field_masks: {e}"))?,
        ),
        Some(other) => bail!("field_masks: invalid type: {}, expected a sequence", describe(other)),
    };
    Ok(KubernetesListResourceNamespace {
        api_version: required("api_version")?,
        kind: required("kind")?,
        namespace: required("namespace")?,
        label_selector: optional("label_selector")?,
        field_selector: optional("field_selector")?,
        disable_cache,
        field_masks,
    })
}

fn entries_of(node: &Node) -> Result<&[(Node, Node)]> {
    match node {
        Node::Map { entries, .. } => Ok(entries),
        other => bail!("invalid type: {}, expected a map", describe(other)),
    }
}

/// The value of the first entry whose key is the scalar `name`.
fn field<'a>(entries: &'a [(Node, Node)], name: &str) -> Option<&'a Node> {
    entries.iter().find_map(|(key, value)| match key {
        Node::Scalar { text, .. } if text == name => Some(value),
        _ => None,
    })
}

fn is_null(node: &Node) -> bool {
    match node {
        Node::Scalar {
            text,
            plain: true,
            tag: None,
        } => matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"),
        Node::Scalar { tag: Some(tag), .. } => tag == "tag:yaml.org,2002:null",
        _ => false,
    }
}

/// A string field: any scalar's text (serde_yaml gives a plain `yes` or `1`
/// to a `String` as written), but not null.
fn string(node: &Node) -> Result<String> {
    match node {
        Node::Scalar { text, .. } if !is_null(node) => Ok(text.clone()),
        other => bail!("invalid type: {}, expected a string", describe(other)),
    }
}

fn describe(node: &Node) -> String {
    match node {
        _ if is_null(node) => "null".to_string(),
        Node::Scalar { text, .. } => format!("string {text:?}"),
        Node::Seq { .. } => "sequence".to_string(),
        Node::Map { .. } => "map".to_string(),
    }
}

/// A node on one line, for the text of a request this runner never makes.
fn inline(node: &Node) -> String {
    match node {
        _ if is_null(node) => "null".to_string(),
        Node::Scalar { text, .. } => text.clone(),
        Node::Seq { items, .. } => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Node::Map { entries, .. } => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", inline(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Parses the text of a session file (`type: Exchange` is not required).
pub fn parse(text: &str) -> Result<Vec<Exchange>> {
    let not_a_list = |e: String| anyhow!("not a list of host capability exchanges: {e}");
    let mut nodes = kube_yaml::parse_nodes(text).map_err(|e| not_a_list(e.to_string()))?;
    let root = match (nodes.pop(), nodes.is_empty()) {
        (None, _) => return Ok(Vec::new()),
        (Some(root), true) => root,
        (Some(_), false) => return Err(not_a_list("more than one YAML document".to_string())),
    };
    let Node::Seq { items, .. } = root else {
        return Err(not_a_list(format!(
            "invalid type: {}, expected a sequence",
            describe(&root)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let number = index + 1;
            let (request, response) =
                exchange_fields(item).map_err(|e| not_a_list(format!("exchange {number}: {e}")))?;
            let request = HostRequest::from_yaml(&request)
                .map_err(|e| anyhow!("exchange {number}: cannot read its request: {e}"))?;
            Ok(Exchange { request, response })
        })
        .collect()
}

fn exchange_fields(item: &Node) -> Result<(String, Response)> {
    let entries = entries_of(item)?;
    let request = field(entries, "request").ok_or_else(|| anyhow!("missing field `request`"))?;
    let request = string(request).map_err(|e| anyhow!("request: {e}"))?;
    let response = field(entries, "response").ok_or_else(|| anyhow!("missing field `response`"))?;
    let response = entries_of(response).map_err(|e| anyhow!("response: {e}"))?;
    let text = |name: &str| -> Result<String> {
        let value = field(response, name).ok_or_else(|| anyhow!("response: missing field `{name}`"))?;
        string(value).map_err(|e| anyhow!("response: {name}: {e}"))
    };
    let response = match text("type")?.as_str() {
        "Success" => Response::Success {
            payload: text("payload")?,
        },
        "Error" => Response::Error {
            message: text("message")?,
        },
        other => bail!("response: unknown variant `{other}`, expected `Success` or `Error`"),
    };
    Ok((request, response))
}

/// Writes exchanges in kwctl's format: the YAML kwctl writes with serde_yaml,
/// through the same libyaml emitter with the same settings.
pub fn render(exchanges: &[Exchange]) -> Result<String> {
    let mut out = Vec::new();
    {
        let mut yaml = Writer::new(&mut out)?;
        yaml.emit(Event::sequence_start(None, None, true, SequenceStyle::Any))?;
        for exchange in exchanges {
            yaml.emit(Event::mapping_start(None, None, true, MappingStyle::Any))?;
            yaml.field("type", "Exchange")?;
            yaml.field("request", &exchange.request.to_yaml()?)?;
            yaml.string("response")?;
            yaml.emit(Event::mapping_start(None, None, true, MappingStyle::Any))?;
            match &exchange.response {
                Response::Success { payload } => {
                    yaml.field("type", "Success")?;
                    yaml.field("payload", payload)?;
                }
                Response::Error { message } => {
                    yaml.field("type", "Error")?;
                    yaml.field("message", message)?;
                }
            }
            yaml.emit(Event::mapping_end())?;
            yaml.emit(Event::mapping_end())?;
        }
        yaml.emit(Event::sequence_end())?;
        yaml.finish()?;
    }
    Ok(String::from_utf8(out)?)
}

/// One YAML document written by libyaml's emitter as serde_yaml sets it up
/// (UTF-8, no line folding), strings styled as serde_yaml styles them.
struct Writer<'w> {
    emitter: Emitter<'w>,
}

impl<'w> Writer<'w> {
    fn new(out: &'w mut Vec<u8>) -> Result<Writer<'w>> {
        let mut emitter = Emitter::new();
        emitter.set_output_string(out);
        emitter.set_unicode(true);
        emitter.set_width(-1);
        let mut writer = Writer { emitter };
        writer.emit(Event::stream_start(Encoding::Utf8))?;
        writer.emit(Event::document_start(None, &[], true))?;
        Ok(writer)
    }

    fn emit(&mut self, event: Event) -> Result<()> {
        self.emitter.emit(event).map_err(|e| anyhow!("cannot write YAML: {e}"))
    }

    fn plain(&mut self, text: &str) -> Result<()> {
        self.emit(Event::scalar(None, None, text, true, true, ScalarStyle::Plain))
    }

    fn optional(&mut self, text: Option<&str>) -> Result<()> {
        match text {
            Some(text) => self.string(text),
            None => self.plain("null"),
        }
    }

    /// A string: a block literal when it has line breaks, quoted when
    /// serde_yaml would read it back as something else, else the emitter's
    /// choice.
    fn string(&mut self, text: &str) -> Result<()> {
        let style = if text.contains('\n') {
            ScalarStyle::Literal
        } else if reads_as_non_string(text) {
            ScalarStyle::SingleQuoted
        } else {
            ScalarStyle::Any
        };
        self.emit(Event::scalar(None, None, text, true, true, style))
    }

    fn field(&mut self, name: &str, value: &str) -> Result<()> {
        self.string(name)?;
        self.string(value)
    }

    fn finish(mut self) -> Result<()> {
        self.emit(Event::document_end(true))?;
        self.emit(Event::stream_end())?;
        self.emitter.flush().map_err(|e| anyhow!("cannot write YAML: {e}"))
    }
}

/// Whether serde_yaml reads this text, written plain, as a null, a boolean
/// or a number (its YAML 1.2 rules), so that a string must be quoted.
fn reads_as_non_string(text: &str) -> bool {
    if matches!(
        text,
        "" | "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    ) {
        return true;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| unsigned.strip_prefix(prefix).map(|digits| (digits, *radix)));
    if let Some((digits, radix)) = radix {
        if !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) {
            return true;
        }
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    // floats: one `+` may lead, then YAML's special values or Rust's syntax
    let unpositive = text.strip_prefix('+').unwrap_or(text);
    if text.starts_with('+') && unpositive.starts_with(['+', '-']) {
        return false;
    }
    matches!(unpositive, ".inf" | ".Inf" | ".INF")
        || matches!(text, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
        || unpositive.parse::<f64>().is_ok_and(f64::is_finite)
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
        assert!(reads_as_non_string("0x1F") && reads_as_non_string("-1.5e3") && reads_as_non_string("~"));
        assert!(!reads_as_non_string("yes") && !reads_as_non_string("1.2.3") && !reads_as_non_string("inf"));
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
