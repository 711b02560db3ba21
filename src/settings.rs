//! Policy settings: parsed strictly (`deny_unknown_fields`), then checked as a whole.
//!
//! A typo in a setting must fail loudly at `validate_settings` time, never be ignored,
//! so every struct here refuses unknown keys and every value is checked by
//! [`Settings::problems`], which names the field and says what is allowed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The default (and Helm chart) mount path of the secrets volume.
pub const DEFAULT_MOUNT_PATH: &str = "/etc/secrets";
/// The default name of the projected volume the mutation creates.
pub const DEFAULT_VOLUME_NAME: &str = "secret-mounts";

/// What to do with the violations found in an object.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject the request, listing every violation.
    #[default]
    Reject,
    /// Accept the request and return every violation as an admission warning.
    Warn,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// The only path at which a secret-bearing volume may be mounted.
    pub mount_path: String,
    /// Containers that are neither judged nor mutated: by name alone, or by
    /// name and image (`{name: vault-agent, image: "hashicorp/vault:*"}`).
    #[serde(deserialize_with = "exempt_containers")]
    pub exempt_containers: Vec<ExemptContainer>,
    /// Secrets no rule judges, wherever and however they are mounted: names,
    /// or patterns with `*` (any run of characters) and `?` (one character),
    /// e.g. `"*-tls"` for the certificates programs read from fixed paths.
    pub exempt_secrets: Vec<String>,
    /// `reject` (default) or `warn`.
    pub action: Action,
    /// The secrets every (selected) workload must mount, in the Helm chart's shape.
    pub secret_mounts: Vec<SecretMount>,
    /// Name of the projected volume created when a workload has none at `mountPath`.
    pub volume_name: String,
    /// `false` turns the policy validate-only: a missing declared mount is a violation.
    pub mutate: bool,
    /// Extra pod-spec locations: `group/version/Kind` → JSONPath expressions.
    pub pod_spec_paths: BTreeMap<String, Vec<String>>,
    /// On UPDATE, a finding the old object already had is a warning rather
    /// than a rejection ([`crate::update::settle`]); `false` judges every
    /// UPDATE as a CREATE is judged.
    pub allow_existing_violations: bool,
    /// What the policy learns from the namespace's Vault Secrets Operator
    /// resources ([`crate::vault_sync`]); off by default, and then the policy
    /// makes no host call.
    pub vault_sync: VaultSync,
    /// The most bytes of a rejection message, and of the warnings together:
    /// findings beyond it are counted per rule, not listed. Policy CI raises
    /// it to see every finding; it changes no verdict.
    pub max_message_bytes: usize,
}

/// The default `maxMessageBytes`: a message a terminal shows at once.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4096;
/// The least `maxMessageBytes`: room for the first line, a finding and the count of the rest.
pub const MIN_MESSAGE_BYTES: usize = 1024;

/// `vaultSync`: provenance (`require`) and discovery (`discover`), both read
/// from the VSO resources of the request's namespace.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct VaultSync {
    /// Whether a consumed Secret that no VSO resource syncs is a violation.
    pub require: Requirement,
    /// Whether VSO resources naming the workload in `rolloutRestartTargets`
    /// declare mounts, as `secretMounts` entries do.
    pub discover: bool,
}

/// `vaultSync.require`.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// Provenance is not judged.
    #[default]
    Off,
    /// A Secret no VSO resource syncs is an admission warning.
    Warn,
    /// A Secret no VSO resource syncs rejects the request.
    Reject,
}

impl VaultSync {
    /// Whether the policy reads the namespace's VSO resources at all.
    pub fn is_enabled(&self) -> bool {
        self.require != Requirement::Off || self.discover
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mount_path: DEFAULT_MOUNT_PATH.to_string(),
            exempt_containers: Vec::new(),
            exempt_secrets: Vec::new(),
            action: Action::Reject,
            secret_mounts: Vec::new(),
            volume_name: DEFAULT_VOLUME_NAME.to_string(),
            mutate: true,
            pod_spec_paths: BTreeMap::new(),
            allow_existing_violations: true,
            vault_sync: VaultSync::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// One `exemptContainers` entry: a name (written as a string, or as
/// `{name}`), or a name and an image pattern (`{name, image}`). A name alone
/// trusts whoever writes the workload, who chooses container names; `image`,
/// where `*` is any characters and `?` one, also requires the container's
/// image to match, so the exemption holds only for the program it was meant for.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExemptContainer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl ExemptContainer {
    /// Does it exempt the container `name` running `image` (`None`: no image)?
    fn matches(&self, name: &str, image: Option<&str>) -> bool {
        self.name == name
            && match (&self.image, image) {
                (None, _) => true,
                (Some(pattern), Some(image)) => glob_matches(pattern.as_bytes(), image.as_bytes()),
                (Some(_), None) => false,
            }
    }
}

/// Reads an entry written as a string or as an object, the object strictly.
fn exempt_containers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<ExemptContainer>, D::Error> {
    Vec::<Written>::deserialize(deserializer).map(|entries| entries.into_iter().map(|w| w.0).collect())
}

struct Written(ExemptContainer);

/// A string or an object, each read strictly: an untagged enum would answer
/// a typo in an object with "did not match any variant".
impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = Written;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a container name, or an object {name, image}")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Written, E> {
                Ok(Written(ExemptContainer {
                    name: name.to_string(),
                    image: None,
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Written, A::Error> {
                ExemptContainer::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Written)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

/// One entry of a Helm chart's `secretMounts` list, plus two optional extensions
/// (`containers`, `selector`) so one cluster-wide policy can serve many apps.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretMount {
    pub name: String,
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Absent: every key of the Secret is projected under its own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<KeyToPath>>,
    /// Absent: every entry of the pod spec's `containers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<String>>,
    /// Absent: every workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The VSO resource that declared this mount (`vaultSync.discover`), for
    /// messages; `None` for an entry of the settings. Never read from settings.
    #[serde(skip)]
    pub declared_by: Option<String>,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Kubernetes label-selector semantics; an empty selector matches everything.
    pub fn matches(&self, labels: &serde_json::Map<String, serde_json::Value>) -> bool {
        let label = |key: &str| labels.get(key).and_then(|v| v.as_str());
        self.match_labels.iter().all(|(k, v)| label(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|req| {
                let value = label(&req.key);
                match req.operator {
                    SelectorOperator::In => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
                    SelectorOperator::NotIn => !value.is_some_and(|v| req.values.iter().any(|x| x == v)),
                    SelectorOperator::Exists => labels.contains_key(&req.key),
                    SelectorOperator::DoesNotExist => !labels.contains_key(&req.key),
                }
            })
    }
}

/// Parses settings from JSON, naming the offending field on error
/// (e.g. `secretMounts[0].items[1].path: invalid type: integer, expected a string`).
pub fn parse(json: &[u8]) -> Result<Settings, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let settings: Settings = serde_path_to_error::deserialize(&mut de).map_err(describe_parse_error)?;
    de.end()
        .map_err(|e| format!("trailing characters after the settings object: {e}"))?;
    Ok(settings)
}

/// Prefixes serde's message with the path of the offending field; an unknown
/// key is reported at its parent, since serde's message already names it.
fn describe_parse_error(err: serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut path = err.path().to_string();
    let inner = err.into_inner();
    if inner.to_string().starts_with("unknown field") {
        path = path
            .rsplit_once('.')
            .map(|(parent, _)| parent.to_string())
            .unwrap_or_default();
    }
    if path == "." || path.is_empty() {
        inner.to_string()
    } else {
        format!("{path}: {inner}")
    }
}

/// Settings with the bytes they were parsed from.
type CachedSettings = Option<(Box<[u8]>, Rc<Settings>)>;

thread_local! {
    /// The settings of the last call, with the bytes they were parsed from. A
    /// policy server sends the same settings with every request of a policy, so
    /// an instance that serves several requests parses and checks them once.
    static CACHE: RefCell<CachedSettings> = const { RefCell::new(None) };
}

impl Settings {
    /// The settings of a `validate` payload (`None`: absent or `null`), parsed
    /// and checked as [`Settings::from_json`] does, or taken from the cache when
    /// they are the bytes of the last call.
    pub fn cached(text: Option<&RawValue>) -> Result<Rc<Settings>, String> {
        let bytes = text.map_or(&b""[..], |t| t.get().as_bytes());
        CACHE.with(|cache| {
            if let Some((key, settings)) = &*cache.borrow() {
                if **key == *bytes {
                    return Ok(Rc::clone(settings));
                }
            }
            let settings = Rc::new(Settings::from_json(bytes)?);
            *cache.borrow_mut() = Some((bytes.into(), Rc::clone(&settings)));
            Ok(settings)
        })
    }

    /// Parses and checks settings; the single entry point for `validate_settings`.
    /// Empty or `null` settings (a policy with no `settings:`) are the defaults.
    pub fn from_json(json: &[u8]) -> Result<Settings, String> {
        let trimmed = json.trim_ascii();
        let settings = if trimmed.is_empty() || trimmed == b"null" {
            Settings::default()
        } else {
            parse(trimmed)?
        };
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Every invalid value, each naming its field and what is allowed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(why) = check_mount_path(&self.mount_path) {
            problems.push(format!("mountPath {:?}: {why}", self.mount_path));
        }
        if !is_dns1123_label(&self.volume_name) {
            problems.push(format!(
                "volumeName {:?}: must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
                self.volume_name
            ));
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            problems.push(format!(
                "maxMessageBytes {}: must be at least {MIN_MESSAGE_BYTES} (the default is {DEFAULT_MAX_MESSAGE_BYTES})",
                self.max_message_bytes
            ));
        }
        self.exempt_container_problems(&mut problems);
        self.exempt_secret_problems(&mut problems);
        self.secret_mount_problems(&mut problems);
        for (kind, paths) in &self.pod_spec_paths {
            if let Err(why) = check_kind_key(kind) {
                problems.push(format!("podSpecPaths key {kind:?}: {why}"));
            }
            if paths.is_empty() {
                problems.push(format!(
                    "podSpecPaths[{kind:?}]: give at least one JSONPath expression, e.g. \"$.spec.template.spec\""
                ));
            }
            for (i, path) in paths.iter().enumerate() {
                if let Err(why) = crate::jsonpath::check(path) {
                    problems.push(format!("podSpecPaths[{kind:?}][{i}] {path:?}: {why}"));
                }
            }
        }
        problems
    }

    // The lists are short, and read once per instance: a scan of the entries
    // before, rather than a set (whose code would be the module's only one).
    fn exempt_container_problems(&self, problems: &mut Vec<String>) {
        for (i, entry) in self.exempt_containers.iter().enumerate() {
            let name = &entry.name;
            let by_name_too = || {
                self.exempt_containers
                    .iter()
                    .any(|e| e.image.is_none() && e.name == *name)
            };
            if name.is_empty() {
                problems.push(format!("exemptContainers[{i}]: a container name must not be empty"));
            } else if self.exempt_containers.iter().take(i).any(|e| e == entry) {
                problems.push(format!("exemptContainers[{i}]: {entry} is listed twice"));
            } else if entry.image.is_some() && by_name_too() {
                problems.push(format!(
                    "exemptContainers[{i}]: {entry} pins nothing, since container {name:?} is also exempt by name alone; remove one of them"
                ));
            }
            if let Some(image) = &entry.image {
                if let Err(why) = check_image_pattern(image) {
                    problems.push(format!("exemptContainers[{i}].image {image:?}: {why}"));
                }
            }
        }
    }

    fn exempt_secret_problems(&self, problems: &mut Vec<String>) {
        for (i, pattern) in self.exempt_secrets.iter().enumerate() {
            let literal: String = pattern.chars().filter(|c| !matches!(c, '*' | '?')).collect();
            let valid = !pattern.is_empty()
                && pattern.len() <= 253
                && literal
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
            if !valid {
                problems.push(format!(
                    "exemptSecrets[{i}] {pattern:?}: must be a Secret name (lowercase letters, digits, '-' and '.') where '*' stands for any characters and '?' for one, e.g. \"*-tls\""
                ));
            } else if self.exempt_secrets.iter().take(i).any(|p| p == pattern) {
                problems.push(format!("exemptSecrets[{i}]: {pattern:?} is listed twice"));
            }
        }
    }

    fn secret_mount_problems(&self, problems: &mut Vec<String>) {
        // Item paths are unique across the whole mount: every entry shares one
        // volume. Each path with the entry that used it last.
        let mut item_paths: Vec<(&str, &str)> = Vec::new();
        for (i, entry) in self.secret_mounts.iter().enumerate() {
            let at = format!("secretMounts[{i}]");
            if entry.name.is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            } else if self.secret_mounts.iter().take(i).any(|e| e.name == entry.name) {
                problems.push(format!(
                    "{at}.name: {:?} is used by another entry; names must be unique",
                    entry.name
                ));
            }
            if !is_dns1123_subdomain(&entry.secret_name) {
                problems.push(format!(
                    "{at}.secretName {:?}: must be a Secret name (DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters)",
                    entry.secret_name
                ));
            }
            self.mount_problems(entry, &at, problems);
            if let Some(items) = &entry.items {
                item_problems(entry, items, &at, &mut item_paths, problems);
            }
            if let Some(containers) = &entry.containers {
                self.container_problems(containers, &at, problems);
            }
            if let Some(selector) = &entry.selector {
                selector_problems(selector, &at, problems);
            }
        }
    }

    /// An entry's `mountPath` and `readOnly`, which may only restate the policy's.
    fn mount_problems(&self, entry: &SecretMount, at: &str, problems: &mut Vec<String>) {
        if let Some(path) = &entry.mount_path {
            if path != &self.mount_path {
                problems.push(format!(
                    "{at}.mountPath {path:?}: must equal the policy's mountPath {:?} (every secret shares one projected volume there); remove it or change mountPath",
                    self.mount_path
                ));
            }
        }
        if entry.read_only == Some(false) {
            problems.push(format!(
                "{at}.readOnly: secrets are always mounted read-only; remove it or set it to true"
            ));
        }
    }

    fn container_problems(&self, containers: &[String], at: &str, problems: &mut Vec<String>) {
        if containers.is_empty() {
            problems.push(format!(
                "{at}.containers: must not be empty; remove it to target every container"
            ));
        }
        for (j, name) in containers.iter().enumerate() {
            if self.exempt_containers.iter().any(|e| e.name == *name) {
                problems.push(format!(
                    "{at}.containers[{j}] {name:?}: is also in exemptContainers; an exempt container is never mutated"
                ));
            } else if name.is_empty() {
                problems.push(format!("{at}.containers[{j}]: a container name must not be empty"));
            }
        }
    }

    /// Is `path` (a volumeMount's `mountPath`) the mount path? Mount paths are
    /// directories: the kubelet mounts `/etc/secrets/`, `/etc//secrets` and
    /// `/etc/./secrets` at `/etc/secrets`, so paths are compared cleaned
    /// (the settings' own `mountPath` is clean already).
    pub fn is_mount_path(&self, path: &str) -> bool {
        path == self.mount_path || clean_path(path) == self.mount_path
    }

    /// Whether an `exemptContainers` entry is pinned to an image, so that
    /// containers' images must be read.
    pub fn pins_images(&self) -> bool {
        self.exempt_containers.iter().any(|e| e.image.is_some())
    }

    /// Is this Secret exempt from every rule (`exemptSecrets`)?
    pub fn is_exempt_secret(&self, secret: &str) -> bool {
        self.exempt_secrets
            .iter()
            .any(|pattern| glob_matches(pattern.as_bytes(), secret.as_bytes()))
    }

    /// Is this container (a pod spec's entry) exempt from judgement and
    /// mutation? A container without a name is never exempt.
    pub fn is_exempt(&self, container: &serde_json::Map<String, serde_json::Value>) -> bool {
        if self.exempt_containers.is_empty() {
            return false;
        }
        let Some(name) = container.get("name").and_then(serde_json::Value::as_str) else {
            return false;
        };
        let image = container.get("image").and_then(serde_json::Value::as_str);
        self.exempt_containers.iter().any(|e| e.matches(name, image))
    }
}

/// An entry's `items`: Secret keys, relative file paths unique across the mount.
fn item_problems<'s>(
    entry: &'s SecretMount,
    items: &'s [KeyToPath],
    at: &str,
    item_paths: &mut Vec<(&'s str, &'s str)>,
    problems: &mut Vec<String>,
) {
    if items.is_empty() {
        problems.push(format!(
            "{at}.items: must not be empty; remove it to project every key of the Secret"
        ));
    }
    for (j, item) in items.iter().enumerate() {
        if !is_secret_key(&item.key) {
            problems.push(format!(
                "{at}.items[{j}].key {:?}: must be a Secret key (letters, digits, '-', '_' and '.', at most 253 characters)",
                item.key
            ));
        }
        if let Err(why) = check_item_path(&item.path) {
            problems.push(format!("{at}.items[{j}].path {:?}: {why}", item.path));
        } else if let Some((_, user)) = item_paths.iter_mut().find(|(path, _)| *path == item.path) {
            let other = std::mem::replace(user, &entry.name);
            problems.push(format!(
                "{at}.items[{j}].path {:?}: already used by entry {other:?}; paths must be unique across the whole mount",
                item.path
            ));
        } else {
            item_paths.push((&item.path, &entry.name));
        }
    }
}

fn selector_problems(selector: &LabelSelector, at: &str, problems: &mut Vec<String>) {
    for (j, req) in selector.match_expressions.iter().enumerate() {
        let needs_values = matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
        if needs_values && req.values.is_empty() {
            problems.push(format!(
                "{at}.selector.matchExpressions[{j}]: operator {:?} needs a non-empty values list",
                req.operator
            ));
        } else if !needs_values && !req.values.is_empty() {
            problems.push(format!(
                "{at}.selector.matchExpressions[{j}]: operator {:?} takes no values",
                req.operator
            ));
        }
    }
}

impl std::fmt::Display for ExemptContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.image {
            None => write!(f, "container {:?}", self.name),
            Some(image) => write!(f, "container {:?} with image {image:?}", self.name),
        }
    }
}

/// An image pattern of `exemptContainers`: an image reference's characters,
/// with `*` and `?` as the only wildcards, and something literal to pin.
fn check_image_pattern(pattern: &str) -> Result<(), &'static str> {
    let literal: Vec<u8> = pattern.bytes().filter(|b| !matches!(b, b'*' | b'?')).collect();
    if pattern.is_empty() {
        return Err("must not be empty; give the image the container must run, e.g. \"hashicorp/vault:*\"");
    }
    if literal.is_empty() {
        return Err(
            "pins no image (only wildcards); give a repository, e.g. \"hashicorp/vault:*\", or exempt the name alone",
        );
    }
    let image_char = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b':' | b'_' | b'@' | b'-');
    if !literal.iter().all(image_char) {
        return Err("must be an image reference (letters, digits, '.', '/', ':', '_', '@', '-') where '*' stands for any characters and '?' for one");
    }
    Ok(())
}

/// Does `name` match `pattern`, where `*` is any run of bytes and `?` one byte?
/// Linear in their lengths: a `*` is resumed from, never re-tried recursively.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                resume = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == name.get(n) => {
                p += 1;
                n += 1;
            }
            _ => match resume {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    resume = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The shortest path naming the same place, lexically (as Go's `path.Clean`,
/// which the kubelet's path handling uses): one `/` between elements, no `.`
/// elements, each `..` taking the element before it, no trailing `/`.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut elements: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match elements.last() {
                Some(&last) if last != ".." => {
                    elements.pop();
                }
                _ if rooted => {}
                _ => elements.push(".."),
            },
            _ => elements.push(element),
        }
    }
    let joined = elements.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn check_mount_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("must be an absolute path such as /etc/secrets");
    }
    if path == "/" {
        return Err("must not be / (the container's root)");
    }
    if path.ends_with('/') || path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return Err("must be normalised: no trailing '/', no '//', no '.' or '..' segments");
    }
    if path.contains(':') {
        return Err("must not contain ':'");
    }
    Ok(())
}

/// Item paths are relative file paths inside the volume, as Kubernetes requires.
fn check_item_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("must not be empty");
    }
    if path.starts_with('/') {
        return Err("must be relative (no leading '/')");
    }
    if path.split('/').any(|s| s == "..") {
        return Err("must not contain '..'");
    }
    if path.ends_with('/') || path.contains("//") {
        return Err("must name a file: no trailing '/' or '//'");
    }
    Ok(())
}

/// `group/version/Kind`, or `version/Kind` for the core group.
fn check_kind_key(key: &str) -> Result<(), &'static str> {
    const HINT: &str = "must be group/version/Kind (e.g. argoproj.io/v1alpha1/Rollout) or v1/Kind for the core group";
    let parts: Vec<&str> = key.split('/').collect();
    let (group, version, kind) = match parts.as_slice() {
        [version, kind] => ("", *version, *kind),
        [group, version, kind] => (*group, *version, *kind),
        _ => return Err(HINT),
    };
    // The core group is written without a group part, so a 3-part key needs one.
    let ok_group = if parts.len() == 2 {
        true
    } else {
        is_dns1123_subdomain(group)
    };
    let ok_version = !version.is_empty() && version.starts_with('v') && is_dns1123_label(version);
    let ok_kind =
        kind.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && kind.chars().all(|c| c.is_ascii_alphanumeric());
    if ok_group && ok_version && ok_kind {
        Ok(())
    } else {
        Err(HINT)
    }
}

pub(crate) fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: serde_json::Value) -> Result<Settings, String> {
        Settings::from_json(v.to_string().as_bytes())
    }

    #[test]
    fn exempt_secret_patterns_match_names_and_globs() {
        let s = check(json!({"exemptSecrets": ["*-tls", "webhook-?ert", "ca"]})).unwrap();
        for exempt in ["app-tls", "-tls", "webhook-cert", "ca"] {
            assert!(s.is_exempt_secret(exempt), "{exempt}");
        }
        for judged in ["app-tls-2", "tls", "webhook-certs", "cab", "db"] {
            assert!(!s.is_exempt_secret(judged), "{judged}");
        }
        assert!(glob_matches(b"*a*b*", b"xxaxxbxx"));
        assert!(!glob_matches(b"*a*b", b"xxaxxbxx"));
        assert!(glob_matches(b"**", b""));
        let err = check(json!({"exemptSecrets": ["App_TLS", "", "ca", "ca"]})).unwrap_err();
        assert!(
            err.contains(r#"exemptSecrets[0] "App_TLS": must be a Secret name"#),
            "{err}"
        );
        assert!(err.contains(r#"exemptSecrets[1] "": must be a Secret name"#), "{err}");
        assert!(err.contains(r#"exemptSecrets[3]: "ca" is listed twice"#), "{err}");
    }

    fn container(name: &str, image: Option<&str>) -> serde_json::Map<String, serde_json::Value> {
        let mut c = json!({"name": name});
        if let Some(image) = image {
            c["image"] = json!(image);
        }
        c.as_object().unwrap().clone()
    }

    #[test]
    fn exempt_containers_are_names_or_names_pinned_to_an_image() {
        let s = check(json!({"exemptContainers": [
            "istio-proxy",
            {"name": "vault-agent", "image": "hashicorp/vault:*"},
            {"name": "init"},
        ]}))
        .unwrap();
        assert!(s.is_exempt(&container("istio-proxy", Some("anything:1"))));
        assert!(s.is_exempt(&container("istio-proxy", None)));
        assert!(s.is_exempt(&container("init", Some("x"))));
        assert!(s.is_exempt(&container("vault-agent", Some("hashicorp/vault:1.15.2"))));
        for (name, image) in [
            ("vault-agent", Some("evil.example/vault:1.15")),
            ("vault-agent", Some("hashicorp/vault")),
            ("vault-agent", None),
            ("app", Some("hashicorp/vault:1.15")),
        ] {
            assert!(!s.is_exempt(&container(name, image)), "{name} {image:?}");
        }
        let unnamed = json!({"image": "hashicorp/vault:1"});
        assert!(!s.is_exempt(unnamed.as_object().unwrap()));
    }

    #[test]
    fn exempt_container_entries_are_checked_entry_by_entry() {
        let err = check(json!({"exemptContainers": [{"name": "a", "imag": "x"}]})).unwrap_err();
        assert!(err.starts_with("exemptContainers[0]: unknown field `imag`"), "{err}");
        let err = check(json!({"exemptContainers": [5]})).unwrap_err();
        assert!(err.starts_with("exemptContainers[0]: invalid type"), "{err}");
        let err = check(json!({"exemptContainers": [
            {"name": "a", "image": ""},
            {"name": "b", "image": "*"},
            {"name": "c", "image": "repo/[x]:1"},
            "d", {"name": "d", "image": "d:*"},
            {"name": "e", "image": "e:*"}, {"name": "e", "image": "e:*"},
            {"name": "", "image": "x:1"},
        ]}))
        .unwrap_err();
        for expected in [
            r#"exemptContainers[0].image "": must not be empty"#,
            r#"exemptContainers[1].image "*": pins no image"#,
            r#"exemptContainers[2].image "repo/[x]:1": must be an image reference"#,
            r#"exemptContainers[4]: container "d" with image "d:*" pins nothing"#,
            r#"exemptContainers[6]: container "e" with image "e:*" is listed twice"#,
            r#"exemptContainers[7]: a container name must not be empty"#,
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
    }

    #[test]
    fn mount_paths_are_compared_as_the_kubelet_mounts_them() {
        let s = Settings::default();
        for same in [
            "/etc/secrets",
            "/etc/secrets/",
            "/etc//secrets",
            "/etc/./secrets",
            "//etc/secrets//",
            "/etc/x/../secrets",
        ] {
            assert!(s.is_mount_path(same), "{same}");
        }
        for other in [
            "/etc/secrets/x",
            "/etc/secret",
            "etc/secrets",
            "/etc",
            "/etc/secrets/..",
        ] {
            assert!(!s.is_mount_path(other), "{other}");
        }
        assert_eq!(clean_path("/../a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("a/../../b"), "../b");
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn empty_and_null_settings_are_the_defaults() {
        assert_eq!(Settings::from_json(b"{}").unwrap(), Settings::default());
        assert_eq!(Settings::from_json(b"null").unwrap(), Settings::default());
        assert_eq!(Settings::from_json(b"").unwrap(), Settings::default());
        let d = Settings::default();
        assert_eq!(d.mount_path, "/etc/secrets");
        assert_eq!(d.volume_name, "secret-mounts");
        assert!(d.mutate);
        assert_eq!(d.action, Action::Reject);
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = check(json!({"mountpath": "/etc/secrets"})).unwrap_err();
        assert!(err.contains("unknown field `mountpath`"), "{err}");
        assert!(err.contains("mountPath"), "should list the accepted keys: {err}");
    }

    #[test]
    fn unknown_nested_key_is_named_with_its_path() {
        let err = check(json!({"secretMounts": [{"name": "a", "secretName": "a", "item": []}]})).unwrap_err();
        assert!(err.starts_with("secretMounts[0]"), "{err}");
        assert!(err.contains("unknown field `item`"), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let err =
            check(json!({"secretMounts": [{"name": "a", "secretName": "a", "items": [{"key": "K", "path": 5}]}]}))
                .unwrap_err();
        assert!(err.starts_with("secretMounts[0].items[0].path: invalid type"), "{err}");
        let err = check(json!({"mutate": "yes"})).unwrap_err();
        assert!(err.starts_with("mutate: invalid type"), "{err}");
        let err = check(json!({"action": "block"})).unwrap_err();
        assert!(
            err.contains("action") && err.contains("reject") && err.contains("warn"),
            "{err}"
        );
    }

    #[test]
    fn mount_path_must_be_absolute_normalised_and_not_root() {
        for bad in [
            "etc/secrets",
            "/",
            "/etc/secrets/",
            "/etc//secrets",
            "/etc/../secrets",
            "/etc/./s",
            "",
        ] {
            let err = check(json!({"mountPath": bad})).unwrap_err();
            assert!(err.starts_with("mountPath"), "{bad}: {err}");
        }
        assert!(check(json!({"mountPath": "/var/run/secrets/app"})).is_ok());
    }

    #[test]
    fn volume_name_must_be_a_dns_label() {
        for bad in ["Secrets", "-a", "a_b", "", &"a".repeat(64)] {
            let err = check(json!({"volumeName": bad})).unwrap_err();
            assert!(err.starts_with("volumeName"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_seed_helm_entry_is_accepted_as_pasted() {
        let s = check(json!({"secretMounts": [{
            "name": "api-key", "secretName": "api-key", "mountPath": "/etc/secrets", "readOnly": true,
            "items": [{"key": "API_KEY", "path": "api-key/API_KEY"}]
        }]}))
        .unwrap();
        assert_eq!(s.secret_mounts[0].items.as_ref().unwrap()[0].path, "api-key/API_KEY");
    }

    #[test]
    fn secret_mount_entries_are_checked_field_by_field() {
        let err = check(json!({"secretMounts": [
            {"name": "a", "secretName": "Bad_Name", "mountPath": "/other", "readOnly": false,
             "items": [{"key": "k", "path": "/abs"}, {"key": "k2", "path": "x/../y"}]},
            {"name": "a", "secretName": "b", "items": []},
        ]}))
        .unwrap_err();
        for expected in [
            "secretMounts[0].secretName \"Bad_Name\"",
            "secretMounts[0].mountPath \"/other\"",
            "secretMounts[0].readOnly",
            "secretMounts[0].items[0].path \"/abs\"",
            "secretMounts[0].items[1].path \"x/../y\"",
            "secretMounts[1].name: \"a\" is used by another entry",
            "secretMounts[1].items: must not be empty",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
    }

    #[test]
    fn item_paths_are_unique_across_entries() {
        let err = check(json!({"secretMounts": [
            {"name": "a", "secretName": "a", "items": [{"key": "K", "path": "same"}]},
            {"name": "b", "secretName": "b", "items": [{"key": "K", "path": "same"}]},
            {"name": "c", "secretName": "c", "items": [{"key": "K", "path": "same"}]},
        ]}))
        .unwrap_err();
        assert!(
            err.contains("secretMounts[1].items[0].path \"same\": already used by entry \"a\""),
            "{err}"
        );
        // a third use names the entry that used the path last
        assert!(
            err.contains("secretMounts[2].items[0].path \"same\": already used by entry \"b\""),
            "{err}"
        );
    }

    #[test]
    fn a_container_cannot_be_both_targeted_and_exempt() {
        let err = check(json!({"exemptContainers": ["vault-agent"], "secretMounts": [
            {"name": "a", "secretName": "a", "containers": ["vault-agent"]}]}))
        .unwrap_err();
        assert!(
            err.contains("secretMounts[0].containers[0] \"vault-agent\": is also in exemptContainers"),
            "{err}"
        );
    }

    #[test]
    fn selector_operators_need_the_right_values() {
        let err = check(
            json!({"secretMounts": [{"name": "a", "secretName": "a", "selector": {"matchExpressions": [
            {"key": "app", "operator": "In"}, {"key": "app", "operator": "Exists", "values": ["x"]}]}}]}),
        )
        .unwrap_err();
        assert!(err.contains("matchExpressions[0]: operator In needs"), "{err}");
        assert!(
            err.contains("matchExpressions[1]: operator Exists takes no values"),
            "{err}"
        );
        let err = check(
            json!({"secretMounts": [{"name": "a", "secretName": "a", "selector": {"matchExpressions": [
            {"key": "app", "operator": "Contains", "values": ["x"]}]}}]}),
        )
        .unwrap_err();
        assert!(
            err.contains("operator") && err.contains("unknown variant `Contains`"),
            "{err}"
        );
    }

    #[test]
    fn label_selector_semantics() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        let sel = |v: serde_json::Value| serde_json::from_value::<LabelSelector>(v).unwrap();
        assert!(sel(json!({})).matches(labels));
        assert!(sel(json!({"matchLabels": {"app": "web"}})).matches(labels));
        assert!(!sel(json!({"matchLabels": {"app": "db"}})).matches(labels));
        assert!(
            sel(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}))
                .matches(labels)
        );
        assert!(sel(json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]})).matches(labels));
        assert!(
            !sel(json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]})).matches(labels)
        );
        assert!(sel(json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]})).matches(labels));
        assert!(!sel(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})).matches(labels));
    }

    #[test]
    fn pod_spec_path_keys_and_expressions_are_checked() {
        assert!(check(
            json!({"podSpecPaths": {"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"], "v1/Pod": ["$.spec"]}})
        )
        .is_ok());
        for bad_key in [
            "Rollout",
            "argoproj.io/Rollout/v1",
            "argoproj.io/v1alpha1/rollout",
            "a/b/c/d",
            "/v1/Pod",
        ] {
            let err = check(json!({"podSpecPaths": {bad_key: ["$.spec"]}})).unwrap_err();
            assert!(
                err.contains(&format!("podSpecPaths key {bad_key:?}")),
                "{bad_key}: {err}"
            );
        }
        let err = check(json!({"podSpecPaths": {"apps.example.com/v1/Thing": ["$.spec[?(@.x ==]"]}})).unwrap_err();
        assert!(err.contains("podSpecPaths[\"apps.example.com/v1/Thing\"][0]"), "{err}");
        let err = check(json!({"podSpecPaths": {"apps.example.com/v1/Thing": []}})).unwrap_err();
        assert!(err.contains("at least one JSONPath"), "{err}");
    }

    #[test]
    fn serialised_defaults_list_every_accepted_key() {
        // The packaging consistency test relies on this: every setting appears here.
        let v = serde_json::to_value(Settings::default()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "action",
                "allowExistingViolations",
                "exemptContainers",
                "exemptSecrets",
                "maxMessageBytes",
                "mountPath",
                "mutate",
                "podSpecPaths",
                "secretMounts",
                "vaultSync",
                "volumeName"
            ]
        );
    }

    #[test]
    fn allow_existing_violations_defaults_to_true_and_is_a_bool() {
        assert!(check(json!({})).unwrap().allow_existing_violations);
        assert!(
            !check(json!({"allowExistingViolations": false}))
                .unwrap()
                .allow_existing_violations
        );
        let err = check(json!({"allowExistingViolations": "no"})).unwrap_err();
        assert!(err.starts_with("allowExistingViolations: invalid type"), "{err}");
        let err = check(json!({"allowExistingViolation": false})).unwrap_err();
        assert!(err.contains("unknown field `allowExistingViolation`"), "{err}");
    }

    #[test]
    fn max_message_bytes_has_a_floor() {
        assert_eq!(check(json!({})).unwrap().max_message_bytes, 4096);
        assert_eq!(check(json!({"maxMessageBytes": 1024})).unwrap().max_message_bytes, 1024);
        let err = check(json!({"maxMessageBytes": 1023})).unwrap_err();
        assert!(err.starts_with("maxMessageBytes 1023: must be at least 1024"), "{err}");
        let err = check(json!({"maxMessageBytes": -1})).unwrap_err();
        assert!(err.starts_with("maxMessageBytes: invalid value"), "{err}");
    }

    #[test]
    fn vault_sync_is_strict_and_off_by_default() {
        let defaults = check(json!({})).unwrap();
        assert!(!defaults.vault_sync.is_enabled());
        let on = check(json!({"vaultSync": {"require": "warn"}})).unwrap();
        assert_eq!(on.vault_sync.require, Requirement::Warn);
        assert!(!on.vault_sync.discover && on.vault_sync.is_enabled());
        assert!(check(json!({"vaultSync": {"discover": true}}))
            .unwrap()
            .vault_sync
            .is_enabled());
        let err = check(json!({"vaultSync": {"requires": "reject"}})).unwrap_err();
        assert!(err.starts_with("vaultSync: unknown field `requires`"), "{err}");
        let err = check(json!({"vaultSync": {"require": "block"}})).unwrap_err();
        assert!(err.starts_with("vaultSync.require: unknown variant `block`"), "{err}");
        let err = check(json!({"vaultSync": {"discover": "yes"}})).unwrap_err();
        assert!(err.starts_with("vaultSync.discover: invalid type"), "{err}");
        let err = check(json!({"secretMounts": [{"name": "a", "secretName": "a", "declaredBy": "x"}]})).unwrap_err();
        assert!(err.contains("unknown field `declaredBy`"), "{err}");
    }
}
