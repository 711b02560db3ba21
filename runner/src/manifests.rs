//! The objects of the manifests given to `check` (and as cluster state),
//! each with its place: file, document, `List` item and line, and where its
//! nodes are written ([`Source`]), so that a finding can be placed at the
//! line and column of its field. Streams are split and `List`s walked by
//! [`crate::stream`].

use std::sync::Arc;

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::helm_source::Templates;
use crate::input::{origin_name, read_text};
use crate::position::{Position, Positions};
use crate::request::ManifestObject;
use crate::results::Location;
use crate::stream::{documents, objects};

/// One object of a manifest, or why a document did not give one.
#[derive(Debug, Clone)]
pub struct Entry {
    pub location: Location,
    pub content: std::result::Result<ManifestObject, String>,
    /// Where the object's text is, when it is known.
    pub source: Option<Source>,
}

impl Entry {
    fn refused(location: Location, message: String) -> Entry {
        let content = Err(message);
        Entry {
            location,
            content,
            source: None,
        }
    }
}

/// Where an object is written: where each node of its document is in the
/// file, and the object's place in the document (`/items/2` for an item of
/// a `List`).
#[derive(Debug, Clone)]
pub struct Source {
    /// Shared by the objects of one document.
    positions: Arc<Positions>,
    /// JSON pointer of the object in its document.
    prefix: String,
}

impl Source {
    /// Where the node at `pointer` (RFC 6901, in the object) is written in
    /// the file: the key of a mapping's value, else the node itself. `None`
    /// when no node is written there (see [`Positions`]).
    pub fn position(&self, pointer: &str) -> Option<Position> {
        self.positions.get(&format!("{}{pointer}", self.prefix))
    }
}

/// Reads every manifest into entries: objects (Lists expanded) and the
/// documents, files or directories that could not be read, each with its
/// place.
///
/// A MANIFEST argument stands for files as kubectl's `-f` expands it: a
/// file (or `-`) is itself, whatever its name; a directory, the files in it
/// whose names end in [`MANIFEST_ENDINGS`], and with `recursive` those of its
/// subdirectories too ([`walk_directory`]).
pub fn read_manifests(paths: &[String], recursive: bool) -> Result<Vec<Entry>> {
    if paths.iter().filter(|p| *p == "-").count() > 1 {
        bail!("standard input (`-`) can be given only once");
    }
    let mut entries = Vec::new();
    for path in paths {
        if path == "-" || !Path::new(path).is_dir() {
            read_file(path, &mut entries);
        } else {
            walk_directory(Path::new(path), recursive, &mut entries);
        }
    }
    Ok(entries)
}

/// The entries of one file: its objects, or why it could not be read.
fn read_file(path: &str, entries: &mut Vec<Entry>) {
    match read_text(path, "manifest") {
        Ok(text) => entries.extend(file_entries(&origin_name(path), &text)),
        Err(err) => entries.push(unreadable(path, &err)),
    }
}

fn unreadable(path: &str, err: &anyhow::Error) -> Entry {
    let location = Location {
        file: origin_name(path),
        ..Location::default()
    };
    Entry::refused(location, format!("{err:#}"))
}

/// The endings of the files read in a directory, as kubectl's.
const MANIFEST_ENDINGS: [&str; 3] = [".yaml", ".yml", ".json"];

/// Reads the manifest files of a directory in kubectl's order (Go's
/// `filepath.Walk`: each directory's entries sorted by name, bytewise, a
/// subdirectory's files at its place among them). A symbolic link in a
/// directory is taken for a file, as kubectl takes it: read when its name
/// ends so, never followed into a directory.
fn walk_directory(dir: &Path, recursive: bool, entries: &mut Vec<Entry>) {
    let listed = std::fs::read_dir(dir).and_then(|entries| {
        entries
            .map(|entry| entry.and_then(|e| Ok((e.file_name(), e.file_type()?.is_dir()))))
            .collect::<std::io::Result<Vec<_>>>()
    });
    let mut names = match listed {
        Ok(names) => names,
        Err(err) => {
            let dir = dir.display().to_string();
            let err = anyhow!("cannot read manifest directory {dir}: {err}");
            return entries.push(unreadable(&dir, &err));
        }
    };
    names.sort();
    for (name, is_dir) in names {
        let path = dir.join(&name);
        if is_dir {
            if recursive {
                walk_directory(&path, recursive, entries);
            }
        } else if MANIFEST_ENDINGS
            .iter()
            .any(|end| name.as_encoded_bytes().ends_with(end.as_bytes()))
        {
            read_file(&path.display().to_string(), entries);
        }
    }
}

pub(crate) fn file_entries(file: &str, text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let templates = Templates::of(text);
    for document in documents(text) {
        let location = Location {
            file: file.to_string(),
            document: Some(document.index),
            item: None,
            line: Some(document.line),
            template: templates.at(document.line).map(str::to_string),
        };
        let value = match document.content {
            Ok(value) => value,
            Err(message) => {
                entries.push(Entry::refused(location, message));
                continue;
            }
        };
        let positions = document.positions.map(Arc::new);
        for (index, (pointer, object)) in objects(value).into_iter().enumerate() {
            let location = Location {
                item: (!pointer.is_empty()).then_some(index + 1),
                ..location.clone()
            };
            let source = positions.clone().map(|positions| Source {
                positions,
                prefix: pointer,
            });
            entries.push(Entry {
                location,
                content: ManifestObject::new(object).map_err(|e| format!("{e:#}")),
                source,
            });
        }
    }
    entries
}

/// Reads manifests for tests and tools: fails on the first unreadable entry.
#[cfg(test)]
pub fn read_objects(paths: &[String]) -> Result<Vec<(Location, ManifestObject)>> {
    read_manifests(paths, false)?
        .into_iter()
        .map(|e| {
            let place = e.location.describe();
            e.content.map(|o| (e.location, o)).map_err(|m| anyhow!("{place}: {m}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `pointer` of the `n`th entry of `text` is written.
    fn position(text: &str, n: usize, pointer: &str) -> Option<(usize, usize)> {
        let entries = file_entries("f.yaml", text);
        let at = entries[n].source.as_ref()?.position(pointer)?;
        Some((at.line, at.column))
    }

    #[test]
    fn fields_are_placed_in_the_file_in_a_stream_after_comments() {
        let text = "# Source: chart/a.yaml\n---\n# a comment\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n---\n# Source: chart/b.yaml\napiVersion: v1\nkind: Pod\nspec: {containers: [{name: b}]}\n";
        assert_eq!(position(text, 0, ""), Some((4, 1)));
        assert_eq!(position(text, 0, "/spec/containers/0/name"), Some((8, 5)));
        assert_eq!(position(text, 1, "/spec/containers/0/name"), Some((13, 22)));
        assert_eq!(position(text, 1, "/spec/volumes"), None);
    }

    #[test]
    fn fields_are_placed_after_a_byte_order_mark_in_characters() {
        // flow style on the first line, after a BOM: columns do not count it
        let text = "\u{feff}{apiVersion: v1, kind: Pod, spec: {x: 1}}\n";
        assert_eq!(position(text, 0, "/spec/x"), Some((1, 36)));
        // and in a document of files joined with `cat`, each saved with one
        let text = "\u{feff}kind: A\n---\n\u{feff}apiVersion: v1\nkind: Pod\nmetadata: {name: é, x: 1}\n";
        assert_eq!(position(text, 1, "/kind"), Some((4, 1)));
        assert_eq!(position(text, 1, "/metadata/x"), Some((5, 21)));
    }

    #[test]
    fn fields_are_placed_in_json_documents() {
        let text = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"spec\": {\"containers\": [\n    {\"name\": \"a\"}]}\n}\n";
        assert_eq!(position(text, 0, "/spec/containers/0/name"), Some((5, 6)));
        assert_eq!(position(text, 0, "/spec"), Some((4, 3)));
        // two values on one line: the second one's columns count from the line's start
        let text = "{\"kind\": \"A\", \"a\": 1} {\"kind\": \"B\", \"b\": 2}\n";
        assert_eq!(position(text, 0, "/a"), Some((1, 15)));
        assert_eq!(position(text, 1, "/b"), Some((1, 37)));
    }

    #[test]
    fn fields_are_placed_in_list_items() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n";
        assert_eq!(position(text, 0, "/metadata/name"), Some((6, 14)));
        assert_eq!(position(text, 1, ""), Some((7, 3)));
        assert_eq!(position(text, 1, "/metadata/name"), Some((10, 5)));
        // a typed list's item gets its kind from the list: written nowhere
        let text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n";
        assert_eq!(position(text, 0, "/kind"), None);
        assert_eq!(position(text, 0, "/metadata"), Some((4, 3)));
    }

    #[test]
    fn manifests_are_read_and_expanded_and_bad_documents_reported() {
        let dir = std::env::temp_dir().join(format!("policy-runner-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.yaml");
        std::fs::write(
            &file,
            "# Source: x\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: ns}\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let objects = read_objects(std::slice::from_ref(&path)).unwrap();
        let names: Vec<_> = objects.iter().map(|(_, o)| o.display()).collect();
        assert_eq!(names, ["Pod a", "Deployment ns/b"]);
        assert_eq!(objects[0].0.document, Some(1));
        assert_eq!(objects[0].0.item, Some(1));
        assert_eq!(objects[0].0.line, Some(3));
        assert_eq!(objects[1].0.document, Some(2));
        assert_eq!(objects[1].0.item, None);
        assert_eq!(objects[1].0.line, Some(10));

        std::fs::write(&file, "apiVersion: v1\nkind: Pod\n---\n- just\n- a list\n").unwrap();
        let entries = read_manifests(std::slice::from_ref(&path), false).unwrap();
        assert_eq!(entries.len(), 2);
        let err = entries[1].content.as_ref().unwrap_err();
        assert!(err.contains("not a Kubernetes object"), "{err}");
        assert_eq!(entries[1].location.document, Some(2));

        let missing = dir.join("missing.yaml").display().to_string();
        let entries = read_manifests(&[missing, path], false).unwrap();
        assert!(entries[0]
            .content
            .as_ref()
            .unwrap_err()
            .contains("cannot read manifest"));
        assert_eq!(entries[0].location.document, None);
        assert_eq!(entries.len(), 3);
        assert!(read_manifests(&["-".into(), "-".into()], false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Times the reading alone (no policy) of a manifest stream, such as
    /// `scripts/gen-workloads.py` writes:
    /// `READ_TIMING_FILE=w.yaml cargo test --release read_timing -- --ignored --nocapture`.
    /// It prints figures and asserts nothing about them.
    #[test]
    #[ignore = "a timing harness, run by hand"]
    fn read_timing() {
        let Ok(path) = std::env::var("READ_TIMING_FILE") else {
            eprintln!("set READ_TIMING_FILE to a manifest file");
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..20 {
            let start = std::time::Instant::now();
            count = documents(&text).len();
            times.push(start.elapsed());
        }
        times.sort();
        eprintln!(
            "{path}: {count} documents, {} bytes; read in min {:?}, median {:?}, max {:?} (20 runs)",
            text.len(),
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
