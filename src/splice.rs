//! Applies planned edits to the request's own JSON text.
//!
//! Every edit the planner makes appends: an entry to a list, a key to an object,
//! or `readOnly: true` to a mount. Those are insertions into the object's text at
//! places a scan of the text finds, so the mutated object is the request's bytes
//! with the additions spliced in: nothing is parsed into a `Value` and written
//! back, and every byte the policy did not mean to change stays as it was.
//!
//! The text must be valid JSON (the request envelope's parse checked its syntax).
//! Whenever an edit meets anything but the plain case — a list that is not a
//! list, an index beyond the text's list (an entry added by an earlier edit), a
//! key created twice — splicing gives up and the caller applies the edits to a
//! full parse instead, so the two ways always agree (tests compare them).

use serde_json::Value;

use crate::mutate::Edit;

/// A byte range of the text: `start` is the first byte of a value, `end` one past its last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// One step into a JSON value.
#[derive(Clone, Copy)]
enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

/// The object at the keys `root` of `json` (the text itself when `root` is
/// empty), with the edits of one pod spec spliced in; `None` when an edit is
/// not a plain append (then the caller applies the edits to a full parse).
/// `spec_pointer` is the JSON pointer of the pod spec in the object;
/// `mount_path` is the policy's mount path (for new mounts).
pub fn apply(json: &str, root: &[&str], spec_pointer: &str, edits: &[Edit], mount_path: &str) -> Option<String> {
    let mut splicer = Splicer {
        json: json.as_bytes(),
        text: json,
        objects: Vec::new(),
        lists: Vec::new(),
        brackets: match_brackets(json.as_bytes()),
        edits: Vec::new(),
        created: Vec::new(),
    };
    let whole = Span {
        start: skip_ws(json.as_bytes(), 0),
        end: json.trim_end().len(),
    };
    let root_steps: Vec<Step> = root.iter().map(|key| Step::Key(key)).collect();
    let root = splicer.follow(whole, &root_steps)?;
    let mut spec_steps = Vec::new();
    for token in spec_pointer.split('/').skip(1) {
        if token.contains('~') {
            return None; // never for the built-in pointers this runs on
        }
        spec_steps.push(Step::Key(token));
    }
    let spec = splicer.follow(root, &spec_steps)?;
    for edit in edits {
        match edit {
            Edit::AddVolume { name, sources } => {
                let volume = serde_json::json!({"name": name, "projected": {"sources": sources}});
                splicer.append(spec, "volumes", &[volume])?;
            }
            Edit::AddMount { who, index, volume, .. } => {
                let container = splicer.follow(spec, &[Step::Key(who.list.field()), Step::Index(*index)])?;
                let mount = serde_json::json!({"name": volume, "mountPath": mount_path, "readOnly": true});
                splicer.append(container, "volumeMounts", &[mount])?;
            }
            Edit::MakeReadOnly { who, index, mount } => {
                let steps = [
                    Step::Key(who.list.field()),
                    Step::Index(*index),
                    Step::Key("volumeMounts"),
                    Step::Index(*mount),
                ];
                let mount = splicer.follow(spec, &steps)?;
                splicer.set_true(mount, "readOnly")?;
            }
            Edit::AddSource { volume, source, .. } => {
                let steps = [Step::Key("volumes"), Step::Index(*volume), Step::Key("projected")];
                let projected = splicer.follow(spec, &steps)?;
                splicer.append(projected, "sources", std::slice::from_ref(source))?;
            }
            Edit::AddItems {
                volume, source, items, ..
            } => {
                let steps = [
                    Step::Key("volumes"),
                    Step::Index(*volume),
                    Step::Key("projected"),
                    Step::Key("sources"),
                    Step::Index(*source),
                    Step::Key("secret"),
                    Step::Key("items"),
                ];
                let list = splicer.follow(spec, &steps)?;
                splicer.extend_list(list, items)?;
            }
        }
    }
    Some(splicer.finish(root))
}

struct Splicer<'a> {
    json: &'a [u8],
    text: &'a str,
    /// Every object scanned so far: its start and its (raw key, value) entries.
    /// Several edits reach into the same objects; each is scanned once.
    objects: Vec<(usize, Vec<(&'a str, Span)>)>,
    /// Every list scanned so far: its start and its entries.
    lists: Vec<(usize, Vec<Span>)>,
    /// (offset of `{` or `[`, offset of its closing bracket), by opening offset:
    /// one pass over the text finds them all, so skipping a value is a lookup.
    brackets: Vec<(usize, usize)>,
    /// Replacements of a span's text (an insertion is an empty span), in the
    /// order the edits made them.
    edits: Vec<(Span, String)>,
    /// (object start, key) of every key an insertion created.
    created: Vec<(usize, &'static str)>,
}

impl<'a> Splicer<'a> {
    /// Does the value at `span` start with `bracket`?
    fn opens(&self, span: Span, bracket: u8) -> bool {
        self.json.get(span.start) == Some(&bracket)
    }

    /// The span reached by following `steps` from `from`; `None` when a step
    /// does not exist in the text or does not lead into an object or a list.
    fn follow(&mut self, from: Span, steps: &[Step]) -> Option<Span> {
        let mut span = from;
        for step in steps {
            span = match *step {
                Step::Key(key) => self.field(span, key)?,
                Step::Index(index) => self.element(span, index)?,
            };
        }
        Some(span)
    }

    /// The value of the last occurrence of `key` in the object at `span` (the
    /// last occurrence is the one a parser keeps).
    fn field(&mut self, span: Span, key: &str) -> Option<Span> {
        if !self.opens(span, b'{') {
            return None;
        }
        let cached = match self.objects.iter().position(|(start, _)| *start == span.start) {
            Some(i) => i,
            None => {
                let entries = self.scan_object(span);
                self.objects.push((span.start, entries));
                self.objects.len() - 1
            }
        };
        self.objects[cached]
            .1
            .iter()
            .rev()
            .find(|(raw_key, _)| key_matches(raw_key, key))
            .map(|(_, value)| *value)
    }

    fn scan_object(&self, span: Span) -> Vec<(&'a str, Span)> {
        let json = self.json;
        let mut entries = Vec::new();
        let mut at = skip_ws(json, span.start + 1);
        while json[at] != b'}' {
            let key_end = skip_string(json, at);
            let value_start = skip_ws(json, skip_ws(json, key_end) + 1);
            let value_end = self.skip_value(value_start);
            entries.push((
                &self.text[at..key_end],
                Span {
                    start: value_start,
                    end: value_end,
                },
            ));
            at = skip_ws(json, value_end);
            if json[at] == b',' {
                at = skip_ws(json, at + 1);
            }
        }
        entries
    }

    /// Entry `index` of the list at `span`.
    fn element(&mut self, span: Span, index: usize) -> Option<Span> {
        if !self.opens(span, b'[') {
            return None;
        }
        let cached = match self.lists.iter().position(|(start, _)| *start == span.start) {
            Some(i) => i,
            None => {
                let entries = self.scan_list(span);
                self.lists.push((span.start, entries));
                self.lists.len() - 1
            }
        };
        self.lists[cached].1.get(index).copied()
    }

    fn scan_list(&self, span: Span) -> Vec<Span> {
        let json = self.json;
        let mut entries = Vec::new();
        let mut at = skip_ws(json, span.start + 1);
        while json[at] != b']' {
            let end = self.skip_value(at);
            entries.push(Span { start: at, end });
            at = skip_ws(json, end);
            if json[at] == b',' {
                at = skip_ws(json, at + 1);
            }
        }
        entries
    }

    /// Appends `items` to the list at `key` of the object at `object`, creating
    /// the list when the key is absent or `null`.
    fn append(&mut self, object: Span, key: &'static str, items: &[Value]) -> Option<()> {
        if !self.opens(object, b'{') {
            return None;
        }
        match self.field(object, key) {
            Some(list) if self.opens(list, b'[') => self.extend_list(list, items),
            Some(null) if &self.json[null.start..null.end] == b"null" => {
                self.claim(object, key)?;
                self.edits.push((null, format!("[{}]", join(items)?)));
                Some(())
            }
            Some(_) => None,
            None => {
                self.claim(object, key)?;
                let value = format!("[{}]", join(items)?);
                self.add_key(object, key, &value);
                Some(())
            }
        }
    }

    /// Appends `items` at the end of the list at `list`.
    fn extend_list(&mut self, list: Span, items: &[Value]) -> Option<()> {
        if !self.opens(list, b'[') {
            return None;
        }
        let close = list.end - 1;
        let text = join(items)?;
        let text = if self.is_empty(list) { text } else { format!(",{text}") };
        self.insert(close, text);
        Some(())
    }

    /// Sets `key` to `true` in the object at `object`.
    fn set_true(&mut self, object: Span, key: &'static str) -> Option<()> {
        match self.field(object, key) {
            Some(value) if &self.json[value.start..value.end] == b"true" => Some(()),
            Some(_) => None,
            None => {
                self.claim(object, key)?;
                self.add_key(object, key, "true");
                Some(())
            }
        }
    }

    /// One past the end of the value starting at `at`.
    fn skip_value(&self, at: usize) -> usize {
        let json = self.json;
        match json[at] {
            b'"' => skip_string(json, at),
            b'{' | b'[' => match self.brackets.binary_search_by_key(&at, |(open, _)| *open) {
                Ok(i) => self.brackets[i].1 + 1,
                Err(_) => json.len(),
            },
            _ => {
                let mut i = at;
                while i < json.len() && !matches!(json[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
                i
            }
        }
    }

    fn add_key(&mut self, object: Span, key: &str, value: &str) {
        let comma = if self.is_empty(object) { "" } else { "," };
        self.insert(object.end - 1, format!("{comma}\"{key}\":{value}"));
    }

    /// Is the object or list at `span` empty, in the text and in what was inserted into it?
    fn is_empty(&self, span: Span) -> bool {
        let close = span.end - 1;
        skip_ws(self.json, span.start + 1) == close && !self.edits.iter().any(|(s, _)| s.start == close)
    }

    fn insert(&mut self, at: usize, text: String) {
        self.edits.push((Span { start: at, end: at }, text));
    }

    /// Records that an insertion creates `key` in `object`; a second creation
    /// of the same key is not a plain append.
    fn claim(&mut self, object: Span, key: &'static str) -> Option<()> {
        if self.created.contains(&(object.start, key)) {
            return None;
        }
        self.created.push((object.start, key));
        Some(())
    }

    /// The text of `root` with every edit applied (all edits lie inside it).
    fn finish(mut self, root: Span) -> String {
        // A stable sort keeps the edits' order among insertions at one offset.
        self.edits.sort_by_key(|(span, _)| span.start);
        let added: usize = self.edits.iter().map(|(_, t)| t.len()).sum();
        let mut out = String::with_capacity(root.end - root.start + added);
        let mut copied = root.start;
        for (span, text) in &self.edits {
            out.push_str(&self.text[copied..span.start]);
            out.push_str(text);
            copied = span.end;
        }
        out.push_str(&self.text[copied..root.end]);
        out
    }
}

fn join(items: &[Value]) -> Option<String> {
    let parts: Result<Vec<String>, _> = items.iter().map(serde_json::to_string).collect();
    parts.ok().map(|p| p.join(","))
}

/// Does the raw (quoted) key equal `key`? Escaped keys are decoded first.
fn key_matches(raw: &str, key: &str) -> bool {
    let inner = &raw[1..raw.len() - 1];
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).is_ok_and(|k| k == key)
    } else {
        inner == key
    }
}

fn skip_ws(json: &[u8], mut at: usize) -> usize {
    while at < json.len() && matches!(json[at], b' ' | b'\t' | b'\n' | b'\r') {
        at += 1;
    }
    at
}

/// One past the closing quote of the string starting at `at`.
fn skip_string(json: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    loop {
        i = find_quote_or_backslash(json, i);
        match json.get(i) {
            Some(b'\\') => i += 2,
            _ => return i + 1,
        }
    }
}

/// The offset of the first `"` or `\` at or after `from` (or the text's
/// length). Strings are most of a manifest's bytes: this looks at eight bytes
/// at a time (a byte `b` equals `c` when `b ^ c` is zero, and a zero byte is
/// found with the usual borrow trick, exact for the lowest one).
fn find_quote_or_backslash(json: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut i = from;
    while let Some(chunk) = json.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let hits = zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < json.len() && !matches!(json[i], b'"' | b'\\') {
        i += 1;
    }
    i
}

/// Every `{`/`[` of the text with its closing bracket, in text order.
fn match_brackets(json: &[u8]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i = skip_string(json, i);
                continue;
            }
            b'{' | b'[' => {
                open.push(pairs.len());
                pairs.push((i, i));
            }
            b'}' | b']' => {
                if let Some(p) = open.pop() {
                    pairs[p].1 = i;
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

    fn spliced(json: &str, edits: &[Edit]) -> Option<Value> {
        apply(json, &[], SPEC, edits, "/etc/secrets")
            .map(|text| serde_json::from_str(&text).expect("spliced text is JSON"))
    }

    #[test]
    fn appends_to_lists_and_creates_absent_ones() {
        let json = r#"{"spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}, {"name": "b"}]}}"#;
        let out = spliced(json, &[add_mount(0), add_mount(1), add_volume()]).unwrap();
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
    fn the_object_is_found_and_returned_from_within_a_payload() {
        let payload = r#"{"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "app"}]}}, "operation": "CREATE"}, "settings": {"object": 1}}"#;
        let out = apply(payload, &["request", "object"], SPEC, &[add_mount(0)], "/etc/secrets").unwrap();
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "secrets", "mountPath": "/etc/secrets", "readOnly": true}]}]}})
        );
        assert_eq!(
            apply(payload, &["request", "nothing"], SPEC, &[add_mount(0)], "/etc/secrets"),
            None
        );
    }

    #[test]
    fn keeps_every_other_byte_as_it_was() {
        // Odd spacing, a float serde_json would print differently, key order.
        let json = "{ \"spec\" : {\n  \"z\": 1.0e2,\n  \"containers\" : [ { \"name\":\"app\" , \"volumeMounts\" : [ ] } ] ,\"a\":[]\n} }";
        let out = apply(json, &[], SPEC, &[add_mount(0)], "/etc/secrets").unwrap();
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
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"][0]["volumeMounts"][0]["name"], "secrets");
        assert_eq!(out["spec"]["volumes"][0]["name"], "secrets");
    }

    #[test]
    fn the_last_of_duplicate_keys_is_the_one_edited() {
        let json =
            r#"{"spec": {"containers": [], "containers": [{"name": "app", "volumeMounts": [], "volumeMounts": []}]}}"#;
        let text = apply(json, &[], SPEC, &[add_mount(0)], "/etc/secrets").unwrap();
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
        let out = spliced(json, &[add_mount(0)]).unwrap();
        assert_eq!(out["spec"]["containers"][0]["volumeMounts"][0]["name"], "secrets");
        assert_eq!(out["spec"]["note"], "a \"quoted\" ] } [ { \\");
    }

    #[test]
    fn a_read_only_flag_is_added_or_left_when_already_true() {
        let make = |mount| Edit::MakeReadOnly {
            who: app(),
            index: 0,
            mount,
        };
        let json = r#"{"spec": {"containers": [{"volumeMounts": [{"name": "s", "mountPath": "/etc/secrets"}, {"readOnly": true}]}]}}"#;
        let out = spliced(json, &[make(0), make(1)]).unwrap();
        assert_eq!(out["spec"]["containers"][0]["volumeMounts"][0]["readOnly"], true);
        assert_eq!(
            out["spec"]["containers"][0]["volumeMounts"][1],
            json!({"readOnly": true})
        );
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
            Edit::AddSource {
                volume: 0,
                name: "s".into(),
                source: json!({"secret": {"name": "api"}}),
                entry: "e".into(),
                secret: "api".into(),
                who: app(),
            },
        ];
        let out = spliced(json, &edits).unwrap();
        assert_eq!(
            out["spec"]["volumes"][0]["projected"]["sources"],
            json!([{"secret": {"name": "db", "items": [{"key": "a", "path": "a"}, {"key": "b", "path": "b"}]}}, {"secret": {"name": "api"}}])
        );
    }

    #[test]
    fn anything_but_a_plain_append_is_left_to_a_full_parse() {
        // The container is not there, is not an object, or its list is not a list.
        for json in [
            r#"{"spec": {"containers": []}}"#,
            r#"{"spec": {"containers": [5]}}"#,
            r#"{"spec": {"containers": [{"volumeMounts": "x"}]}}"#,
            r#"{"spec": 5}"#,
        ] {
            assert_eq!(spliced(json, &[add_mount(0)]), None, "{json}");
        }
        // Items for a source only an earlier edit added.
        let items = Edit::AddItems {
            volume: 0,
            name: "s".into(),
            source: 1,
            items: vec![json!({"key": "b", "path": "b"})],
            entry: "e".into(),
            secret: "db".into(),
            who: app(),
        };
        let json =
            r#"{"spec": {"volumes": [{"name": "s", "projected": {"sources": [{"configMap": {"name": "c"}}]}}]}}"#;
        assert_eq!(spliced(json, &[items]), None);
        // The same absent list created twice.
        let json = r#"{"spec": {"volumes": [{"name": "s", "projected": {}}]}}"#;
        let source = |name: &str| Edit::AddSource {
            volume: 0,
            name: "s".into(),
            source: json!({"secret": {"name": name}}),
            entry: "e".into(),
            secret: name.into(),
            who: app(),
        };
        assert_eq!(spliced(json, &[source("a"), source("b")]), None);
    }
}
