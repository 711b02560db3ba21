//! RFC 6902 JSON patches: computing them and showing them to people.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

pub use json_patch::Patch;

/// The JSON patch turning `original` into `mutated` (possibly empty).
pub fn diff(original: &Value, mutated: &Value) -> Patch {
    json_patch::diff(original, mutated)
}

/// Base64 of the JSON text of the patch — what an AdmissionResponse carries.
pub fn encode(patch: &Patch) -> serde_json::Result<String> {
    Ok(STANDARD.encode(serde_json::to_string(patch)?))
}

/// The patch's operations as JSON values (`{"op":..,"path":..,...}`).
pub fn operations(patch: &Patch) -> Vec<Value> {
    patch.0.iter().filter_map(|op| serde_json::to_value(op).ok()).collect()
}

/// An operation in words: `add /spec/x {"a":1}`, `remove /metadata/labels/y`,
/// `move /to from /from`.
pub fn readable(op: &Value) -> String {
    let name = op.get("op").and_then(Value::as_str).unwrap_or("?");
    let path = op.get("path").and_then(Value::as_str).unwrap_or("");
    let mut line = format!("{name} {}", if path.is_empty() { "\"\"" } else { path });
    if let Some(from) = op.get("from").and_then(Value::as_str) {
        line.push_str(&format!(" from {from}"));
    }
    if let Some(value) = op.get("value") {
        line.push(' ');
        line.push_str(&value.to_string());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_encodes_as_base64_json_array() {
        let before = json!({"metadata": {"name": "p"}, "spec": {"containers": []}});
        let after = json!({"metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"containers": []}});
        let patch = diff(&before, &after);
        let encoded = encode(&patch).unwrap();
        let decoded = STANDARD.decode(encoded).unwrap();
        let text = String::from_utf8(decoded).unwrap();
        assert_eq!(text, r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]"#);
        let mut applied = before.clone();
        json_patch::patch(&mut applied, &patch).unwrap();
        assert_eq!(applied, after);
    }

    #[test]
    fn identical_objects_give_an_empty_patch() {
        let v = json!({"a": [1, 2, {"b": null}]});
        assert!(diff(&v, &v).0.is_empty());
    }

    #[test]
    fn readable_lines_show_one_operation_each() {
        let before = json!({"a": 1, "b": {"c": true}, "d": "x"});
        let after = json!({"a": 2, "b": {"c": true, "e": [1]}});
        let lines: Vec<String> = operations(&diff(&before, &after)).iter().map(readable).collect();
        assert!(lines.contains(&"replace /a 2".to_string()), "{lines:?}");
        assert!(lines.contains(&"add /b/e [1]".to_string()), "{lines:?}");
        assert!(lines.contains(&"remove /d".to_string()), "{lines:?}");
        assert_eq!(lines.len(), 3);
        let moved = readable(&json!({"op": "move", "from": "/x", "path": "/y"}));
        assert_eq!(moved, "move /y from /x");
    }
}
