//! Adds the mounts that the declared `secretMounts` call for but a pod spec lacks.
//!
//! Two phases. [`plan`] reads the raw pod spec and decides every edit, or finds the
//! conflicts that forbid guessing; it changes nothing. [`apply`] then performs the
//! edits on the raw JSON (`serde_json::Value`), appending only, so every field the
//! policy does not know survives and the RFC 6902 diff holds nothing but `add`
//! operations (and the `replace` that makes a mount `readOnly: true`). A pod spec
//! that already has everything yields no edit at all, which makes the mutation
//! idempotent.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::podspec::{field, get};
use crate::settings::{KeyToPath, SecretMount, Settings};
use crate::validate::{entry_name, projected_paths};
use crate::violation::{ContainerList, ContainerRef, Finding, Violation};

/// One change to a pod spec, with enough context to describe it as a missing mount
/// when the policy runs validate-only (`mutate: false`).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Append a projected volume (with all its sources) to `volumes`.
    AddVolume { name: String, sources: Vec<Value> },
    /// Append `{name, mountPath, readOnly: true}` to a container's `volumeMounts`;
    /// `entries` are the declared entries (name, secret) the mount is for.
    AddMount {
        who: ContainerRef,
        index: usize,
        volume: String,
        entries: Vec<(String, String)>,
    },
    /// Set `readOnly: true` on an existing mount at the mount path.
    MakeReadOnly {
        who: ContainerRef,
        index: usize,
        mount: usize,
    },
    /// Append a `secret` source to the existing projected volume at `volumes[volume]`.
    AddSource {
        volume: usize,
        name: String,
        source: Value,
        entry: String,
        secret: String,
        who: ContainerRef,
    },
    /// Append items to source `source` of the existing projected volume at `volumes[volume]`.
    AddItems {
        volume: usize,
        name: String,
        source: usize,
        items: Vec<Value>,
        entry: String,
        secret: String,
        who: ContainerRef,
    },
}

/// A volume the plan targets: an existing projected volume, or the one it creates,
/// with indexes over its sources so merging stays linear in their size.
struct TargetVolume<'a> {
    name: String,
    /// Index in `volumes` of the existing volume; `None` for the one the plan creates.
    existing: Option<usize>,
    /// Working copy of its sources, with the plan's additions so far.
    sources: Vec<Value>,
    /// Every explicit file path projected, with a description of its source.
    used_paths: BTreeMap<String, String>,
    /// (secret, key, path) of every secret item projected.
    items: BTreeSet<(String, String, String)>,
    /// Secrets projected whole (a source without `items`).
    whole: BTreeSet<String>,
    /// The first source of each secret that has an `items` list.
    with_items: BTreeMap<String, usize>,
    /// The declared entries it must carry, in settings order, and the first container wanting each.
    entries: BTreeMap<usize, (&'a SecretMount, ContainerRef)>,
}

impl<'a> TargetVolume<'a> {
    fn new(name: String, existing: Option<(usize, &Value)>) -> Self {
        let sources = existing
            .and_then(|(_, v)| v.pointer("/projected/sources"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut target = TargetVolume {
            name,
            existing: existing.map(|(i, _)| i),
            sources: Vec::new(),
            used_paths: BTreeMap::new(),
            items: BTreeSet::new(),
            whole: BTreeSet::new(),
            with_items: BTreeMap::new(),
            entries: BTreeMap::new(),
        };
        for source in sources {
            target.index_source(source);
        }
        target
    }

    /// Appends a source to the working copy and indexes it.
    fn index_source(&mut self, source: Value) {
        let at = self.sources.len();
        for (path, holder) in projected_paths(std::slice::from_ref(&source)) {
            self.used_paths.entry(path.to_string()).or_insert(holder);
        }
        if let Some(secret) = source.pointer("/secret/name").and_then(Value::as_str) {
            match source.pointer("/secret/items").and_then(Value::as_array) {
                Some(items) => {
                    self.with_items.entry(secret.to_string()).or_insert(at);
                    for item in items {
                        let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        self.items.insert((secret.to_string(), field("key"), field("path")));
                    }
                }
                None => {
                    self.whole.insert(secret.to_string());
                }
            }
        }
        self.sources.push(source);
    }

    /// Appends items to the working copy of source `at` of `secret` and indexes them.
    fn index_items(&mut self, at: usize, secret: &str, items: &[KeyToPath]) {
        if let Some(list) = self.sources[at]
            .pointer_mut("/secret/items")
            .and_then(Value::as_array_mut)
        {
            list.extend(items.iter().map(item_json));
        }
        for item in items {
            self.used_paths
                .entry(item.path.clone())
                .or_insert_with(|| format!("secret {secret:?} key {:?}", item.key));
            self.items
                .insert((secret.to_string(), item.key.clone(), item.path.clone()));
        }
    }
}

fn item_json(item: &KeyToPath) -> Value {
    json!({"key": item.key, "path": item.path})
}

/// The list at `key` of a JSON object, or empty when absent or not a list
/// (validation reports such shapes as malformed).
fn list<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    field(map, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn name_of(value: &Value) -> Option<&str> {
    get(value, "name").and_then(Value::as_str)
}

/// Decides the edits that give `spec` every applicable declared mount.
/// `labels` are the pod template's labels (for entry selectors); `at` is the spec's
/// dotted location, for conflict messages. Linear in the size of the pod spec.
pub fn plan(
    spec: &Map<String, Value>,
    labels: &Map<String, Value>,
    at: &str,
    settings: &Settings,
) -> Result<Vec<Edit>, Vec<Finding>> {
    let entries: Vec<(usize, &SecretMount)> = settings
        .secret_mounts
        .iter()
        .enumerate()
        .filter(|(_, e)| e.selector.as_ref().is_none_or(|s| s.matches(labels)))
        .collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut conflicts = Vec::new();
    let conflict = |subject: String, detail: String| Finding {
        at: at.to_string(),
        violation: Violation::SecretMountsConflict { subject, detail },
    };
    let lists: [&[Value]; 3] = ContainerList::ALL.map(|l| list(spec, l.field()));

    // Entries naming their containers go to the first container of each name;
    // the index of names is built only when some entry names containers.
    let mut by_name: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    if entries.iter().any(|(_, e)| e.containers.is_some()) {
        for (l, items) in lists.iter().enumerate() {
            for (i, c) in items.iter().enumerate() {
                if let Some(name) = name_of(c) {
                    by_name.entry(name).or_insert((l, i));
                }
            }
        }
        for &(_, entry) in &entries {
            for name in entry.containers.iter().flatten() {
                if !by_name.contains_key(name.as_str()) {
                    conflicts.push(conflict(
                        format!("secretMounts entry {:?}", entry.name),
                        format!("it names container {name:?}, which this pod spec does not have"),
                    ));
                }
            }
        }
    }

    let volumes = list(spec, "volumes");
    let mut volume_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        if let Some(name) = name_of(v) {
            volume_index.entry(name).or_insert(i);
        }
    }
    let projected = |i: usize| volumes[i].get("projected").is_some_and(Value::is_object);
    let mount_path = settings.mount_path.as_str();
    let mut edits = Vec::new();
    let mut target_volumes: Vec<TargetVolume> = Vec::new();
    let mut target_index: BTreeMap<&str, usize> = BTreeMap::new();
    // The entries the container being planned gets, in settings order (reused).
    let mut wanted: Vec<(usize, &SecretMount)> = Vec::new();

    // Containers in pod-spec order: containers, initContainers, ephemeralContainers.
    for (l, items) in lists.iter().enumerate() {
        for (index, container) in items.iter().enumerate() {
            let Some(container) = container.as_object() else {
                continue;
            };
            let name = field(container, "name").and_then(Value::as_str);
            wanted.clear();
            wanted.extend(entries.iter().copied().filter(|(_, entry)| match &entry.containers {
                None => l == 0 && !name.is_some_and(|n| settings.is_exempt(n)),
                Some(names) => {
                    name.is_some_and(|n| names.iter().any(|x| x == n) && by_name.get(n) == Some(&(l, index)))
                }
            }));
            if wanted.is_empty() {
                continue;
            }
            let who = || ContainerRef {
                list: ContainerList::ALL[l],
                name: entry_name(container, index).into_owned(),
            };
            let mounts = list(container, "volumeMounts");
            let at_path = mounts
                .iter()
                .position(|m| get(m, "mountPath").and_then(Value::as_str) == Some(mount_path));
            let volume_name = match at_path {
                Some(m) => {
                    let name = name_of(&mounts[m]).unwrap_or("");
                    match volume_index.get(name) {
                        Some(&i) if projected(i) => {}
                        Some(_) => {
                            conflicts.push(conflict(
                                who().to_string(),
                                format!("{mount_path} is taken by volume {name:?}, which is not a projected volume; mount secrets there through a projected volume"),
                            ));
                            continue;
                        }
                        None => {
                            conflicts.push(conflict(
                                who().to_string(),
                                format!("its volumeMount at {mount_path} names volume {name:?}, which the pod spec does not define"),
                            ));
                            continue;
                        }
                    }
                    if get(&mounts[m], "readOnly") != Some(&Value::Bool(true)) {
                        edits.push(Edit::MakeReadOnly {
                            who: who(),
                            index,
                            mount: m,
                        });
                    }
                    name
                }
                None => {
                    let name = settings.volume_name.as_str();
                    if volume_index.get(name).is_some_and(|&i| !projected(i)) {
                        conflicts.push(conflict(
                            who().to_string(),
                            format!("volumeName {name:?} already names a volume that is not projected; set the policy's volumeName to an unused name"),
                        ));
                        continue;
                    }
                    let entries = wanted
                        .iter()
                        .map(|(_, e)| (e.name.clone(), e.secret_name.clone()))
                        .collect();
                    edits.push(Edit::AddMount {
                        who: who(),
                        index,
                        volume: name.to_string(),
                        entries,
                    });
                    name
                }
            };
            let t = *target_index.entry(volume_name).or_insert_with(|| {
                let existing = volume_index.get(volume_name).map(|&i| (i, &volumes[i]));
                target_volumes.push(TargetVolume::new(volume_name.to_string(), existing));
                target_volumes.len() - 1
            });
            for &(order, entry) in &wanted {
                target_volumes[t].entries.entry(order).or_insert_with(|| (entry, who()));
            }
        }
    }

    for mut target in target_volumes {
        for (_, (entry, who)) in std::mem::take(&mut target.entries) {
            if let Err(detail) = merge_entry(&mut target, entry, &who, &mut edits) {
                conflicts.push(conflict(format!("volume {:?}", target.name), detail));
            }
        }
        if target.existing.is_none() {
            edits.push(Edit::AddVolume {
                name: target.name,
                sources: target.sources,
            });
        }
    }
    if conflicts.is_empty() {
        Ok(edits)
    } else {
        Err(conflicts)
    }
}

/// Adds what `entry` declares to the target volume's working sources, recording
/// the edits for an existing volume. Never duplicates a source or an item.
fn merge_entry(
    target: &mut TargetVolume,
    entry: &SecretMount,
    who: &ContainerRef,
    edits: &mut Vec<Edit>,
) -> Result<(), String> {
    let secret = entry.secret_name.as_str();
    let Some(declared) = &entry.items else {
        // Every key of the Secret: satisfied by a source of it without items.
        if !target.whole.contains(secret) {
            add_source(target, json!({"secret": {"name": secret}}), entry, who, edits);
        }
        return Ok(());
    };
    let mut missing: Vec<KeyToPath> = Vec::new();
    for item in declared {
        let projected_whole = target.whole.contains(secret) && item.key == item.path;
        if projected_whole
            || target
                .items
                .contains(&(secret.to_string(), item.key.clone(), item.path.clone()))
        {
            continue;
        }
        if let Some(holder) = target.used_paths.get(&item.path) {
            return Err(format!(
                "item {:?} of secretMounts entry {:?} would project path {:?}, already projected by {holder}",
                item.key, entry.name, item.path
            ));
        }
        missing.push(item.clone());
    }
    if missing.is_empty() {
        return Ok(());
    }
    match target.with_items.get(secret).copied() {
        Some(source) => {
            target.index_items(source, secret, &missing);
            if let Some(volume) = target.existing {
                edits.push(Edit::AddItems {
                    volume,
                    name: target.name.clone(),
                    source,
                    items: missing.iter().map(item_json).collect(),
                    entry: entry.name.clone(),
                    secret: secret.to_string(),
                    who: who.clone(),
                });
            }
        }
        None => {
            let items: Vec<Value> = missing.iter().map(item_json).collect();
            add_source(
                target,
                json!({"secret": {"name": secret, "items": items}}),
                entry,
                who,
                edits,
            );
        }
    }
    Ok(())
}

fn add_source(
    target: &mut TargetVolume,
    source: Value,
    entry: &SecretMount,
    who: &ContainerRef,
    edits: &mut Vec<Edit>,
) {
    if let Some(volume) = target.existing {
        edits.push(Edit::AddSource {
            volume,
            name: target.name.clone(),
            source: source.clone(),
            entry: entry.name.clone(),
            secret: entry.secret_name.clone(),
            who: who.clone(),
        });
    }
    target.index_source(source);
}

/// Performs planned edits on the raw pod spec, appending only. Returns whether
/// anything changed: an edit whose target is not a list (malformed, and then
/// reported by validation) is skipped.
pub fn apply(spec: &mut Map<String, Value>, edits: Vec<Edit>, mount_path: &str) -> bool {
    let mut changed = false;
    for edit in edits {
        changed |= match edit {
            Edit::AddVolume { name, sources } => list_mut(spec, "volumes")
                .map(|volumes| volumes.push(json!({"name": name, "projected": {"sources": sources}})))
                .is_some(),
            Edit::AddMount { who, index, volume, .. } => container_mut(spec, who.list, index)
                .and_then(|c| list_mut(c, "volumeMounts"))
                .map(|mounts| mounts.push(json!({"name": volume, "mountPath": mount_path, "readOnly": true})))
                .is_some(),
            Edit::MakeReadOnly { who, index, mount } => container_mut(spec, who.list, index)
                .and_then(|c| c.get_mut("volumeMounts"))
                .and_then(|m| m.get_mut(mount))
                .and_then(Value::as_object_mut)
                .map(|mount| mount.insert("readOnly".to_string(), Value::Bool(true)))
                .is_some(),
            Edit::AddSource { volume, source, .. } => projected_mut(spec, volume)
                .and_then(|p| list_mut(p, "sources"))
                .map(|sources| sources.push(source))
                .is_some(),
            Edit::AddItems {
                volume, source, items, ..
            } => projected_mut(spec, volume)
                .and_then(|p| p.get_mut("sources"))
                .and_then(|s| s.get_mut(source))
                .and_then(|s| s.pointer_mut("/secret/items"))
                .and_then(Value::as_array_mut)
                .map(|list| list.extend(items))
                .is_some(),
        };
    }
    changed
}

/// The list at `key`, created when absent or `null`; `None` for a non-list, which
/// validation reports as malformed (and then no mutation is returned).
fn list_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Vec<Value>> {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
}

fn container_mut(spec: &mut Map<String, Value>, list: ContainerList, index: usize) -> Option<&mut Map<String, Value>> {
    spec.get_mut(list.field())?.get_mut(index)?.as_object_mut()
}

fn projected_mut(spec: &mut Map<String, Value>, volume: usize) -> Option<&mut Map<String, Value>> {
    spec.get_mut("volumes")?
        .get_mut(volume)?
        .get_mut("projected")?
        .as_object_mut()
}

/// With `mutate: false`, the edits a pod spec needs are what it is missing.
pub fn missing_as_findings(edits: &[Edit], at: &str, mount_path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for edit in edits {
        let (who, entries, what) = match edit {
            Edit::AddMount {
                who, volume, entries, ..
            } => (
                who,
                entries.clone(),
                format!(
                    "no volumeMount at {mount_path}; add {{name: {volume}, mountPath: {mount_path}, readOnly: true}}"
                ),
            ),
            Edit::AddSource {
                who,
                entry,
                secret,
                name: volume,
                ..
            } => (
                who,
                vec![(entry.clone(), secret.clone())],
                format!("volume {volume:?} has no secret source for it"),
            ),
            Edit::AddItems {
                who,
                entry,
                secret,
                name: volume,
                items,
                ..
            } => {
                let paths: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.get("path").and_then(Value::as_str))
                    .map(|p| format!("{p:?}"))
                    .collect();
                (
                    who,
                    vec![(entry.clone(), secret.clone())],
                    format!("volume {volume:?} does not project {}", paths.join(", ")),
                )
            }
            // A new volume goes with a new mount; a writable mount is secret-mount-writable.
            Edit::AddVolume { .. } | Edit::MakeReadOnly { .. } => continue,
        };
        out.push(Finding {
            at: at.to_string(),
            violation: Violation::DeclaredMountMissing {
                container: who.clone(),
                entries,
                what,
            },
        });
    }
    out
}
