//! Packaging consistency: the files that ship with the policy must agree with
//! each other and with the code.
//!
//! - `Cargo.toml`, `policy-metadata.yml` and `artifacthub-pkg.yml` carry one version;
//! - `policy-metadata.yml` uses only keys policy-evaluator's `Metadata` knows (serde
//!   ignores unknown keys there, so a typo would silently vanish), and every annotation
//!   value has the format kwctl reads it in (authors, URLs, versions, the OCI
//!   repository, lists...), so `kwctl annotate` and `kwctl scaffold artifacthub` accept it;
//! - `hostCapabilities` lists exactly the host calls the policy makes, named as
//!   `kwctl annotate` (1.35 and later) names what it finds in the module, so it
//!   warns of nothing, in the type policy-evaluator reads it as;
//! - `artifacthub-pkg.yml` is what `kwctl scaffold artifacthub -m policy-metadata.yml
//!   -q questions-ui.yml` writes, apart from `createdAt` and the install text;
//! - `questions-ui.yml` asks for every setting the policy accepts and no other, and
//!   every default it offers is accepted by `Settings::from_json`.
//!
//! The accepted settings come from the code (`Settings` and `SecretMount` serialised),
//! never from a hand-written list. What kwctl does was read from kwctl's and
//! policy-evaluator's sources (`scaffold/artifacthub.rs`, `policy_artifacthub.rs`,
//! `policy_metadata.rs`); kwctl itself is not needed to run these tests.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use secret_mounts_policy::settings::{
    ExemptContainer, KeyToPath, LabelSelector, LabelSelectorRequirement, SecretMount, SelectorOperator, Settings,
};
use serde::Deserialize;
use serde_json::{json, Value};

const METADATA: &str = "policy-metadata.yml";
const ARTIFACTHUB: &str = "artifacthub-pkg.yml";
const QUESTIONS: &str = "questions-ui.yml";

/// The serde names of policy-evaluator's `Metadata` fields (src/policy_metadata.rs),
/// minus `protocolVersion`, which `kwctl annotate` asks the Wasm module for.
const METADATA_KEYS: [&str; 9] = [
    "rules",
    "annotations",
    "mutating",
    "backgroundAudit",
    "executionMode",
    "policyType",
    "contextAwareResources",
    "hostCapabilities",
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
    problems.extend(context_aware_problems(top.get("contextAwareResources")));
    if let Some(version) = top.get("minimumKubewardenVersion") {
        if let Err(e) = version
            .as_str()
            .ok_or_else(|| format!("{version} is not a string"))
            .and_then(semver)
        {
            problems.push(format!("`minimumKubewardenVersion`: {e}"));
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

/// A list of `{apiVersion, kind}`, both non-empty; policy-evaluator keeps them in a
/// set, so a repeated entry would be dropped without a word.
fn context_aware_problems(resources: Option<&Value>) -> Vec<String> {
    let Some(resources) = resources else {
        return Vec::new();
    };
    let Some(list) = resources.as_array() else {
        return vec!["`contextAwareResources` must be a list of {apiVersion, kind}".to_string()];
    };
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, resource) in list.iter().enumerate() {
        let well_formed = resource.as_object().is_some_and(|o| {
            o.len() == 2
                && ["apiVersion", "kind"]
                    .iter()
                    .all(|k| o.get(*k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
        });
        if !well_formed {
            problems.push(format!(
                "contextAwareResources[{i}] must be {{apiVersion, kind}}, both non-empty strings"
            ));
        } else if !seen.insert(resource.to_string()) {
            problems.push(format!("contextAwareResources[{i}] repeats an earlier entry"));
        }
    }
    problems
}

/// The shape policy-evaluator's `Rule` deserialises, with its non-empty checks and
/// its rule that `*` stands alone in a list.
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
        for key in ["apiGroups", "apiVersions", "operations"] {
            let list = rule.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            if list.len() > 1 && list.iter().any(|v| v == "*") {
                problems.push(format!("rules[{i}].{key}: `*` must be the only entry"));
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
// Annotation values, read the way kwctl reads them
// ---------------------------------------------------------------------------

/// How policy-evaluator reads an annotation it knows. `kwctl scaffold artifacthub`
/// (the release step that writes artifacthub-pkg.yml) and `kwctl annotate` stop at
/// the first value they cannot read, so each value is checked here in the same terms:
/// at least as strictly as kwctl, never less.
#[derive(Clone, Copy, Debug)]
enum AnnotationFormat {
    /// Free text, copied as it is; it must not be blank.
    Text,
    /// A SemVer 2.0.0 version (kwctl parses it with the `semver` crate).
    Semver,
    /// An absolute http(s) URL; kwctl parses it and writes back its serialised form.
    Url,
    /// An OCI repository; kwctl appends `:v<version>` and parses an image reference.
    OciRepository,
    /// Comma-separated `Name <email>`; kwctl parses an RFC 5322 address list, checks
    /// each address and lists them as the package's maintainers.
    Authors,
    /// Comma-separated keywords, none empty.
    Keywords,
    /// Comma-separated Kubernetes kinds: the resources Artifact Hub shows.
    Kinds,
    /// `true` or `false`.
    Bool,
    /// A git tag that replaces `v<version>` in the release link.
    ReleaseTag,
    /// Written by `kwctl annotate` itself (its own version; the README as usage), so a
    /// value here would be replaced.
    SetByAnnotate,
}

const TITLE_ANNOTATION: &str = "io.kubewarden.policy.title";
const DESCRIPTION_ANNOTATION: &str = "io.kubewarden.policy.description";
const AUTHOR_ANNOTATION: &str = "io.kubewarden.policy.author";
const URL_ANNOTATION: &str = "io.kubewarden.policy.url";
const OCI_ANNOTATION: &str = "io.kubewarden.policy.ociUrl";
const SOURCE_ANNOTATION: &str = "io.kubewarden.policy.source";
const LICENSE_ANNOTATION: &str = "io.kubewarden.policy.license";
const HIDDEN_UI_ANNOTATION: &str = "io.kubewarden.hidden-ui";
const RESOURCES_ANNOTATION: &str = "io.artifacthub.resources";
const DISPLAY_NAME_ANNOTATION: &str = "io.artifacthub.displayName";
const KEYWORDS_ANNOTATION: &str = "io.artifacthub.keywords";
const RELEASE_TAG_ANNOTATION: &str = "com.github.release.tag";

/// Every annotation policy-evaluator reads (its `constants.rs`), with its format.
const KNOWN_ANNOTATIONS: [(&str, AnnotationFormat); 17] = [
    (TITLE_ANNOTATION, AnnotationFormat::Text),
    (VERSION_ANNOTATION, AnnotationFormat::Semver),
    (DESCRIPTION_ANNOTATION, AnnotationFormat::Text),
    (AUTHOR_ANNOTATION, AnnotationFormat::Authors),
    (URL_ANNOTATION, AnnotationFormat::Url),
    (OCI_ANNOTATION, AnnotationFormat::OciRepository),
    (SOURCE_ANNOTATION, AnnotationFormat::Url),
    (LICENSE_ANNOTATION, AnnotationFormat::Text),
    ("io.kubewarden.policy.usage", AnnotationFormat::SetByAnnotate),
    ("io.kubewarden.policy.severity", AnnotationFormat::Text),
    ("io.kubewarden.policy.category", AnnotationFormat::Text),
    (HIDDEN_UI_ANNOTATION, AnnotationFormat::Bool),
    ("io.kubewarden.kwctl", AnnotationFormat::SetByAnnotate),
    (RESOURCES_ANNOTATION, AnnotationFormat::Kinds),
    (DISPLAY_NAME_ANNOTATION, AnnotationFormat::Text),
    (KEYWORDS_ANNOTATION, AnnotationFormat::Keywords),
    (RELEASE_TAG_ANNOTATION, AnnotationFormat::ReleaseTag),
];

/// The annotations without which `kwctl scaffold artifacthub` stops.
const REQUIRED_ANNOTATIONS: [&str; 5] = [
    TITLE_ANNOTATION,
    VERSION_ANNOTATION,
    DESCRIPTION_ANNOTATION,
    DISPLAY_NAME_ANNOTATION,
    OCI_ANNOTATION,
];

/// The namespaces kwctl reads annotations from: an unknown key there is most likely a
/// misspelt known one, which kwctl would ignore without a word.
const KWCTL_PREFIXES: [&str; 2] = ["io.kubewarden.", "io.artifacthub."];

/// Every reason kwctl would refuse, or silently ignore, one of the annotations.
fn annotation_problems(annotations: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut problems: Vec<String> = REQUIRED_ANNOTATIONS
        .iter()
        .filter(|key| !annotations.contains_key(**key))
        .map(|key| format!("annotation `{key}` is missing; `kwctl scaffold artifacthub` needs it"))
        .collect();
    for (key, value) in annotations {
        let Some(text) = value.as_str() else {
            continue; // reported by metadata_uses_only_keys_policy_evaluator_knows
        };
        match KNOWN_ANNOTATIONS.iter().find(|(known, _)| known == key) {
            Some((_, format)) => {
                if let Err(e) = check_annotation(*format, text) {
                    problems.push(format!("annotation `{key}`: {e}"));
                }
            }
            None if KWCTL_PREFIXES.iter().any(|p| key.starts_with(p)) => problems.push(format!(
                "annotation `{key}` is not one kwctl reads, so it would be ignored; known: {}",
                KNOWN_ANNOTATIONS.map(|(k, _)| k).join(", ")
            )),
            None => {}
        }
    }
    if let Some(version) = annotations.get(VERSION_ANNOTATION).and_then(Value::as_str) {
        if semver(version).is_ok() {
            if let Err(e) = oci_tag(&format!("v{version}")) {
                problems.push(format!("annotation `{VERSION_ANNOTATION}`: {e}"));
            }
        }
    }
    problems
}

fn check_annotation(format: AnnotationFormat, text: &str) -> Result<(), String> {
    match format {
        AnnotationFormat::Text if text.trim().is_empty() => Err("must not be empty".to_string()),
        AnnotationFormat::Text => Ok(()),
        AnnotationFormat::Semver => semver(text),
        AnnotationFormat::Url => canonical_url(text).map(drop),
        AnnotationFormat::OciRepository => oci_repository(text),
        AnnotationFormat::Authors => authors(text).map(drop),
        AnnotationFormat::Keywords => csv_items(text).map(drop),
        AnnotationFormat::Kinds => kinds(text).map(drop),
        AnnotationFormat::Bool if text == "true" || text == "false" => Ok(()),
        AnnotationFormat::Bool => Err(format!("{text:?} must be the string \"true\" or \"false\"")),
        AnnotationFormat::ReleaseTag => release_tag(text),
        AnnotationFormat::SetByAnnotate => Err("`kwctl annotate` writes this one itself; remove it".to_string()),
    }
}

/// SemVer 2.0.0 as the `semver` crate reads it: MAJOR.MINOR.PATCH without leading
/// zeros, then an optional `-pre.release` and `+build`.
fn semver(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not a SemVer version ({why}); write e.g. 1.2.3 or 1.2.3-rc.1"
        ))
    };
    let (rest, build) = text.split_once('+').map_or((text, None), |(r, b)| (r, Some(b)));
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3 || !numbers.iter().all(|n| is_decimal(n) && n.parse::<u64>().is_ok()) {
        return bad("it needs three decimal numbers without leading zeros");
    }
    let numeric = |id: &str| id.bytes().all(|b| b.is_ascii_digit());
    if pre.is_some_and(|p| {
        p.split('.')
            .any(|id| !is_identifier(id) || (numeric(id) && !is_decimal(id)))
    }) {
        return bad("a pre-release identifier is empty, has a character other than [0-9A-Za-z-] or a leading zero");
    }
    if build.is_some_and(|b| !b.split('.').all(is_identifier)) {
        return bad("a build identifier is empty or has a character other than [0-9A-Za-z-]");
    }
    Ok(())
}

fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_decimal(number: &str) -> bool {
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && (number == "0" || !number.starts_with('0'))
}

/// Labels of letters, digits and inner `-`, joined by single dots.
fn is_dns_name(name: &str) -> bool {
    name.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// An absolute http(s) URL already in the form kwctl writes back (`url::Url`'s
/// serialisation), so homeURL and the links are the annotation's own text: a lower-case
/// host, a path, no trailing `/` (kwctl appends `/releases/...` to the source URL), no
/// empty, `.` or `..` segments, no query or fragment, nothing that would be
/// percent-encoded. Returns the host.
fn canonical_url(text: &str) -> Result<&str, String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not an absolute URL that kwctl writes back unchanged: {why}"
        ))
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return bad("it has no scheme; start it with https://");
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = authority
        .split_once(':')
        .map_or((authority, None), |(h, p)| (h, Some(p)));
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return bad("the scheme must be https or http"),
    };
    if !is_dns_name(host) || host.bytes().any(|b| b.is_ascii_uppercase()) {
        return bad("the host must be a lower-case DNS name");
    }
    if port.is_some_and(|p| !is_decimal(p) || p == default_port) {
        return bad("a port must be a number, and not the scheme's default");
    }
    if path.is_empty() || path.ends_with('/') || path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return bad("it needs a path after the host, without a trailing `/` or empty, `.` or `..` segments");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    let escapes_ok = path
        .split('%')
        .skip(1)
        .all(|after| after.len() >= 2 && after.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
    if !path.bytes().all(allowed) || !escapes_ok {
        return bad(
            "the path may hold only letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes (no query, no fragment)",
        );
    }
    Ok(host)
}

/// An OCI repository with an explicit registry, written as kwctl writes it back:
/// kwctl parses `<repository>:v<version>` as an image reference, which takes a first
/// part without `.` or `:` (and not `localhost`) for a Docker Hub path and rewrites
/// it, so only an explicit registry keeps containersImages equal to this text.
fn oci_repository(text: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{text:?} is not an OCI repository kwctl keeps as it is: {why}"));
    let Some((registry, path)) = text.split_once('/') else {
        return bad("write it as <registry>/<path>, e.g. ghcr.io/org/policies/name, without a tag");
    };
    if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
        return bad("the first part must be a registry (a host with a `.`, a port, or localhost)");
    }
    if registry == "index.docker.io" || (registry == "docker.io" && !path.contains('/')) {
        return bad("write Docker Hub repositories as docker.io/<namespace>/<name>");
    }
    let (host, port) = registry.split_once(':').map_or((registry, None), |(h, p)| (h, Some(p)));
    if !is_dns_name(host) || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return bad("the registry must be a DNS name with an optional numeric port");
    }
    if path.len() > 255 {
        return bad("the path after the registry is longer than 255 characters");
    }
    if !path.split('/').all(is_oci_path_component) {
        return bad("each path part must be lower-case letters and digits joined by `.`, `_`, `__` or dashes (no tag)");
    }
    Ok(())
}

/// Runs of `[a-z0-9]` joined by one `.`, one `_`, two `_` or any number of `-`.
fn is_oci_path_component(component: &str) -> bool {
    let is_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    component.starts_with(is_alnum)
        && component.ends_with(is_alnum)
        && component
            .split(is_alnum)
            .filter(|separator| !separator.is_empty())
            .all(|separator| matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-'))
}

/// An OCI tag: a letter, digit or `_`, then up to 127 of those, `.` or `-`.
fn oci_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "image tag {tag:?} is not a valid OCI tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ))
    }
}

/// A release tag kwctl puts into the release link; kwctl percent-encodes anything
/// else, which would make the link unreadable, so only tag-safe characters pass.
fn release_tag(tag: &str) -> Result<(), String> {
    if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Ok(())
    } else {
        Err(format!(
            "{tag:?} must be a git tag of letters, digits, `.`, `_` and `-`"
        ))
    }
}

/// Comma-separated items, each trimmed of spaces as kwctl trims them; an empty item
/// (a leading, trailing or doubled comma) is refused, as kwctl refuses it.
fn csv_items(text: &str) -> Result<Vec<&str>, String> {
    let items: Vec<&str> = text.split(',').map(|item| item.trim_matches(' ')).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(format!(
            "{text:?} has an empty item; separate non-empty items with single commas"
        ));
    }
    Ok(items)
}

/// Kubernetes kinds: each an upper-case letter then letters and digits.
fn kinds(text: &str) -> Result<Vec<&str>, String> {
    let items = csv_items(text)?;
    match items.iter().find(|kind| {
        !kind.starts_with(|c: char| c.is_ascii_uppercase()) || !kind.bytes().all(|b| b.is_ascii_alphanumeric())
    }) {
        Some(kind) => Err(format!("{kind:?} is not a Kubernetes kind (e.g. Pod, CronJob)")),
        None => Ok(items),
    }
}

/// The maintainers kwctl reads from the author annotation: `Name <email>, ...`. kwctl
/// parses an RFC 5322 address list; this takes its plain form only (a name needing no
/// quotes, an address needing no quotes), and every entry must have a name and an
/// address, where kwctl would skip an empty entry.
fn authors(text: &str) -> Result<Vec<(&str, &str)>, String> {
    text.split(',').map(str::trim).map(author).collect()
}

fn author(entry: &str) -> Result<(&str, &str), String> {
    let malformed = || {
        format!("{entry:?} is not `Name <email>`; list the authors as e.g. `Jane Doe <jane@example.org>, Joe Bloggs <joe@example.org>`")
    };
    let (name, rest) = entry.split_once('<').ok_or_else(malformed)?;
    let address = rest.strip_suffix('>').ok_or_else(malformed)?;
    let name = name.trim();
    if name.is_empty() || name.contains(|c: char| "()<>[]:;@\\,\"".contains(c) || c.is_control()) {
        return Err(malformed());
    }
    email_address(address).map_err(|why| format!("{entry:?}: {address:?} is not an email address: {why}"))?;
    Ok((name, address))
}

/// An address in the plain form the `email_address` crate accepts: a dot-atom local
/// part and a domain of DNS labels with at least one dot.
fn email_address(address: &str) -> Result<(), &'static str> {
    let (local, domain) = address.rsplit_once('@').ok_or("it has no `@`")?;
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
    if local.is_empty() || local.len() > 64 || !local.split('.').all(|a| !a.is_empty() && a.bytes().all(atext)) {
        return Err("the part before `@` must be letters, digits and !#$%&'*+/=?^_`{|}~- between single dots");
    }
    if !domain.contains('.') || domain.len() > 253 || !is_dns_name(domain) {
        return Err("the part after `@` must be a domain name such as example.org");
    }
    Ok(())
}

#[test]
fn metadata_annotations_are_readable_by_kwctl() {
    let metadata = load(METADATA);
    assert_no_problems(
        &format!("{METADATA}: kwctl would refuse or ignore these annotations"),
        &annotation_problems(annotations(&metadata, METADATA)),
    );
}

/// The checks above can fail: each refuses what kwctl refuses and takes what it takes.
#[test]
fn annotation_checks_refuse_what_kwctl_refuses() {
    use AnnotationFormat as F;
    let refused = [
        (F::Authors, "secret-mounts-policy developers"),
        (F::Authors, ""),
        (F::Authors, "Ann Example ann@example.org"),
        (F::Authors, "Ann Example <not an address>"),
        (F::Authors, "Ann <ann@example.org>,,Bob <bob@example.org>"),
        (F::Semver, "1.0"),
        (F::Semver, "v1.0.0"),
        (F::Semver, "01.0.0"),
        (F::Semver, "1.0.0-rc.01"),
        (F::Semver, "1.0.0-"),
        (F::Url, "github.com/example/policy"),
        (F::Url, "https://github.com"),
        (F::Url, "https://github.com/example/policy/"),
        (F::Url, "https://GitHub.com/example/policy"),
        (F::Url, "https://github.com/example policy"),
        (F::Url, "ftp://example.org/policy"),
        (F::OciRepository, "policy"),
        (F::OciRepository, "example/policy"),
        (F::OciRepository, "ghcr.io/Example/policy"),
        (F::OciRepository, "ghcr.io/example/policy:latest"),
        (F::OciRepository, "docker.io/policy"),
        (F::Keywords, "pod,,secret"),
        (F::Keywords, "pod, secret,"),
        (F::Kinds, "pods, Deployment"),
        (F::Bool, "yes"),
        (F::ReleaseTag, "v1.0.0/rc"),
        (F::Text, " "),
        (F::SetByAnnotate, "1.0.0"),
    ];
    let accepted = [
        (F::Authors, "Ann Example <ann@example.org>"),
        (
            F::Authors,
            "Ann Example <ann@example.org>, Bob <bob.b+policies@mail.example.org>",
        ),
        (F::Semver, "0.1.0"),
        (F::Semver, "10.20.30-rc.1+build.007"),
        (F::Url, "https://github.com/example/policy"),
        (F::Url, "https://example.org:8443/a/b~c"),
        (F::OciRepository, "ghcr.io/example/policies/secret-mounts"),
        (F::OciRepository, "localhost:5000/policy"),
        (F::OciRepository, "docker.io/example/my__policy.v2"),
        (F::Keywords, "pod, secret , vault secrets operator"),
        (F::Kinds, "Pod, CronJob"),
        (F::Bool, "false"),
        (F::ReleaseTag, "v1.0.0-rc.1"),
    ];
    let mut problems = Vec::new();
    for (format, text) in refused {
        if check_annotation(format, text).is_ok() {
            problems.push(format!("{format:?} {text:?} is accepted, kwctl refuses it"));
        }
    }
    for (format, text) in accepted {
        if let Err(e) = check_annotation(format, text) {
            problems.push(format!("{format:?} {text:?} is refused, kwctl takes it: {e}"));
        }
    }
    assert_no_problems("annotation checks disagree with kwctl", &problems);
}

/// The plural Kubernetes gives a regular kind (`Pod` → `pods`, `NetworkPolicy` →
/// `networkpolicies`, `Ingress` → `ingresses`).
fn resource_of_kind(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| lower.ends_with(end)) {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// Artifact Hub shows `io.artifacthub.resources` as what the policy targets: it must
/// name the kinds of exactly the resources the rules select.
#[test]
fn artifacthub_resources_are_the_kinds_the_rules_select() {
    let metadata = load(METADATA);
    let listed = annotation(&metadata, METADATA, RESOURCES_ANNOTATION);
    let kinds = kinds(listed).unwrap_or_else(|e| panic!("{METADATA}: annotation `{RESOURCES_ANNOTATION}`: {e}"));
    let listed: BTreeSet<String> = kinds.iter().map(|k| resource_of_kind(k)).collect();
    let selected: BTreeSet<String> = metadata["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["resources"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(|resource| resource.split('/').next().unwrap_or(resource).to_string())
        .filter(|resource| resource != "*")
        .collect();
    let mut problems = Vec::new();
    for missing in selected.difference(&listed) {
        problems.push(format!(
            "the rules select `{missing}`, whose kind `{RESOURCES_ANNOTATION}` does not list"
        ));
    }
    for extra in listed.difference(&selected) {
        problems.push(format!(
            "`{RESOURCES_ANNOTATION}` lists the kind of `{extra}`, which no rule selects"
        ));
    }
    assert_no_problems(
        &format!("{METADATA}: `{RESOURCES_ANNOTATION}` disagrees with `rules`"),
        &problems,
    );
}

// ---------------------------------------------------------------------------
// artifacthub-pkg.yml: what `kwctl scaffold artifacthub` writes
// ---------------------------------------------------------------------------

type Yaml = serde_yaml::Value;

/// The Artifact Hub package kwctl recommends installing alongside every policy.
const CONTROLLER_PACKAGE: &str = "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller";
/// kwctl names itself, not the policy's authors, as every package's provider.
const PROVIDER: &str = "kubewarden";

fn y(text: &str) -> Yaml {
    Yaml::String(text.to_string())
}

/// A mapping that keeps its keys in the order given, as serde writes a struct's fields.
fn ymap(pairs: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Mapping(pairs.into_iter().map(|(key, value)| (y(key), value)).collect())
}

fn to_yaml(value: &Value) -> Yaml {
    serde_yaml::to_value(value).expect("JSON values convert to YAML")
}

/// The document `kwctl scaffold artifacthub -m policy-metadata.yml -q questions-ui.yml`
/// writes (policy-evaluator's `ArtifactHubPkg::from_metadata`), key for key and in its
/// order. Two values are the committed file's own: `createdAt`, the time kwctl runs,
/// and `install`, where the file shows a whole ClusterAdmissionPolicy instead of kwctl's
/// generic text. Only for annotations that passed `annotation_problems`.
fn scaffolded_package(metadata: &Value, questions: &str, committed: &Value) -> Yaml {
    let ann = |key: &str| metadata["annotations"].get(key).and_then(Value::as_str);
    let required = |key: &str| ann(key).expect("checked by annotation_problems");
    let version = required(VERSION_ANNOTATION);
    let image = format!("{}:v{version}", required(OCI_ANNOTATION));
    let mut fields = vec![
        ("version", y(version)),
        ("name", y(required(TITLE_ANNOTATION))),
        ("displayName", y(required(DISPLAY_NAME_ANNOTATION))),
        ("createdAt", to_yaml(&committed["createdAt"])),
        ("description", y(required(DESCRIPTION_ANNOTATION))),
    ];
    let optional = [("license", LICENSE_ANNOTATION), ("homeURL", URL_ANNOTATION)];
    fields.extend(
        optional
            .into_iter()
            .filter_map(|(field, key)| Some((field, y(ann(key)?)))),
    );
    fields.push((
        "containersImages",
        Yaml::Sequence(vec![ymap(vec![("name", y("policy")), ("image", y(&image))])]),
    ));
    if let Some(keywords) = ann(KEYWORDS_ANNOTATION) {
        let keywords = csv_items(keywords).expect("checked by annotation_problems");
        fields.push(("keywords", Yaml::Sequence(keywords.into_iter().map(y).collect())));
    }
    if let Some(source) = ann(SOURCE_ANNOTATION) {
        fields.push(("links", package_links(source, version, ann(RELEASE_TAG_ANNOTATION))));
    }
    fields.push(("install", to_yaml(&committed["install"])));
    if let Some(author_list) = ann(AUTHOR_ANNOTATION) {
        let authors = authors(author_list).expect("checked by annotation_problems");
        let maintainers = authors
            .into_iter()
            .map(|(name, email)| ymap(vec![("name", y(name)), ("email", y(email))]));
        fields.push(("maintainers", Yaml::Sequence(maintainers.collect())));
    }
    fields.push(("provider", ymap(vec![("name", y(PROVIDER))])));
    fields.push((
        "recommendations",
        Yaml::Sequence(vec![ymap(vec![("url", y(CONTROLLER_PACKAGE))])]),
    ));
    fields.push(("annotations", package_annotations(metadata, questions)));
    ymap(fields)
}

/// A source on github.com also gets a link to the release's policy.wasm.
fn package_links(source: &str, version: &str, release_tag: Option<&str>) -> Yaml {
    let source_link = ymap(vec![("name", y("source")), ("url", y(source))]);
    if canonical_url(source) != Ok("github.com") {
        return Yaml::Sequence(vec![source_link]);
    }
    let release = release_tag.map_or_else(|| format!("v{version}"), str::to_string);
    let wasm = format!("{source}/releases/download/{release}/policy.wasm");
    Yaml::Sequence(vec![ymap(vec![("name", y("policy")), ("url", y(&wasm))]), source_link])
}

/// The package's `annotations`, a map of strings kwctl writes sorted by key.
fn package_annotations(metadata: &Value, questions: &str) -> Yaml {
    let ann = |key: &str| metadata["annotations"].get(key).and_then(Value::as_str);
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    out.insert("kubewarden/mutation", metadata["mutating"].to_string());
    if let Some(resources) = context_aware_yaml(&metadata["contextAwareResources"]) {
        out.insert("kubewarden/contextAwareResources", resources);
    }
    out.insert(RULES_ANNOTATION, rules_yaml(&metadata["rules"]));
    out.insert(QUESTIONS_ANNOTATION, questions.to_string());
    if let Some(hidden) = ann(HIDDEN_UI_ANNOTATION) {
        out.insert("kubewarden/hidden-ui", hidden.to_string());
    }
    if let Some(resources) = ann(RESOURCES_ANNOTATION) {
        out.insert("kubewarden/resources", resources.to_string());
    }
    Yaml::Mapping(out.into_iter().map(|(key, value)| (y(key), y(&value))).collect())
}

/// The rules as kwctl writes them into their annotation: each rule's fields in the
/// order of policy-evaluator's `Rule`.
fn rules_yaml(rules: &Value) -> String {
    let rules: Vec<Yaml> = rules
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| ymap(RULE_KEYS.iter().map(|key| (*key, to_yaml(&rule[*key]))).collect()))
        .collect();
    serde_yaml::to_string(&rules).expect("rules serialise")
}

/// The context-aware resources as kwctl writes them, sorted and without repeats (a
/// set in policy-evaluator); nothing at all when there are none.
fn context_aware_yaml(resources: &Value) -> Option<String> {
    let set: BTreeSet<(&str, &str)> = resources
        .as_array()?
        .iter()
        .map(|r| (r["apiVersion"].as_str().unwrap_or(""), r["kind"].as_str().unwrap_or("")))
        .collect();
    if set.is_empty() {
        return None;
    }
    let list: Vec<Yaml> = set
        .into_iter()
        .map(|(api_version, kind)| ymap(vec![("apiVersion", y(api_version)), ("kind", y(kind))]))
        .collect();
    Some(serde_yaml::to_string(&list).expect("resources serialise"))
}

/// The file's leading comment lines, and the document after them.
fn split_header(text: &str) -> (&str, &str) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if !(line.starts_with('#') || line.trim().is_empty()) {
            break;
        }
        at += line.len();
    }
    text.split_at(at)
}

fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let line = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    Some(format!(
        "first difference at line {} after the header comment:\n  kwctl writes: {:?}\n  file has:     {:?}",
        line + 1,
        e.get(line).copied().unwrap_or("<end of document>"),
        a.get(line).copied().unwrap_or("<end of document>"),
    ))
}

/// artifacthub-pkg.yml is, byte for byte after its header comment, what the release
/// workflow's `kwctl scaffold artifacthub` would write, except `createdAt` and `install`.
/// `UPDATE_ARTIFACTHUB=1 cargo test --test policy packaging::` rewrites it so.
#[test]
fn artifacthub_pkg_is_what_kwctl_scaffold_writes() {
    let metadata = load(METADATA);
    assert_no_problems(
        &format!("{METADATA}: `kwctl scaffold artifacthub` would stop at these annotations"),
        &annotation_problems(annotations(&metadata, METADATA)),
    );
    let text = read(ARTIFACTHUB);
    let (header, body) = split_header(&text);
    let committed = parse_yaml(ARTIFACTHUB, body);
    let questions = read(QUESTIONS);
    assert!(
        !questions.trim().is_empty(),
        "{QUESTIONS}: kwctl refuses an empty questions file"
    );
    let expected = serde_yaml::to_string(&scaffolded_package(&metadata, &questions, &committed)).unwrap();
    if std::env::var_os("UPDATE_ARTIFACTHUB").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(ARTIFACTHUB);
        std::fs::write(&path, format!("{header}{expected}")).expect("write artifacthub-pkg.yml");
        return;
    }
    if let Some(difference) = first_difference(&expected, body) {
        panic!(
            "{ARTIFACTHUB} is not what `kwctl scaffold artifacthub -m {METADATA} -q {QUESTIONS}` writes; \
             {difference}\n(rewrite it with UPDATE_ARTIFACTHUB=1 cargo test --test policy packaging::)"
        );
    }
}

/// The two values kwctl would write differently are still what Artifact Hub expects.
#[test]
fn artifacthub_created_at_and_install_are_present() {
    let pkg = load(ARTIFACTHUB);
    let created_at = str_at(&pkg, ARTIFACTHUB, "createdAt");
    assert!(
        is_rfc3339(created_at),
        "{ARTIFACTHUB}: `createdAt` {created_at:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"
    );
    assert!(
        !str_at(&pkg, ARTIFACTHUB, "install").trim().is_empty(),
        "{ARTIFACTHUB}: `install` is empty"
    );
}

/// `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`.
fn is_rfc3339(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let shape = |s: &str, pattern: &str| {
        s.len() == pattern.len()
            && s.bytes()
                .zip(pattern.bytes())
                .all(|(c, p)| if p == b'9' { c.is_ascii_digit() } else { c == p })
    };
    let Some((date_time, zone)) = text.strip_suffix('Z').map(|dt| (dt, "Z")).or_else(|| {
        text.len()
            .checked_sub(6)
            .filter(|i| text.is_char_boundary(*i))
            .map(|i| text.split_at(i))
    }) else {
        return false;
    };
    let (main, fraction) = date_time
        .split_once('.')
        .map_or((date_time, None), |(m, f)| (m, Some(f)));
    shape(main, "9999-99-99T99:99:99")
        && fraction.is_none_or(digits)
        && (zone == "Z" || shape(zone, "+99:99") || shape(zone, "-99:99"))
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
/// (every top-level key) with one fully populated `secretMounts` entry and one
/// `exemptContainers` entry.
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
        // Set by vaultSync.discover only; never read from settings.
        declared_by: None,
    };
    let exempt = ExemptContainer {
        name: "vault-agent".to_string(),
        image: Some("hashicorp/vault:*".to_string()),
    };
    let mut shape = serde_json::to_value(Settings::default()).expect("Settings serialise");
    shape["secretMounts"] = json!([entry]);
    shape["exemptContainers"] = json!([exempt]);
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

// ---------------------------------------------------------------------------
// hostCapabilities
// ---------------------------------------------------------------------------

/// policy-evaluator's `Metadata` (crates/policy-evaluator/src/policy_metadata.rs
/// in adm-controller, as of kwctl 1.36), field for field and type for type, but
/// strict: an unknown key or a value of another type is an error here, where
/// policy-evaluator would drop the key without a word. `hostCapabilities` is an
/// `Option<BTreeSet<String>>` there, in camelCase like every field. No version
/// of `Metadata` has had `deny_unknown_fields` (read back to its first version,
/// May 2021), so a kwctl older than 1.35, which has no such field, ignores the
/// key and still annotates.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct StrictMetadata {
    protocol_version: Option<String>,
    rules: Vec<Value>,
    annotations: Option<BTreeMap<String, String>>,
    mutating: bool,
    background_audit: Option<bool>,
    execution_mode: Option<String>,
    policy_type: Option<String>,
    context_aware_resources: Option<BTreeSet<StrictContextAwareResource>>,
    host_capabilities: Option<BTreeSet<String>>,
    minimum_kubewarden_version: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct StrictContextAwareResource {
    api_version: String,
    kind: String,
}

/// The host capabilities policy-evaluator knows (its `CAPABILITY_TREE`, and the
/// PolicyServer webhook's `capabilityTree`), as `kwctl annotate` names them:
/// `<namespace>/<operation>`.
const KNOWN_CAPABILITIES: [&str; 11] = [
    "oci/v1/verify",
    "oci/v1/manifest_digest",
    "oci/v1/oci_manifest",
    "oci/v1/oci_manifest_config",
    "oci/v2/verify",
    "net/v1/dns_lookup_host",
    "crypto/v1/is_certificate_trusted",
    "kubernetes/list_resources_by_namespace",
    "kubernetes/list_resources_all",
    "kubernetes/get_resource",
    "kubernetes/can_i",
];

fn strict_metadata() -> StrictMetadata {
    serde_yaml::from_str(&read(METADATA))
        .unwrap_or_else(|e| panic!("{METADATA}: not in the shape of policy-evaluator's Metadata: {e}"))
}

/// Every `host_call("kubewarden", NAMESPACE, OPERATION, ...)` of the policy's
/// source, as `NAMESPACE/OPERATION`: what `kwctl annotate` finds in the module.
fn host_calls_in_source() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut calls = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("host_call(") {
            let args: Vec<&str> = text[at + "host_call(".len()..]
                .splitn(4, ',')
                .take(3)
                .map(|a| a.trim().trim_matches('"'))
                .collect();
            assert_eq!(args.len(), 3, "{}: a host_call without three arguments", path.display());
            assert_eq!(args[0], "kubewarden", "{}: binding {:?}", path.display(), args[0]);
            calls.insert(format!("{}/{}", args[1], args[2]));
        }
    }
    calls
}

#[test]
fn metadata_parses_as_policy_evaluator_reads_it() {
    let metadata = strict_metadata();
    assert!(metadata.mutating);
    assert!(
        metadata.protocol_version.is_none(),
        "kwctl annotate sets protocolVersion"
    );
}

#[test]
fn host_capabilities_are_exactly_the_host_calls_the_policy_makes() {
    let declared = strict_metadata().host_capabilities.unwrap_or_else(|| {
        panic!("{METADATA}: `hostCapabilities` is missing; kwctl annotate warns of every host call")
    });
    let used = host_calls_in_source();
    assert_eq!(
        used,
        BTreeSet::from(["kubernetes/list_resources_by_namespace".to_string()]),
        "the policy's host calls changed: update hostCapabilities, contextAwareResources and the README"
    );
    assert_eq!(
        declared, used,
        "{METADATA}: hostCapabilities must be what kwctl annotate finds in the module, or it warns"
    );
    for capability in &declared {
        assert!(
            KNOWN_CAPABILITIES.contains(&capability.as_str()),
            "{METADATA}: {capability:?} is no host capability policy-evaluator knows"
        );
    }
}

/// The strict reading refuses what it should: a typo'd key, a capability given
/// as a string instead of a list, a non-string entry.
#[test]
fn the_strict_metadata_reading_refuses_other_shapes() {
    let base = "rules: []\nmutating: true\n";
    for bad in [
        "hostCapability: [kubernetes/list_resources_by_namespace]\n",
        "hostCapabilities: kubernetes/list_resources_by_namespace\n",
        "hostCapabilities: [{kubernetes: list_resources_by_namespace}]\n",
    ] {
        let text = format!("{base}{bad}");
        assert!(
            serde_yaml::from_str::<StrictMetadata>(&text).is_err(),
            "accepted: {text}"
        );
    }
    let good: StrictMetadata = serde_yaml::from_str(&format!(
        "{base}hostCapabilities: [kubernetes/list_resources_by_namespace]\n"
    ))
    .unwrap();
    assert_eq!(good.host_capabilities.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------
// The policy's OCI reference, everywhere it is written
// ---------------------------------------------------------------------------

/// The files that tell users where the policy is published.
fn published_docs() -> Vec<String> {
    let mut files = vec![
        "README.md".to_string(),
        ARTIFACTHUB.to_string(),
        "CONTRIBUTING.md".to_string(),
    ];
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages: Vec<String> = std::fs::read_dir(docs)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// The repository part of every reference to the policy's OCI artifact (a
/// `<registry>/<path>/<name>` followed by `:tag` or `@sha256:`) in `text`,
/// with its line and whether it is a ClusterAdmissionPolicy `module:` value.
fn policy_references<'a>(text: &'a str, name: &str) -> Vec<(usize, &'a str, &'a str)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices(&format!("/{name}")) {
            let after = &line[at + 1 + name.len()..];
            if !(after.starts_with(':') || after.starts_with("@sha256:")) {
                continue;
            }
            // Back over the registry and path, to whitespace, a quote or `//`.
            let begin = line[..at]
                .char_indices()
                .rev()
                .find(|&(i, c)| c.is_whitespace() || "`'\"(".contains(c) || line[..=i].ends_with("//"))
                .map_or(0, |(i, _)| i + 1);
            found.push((number + 1, &line[begin..at + 1 + name.len()], line));
        }
    }
    found
}

/// README, docs, CONTRIBUTING and the Artifact Hub package name the policy's
/// OCI artifact by the repository of `io.kubewarden.policy.ociUrl`, which is
/// where release.yml pushes it, and a `module:` takes it as `registry://`.
#[test]
fn every_oci_reference_is_the_metadata_oci_url() {
    let metadata = load(METADATA);
    let oci = annotation(&metadata, METADATA, OCI_ANNOTATION);
    let name = oci.rsplit('/').next().unwrap();
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for file in published_docs() {
        let text = read(&file);
        for (line, reference, whole) in policy_references(&text, name) {
            *seen.entry(file.clone()).or_insert(0) += 1;
            if reference != oci {
                problems.push(format!(
                    "{file}:{line}: `{reference}` is not `{oci}` ({OCI_ANNOTATION})"
                ));
            }
            if whole.trim_start().starts_with("module:") && !whole.contains(&format!("registry://{oci}")) {
                problems.push(format!("{file}:{line}: a module is `registry://{oci}:<tag>`"));
            }
        }
    }
    for file in ["README.md", ARTIFACTHUB] {
        assert!(seen.contains_key(file), "{file} names no `{oci}:<tag>`: {seen:?}");
    }
    assert_no_problems("an OCI reference of the policy is not its ociUrl", &problems);
}
