//! Generators and property checks shared by the fuzz targets.
//!
//! The policy runs as a wasm module built with `panic = "abort"`: any panic is a
//! trap, and a trap is an error for every request the policy is asked about. The
//! targets therefore assert two things: nothing panics, and what comes back is a
//! well-formed answer (and, for the mutation, a lossless and idempotent one).

use arbitrary::Unstructured;
use serde_json::{json, Map, Value};

/// The reference evaluator of the native tests (independent of the policy's
/// code but for its entry point): the mutation and settings targets compare
/// the policy against it on every input, on the raw bytes the host reads.
#[path = "../../tests/reference/mod.rs"]
pub mod reference;

pub use reference::{Evaluation, Request};

/// Picks one of `items` (never fails: an exhausted input picks the first).
pub fn pick<'a, T: ?Sized>(u: &mut Unstructured, items: &'a [&'a T]) -> &'a T {
    let i = u.choose_index(items.len()).unwrap_or(0);
    items[i]
}

/// A small count in `0..=max`.
pub fn count(u: &mut Unstructured, max: usize) -> usize {
    u.int_in_range(0..=max).unwrap_or(0)
}

pub fn flip(u: &mut Unstructured) -> bool {
    u.arbitrary::<bool>().unwrap_or(false)
}

/// One chance in `n`.
pub fn one_in(u: &mut Unstructured, n: u8) -> bool {
    u.ratio(1, n).unwrap_or(false)
}

// ---------------------------------------------------------------------------
// The response of `validate`
// ---------------------------------------------------------------------------

/// What every `validate` answer must look like, judged on the raw bytes the
/// host reads: they read back strictly into the SDK's ValidationResponse (one
/// JSON object, no unknown or repeated field, a mutated object that is an
/// object), a rejection always says why and carries no mutated object, and no
/// answer is the module's own 500 (a defect report: the response could not be
/// written).
pub fn check_validation_response(bytes: &[u8]) {
    let response = reference::read_strictly(bytes);
    if !response.accepted {
        let message = response.message.as_deref().expect("a rejection carries a message");
        assert!(!message.trim().is_empty(), "a rejection's message is not blank");
        assert!(
            response.mutated_object.is_none(),
            "a rejection carries no mutated object"
        );
    }
}

/// What every `validate_settings` answer must look like.
pub fn check_settings_response<T: serde::Serialize>(response: &T) {
    let bytes = serde_json::to_vec(response).expect("the SettingsValidationResponse serialises");
    let v: Value = serde_json::from_slice(&bytes).expect("the serialised SettingsValidationResponse is JSON");
    let valid = v.get("valid").and_then(Value::as_bool).expect("`valid` is a boolean");
    if !valid {
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .expect("invalid settings carry a message");
        assert!(
            !message.trim().is_empty(),
            "the message of invalid settings is not blank"
        );
    }
}

// ---------------------------------------------------------------------------
// Arbitrary JSON and JSONPath
// ---------------------------------------------------------------------------

const KEYS: &[&str] = &[
    "spec",
    "template",
    "metadata",
    "labels",
    "containers",
    "initContainers",
    "volumes",
    "volumeMounts",
    "name",
    "projected",
    "sources",
    "secret",
    "items",
    "workloads",
    "jobTemplate",
    "a/b",
    "~0",
    "",
    "0",
    "x",
];

const STRINGS: &[&str] = &["app", "", "/etc/secrets", "secret-mounts", "0", "~1", "\u{0}", "ü", "$"];

/// A JSON value of bounded depth whose keys come from the words pod specs use.
pub fn arbitrary_json(u: &mut Unstructured, depth: usize) -> Value {
    let choice = if depth == 0 {
        u.int_in_range(0..=3)
    } else {
        u.int_in_range(0..=6)
    }
    .unwrap_or(0);
    match choice {
        0 => Value::Null,
        1 => Value::Bool(flip(u)),
        2 => match u.int_in_range(0..=3).unwrap_or(0) {
            0 => json!(u.arbitrary::<i64>().unwrap_or(0)),
            1 => json!(u.arbitrary::<u64>().unwrap_or(0)),
            2 => json!(u.arbitrary::<f64>().ok().filter(|f| f.is_finite()).unwrap_or(0.5)),
            _ => json!(u.int_in_range(-2..=3).unwrap_or(0)),
        },
        3 => Value::String(pick(u, STRINGS).to_string()),
        4 => {
            let n = count(u, 4);
            Value::Array((0..n).map(|_| arbitrary_json(u, depth - 1)).collect())
        }
        _ => {
            let n = count(u, 5);
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(pick(u, KEYS).to_string(), arbitrary_json(u, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Fragments JSONPath expressions are made of, valid and not: jsonpath_lib's
/// parser and evaluator are the most likely panic source in the policy.
const JSON_PATH_FRAGMENTS: &[&str] = &[
    ".spec",
    ".template",
    ".workloads",
    ".containers",
    ".*",
    "..",
    "..spec",
    "..*",
    "[*]",
    "[0]",
    "[1]",
    "[-1]",
    "[-0]",
    "[99999999999999999999]",
    "[-9223372036854775808]",
    "[9223372036854775807]",
    "[0:2]",
    "[1:]",
    "[:-1]",
    "[::-1]",
    "[0:2:0]",
    "[::0]",
    "[-9223372036854775808:]",
    "[0,1]",
    "['a/b']",
    "['spec','template']",
    "[\"spec\"]",
    "['~0']",
    "['']",
    "[?(@.name)]",
    "[?(@.name == 'app')]",
    "[?(@.x > 1)]",
    "[?(@.x < -1.5e308)]",
    "[?(@.x == 1e400)]",
    "[?(@.a && @.b || @.c)]",
    "[?(@ == @)]",
    "[?(@.length > 0)]",
    "[?(@.spec)]",
    "[?(@..spec)]",
    "[?((@.a == 1))]",
    "[?(!@.a)]",
    ".length()",
    ".min()",
    "[",
    "]",
    "(",
    ")",
    "?(",
    "'",
    "\"",
    "@",
    "$",
    ".",
    ",",
    ":",
    "==",
    "!=",
    "<=",
    ">=",
    " ",
    "\\",
    "ü",
    "\u{0}",
    "1",
    "-",
    "e",
];

/// A JSONPath expression: mostly `$` followed by fragments, sometimes raw text.
pub fn json_path(u: &mut Unstructured) -> String {
    if one_in(u, 8) {
        return u.arbitrary::<String>().unwrap_or_default();
    }
    let mut path = String::from("$");
    for _ in 0..count(u, 8) {
        path.push_str(pick(u, JSON_PATH_FRAGMENTS));
    }
    path
}

// ---------------------------------------------------------------------------
// Pod specs
// ---------------------------------------------------------------------------

pub const CONTAINER_NAMES: &[&str] = &["app", "web", "worker", "vault-agent", "init", "debug"];
pub const VOLUME_NAMES: &[&str] = &["secret-mounts", "creds", "config", "scratch"];
pub const SECRETS: &[&str] = &["api-key", "db", "tls"];
pub const MOUNT_PATHS: &[&str] = &[
    "/etc/secrets",
    "/etc/secrets",
    "/etc/secrets/",
    "/etc/secrets/sub",
    "/var/run/secrets/app",
    "/tmp",
    "",
];
pub const ITEM_PATHS: &[&str] = &["api-key/API_KEY", "db/password", "tls.crt", "token", "ca.crt"];
pub const ITEM_KEYS: &[&str] = &["API_KEY", "password", "tls.crt", "ca.crt"];
pub const LABEL_KEYS: &[&str] = &["app", "tier"];
pub const LABEL_VALUES: &[&str] = &["web", "db", ""];

fn item(u: &mut Unstructured) -> Value {
    json!({"key": pick(u, ITEM_KEYS), "path": pick(u, ITEM_PATHS)})
}

fn items(u: &mut Unstructured) -> Option<Value> {
    match u.int_in_range(0..=5).unwrap_or(0) {
        0 => Some(Value::Null),
        1 => Some(json!([])),
        2 | 3 => Some(Value::Array((0..1 + count(u, 2)).map(|_| item(u)).collect())),
        _ => None,
    }
}

fn projected_source(u: &mut Unstructured) -> Value {
    match u.int_in_range(0..=7).unwrap_or(0) {
        0..=2 => {
            let mut secret = Map::new();
            if !one_in(u, 10) {
                secret.insert("name".into(), json!(pick(u, SECRETS)));
            }
            if let Some(items) = items(u) {
                secret.insert("items".into(), items);
            }
            if one_in(u, 6) {
                secret.insert("optional".into(), json!(true));
            }
            json!({ "secret": secret })
        }
        3 => {
            let mut cm = json!({"name": "kube-root-ca.crt"});
            if let Some(items) = items(u) {
                cm["items"] = items;
            }
            json!({ "configMap": cm })
        }
        4 => json!({"serviceAccountToken": {"path": pick(u, ITEM_PATHS), "expirationSeconds": 3607}}),
        5 => {
            json!({"downwardAPI": {"items": [{"path": pick(u, ITEM_PATHS), "fieldRef": {"fieldPath": "metadata.name"}}]}})
        }
        6 => json!({"clusterTrustBundle": {"signerName": "x", "path": pick(u, ITEM_PATHS)}}),
        _ => arbitrary_json(u, 2),
    }
}

fn volume(u: &mut Unstructured) -> Value {
    let name = pick(u, VOLUME_NAMES);
    match u.int_in_range(0..=9).unwrap_or(0) {
        0..=3 => {
            let sources = match u.int_in_range(0..=7).unwrap_or(0) {
                0 => Value::Null,
                1 => json!({}),
                _ => Value::Array((0..count(u, 3)).map(|_| projected_source(u)).collect()),
            };
            let mut projected = json!({ "sources": sources });
            if flip(u) {
                projected["defaultMode"] = json!(420);
            }
            json!({"name": name, "projected": projected})
        }
        4 => {
            let mut secret = json!({"secretName": pick(u, SECRETS)});
            if let Some(items) = items(u) {
                secret["items"] = items;
            }
            json!({"name": name, "secret": secret})
        }
        5 => json!({"name": name, "emptyDir": {}}),
        6 => json!({"name": name, "configMap": {"name": "settings", "items": [{"key": "a", "path": "a"}]}}),
        7 => json!({"name": name, "projected": null}),
        8 => json!({"name": name}),
        _ => arbitrary_json(u, 2),
    }
}

fn read_only(u: &mut Unstructured) -> Option<Value> {
    match u.int_in_range(0..=6).unwrap_or(0) {
        0 | 1 => Some(json!(true)),
        2 => Some(json!(false)),
        3 => Some(json!("true")),
        4 => Some(Value::Null),
        _ => None,
    }
}

fn volume_mount(u: &mut Unstructured) -> Value {
    let mut m = json!({"name": pick(u, VOLUME_NAMES), "mountPath": pick(u, MOUNT_PATHS)});
    if let Some(ro) = read_only(u) {
        m["readOnly"] = ro;
    }
    match u.int_in_range(0..=7).unwrap_or(0) {
        0 => m["subPath"] = json!(pick(u, ITEM_PATHS)),
        1 => m["subPathExpr"] = json!("$(POD_NAME)"),
        2 => m["subPath"] = json!(""),
        3 => m["mountPropagation"] = json!("None"),
        _ => {}
    }
    if one_in(u, 12) {
        m.as_object_mut().map(|m| m.remove("mountPath"));
    }
    m
}

fn env_var(u: &mut Unstructured) -> Value {
    let name = pick(u, &["A", "API_KEY", "DB_PASSWORD", ""]);
    match u.int_in_range(0..=5).unwrap_or(0) {
        0 => json!({"name": name, "value": "1"}),
        1 => {
            json!({"name": name, "valueFrom": {"secretKeyRef": {"name": pick(u, SECRETS), "key": pick(u, ITEM_KEYS)}}})
        }
        2 => json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}}),
        3 => json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        4 => json!({"name": name, "valueFrom": {"secretKeyRef": null}}),
        _ => arbitrary_json(u, 2),
    }
}

fn env_from(u: &mut Unstructured) -> Value {
    match u.int_in_range(0..=3).unwrap_or(0) {
        0 => json!({"secretRef": {"name": pick(u, SECRETS)}}),
        1 => json!({"configMapRef": {"name": "settings"}, "prefix": "CFG_"}),
        2 => json!({"secretRef": {"name": pick(u, SECRETS)}, "configMapRef": {"name": "settings"}}),
        _ => arbitrary_json(u, 2),
    }
}

/// A list field: usually a list, sometimes absent, `null`, empty, or not a list.
fn list(u: &mut Unstructured, max: usize, gen: fn(&mut Unstructured) -> Value) -> Option<Value> {
    match u.int_in_range(0..=11).unwrap_or(0) {
        0 => Some(Value::Null),
        1 => Some(json!([])),
        2 if one_in(u, 4) => Some(arbitrary_json(u, 1)),
        3..=6 => None,
        _ => Some(Value::Array((0..1 + count(u, max - 1)).map(|_| gen(u)).collect())),
    }
}

fn container(u: &mut Unstructured) -> Value {
    if one_in(u, 30) {
        return arbitrary_json(u, 2);
    }
    let mut c = Map::new();
    if !one_in(u, 15) {
        c.insert("name".into(), json!(pick(u, CONTAINER_NAMES)));
    }
    c.insert("image".into(), json!("example/app:1"));
    // A field the policy does not know: it must survive the mutation untouched.
    c.insert("futureField".into(), json!({"kept": [1, {"x": null}]}));
    for (key, max, gen) in [
        ("env", 4, env_var as fn(&mut Unstructured) -> Value),
        ("envFrom", 2, env_from),
        ("volumeMounts", 4, volume_mount),
    ] {
        if let Some(v) = list(u, max, gen) {
            c.insert(key.into(), v);
        }
    }
    Value::Object(c)
}

/// A pod spec built from the small vocabulary above.
pub fn pod_spec(u: &mut Unstructured) -> Value {
    let mut spec = Map::new();
    spec.insert("restartPolicy".into(), json!("Always"));
    match u.int_in_range(0..=15).unwrap_or(0) {
        0 => {}
        1 => {
            spec.insert("containers".into(), Value::Null);
        }
        2 => {
            spec.insert("containers".into(), arbitrary_json(u, 1));
        }
        _ => {
            let n = 1 + count(u, 3);
            spec.insert(
                "containers".into(),
                Value::Array((0..n).map(|_| container(u)).collect()),
            );
        }
    }
    for (key, max, gen) in [
        ("initContainers", 2, container as fn(&mut Unstructured) -> Value),
        ("ephemeralContainers", 1, container),
        ("volumes", 4, volume),
    ] {
        if let Some(v) = list(u, max, gen) {
            spec.insert(key.into(), v);
        }
    }
    Value::Object(spec)
}

pub fn labels(u: &mut Unstructured) -> Value {
    let mut map = Map::new();
    for _ in 0..count(u, 2) {
        map.insert(pick(u, LABEL_KEYS).to_string(), json!(pick(u, LABEL_VALUES)));
    }
    Value::Object(map)
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

fn selector(u: &mut Unstructured) -> Value {
    let mut sel = Map::new();
    if flip(u) {
        sel.insert("matchLabels".into(), labels(u));
    }
    if flip(u) {
        let n = count(u, 2);
        let exprs: Vec<Value> = (0..n)
            .map(|_| {
                let key = pick(u, LABEL_KEYS);
                match u.int_in_range(0..=3).unwrap_or(0) {
                    0 => json!({"key": key, "operator": "In", "values": [pick(u, LABEL_VALUES)]}),
                    1 => json!({"key": key, "operator": "NotIn", "values": [pick(u, LABEL_VALUES)]}),
                    2 => json!({"key": key, "operator": "Exists"}),
                    _ => json!({"key": key, "operator": "DoesNotExist"}),
                }
            })
            .collect();
        sel.insert("matchExpressions".into(), Value::Array(exprs));
    }
    Value::Object(sel)
}

/// `secretMounts` entries that pass `validate_settings` (item paths are kept
/// unique across entries, the one cross-entry rule a generator could break).
pub fn secret_mounts(u: &mut Unstructured, mount_path: &str, exempt: &[&str]) -> Value {
    let mut used_paths: Vec<&str> = Vec::new();
    let n = count(u, 3);
    let mut out = Vec::new();
    for i in 0..n {
        let mut e = json!({"name": format!("e{i}"), "secretName": pick(u, SECRETS)});
        if flip(u) {
            let mut list = Vec::new();
            for _ in 0..1 + count(u, 2) {
                let path = pick(u, ITEM_PATHS);
                if !used_paths.contains(&path) {
                    used_paths.push(path);
                    list.push(json!({"key": pick(u, ITEM_KEYS), "path": path}));
                }
            }
            if !list.is_empty() {
                e["items"] = Value::Array(list);
            }
        }
        if one_in(u, 3) {
            let names: Vec<&str> = (0..1 + count(u, 1))
                .map(|_| pick(u, CONTAINER_NAMES))
                .filter(|n| !exempt.contains(n))
                .collect();
            if !names.is_empty() {
                e["containers"] = json!(names);
            }
        }
        if one_in(u, 3) {
            e["selector"] = selector(u);
        }
        if one_in(u, 4) {
            e["readOnly"] = json!(true);
        }
        if one_in(u, 4) {
            e["mountPath"] = json!(mount_path);
        }
        out.push(e);
    }
    Value::Array(out)
}

/// Settings in the shape `validate_settings` accepts, with `mutate` as given.
pub fn settings_json(u: &mut Unstructured, mutate: bool) -> Value {
    let mount_path = pick(u, &["/etc/secrets", "/etc/secrets", "/var/run/secrets/app"]);
    let mut exempt: Vec<&str> = Vec::new();
    if one_in(u, 3) {
        exempt.push("vault-agent");
    }
    if one_in(u, 6) {
        exempt.push("debug");
    }
    let mut s = json!({
        "mutate": mutate,
        "mountPath": mount_path,
        "secretMounts": secret_mounts(u, mount_path, &exempt),
    });
    if !exempt.is_empty() {
        s["exemptContainers"] = json!(exempt);
    }
    if one_in(u, 3) {
        s["volumeName"] = json!(pick(u, VOLUME_NAMES));
    }
    if one_in(u, 5) {
        s["action"] = json!("warn");
    }
    s
}

// ---------------------------------------------------------------------------
// The mutation's properties
// ---------------------------------------------------------------------------

/// A built-in kind to wrap a pod spec in: (group, kind, pod spec pointer).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("", "Pod", "/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

pub fn wrap(kind: &str, spec: Value, labels: Value) -> Value {
    let template = json!({"metadata": {"labels": labels, "annotations": {"a": "b"}}, "spec": spec});
    match kind {
        "Pod" => json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "p", "namespace": "ns", "labels": template["metadata"]["labels"]},
                        "spec": template["spec"], "status": {}}),
        "CronJob" => json!({"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": "w", "namespace": "ns"},
                            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
        _ => json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "ns"},
                    "spec": {"replicas": 1, "template": template}}),
    }
}

pub fn request(group: &str, version: &str, kind: &str, operation: &str, object: Value) -> Request {
    Request {
        version: version.into(),
        ..reference::request(group, kind, operation, object)
    }
}

/// A mount path as the kubelet reads it: empty and `.` components dropped
/// (`/etc/secrets/` and `/etc//secrets` are `/etc/secrets`).
fn directory(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

/// Checks that `mutated` only adds to `original`: every key and list element of
/// the original is still there, unchanged, except that a volumeMount at
/// `mount_path` (however spelled) may have had its `readOnly` set to `true`. A `null` in the
/// original may become a value (Kubernetes reads `null` as absent).
pub fn additions_only(original: &Value, mutated: &Value, mount_path: &str) -> std::result::Result<(), String> {
    fn walk(
        original: &Value,
        mutated: &Value,
        path: &mut Vec<String>,
        mount_path: &str,
    ) -> std::result::Result<(), String> {
        match (original, mutated) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, before) in a {
                    path.push(key.clone());
                    let Some(after) = b.get(key) else {
                        return Err(format!("/{} was removed", path.join("/")));
                    };
                    let is_mount_read_only = key == "readOnly"
                        && path.len() >= 3
                        && path[path.len() - 3] == "volumeMounts"
                        && a.get("mountPath").and_then(Value::as_str).map(directory) == Some(directory(mount_path));
                    if !(is_mount_read_only && after == &Value::Bool(true)) {
                        walk(before, after, path, mount_path)?;
                    }
                    path.pop();
                }
                Ok(())
            }
            (Value::Array(a), Value::Array(b)) => {
                if b.len() < a.len() {
                    return Err(format!("/{} lost elements: {} -> {}", path.join("/"), a.len(), b.len()));
                }
                for (i, (before, after)) in a.iter().zip(b).enumerate() {
                    path.push(i.to_string());
                    walk(before, after, path, mount_path)?;
                    path.pop();
                }
                Ok(())
            }
            (Value::Null, _) => Ok(()),
            (a, b) if a == b => Ok(()),
            (a, b) => Err(format!("/{} changed from {a} to {b}", path.join("/"))),
        }
    }
    walk(original, mutated, &mut Vec::new(), mount_path)
}

/// Every changed or added location of `mutated` lies under `pointer`.
pub fn changes_only_under(original: &Value, mutated: &Value, pointer: &str) -> bool {
    let mut a = original.clone();
    let mut b = mutated.clone();
    match (a.pointer_mut(pointer), b.pointer_mut(pointer)) {
        (Some(x), Some(y)) => {
            *x = Value::Null;
            *y = Value::Null;
        }
        _ => return original == mutated,
    }
    a == b
}

/// The mutation's properties for one request, under `settings` (their JSON,
/// as the host sends them):
/// - the policy's `validate` agrees with the reference evaluator on the
///   verdict, the findings (rule, path) per severity, the `violations`
///   annotation and the mutated object, read from the raw bytes the host reads
///   (`reference::check_against_product`, which also checks that a mutated
///   object is an object of the request's kind and, for a built-in kind, one
///   its k8s-openapi type reads), on the request and on its mutated object;
/// - if it mutates, evaluating the mutated object again mutates nothing
///   (idempotence);
/// - the mutated object only adds to the original (nothing lost or changed but
///   a mount's `readOnly` turned to `true`), inside the pod spec only;
/// - without findings, the result (mutated or original) passes validation, with
///   or without the declared mounts;
/// - with `mutate: false`, nothing is ever mutated.
pub fn check_mutation(settings: &Value, group: &str, kind: &str, pointer: &str, object: &Value) -> Evaluation {
    let mount_path = settings["mountPath"].as_str().unwrap_or("/etc/secrets");
    let (first, _) = reference::check_against_product(settings, &request(group, "v1", kind, "CREATE", object.clone()));
    if settings["mutate"] == json!(false) {
        assert!(first.mutated.is_none(), "mutate: false must never mutate");
    }
    let result = first.mutated.as_ref().unwrap_or(object);
    if let Some(mutated) = &first.mutated {
        assert_ne!(mutated, object, "a mutation changes something");
        if let Err(e) = additions_only(object, mutated, mount_path) {
            panic!("the mutation is not append-only: {e}\noriginal: {object}\nmutated:  {mutated}");
        }
        assert!(
            changes_only_under(object, mutated, pointer),
            "the mutation changed something outside the pod spec {pointer}:\noriginal: {object}\nmutated:  {mutated}"
        );
        let (second, _) =
            reference::check_against_product(settings, &request(group, "v1", kind, "CREATE", mutated.clone()));
        assert!(
            second.mutated.is_none(),
            "the mutation is not idempotent:\noriginal: {object}\nmutated:  {mutated}\nagain:    {}",
            second.mutated.as_ref().unwrap()
        );
        if first.findings.is_empty() {
            assert!(
                second.findings.is_empty(),
                "an accepted mutation must be valid; re-evaluating it finds {:?}\nmutated: {mutated}",
                second.findings
            );
        }
    }
    if first.findings.is_empty() {
        let mut plain = settings.clone();
        plain["secretMounts"] = json!([]);
        let (judged, answer) =
            reference::check_against_product(&plain, &request(group, "v1", kind, "CREATE", result.clone()));
        assert!(judged.mutated.is_none(), "nothing declared, nothing mutated");
        assert!(
            judged.findings.is_empty(),
            "no findings, yet validating the result finds {:?}\nresult: {result}",
            answer
        );
    }
    first
}

/// A `validate` payload, as the host sends it.
pub fn payload(settings: &Value, request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"settings": settings, "request": request})).expect("payload serialises")
}

/// An admission request as JSON, for whole-payload runs.
pub fn request_json(group: &str, version: &str, kind: &str, operation: &str, object: Value) -> Value {
    json!({
        "uid": "fuzz",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": "things"},
        "operation": operation,
        "namespace": "ns",
        "userInfo": {"username": "fuzz"},
        "object": object,
    })
}
