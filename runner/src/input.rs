//! The text of a file the user gives (or of standard input), and the
//! inputs that are one value: a request, the settings, metadata, a rule
//! catalogue. Each is split as a manifest stream is ([`crate::stream`]).

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

/// Reads a whole text input; `-` means standard input.
pub fn read_text(path: &str, what: &str) -> Result<String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {what} from standard input"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(Path::new(path)).with_context(|| format!("cannot read {what} {path}"))
    }
}

/// The name to show for an input (`<stdin>` for `-`).
pub fn origin_name(path: &str) -> String {
    if path == "-" {
        "<stdin>".to_string()
    } else {
        path.to_string()
    }
}

/// Parses every document of a JSON or YAML stream, dropping empty ones
/// (blank, `---` only, or comments only). JSON may be a sequence of values.
///
/// Every file the user gives (manifests, cluster state, requests, settings,
/// metadata) is read by this one reader, as kubectl reads a manifest
/// ([`crate::stream::documents`]): YAML 1.1 scalars as go-yaml v2 resolves
/// them, so `on` is `true` and `0644` is 420 here as in the cluster.
///
/// One exception keeps a request or settings file in JSON as kwctl reads it:
/// JSON nested deeper than serde_json's limit (128 levels) is refused, not
/// read again as YAML flow style (where that limit does not apply).
pub fn parse_documents(text: &str) -> Result<Vec<Value>> {
    if crate::stream::is_json(text) {
        let too_deep = serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .find_map(|value| {
                value
                    .err()
                    .filter(|e| e.to_string().starts_with("recursion limit exceeded"))
            });
        if let Some(err) = too_deep {
            bail!("invalid JSON: {err}");
        }
    }
    crate::stream::documents(text)
        .into_iter()
        .map(|d| d.content.map_err(|m| anyhow!("document {}: {m}", d.index)))
        .collect()
}

/// Parses an input that must hold exactly one document (a request, the
/// settings). `None` when the input is empty.
pub fn parse_single_document(text: &str) -> Result<Option<Value>> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(None),
        1 => Ok(docs.pop()),
        n => bail!("expected a single document, found {n}"),
    }
}

/// Where the policy settings come from.
#[derive(Debug, Clone, Default)]
pub struct SettingsSource {
    pub json: Option<String>,
    pub path: Option<String>,
}

/// Loads the settings object (`{}` when none is given; `null` counts as none).
///
/// A settings file is read as the `settings:` of a ClusterAdmissionPolicy
/// manifest reaches the policy through kubectl and the API server: as YAML 1.1
/// (go-yaml v2), so a plain `on`, `yes` or `y` is `true`, `0644` is the number
/// 420, and only quoted `"on"` or `"0644"` are strings. `--settings-json` is
/// JSON.
pub fn load_settings(source: &SettingsSource) -> Result<Value> {
    let (value, origin) = if let Some(text) = &source.json {
        let v: Value = serde_json::from_str(text).map_err(|e| anyhow!("cannot parse --settings-json: {e}"))?;
        (Some(v), "--settings-json".to_string())
    } else if let Some(path) = &source.path {
        let text = read_text(path, "settings file")?;
        let v = parse_single_document(&text)
            .with_context(|| format!("cannot parse settings file {}", origin_name(path)))?;
        (v, format!("settings file {}", origin_name(path)))
    } else {
        (None, String::new())
    };
    match value {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(other) => bail!(
            "invalid settings in {origin}: expected an object (a map), got {}",
            type_name(&other)
        ),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::is_json;

    #[test]
    fn one_sniffer_reads_json_where_kubectl_does() {
        assert!(is_json("\n  {\"a\": 1}"));
        assert!(!is_json("a: {b: 1}"));
        // a top-level array is read as YAML (a flow sequence): the same values
        assert!(!is_json("[1, 2]"));
        assert_eq!(parse_documents("[1, 2]").unwrap(), vec![serde_json::json!([1, 2])]);
    }
    use serde_json::json;

    #[test]
    fn yaml_stream_skips_empty_and_comment_only_documents() {
        let text = "---\n# Source: chart/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "ConfigMap");
        assert_eq!(docs[1]["metadata"]["name"], "b");
    }

    #[test]
    fn json_documents_and_streams() {
        assert_eq!(parse_documents(r#"{"a": 1}"#).unwrap(), vec![json!({"a": 1})]);
        assert_eq!(
            parse_documents("{\"a\": 1}\n{\"b\": 2}\n").unwrap(),
            vec![json!({"a": 1}), json!({"b": 2})]
        );
        // YAML flow style that is not strict JSON still parses
        assert_eq!(parse_documents("{a: 1}").unwrap(), vec![json!({"a": 1})]);
        let err = parse_documents("{\"a\": ").unwrap_err().to_string();
        assert!(err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn json_past_serde_jsons_nesting_limit_is_refused_as_kwctl_refuses_it() {
        let deep = |n: usize| format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n)).replacen("{\"a\":}", "{}", 1);
        assert!(parse_documents(&deep(100)).is_ok());
        let err = parse_documents(&deep(200)).unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON: recursion limit exceeded"), "{err}");
    }

    #[test]
    fn invalid_yaml_names_the_document() {
        let err = parse_documents("a: 1\n---\nb: [1,\n").unwrap_err().to_string();
        assert!(err.contains("document 2"), "{err}");
    }

    #[test]
    fn yaml_merge_keys_are_applied() {
        let docs = parse_documents("base: &b {x: 1}\nobj:\n  <<: *b\n  z: 2\n").unwrap();
        assert_eq!(docs[0]["obj"], json!({"x": 1, "z": 2}));
    }

    #[test]
    fn settings_default_to_empty_object_and_must_be_maps() {
        assert_eq!(load_settings(&SettingsSource::default()).unwrap(), json!({}));
        let s = |j: &str| SettingsSource {
            json: Some(j.to_string()),
            path: None,
        };
        assert_eq!(load_settings(&s("null")).unwrap(), json!({}));
        assert_eq!(load_settings(&s(r#"{"a":1}"#)).unwrap(), json!({"a": 1}));
        let err = load_settings(&s("[1]")).unwrap_err().to_string();
        assert!(err.contains("expected an object"), "{err}");
        assert!(load_settings(&s("{")).is_err());
    }

    #[test]
    fn settings_files_are_yaml_1_1_as_in_a_policy_manifest() {
        let dir = std::env::temp_dir().join(format!("policy-runner-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.yml");
        std::fs::write(&file, "enabled: on\nmode: 0644\nquoted: \"on\"\nshape: [\n  a,\n]\n").unwrap();
        let source = SettingsSource {
            json: None,
            path: Some(file.display().to_string()),
        };
        assert_eq!(
            load_settings(&source).unwrap(),
            json!({"enabled": true, "mode": 420, "quoted": "on", "shape": ["a"]})
        );
        std::fs::write(&file, "a: 1\n  b: 2\n").unwrap();
        let err = format!("{:#}", load_settings(&source).unwrap_err());
        assert!(
            err.contains("cannot parse settings file") && err.contains("line 2, column"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn single_document_inputs() {
        assert_eq!(parse_single_document("").unwrap(), None);
        assert_eq!(parse_single_document("# nothing\n").unwrap(), None);
        assert_eq!(parse_single_document("a: 1").unwrap(), Some(json!({"a": 1})));
        assert!(parse_single_document("a: 1\n---\nb: 2\n").is_err());
    }
}
