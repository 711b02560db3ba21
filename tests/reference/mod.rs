//! The reference evaluator: an independent, slow and obvious reading of the
//! README's rules, kept in tests only.
//!
//! It imports nothing from the policy but the entry point under test
//! (`evaluate::validate` and the strict `evaluate::read_response`) and the
//! host trait `vault_sync::Cluster`. Settings come in as JSON. It parses the
//! whole object into a `serde_json::Value`, finds pod specs from its own table
//! of kinds (and `podSpecPaths` through `jsonpath_lib`, locating each selected
//! node by its address), applies the rules as the README states them
//! (sections Rules, Settings, Mutation, Custom workload kinds, Vault-synced
//! Secrets), plans and applies the declared mounts on the `Value` directly,
//! reads the VSO resources from the test cluster itself, and writes the
//! expected verdict, findings (rule id, field path) split into rejecting and
//! warned, the `violations` audit annotation and the mutated object.
//!
//! Where the README is silent (how many `declared-mount-missing` or
//! `secret-mounts-conflict` findings one gap makes, how deep "Kubernetes'
//! shape" goes, duplicate names Kubernetes refuses), the reference takes the
//! reading the comparison showed the product has, when that reading is a
//! sound one; each such point is said where it is decided.
//!
//! [`check_against_product`] runs the product's `validate` on the same request
//! as a host writes it and reads its answer from the raw bytes the host reads:
//! every finding line `[rule-id] path: text.` of `message` (after its first
//! line) and of `warnings`, and the line that counts the findings not listed
//! (README, "Messages"). It fails on any difference in the verdict, the
//! findings (in the README's order, per severity: those listed, then the
//! count per rule of the rest), the count the message announces, the
//! message's and the warnings' size against `maxMessageBytes`, the audit
//! annotation (as a set of ids) or the mutated object (compared as parsed
//! JSON), and checks that a mutated object is an object of the request's
//! apiVersion and kind and, for a built-in kind whose submitted object its
//! k8s-openapi type reads, one that type still reads. It forgives nothing: a
//! difference is a product bug, or the reference's.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use secret_mounts_policy::evaluate;
use secret_mounts_policy::vault_sync::Cluster;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// Requests and the cluster they are judged in
// ---------------------------------------------------------------------------

/// An admission request with its object parsed, as tests build them.
#[derive(Debug, Clone)]
pub struct Request {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub operation: String,
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub object: Value,
    /// The object as stored before an UPDATE (`oldObject`), when the request has one.
    pub old_object: Option<Value>,
    /// What the host's `kubernetes` capability answers (`vaultSync`).
    pub cluster: TestCluster,
}

/// The cluster a request is judged in, as the host's `kubernetes` capability
/// shows it: objects (VSO resources) it lists by kind and namespace, or a
/// host whose every call fails. Counts the calls.
#[derive(Debug, Clone)]
pub enum TestCluster {
    Holding(Vec<Value>, Cell<usize>),
    Failing(String, Cell<usize>),
}

impl TestCluster {
    pub fn holding(objects: Vec<Value>) -> Self {
        TestCluster::Holding(objects, Cell::new(0))
    }

    pub fn failing(error: &str) -> Self {
        TestCluster::Failing(error.to_string(), Cell::new(0))
    }

    pub fn calls(&self) -> usize {
        match self {
            TestCluster::Holding(_, calls) | TestCluster::Failing(_, calls) => calls.get(),
        }
    }
}

impl Cluster for TestCluster {
    fn list_resources_by_namespace(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let request: Value = serde_json::from_slice(request).expect("the policy's request is JSON");
        match self {
            TestCluster::Failing(error, calls) => {
                calls.set(calls.get() + 1);
                Err(error.clone())
            }
            TestCluster::Holding(objects, calls) => {
                calls.set(calls.get() + 1);
                let items: Vec<&Value> = objects
                    .iter()
                    .filter(|o| {
                        o["apiVersion"] == request["api_version"]
                            && o["kind"] == request["kind"]
                            && o["metadata"]["namespace"] == request["namespace"]
                    })
                    .collect();
                let list =
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
                Ok(list.to_string().into_bytes())
            }
        }
    }
}

impl TestCluster {
    /// The reference's own read of the VSO resources of `namespace` (one
    /// kind at a time, as the README says the policy asks): the items, or the
    /// error of the first call that failed. Does not count as a call.
    fn list(&self, kind: &str, namespace: &str) -> Result<Vec<Value>, String> {
        match self {
            TestCluster::Failing(error, _) => Err(error.clone()),
            TestCluster::Holding(objects, _) => Ok(objects
                .iter()
                .filter(|o| {
                    o["apiVersion"] == "secrets.hashicorp.com/v1beta1"
                        && o["kind"] == kind
                        && o["metadata"]["namespace"] == namespace
                })
                .cloned()
                .collect()),
        }
    }
}

pub fn request(group: &str, kind: &str, operation: &str, object: Value) -> Request {
    Request {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        operation: operation.into(),
        sub_resource: None,
        namespace: Some("ns".into()),
        object,
        old_object: None,
        cluster: TestCluster::holding(Vec::new()),
    }
}

/// The `validate` payload as policy-evaluator (kwctl, policy-server) writes
/// it: a JSON map with sorted keys.
pub fn host_payload<S: serde::Serialize>(settings: &S, request: &Request) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "request": {
            "kind": {"group": request.group, "kind": request.kind, "version": request.version},
            "namespace": request.namespace,
            "object": request.object,
            "oldObject": request.old_object,
            "operation": request.operation,
            "subResource": request.sub_resource,
            "uid": "test",
        },
        "settings": settings,
    }))
    .expect("a payload serialises")
}

// ---------------------------------------------------------------------------
// The reference's own table of kinds
// ---------------------------------------------------------------------------

/// Every built-in kind: (group, kind, JSON pointer of its pod spec).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("", "Pod", "/spec"),
    ("", "ReplicationController", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "ReplicaSet", "/spec/template/spec"),
    ("apps", "StatefulSet", "/spec/template/spec"),
    ("apps", "DaemonSet", "/spec/template/spec"),
    ("batch", "Job", "/spec/template/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

/// The name a VSO `rolloutRestartTargets` entry gives a kind, for the kinds
/// VSO restarts (README, "Discovery").
fn restart_target_kind(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("apps", "Deployment") => Some("Deployment"),
        ("apps", "DaemonSet") => Some("DaemonSet"),
        ("apps", "StatefulSet") => Some("StatefulSet"),
        ("argoproj.io", "Rollout") => Some("argo.Rollout"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Settings, read from their JSON
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Require {
    Off,
    Warn,
    Reject,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    secret: String,
    items: Option<Vec<(String, String)>>,
    containers: Option<Vec<String>>,
    selector: Option<Value>,
    /// Declared by a VSO resource (`vaultSync.discover`).
    discovered: bool,
}

#[derive(Debug, Clone)]
struct Config {
    mount_path: String,
    /// (name, image pattern): a string, or an object without `image`, has none.
    exempt_containers: Vec<(String, Option<String>)>,
    exempt_secrets: Vec<String>,
    reject: bool,
    max_message_bytes: usize,
    entries: Vec<Entry>,
    volume_name: String,
    mutate: bool,
    pod_spec_paths: Vec<(String, Vec<String>)>,
    require: Require,
    discover: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn config(settings: &Value) -> Config {
    let s = |k: &str| settings.get(k).filter(|v| !v.is_null());
    let entries = s("secretMounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    name: e["name"].as_str().unwrap_or("").to_string(),
                    secret: e["secretName"].as_str().unwrap_or("").to_string(),
                    items: e.get("items").and_then(Value::as_array).map(|items| {
                        items
                            .iter()
                            .map(|i| {
                                (
                                    i["key"].as_str().unwrap_or("").to_string(),
                                    i["path"].as_str().unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    }),
                    containers: e.get("containers").filter(|v| !v.is_null()).map(|c| strings(Some(c))),
                    selector: e.get("selector").filter(|v| !v.is_null()).cloned(),
                    discovered: false,
                })
                .collect()
        })
        .unwrap_or_default();
    let vault = s("vaultSync").cloned().unwrap_or(Value::Null);
    Config {
        mount_path: s("mountPath")
            .and_then(Value::as_str)
            .unwrap_or("/etc/secrets")
            .to_string(),
        exempt_containers: s("exemptContainers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| match e {
                        Value::String(name) => (name.clone(), None),
                        written => (
                            written["name"].as_str().unwrap_or("").to_string(),
                            written.get("image").and_then(Value::as_str).map(String::from),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        max_message_bytes: s("maxMessageBytes")
            .and_then(Value::as_u64)
            .map_or(4096, |n| n as usize),
        exempt_secrets: strings(s("exemptSecrets")),
        reject: s("action").and_then(Value::as_str).unwrap_or("reject") == "reject",
        entries,
        volume_name: s("volumeName")
            .and_then(Value::as_str)
            .unwrap_or("secret-mounts")
            .to_string(),
        mutate: s("mutate").and_then(Value::as_bool).unwrap_or(true),
        pod_spec_paths: s("podSpecPaths")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(Some(v)))).collect())
            .unwrap_or_default(),
        require: match vault.get("require").and_then(Value::as_str) {
            Some("warn") => Require::Warn,
            Some("reject") => Require::Reject,
            _ => Require::Off,
        },
        discover: vault.get("discover").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// `*` is any characters, `?` exactly one.
fn glob(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some(('?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

impl Config {
    /// README: a string exempts the container of that name; `{name, image}`
    /// only that name running an image the pattern matches. A container
    /// without a name is never exempt.
    fn container_exempt(&self, container: &Value) -> bool {
        let Some(name) = container.get("name").and_then(Value::as_str) else {
            return false;
        };
        let image: Option<Vec<char>> = container
            .get("image")
            .and_then(Value::as_str)
            .map(|i| i.chars().collect());
        self.exempt_containers.iter().any(|(n, pattern)| {
            n == name
                && match (pattern, &image) {
                    (None, _) => true,
                    (Some(p), Some(image)) => glob(&p.chars().collect::<Vec<_>>(), image),
                    (Some(_), None) => false,
                }
        })
    }

    fn secret_exempt(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.exempt_secrets
            .iter()
            .any(|p| glob(&p.chars().collect::<Vec<_>>(), &name))
    }

    fn rejects(&self, rule: &str) -> bool {
        match rule {
            "secret-not-vault-synced" | "vault-sync-unavailable" => self.require == Require::Reject,
            "discovered-secrets-may-collide" => false,
            _ => self.reject,
        }
    }
}

// ---------------------------------------------------------------------------
// Field paths
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

type Path = Vec<Seg>;

fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            // A key "" has no dotted form: it is written quoted.
            Seg::Key(k) if k.is_empty() => out.push_str("[\"\"]"),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        // The object itself, as messages name it.
        out.push_str("the object");
    }
    out
}

fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

fn child(path: &[Seg], seg: Seg) -> Path {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn key(path: &[Seg], k: &str) -> Path {
    child(path, Seg::Key(k.to_string()))
}

fn index(path: &[Seg], i: usize) -> Path {
    child(path, Seg::Index(i))
}

fn get<'a>(root: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, seg| match seg {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

/// The path of every value in `root`, keyed by its address: how the
/// references `jsonpath_lib` selects are told apart and located.
fn paths_by_address(root: &Value, at: Path, out: &mut Vec<(*const Value, Path)>) {
    out.push((root as *const Value, at.clone()));
    match root {
        Value::Object(m) => m.iter().for_each(|(k, v)| paths_by_address(v, key(&at, k), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| paths_by_address(v, index(&at, i), out)),
        _ => {}
    }
}

/// A mount path as the kubelet resolves it: empty and `.` components dropped.
fn normalised(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

// ---------------------------------------------------------------------------
// What the reference concludes
// ---------------------------------------------------------------------------

/// One violation: the rule's id and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub rule: String,
    /// The field path as messages write it: `spec.template.spec.containers[0].env[1]`.
    pub at: String,
    /// The Secret a `secret-not-vault-synced` finding names.
    pub secret: Option<String>,
}

fn finding(rule: &str, at: &[Seg]) -> Finding {
    Finding {
        rule: rule.to_string(),
        at: dotted(at),
        secret: None,
    }
}

/// What the reference expects of a request.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    /// Every violation, in the README's order.
    pub findings: Vec<Finding>,
    pub accepted: bool,
    /// The rejecting findings (in order), then the warned ones.
    pub rejecting: Vec<Finding>,
    pub warned: Vec<Finding>,
    /// The `violations` audit annotation.
    pub violations: Option<String>,
    /// The object with the declared mounts added, when that changes it
    /// (whether or not the request is accepted).
    pub mutated: Option<Value>,
    /// A declared Secret had no list to go to (a `sources` or `items` that
    /// is not a list): a `secret-mounts-conflict`.
    pub unplaceable: bool,
}

impl Evaluation {
    /// The mutated object the host should receive.
    pub fn mutated_object(&self) -> Option<&Value> {
        self.mutated.as_ref().filter(|_| self.accepted)
    }
}

/// Where the pod specs of a request are, or `None` when the request is not judged.
enum Located {
    Spec(Path),
    Malformed(Path),
}

fn judged(request: &Request) -> bool {
    let operation = matches!(request.operation.as_str(), "CREATE" | "UPDATE");
    let sub_resource = match request.sub_resource.as_deref() {
        None | Some("") => true,
        Some("ephemeralcontainers") => request.group.is_empty() && request.kind == "Pod",
        Some(_) => false,
    };
    operation && sub_resource && !request.object.is_null()
}

fn gvk_key(request: &Request) -> String {
    if request.group.is_empty() {
        format!("{}/{}", request.version, request.kind)
    } else {
        format!("{}/{}/{}", request.group, request.version, request.kind)
    }
}

fn locate(config: &Config, request: &Request) -> Option<Vec<Located>> {
    let builtin = KINDS.iter().find(|(g, k, _)| *g == request.group && *k == request.kind);
    let gvk = gvk_key(request);
    let custom: Vec<String> = config
        .pod_spec_paths
        .iter()
        .filter(|(k, _)| *k == gvk)
        .flat_map(|(_, v)| v.clone())
        .collect();
    if builtin.is_none() && custom.is_empty() {
        return None;
    }
    let object = &request.object;
    let mut out = Vec::new();
    let mut seen: Vec<Path> = Vec::new();
    if let Some((_, _, ptr)) = builtin {
        let segs: Vec<&str> = ptr.split('/').skip(1).collect();
        let mut at: Path = Vec::new();
        let mut cur = object;
        let mut found = true;
        for s in segs {
            match cur {
                Value::Object(m) => match m.get(s).filter(|v| !v.is_null()) {
                    Some(v) => {
                        at = key(&at, s);
                        cur = v;
                    }
                    None => {
                        found = false;
                        break;
                    }
                },
                _ => {
                    out.push(Located::Malformed(at.clone()));
                    found = false;
                    break;
                }
            }
        }
        if found {
            if cur.is_object() {
                seen.push(at.clone());
                out.push(Located::Spec(at));
            } else {
                out.push(Located::Malformed(at));
            }
        }
    }
    if !custom.is_empty() {
        let mut addresses = Vec::new();
        paths_by_address(object, Vec::new(), &mut addresses);
        for expression in &custom {
            let selected = jsonpath_lib::select(object, expression).unwrap_or_default();
            for v in selected {
                let Some((_, at)) = addresses.iter().find(|(a, _)| std::ptr::eq(*a, v)) else {
                    continue;
                };
                if seen.contains(at) {
                    continue;
                }
                seen.push(at.clone());
                if v.is_object() {
                    out.push(Located::Spec(at.clone()));
                } else {
                    out.push(Located::Malformed(at.clone()));
                }
            }
        }
    }
    Some(out)
}

/// Every list of containers of a pod spec, in the README's order.
const LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

fn array<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn string<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// A name field: a string, else "" (what an absent name reads as).
fn name_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A list field of an object where Kubernetes has a list: absent or `null`
/// is empty, anything else but a list is a `malformed-object` finding.
fn list_at<'a>(v: &'a Value, field: &str, at: &[Seg], out: &mut Vec<Finding>) -> &'a [Value] {
    match v.get(field) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            out.push(finding("malformed-object", &key(at, field)));
            &[]
        }
    }
}

/// A volume's Secret as the rules see it: a `secret` volume of its
/// `secretName`, or a projected volume with `secret` sources (in order, each
/// once), leaving out exempt Secrets; `None` for a volume carrying none.
#[derive(Debug, Clone, PartialEq)]
enum SecretBearing {
    Plain(String),
    Projected(Vec<String>),
}

fn secret_bearing(config: &Config, volume: &Value) -> Option<SecretBearing> {
    if let Some(secret) = volume.get("secret").filter(|s| s.is_object()) {
        let name = name_of(secret, "secretName");
        return (!config.secret_exempt(name)).then(|| SecretBearing::Plain(name.to_string()));
    }
    let sources = volume.get("projected")?.get("sources")?.as_array()?;
    let mut secrets: Vec<String> = Vec::new();
    for source in sources {
        if let Some(secret) = source.get("secret").filter(|s| s.is_object()) {
            let name = name_of(secret, "name");
            if !config.secret_exempt(name) && !secrets.iter().any(|s| s == name) {
                secrets.push(name.to_string());
            }
        }
    }
    (!secrets.is_empty()).then_some(SecretBearing::Projected(secrets))
}

/// The files a projected volume's sources write: (path, the secret and key
/// projecting it, for a `secret` item).
fn projected_files(volume: &Value) -> Vec<(String, Option<(String, String)>)> {
    let mut files = Vec::new();
    let Some(sources) = volume
        .get("projected")
        .and_then(|p| p.get("sources"))
        .and_then(Value::as_array)
    else {
        return files;
    };
    for source in sources {
        for kind in ["secret", "configMap", "downwardAPI"] {
            if let Some(s) = source.get(kind).filter(|s| s.is_object()) {
                for item in array(s, "items") {
                    if let Some(p) = item.get("path").and_then(Value::as_str) {
                        let who = (kind == "secret")
                            .then(|| (name_of(s, "name").to_string(), name_of(item, "key").to_string()));
                        files.push((p.to_string(), who));
                    }
                }
            }
        }
        // The file paths of the other projections, as the Kubernetes API names them.
        for (kind, fields) in [
            ("serviceAccountToken", &["path"][..]),
            ("clusterTrustBundle", &["path"][..]),
            (
                "podCertificate",
                &["credentialBundlePath", "keyPath", "certificateChainPath"][..],
            ),
        ] {
            if let Some(s) = source.get(kind).filter(|s| s.is_object()) {
                for field in fields {
                    if let Some(p) = s.get(*field).and_then(Value::as_str) {
                        files.push((p.to_string(), None));
                    }
                }
            }
        }
    }
    files
}

/// The rules of the README's "Rules" section on one pod spec, in the
/// README's order. A field that does not have Kubernetes' shape (a list that
/// is not one, a container, volume or volumeMount that is not an object) is a
/// `malformed-object` finding where it is met, and what it holds is not judged.
fn judge(config: &Config, spec: &Value, at: &[Seg], synced: Option<&BTreeSet<String>>, out: &mut Vec<Finding>) {
    // Volumes by name. Kubernetes refuses two volumes of one name; should
    // they come, the README does not say which counts: the last secret-bearing
    // one, as the product reads them.
    let mut volumes: Vec<(usize, String, SecretBearing)> = Vec::new();
    for (k, v) in list_at(spec, "volumes", at, out).iter().enumerate() {
        if !v.is_object() {
            out.push(finding("malformed-object", &index(&key(at, "volumes"), k)));
            continue;
        }
        if let Some(bearing) = secret_bearing(config, v) {
            let name = name_of(v, "name").to_string();
            volumes.retain(|(_, n, _)| *n != name);
            volumes.push((k, name, bearing));
        }
    }
    let unsynced = |secret: &str, at: &[Seg], out: &mut Vec<Finding>| {
        if let Some(synced) = synced {
            if !synced.contains(secret) {
                out.push(Finding {
                    secret: Some(secret.to_string()),
                    ..finding("secret-not-vault-synced", at)
                });
            }
        }
    };
    // Names of the volumes mounted by any container, and by a judged one.
    let mut mounted: Vec<String> = Vec::new();
    let mut mounted_by_judged: Vec<String> = Vec::new();
    for list in LISTS {
        for (i, c) in list_at(spec, list, at, out).iter().enumerate() {
            let c_at = index(&key(at, list), i);
            if !c.is_object() {
                out.push(finding("malformed-object", &c_at));
                continue;
            }
            let exempt = config.container_exempt(c);
            if !exempt {
                for (k, e) in list_at(c, "env", &c_at, out).iter().enumerate() {
                    if let Some(r) = e.pointer("/valueFrom/secretKeyRef").filter(|r| r.is_object()) {
                        let secret = name_of(r, "name");
                        if !config.secret_exempt(secret) {
                            let e_at = index(&key(&c_at, "env"), k);
                            out.push(finding("env-secret-ref", &e_at));
                            unsynced(secret, &e_at, out);
                        }
                    }
                }
                for (k, e) in list_at(c, "envFrom", &c_at, out).iter().enumerate() {
                    if let Some(r) = e.get("secretRef").filter(|r| r.is_object()) {
                        let secret = name_of(r, "name");
                        if !config.secret_exempt(secret) {
                            let e_at = index(&key(&c_at, "envFrom"), k);
                            out.push(finding("envfrom-secret-ref", &e_at));
                            unsynced(secret, &e_at, out);
                        }
                    }
                }
            }
            for (k, m) in list_at(c, "volumeMounts", &c_at, out).iter().enumerate() {
                let m_at = index(&key(&c_at, "volumeMounts"), k);
                if !m.is_object() {
                    out.push(finding("malformed-object", &m_at));
                    continue;
                }
                let volume_name = name_of(m, "name");
                let Some((_, _, bearing)) = volumes.iter().find(|(_, n, _)| n == volume_name) else {
                    continue;
                };
                mounted.push(volume_name.to_string());
                if exempt {
                    continue;
                }
                mounted_by_judged.push(volume_name.to_string());
                match bearing {
                    SecretBearing::Plain(secret) => {
                        out.push(finding("plain-secret-volume", &m_at));
                        unsynced(secret, &m_at, out);
                    }
                    SecretBearing::Projected(secrets) => {
                        let path = name_of(m, "mountPath");
                        if normalised(path) != normalised(&config.mount_path) {
                            out.push(finding("secret-mount-path", &key(&m_at, "mountPath")));
                        }
                        if m.get("readOnly") != Some(&json!(true)) {
                            out.push(finding("secret-mount-writable", &key(&m_at, "readOnly")));
                        }
                        for field in ["subPath", "subPathExpr"] {
                            // An empty subPath is none, as the kubelet reads it.
                            if !name_of(m, field).is_empty() {
                                out.push(finding("secret-mount-subpath", &key(&m_at, field)));
                            }
                        }
                        for secret in secrets {
                            unsynced(secret, &m_at, out);
                        }
                    }
                }
            }
        }
    }
    // Then the pod-level volumes, in pod-spec order.
    volumes.sort_by_key(|(k, _, _)| *k);
    for (k, name, bearing) in &volumes {
        let v_at = index(&key(at, "volumes"), *k);
        match bearing {
            SecretBearing::Plain(_) if !mounted.contains(name) => out.push(finding("plain-secret-volume", &v_at)),
            SecretBearing::Projected(_) if mounted_by_judged.contains(name) => {
                let files = projected_files(&spec["volumes"][*k]);
                for (n, (p, _)) in files.iter().enumerate() {
                    if files[..n].iter().any(|(q, _)| q == p) {
                        out.push(finding(
                            "projected-path-conflict",
                            &key(&key(&v_at, "projected"), "sources"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The declared mounts: plan and apply them on the Value
// ---------------------------------------------------------------------------

/// Whether a `secretMounts` selector matches the pod template's labels.
fn selects(selector: &Option<Value>, labels: &Value) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().all(|(k, v)| label(k) == v.as_str()))
        .unwrap_or(true);
    let by_expressions = array(selector, "matchExpressions").iter().all(|e| {
        let k = e["key"].as_str().unwrap_or("");
        let values = strings(e.get("values"));
        match e["operator"].as_str().unwrap_or("") {
            "In" => label(k).is_some_and(|v| values.iter().any(|x| x == v)),
            "NotIn" => label(k).is_none_or(|v| !values.iter().any(|x| x == v)),
            "Exists" => label(k).is_some(),
            "DoesNotExist" => label(k).is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// The containers an entry targets, (list, index), and the names it gives
/// that the pod spec does not have.
fn targets(config: &Config, spec: &Value, entry: &Entry) -> (Vec<(&'static str, usize)>, Vec<String>) {
    match &entry.containers {
        None => (
            array(spec, "containers")
                .iter()
                .enumerate()
                .filter(|(_, c)| !config.container_exempt(c))
                .map(|(i, _)| ("containers", i))
                .collect(),
            Vec::new(),
        ),
        Some(names) => {
            let mut found = Vec::new();
            let mut absent = Vec::new();
            for name in names {
                let at = LISTS.iter().find_map(|list| {
                    array(spec, list)
                        .iter()
                        .position(|c| c["name"].as_str() == Some(name))
                        .map(|i| (*list, i))
                });
                match at {
                    Some(at) => found.push(at),
                    None => absent.push(name.clone()),
                }
            }
            (found, absent)
        }
    }
}

/// How a conflict starts when the declared Secret has no list to go to (a
/// projected volume's `sources`, or a source's `items`, that is not a list);
/// the path of the object lacking the list (under the pod spec) follows.
const UNPLACEABLE: &str = "unplaceable:";

/// Why the declared mounts cannot be added: one per conflict, each once
/// (a container whose path is taken is one conflict, whatever number of
/// entries target it).
type Conflicts = Vec<String>;

fn conflict(conflicts: &mut Conflicts, what: String) {
    if !conflicts.contains(&what) {
        conflicts.push(what);
    }
}

/// Whether a projected source is where `entry`'s secret goes: a `secret`
/// source of its Secret that lists items when the entry does, and none when
/// the entry projects every key (a source projecting every key does not hold
/// an entry's items at their paths, and one listing items does not hold every key).
fn same_kind_of_source(source: &Value, entry: &Entry) -> bool {
    source.pointer("/secret/name").and_then(Value::as_str) == Some(&entry.secret)
        && source.pointer("/secret/items").is_some_and(|i| !i.is_null()) == entry.items.is_some()
}

/// One edit the mutation makes, as `mutate: false` reports what is missing:
/// a mount (per container), a new source (with what later entries fold into
/// it), items joining a source the object came with (per entry). A new
/// volume goes with a new mount, and a writable mount is
/// `secret-mount-writable`: neither is a finding of its own.
#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Mount(String, usize),
    Source(usize, usize),
    Items(usize, usize, String),
}

fn log(edits: &mut Vec<Edit>, edit: Edit) {
    if !edits.contains(&edit) {
        edits.push(edit);
    }
}

/// Adds `entry`'s secret (and items) to the projected volume at `volumes[v]`.
fn add_sources(spec: &mut Value, v: usize, entry: &Entry, conflicts: &mut Conflicts, edits: &mut Vec<Edit>) {
    let volume = &mut spec["volumes"][v];
    let files = projected_files(volume);
    let projected = volume["projected"].as_object_mut().expect("a projected volume");
    let sources = projected.entry("sources").or_insert_with(|| json!([]));
    if !sources.is_array() {
        // A list the Secret cannot be appended to: the mount cannot be added
        // without guessing. The plan goes on as if the list were empty, for
        // what `mutate: false` reports missing.
        if !sources.is_null() {
            conflict(conflicts, format!("{UNPLACEABLE}volumes[{v}].projected"));
        }
        *sources = json!([]);
    }
    let sources = sources.as_array_mut().expect("sources is a list");
    let existing = sources.iter().position(|s| same_kind_of_source(s, entry));
    let collides = |key: &str, path: &str| {
        files
            .iter()
            .any(|(p, who)| p == path && who.as_ref() != Some(&(entry.secret.clone(), key.to_string())))
    };
    let Some(items) = &entry.items else {
        if existing.is_none() {
            sources.push(json!({"secret": {"name": entry.secret}}));
            log(edits, Edit::Source(v, sources.len() - 1));
        }
        return;
    };
    // Only the items no source projects yet: never a duplicate.
    let missing: Vec<&(String, String)> = items
        .iter()
        .filter(|(k, p)| !projects(sources, &entry.secret, k, p))
        .collect();
    if missing.is_empty() {
        return;
    }
    // The first item that would collide is the entry's conflict.
    if let Some((k, p)) = missing.iter().find(|(k, p)| collides(k, p)) {
        conflict(
            conflicts,
            format!("volumes[{v}]: item {k} of {} collides at {p}", entry.name),
        );
        return;
    }
    let missing: Vec<Value> = missing.iter().map(|(k, p)| json!({"key": k, "path": p})).collect();
    match existing {
        Some(s) => {
            let list = sources[s]["secret"]
                .as_object_mut()
                .expect("a secret source")
                .entry("items")
                .or_insert_with(|| json!([]));
            if !list.is_array() {
                if !list.is_null() {
                    let what = format!("{UNPLACEABLE}volumes[{v}].projected.sources[{s}].secret");
                    conflict(conflicts, what);
                }
                *list = json!([]);
            }
            list.as_array_mut().expect("items is a list").extend(missing);
            // Items joining a source this mutation adds are part of adding it.
            if !edits.contains(&Edit::Source(v, s)) {
                log(edits, Edit::Items(v, s, entry.name.clone()));
            }
        }
        None => {
            sources.push(json!({"secret": {"name": entry.secret, "items": missing}}));
            log(edits, Edit::Source(v, sources.len() - 1));
        }
    }
}

/// Whether the sources already project key `key` of `secret` at `path`: an
/// item of a source of it, or a source of it without items (every key under
/// its own name).
fn projects(sources: &[Value], secret: &str, key: &str, path: &str) -> bool {
    sources.iter().any(|s| {
        s.pointer("/secret/name").and_then(Value::as_str) == Some(secret)
            && match s.pointer("/secret/items") {
                None | Some(Value::Null) => key == path,
                Some(items) => items.as_array().is_some_and(|items| {
                    items
                        .iter()
                        .any(|i| i["key"].as_str() == Some(key) && i["path"].as_str() == Some(path))
                }),
            }
    })
}

/// A container as conflicts name it: two containers of one name (which
/// Kubernetes refuses) are one.
fn container_name(spec: &Value, list: &str, i: usize) -> String {
    match spec[list][i].get("name").and_then(Value::as_str) {
        Some(name) => name.to_string(),
        None => format!("#{i} (unnamed)"),
    }
}

fn volume_index(spec: &Value, name: &str) -> Option<usize> {
    array(spec, "volumes")
        .iter()
        .position(|v| v["name"].as_str() == Some(name))
}

fn mount_at_path(config: &Config, container: &Value) -> Option<usize> {
    array(container, "volumeMounts").iter().position(|m| {
        m["mountPath"]
            .as_str()
            .is_some_and(|p| normalised(p) == normalised(&config.mount_path))
    })
}

/// The README's "Mutation" on a copy of one pod spec: the spec with every
/// applicable entry added and the edits that took, or the conflicts.
fn mutate(config: &Config, spec: &Value, entries: &[&Entry]) -> (Value, Vec<Edit>, Conflicts) {
    let submitted = spec;
    let mut spec = spec.clone();
    let mut conflicts = Conflicts::new();
    let mut edits = Vec::new();
    for entry in entries {
        let (targets, absent) = targets(config, &spec, entry);
        for name in absent {
            conflict(&mut conflicts, format!("entry {} names container {name}", entry.name));
        }
        for (list, i) in targets {
            let container = &spec[list][i];
            let who = format!("{} {}", list, container_name(&spec, list, i));
            if let Some(m) = mount_at_path(config, container) {
                let name = container["volumeMounts"][m]["name"].as_str().unwrap_or("").to_string();
                // A mount the object came with names a volume of the object as
                // submitted (one the policy is about to add is not it: that
                // would be guessing); a mount the policy added, its own volume.
                let came_with = m < array(&submitted[list][i], "volumeMounts").len();
                match volume_index(if came_with { submitted } else { &spec }, &name) {
                    Some(v) if spec["volumes"][v].get("projected").is_some_and(Value::is_object) => {
                        add_sources(&mut spec, v, entry, &mut conflicts, &mut edits);
                        let mount = spec[list][i]["volumeMounts"][m].as_object_mut().expect("a mount");
                        if mount.get("readOnly") != Some(&json!(true)) {
                            mount.insert("readOnly".into(), json!(true));
                        }
                    }
                    _ => conflict(
                        &mut conflicts,
                        format!("{who}: {} is taken by volume {name}", config.mount_path),
                    ),
                }
            } else {
                let v = match volume_index(&spec, &config.volume_name) {
                    Some(v) if spec["volumes"][v].get("projected").is_some_and(Value::is_object) => v,
                    Some(_) => {
                        conflict(
                            &mut conflicts,
                            format!("{who}: volumeName {} is not projected", config.volume_name),
                        );
                        continue;
                    }
                    None => {
                        let spec = spec.as_object_mut().expect("a pod spec");
                        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
                        if volumes.is_null() {
                            *volumes = json!([]);
                        }
                        let volumes = volumes.as_array_mut().expect("volumes is a list");
                        volumes.push(json!({"name": config.volume_name, "projected": {"sources": []}}));
                        volumes.len() - 1
                    }
                };
                add_sources(&mut spec, v, entry, &mut conflicts, &mut edits);
                let container = spec[list][i].as_object_mut().expect("a container");
                let mounts = container.entry("volumeMounts").or_insert_with(|| json!([]));
                if mounts.is_null() {
                    *mounts = json!([]);
                }
                mounts
                    .as_array_mut()
                    .expect("volumeMounts is a list")
                    .push(json!({"name": config.volume_name, "mountPath": config.mount_path, "readOnly": true}));
                log(&mut edits, Edit::Mount(list.to_string(), i));
            }
        }
    }
    // What goes into a volume the mutation adds is part of adding it.
    let had = array(submitted, "volumes").len();
    edits.retain(|e| match e {
        Edit::Source(v, _) | Edit::Items(v, _, _) => *v < had,
        Edit::Mount(..) => true,
    });
    (spec, edits, conflicts)
}

/// With `mutate: false`: how many `declared-mount-missing` findings the
/// declared mounts a pod spec lacks make (one per edit the mutation would
/// make, see [`Edit`]), or the conflicts (what the mutation could not
/// reconcile, but a list the Secret cannot be appended to: nothing is
/// appended, the Secret is missing).
fn missing(config: &Config, spec: &Value, entries: &[&Entry]) -> Result<usize, Conflicts> {
    let (_, edits, conflicts) = mutate(config, spec, entries);
    let conflicts: Conflicts = conflicts.into_iter().filter(|c| !c.starts_with(UNPLACEABLE)).collect();
    if conflicts.is_empty() {
        Ok(edits.len())
    } else {
        Err(conflicts)
    }
}

// ---------------------------------------------------------------------------
// Vault-synced Secrets
// ---------------------------------------------------------------------------

const VSO_KINDS: [&str; 3] = ["VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"];

/// The VSO resources of the namespace, read as the README says: all three
/// kinds, stopping at the first failure.
fn read_vso(request: &Request) -> Result<Vec<Value>, ()> {
    let namespace = request
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| string(&request.object, "/metadata/namespace").filter(|n| !n.is_empty()))
        .ok_or(())?;
    let mut out = Vec::new();
    for kind in VSO_KINDS {
        out.extend(request.cluster.list(kind, namespace).map_err(|_| ())?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The evaluation
// ---------------------------------------------------------------------------

/// The reference evaluation of `request` under `settings` (the settings' JSON).
pub fn evaluate(settings: &Value, request: &Request) -> Evaluation {
    let config = config(settings);
    let mut evaluation = Evaluation {
        accepted: true,
        ..Evaluation::default()
    };
    if !judged(request) {
        return evaluation;
    }
    let Some(located) = locate(&config, request) else {
        return evaluation;
    };
    if is_set(&request.object, "/metadata/deletionTimestamp") {
        return evaluation;
    }
    let mut findings = Vec::new();
    let mut synced: Option<BTreeSet<String>> = None;
    let mut entries: Vec<Entry> = config.entries.clone();
    // README: with `discover` alone, only a kind VSO restarts reads them.
    let restarted = restart_target_kind(&request.group, &request.kind).is_some();
    if config.require != Require::Off || (config.discover && restarted) {
        match read_vso(request) {
            Err(()) => findings.push(finding(
                "vault-sync-unavailable",
                &[Seg::Key("metadata".into()), Seg::Key("namespace".into())],
            )),
            Ok(resources) => {
                if config.require != Require::Off {
                    synced = Some(
                        resources
                            .iter()
                            .filter_map(|r| string(r, "/spec/destination/name"))
                            .map(String::from)
                            .collect(),
                    );
                }
                let target = restart_target_kind(&request.group, &request.kind);
                let name = string(&request.object, "/metadata/name");
                if let (true, Some(target), Some(name)) = (config.discover, target, name) {
                    for r in &resources {
                        let names_this = array(&r["spec"], "rolloutRestartTargets")
                            .iter()
                            .any(|t| t["kind"].as_str() == Some(target) && t["name"].as_str() == Some(name));
                        let Some(secret) = string(r, "/spec/destination/name") else {
                            continue;
                        };
                        if names_this && !entries.iter().any(|e| e.secret == secret) {
                            entries.push(Entry {
                                name: string(r, "/metadata/name").unwrap_or("").to_string(),
                                secret: secret.to_string(),
                                items: None,
                                containers: None,
                                selector: None,
                                discovered: true,
                            });
                        }
                    }
                }
            }
        }
    }
    let is_pod = request.group.is_empty() && request.kind == "Pod";
    let may_mutate =
        !(is_pod && (request.operation == "UPDATE" || request.sub_resource.is_some())) && !controlled(&request.object);
    let mut mutated = request.object.clone();
    let mut unplaceable = false;
    // A pod spec location that is not an object (a built-in path crossing a
    // non-object, a podSpecPaths selection that is none) leaves nothing to
    // judge: it is the one finding about the object.
    let specs: Vec<Path> = match located.iter().find_map(|l| match l {
        Located::Malformed(at) => Some(at.clone()),
        Located::Spec(_) => None,
    }) {
        Some(at) => {
            findings.push(finding("malformed-object", &at));
            Vec::new()
        }
        None => located
            .into_iter()
            .filter_map(|l| match l {
                Located::Spec(at) => Some(at),
                Located::Malformed(_) => None,
            })
            .collect(),
    };
    let old = request.old_object.as_ref().filter(|_| request.operation == "UPDATE");
    let may_mutate =
        may_mutate && !(config.mutate && old.is_some_and(|old| !template_changed(&request.object, old, &specs)));
    let spec_paths = specs.clone();
    for at in specs {
        let spec = get(&request.object, &at).expect("located").clone();
        // Nothing is planned for a pod spec that does not have Kubernetes' shape.
        let mut as_submitted = Vec::new();
        judge(&config, &spec, &at, synced.as_ref(), &mut as_submitted);
        if as_submitted.iter().any(|f| f.rule == "malformed-object") {
            findings.extend(as_submitted);
            continue;
        }
        let parent = &at[..at.len().saturating_sub(1)];
        let labels = get(&request.object, parent)
            .and_then(|p| p.pointer("/metadata/labels"))
            .cloned()
            .unwrap_or(Value::Null);
        let applicable: Vec<&Entry> = if may_mutate {
            entries.iter().filter(|e| selects(&e.selector, &labels)).collect()
        } else {
            Vec::new()
        };
        let mut conflicted = |findings: &mut Vec<Finding>, conflicts: Conflicts| {
            unplaceable |= conflicts.iter().any(|c| c.starts_with(UNPLACEABLE));
            let conflicts_first_unplaceable = conflicts.iter().find(|c| c.starts_with(UNPLACEABLE)).cloned();
            // A Secret with no list to go to shows when the edits are placed,
            // which a plan that conflicts already never is: it is the
            // conflict only of a plan that has no other (the product's
            // reading; the README's "every violation" would list it too).
            // Placing stops at the first edit with no place.
            let placed_only = conflicts.iter().all(|c| c.starts_with(UNPLACEABLE));
            let conflicts: Conflicts = conflicts
                .into_iter()
                .filter(|c| !c.starts_with(UNPLACEABLE))
                .chain(placed_only.then(|| conflicts_first_unplaceable.clone()).flatten())
                .collect();
            for c in conflicts {
                let mut found = finding("secret-mounts-conflict", &at);
                // One that has no place is told where: the object that has no
                // list to append to.
                if let Some(under) = c.strip_prefix(UNPLACEABLE) {
                    found.at = if at.is_empty() {
                        under.to_string()
                    } else {
                        format!("{}.{under}", found.at)
                    };
                }
                findings.push(found);
            }
        };
        if applicable.is_empty() {
            judge(&config, &spec, &at, synced.as_ref(), &mut findings);
        } else if config.mutate {
            match match mutate(&config, &spec, &applicable) {
                (after, _, conflicts) if conflicts.is_empty() => Ok(after),
                (_, _, conflicts) => Err(conflicts),
            } {
                Ok(after) => {
                    judge(&config, &after, &at, synced.as_ref(), &mut findings);
                    // What this pod spec gains, applied where it is: a pod
                    // spec may hold another one a podSpecPaths expression
                    // selects (`$..spec`), which gains its own.
                    let gains = json_patch::diff(&spec, &after);
                    let place = mutated.pointer_mut(&pointer(&at)).expect("located");
                    json_patch::patch(place, &gains).expect("additions apply");
                }
                Err(conflicts) => {
                    judge(&config, &spec, &at, synced.as_ref(), &mut findings);
                    conflicted(&mut findings, conflicts);
                }
            }
        } else {
            judge(&config, &spec, &at, synced.as_ref(), &mut findings);
            match missing(&config, &spec, &applicable) {
                Ok(n) => (0..n).for_each(|_| findings.push(finding("declared-mount-missing", &at))),
                Err(conflicts) => conflicted(&mut findings, conflicts),
            }
        }
        // README: discovered Secrets are projected whole, so two of them in
        // the volume of a container that receives them get a warning.
        let whole = applicable.iter().filter(|e| e.discovered && e.items.is_none()).count();
        let receives = array(&spec, "containers")
            .iter()
            .any(|c| c.is_object() && !config.container_exempt(c));
        if whole >= 2 && receives {
            findings.push(finding("discovered-secrets-may-collide", &at));
        }
    }
    let (findings, existing) = match old {
        Some(old) => settle(settings, request, old, &spec_paths, findings),
        None => (findings, Vec::new()),
    };
    let (rejecting, mut warned): (Vec<Finding>, Vec<Finding>) =
        findings.iter().cloned().partition(|f| config.rejects(&f.rule));
    warned.extend(existing.iter().cloned());
    let findings: Vec<Finding> = findings.into_iter().chain(existing).collect();
    let mut rules: Vec<&str> = Vec::new();
    for f in &findings {
        if !rules.contains(&f.rule.as_str()) {
            rules.push(&f.rule);
        }
    }
    evaluation.violations = (!rules.is_empty()).then(|| rules.join(","));
    evaluation.accepted = rejecting.is_empty();
    evaluation.rejecting = rejecting;
    evaluation.warned = warned;
    evaluation.findings = findings;
    evaluation.mutated = (mutated != request.object).then_some(mutated);
    evaluation.unplaceable = unplaceable;
    evaluation
}

// ---------------------------------------------------------------------------
// Safe rollout (README "Safe rollout"): owners, UPDATE, deletion
// ---------------------------------------------------------------------------

/// A field that is present and not `null`.
fn is_set(object: &Value, pointer: &str) -> bool {
    object.pointer(pointer).is_some_and(|v| !v.is_null())
}

/// "An object with an `ownerReferences` entry whose `controller` is `true`."
fn controlled(object: &Value) -> bool {
    array(&object["metadata"], "ownerReferences")
        .iter()
        .any(|o| o.get("controller") == Some(&Value::Bool(true)))
}

/// "The pod template (its spec or metadata) changed": some pod spec of the
/// new object, or the `metadata` beside it, is not the old object's value there.
fn template_changed(object: &Value, old: &Value, specs: &[Path]) -> bool {
    specs.iter().any(|at| {
        let metadata = key(&at[..at.len().saturating_sub(1)], "metadata");
        [at.clone(), metadata]
            .iter()
            .any(|p| get(object, p).unwrap_or(&Value::Null) != get(old, p).unwrap_or(&Value::Null))
    })
}

/// The rules whose findings name no container, Secret or volume of their own:
/// they are the same finding when they are at the same field.
const WHOLE_OBJECT_RULES: [&str; 4] = [
    "malformed-object",
    "declared-mount-missing",
    "secret-mounts-conflict",
    "vault-sync-unavailable",
];

/// A finding read back from the object: (rule, container as `list/name`,
/// the Secret or volume it names), or (rule, none, path) for the rules above
/// and for a path that is no container's or volume's.
fn identity(f: &Finding, object: &Value, specs: &[Path]) -> (String, Option<String>, String) {
    let whole = (f.rule.clone(), None, f.at.clone());
    if WHOLE_OBJECT_RULES.contains(&f.rule.as_str()) {
        return whole;
    }
    for spec_at in specs {
        let prefix = format!("{}.", dotted(spec_at));
        let Some(rest) = f.at.strip_prefix(&prefix) else {
            continue;
        };
        let spec = get(object, spec_at).unwrap_or(&Value::Null);
        let steps: Vec<(&str, Option<usize>)> = rest
            .split('.')
            .map(|t| match t.split_once('[') {
                Some((k, i)) => (k, i.trim_end_matches(']').parse().ok()),
                None => (t, None),
            })
            .collect();
        let name = |v: &Value| v.as_str().unwrap_or("").to_string();
        match steps.as_slice() {
            [(list, Some(i)), (field, Some(j)), ..] if LISTS.contains(list) => {
                let c = &spec[*list][*i];
                let named = match *field {
                    "env" => name(&c["env"][*j]["valueFrom"]["secretKeyRef"]["name"]),
                    "envFrom" => name(&c["envFrom"][*j]["secretRef"]["name"]),
                    _ => name(&c["volumeMounts"][*j]["name"]),
                };
                let container = format!("{list}/{}", container_name(spec, list, *i));
                return (f.rule.clone(), Some(container), f.secret.clone().unwrap_or(named));
            }
            [("volumes", Some(k)), ..] => return (f.rule.clone(), None, name(&spec["volumes"][*k]["name"])),
            _ => {}
        }
    }
    whole
}

/// An UPDATE's findings, set apart as the README says: through the
/// `ephemeralcontainers` subresource only the ephemeral containers it adds
/// (by name) are judged; under `allowExistingViolations` (default true) a
/// finding the old object already had is a warning. Returns (the findings
/// that answer as on CREATE, those that are warnings).
fn settle(
    settings: &Value,
    request: &Request,
    old: &Value,
    specs: &[Path],
    findings: Vec<Finding>,
) -> (Vec<Finding>, Vec<Finding>) {
    let mut findings = findings;
    if request.sub_resource.as_deref() == Some("ephemeralcontainers") {
        let names = |pod: &Value| -> Vec<String> {
            array(&pod["spec"], "ephemeralContainers")
                .iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        };
        let before = names(old);
        let added: Vec<String> = names(&request.object)
            .into_iter()
            .filter(|n| !before.contains(n))
            .collect();
        findings.retain(|f| match identity(f, &request.object, specs).1 {
            Some(container) => container
                .strip_prefix("ephemeralContainers/")
                .is_some_and(|n| added.iter().any(|a| a == n)),
            None => true,
        });
    }
    if settings.get("allowExistingViolations") == Some(&Value::Bool(false)) {
        return (findings, Vec::new());
    }
    // The old object as stored: judged as the README judges an object, the
    // declared mounts it lacks reported rather than added.
    let mut as_stored = settings.clone();
    as_stored["mutate"] = Value::Bool(false);
    let mut stored = old.clone();
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("deletionTimestamp");
    }
    let earlier = Request {
        object: stored,
        old_object: None,
        ..request.clone()
    };
    let old_specs: Vec<Path> = locate(&config(settings), &earlier)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| match l {
            Located::Spec(at) => Some(at),
            Located::Malformed(_) => None,
        })
        .collect();
    // "A failed read of the VSO resources is the request's, never the old object's."
    let known: Vec<_> = evaluate(&as_stored, &earlier)
        .findings
        .iter()
        .filter(|f| f.rule != "vault-sync-unavailable")
        .map(|f| identity(f, old, &old_specs))
        .collect();
    findings
        .into_iter()
        .partition(|f| !known.contains(&identity(f, &request.object, specs)))
}

// ---------------------------------------------------------------------------
// The product's answer, read as the host reads it
// ---------------------------------------------------------------------------

/// The product's answer in the reference's terms.
#[derive(Debug, Clone)]
pub struct Answer {
    pub accepted: bool,
    /// (rule, path, whole line) of each rejecting finding, in order.
    pub rejecting: Vec<(String, String, String)>,
    pub warned: Vec<(String, String, String)>,
    pub violations: Option<String>,
    pub mutated_object: Option<Value>,
    /// The count the message's first line announces.
    pub announced: Option<usize>,
    /// The findings the message, and the warnings, count but do not list.
    pub rejecting_not_listed: Option<NotListed>,
    pub warned_not_listed: Option<NotListed>,
    /// The size of the message, and of the warnings together, in bytes.
    pub message_bytes: usize,
    pub warnings_bytes: usize,
}

/// README: `and N more of TOTAL, not listed: rule-id COUNT, ...` ends a
/// message (or the warnings) that `maxMessageBytes` cuts short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotListed {
    pub more: usize,
    pub total: usize,
    /// (rule id, count), in the order the rules' first findings come.
    pub per_rule: Vec<(String, usize)>,
}

/// Splits off the last line when it counts findings not listed.
fn not_listed(lines: &mut Vec<String>) -> Option<NotListed> {
    let last = lines.last()?;
    let rest = last.strip_prefix("and ")?;
    let (more, rest) = rest.split_once(" more of ")?;
    let (total, rest) = rest.split_once(", not listed: ")?;
    let counts = rest.split(" (").next()?;
    let per_rule = counts
        .split(", ")
        .map(|c| {
            let (rule, n) = c.rsplit_once(' ').expect("a rule and its count");
            (rule.to_string(), n.parse().expect("a count"))
        })
        .collect();
    let counted = NotListed {
        more: more.parse().ok()?,
        total: total.parse().ok()?,
        per_rule,
    };
    lines.pop();
    Some(counted)
}

/// The finding lines of a text: each starts with `[rule-id] path: `; a line
/// that does not continues the one before.
fn finding_lines(lines: &[String]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in lines {
        let parsed = line.strip_prefix('[').and_then(|rest| {
            let (rule, rest) = rest.split_once("] ")?;
            let (path, _) = rest.split_once(": ")?;
            (!rule.is_empty() && rule.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .then(|| (rule.to_string(), path.to_string()))
        });
        match (parsed, out.last_mut()) {
            (Some((rule, path)), _) => out.push((rule, path, line.clone())),
            (None, Some(last)) => {
                last.2.push('\n');
                last.2.push_str(line);
            }
            (None, None) => panic!("a message line that is no finding: {line:?}"),
        }
    }
    out
}

/// Runs the product's `validate` on `request` (the payload as a host writes
/// it) and reads its raw answer strictly, as the host does.
pub fn product(settings: &Value, request: &Request) -> Answer {
    let bytes = evaluate::validate(&host_payload(settings, request), &request.cluster);
    read_answer(&bytes)
}

/// The raw answer read back as a host reads it (strictly), failing on bytes a
/// host could not read and on the module's own 500 (a defect report).
pub fn read_strictly(bytes: &[u8]) -> evaluate::ValidationResponse {
    let response = evaluate::read_response(bytes).unwrap_or_else(|e| {
        panic!(
            "the host cannot read the answer: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    });
    assert_ne!(
        response.code,
        Some(500),
        "the module reported a defect: {:?}",
        response.message
    );
    response
}

/// Reads the product's raw answer strictly, as the host does.
pub fn read_answer(bytes: &[u8]) -> Answer {
    let response = read_strictly(bytes);
    let (announced, rejecting) = match &response.message {
        Some(message) => {
            let mut lines = message.split('\n').map(String::from);
            let head = lines.next().unwrap_or_default();
            let announced = head
                .rsplit_once(" (")
                .and_then(|(_, n)| n.split_once(' '))
                .and_then(|(n, _)| n.parse().ok());
            let mut lines: Vec<String> = lines.collect();
            let counted = not_listed(&mut lines);
            (announced, (finding_lines(&lines), counted))
        }
        None => (None, (Vec::new(), None)),
    };
    let (rejecting, rejecting_not_listed) = rejecting;
    let mut warnings: Vec<String> = response
        .warnings
        .clone()
        .unwrap_or_default()
        .iter()
        .flat_map(|w| w.split('\n').map(String::from).collect::<Vec<_>>())
        .collect();
    let warned_not_listed = not_listed(&mut warnings);
    Answer {
        accepted: response.accepted,
        rejecting,
        warned: finding_lines(&warnings),
        rejecting_not_listed,
        warned_not_listed,
        message_bytes: response.message.as_ref().map_or(0, String::len),
        warnings_bytes: response.warnings.iter().flatten().map(String::len).sum(),
        violations: response
            .audit_annotations
            .as_ref()
            .and_then(|a| a.get("violations").cloned()),
        mutated_object: response.mutated_object.clone(),
        announced,
    }
}

/// Whether the product lists its findings in the README's order (the
/// reference's), rejecting and warned each: (expected, answered) when not.
pub fn findings_in_order(expected: &Evaluation, answer: &Answer) -> Result<(), String> {
    let want = (pairs(&expected.rejecting), pairs(&expected.warned));
    let got = (answered(&answer.rejecting), answered(&answer.warned));
    if want == got {
        Ok(())
    } else {
        Err(format!("expected {want:?}\nanswered {got:?}"))
    }
}

/// A field path for comparison: the product writes the path from a JSON
/// pointer, in which an object key of digits (`"0"`) and a list index are
/// one token, so it shows the key `0` as `[0]`; compared, `[N]` is `.N`.
fn canonical(path: &str) -> String {
    let mut out = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '[' {
            let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
            if !digits.is_empty() && chars.peek() == Some(&']') {
                chars.next();
                out.push('.');
                out.push_str(&digits);
            } else {
                out.push('[');
                out.push_str(&digits);
            }
        } else {
            out.push(c);
        }
    }
    out.strip_prefix('.').map(String::from).unwrap_or(out)
}

fn pairs(findings: &[Finding]) -> Vec<(String, String)> {
    findings.iter().map(|f| (f.rule.clone(), canonical(&f.at))).collect()
}

fn answered(lines: &[(String, String, String)]) -> Vec<(String, String)> {
    lines.iter().map(|(r, p, _)| (r.clone(), canonical(p))).collect()
}

/// Deserializes an object of a built-in kind into its k8s-openapi type: a
/// mutation must never produce a field of the wrong type or shape.
pub fn kubernetes_shape(group: &str, kind: &str, object: &Value) -> Result<(), String> {
    if !KINDS.iter().any(|(g, k, _)| *g == group && *k == kind) {
        return Ok(()); // custom kinds have no k8s-openapi type
    }
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    fn typed<T: serde::de::DeserializeOwned>(object: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(object.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match kind {
        "Pod" => typed::<core::Pod>(object),
        "ReplicationController" => typed::<core::ReplicationController>(object),
        "Deployment" => typed::<apps::Deployment>(object),
        "ReplicaSet" => typed::<apps::ReplicaSet>(object),
        "StatefulSet" => typed::<apps::StatefulSet>(object),
        "DaemonSet" => typed::<apps::DaemonSet>(object),
        "Job" => typed::<batch::Job>(object),
        "CronJob" => typed::<batch::CronJob>(object),
        _ => Ok(()), // custom kinds have no k8s-openapi type
    }
}

/// Runs the reference and the product on `request` and fails on any
/// difference; returns the reference's evaluation and the product's answer.
pub fn check_against_product(settings: &Value, request: &Request) -> (Evaluation, Answer) {
    let expected = evaluate(settings, request);
    let answer = product(settings, request);
    let context = || {
        format!(
            "\nsettings: {settings}\nrequest: {} {}/{} {} sub={:?} ns={:?}\nobject: {}\nreference: {:#?}\nproduct: {:#?}",
            request.operation,
            request.group,
            request.kind,
            request.version,
            request.sub_resource,
            request.namespace,
            request.object,
            expected,
            answer
        )
    };
    assert_eq!(answer.accepted, expected.accepted, "the verdicts differ{}", context());
    // The findings in the README's order, per severity: those listed, then
    // those counted.
    let listed = |lines: &[(String, String, String)], counted: &Option<NotListed>, want: &[Finding], what: &str| {
        let want = pairs(want);
        let got = answered(lines);
        let Some(counted) = counted else {
            assert_eq!(got, want, "the {what} findings differ{}", context());
            return;
        };
        assert!(
            got.len() < want.len(),
            "{what}: a count of findings not listed, yet all are{}",
            context()
        );
        assert_eq!(got, want[..got.len()], "the {what} findings listed differ{}", context());
        let mut per_rule: Vec<(String, usize)> = Vec::new();
        for (rule, _) in &want[got.len()..] {
            match per_rule.iter_mut().find(|(r, _)| r == rule) {
                Some((_, n)) => *n += 1,
                None => per_rule.push((rule.clone(), 1)),
            }
        }
        let expected_count = NotListed {
            more: want.len() - got.len(),
            total: want.len(),
            per_rule,
        };
        assert_eq!(counted, &expected_count, "the {what} findings not listed{}", context());
    };
    listed(
        &answer.rejecting,
        &answer.rejecting_not_listed,
        &expected.rejecting,
        "rejecting",
    );
    listed(&answer.warned, &answer.warned_not_listed, &expected.warned, "warned");
    let limit = config(settings).max_message_bytes;
    assert!(
        answer.message_bytes <= limit,
        "the message exceeds maxMessageBytes{}",
        context()
    );
    assert!(
        answer.warnings_bytes <= limit,
        "the warnings exceed maxMessageBytes{}",
        context()
    );
    assert_eq!(
        answer.violations,
        expected.violations,
        "the audit annotations differ{}",
        context()
    );
    if !expected.accepted {
        assert_eq!(
            answer.announced,
            Some(expected.rejecting.len()),
            "the announced count{}",
            context()
        );
    }
    if let (Some(got), Some(want)) = (answer.mutated_object.as_ref(), expected.mutated_object()) {
        let diff = serde_json::to_string(&json_patch::diff(want, got)).expect("a patch serialises");
        assert!(
            got == want,
            "the mutated objects differ: reference → product {diff}{}",
            context()
        );
    }
    assert_eq!(
        answer.mutated_object.as_ref(),
        expected.mutated_object(),
        "the mutated objects differ{}",
        context()
    );
    if let Some(mutated) = &answer.mutated_object {
        assert!(mutated.is_object(), "the mutated object is an object{}", context());
        for field in ["apiVersion", "kind"] {
            assert_eq!(
                mutated.get(field),
                request.object.get(field),
                "the mutated object's {field}{}",
                context()
            );
        }
        // A mutation never makes an object its type would read into one it
        // cannot (an object that was not of its type's shape may stay so).
        let was_typed = kubernetes_shape(&request.group, &request.kind, &request.object).is_ok();
        if let (true, Err(e)) = (was_typed, kubernetes_shape(&request.group, &request.kind, mutated)) {
            panic!(
                "the mutated {} is not a valid {}: {e}{}",
                request.kind,
                request.kind,
                context()
            );
        }
    }
    (expected, answer)
}
