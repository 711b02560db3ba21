//! Where the pod specs of an object are.
//!
//! Built-in workload kinds have fixed locations; the `podSpecPaths` setting adds
//! JSONPath expressions per `group/version/Kind`. Every location is resolved to a
//! JSON pointer, so validation and mutation address the raw object the same way
//! for every kind, and messages can say exactly where a pod spec was found.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::settings::Settings;

/// A pod spec found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpecLocation {
    /// JSON pointer of the pod spec object (RFC 6901), e.g. `/spec/template/spec`.
    pub pointer: String,
}

impl PodSpecLocation {
    fn new(pointer: String) -> Self {
        PodSpecLocation { pointer }
    }

    /// Dotted path for messages: `spec.template.spec`, `spec.workloads[1].template.spec`.
    pub fn display(&self) -> String {
        display_pointer(&self.pointer)
    }

    /// Pointer of the object whose `metadata.labels` select this pod spec:
    /// the pod template (`/spec/template`) or, for a Pod, the Pod itself.
    pub fn labels_pointer(&self) -> String {
        let parent = self.pointer.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        format!("{parent}/metadata/labels")
    }
}

/// `map.get(key)` for the small objects of a pod spec (a container, a mount, an
/// env entry): scanning a few entries is cheaper than hashing the key, and the
/// rules look up several keys in every container. Larger maps use the index.
#[inline]
pub fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= 8 {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// [`field`] of a value that may not be an object.
#[inline]
pub fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_object().and_then(|map| field(map, key))
}

/// `Value::pointer` without its per-segment allocation: this runs on every
/// admission, a few times per pod spec. Unescapes `~1`/`~0` only where present.
pub fn lookup<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    pointer
        .split('/')
        .skip(1)
        .try_fold(value, |current, token| match current {
            Value::Object(map) => map.get(unescape(token).as_ref()),
            Value::Array(items) => items.get(token.parse::<usize>().ok()?),
            _ => None,
        })
}

/// The mutable twin of [`lookup`].
pub fn lookup_mut<'a>(value: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    pointer
        .split('/')
        .skip(1)
        .try_fold(value, |current, token| match current {
            Value::Object(map) => map.get_mut(unescape(token).as_ref()),
            Value::Array(items) => items.get_mut(token.parse::<usize>().ok()?),
            _ => None,
        })
}

fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// Renders a JSON pointer as the dotted path Kubernetes users read.
pub fn display_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

/// The built-in kinds and the pointer of their pod spec. Keyed by API group and kind:
/// every served version of these kinds keeps the pod spec at the same place.
const BUILT_IN: &[(&str, &str, &str)] = &[
    ("", "Pod", "/spec"),
    ("", "ReplicationController", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "ReplicaSet", "/spec/template/spec"),
    ("apps", "StatefulSet", "/spec/template/spec"),
    ("apps", "DaemonSet", "/spec/template/spec"),
    ("batch", "Job", "/spec/template/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

/// The built-in pod spec pointer of a kind, if it is one the policy knows.
pub fn built_in_pointer(group: &str, kind: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, p)| *p)
}

/// Why pod specs could not be located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocateError {
    /// Dotted path of the offending field.
    pub at: String,
    pub message: String,
}

/// Does this kind have any pod spec location (built-in or configured)?
pub fn is_covered(settings: &Settings, group: &str, version: &str, kind: &str) -> bool {
    built_in_pointer(group, kind).is_some() || configured_paths(settings, group, version, kind).is_some()
}

/// The built-in pod spec pointer of a kind for which no `podSpecPaths` are
/// configured: then the pod spec's location is known without reading the object.
pub fn built_in_only(settings: &Settings, group: &str, version: &str, kind: &str) -> Option<&'static str> {
    built_in_pointer(group, kind).filter(|_| configured_paths(settings, group, version, kind).is_none())
}

fn configured_paths<'s>(settings: &'s Settings, group: &str, version: &str, kind: &str) -> Option<&'s Vec<String>> {
    let key = if group.is_empty() {
        format!("{version}/{kind}")
    } else {
        format!("{group}/{version}/{kind}")
    };
    settings.pod_spec_paths.get(&key)
}

/// Finds every pod spec of `object`, a resource of the given kind. A location that
/// is absent is skipped (the field may be optional); one that holds something other
/// than an object is an error, as is a built-in path crossing a non-object.
pub fn locate(
    settings: &Settings,
    group: &str,
    version: &str,
    kind: &str,
    object: &Value,
) -> Result<Vec<PodSpecLocation>, LocateError> {
    let mut found = Vec::new();
    if let Some(pointer) = built_in_pointer(group, kind) {
        if let Some(location) = follow_pointer(object, pointer)? {
            found.push(location);
        }
    }
    if let Some(paths) = configured_paths(settings, group, version, kind) {
        let mut seen: std::collections::BTreeSet<String> = found.iter().map(|l| l.pointer.clone()).collect();
        for path in paths {
            for location in select_pointers(object, path)? {
                if seen.insert(location.pointer.clone()) {
                    found.push(location);
                }
            }
        }
    }
    Ok(found)
}

/// Follows a built-in pointer: absent fields mean "no pod spec", a non-object
/// (e.g. `spec: 5`) on the way is malformed.
fn follow_pointer(object: &Value, pointer: &str) -> Result<Option<PodSpecLocation>, LocateError> {
    let mut current = object;
    let mut walked = String::new();
    for token in pointer.split('/').skip(1) {
        let Some(map) = current.as_object() else {
            return Err(not_an_object(&walked, current));
        };
        walked.push('/');
        walked.push_str(token);
        match map.get(token) {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => current = next,
        }
    }
    if current.is_object() {
        Ok(Some(PodSpecLocation::new(pointer.to_string())))
    } else {
        Err(not_an_object(&walked, current))
    }
}

fn not_an_object(pointer: &str, value: &Value) -> LocateError {
    let at = if pointer.is_empty() {
        "the object".to_string()
    } else {
        display_pointer(pointer)
    };
    LocateError {
        message: format!("{at} must be an object, found {}", kind_of(value)),
        at,
    }
}

/// A short name for a JSON value's type, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Bounds on a `podSpecPaths` expression: generous for real paths, small enough
/// that parsing cannot run out of stack.
const MAX_JSON_PATH_LEN: usize = 512;
const MAX_JSON_PATH_BRACKETS: usize = 32;

/// Checks that a JSONPath expression parses, for `validate_settings`.
pub fn check_json_path(path: &str) -> Result<(), String> {
    if !path.starts_with('$') {
        return Err("must be a JSONPath expression starting with '$', e.g. \"$.spec.template.spec\"".into());
    }
    // The parser recurses per bracket: bound the expression before handing it over,
    // so a hostile setting cannot exhaust the module's stack.
    if path.len() > MAX_JSON_PATH_LEN {
        return Err(format!("is longer than {MAX_JSON_PATH_LEN} characters"));
    }
    let depth = path.bytes().filter(|b| matches!(b, b'[' | b'(')).count();
    if depth > MAX_JSON_PATH_BRACKETS {
        return Err(format!(
            "has more than {MAX_JSON_PATH_BRACKETS} brackets and parentheses"
        ));
    }
    // jsonpath_lib 0.3 panics while *evaluating* two things its parser accepts:
    // a number literal beyond f64 and a slice step of 0. Refuse them up front.
    if let Some(literal) = non_finite_number(path) {
        return Err(format!("has the number {literal}, which is out of range"));
    }
    if has_zero_slice_step(path) {
        return Err("has a slice with step 0".to_string());
    }
    jsonpath_lib::Compiled::compile(path)
        .map(|_| ())
        .map_err(|e| format!("is not a valid JSONPath expression: {}", e.trim()))
}

/// The first number-like run (digits with `.`, `e`, sign) that parses to an
/// infinite f64, if any.
fn non_finite_number(path: &str) -> Option<&str> {
    let is_part = |c: char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-');
    path.split(|c: char| !is_part(c))
        .filter(|run| run.bytes().any(|b| b.is_ascii_digit()))
        .flat_map(|run| run.split('.').chain(std::iter::once(run)))
        .find(|run| run.parse::<f64>().is_ok_and(|n| !n.is_finite()))
}

/// Does a bracket hold a slice `[a:b:0]`?
fn has_zero_slice_step(path: &str) -> bool {
    path.split('[')
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .any(|inside| {
            let parts: Vec<&str> = inside.split(':').collect();
            parts.len() >= 3 && parts[2].trim().parse::<i64>() == Ok(0)
        })
}

/// Evaluates a JSONPath expression and turns each selected node into the JSON
/// pointer where it lives, by matching node addresses in one walk of the object.
fn select_pointers(object: &Value, path: &str) -> Result<Vec<PodSpecLocation>, LocateError> {
    let selected = jsonpath_lib::select(object, path).map_err(|e| LocateError {
        at: path.to_string(),
        message: format!("podSpecPaths expression {path:?} failed: {e}"),
    })?;
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    // Node address -> positions in the selection (a node may be selected twice).
    let mut wanted: BTreeMap<*const Value, Vec<usize>> = BTreeMap::new();
    for (i, node) in selected.iter().enumerate() {
        wanted.entry(std::ptr::from_ref(*node)).or_default().push(i);
    }
    let mut pointers: Vec<Option<String>> = vec![None; selected.len()];
    find_addresses(object, &mut String::new(), &mut wanted, &mut pointers);
    let mut out = Vec::new();
    // In the order JSONPath selected them; a node selected twice is reported once.
    for (pointer, node) in pointers.into_iter().zip(&selected) {
        let Some(pointer) = pointer else { continue };
        if !node.is_object() {
            return Err(LocateError {
                at: display_pointer(&pointer),
                message: format!(
                    "podSpecPaths expression {path:?} selects {}, which is {}, not a pod spec object",
                    display_pointer(&pointer),
                    kind_of(node)
                ),
            });
        }
        out.push(PodSpecLocation::new(pointer));
    }
    Ok(out)
}

/// Depth-first walk recording the pointer of every node whose address was
/// selected; stops as soon as every selected node is found.
fn find_addresses(
    value: &Value,
    pointer: &mut String,
    wanted: &mut BTreeMap<*const Value, Vec<usize>>,
    pointers: &mut [Option<String>],
) {
    if let Some(positions) = wanted.remove(&std::ptr::from_ref(value)) {
        // The first selection of a node gets its pointer; repeats are reported once.
        pointers[positions[0]] = Some(pointer.clone());
    }
    let len = pointer.len();
    let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
        Value::Object(map) => Box::new(map.iter().map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v))),
        Value::Array(items) => Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v))),
        _ => return,
    };
    for (token, child) in children {
        if wanted.is_empty() {
            return;
        }
        pointer.push('/');
        pointer.push_str(&token);
        find_addresses(child, pointer, wanted, pointers);
        pointer.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings_with(paths: Value) -> Settings {
        Settings::from_json(json!({ "podSpecPaths": paths }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn built_in_kinds_have_their_pod_spec_pointer() {
        let s = Settings::default();
        let deployment = json!({"spec": {"template": {"spec": {"containers": []}}}});
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            let found = locate(&s, group, "v1", kind, &deployment).unwrap();
            assert_eq!(
                found,
                vec![PodSpecLocation::new("/spec/template/spec".into())],
                "{kind}"
            );
        }
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}});
        assert_eq!(
            locate(&s, "batch", "v1", "CronJob", &cron).unwrap()[0].display(),
            "spec.jobTemplate.spec.template.spec"
        );
        let pod = json!({"spec": {"containers": []}});
        assert_eq!(locate(&s, "", "v1", "Pod", &pod).unwrap()[0].pointer, "/spec");
    }

    #[test]
    fn a_kind_from_another_group_is_not_built_in() {
        let s = Settings::default();
        let obj = json!({"spec": {"template": {"spec": {}}}});
        assert!(locate(&s, "example.com", "v1", "Deployment", &obj).unwrap().is_empty());
        assert!(!is_covered(&s, "example.com", "v1", "Deployment"));
        assert!(is_covered(&s, "apps", "v1", "Deployment"));
    }

    #[test]
    fn absent_pod_spec_is_skipped_and_non_objects_are_malformed() {
        let s = Settings::default();
        assert!(locate(&s, "apps", "v1", "Deployment", &json!({"spec": {}}))
            .unwrap()
            .is_empty());
        assert!(locate(&s, "apps", "v1", "Deployment", &json!({"metadata": {}}))
            .unwrap()
            .is_empty());
        let err = locate(&s, "apps", "v1", "Deployment", &json!({"spec": 5})).unwrap_err();
        assert_eq!(err.message, "spec must be an object, found a number");
        let err = locate(
            &s,
            "apps",
            "v1",
            "Deployment",
            &json!({"spec": {"template": {"spec": []}}}),
        )
        .unwrap_err();
        assert_eq!(err.message, "spec.template.spec must be an object, found a list");
        let err = locate(&s, "", "v1", "Pod", &json!("pod")).unwrap_err();
        assert_eq!(err.message, "the object must be an object, found a string");
    }

    #[test]
    fn configured_paths_resolve_to_pointers() {
        let s = settings_with(json!({"example.com/v1/Fleet": ["$.spec.workloads[*].template.spec"]}));
        let obj = json!({"spec": {"workloads": [
            {"template": {"spec": {"containers": []}}},
            {"template": {"spec": {"containers": []}}}
        ]}});
        let found = locate(&s, "example.com", "v1", "Fleet", &obj).unwrap();
        let displays: Vec<String> = found.iter().map(|l| l.display()).collect();
        assert_eq!(
            displays,
            ["spec.workloads[0].template.spec", "spec.workloads[1].template.spec"]
        );
        assert_eq!(found[1].labels_pointer(), "/spec/workloads/1/template/metadata/labels");
    }

    #[test]
    fn configured_path_selecting_nothing_is_not_an_error() {
        let s = settings_with(json!({"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"]}));
        assert!(locate(&s, "argoproj.io", "v1alpha1", "Rollout", &json!({"spec": {}}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn configured_path_selecting_a_non_object_is_an_error() {
        let s = settings_with(json!({"argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"]}));
        let err = locate(
            &s,
            "argoproj.io",
            "v1alpha1",
            "Rollout",
            &json!({"spec": {"template": {"spec": "x"}}}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("selects spec.template.spec, which is a string"),
            "{}",
            err.message
        );
    }

    #[test]
    fn user_paths_for_built_in_kinds_add_and_do_not_duplicate() {
        let s = settings_with(json!({"apps/v1/Deployment": ["$.spec.template.spec", "$.spec.extra.spec"]}));
        let obj = json!({"spec": {"template": {"spec": {}}, "extra": {"spec": {}}}});
        let displays: Vec<String> = locate(&s, "apps", "v1", "Deployment", &obj)
            .unwrap()
            .iter()
            .map(|l| l.display())
            .collect();
        assert_eq!(displays, ["spec.template.spec", "spec.extra.spec"]);
    }

    #[test]
    fn keys_with_slashes_are_escaped_in_pointers() {
        let s = settings_with(json!({"example.com/v1/Odd": ["$.spec['a/b'].spec"]}));
        let obj = json!({"spec": {"a/b": {"spec": {}}}});
        let found = locate(&s, "example.com", "v1", "Odd", &obj).unwrap();
        assert_eq!(found[0].pointer, "/spec/a~1b/spec");
        assert!(obj.pointer(&found[0].pointer).is_some());
        assert!(std::ptr::eq(
            lookup(&obj, &found[0].pointer).unwrap(),
            obj.pointer(&found[0].pointer).unwrap()
        ));
    }

    #[test]
    fn json_path_syntax_is_checked() {
        assert!(check_json_path("$.spec.template.spec").is_ok());
        assert!(check_json_path("spec.template").is_err());
        assert!(check_json_path("$.spec[").is_err());
        let deep = format!("$.spec{}", "[?(@.a".repeat(40));
        assert!(check_json_path(&deep).unwrap_err().contains("more than 32 brackets"));
        assert!(check_json_path(&format!("$.{}", "a".repeat(600)))
            .unwrap_err()
            .contains("longer than 512"));
        assert!(check_json_path("$.spec[?(@.x == 1e400)]")
            .unwrap_err()
            .contains("1e400"));
        assert!(check_json_path("$[?(@ < -1e999)]")
            .unwrap_err()
            .contains("out of range"));
        assert!(check_json_path("$.spec[::0]").unwrap_err().contains("step 0"));
        assert!(check_json_path("$.spec[0:2:0]").unwrap_err().contains("step 0"));
        assert!(check_json_path("$.spec[0:4:2]").is_ok());
        assert!(check_json_path("$.spec[?(@.x == 1.5e3)]").is_ok());
    }
}
