//! One YAML document read the way kubectl reads it, as JSON.
//!
//! kubectl turns YAML into JSON with sigs.k8s.io/yaml, which decodes with
//! go-yaml v2: a YAML 1.1 reader, ported from libyaml. The syntax is read here
//! by libyaml itself (its safe Rust port, libyaml-safer), so what kubectl
//! accepts is accepted. Where YAML 1.1 differs from YAML 1.2 (serde_yaml's),
//! a manifest would mean one thing to a YAML 1.2 reader and another to the
//! cluster, so scalars are resolved here by go-yaml v2's rules:
//! - plain `y Y yes Yes YES on On ON true True TRUE` are `true`, plain
//!   `n N no No NO off Off OFF false False FALSE` are `false`;
//! - plain `~`, `null`, `Null`, `NULL` and the empty scalar are null;
//! - integers are read like Go's `strconv.ParseInt(s, 0, 64)` after dropping
//!   `_`: `0x1F`, `0o17`, `0b101` and the leading-zero octal `0644` (= 420);
//! - quoted and block scalars are strings, whatever they look like.
//!
//! Then come the steps from YAML to the object the API server receives:
//! map keys become strings (`true`, `1`), a float without a fraction
//! becomes an integer (JSON `1.0` is read back as `1`), and what JSON cannot
//! hold (NaN, infinities, null or composite keys) is an error. A key given
//! twice in one mapping is an error, as in go-yaml's strict decoding; so are
//! two keys that become the same JSON key (`1` and `"1"`), of which
//! sigs.k8s.io/yaml keeps whichever its Go map iteration meets last. Merge
//! keys (`<<`) and anchors work as in go-yaml, an explicit key overriding a
//! merged one (go-yaml's strict mode refuses that, its lax mode does not).

use std::collections::HashMap;

use libyaml_safer::{Error as LibyamlError, EventData, Mark, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use crate::position::{offset_of_mark, position_of_offset, Position, Positions};

/// A document may not nest deeper than this (the stack of the code that
/// later serialises it is the limit that matters).
const MAX_DEPTH: usize = 1000;
/// Alias expansion may not produce more values than this ("billion laughs").
const MAX_VALUES: usize = 5_000_000;

/// Why a document cannot be read, and where: the 1-based line and column
/// (in characters) in the text given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// For a syntax error, what libyaml was reading ("while parsing a block
    /// mapping") and where that starts.
    pub context: Option<YamlContext>,
}

/// The construct a syntax error was found in, and where it starts (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlContext {
    pub what: String,
    pub line: usize,
    pub column: usize,
}

impl YamlError {
    fn new(at: Position, message: impl Into<String>) -> YamlError {
        let Position { line, column } = at;
        let message = message.into();
        YamlError {
            line,
            column,
            message,
            context: None,
        }
    }

    fn at(mark: Mark, message: impl Into<String>) -> YamlError {
        YamlError::new(Position::of_mark(mark), message)
    }

    /// libyaml's error: its problem, and the construct it was reading. A
    /// reader error (a character YAML does not allow) has no mark: it is
    /// placed at the first such character.
    fn libyaml(err: &LibyamlError, text: &str) -> YamlError {
        let at = err
            .problem_mark()
            .map_or_else(|| first_forbidden_char(text), Position::of_mark);
        let mut error = YamlError::new(at, err.problem());
        if let (Some(what), Some(at)) = (err.context(), err.context_mark()) {
            let Position { line, column } = Position::of_mark(at);
            let what = what.to_string();
            error.context = Some(YamlContext { what, line, column });
        }
        error
    }

    /// The message, with the context's place when there is one; its line
    /// counted from `first_line` (the line of the text's first line in a
    /// larger file).
    pub fn describe(&self, first_line: usize) -> String {
        match &self.context {
            Some(c) => format!(
                "{} ({} that starts at line {}, column {})",
                self.message,
                c.what,
                c.line + first_line - 1,
                c.column
            ),
            None => self.message.clone(),
        }
    }
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.describe(1))
    }
}

/// Where the first character that libyaml's reader refuses (control
/// characters, surrogates, U+FFFE and U+FFFF) is; the start when none is.
fn first_forbidden_char(text: &str) -> Position {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{85}' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    let offset = text.find(|c| !allowed(c)).unwrap_or(0);
    position_of_offset(text, offset)
}

/// A parsed document: its JSON value and where each of its nodes is
/// written in the text read.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDocument {
    pub value: Value,
    pub positions: Positions,
}

#[cfg(test)]
impl YamlDocument {
    /// The line where the document's content starts.
    pub fn line(&self) -> usize {
        self.positions.get("").map_or(1, |root| root.line)
    }
}

/// A scalar resolved by go-yaml v2's rules.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// The plain key `<<`: merge the mapping(s) given as its value.
    Merge,
}

/// Parses every document of `text`, as libyaml reads a stream (the tests,
/// and the libyaml corpus, read streams with it; manifests are read with
/// [`parse_first`]). Empty documents are left out.
///
/// The events come from libyaml (its safe Rust port, `libyaml-safer`): go-yaml
/// is a Go port of libyaml, so what one accepts (a quoted scalar or a flow
/// collection continued at its key's indentation, say) the other does too.
#[cfg(test)]
pub fn parse(text: &str) -> Result<Vec<YamlDocument>, YamlError> {
    read(text, false)
}

/// Parses the first document of `text`, as go-yaml's `Unmarshal` (and so
/// kubectl, for each piece of a stream between `---` lines) reads it: what
/// follows the first document (after a `...` or a `--- x` line) is not read
/// at all, not even for errors. `None` when that document is empty or null.
pub fn parse_first(text: &str) -> Result<Option<YamlDocument>, YamlError> {
    Ok(read(text, true)?.pop())
}

fn read(text: &str, first_only: bool) -> Result<Vec<YamlDocument>, YamlError> {
    let mut builder = Builder::default();
    let mut documents = Vec::new();
    for event in events(text) {
        let event = event.map_err(|e| YamlError::libyaml(&e, text))?;
        let mark = event.start_mark;
        match event.data {
            // go-yaml takes only `%YAML 1.1`; libyaml also takes 1.2.
            EventData::DocumentStart {
                version_directive: Some(v),
                ..
            } if (v.major, v.minor) != (1, 1) => {
                return Err(YamlError::at(mark, "found incompatible YAML document"));
            }
            EventData::DocumentStart { .. } => builder = Builder::default(),
            EventData::DocumentEnd { .. } => {
                documents.extend(builder.finish());
                if first_only {
                    break;
                }
            }
            EventData::Scalar {
                style: ScalarStyle::DoubleQuoted,
                ..
            } => {
                check_escapes(text, mark, event.end_mark)?;
                builder.event(event.data, mark)?;
            }
            data => builder.event(data, mark)?,
        }
    }
    Ok(documents)
}

/// libyaml's events for `text`.
fn events(text: &str) -> Parser<&[u8]> {
    let mut parser = Parser::new();
    parser.set_input(text.as_bytes());
    parser
}

/// go-yaml v2's escapes are libyaml's but for `\/`, a JSON escape that
/// libyaml 0.2.5 reads and go-yaml refuses ("found unknown escape
/// character"), and so kubectl refuses it.
fn check_escapes(text: &str, start: Mark, end: Mark) -> Result<(), YamlError> {
    let from = offset_of_mark(text, start);
    let to = offset_of_mark(text, end).min(text.len());
    let Some(raw) = text.get(from..to) else {
        return Ok(());
    };
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next() == Some('/') {
            return Err(YamlError::at(start, "found unknown escape character `\\/`"));
        }
    }
    Ok(())
}

/// Where each node of a JSON text (one value) is written: serde_json, which
/// reads JSON documents, does not say, so the text is read again as YAML
/// flow style. A key given twice is no error here, as in JSON (the first
/// is where it is written); what follows a place libyaml cannot read has
/// no position.
pub fn json_positions(text: &str) -> Positions {
    let mut builder = Builder {
        repeated_keys: true,
        ..Builder::default()
    };
    let _unread = events(text)
        .map_while(Result::ok)
        .take_while(|event| !matches!(event.data, EventData::DocumentEnd { .. }))
        .try_for_each(|event| builder.event(event.data, event.start_mark));
    builder.positions
}

/// A collection being built.
enum Open {
    Seq(Vec<Value>),
    Map(MapBuilder),
}

struct Frame {
    anchor: Option<String>,
    open: Open,
    /// The collection's JSON pointer; `None` when it has none (it is, or is
    /// inside, a mapping's key, or the value of a key given as an alias).
    pointer: Option<String>,
}

/// A mapping being built: explicit keys are unique; merged (`<<`) keys only
/// fill in what the mapping does not set itself.
#[derive(Default)]
struct MapBuilder {
    entries: Map<String, Value>,
    merged: Vec<Map<String, Value>>,
    pending_key: Option<PendingKey>,
}

/// A mapping's key, read and waiting for its value.
struct PendingKey {
    name: String,
    /// Whether it is the merge key `<<`.
    merge: bool,
    mark: Mark,
    /// Whether the key is an alias (`*k : v`): its value has no place then.
    aliased: bool,
}

/// Reads one document's events into its JSON value, recording where each
/// node is written as it goes ([`Positions`]).
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchors by name; a later anchor of the same name replaces the earlier.
    anchors: HashMap<String, (Value, Option<Scalar>)>,
    root: Option<Value>,
    values: usize,
    positions: Positions,
    /// JSON's rule for a key given twice (the last value counts) instead of
    /// YAML's error, for [`json_positions`].
    repeated_keys: bool,
}

impl Builder {
    fn event(&mut self, event: EventData, mark: Mark) -> Result<(), YamlError> {
        match event {
            EventData::Scalar {
                anchor,
                tag,
                value: text,
                style,
                ..
            } => {
                self.place_item(mark);
                let scalar = resolve(&text, style, tag.as_deref()).map_err(|m| YamlError::at(mark, m))?;
                let value = match scalar_value(&scalar) {
                    Ok(value) => value,
                    // a key that JSON cannot hold as a value (`.inf`) is
                    // still a key: sigs.k8s.io/yaml names it `.inf`
                    Err(_) if self.expects_key() => {
                        return self.add(Value::Null, Some(scalar), mark, false);
                    }
                    Err(m) => return Err(YamlError::at(mark, m)),
                };
                if let Some(anchor) = anchor {
                    self.anchors.insert(anchor, (value.clone(), Some(scalar.clone())));
                }
                self.add(value, Some(scalar), mark, false)
            }
            EventData::Alias { anchor } => {
                self.place_item(mark);
                // An anchor is known once its node is complete, so one used
                // inside its own node (`&a [*a]`) is unknown, as go-yaml
                // refuses it ("anchor 'a' value contains itself").
                let (value, scalar) = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or_else(|| YamlError::at(mark, format!("unknown anchor '{anchor}' referenced")))?;
                self.values = self.values.saturating_add(count_values(&value));
                if self.values > MAX_VALUES {
                    return Err(YamlError::at(mark, "document contains excessive aliasing"));
                }
                self.add(value, scalar, mark, true)
            }
            EventData::SequenceStart { anchor, .. } => self.open(anchor, Open::Seq(Vec::new()), mark),
            EventData::MappingStart { anchor, .. } => self.open(anchor, Open::Map(MapBuilder::default()), mark),
            EventData::SequenceEnd | EventData::MappingEnd => self.close(mark),
            _ => Ok(()),
        }
    }

    /// Whether the next node is a mapping's key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame { open: Open::Map(map), .. }) if map.pending_key.is_none())
    }

    /// The JSON pointer of the node read next, if it has one (a mapping's
    /// key has none: it is where its value is written).
    fn next_pointer(&self) -> Option<String> {
        let Some(frame) = self.stack.last() else {
            return Some(String::new());
        };
        let parent = frame.pointer.as_deref()?;
        Some(match &frame.open {
            Open::Seq(items) => format!("{parent}/{}", items.len()),
            Open::Map(map) => {
                let key = map.pending_key.as_ref().filter(|key| !key.aliased)?;
                format!("{parent}/{}", jsonptr::Token::new(&key.name).encoded())
            }
        })
    }

    /// Records where the node that starts at `mark` is written when it is
    /// the root or a sequence's item (a mapping's value is placed at its key).
    fn place_item(&mut self, mark: Mark) {
        if !matches!(self.stack.last(), Some(Frame { open: Open::Map(_), .. })) {
            self.place(mark);
        }
    }

    /// Records that the node read next, if it has a pointer, is written at
    /// `mark`.
    fn place(&mut self, mark: Mark) {
        if let Some(pointer) = self.next_pointer() {
            self.positions.record(pointer, Position::of_mark(mark));
        }
    }

    fn open(&mut self, anchor: Option<String>, open: Open, mark: Mark) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::at(mark, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.place_item(mark);
        let pointer = self.next_pointer();
        self.stack.push(Frame { anchor, open, pointer });
        Ok(())
    }

    fn close(&mut self, mark: Mark) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let value = match frame.open {
            Open::Seq(items) => Value::Array(items),
            Open::Map(map) => Value::Object(map.finish()),
        };
        if let Some(anchor) = frame.anchor {
            self.anchors.insert(anchor, (value.clone(), None));
        }
        self.add(value, None, mark, false)
    }

    /// Puts a finished value where it belongs: the root, a sequence item,
    /// a mapping key (recording where its value is written) or a mapping
    /// value. `aliased`: the value was given as an alias.
    fn add(&mut self, value: Value, scalar: Option<Scalar>, mark: Mark, aliased: bool) -> Result<(), YamlError> {
        self.values = self.values.saturating_add(1);
        match self.stack.last_mut().map(|frame| &mut frame.open) {
            None => self.root = Some(value),
            Some(Open::Seq(items)) => items.push(value),
            Some(Open::Map(map)) => {
                map.add(value, scalar, mark, aliased, self.repeated_keys)?;
                // a key just read: its value is placed where it is written
                self.place(mark);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Option<YamlDocument> {
        let value = self.root.take()?;
        // go-yaml reads an empty document, `~` or `null` as nothing at all.
        if value.is_null() {
            return None;
        }
        Some(YamlDocument {
            value,
            positions: std::mem::take(&mut self.positions),
        })
    }
}

impl MapBuilder {
    /// Reads the key, or the value of the key read before; a key given
    /// twice is an error unless `repeated_keys` (then the last one counts).
    fn add(
        &mut self,
        value: Value,
        scalar: Option<Scalar>,
        mark: Mark,
        aliased: bool,
        repeated_keys: bool,
    ) -> Result<(), YamlError> {
        let Some(key) = self.pending_key.take() else {
            let name = key_string(&value, scalar.as_ref()).map_err(|m| YamlError::at(mark, m))?;
            let merge = matches!(scalar, Some(Scalar::Merge));
            self.pending_key = Some(PendingKey {
                name,
                merge,
                mark,
                aliased,
            });
            return Ok(());
        };
        if key.merge {
            return self.merge(value, key.mark);
        }
        if !repeated_keys && self.entries.contains_key(&key.name) {
            return Err(YamlError::at(
                key.mark,
                format!("key {:?} already set in map", key.name),
            ));
        }
        self.entries.insert(key.name, value);
        Ok(())
    }

    /// `<<: *map` or `<<: [*a, *b]` (earlier maps win).
    fn merge(&mut self, value: Value, mark: Mark) -> Result<(), YamlError> {
        let invalid = || YamlError::at(mark, "map merge requires a map or a sequence of maps as the value");
        let maps = match value {
            Value::Array(items) => items,
            map => vec![map],
        };
        for map in maps {
            let Value::Object(map) = map else { return Err(invalid()) };
            self.merged.push(map);
        }
        Ok(())
    }

    fn finish(self) -> Map<String, Value> {
        let mut entries = self.entries;
        for map in self.merged {
            for (key, value) in map {
                entries.entry(key).or_insert(value);
            }
        }
        entries
    }
}

fn count_values(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_values).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_values).sum::<usize>(),
        _ => 1,
    }
}

/// The core-schema name of a tag (`str` for `!!str`), or `None` for a local
/// or unknown tag. libyaml gives tags resolved: `!!str` is
/// `tag:yaml.org,2002:str`.
fn core_tag(tag: &str) -> Option<&str> {
    tag.strip_prefix("tag:yaml.org,2002:")
}

/// Resolves a scalar as go-yaml v2 does.
fn resolve(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Scalar, String> {
    match (tag, tag.and_then(core_tag)) {
        // untagged: only plain scalars are resolved
        (None, _) if style != ScalarStyle::Plain => Ok(Scalar::Str(text.to_string())),
        (None, _) if text == "<<" => Ok(Scalar::Merge),
        (None, _) => Ok(resolve_plain(text)),
        (Some(_), Some("binary")) => decode_binary(text).map(Scalar::Str),
        (Some(_), Some("str" | "timestamp")) => Ok(Scalar::Str(text.to_string())),
        (Some(_), Some(name @ ("bool" | "int" | "float" | "null"))) => resolve_tagged(text, name),
        // `!` and local or unknown tags: go-yaml keeps the text
        (Some(_), _) => Ok(Scalar::Str(text.to_string())),
    }
}

/// `!!binary`: go-yaml decodes the base64 (line breaks in it are skipped, as
/// Go's decoder skips them) into a Go string, which JSON then writes with any
/// invalid UTF-8 replaced by U+FFFD.
fn decode_binary(text: &str) -> Result<String, String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let compact: String = text.chars().filter(|&c| c != '\n' && c != '\r').collect();
    let bytes = GO_STD
        .decode(compact)
        .map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn resolve_tagged(text: &str, tag: &str) -> Result<Scalar, String> {
    let resolved = resolve_plain(text);
    let matches = matches!(
        (&resolved, tag),
        (Scalar::Bool(_), "bool")
            | (Scalar::Int(_) | Scalar::UInt(_), "int")
            | (Scalar::Float(_), "float")
            | (Scalar::Null, "null")
    );
    match (resolved, tag) {
        (resolved, _) if matches => Ok(resolved),
        (Scalar::Int(i), "float") => Ok(Scalar::Float(i as f64)),
        (Scalar::UInt(u), "float") => Ok(Scalar::Float(u as f64)),
        _ => Err(format!("cannot decode `{text}` as a !!{tag}")),
    }
}

/// go-yaml v2's `resolve` for an untagged plain scalar.
fn resolve_plain(text: &str) -> Scalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Scalar::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => yaml_float(text).map_or_else(|| Scalar::Str(text.to_string()), Scalar::Float),
        b'+' | b'-' | b'0'..=b'9' => resolve_number(text),
        _ => Scalar::Str(text.to_string()),
    }
}

fn resolve_number(text: &str) -> Scalar {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(value) = go_parse_int(&plain) {
        if let Ok(i) = i64::try_from(value) {
            return Scalar::Int(i);
        }
        if let Ok(u) = u64::try_from(value) {
            if !plain.starts_with(['+', '-']) {
                return Scalar::UInt(u);
            }
        }
    }
    yaml_float(&plain).map_or_else(|| Scalar::Str(text.to_string()), Scalar::Float)
}

/// Go's `strconv.ParseInt(s, 0, 64)` without the range check (done by the
/// caller): optional sign, then `0x`, `0o`, `0b` or a leading `0` (octal).
fn go_parse_int(text: &str) -> Option<i128> {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = unsigned.to_ascii_lowercase();
    let prefixed = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| Some((radix, lower.strip_prefix(prefix)?)));
    let (radix, digits) = match prefixed {
        Some(found) => found,
        None if lower.len() > 1 && lower.starts_with('0') => (8, &lower[1..]),
        None => (10, lower.as_str()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) || digits.len() > 64 {
        return None;
    }
    Some(sign * i128::from_str_radix(digits, radix).ok()?)
}

/// go-yaml v2's float syntax, `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`,
/// is Rust's float syntax without its words (`inf`, `nan`).
fn yaml_float(text: &str) -> Option<f64> {
    let syntax = |b: u8| b.is_ascii_digit() || b"+-.eE".contains(&b);
    text.bytes().all(syntax).then(|| text.parse().ok()).flatten()
}

/// The JSON a scalar becomes on its way to the API server.
fn scalar_value(scalar: &Scalar) -> Result<Value, String> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Merge => Value::String("<<".to_string()),
        // Go's JSON writes a uint64 as digits, which the API machinery reads
        // back as a float when they do not fit an int64.
        Scalar::UInt(u) => float_value(*u as f64)?,
        Scalar::Float(f) => float_value(*f)?,
    })
}

fn float_value(f: f64) -> Result<Value, String> {
    if !f.is_finite() {
        return Err(format!("{f} cannot be represented in JSON"));
    }
    // Go's JSON writes an integral float without a fraction (below 1e21),
    // and the API machinery reads such a number as an integer.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} cannot be represented in JSON"))
}

/// A mapping key as sigs.k8s.io/yaml turns it into a JSON object key.
fn key_string(value: &Value, scalar: Option<&Scalar>) -> Result<String, String> {
    match scalar {
        Some(Scalar::Str(s)) => Ok(s.clone()),
        Some(Scalar::Merge) => Ok("<<".to_string()),
        Some(Scalar::Bool(b)) => Ok(b.to_string()),
        Some(Scalar::Int(i)) => Ok(i.to_string()),
        Some(Scalar::Float(f)) => Ok(go_float32_key(*f)),
        Some(Scalar::Null) => Err("unsupported map key: null".to_string()),
        Some(Scalar::UInt(u)) => Err(format!("unsupported map key: {u} (out of the int64 range)")),
        None => Err(format!(
            "unsupported map key: {} (keys must be scalars)",
            // only a collection (or an alias of one) has no scalar
            if value.is_array() { "an array" } else { "an object" }
        )),
    }
}

/// A float key, as Go's `strconv.FormatFloat(f, 'g', -1, 32)` writes it
/// (sigs.k8s.io/yaml's choice), with YAML's names for the special values.
/// Rust's `{}` and `{:e}` give the shortest digits that read back as the
/// same f32, as Go does; Go writes an exponent outside -4..6 as `e+06`. A
/// key beyond the f32 range is an infinity, as in Go.
fn go_float32_key(f: f64) -> String {
    let f = f as f32;
    match f {
        f if f.is_nan() => return ".nan".to_string(),
        f32::INFINITY => return ".inf".to_string(),
        f32::NEG_INFINITY => return "-.inf".to_string(),
        _ => {}
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return f.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1, "{text}");
        docs[0].value.clone()
    }

    /// Where the node at `pointer` of the first document of `text` is.
    fn position(text: &str, pointer: &str) -> Option<(usize, usize)> {
        let document = parse_first(text).unwrap()?;
        let at = document.positions.get(pointer)?;
        Some((at.line, at.column))
    }

    #[test]
    fn yaml_1_1_booleans_are_read_as_kubectl_reads_them() {
        for word in ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"] {
            assert_eq!(one(&format!("v: {word}")), json!({"v": true}), "{word}");
        }
        for word in [
            "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
        ] {
            assert_eq!(one(&format!("v: {word}")), json!({"v": false}), "{word}");
        }
        // quoted, block or mixed-case words stay strings
        assert_eq!(
            one("a: 'yes'\nb: \"on\"\nc: |-\n  no\nd: yEs\ne: !!str yes\n"),
            json!({"a": "yes", "b": "on", "c": "no", "d": "yEs", "e": "yes"})
        );
        // everywhere: in lists, flow style, nested mappings
        assert_eq!(
            one("l: [yes, off, 'y']\nm: {readOnly: yes}\nk:\n- p: ON\n"),
            json!({"l": [true, false, "y"], "m": {"readOnly": true}, "k": [{"p": true}]})
        );
    }

    #[test]
    fn keys_become_strings_as_sigs_k8s_io_yaml_writes_them() {
        assert_eq!(
            one("y: 1\n2: b\noff: c\n1.5: d\n1e6: e\n\"yes\": f\n"),
            json!({"true": 1, "2": "b", "false": "c", "1.5": "d", "1e+06": "e", "yes": "f"})
        );
    }

    #[test]
    fn numbers_nulls_and_strings_follow_go_yaml_v2() {
        assert_eq!(
            one("a: 0644\nb: 0x1F\nc: 0o17\nd: 0b101\ne: -0b11\nf: 1_000\ng: +5\nh: 08\ni: 1.0\nj: 1.5\nk: .5\nl: 1e3\n"),
            json!({"a": 420, "b": 31, "c": 15, "d": 5, "e": -3, "f": 1000, "g": 5, "h": 8, "i": 1, "j": 1.5, "k": 0.5, "l": 1000})
        );
        assert_eq!(
            one("a: ~\nb: null\nc: NULL\nd:\ne: nul\nf: 2001-12-14\ng: 1:20\nh: 0x\ni: \"0644\"\nj: 1.2.3\n"),
            json!({"a": null, "b": null, "c": null, "d": null, "e": "nul", "f": "2001-12-14", "g": "1:20", "h": "0x", "i": "0644", "j": "1.2.3"})
        );
        assert_eq!(one("a: 18446744073709551615\n")["a"], json!(18446744073709551615.0_f64));
        assert_eq!(one("a: 9223372036854775807\n")["a"], json!(i64::MAX));
        assert_eq!(one("a: !!int \"12\"\nb: !!float 3\n"), json!({"a": 12, "b": 3}));
        assert!(parse("a: !!int abc\n").unwrap_err().message.contains("!!int"));
    }

    #[test]
    fn what_json_cannot_hold_is_an_error_with_its_line() {
        let err = parse("a: 1\nb: .inf\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("JSON"), "{err:?}");
        let err = parse("a: 1\n~: 2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unsupported map key"), "{err:?}");
        assert!(parse("? [a]\n: 1\n").is_err());
        // as keys, the values JSON cannot hold are named as YAML names them
        assert_eq!(
            one(".inf: a\n-.Inf: b\n.NaN: c\n"),
            json!({".inf": "a", "-.inf": "b", ".nan": "c"})
        );
    }

    #[test]
    fn duplicate_keys_are_an_error_naming_the_line() {
        let err = parse("metadata:\n  name: a\n  name: b\n").unwrap_err();
        assert_eq!(
            err,
            YamlError {
                line: 3,
                column: 3,
                message: "key \"name\" already set in map".into(),
                context: None,
            }
        );
        // `yes` and `true` are the same key once resolved
        assert!(parse("yes: 1\ntrue: 2\n").is_err());
    }

    #[test]
    fn merge_keys_anchors_and_aliases() {
        assert_eq!(
            one("base: &b {x: 1, z: 2}\nobj:\n  <<: *b\n  z: 3\nlist: &l [a]\nagain: *l\n"),
            json!({"base": {"x": 1, "z": 2}, "obj": {"x": 1, "z": 3}, "list": ["a"], "again": ["a"]})
        );
        assert_eq!(
            one("a: &a {x: 1}\nb: &b {x: 2, z: 3}\nc:\n  <<: [*a, *b]\n"),
            json!({"a": {"x": 1}, "b": {"x": 2, "z": 3}, "c": {"x": 1, "z": 3}})
        );
        assert_eq!(one("\"<<\": 1\n"), json!({"<<": 1}));
        assert!(parse("a:\n  <<: 5\n").is_err());
    }

    #[test]
    fn empty_and_null_documents_are_nothing() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
        assert!(parse("~\n").unwrap().is_empty());
        let docs = parse("\n\n# c\nkind: Pod\n").unwrap();
        assert_eq!(docs[0].line(), 4);
    }

    #[test]
    fn syntax_errors_name_their_line_and_column() {
        let err = parse("a: 1\nb: [1,\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        // libyaml's problem, and the construct it was in with where that starts
        let err = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 2), "{err:?}");
        assert_eq!(err.message, "did not find expected key");
        assert_eq!(
            err.to_string(),
            "line 3, column 2: did not find expected key (while parsing a block mapping that starts at line 1, column 1)"
        );
        assert_eq!(
            err.describe(10),
            "did not find expected key (while parsing a block mapping that starts at line 10, column 1)"
        );
        // tabs cannot indent
        let err = parse("a:\n\tb: 1\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1), "{err:?}");
        // a control character has no mark from libyaml's reader: found here
        let err = parse("a: 1\nb: x\u{7}y\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 5), "{err:?}");
        assert_eq!(err.message, "control characters are not allowed");
        // columns count characters, not bytes
        let err = parse("é: 1\né: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1), "{err:?}");
        let err = parse("a: {é: 1, b: .nan}\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 14), "{err:?}");
    }

    /// Shapes libyaml (and so go-yaml and kubectl) accepts, where a quoted
    /// scalar or a flow collection goes on at its key's indentation.
    #[test]
    fn continuations_at_the_key_indentation_are_read_as_libyaml_reads_them() {
        let quoted = "metadata:\n  annotations:\n    x: '[\n        1\n    ]'\n";
        assert_eq!(one(quoted), json!({"metadata": {"annotations": {"x": "[ 1 ]"}}}));
        let closed = "spec:\n  containers:\n  - name: a\n    args: [\n      \"-a\",\n    ]\n";
        assert_eq!(
            one(closed),
            json!({"spec": {"containers": [{"name": "a", "args": ["-a"]}]}})
        );
        assert_eq!(position(closed, "/spec/containers/0/args/0"), Some((5, 7)));
        let continued = "spec:\n  containers:\n  - name: a\n    args: [\"a\",\n    \"b\"]\n";
        assert_eq!(position(continued, "/spec/containers/0/args/1"), Some((5, 5)));
        assert_eq!(
            one(continued),
            json!({"spec": {"containers": [{"name": "a", "args": ["a", "b"]}]}})
        );
        // a flow mapping and a double-quoted scalar too
        assert_eq!(
            one("a:\n  b: {x: 1,\n  z: 2}\n  c: \"p\n  q\"\n"),
            json!({"a": {"b": {"x": 1, "z": 2}, "c": "p q"}})
        );
    }

    #[test]
    fn only_yaml_1_1_directives_are_taken_as_in_go_yaml() {
        assert_eq!(one("%YAML 1.1\n---\na: 1\n"), json!({"a": 1}));
        let err = parse("a: 1\n---\n%YAML 1.2\n---\na: 1\n");
        assert!(err.is_err(), "{err:?}");
        let err = parse("%YAML 1.2\n---\na: 1\n").unwrap_err();
        assert_eq!(
            (err.line, err.column, err.message.as_str()),
            (1, 1, "found incompatible YAML document")
        );
    }

    #[test]
    fn the_first_document_is_read_as_go_yaml_unmarshal_reads_it() {
        let first = |text: &str| parse_first(text).map(|d| d.map(|d| d.value));
        assert_eq!(first("a: 1\n...\nb: [\n"), Ok(Some(json!({"a": 1}))));
        assert_eq!(first("[a, b]\nc: d\n"), Ok(Some(json!(["a", "b"]))));
        assert_eq!(first("--- a\n--- b\n"), Ok(Some(json!("a"))));
        assert_eq!(first("~\n...\na: 1\n"), Ok(None));
        assert!(first("a: [\n").is_err());
        // `parse` reads them all, as libyaml does
        assert!(parse("a: 1\n...\nb: [\n").is_err());
        assert_eq!(parse("--- a\n--- b\n").unwrap().len(), 2);
    }

    #[test]
    fn the_json_escape_of_a_slash_is_refused_as_go_yaml_refuses_it() {
        let err = parse("a: 1\nb: \"x\\/y\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4), "{err:?}");
        assert!(err.message.contains("unknown escape"), "{err:?}");
        // an escaped backslash before a slash is not that escape
        assert_eq!(one("a: \"x\\\\/y\"\nb: '\\/'\n"), json!({"a": "x\\/y", "b": "\\/"}));
        assert!(parse("\u{feff}a: \"\\/\"\n").is_err());
    }

    #[test]
    fn binary_is_decoded_as_go_yaml_decodes_it() {
        assert_eq!(
            one("a: !!binary aGVsbG8=\nb: !!binary |\n  aGVs\n  bG8=\n"),
            json!({"a": "hello", "b": "hello"})
        );
        let err = parse("a: !!binary '=='\n").unwrap_err();
        assert!(err.message.contains("invalid base64"), "{err:?}");
    }

    #[test]
    fn anchors_may_be_redefined_and_may_not_contain_themselves() {
        assert_eq!(
            one("a: &x 1\nb: *x\nc: &x 2\nd: *x\n"),
            json!({"a": 1, "b": 1, "c": 2, "d": 2})
        );
        let err = parse("a: &x [1, *x]\n").unwrap_err();
        assert!(err.message.contains("unknown anchor 'x'"), "{err:?}");
    }

    #[test]
    fn excessive_aliasing_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("excessive aliasing"), "{err:?}");
    }

    #[test]
    fn positions_point_at_keys_and_items_in_block_and_flow_style() {
        let text = "# c\nkind: Pod\nspec:\n  containers:\n  - name: a\n    env:\n    - {name: X, valueFrom: {secretKeyRef: {name: s}}}\n  - name: b\n    args: [\"x\",\n      \"y\"]\n\"we/ird~\": 1\n";
        assert_eq!(position(text, ""), Some((2, 1)));
        assert_eq!(position(text, "/kind"), Some((2, 1)));
        assert_eq!(position(text, "/spec/containers"), Some((4, 3)));
        assert_eq!(position(text, "/spec/containers/0"), Some((5, 5)));
        assert_eq!(position(text, "/spec/containers/0/env/0"), Some((7, 7)));
        assert_eq!(
            position(text, "/spec/containers/0/env/0/valueFrom/secretKeyRef"),
            Some((7, 29))
        );
        assert_eq!(position(text, "/spec/containers/1/name"), Some((8, 5)));
        assert_eq!(position(text, "/spec/containers/1/args/1"), Some((10, 7)));
        assert_eq!(position(text, "/we~1ird~0"), Some((11, 1)));
        assert_eq!(position(text, "/spec/containers/2"), None);
        assert_eq!(position(text, "/spec/volumes"), None);
        assert_eq!(position(text, "spec"), None);
    }

    #[test]
    fn positions_follow_resolved_keys_and_look_past_aliases_and_merge_keys() {
        let text = "yes: 1\nbase: &b {x: 1}\nuse: *b\nafter: [1, 2]\nmerged:\n  <<: [*b, {y: 2}]\n  z: 3\n";
        assert_eq!(position(text, "/true"), Some((1, 1)));
        assert_eq!(position(text, "/after/1"), Some((4, 12)));
        assert_eq!(position(text, "/base/x"), Some((2, 11)));
        // written only through an alias or a merge key: no place of its own
        assert_eq!(position(text, "/use/x"), None);
        assert_eq!(position(text, "/use"), Some((3, 1)));
        assert_eq!(position(text, "/merged/x"), None);
        assert_eq!(position(text, "/merged/y"), None);
        assert_eq!(position(text, "/merged/z"), Some((7, 3)));
        // nor is the value of a key given as an alias
        let text = "a: &k b\n*k : {c: 1}\n";
        assert_eq!(position(text, "/a"), Some((1, 1)));
        assert_eq!(position(text, "/b"), None);
        assert_eq!(position(text, "/b/c"), None);
    }

    #[test]
    fn json_is_placed_as_its_yaml_reading_places_it_keys_given_twice_too() {
        let text = "{\"a\": {\"x\": 1},\n \"a\": {\"y\": [2, 3]}, \"w/~\": \"\\/\"}";
        let positions = json_positions(text);
        let at = |pointer: &str| positions.get(pointer).map(|p| (p.line, p.column));
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("/a"), Some((1, 2)));
        assert_eq!(at("/a/y/1"), Some((2, 17)));
        assert_eq!(at("/w~1~0"), Some((2, 22)));
        // what follows a place libyaml cannot read has none
        let positions = json_positions("{\"a\": 1,\n \"b\": [1, 2],\n \"c\": \"\\ud800\", \"d\": 2}");
        assert_eq!(positions.get("/b/1").map(|p| (p.line, p.column)), Some((2, 11)));
        assert_eq!(positions.get("/d"), None);
    }

    /// The differential test against libyaml: `e2e-tests/yaml_corpus.py`
    /// writes a corpus with what libyaml (PyYAML's CSafeLoader) reads in each
    /// document, turned into go-yaml's JSON, and runs this test on it
    /// (`KUBE_YAML_CORPUS=corpus.json`). Every document must be accepted or
    /// refused as there, with the same JSON, and a syntax error found at the
    /// same line and column.
    #[test]
    #[ignore = "run by e2e-tests/yaml_corpus.py, which writes the corpus"]
    fn libyaml_corpus() {
        let path = std::env::var("KUBE_YAML_CORPUS").expect("KUBE_YAML_CORPUS: the corpus yaml_corpus.py writes");
        let records: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut failures = Vec::new();
        let (mut accepted, mut refused) = (0, 0);
        for record in &records {
            let name = record["name"].as_str().unwrap();
            let text = record["text"].as_str().unwrap();
            let expect = &record["expect"];
            let ours = parse(text).map(|docs| docs.into_iter().map(|d| d.value).collect::<Vec<_>>());
            let problem = match (expect.get("docs"), &ours) {
                (Some(docs), Ok(values)) => {
                    accepted += 1;
                    (docs.as_array() != Some(values)).then(|| format!("read {values:?}, libyaml {docs}"))
                }
                (Some(docs), Err(e)) => Some(format!("refused ({e}), libyaml read {docs}")),
                (None, Ok(values)) => Some(format!("read {values:?}, libyaml refused: {}", expect["error"])),
                (None, Err(e)) => {
                    refused += 1;
                    let place = &expect["error"];
                    let same = place.is_null()
                        || (place["line"].as_u64() == Some(e.line as u64)
                            && place["column"].as_u64() == Some(e.column as u64));
                    (!same).then(|| {
                        format!(
                            "refused at line {}, column {} ({e}), libyaml at {place}",
                            e.line, e.column
                        )
                    })
                }
            };
            if let Some(problem) = problem {
                failures.push(format!("{name}: {text:?}\n    {problem}"));
            }
        }
        eprintln!(
            "libyaml corpus: {} documents, {accepted} accepted and {refused} refused as libyaml does, {} differ",
            records.len(),
            failures.len()
        );
        for failure in &failures {
            eprintln!("  {failure}");
        }
        assert!(
            failures.is_empty(),
            "{} documents read otherwise than by libyaml",
            failures.len()
        );
    }

    /// sigs.k8s.io/yaml names a float key by its float32 (`FormatFloat(f,
    /// 'g', -1, 32)`), so one beyond float32's range is an infinity.
    #[test]
    fn float_keys_beyond_float32_are_infinities_as_in_go() {
        assert_eq!(one("1e300: a\n-1e39: b\n"), json!({".inf": "a", "-.inf": "b"}));
        assert_eq!(one("1e-50: a\n"), json!({"0": "a"}));
    }

    #[test]
    fn float_keys_match_go_formatting() {
        assert_eq!(go_float32_key(1.5), "1.5");
        assert_eq!(go_float32_key(1e6), "1e+06");
        assert_eq!(go_float32_key(123456.0), "123456");
        assert_eq!(go_float32_key(0.0001), "0.0001");
        assert_eq!(go_float32_key(0.00001), "1e-05");
        assert_eq!(go_float32_key(-2.25), "-2.25");
        assert_eq!(go_float32_key(0.1), "0.1");
        assert_eq!(go_float32_key(f64::INFINITY), ".inf");
    }
}
