//! A stream split into documents the way kubectl splits it, keeping where
//! each one is and letting one unreadable document hide no other, and the
//! objects each document holds ([`objects`]: `List`s walked once). Every file
//! the user gives is split here.
//!
//! kubectl (apimachinery's YAMLOrJSONDecoder) reads a stream as JSON when
//! its first non-blank character is `{` ([`is_json`], the one sniffer), else
//! as YAML split at lines that are `---` and nothing else; each YAML document
//! is read on its own (see [`crate::kube_yaml`]). A UTF-8 byte order mark at
//! the start is skipped.

use serde_json::Value;

use crate::kube_yaml::{self, json_positions};
use crate::position::{end_of_content, line_of_next_non_blank, LineCounter, Position, Positions, BOM};

/// One document of a manifest file, numbered from 1 among the file's
/// non-empty documents, with the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub index: usize,
    pub line: usize,
    pub content: Result<Value, String>,
    /// Where each node of the document is written in the text given to
    /// [`documents`], when it could be read (a JSON document is read again
    /// for this, as YAML flow style: [`kube_yaml::json_positions`]).
    pub positions: Option<Positions>,
}

/// Reads every document of a manifest text. Empty and `null` documents
/// (blank, comments only, `---` only) are left out, as kubectl leaves them.
pub fn documents(text: &str) -> Vec<Document> {
    let mut reader = Reader {
        text,
        lines: LineCounter::new(text),
        list: Vec::new(),
    };
    let bom = if text.starts_with(BOM) { BOM.len_utf8() } else { 0 };
    if is_json(&text[bom..]) {
        reader.json(bom);
    } else {
        reader.yaml(bom);
    }
    reader.list
}

/// The documents of a text, read in order.
struct Reader<'t> {
    text: &'t str,
    lines: LineCounter<'t>,
    list: Vec<Document>,
}

impl Reader<'_> {
    fn push(&mut self, line: usize, content: Result<Value, String>, positions: Option<Positions>) {
        let index = self.list.len() + 1;
        self.list.push(Document {
            index,
            line,
            content,
            positions,
        });
    }

    /// The documents of the YAML stream that starts at byte `from`.
    fn yaml(&mut self, from: usize) {
        for (offset, piece) in split_yaml(&self.text[from..]) {
            // Each document is its own YAML stream, as kubectl parses it, so a
            // byte order mark may start each one (files joined with `cat`).
            let text = piece.strip_prefix(BOM).unwrap_or(piece);
            let start = from + offset + (piece.len() - text.len());
            // kubectl reads the first document of each piece (go-yaml's
            // Unmarshal): a `...` or `--- x` line ends what it reads.
            match kube_yaml::parse_first(text) {
                Ok(None) => {}
                Ok(Some(doc)) => {
                    let start = self.lines.at(start);
                    let positions = doc.positions.within(start);
                    let line = positions.get("").map_or(start.line, |root| root.line);
                    self.push(line, Ok(doc.value), Some(positions));
                }
                Err(e) => {
                    // An error found at the end of a document (say, an unclosed
                    // bracket) is placed at the end of its last line, not on the
                    // `---` after it.
                    let start = self.lines.at(start);
                    let end = end_of_content(text);
                    let (line, column) = (e.line.max(1), e.column);
                    let at = if line > end.line {
                        end
                    } else {
                        Position { line, column }
                    }
                    .within(start);
                    let context = e.describe(start.line);
                    let message = format!("invalid YAML: line {}, column {}: {context}", at.line, at.column);
                    self.push(at.line, Err(message), None);
                }
            }
        }
    }

    /// The JSON stream that starts at byte `from`: values one after another.
    /// A value that is not JSON ends the stream (a JSON reader cannot find
    /// where the next value starts); what follows it is tried as YAML, which
    /// also reads JSON-like flow style such as `{a: 1}`. When that fails
    /// too, the JSON error is reported.
    fn json(&mut self, from: usize) {
        let text = &self.text[from..];
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        loop {
            let offset = stream.byte_offset();
            match stream.next() {
                None => return,
                Some(Ok(Value::Null)) => {}
                Some(Ok(value)) => {
                    let start = self.lines.at(from + offset);
                    let positions = json_positions(&text[offset..stream.byte_offset()]).within(start);
                    self.push(line_of_next_non_blank(text, offset), Ok(value), Some(positions));
                }
                Some(Err(json_err)) => {
                    let read = self.list.len();
                    self.yaml(from + offset);
                    if self.list.get(read).is_none_or(|d| d.content.is_err()) {
                        self.list.truncate(read);
                        let line = json_err.line().max(line_of_next_non_blank(text, offset));
                        self.push(line, Err(format!("invalid JSON: {json_err}")), None);
                    }
                    return;
                }
            }
        }
    }
}

/// A line that ends one document and starts the next: `---` and nothing
/// else but trailing blanks.
pub(crate) fn is_separator(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| rest.trim_end().is_empty())
}

/// The pieces of a YAML stream between `---` lines, with their byte offsets.
fn split_yaml(text: &str) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let (mut start, mut offset) = (0, 0);
    for line in text.split_inclusive('\n') {
        if is_separator(line) {
            pieces.push((start, &text[start..offset]));
            start = offset + line.len();
        }
        offset += line.len();
    }
    pieces.push((start, &text[start..]));
    pieces
}

/// The objects a document's value holds, each with its JSON pointer in the
/// document: the value itself (`""`), or the items of a `List` or `*List`
/// (a `kind` ending in `List`, with an `items` array), recursively
/// (`/items/N`). Items of a typed list (`PodList`) without a `kind` get the
/// list's item kind, and its `apiVersion` when they have none.
pub fn objects(value: Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(mut value: Value, pointer: String, out: &mut Vec<(String, Value)>) {
    let kind = value.get("kind").and_then(Value::as_str);
    let item_kind = kind.and_then(|k| k.strip_suffix("List")).map(str::to_string);
    let items = match (&item_kind, value.get_mut("items")) {
        (Some(_), Some(Value::Array(items))) => std::mem::take(items),
        _ => return out.push((pointer, value)),
    };
    let item_kind = item_kind.filter(|k| !k.is_empty());
    let api_version = value.get("apiVersion");
    for (index, mut item) in items.into_iter().enumerate() {
        if let (Value::Object(fields), Some(kind)) = (&mut item, &item_kind) {
            if !fields.contains_key("kind") {
                fields.insert("kind".into(), Value::String(kind.clone()));
                if let (false, Some(v)) = (fields.contains_key("apiVersion"), api_version) {
                    fields.insert("apiVersion".into(), v.clone());
                }
            }
        }
        walk(item, format!("{pointer}/items/{index}"), out);
    }
}

/// Whether a text is read as JSON rather than YAML: kubectl's rule (its
/// first non-blank character is `{`), for every file the user gives.
pub fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(docs: &[Document]) -> Vec<(usize, usize, Result<String, String>)> {
        docs.iter()
            .map(|d| {
                let content = match &d.content {
                    Ok(v) => Ok(v["kind"].as_str().unwrap_or("?").to_string()),
                    Err(e) => Err(e.clone()),
                };
                (d.index, d.line, content)
            })
            .collect()
    }

    #[test]
    fn yaml_streams_split_at_separator_lines_only() {
        let text =
            "---\n# Source: a.yaml\nkind: A\n---   \n\n---\n# nothing\n---\nkind: B\nx: \"---\"\n--- \nkind: C\n";
        let docs = documents(text);
        assert_eq!(
            summary(&docs),
            vec![
                (1, 3, Ok("A".to_string())),
                (2, 9, Ok("B".to_string())),
                (3, 12, Ok("C".to_string()))
            ]
        );
        // `--- x` and `----` are not separators
        assert_eq!(split_yaml("a: 1\n----\n--- b\n").len(), 1);
        // and in a piece, what follows the first document is not read, as
        // kubectl (go-yaml's Unmarshal) does not read it
        let docs = documents("kind: A\n...\nkind: [B\n---\n--- {kind: C}\n--- {kind: D}\n");
        assert_eq!(
            summary(&docs),
            vec![(1, 1, Ok("A".to_string())), (2, 5, Ok("C".to_string()))]
        );
    }

    #[test]
    fn a_bad_document_hides_no_other() {
        let text = "kind: A\n---\nkind: [B\n---\nkind: C\nname: x\nname: y\n---\nkind: D\n";
        let docs = documents(text);
        let got = summary(&docs);
        assert_eq!(got[0], (1, 1, Ok("A".to_string())));
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1, 3, "{got:?}");
        // an unclosed bracket: at the end of its document's last line
        assert_eq!(
            got[1].2,
            Err("invalid YAML: line 3, column 9: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 3, column 7)".to_string())
        );
        assert_eq!(
            got[2],
            (
                3,
                7,
                Err("invalid YAML: line 7, column 1: key \"name\" already set in map".to_string())
            )
        );
        assert_eq!(got[3], (4, 9, Ok("D".to_string())));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let docs = documents("\u{feff}apiVersion: v1\nkind: Pod\n");
        assert_eq!(docs[0].content, Ok(json!({"apiVersion": "v1", "kind": "Pod"})));
        let docs = documents("\u{feff}{\"kind\": \"Pod\"}");
        assert_eq!(docs[0].content, Ok(json!({"kind": "Pod"})));
        // files joined with `cat`: one at the start of a later document too
        let docs = documents("\u{feff}kind: A\n---\n\u{feff}kind: B\n");
        assert_eq!(
            summary(&docs),
            vec![(1, 1, Ok("A".to_string())), (2, 3, Ok("B".to_string()))]
        );
    }

    #[test]
    fn json_streams_keep_lines_and_stop_at_a_broken_value() {
        let docs = documents("{\"kind\": \"A\"}\n\n{\"kind\": \"B\"}\nnull\n{\"kind\": ");
        let got = summary(&docs);
        assert_eq!(got[0], (1, 1, Ok("A".to_string())));
        assert_eq!(got[1], (2, 3, Ok("B".to_string())));
        assert_eq!(got[2].0, 3);
        assert!(matches!(&got[2].2, Err(e) if e.starts_with("invalid JSON")), "{got:?}");
        // flow-style YAML after `{` is still read
        let docs = documents("{kind: A}\n---\nkind: B\n");
        assert_eq!(summary(&docs).len(), 2);
        assert_eq!(docs[1].content, Ok(json!({"kind": "B"})));
    }

    #[test]
    fn lists_are_walked_recursively_and_each_object_keeps_its_pointer() {
        let list = |value: Value| objects(value);
        let out: Vec<_> = [
            json!({"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
                {"apiVersion": "v1", "kind": "List", "items": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}}
                ]}
            ]}),
            json!({"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "c"}}]}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
            json!({"apiVersion": "example.com/v1", "kind": "AllowList", "spec": {}}),
        ]
        .into_iter()
        .flat_map(list)
        .collect();
        let names: Vec<_> = out
            .iter()
            .map(|(pointer, o)| format!("{pointer} {}", o["metadata"]["name"].as_str().unwrap_or("-")))
            .collect();
        assert_eq!(names, ["/items/0 a", "/items/1/items/0 b", "/items/0 c", " d", " -"]);
        assert_eq!(out[2].1["kind"], "Pod");
        assert_eq!(out[2].1["apiVersion"], "v1");
        assert_eq!(out[4].1["kind"], "AllowList");
        // an item given its kind by the list is walked as what it then is
        let nested = json!({"kind": "ListList", "items": [{"items": [{"kind": "Pod"}]}]});
        assert_eq!(list(nested), [("/items/0/items/0".to_string(), json!({"kind": "Pod"}))]);
        assert!(list(json!({"kind": "List", "items": []})).is_empty());
    }

    #[test]
    fn yaml_1_1_values_reach_the_objects() {
        let docs = documents("spec:\n  readOnly: yes\n  mode: 0644\n");
        assert_eq!(docs[0].content, Ok(json!({"spec": {"readOnly": true, "mode": 420}})));
    }
}
