//! Small helpers over `serde_json::Value` shared by every layer: reading a key
//! of the small objects a pod spec is made of, following a JSON pointer, and
//! naming a value's type or a pointer for messages.

use std::borrow::Cow;

use serde_json::{Map, Value};

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

/// The string at `key` of an object, `""` when absent or not a string.
pub fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    field(map, key).and_then(Value::as_str).unwrap_or("")
}

/// The list at `key` of an object; empty when absent or not a list (the rules
/// report such shapes as malformed, and nothing is planned for them).
pub fn list<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    field(map, key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `Value::pointer` without its per-segment allocation: this runs on every
/// admission, a few times per pod spec. Unescapes `~1`/`~0` only where present.
pub fn pointer<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    tokens(pointer).try_fold(value, |current, token| match current {
        Value::Object(map) => map.get(token.as_ref()),
        Value::Array(items) => items.get(token.parse::<usize>().ok()?),
        _ => None,
    })
}

/// The mutable twin of [`pointer`].
pub fn pointer_mut<'a>(value: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    tokens(pointer).try_fold(value, |current, token| match current {
        Value::Object(map) => map.get_mut(token.as_ref()),
        Value::Array(items) => items.get_mut(token.parse::<usize>().ok()?),
        _ => None,
    })
}

/// The unescaped tokens of a JSON pointer (RFC 6901).
pub fn tokens(pointer: &str) -> impl Iterator<Item = Cow<'_, str>> {
    pointer.split('/').skip(1).map(|token| {
        if token.contains('~') {
            Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(token)
        }
    })
}

/// Renders a JSON pointer as the dotted path Kubernetes users read:
/// `/spec/workloads/1/template/spec` is `spec.workloads[1].template.spec`.
pub fn display_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for token in tokens(pointer) {
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else if token.is_empty() {
            // A key "" has no dotted form; quoted, it reads apart from its parent.
            out.push_str("[\"\"]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

/// The dotted path of the field `key` of the value at the dotted path `at`,
/// where `""` is the object itself: `containers`, not `.containers`, under a
/// pod spec that is the whole object (`podSpecPaths: ["$"]`), as kubectl
/// writes field paths.
pub fn child_path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// The dotted path `at` as a message names it: the object itself, which has
/// no field path, is "the object".
pub fn place(at: &str) -> String {
    if at.is_empty() {
        "the object".to_string()
    } else {
        at.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_are_followed_like_serde_json_does() {
        let v = json!({"a/b": {"~x": [1, {"c": 2}]}});
        for p in ["", "/a~1b", "/a~1b/~0x", "/a~1b/~0x/1/c", "/missing", "/a~1b/~0x/7"] {
            assert_eq!(pointer(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn pointers_display_as_dotted_paths() {
        assert_eq!(
            display_pointer("/spec/workloads/1/template/spec"),
            "spec.workloads[1].template.spec"
        );
        assert_eq!(display_pointer("/spec/a~1b"), "spec.a/b");
        assert_eq!(display_pointer(""), "");
    }
}
