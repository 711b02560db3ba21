//! Settings errors placed in the user's settings file.
//!
//! A policy reads its settings from the JSON the host sends, and a serde_json
//! error names a place in that JSON (`at line 1 column 82`), which the user
//! never wrote: the runner sends the settings file's value re-serialised,
//! compact and with its keys sorted. When the policy's refusal ends with such
//! a place, the runner finds the node of the sent JSON there (the key or
//! value being read when the error was found) and names where that node is
//! written in the --settings-path file or the --settings-json text
//! (`at settings.yaml:5:1`), with the same [`Positions`] that place findings
//! in manifests. When that cannot be done (settings from standard input, a
//! place not in the sent JSON), the policy's words are kept as they are.

use jsonptr::Token;
use serde_json::Value;

use crate::host::SettingsRefused;
use crate::input::{load_settings, SettingsSource};
use crate::position::Position;
use crate::stream::documents;

/// The error as printed (`{err:#}`), a settings refusal's place in the sent
/// JSON replaced by the place in the user's settings.
pub fn describe(err: &anyhow::Error, source: &SettingsSource) -> String {
    let text = format!("{err:#}");
    let Some(refused) = err.chain().find_map(|e| e.downcast_ref::<SettingsRefused>()) else {
        return text;
    };
    let Some((at, column)) = json_place(&refused.message) else {
        return text;
    };
    match user_place(source, column) {
        Some(place) if text.ends_with(&refused.message) => {
            format!(
                "{}{} at {place}",
                &text[..text.len() - refused.message.len()],
                &refused.message[..at]
            )
        }
        _ => text,
    }
}

/// serde_json's ` at line 1 column N` at the end of a message: where it
/// starts in the message, and N. Only line 1: the runner sends one line.
fn json_place(message: &str) -> Option<(usize, usize)> {
    let at = message.rfind(" at line 1 column ")?;
    let column = message[at..].strip_prefix(" at line 1 column ")?.parse().ok()?;
    Some((at, column))
}

/// `settings.yaml:5:1`: where the node at (1-based) `column` of the sent
/// JSON is written in the user's settings.
fn user_place(source: &SettingsSource, column: usize) -> Option<String> {
    let (origin, text) = match (&source.json, &source.path) {
        (Some(json), _) => ("--settings-json".to_string(), json.clone()),
        (None, Some(path)) if path != "-" => (path.clone(), std::fs::read_to_string(path).ok()?),
        _ => return None,
    };
    let value = load_settings(source).ok()?;
    let pointer = pointer_at(&value, column.checked_sub(1)?)?;
    let position = written_at(&text, &pointer)?;
    Some(format!("{origin}:{}:{}", position.line, position.column))
}

/// The pointer of the innermost node (a key counts as its member's node)
/// whose text holds byte `offset` of `value` serialised as the host sends it
/// (compact); `None` past its end.
fn pointer_at(value: &Value, offset: usize) -> Option<String> {
    if offset >= compact_length(value) {
        return None;
    }
    // each member: its pointer segment, the length of its key and `:`, its value
    let members: Vec<(String, usize, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, member)| (Token::new(key).encoded().to_string(), compact_length(key) + 1, member))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (i.to_string(), 0, item))
            .collect(),
        _ => return Some(String::new()),
    };
    let mut start = 1; // after `{` or `[`
    for (segment, key, member) in members {
        let (member_start, end) = (start + key, start + key + compact_length(member));
        if (start..member_start.saturating_sub(1)).contains(&offset) {
            return Some(format!("/{segment}"));
        }
        if (member_start..end).contains(&offset) {
            return Some(format!("/{segment}{}", pointer_at(member, offset - member_start)?));
        }
        start = end + 1; // after `,`
    }
    Some(String::new())
}

fn compact_length<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_string(value).map_or(0, |text| text.len())
}

/// Where the node at `pointer`, or its nearest written ancestor, is in the
/// settings text (its one document, YAML or JSON).
fn written_at(text: &str, pointer: &str) -> Option<Position> {
    documents(text).into_iter().next()?.positions?.nearest(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Strict {
        mount_path: Option<String>,
        action: Option<Action>,
        mounts: Option<Vec<Strict>>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Action {
        Reject,
    }

    /// The column serde_json names when reading `value` as sent.
    fn error_column(value: &Value) -> usize {
        let sent = serde_json::to_string(value).unwrap();
        let err = serde_json::from_str::<Strict>(&sent).unwrap_err();
        assert_eq!(err.line(), 1);
        err.column()
    }

    fn place(text: &str, value: &Value) -> Option<(usize, usize)> {
        let pointer = pointer_at(value, error_column(value) - 1)?;
        written_at(text, &pointer).map(|p| (p.line, p.column))
    }

    #[test]
    fn serde_json_errors_are_placed_where_the_user_wrote_the_node() {
        let yaml = "# settings\nmountPath: /etc/secrets\nmounts:\n  - mountPath: /a\n    mountPth: /b\n";
        let value = crate::input::parse_single_document(yaml).unwrap().unwrap();
        // the unknown key, at its key (line 5 of the file, not column 60 of the JSON)
        assert_eq!(place(yaml, &value), Some((5, 5)));
        let yaml = "mountPath: /x\naction:   rejekt\n";
        let value = crate::input::parse_single_document(yaml).unwrap().unwrap();
        // a bad value: at its key
        assert_eq!(place(yaml, &value), Some((2, 1)));
        let json = "{\n  \"mounts\": [{\"mountPath\": \"/a\"}, {\"é\": 1}]\n}";
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(place(json, &value), Some((2, 36)));
    }

    #[test]
    fn a_refusal_names_the_users_file_or_is_kept() {
        let dir = std::env::temp_dir().join(format!("policy-runner-settings-place-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.yaml");
        std::fs::write(&file, "mountPath: /x\n\nmountPth: /y\n").unwrap();
        let path = file.display().to_string();
        let source = SettingsSource {
            json: None,
            path: Some(path.clone()),
        };
        let refusal = |message: &str| {
            anyhow::Error::new(SettingsRefused {
                message: message.to_string(),
            })
            .context("module p.wasm")
        };
        // {"mountPath":"/x","mountPth":"/y"}: column 28 is the key's closing quote
        let err = refusal("unknown field `mountPth` at line 1 column 28");
        assert_eq!(
            describe(&err, &source),
            format!("module p.wasm: Provided settings are not valid: unknown field `mountPth` at {path}:3:1")
        );
        // a place that is not in the sent JSON, or no place: the policy's words
        let err = refusal("bad at line 1 column 99");
        assert!(describe(&err, &source).ends_with("bad at line 1 column 99"));
        let err = refusal("mountPath \"/x\": must be /etc/secrets");
        assert!(describe(&err, &source).ends_with("must be /etc/secrets"));
        let json = SettingsSource {
            json: Some(r#"{"mountPth": "/y", "mountPath": "/x"}"#.into()),
            path: None,
        };
        let err = refusal("unknown field `mountPth` at line 1 column 28");
        assert!(
            describe(&err, &json).ends_with("unknown field `mountPth` at --settings-json:1:2"),
            "{}",
            describe(&err, &json)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
