//! Packaging consistency: the files that ship with the policy must agree with
//! each other and with the code.
//!
//! - `Cargo.toml`, `policy-metadata.yml` and `artifacthub-pkg.yml` carry one version;
//! - `policy-metadata.yml` uses only keys policy-evaluator's `Metadata` knows (serde
//!   ignores unknown keys there, so a typo would silently vanish);
//! - `artifacthub-pkg.yml` repeats the metadata's rules, annotations and
//!   `questions-ui.yml` exactly;
//! - `questions-ui.yml` asks for every setting the policy accepts and no other, and
//!   every default it offers is accepted by `Settings::from_json`.
//!
//! The accepted settings come from the code (`Settings` and `SecretMount` serialised),
//! never from a hand-written list.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use secret_mounts_policy::settings::{
    KeyToPath, LabelSelector, LabelSelectorRequirement, SecretMount, SelectorOperator, Settings,
};
use serde_json::{json, Value};

const METADATA: &str = "policy-metadata.yml";
const ARTIFACTHUB: &str = "artifacthub-pkg.yml";
const QUESTIONS: &str = "questions-ui.yml";

/// The serde names of policy-evaluator's `Metadata` fields (src/policy_metadata.rs),
/// minus `protocolVersion`, which `kwctl annotate` asks the Wasm module for.
const METADATA_KEYS: [&str; 8] = [
    "rules",
    "annotations",
    "mutating",
    "backgroundAudit",
    "executionMode",
    "policyType",
    "contextAwareResources",
    "minimumKubewardenVersion",
];
/// The serde names of a `Rule`'s fields and of the `Operation`, `PolicyExecutionMode`
/// and `PolicyType` variants.
const RULE_KEYS: [&str; 4] = ["apiGroups", "apiVersions", "resources", "operations"];
const OPERATIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];
const EXECUTION_MODES: [&str; 4] = ["kubewarden-wapc", "opa", "gatekeeper", "wasi"];
const POLICY_TYPES: [&str; 2] = ["kubernetes", "raw"];

const VERSION_ANNOTATION: &str = "io.kubewarden.policy.version";
const QUESTIONS_ANNOTATION: &str = "kubewarden/questions-ui";
const RULES_ANNOTATION: &str = "kubewarden/rules";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: cannot read {}: {e}", path.display()))
}

/// Parses a YAML text into JSON values, which are easier to walk and compare.
fn parse_yaml(what: &str, text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
}

fn load(file: &str) -> Value {
    parse_yaml(file, &read(file))
}

/// `doc[key]` as a string, or a panic naming the file and the key.
fn str_at<'a>(doc: &'a Value, file: &str, key: &str) -> &'a str {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: `{key}` must be a string, found {:?}", doc.get(key)))
}

fn annotations<'a>(doc: &'a Value, file: &str) -> &'a serde_json::Map<String, Value> {
    doc.get("annotations")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{file}: `annotations` must be a map"))
}

fn annotation<'a>(doc: &'a Value, file: &str, key: &str) -> &'a str {
    annotations(doc, file)
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: annotation `{key}` is missing or not a string"))
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// Fails with every problem found, one per line.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  - {}", problems.join("\n  - "));
}

fn settings_accept(doc: &Value) -> Result<Settings, String> {
    Settings::from_json(doc.to_string().as_bytes())
}

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

#[test]
fn cargo_metadata_and_artifacthub_versions_agree() {
    let cargo = env!("CARGO_PKG_VERSION");
    let metadata = load(METADATA);
    let artifacthub = load(ARTIFACTHUB);
    let metadata_version = annotation(&metadata, METADATA, VERSION_ANNOTATION);
    let artifacthub_version = str_at(&artifacthub, ARTIFACTHUB, "version");
    assert_eq!(
        metadata_version, cargo,
        "{METADATA}: annotation `{VERSION_ANNOTATION}` is {metadata_version} but Cargo.toml's version is {cargo}"
    );
    assert_eq!(
        artifacthub_version, cargo,
        "{ARTIFACTHUB}: `version` is {artifacthub_version} but Cargo.toml's version is {cargo}"
    );
}

/// Every image tag and release link in artifacthub-pkg.yml (containersImages, links,
/// the install instructions) names the current version.
#[test]
fn artifacthub_image_tags_and_release_links_name_the_version() {
    let cargo = env!("CARGO_PKG_VERSION");
    let metadata = load(METADATA);
    let oci = annotation(&metadata, METADATA, "io.kubewarden.policy.ociUrl");
    let source = annotation(&metadata, METADATA, "io.kubewarden.policy.source");
    let text = read(ARTIFACTHUB);
    let mut problems = Vec::new();
    let mut seen = 0;
    for marker in [format!("{oci}:v"), format!("{source}/releases/download/v")] {
        for (at, _) in text.match_indices(&marker) {
            seen += 1;
            let rest = &text[at + marker.len()..];
            let tag: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || ".-+".contains(*c))
                .collect();
            let tag = tag.trim_end_matches('.');
            if tag != cargo {
                let line = text[..at].lines().count().max(1);
                problems.push(format!("line {line}: `{marker}{tag}` should be `{marker}{cargo}`"));
            }
        }
    }
    assert!(
        seen >= 2,
        "{ARTIFACTHUB}: expected `{oci}:v{cargo}` and a release link; found {seen} reference(s)"
    );
    assert_no_problems(
        &format!("{ARTIFACTHUB}: a version reference disagrees with Cargo.toml"),
        &problems,
    );
}

// ---------------------------------------------------------------------------
// policy-metadata.yml against policy-evaluator's Metadata
// ---------------------------------------------------------------------------

#[test]
fn metadata_uses_only_keys_policy_evaluator_knows() {
    let metadata = load(METADATA);
    let top = metadata
        .as_object()
        .unwrap_or_else(|| panic!("{METADATA}: must be a map"));
    let mut problems = Vec::new();
    for key in top.keys() {
        if key == "protocolVersion" {
            problems.push(
                "top-level key `protocolVersion`: leave it out, `kwctl annotate` asks the Wasm module for it"
                    .to_string(),
            );
        } else if !METADATA_KEYS.contains(&key.as_str()) {
            problems.push(format!(
                "top-level key `{key}` is not a field of policy-evaluator's Metadata (known: {}); it would be silently ignored",
                METADATA_KEYS.join(", ")
            ));
        }
    }
    for required in ["rules", "mutating", "annotations"] {
        if !top.contains_key(required) {
            problems.push(format!("top-level key `{required}` is missing"));
        }
    }
    for key in ["mutating", "backgroundAudit"] {
        if top.get(key).is_some_and(|v| !v.is_boolean()) {
            problems.push(format!("`{key}` must be true or false, found {}", top[key]));
        }
    }
    let one_of = |key: &str, allowed: &[&str], problems: &mut Vec<String>| {
        if let Some(v) = top.get(key) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                problems.push(format!(
                    "`{key}` is {v}; policy-evaluator accepts {}",
                    allowed.join(", ")
                ));
            }
        }
    };
    one_of("executionMode", &EXECUTION_MODES, &mut problems);
    one_of("policyType", &POLICY_TYPES, &mut problems);
    if let Some(resources) = top.get("contextAwareResources") {
        let ok = resources.as_array().is_some_and(|list| {
            list.iter().all(|r| {
                r.as_object().is_some_and(|o| {
                    o.len() == 2
                        && ["apiVersion", "kind"]
                            .iter()
                            .all(|k| o.get(*k).is_some_and(Value::is_string))
                })
            })
        });
        if !ok {
            problems.push("`contextAwareResources` must be a list of {apiVersion, kind}".to_string());
        }
    }
    // `annotations` is a map of string to string: an unquoted 1.0 would be a number.
    if let Some(map) = top.get("annotations").and_then(Value::as_object) {
        for (key, value) in map {
            if !value.is_string() {
                problems.push(format!("annotation `{key}` must be a string, found {value}; quote it"));
            }
        }
    } else if top.contains_key("annotations") {
        problems.push("`annotations` must be a map".to_string());
    }
    problems.extend(rule_problems(top.get("rules").unwrap_or(&Value::Null)));
    assert_no_problems(
        &format!("{METADATA} does not match policy-evaluator's Metadata"),
        &problems,
    );
}

/// The shape policy-evaluator's `Rule` deserialises, with its non-empty checks.
fn rule_problems(rules: &Value) -> Vec<String> {
    let Some(rules) = rules.as_array() else {
        return vec!["`rules` must be a list".to_string()];
    };
    let mut problems = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = rule.as_object() else {
            problems.push(format!("rules[{i}] must be a map"));
            continue;
        };
        for key in rule.keys().filter(|k| !RULE_KEYS.contains(&k.as_str())) {
            problems.push(format!(
                "rules[{i}]: unknown key `{key}` (known: {})",
                RULE_KEYS.join(", ")
            ));
        }
        for key in RULE_KEYS {
            let list = rule.get(key).and_then(Value::as_array);
            if !list.is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string)) {
                problems.push(format!("rules[{i}].{key} must be a non-empty list of strings"));
            }
        }
        for op in rule.get("operations").and_then(Value::as_array).into_iter().flatten() {
            if !op.as_str().is_some_and(|s| OPERATIONS.contains(&s)) {
                problems.push(format!(
                    "rules[{i}].operations: {op} is not one of {}",
                    OPERATIONS.join(", ")
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// artifacthub-pkg.yml against policy-metadata.yml and questions-ui.yml
// ---------------------------------------------------------------------------

#[test]
fn artifacthub_rules_are_the_metadata_rules() {
    let metadata = load(METADATA);
    let artifacthub = load(ARTIFACTHUB);
    let expected = &metadata["rules"];
    let text = annotation(&artifacthub, ARTIFACTHUB, RULES_ANNOTATION);
    let actual = parse_yaml(&format!("{ARTIFACTHUB}: annotation `{RULES_ANNOTATION}`"), text);
    assert!(
        &actual == expected,
        "{ARTIFACTHUB}: annotation `{RULES_ANNOTATION}` differs from the `rules` of {METADATA}.\n\
         --- {METADATA} rules:\n{}--- {ARTIFACTHUB} {RULES_ANNOTATION}:\n{}",
        yaml(expected),
        yaml(&actual)
    );
}

#[test]
fn artifacthub_questions_ui_is_questions_ui_yml_verbatim() {
    let artifacthub = load(ARTIFACTHUB);
    let embedded = annotation(&artifacthub, ARTIFACTHUB, QUESTIONS_ANNOTATION);
    let file = read(QUESTIONS);
    if embedded == file {
        return;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (file.lines().collect(), embedded.lines().collect());
    let line = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    panic!(
        "{ARTIFACTHUB}: annotation `{QUESTIONS_ANNOTATION}` is not the content of {QUESTIONS}; \
         first difference at line {} of {QUESTIONS}:\n  {QUESTIONS}:  {:?}\n  annotation: {:?}\n\
         (paste {QUESTIONS} under the annotation, indented, as a `|` block)",
        line + 1,
        a.get(line).copied().unwrap_or("<end of file>"),
        b.get(line).copied().unwrap_or("<end of annotation>"),
    );
}

/// What `kwctl scaffold artifacthub` derives from the metadata annotations must be
/// what artifacthub-pkg.yml says.
#[test]
fn artifacthub_package_agrees_with_the_metadata_annotations() {
    let metadata = load(METADATA);
    let pkg = load(ARTIFACTHUB);
    let ann = |key: &str| annotation(&metadata, METADATA, key).to_string();
    let version = env!("CARGO_PKG_VERSION");
    let source = ann("io.kubewarden.policy.source");
    let keywords: Vec<Value> = ann("io.artifacthub.keywords")
        .split(',')
        .map(|k| json!(k.trim()))
        .collect();
    let expectations: [(&str, Value, &str); 10] = [
        (
            "name",
            json!(ann("io.kubewarden.policy.title")),
            "annotation io.kubewarden.policy.title",
        ),
        (
            "displayName",
            json!(ann("io.artifacthub.displayName")),
            "annotation io.artifacthub.displayName",
        ),
        (
            "description",
            json!(ann("io.kubewarden.policy.description")),
            "annotation io.kubewarden.policy.description",
        ),
        (
            "license",
            json!(ann("io.kubewarden.policy.license")),
            "annotation io.kubewarden.policy.license",
        ),
        (
            "homeURL",
            json!(ann("io.kubewarden.policy.url")),
            "annotation io.kubewarden.policy.url",
        ),
        (
            "keywords",
            Value::Array(keywords),
            "annotation io.artifacthub.keywords, split at commas",
        ),
        (
            "containersImages",
            json!([{"name": "policy", "image": format!("{}:v{version}", ann("io.kubewarden.policy.ociUrl"))}]),
            "annotation io.kubewarden.policy.ociUrl + :v<version>",
        ),
        (
            "links",
            json!([
                {"name": "policy", "url": format!("{source}/releases/download/v{version}/policy.wasm")},
                {"name": "source", "url": source},
            ]),
            "annotation io.kubewarden.policy.source",
        ),
        (
            "/annotations/kubewarden~1mutation",
            json!(metadata["mutating"].to_string()),
            "`mutating`, as a string",
        ),
        (
            "/annotations/kubewarden~1resources",
            json!(ann("io.artifacthub.resources")),
            "annotation io.artifacthub.resources",
        ),
    ];
    let mut problems = Vec::new();
    for (key, expected, from) in expectations {
        let actual = if key.starts_with('/') {
            pkg.pointer(key)
        } else {
            pkg.get(key)
        };
        if actual != Some(&expected) {
            problems.push(format!(
                "`{}` is {} but {METADATA}'s {from} gives {expected}",
                key.trim_start_matches('/').replace("~1", "/"),
                actual.map_or("missing".to_string(), Value::to_string)
            ));
        }
    }
    for key in ["createdAt", "install", "provider", "recommendations"] {
        if pkg.get(key).is_none() {
            problems.push(format!("`{key}` is missing"));
        }
    }
    assert_no_problems(&format!("{ARTIFACTHUB} disagrees with {METADATA}"), &problems);
}

/// The ClusterAdmissionPolicy in the install instructions is what users paste:
/// its settings must be accepted and its rules must be the metadata's.
#[test]
fn artifacthub_install_example_is_a_valid_policy() {
    let metadata = load(METADATA);
    let pkg = load(ARTIFACTHUB);
    let install = str_at(&pkg, ARTIFACTHUB, "install");
    let blocks: Vec<&str> = install
        .split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or(rest))
        .collect();
    let policies: Vec<Value> = blocks
        .iter()
        .map(|b| parse_yaml(&format!("{ARTIFACTHUB}: yaml block in `install`"), b))
        .filter(|doc| doc["kind"] == "ClusterAdmissionPolicy" || doc["kind"] == "AdmissionPolicy")
        .collect();
    assert!(
        !policies.is_empty(),
        "{ARTIFACTHUB}: `install` has no ```yaml block with a ClusterAdmissionPolicy"
    );
    for policy in policies {
        let spec = &policy["spec"];
        let settings = spec.get("settings").cloned().unwrap_or(Value::Null);
        if let Err(e) = settings_accept(&settings) {
            panic!("{ARTIFACTHUB}: the example policy's settings are refused by the policy: {e}");
        }
        assert_eq!(
            spec["rules"], metadata["rules"],
            "{ARTIFACTHUB}: the example policy's rules differ from {METADATA}'s `rules`"
        );
        assert_eq!(
            spec["mutating"], metadata["mutating"],
            "{ARTIFACTHUB}: the example policy's `mutating` differs from {METADATA}'s"
        );
    }
}

// ---------------------------------------------------------------------------
// questions-ui.yml against the settings the code accepts
// ---------------------------------------------------------------------------

/// An example of the accepted settings with every field present: `Settings::default()`
/// (every top-level key) with one fully populated `secretMounts` entry.
///
/// The struct literals are exhaustive on purpose: a new field in `SecretMount` (or in
/// the selector types) stops this file compiling until the form is brought up to date.
fn accepted_settings_shape() -> Value {
    let entry = SecretMount {
        name: "api-key".to_string(),
        secret_name: "api-key".to_string(),
        mount_path: Some(Settings::default().mount_path),
        read_only: Some(true),
        items: Some(vec![KeyToPath {
            key: "API_KEY".to_string(),
            path: "api-key/API_KEY".to_string(),
        }]),
        containers: Some(vec!["app".to_string()]),
        selector: Some(LabelSelector {
            match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".to_string(),
                operator: SelectorOperator::In,
                values: vec!["front".to_string()],
            }],
        }),
    };
    let mut shape = serde_json::to_value(Settings::default()).expect("Settings serialise");
    shape["secretMounts"] = json!([entry]);
    if let Err(e) = settings_accept(&shape) {
        panic!("tests/packaging.rs: the example settings are refused ({e}); fix accepted_settings_shape()");
    }
    shape
}

fn questions() -> Vec<Value> {
    let doc = load(QUESTIONS);
    let top = doc.as_object().unwrap_or_else(|| panic!("{QUESTIONS}: must be a map"));
    let extra: Vec<&String> = top.keys().filter(|k| *k != "questions").collect();
    assert!(
        extra.is_empty(),
        "{QUESTIONS}: unexpected top-level key(s) {extra:?}; only `questions` is read"
    );
    doc["questions"]
        .as_array()
        .unwrap_or_else(|| panic!("{QUESTIONS}: `questions` must be a list"))
        .clone()
}

fn variable(q: &Value) -> &str {
    q.get("variable").and_then(Value::as_str).unwrap_or("")
}

fn nested<'a>(q: &'a Value, key: &str) -> &'a [Value] {
    q.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The questions of one scope (the settings, or one element of a sequence): the
/// questions themselves and their `subquestions`, whose variables are full dotted
/// paths within the same scope. `sequence_questions` open a new scope and stay on
/// the question that owns them.
fn flatten(questions: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for q in questions {
        out.push(q);
        out.extend(flatten(nested(q, "subquestions")));
    }
    out
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.as_object()?.get(key))
}

fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut at = doc;
    for key in path.split('.') {
        if !at.is_object() {
            *at = json!({});
        }
        at = at
            .as_object_mut()
            .unwrap()
            .entry(key.to_string())
            .or_insert(Value::Null);
    }
    *at = value;
}

const QUESTION_TYPES: [&str; 9] = [
    "string",
    "boolean",
    "int",
    "enum",
    "array[",
    "map[",
    "sequence[",
    "password",
    "multiline",
];

/// Checks one scope's questions against `shape`, an example value of the scope with
/// every accepted field present; `scope` prefixes the names in messages.
fn check_scope(questions: &[Value], shape: &Value, scope: &str, problems: &mut Vec<String>) {
    let flat = flatten(questions);
    let mut asked = BTreeSet::new();
    for q in &flat {
        let var = variable(q);
        let name = format!("{scope}{var}");
        if var.is_empty() {
            problems.push(format!("a question in `{scope}` has no `variable`"));
            continue;
        }
        if !asked.insert(var) {
            problems.push(format!("`{name}` is asked twice"));
        }
        for key in ["type", "label"] {
            if q.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
                problems.push(format!("`{name}` has no `{key}`"));
            }
        }
        let ty = q.get("type").and_then(Value::as_str).unwrap_or("");
        if !ty.is_empty() && !QUESTION_TYPES.contains(&ty) {
            problems.push(format!("`{name}` has unknown type `{ty}`"));
        }
        if ty == "enum" {
            let options = nested(q, "options");
            if options.is_empty() {
                problems.push(format!("`{name}` is an enum without `options`"));
            } else if q.get("default").is_some_and(|d| !options.contains(d)) {
                problems.push(format!("`{name}`: default {} is not among its options", q["default"]));
            }
        }
        let Some(value) = lookup(shape, var) else {
            let parent = var.rsplit_once('.').map(|(p, _)| p);
            let siblings = parent
                .map_or(Some(shape), |p| lookup(shape, p))
                .and_then(Value::as_object);
            let accepted: Vec<&String> = siblings.map(|o| o.keys().collect()).unwrap_or_default();
            let place = parent.map_or(String::new(), |p| format!(" in `{scope}{p}`"));
            problems.push(format!(
                "`{name}` is not a setting the policy accepts (accepted{place}: {accepted:?})"
            ));
            continue;
        };
        let sequence = nested(q, "sequence_questions");
        if !sequence.is_empty() {
            match value.as_array().and_then(|a| a.first()) {
                Some(element) => check_scope(sequence, element, &format!("{name}[]."), problems),
                None => problems.push(format!(
                    "`{name}` has sequence_questions but the policy takes no list there"
                )),
            }
        }
    }
    // Every accepted key of the scope is asked for, and so is every key of an
    // object whose parts are asked for one by one (subquestions `a.b`, `a.c`).
    let is_asked = |path: &str| asked.iter().any(|a| *a == path || a.starts_with(&format!("{path}.")));
    let mut must_cover: Vec<String> = Vec::new();
    let keys_under = |path: Option<&str>| -> Vec<String> {
        let object = match path {
            None => shape.as_object(),
            Some(p) => lookup(shape, p).and_then(Value::as_object),
        };
        object
            .map(|o| {
                o.keys()
                    .map(|k| path.map_or(k.clone(), |p| format!("{p}.{k}")))
                    .collect()
            })
            .unwrap_or_default()
    };
    must_cover.extend(keys_under(None));
    for parent in asked
        .iter()
        .filter(|p| asked.iter().any(|a| a.starts_with(&format!("{p}."))))
    {
        must_cover.extend(keys_under(Some(parent)));
    }
    for path in must_cover {
        if !is_asked(&path) {
            problems.push(format!(
                "setting `{scope}{path}` is accepted by the policy but has no question"
            ));
        }
    }
}

#[test]
fn questions_ui_asks_for_exactly_the_accepted_settings() {
    let questions = questions();
    let mut problems = Vec::new();
    check_scope(&questions, &accepted_settings_shape(), "", &mut problems);
    assert_no_problems(
        &format!("{QUESTIONS} does not match the settings the policy accepts"),
        &problems,
    );
}

/// The object a scope's questions produce when left at their defaults. A required
/// question with no default gets a placeholder, as a user must type something there.
fn form_defaults(questions: &[Value]) -> Value {
    let mut doc = json!({});
    for q in flatten(questions) {
        let required = q.get("required").and_then(Value::as_bool).unwrap_or(false);
        let default = q.get("default");
        let blank = default.is_none_or(|d| d.is_null() || d.as_str() == Some(""));
        let value = if required && blank {
            match q.get("type").and_then(Value::as_str) {
                Some("enum") => nested(q, "options").first().cloned().unwrap_or(Value::Null),
                _ => json!("example"),
            }
        } else if let Some(default) = default {
            default.clone()
        } else {
            continue;
        };
        set_path(&mut doc, variable(q), value);
    }
    doc
}

/// For each list of objects in the scope, a new element left at the form's defaults
/// is placed in `base` (the scope's own object), wrapped up to a whole settings
/// document by `wrap`, and must be accepted. Nested lists are checked only inside
/// an element that passed, so one bad default is reported once.
fn check_sequence_defaults(
    questions: &[Value],
    base: &Value,
    wrap: &dyn Fn(Value) -> Value,
    scope: &str,
    problems: &mut Vec<String>,
) {
    for q in flatten(questions) {
        let sequence = nested(q, "sequence_questions");
        if sequence.is_empty() {
            continue;
        }
        let var = variable(q);
        let in_scope = |element: Value| {
            let mut doc = base.clone();
            set_path(&mut doc, var, json!([element]));
            wrap(doc)
        };
        let element = form_defaults(sequence);
        let doc = in_scope(element.clone());
        match settings_accept(&doc) {
            Ok(_) => check_sequence_defaults(sequence, &element, &in_scope, &format!("{scope}{var}[]."), problems),
            Err(e) => problems.push(format!(
                "a new `{scope}{var}` entry left at its defaults is refused: {e}\n    settings: {doc}"
            )),
        }
    }
}

#[test]
fn questions_ui_defaults_are_accepted_by_the_policy() {
    let questions = questions();
    let mut problems = Vec::new();
    // Each setting alone, at its default.
    for q in flatten(&questions) {
        let Some(default) = q.get("default") else { continue };
        let mut doc = json!({});
        set_path(&mut doc, variable(q), default.clone());
        if let Err(e) = settings_accept(&doc) {
            problems.push(format!(
                "default of `{}` is refused: {e}\n    settings: {doc}",
                variable(q)
            ));
        }
    }
    // The whole form at its defaults is accepted and means the policy's own defaults.
    let all = form_defaults(&questions);
    match settings_accept(&all) {
        Ok(settings) if settings != Settings::default() => problems.push(format!(
            "the form's defaults differ from the policy's defaults:\n    form:   {all}\n    policy: {}",
            serde_json::to_value(Settings::default()).unwrap()
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "the form's defaults together are refused: {e}\n    settings: {all}"
        )),
    }
    // A new entry of every list of objects, left at its defaults.
    check_sequence_defaults(&questions, &json!({}), &|doc| doc, "", &mut problems);
    assert_no_problems(&format!("{QUESTIONS}: a default disagrees with the policy"), &problems);
}
