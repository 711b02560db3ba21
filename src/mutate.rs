//! Adds the mounts that the declared `secretMounts` call for but a pod spec lacks.
//!
//! Two phases. [`plan`] reads the raw pod spec and decides every edit, or finds the
//! conflicts that forbid guessing; it changes nothing. [`apply`] then performs the
//! edits on the raw JSON (`serde_json::Value`), appending only, so every field the
//! policy does not know survives and the RFC 6902 diff holds nothing but `add`
//! operations (and the `replace` that makes a mount `readOnly: true`). A pod spec
//! that already has everything yields no edit at all, which makes the mutation
//! idempotent.

use serde_json::{json, Map, Value};

use crate::settings::{SecretMount, Settings};
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
    /// Append a `secret` source to an existing projected volume.
    AddSource {
        volume: String,
        source: Value,
        entry: String,
        secret: String,
        who: ContainerRef,
    },
    /// Append items to an existing `secret` source of a projected volume.
    AddItems {
        volume: String,
        source: usize,
        items: Vec<Value>,
        entry: String,
        secret: String,
        who: ContainerRef,
    },
}

/// A volume the plan targets: an existing projected volume, or the one it creates.
struct TargetVolume<'a> {
    name: String,
    /// Working copy of its sources, with the plan's additions so far.
    sources: Vec<Value>,
    existing: bool,
    /// The declared entries it must carry, in settings order, and the first container wanting each.
    entries: Vec<(&'a SecretMount, ContainerRef)>,
}

/// Decides the edits that give `spec` every applicable declared mount.
/// `labels` are the pod template's labels (for entry selectors); `at` is the spec's
/// dotted location, for conflict messages.
pub fn plan(
    spec: &Map<String, Value>,
    labels: &Map<String, Value>,
    at: &str,
    settings: &Settings,
) -> Result<Vec<Edit>, Vec<Finding>> {
    let entries: Vec<&SecretMount> = settings
        .secret_mounts
        .iter()
        .filter(|e| e.selector.as_ref().is_none_or(|s| s.matches(labels)))
        .collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut conflicts = Vec::new();
    let conflict = |subject: String, detail: String| Finding {
        at: at.to_string(),
        violation: Violation::SecretMountsConflict { subject, detail },
    };

    // Which containers each entry targets, grouped per container in pod-spec order.
    let lists: Vec<(ContainerList, &[Value])> = ContainerList::ALL
        .iter()
        .map(|&l| {
            (
                l,
                spec.get(l.field())
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            )
        })
        .collect();
    let mut targets: Vec<(ContainerList, usize, Vec<&SecretMount>)> = Vec::new();
    for entry in &entries {
        let mut wanted: Vec<(ContainerList, usize)> = Vec::new();
        match &entry.containers {
            None => {
                for (index, c) in lists[0].1.iter().enumerate() {
                    let name = c.as_object().map(|c| entry_name(c, index)).unwrap_or_default();
                    if !settings.is_exempt(&name) {
                        wanted.push((ContainerList::Containers, index));
                    }
                }
            }
            Some(names) => {
                for name in names {
                    let found = lists.iter().find_map(|(list, items)| {
                        items
                            .iter()
                            .position(|c| c.get("name").and_then(Value::as_str) == Some(name))
                            .map(|i| (*list, i))
                    });
                    match found {
                        Some(hit) => wanted.push(hit),
                        None => conflicts.push(conflict(
                            format!("secretMounts entry {:?}", entry.name),
                            format!("it names container {name:?}, which this pod spec does not have"),
                        )),
                    }
                }
            }
        }
        for (list, index) in wanted {
            match targets.iter_mut().find(|(l, i, _)| *l == list && *i == index) {
                Some((_, _, es)) => es.push(entry),
                None => targets.push((list, index, vec![entry])),
            }
        }
    }
    targets.sort_by_key(|(list, index, _)| (ContainerList::ALL.iter().position(|l| l == list), *index));

    let volumes: &[Value] = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let volume_named = |name: &str| {
        volumes
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
    };
    let mount_path = settings.mount_path.as_str();
    let mut edits = Vec::new();
    let mut target_volumes: Vec<TargetVolume> = Vec::new();

    for (list, index, wanted) in targets {
        let items = lists
            .iter()
            .find(|(l, _)| *l == list)
            .map_or(&[][..], |(_, items)| *items);
        let Some(container) = items.get(index).and_then(Value::as_object) else {
            continue;
        };
        let who = ContainerRef {
            list,
            name: entry_name(container, index),
        };
        let mounts = container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let at_path = mounts
            .iter()
            .position(|m| m.get("mountPath").and_then(Value::as_str) == Some(mount_path));
        let volume_name = match at_path {
            Some(m) => {
                let mount = &mounts[m];
                let name = mount.get("name").and_then(Value::as_str).unwrap_or("");
                match volume_named(name) {
                    Some(v) if v.get("projected").is_some_and(Value::is_object) => {}
                    Some(_) => {
                        conflicts.push(conflict(
                            who.to_string(),
                            format!("{mount_path} is taken by volume {name:?}, which is not a projected volume; mount secrets there through a projected volume"),
                        ));
                        continue;
                    }
                    None => {
                        conflicts.push(conflict(
                            who.to_string(),
                            format!("its volumeMount at {mount_path} names volume {name:?}, which the pod spec does not define"),
                        ));
                        continue;
                    }
                }
                if mount.get("readOnly") != Some(&Value::Bool(true)) {
                    edits.push(Edit::MakeReadOnly {
                        who: who.clone(),
                        index,
                        mount: m,
                    });
                }
                name.to_string()
            }
            None => {
                let name = settings.volume_name.as_str();
                if let Some(v) = volume_named(name) {
                    if !v.get("projected").is_some_and(Value::is_object) {
                        conflicts.push(conflict(
                            who.to_string(),
                            format!("volumeName {name:?} already names a volume that is not projected; set the policy's volumeName to an unused name"),
                        ));
                        continue;
                    }
                }
                let entries = wanted.iter().map(|e| (e.name.clone(), e.secret_name.clone())).collect();
                edits.push(Edit::AddMount {
                    who: who.clone(),
                    index,
                    volume: name.to_string(),
                    entries,
                });
                name.to_string()
            }
        };
        let target = match target_volumes.iter_mut().position(|t| t.name == volume_name) {
            Some(i) => &mut target_volumes[i],
            None => {
                let existing = volume_named(&volume_name);
                let sources = existing
                    .and_then(|v| v.pointer("/projected/sources"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                target_volumes.push(TargetVolume {
                    name: volume_name,
                    sources,
                    existing: existing.is_some(),
                    entries: Vec::new(),
                });
                target_volumes.last_mut().expect("just pushed")
            }
        };
        for entry in wanted {
            if !target.entries.iter().any(|(e, _)| std::ptr::eq(*e, entry)) {
                target.entries.push((entry, who.clone()));
            }
        }
    }

    for mut target in target_volumes {
        target
            .entries
            .sort_by_key(|(e, _)| entries.iter().position(|x| std::ptr::eq(*x, *e)));
        let entries = std::mem::take(&mut target.entries);
        for (entry, who) in entries {
            if let Err(detail) = merge_entry(&mut target, entry, &who, &mut edits) {
                conflicts.push(conflict(format!("volume {:?}", target.name), detail));
            }
        }
        if !target.existing {
            edits.push(Edit::AddVolume {
                name: target.name,
                sources: target.sources,
            });
        }
    }
    // Volumes are created before anything refers to them.
    edits.sort_by_key(|e| !matches!(e, Edit::AddVolume { .. }));
    if conflicts.is_empty() {
        Ok(edits)
    } else {
        Err(conflicts)
    }
}

fn secret_name(source: &Value) -> Option<&str> {
    source.pointer("/secret/name").and_then(Value::as_str)
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
    let of_secret: Vec<usize> = (0..target.sources.len())
        .filter(|&i| secret_name(&target.sources[i]) == Some(secret))
        .collect();
    let whole = |s: &Value| s.pointer("/secret/items").is_none_or(Value::is_null);
    let new_source = |items: Option<Vec<Value>>| match items {
        Some(items) => json!({"secret": {"name": secret, "items": items}}),
        None => json!({"secret": {"name": secret}}),
    };

    let Some(declared) = &entry.items else {
        // Every key of the Secret: satisfied by a source of it without items.
        if of_secret.iter().any(|&i| whole(&target.sources[i])) {
            return Ok(());
        }
        return add_source(target, new_source(None), entry, who, edits);
    };

    let mut missing = Vec::new();
    {
        let used = projected_paths(&target.sources);
        for item in declared {
            let present = of_secret.iter().any(|&i| {
                let source = &target.sources[i];
                (whole(source) && item.key == item.path)
                    || source
                        .pointer("/secret/items")
                        .and_then(Value::as_array)
                        .is_some_and(|items| {
                            items.iter().any(|it| {
                                it.get("key").and_then(Value::as_str) == Some(&item.key)
                                    && it.get("path").and_then(Value::as_str) == Some(&item.path)
                            })
                        })
            });
            if present {
                continue;
            }
            if let Some((_, holder)) = used.iter().find(|(path, _)| *path == item.path) {
                return Err(format!(
                    "item {:?} of secretMounts entry {:?} would project path {:?}, already projected by {holder}",
                    item.key, entry.name, item.path
                ));
            }
            missing.push(json!({"key": item.key, "path": item.path}));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let with_items = of_secret
        .iter()
        .copied()
        .find(|&i| target.sources[i].pointer("/secret/items").is_some_and(Value::is_array));
    match with_items {
        Some(source) => {
            if let Some(items) = target.sources[source]
                .pointer_mut("/secret/items")
                .and_then(Value::as_array_mut)
            {
                items.extend(missing.iter().cloned());
            }
            if target.existing {
                edits.push(Edit::AddItems {
                    volume: target.name.clone(),
                    source,
                    items: missing,
                    entry: entry.name.clone(),
                    secret: secret.to_string(),
                    who: who.clone(),
                });
            }
            Ok(())
        }
        None => add_source(target, new_source(Some(missing)), entry, who, edits),
    }
}

fn add_source(
    target: &mut TargetVolume,
    source: Value,
    entry: &SecretMount,
    who: &ContainerRef,
    edits: &mut Vec<Edit>,
) -> Result<(), String> {
    target.sources.push(source.clone());
    if target.existing {
        edits.push(Edit::AddSource {
            volume: target.name.clone(),
            source,
            entry: entry.name.clone(),
            secret: entry.secret_name.clone(),
            who: who.clone(),
        });
    }
    Ok(())
}

/// Performs planned edits on the raw pod spec, appending only.
pub fn apply(spec: &mut Map<String, Value>, edits: Vec<Edit>, mount_path: &str) {
    for edit in edits {
        match edit {
            Edit::AddVolume { name, sources } => {
                if let Some(volumes) = list_mut(spec, "volumes") {
                    volumes.push(json!({"name": name, "projected": {"sources": sources}}));
                }
            }
            Edit::AddMount { who, index, volume, .. } => {
                if let Some(mounts) = container_mut(spec, who.list, index).and_then(|c| list_mut(c, "volumeMounts")) {
                    mounts.push(json!({"name": volume, "mountPath": mount_path, "readOnly": true}));
                }
            }
            Edit::MakeReadOnly { who, index, mount } => {
                let mount = container_mut(spec, who.list, index)
                    .and_then(|c| c.get_mut("volumeMounts"))
                    .and_then(|m| m.get_mut(mount))
                    .and_then(Value::as_object_mut);
                if let Some(mount) = mount {
                    mount.insert("readOnly".to_string(), Value::Bool(true));
                }
            }
            Edit::AddSource { volume, source, .. } => {
                if let Some(sources) = projected_mut(spec, &volume).and_then(|p| list_mut(p, "sources")) {
                    sources.push(source);
                }
            }
            Edit::AddItems {
                volume, source, items, ..
            } => {
                let list = projected_mut(spec, &volume)
                    .and_then(|p| p.get_mut("sources"))
                    .and_then(|s| s.get_mut(source))
                    .and_then(|s| s.pointer_mut("/secret/items"))
                    .and_then(Value::as_array_mut);
                if let Some(list) = list {
                    list.extend(items);
                }
            }
        }
    }
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

fn projected_mut<'a>(spec: &'a mut Map<String, Value>, volume: &str) -> Option<&'a mut Map<String, Value>> {
    spec.get_mut("volumes")?
        .as_array_mut()?
        .iter_mut()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(volume))?
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
                volume,
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
                volume,
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
