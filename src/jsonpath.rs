//! The `podSpecPaths` JSONPath expressions: checked once when the settings are
//! validated, and evaluated to the JSON pointers of the nodes they select.

use std::collections::BTreeMap;

use serde_json::Value;

/// Bounds on a `podSpecPaths` expression: generous for real paths, small enough
/// that parsing cannot run out of stack.
const MAX_LEN: usize = 512;
const MAX_BRACKETS: usize = 32;

/// Checks that a JSONPath expression parses and cannot make `jsonpath_lib`
/// panic, for `validate_settings`.
pub fn check(path: &str) -> Result<(), String> {
    if !path.starts_with('$') {
        return Err("must be a JSONPath expression starting with '$', e.g. \"$.spec.template.spec\"".into());
    }
    // The parser recurses per bracket: bound the expression before handing it over,
    // so a hostile setting cannot exhaust the module's stack.
    if path.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} characters"));
    }
    let depth = path.bytes().filter(|b| matches!(b, b'[' | b'(')).count();
    if depth > MAX_BRACKETS {
        return Err(format!("has more than {MAX_BRACKETS} brackets and parentheses"));
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
            inside
                .split(':')
                .nth(2)
                .is_some_and(|step| step.trim().parse::<i64>() == Ok(0))
        })
}

/// A node a JSONPath expression selected: where it is, and what it is.
pub struct Selected<'v> {
    /// JSON pointer of the node (RFC 6901).
    pub pointer: String,
    pub node: &'v Value,
}

/// Evaluates an expression (checked by [`check`]) and turns each selected node
/// into the JSON pointer where it lives, by matching node addresses in one walk
/// of the object. In the order selected; a node selected twice is listed once.
pub fn select<'v>(object: &'v Value, path: &str) -> Result<Vec<Selected<'v>>, String> {
    let selected = jsonpath_lib::select(object, path).map_err(|e| e.to_string())?;
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    // Node address -> its first position in the selection.
    let mut wanted: BTreeMap<*const Value, usize> = BTreeMap::new();
    for (i, node) in selected.iter().enumerate() {
        wanted.entry(std::ptr::from_ref(*node)).or_insert(i);
    }
    let mut pointers: Vec<Option<String>> = vec![None; selected.len()];
    find_addresses(object, &mut String::new(), &mut wanted, &mut pointers);
    Ok(pointers
        .into_iter()
        .zip(selected)
        .filter_map(|(pointer, node)| {
            Some(Selected {
                pointer: pointer?,
                node,
            })
        })
        .collect())
}

/// Depth-first walk recording the pointer of every node whose address was
/// selected; stops as soon as every selected node is found.
fn find_addresses(
    value: &Value,
    pointer: &mut String,
    wanted: &mut BTreeMap<*const Value, usize>,
    pointers: &mut [Option<String>],
) {
    if let Some(position) = wanted.remove(&std::ptr::from_ref(value)) {
        if let Some(slot) = pointers.get_mut(position) {
            *slot = Some(pointer.clone());
        }
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

    #[test]
    fn syntax_and_hazards_are_checked() {
        assert!(check("$.spec.template.spec").is_ok());
        assert!(check("spec.template").is_err());
        assert!(check("$.spec[").is_err());
        let deep = format!("$.spec{}", "[?(@.a".repeat(40));
        assert!(check(&deep).unwrap_err().contains("more than 32 brackets"));
        assert!(check(&format!("$.{}", "a".repeat(600)))
            .unwrap_err()
            .contains("longer than 512"));
        assert!(check("$.spec[?(@.x == 1e400)]").unwrap_err().contains("1e400"));
        assert!(check("$[?(@ < -1e999)]").unwrap_err().contains("out of range"));
        assert!(check("$.spec[::0]").unwrap_err().contains("step 0"));
        assert!(check("$.spec[0:2:0]").unwrap_err().contains("step 0"));
        assert!(check("$.spec[0:4:2]").is_ok());
        assert!(check("$.spec[?(@.x == 1.5e3)]").is_ok());
    }

    #[test]
    fn selected_nodes_get_their_pointers() {
        let obj = json!({"spec": {"a/b": {"spec": {}}, "l": [{"x": 1}, {"x": 2}]}});
        let found = select(&obj, "$.spec['a/b'].spec").unwrap();
        assert_eq!(found[0].pointer, "/spec/a~1b/spec");
        let found = select(&obj, "$.spec.l[*]").unwrap();
        let pointers: Vec<&str> = found.iter().map(|s| s.pointer.as_str()).collect();
        assert_eq!(pointers, ["/spec/l/0", "/spec/l/1"]);
    }
}
