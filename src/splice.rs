//! apply: the planned edits spliced into the object's own JSON text.
//!
//! Every edit the planner makes appends: entries to a list (created when absent
//! or `null`), or `readOnly: true` to a mount. Those are insertions into the
//! object's text at places a scan of the text finds, so the mutated object is
//! the request's bytes with the additions spliced in: nothing is parsed into a
//! `Value` and written back, and every byte the policy did not mean to change
//! stays as it was.
//!
//! The text is the object the view was parsed from (so it is valid JSON with
//! the view's shape along every path an edit takes), and the planner only
//! targets what the view holds: containers and volumes that exist, lists that
//! are lists (a pod spec with a malformed field gets no plan), sources that are
//! in the text (items for a source the plan adds are folded into that source).
//! So an edit has its place unless a field it writes is of the wrong type
//! where the rules do not look (`projected.sources: 5`); then [`apply`] says
//! which, and the answer is a finding naming it rather than a mutation missing
//! an edit.
//! Appends to one list are merged into one insertion, so a list is created at
//! most once. Each edit is defined once, as a [`Change`] ([`crate::plan`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::json;
use crate::plan::{self, Change, PlannedEdits, Unplaced};

/// A byte range of the text: `start` is the first byte of a value, `end` one past its last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// One step into a JSON value: a key of an object or the index of a list
/// entry, as the value at hand turns out to be.
type Step<'p> = Cow<'p, str>;

/// A change to the text, addressed from the object's root.
struct Placed<'p> {
    path: Vec<Step<'p>>,
    change: Change,
    /// The pod spec's dotted location, to name an edit that cannot be placed.
    spec_at: &'p str,
}

/// The object's text with every planned edit spliced in; `mount_path` is the
/// policy's mount path (for new mounts). An edit the text has no place for is
/// returned, and nothing is spliced: no edit is dropped silently.
pub fn apply(object: &str, planned: &[PlannedEdits], mount_path: &str) -> Result<String, Unplaced> {
    let displays: Vec<String> = planned.iter().map(|p| json::display_pointer(&p.pointer)).collect();
    let mut splicer = Splicer::new(object);
    for placed in changes(planned, &displays, mount_path) {
        let done = match &placed.change {
            Change::Append { key, items, .. } => splicer.append(&placed.path, key, items),
            Change::SetTrue { key, .. } => splicer.set_true(&placed.path, key),
        };
        done.ok_or_else(|| placed.change.describe(placed.spec_at))?;
    }
    Ok(splicer.finish())
}

/// The edits as changes to the text, appends to one list merged in edit order.
fn changes<'p>(planned: &'p [PlannedEdits], displays: &'p [String], mount_path: &str) -> Vec<Placed<'p>> {
    let mut out: Vec<Placed> = Vec::new();
    // (list's object, key) → its Append in `out`: one lookup per edit, so a
    // pod spec of 10,000 containers gaining a mount each stays linear.
    let mut appends: BTreeMap<(Vec<Step>, &'static str), usize> = BTreeMap::new();
    for (PlannedEdits { pointer, edits }, spec_at) in planned.iter().zip(displays) {
        let spec: Vec<Step> = json::tokens(pointer).collect();
        for edit in edits {
            let change = edit.change(mount_path);
            let path: Vec<Step> = spec.iter().cloned().chain(change.at().iter().map(step_text)).collect();
            if let Change::Append { key, items, .. } = &change {
                if let Some(Change::Append { items: list, .. }) = appends
                    .get(&(path.clone(), *key))
                    .and_then(|&i| out.get_mut(i))
                    .map(|p| &mut p.change)
                {
                    list.extend(items.iter().cloned());
                    continue;
                }
                appends.insert((path.clone(), *key), out.len());
            }
            out.push(Placed { path, change, spec_at });
        }
    }
    out
}

fn step_text<'p>(step: &plan::Step) -> Step<'p> {
    match step {
        plan::Step::Key(k) => Cow::Borrowed(*k),
        plan::Step::Index(i) => Cow::Owned(i.to_string()),
    }
}

struct Splicer<'a> {
    text: &'a str,
    /// (offset of `{` or `[`, offset of its closing bracket), by opening offset:
    /// one pass over the text finds them all, so skipping a value is a lookup.
    brackets: Vec<(usize, usize)>,
    /// Every object scanned so far: its start and its (quoted key, value) entries.
    /// Several edits reach into the same objects; each is scanned once.
    objects: BTreeMap<usize, Vec<(&'a str, Span)>>,
    /// Every list scanned so far: its start and its entries.
    lists: BTreeMap<usize, Vec<Span>>,
    /// Replacements of a span's text (an insertion is an empty span), in the
    /// order the edits made them.
    replacements: Vec<(Span, String)>,
}

impl<'a> Splicer<'a> {
    fn new(text: &'a str) -> Self {
        Splicer {
            text,
            brackets: match_brackets(text.as_bytes()),
            objects: BTreeMap::new(),
            lists: BTreeMap::new(),
            replacements: Vec::new(),
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The whole text's value.
    fn root(&self) -> Span {
        let bytes = self.text.as_bytes();
        Span {
            start: skip_ws(bytes, 0),
            end: self.text.trim_end().len(),
        }
    }

    /// The span reached by following `path` from the root.
    fn follow(&mut self, path: &[Step]) -> Option<Span> {
        let mut span = self.root();
        for step in path {
            span = match self.byte(span.start)? {
                b'{' => self.field(span, step)?,
                b'[' => self.element(span, step.parse().ok()?)?,
                _ => return None,
            };
        }
        Some(span)
    }

    /// The value of the last occurrence of `key` in the object at `span` (the
    /// last occurrence is the one a parser keeps).
    fn field(&mut self, span: Span, key: &str) -> Option<Span> {
        if !self.objects.contains_key(&span.start) {
            let entries = self.scan_object(span)?;
            self.objects.insert(span.start, entries);
        }
        self.objects
            .get(&span.start)?
            .iter()
            .rev()
            .find(|(quoted, _)| key_matches(quoted, key))
            .map(|(_, value)| *value)
    }

    fn scan_object(&self, span: Span) -> Option<Vec<(&'a str, Span)>> {
        let bytes = self.text.as_bytes();
        let mut entries = Vec::new();
        let mut at = skip_ws(bytes, span.start + 1);
        while self.byte(at)? == b'"' {
            let key_end = skip_string(bytes, at);
            let value_start = skip_ws(bytes, skip_ws(bytes, key_end) + 1); // past the ':'
            let value_end = self.skip_value(value_start)?;
            let key = self.text.get(at..key_end)?;
            entries.push((
                key,
                Span {
                    start: value_start,
                    end: value_end,
                },
            ));
            at = self.after_entry(value_end)?;
        }
        Some(entries)
    }

    /// Entry `index` of the list at `span`.
    fn element(&mut self, span: Span, index: usize) -> Option<Span> {
        if !self.lists.contains_key(&span.start) {
            let entries = self.scan_list(span)?;
            self.lists.insert(span.start, entries);
        }
        self.lists.get(&span.start)?.get(index).copied()
    }

    fn scan_list(&self, span: Span) -> Option<Vec<Span>> {
        let mut entries = Vec::new();
        let mut at = skip_ws(self.text.as_bytes(), span.start + 1);
        while self.byte(at)? != b']' {
            let end = self.skip_value(at)?;
            entries.push(Span { start: at, end });
            at = self.after_entry(end)?;
        }
        Some(entries)
    }

    /// Past the `,` that may follow an entry ending at `end`, and the spaces.
    fn after_entry(&self, end: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let at = skip_ws(bytes, end);
        Some(if self.byte(at)? == b',' {
            skip_ws(bytes, at + 1)
        } else {
            at
        })
    }

    /// One past the end of the value starting at `at`.
    fn skip_value(&self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        match self.byte(at)? {
            b'"' => Some(skip_string(bytes, at)),
            b'{' | b'[' => {
                let i = self.brackets.binary_search_by_key(&at, |(open, _)| *open).ok()?;
                self.brackets.get(i).map(|(_, close)| close + 1)
            }
            // A number, `true`, `false` or `null`: up to the next delimiter.
            _ => Some(
                bytes
                    .iter()
                    .skip(at)
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .map_or(bytes.len(), |n| at + n),
            ),
        }
    }

    /// Appends `items` to the list at `key` of the object at `path`.
    fn append(&mut self, path: &[Step], key: &str, items: &[Value]) -> Option<()> {
        let object = self.follow(path)?;
        let joined = items.iter().map(Value::to_string).collect::<Vec<_>>().join(",");
        match self.field(object, key) {
            Some(list) if self.byte(list.start) == Some(b'[') => {
                let text = if self.is_empty(list) {
                    joined
                } else {
                    format!(",{joined}")
                };
                self.insert(list.end - 1, text);
            }
            Some(null) if self.text.get(null.start..null.end) == Some("null") => {
                self.replacements.push((null, format!("[{joined}]")));
            }
            Some(_) => return None,
            None => self.add_key(object, key, &format!("[{joined}]")),
        }
        Some(())
    }

    /// Sets `key` to `true` in the object at `path`.
    fn set_true(&mut self, path: &[Step], key: &str) -> Option<()> {
        let object = self.follow(path)?;
        match self.field(object, key) {
            Some(value) if self.text.get(value.start..value.end) == Some("true") => {}
            Some(value) => self.replacements.push((value, "true".to_string())),
            None => self.add_key(object, key, "true"),
        }
        Some(())
    }

    fn add_key(&mut self, object: Span, key: &str, value: &str) {
        let comma = if self.is_empty(object) { "" } else { "," };
        self.insert(object.end - 1, format!("{comma}\"{key}\":{value}"));
    }

    /// Is the object or list at `span` empty, in the text and in what was inserted into it?
    fn is_empty(&self, span: Span) -> bool {
        let close = span.end - 1;
        skip_ws(self.text.as_bytes(), span.start + 1) == close
            && !self.replacements.iter().any(|(s, _)| s.start == close)
    }

    fn insert(&mut self, at: usize, text: String) {
        self.replacements.push((Span { start: at, end: at }, text));
    }

    /// The text with every replacement made.
    fn finish(mut self) -> String {
        // A stable sort keeps the edits' order among insertions at one offset.
        self.replacements.sort_by_key(|(span, _)| span.start);
        let added: usize = self.replacements.iter().map(|(_, t)| t.len()).sum();
        let mut out = String::with_capacity(self.text.len() + added);
        let mut copied = 0;
        for (span, text) in &self.replacements {
            out.push_str(self.text.get(copied..span.start).unwrap_or(""));
            out.push_str(text);
            copied = span.end;
        }
        out.push_str(self.text.get(copied..).unwrap_or(""));
        out
    }
}

/// Does the key as written (with its quotes) equal `key`? Escaped keys are decoded first.
fn key_matches(quoted: &str, key: &str) -> bool {
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or("");
    if inner.contains('\\') {
        serde_json::from_str::<String>(quoted).is_ok_and(|k| k == key)
    } else {
        inner == key
    }
}

fn skip_ws(json: &[u8], at: usize) -> usize {
    json.iter()
        .skip(at)
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(json.len(), |n| at + n)
}

/// One past the closing quote of the string starting at `at`. Strings are most
/// of a manifest's bytes: `memchr2` finds the next quote or backslash.
fn skip_string(json: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    loop {
        match json.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
            None => return json.len(),
            Some(n) if json.get(i + n) == Some(&b'\\') => i += n + 2,
            Some(n) => return i + n + 1,
        }
    }
}

/// Every `{`/`[` of the text with its closing bracket, in text order.
fn match_brackets(json: &[u8]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = json.get(i) {
        match byte {
            b'"' => {
                i = skip_string(json, i);
                continue;
            }
            b'{' | b'[' => {
                open.push(pairs.len());
                pairs.push((i, i));
            }
            b'}' | b']' => {
                if let Some(pair) = open.pop().and_then(|p| pairs.get_mut(p)) {
                    pair.1 = i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Edit;
    use crate::violation::{ContainerList, ContainerRef};
    use serde_json::json;

    const SPEC: &str = "/spec";

    fn app() -> ContainerRef {
        ContainerRef {
            list: ContainerList::Containers,
            name: "app".into(),
        }
    }

    fn add_mount(index: usize) -> Edit {
        Edit::AddMount {
            who: app(),
            index,
            volume: "secrets".into(),
            entries: vec![],
        }
    }

    fn add_volume() -> Edit {
        Edit::AddVolume {
            name: "secrets".into(),
            sources: vec![json!({"secret": {"name": "db"}})],
        }
    }

    fn add_source(name: &str) -> Edit {
        Edit::AddSource {
            volume: 0,
            name: "s".into(),
            source: json!({"secret": {"name": name}}),
            entries: vec![crate::violation::EntryRef {
                name: "e".into(),
                secret: name.into(),
                declared_by: None,
            }],
            who: app(),
        }
    }

    fn text(json: &str, edits: &[Edit]) -> String {
        let planned = [PlannedEdits {
            pointer: SPEC.into(),
            edits: edits.to_vec(),
        }];
        apply(json, &planned, "/etc/secrets").expect("every edit is placed")
    }

    fn spliced(json: &str, edits: &[Edit]) -> Value {
        serde_json::from_str(&text(json, edits)).expect("spliced text is JSON")
    }

    #[test]
    fn appends_to_lists_and_creates_absent_ones() {
        let json = r#"{"spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}, {"name": "b"}]}}"#;
        let out = spliced(json, &[add_mount(0), add_mount(1), add_volume()]);
        assert_eq!(
            out,
            json!({"spec": {
                "containers": [
                    {"name": "app", "volumeMounts": [
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "secrets", "mountPath": "/etc/secrets", "readOnly": true}
                    ]},
                    {"name": "b", "volumeMounts": [{"name": "secrets", "mountPath": "/etc/secrets", "readOnly": true}]}
                ],
                "volumes": [{"name": "secrets", "projected": {"sources": [{"secret": {"name": "db"}}]}}]
            }})
        );
    }

    #[test]
    fn pod_specs_at_escaped_keys_and_list_indexes_are_found() {
        let json = r#"{"spec": {"a/b": [{"x": 1}, {"spec": {"containers": [{"name": "app"}]}}]}}"#;
        let planned = [PlannedEdits {
            pointer: "/spec/a~1b/1/spec".into(),
            edits: vec![add_mount(0)],
        }];
        let out: Value = serde_json::from_str(&apply(json, &planned, "/etc/secrets").unwrap()).unwrap();
        assert_eq!(
            out["spec"]["a/b"][1]["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "secrets"
        );
        assert_eq!(out["spec"]["a/b"][0], json!({"x": 1}));
    }

    #[test]
    fn keeps_every_other_byte_as_it_was() {
        // Odd spacing, a float serde_json would print differently, key order.
        let json = "{ \"spec\" : {\n  \"z\": 1.0e2,\n  \"containers\" : [ { \"name\":\"app\" , \"volumeMounts\" : [ ] } ] ,\"a\":[]\n} }";
        let out = text(json, &[add_mount(0)]);
        let mount =
            serde_json::to_string(&json!({"name": "secrets", "mountPath": "/etc/secrets", "readOnly": true})).unwrap();
        let expected = format!(
            "{{ \"spec\" : {{\n  \"z\": 1.0e2,\n  \"containers\" : [ {{ \"name\":\"app\" , \"volumeMounts\" : [ {mount}] }} ] ,\"a\":[]\n}} }}"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn a_null_list_is_replaced_and_an_empty_object_gains_its_first_key() {
        let out = spliced(
            r#"{"spec": {"containers": [{}], "volumes": null}}"#,
            &[add_mount(0), add_volume()],
        );
        assert_eq!(out["spec"]["containers"][0]["volumeMounts"][0]["name"], "secrets");
        assert_eq!(out["spec"]["volumes"][0]["name"], "secrets");
    }

    #[test]
    fn the_last_of_duplicate_keys_is_the_one_edited() {
        let json =
            r#"{"spec": {"containers": [], "containers": [{"name": "app", "volumeMounts": [], "volumeMounts": []}]}}"#;
        let text = text(json, &[add_mount(0)]);
        assert!(
            text.starts_with(
                r#"{"spec": {"containers": [], "containers": [{"name": "app", "volumeMounts": [], "volumeMounts": [{"#
            ),
            "{text}"
        );
    }

    #[test]
    fn escaped_keys_and_strings_with_brackets_are_read_correctly() {
        let json = r#"{"spec": {"note": "a \"quoted\" ] } [ { \\", "cont\u0061iners": [{"name": "[app]"}]}}"#;
        let out = spliced(json, &[add_mount(0)]);
        assert_eq!(out["spec"]["containers"][0]["volumeMounts"][0]["name"], "secrets");
        assert_eq!(out["spec"]["note"], "a \"quoted\" ] } [ { \\");
    }

    #[test]
    fn a_read_only_flag_is_added_replaced_or_left_when_already_true() {
        let make = |mount| Edit::MakeReadOnly {
            who: app(),
            index: 0,
            mount,
        };
        let json = r#"{"spec": {"containers": [{"volumeMounts": [{"name": "s", "mountPath": "/etc/secrets"}, {"readOnly": true}, {"readOnly": false}]}]}}"#;
        let out = spliced(json, &[make(0), make(1), make(2)]);
        let mounts = &out["spec"]["containers"][0]["volumeMounts"];
        assert_eq!(mounts[0]["readOnly"], true);
        assert_eq!(mounts[1], json!({"readOnly": true}));
        assert_eq!(mounts[2], json!({"readOnly": true}));
    }

    #[test]
    fn sources_and_items_are_appended_to_an_existing_projected_volume() {
        let json = r#"{"spec": {"volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "db", "items": [{"key": "a", "path": "a"}]}}]}}]}}"#;
        let edits = [
            Edit::AddItems {
                volume: 0,
                name: "s".into(),
                source: 0,
                items: vec![json!({"key": "b", "path": "b"})],
                entry: "e".into(),
                secret: "db".into(),
                who: app(),
            },
            add_source("api"),
        ];
        let out = spliced(json, &edits);
        assert_eq!(
            out["spec"]["volumes"][0]["projected"]["sources"],
            json!([{"secret": {"name": "db", "items": [{"key": "a", "path": "a"}, {"key": "b", "path": "b"}]}}, {"secret": {"name": "api"}}])
        );
    }

    #[test]
    fn appends_to_one_absent_list_create_it_once() {
        let json = r#"{"spec": {"volumes": [{"name": "s", "projected": {}}]}}"#;
        let out = spliced(json, &[add_source("a"), add_source("b")]);
        assert_eq!(
            out["spec"]["volumes"][0]["projected"],
            json!({"sources": [{"secret": {"name": "a"}}, {"secret": {"name": "b"}}]})
        );
    }

    #[test]
    fn strings_end_at_their_closing_quote() {
        let json = br#""a\"b\\" x"#;
        assert_eq!(skip_string(json, 0), 8);
        assert_eq!(skip_string(br#""unterminated"#, 0), 13);
        assert_eq!(
            match_brackets(br#"{"[": [1, {"}": 2}]}"#),
            vec![(0, 19), (6, 18), (10, 17)]
        );
    }

    /// One edit of each kind, against a pod spec holding what each addresses:
    /// container 0 with a mount at index 0, volume 0 projected with source 0
    /// (a secret with items).
    fn one_of_each() -> Vec<Edit> {
        vec![
            add_volume(),
            add_mount(0),
            Edit::MakeReadOnly {
                who: app(),
                index: 0,
                mount: 0,
            },
            add_source("api"),
            Edit::AddItems {
                volume: 0,
                name: "s".into(),
                source: 0,
                items: vec![json!({"key": "b", "path": "b"})],
                entry: "e".into(),
                secret: "db".into(),
                who: app(),
            },
        ]
    }

    /// The same pod spec written three odd ways: keys in unusual order,
    /// duplicate keys (the last one is what a parser keeps), escapes in names.
    const ODD_TEXTS: [&str; 3] = [
        r#"{"spec": {"volumes": [{"projected": {"defaultMode": 420, "sources": [{"secret": {"items": [{"path": "a", "key": "a"}], "name": "db"}}]}, "name": "s"}], "nodeName": "n", "containers": [{"volumeMounts": [{"mountPath": "/etc/secrets", "readOnly": false, "name": "s"}], "image": "x", "name": "app"}]}}"#,
        r#"{"spec": {"containers": [{"name": "old"}], "volumes": [], "containers": [{"volumeMounts": [], "name": "app", "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets"}]}], "volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "db", "items": [{"key": "a", "path": "a"}]}}]}}]}}"#,
        r#"{"spec": {"cont\u0061iners": [{"n\u0061me": "a\"p\\p]", "volume\u004dounts": [{"name": "s}", "mountPath": "/etc/secrets"}]}], "vol\u0075mes": [{"name": "s", "pr\u006fjected": {"s\u006furces": [{"secret": {"name": "db", "ite\u006ds": [{"key": "a", "path": "a"}]}}]}}]}}"#,
    ];

    #[test]
    fn every_kind_of_edit_is_placed_on_odd_texts_as_on_the_parsed_value() {
        for text_in in ODD_TEXTS {
            for edit in one_of_each() {
                let spliced: Value = serde_json::from_str(
                    &apply(
                        text_in,
                        &[PlannedEdits {
                            pointer: SPEC.into(),
                            edits: vec![edit.clone()],
                        }],
                        "/etc/secrets",
                    )
                    .unwrap_or_else(|e| panic!("{edit:?} not placed in {text_in}: {e:?}")),
                )
                .expect("spliced text is JSON");
                let mut expected: Value = serde_json::from_str(text_in).unwrap();
                let spec = expected["spec"].as_object_mut().unwrap();
                crate::plan::apply_to_view(spec, std::slice::from_ref(&edit), "/etc/secrets", "spec").unwrap();
                assert_eq!(spliced, expected, "{edit:?} on {text_in}");
                assert_ne!(
                    spliced,
                    serde_json::from_str::<Value>(text_in).unwrap(),
                    "{edit:?} changed nothing"
                );
            }
        }
    }

    #[test]
    fn an_edit_without_a_place_is_told_and_nothing_is_spliced() {
        let json = r#"{"spec": {"containers": [{"name": "app", "volumeMounts": 5}]}}"#;
        let planned = [PlannedEdits {
            pointer: SPEC.into(),
            edits: vec![add_volume(), add_mount(0), add_mount(1)],
        }];
        let unplaced = apply(json, &planned, "/etc/secrets").unwrap_err();
        assert_eq!(
            unplaced,
            Unplaced {
                at: "spec.containers[0]".into(),
                what: "append to \"volumeMounts\"".into()
            }
        );
        let planned = [PlannedEdits {
            pointer: SPEC.into(),
            edits: vec![add_mount(1)],
        }];
        assert_eq!(
            apply(json, &planned, "/etc/secrets").unwrap_err().at,
            "spec.containers[1]"
        );
        let mut view: Value = serde_json::from_str(json).unwrap();
        let spec = view["spec"].as_object_mut().unwrap();
        assert_eq!(
            crate::plan::apply_to_view(spec, &[add_mount(0)], "/etc/secrets", "spec").unwrap_err(),
            unplaced
        );
        assert_eq!(
            unplaced.into_finding().render("/etc/secrets", true),
            "[secret-mounts-conflict] spec.containers[0]: the policy's edit: the declared secretMounts cannot be added: it has no place to append to \"volumeMounts\" here (the field is neither absent nor of its Kubernetes type), so nothing was added."
        );
    }
}
