//! plan: the edits that give a pod spec the mounts its declared `secretMounts`
//! call for, or the conflicts that forbid guessing.
//!
//! [`plan`] reads the pod spec (the view the policy parsed) and decides every
//! edit; it changes nothing. Every edit appends — a volume, a mount, a source,
//! items — or sets `readOnly: true` on a mount, so every field the policy does
//! not know survives and the RFC 6902 diff holds nothing but `add` operations
//! (and the `replace` of a `readOnly: false`). A pod spec that already has
//! everything yields no edit at all, which makes the mutation idempotent.
//!
//! The edits go two ways: [`apply_to_view`] applies them to the parsed view, so
//! that the rules judge the object as it will be admitted, and
//! [`crate::splice`] splices them into the object's text for the answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::json::{field, get, list};
use crate::rules::{entry_name, projected_paths};
use crate::settings::{KeyToPath, SecretMount, Settings};
use crate::violation::{ContainerList, ContainerRef, EntryRef, Finding, Violation};

/// One change to a pod spec, with enough context to describe it as a missing mount
/// when the policy runs validate-only (`mutate: false`).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Append a projected volume (with all its sources) to `volumes`.
    AddVolume { name: String, sources: Vec<Value> },
    /// Append `{name, mountPath, readOnly: true}` to a container's `volumeMounts`;
    /// `entries` are the declared entries the mount is for.
    AddMount {
        who: ContainerRef,
        index: usize,
        volume: String,
        entries: Vec<EntryRef>,
    },
    /// Set `readOnly: true` on an existing mount at the mount path.
    MakeReadOnly {
        who: ContainerRef,
        index: usize,
        mount: usize,
    },
    /// Append a `secret` source to the existing projected volume at `volumes[volume]`;
    /// `entries` are the declared entries it carries.
    AddSource {
        volume: usize,
        name: String,
        source: Value,
        entries: Vec<EntryRef>,
        who: ContainerRef,
    },
    /// Append items to source `source` (one the pod spec has) of the existing
    /// projected volume at `volumes[volume]`.
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

/// The edits of one pod spec, addressed by its JSON pointer in the object.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEdits {
    pub pointer: String,
    pub edits: Vec<Edit>,
}

/// A volume the plan targets: an existing projected volume, or the one it creates,
/// with indexes over its sources so merging stays linear in their size.
struct TargetVolume<'a> {
    name: String,
    /// Index in `volumes` of the existing volume; `None` for the one the plan creates.
    existing: Option<usize>,
    /// Working copy of its sources, with the plan's additions so far.
    sources: Vec<Value>,
    /// How many sources the pod spec itself has; the rest are the plan's.
    original: usize,
    /// Source index → index in the edits of the `AddSource` that adds it.
    pending: BTreeMap<usize, usize>,
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
            .and_then(|(_, v)| crate::json::pointer(v, "/projected/sources"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut target = TargetVolume {
            name,
            existing: existing.map(|(i, _)| i),
            sources: Vec::new(),
            original: sources.len(),
            pending: BTreeMap::new(),
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
        if let Some(secret) = crate::json::pointer(&source, "/secret/name").and_then(Value::as_str) {
            match crate::json::pointer(&source, "/secret/items").and_then(Value::as_array) {
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
        if let Some(list) = self
            .sources
            .get_mut(at)
            .and_then(|s| crate::json::pointer_mut(s, "/secret/items"))
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

fn name_of(value: &Value) -> Option<&str> {
    get(value, "name").and_then(Value::as_str)
}

/// Decides the edits that give `spec` every applicable declared mount
/// (`declared`: the settings' `secretMounts` and those VSO resources declare).
/// `labels` are the pod template's labels (for entry selectors); `at` is the spec's
/// dotted location, for conflict messages. Linear in the size of the pod spec.
pub fn plan(
    spec: &Map<String, Value>,
    labels: &Map<String, Value>,
    at: &str,
    settings: &Settings,
    declared: &[SecretMount],
) -> Result<Vec<Edit>, Vec<Finding>> {
    let entries: Vec<(usize, &SecretMount)> = declared
        .iter()
        .enumerate()
        .filter(|(_, e)| e.selector.as_ref().is_none_or(|s| s.matches(labels)))
        .collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut planner = Planner::new(spec, at, settings);
    planner.index_named_containers(&entries);
    let lists = planner.lists;
    for (list, containers) in ContainerList::ALL.into_iter().zip(lists) {
        for (index, container) in containers.iter().enumerate() {
            if let Some(container) = container.as_object() {
                planner.plan_container(list, index, container, &entries);
            }
        }
    }
    planner.finish()
}

/// The state of one plan: what the pod spec has, and what the plan adds.
struct Planner<'s> {
    settings: &'s Settings,
    /// The spec's dotted location, for conflict messages.
    at: &'s str,
    /// `containers`, `initContainers`, `ephemeralContainers`.
    lists: [&'s [Value]; 3],
    volumes: &'s [Value],
    /// Volume name → its first index in `volumes`.
    volume_index: BTreeMap<&'s str, usize>,
    /// Container name → (list, index) of its first container; built only when
    /// some entry names its containers.
    by_name: BTreeMap<&'s str, (ContainerList, usize)>,
    targets: Vec<TargetVolume<'s>>,
    /// Volume name → its index in `targets`.
    target_index: BTreeMap<&'s str, usize>,
    edits: Vec<Edit>,
    conflicts: Vec<Finding>,
}

impl<'s> Planner<'s> {
    fn new(spec: &'s Map<String, Value>, at: &'s str, settings: &'s Settings) -> Self {
        let volumes = list(spec, "volumes");
        let mut volume_index = BTreeMap::new();
        for (i, v) in volumes.iter().enumerate() {
            if let Some(name) = name_of(v) {
                volume_index.entry(name).or_insert(i);
            }
        }
        Planner {
            settings,
            at,
            lists: ContainerList::ALL.map(|l| list(spec, l.field())),
            volumes,
            volume_index,
            by_name: BTreeMap::new(),
            targets: Vec::new(),
            target_index: BTreeMap::new(),
            edits: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Records a conflict once: two containers of one name (which Kubernetes
    /// refuses anyway) or a container named twice in an entry tell it once.
    fn conflict(&mut self, subject: String, detail: String) {
        let violation = Violation::SecretMountsConflict { subject, detail };
        if !self.conflicts.iter().any(|c| c.violation == violation) {
            self.conflicts.push(Finding {
                at: crate::json::place(self.at),
                violation,
            });
        }
    }

    /// Entries naming their containers go to the first container of each name;
    /// a name the pod spec lacks is a conflict.
    fn index_named_containers(&mut self, entries: &[(usize, &SecretMount)]) {
        if entries.iter().all(|(_, e)| e.containers.is_none()) {
            return;
        }
        for (list, containers) in ContainerList::ALL.into_iter().zip(self.lists) {
            for (i, c) in containers.iter().enumerate() {
                if let Some(name) = name_of(c) {
                    self.by_name.entry(name).or_insert((list, i));
                }
            }
        }
        for &(_, entry) in entries {
            for name in entry.containers.iter().flatten() {
                if !self.by_name.contains_key(name.as_str()) {
                    self.conflict(
                        format!("secretMounts entry {:?}", entry.name),
                        format!("it names container {name:?}, which this pod spec does not have"),
                    );
                }
            }
        }
    }

    /// The entries one container gets, in settings order: entries without
    /// `containers` go to every non-exempt entry of `containers`.
    fn wanted_by<'e>(
        &self,
        list: ContainerList,
        index: usize,
        container: &Map<String, Value>,
        entries: &[(usize, &'e SecretMount)],
    ) -> Vec<(usize, &'e SecretMount)> {
        let settings = self.settings;
        let name = field(container, "name").and_then(Value::as_str);
        entries
            .iter()
            .copied()
            .filter(|(_, entry)| match &entry.containers {
                None => list == ContainerList::Containers && !settings.is_exempt(container),
                Some(names) => {
                    name.is_some_and(|n| names.iter().any(|x| x == n) && self.by_name.get(n) == Some(&(list, index)))
                }
            })
            .collect()
    }

    /// Plans one container: the volume at the mount path it gets the entries
    /// through, and a mount of it when it has none there.
    fn plan_container(
        &mut self,
        list: ContainerList,
        index: usize,
        container: &'s Map<String, Value>,
        entries: &[(usize, &'s SecretMount)],
    ) {
        let wanted = self.wanted_by(list, index, container, entries);
        if wanted.is_empty() {
            return;
        }
        let who = ContainerRef {
            list,
            name: entry_name(container, index).into_owned(),
        };
        let mounts = crate::json::list(container, "volumeMounts");
        let settings = self.settings;
        let at_path = mounts.iter().position(|m| {
            get(m, "mountPath")
                .and_then(Value::as_str)
                .is_some_and(|path| settings.is_mount_path(path))
        });
        let volume = match at_path {
            Some(m) => self.use_existing_mount(&who, index, m, mounts.get(m)),
            None => self.add_mount(&who, index, &wanted),
        };
        let Some(volume) = volume else { return };
        let t = self.target(volume);
        if let Some(target) = self.targets.get_mut(t) {
            for &(order, entry) in &wanted {
                target.entries.entry(order).or_insert_with(|| (entry, who.clone()));
            }
        }
    }

    /// The container already mounts something at the mount path: it must be a
    /// projected volume of the pod spec, made read-only when it is not.
    fn use_existing_mount(
        &mut self,
        who: &ContainerRef,
        index: usize,
        m: usize,
        mount: Option<&'s Value>,
    ) -> Option<&'s str> {
        let mount_path = self.settings.mount_path.as_str();
        let name = mount.and_then(name_of).unwrap_or("");
        let detail = match self.volume_index.get(name).map(|&i| self.is_projected(i)) {
            Some(true) => None,
            Some(false) => Some(format!("{mount_path} is taken by volume {name:?}, which is not a projected volume; mount secrets there through a projected volume")),
            None => Some(format!("its volumeMount at {mount_path} names volume {name:?}, which the pod spec does not define")),
        };
        if let Some(detail) = detail {
            self.conflict(who.to_string(), detail);
            return None;
        }
        if mount.and_then(|m| get(m, "readOnly")) != Some(&Value::Bool(true)) {
            self.edits.push(Edit::MakeReadOnly {
                who: who.clone(),
                index,
                mount: m,
            });
        }
        Some(name)
    }

    /// The container has no mount at the mount path: it gets one of the
    /// policy's volume (`volumeName`), unless that name is taken by another kind of volume.
    fn add_mount(&mut self, who: &ContainerRef, index: usize, wanted: &[(usize, &SecretMount)]) -> Option<&'s str> {
        let name = self.settings.volume_name.as_str();
        if self.volume_index.get(name).is_some_and(|&i| !self.is_projected(i)) {
            self.conflict(
                who.to_string(),
                format!("volumeName {name:?} already names a volume that is not projected; set the policy's volumeName to an unused name"),
            );
            return None;
        }
        self.edits.push(Edit::AddMount {
            who: who.clone(),
            index,
            volume: name.to_string(),
            entries: wanted.iter().map(|(_, e)| EntryRef::of(e)).collect(),
        });
        Some(name)
    }

    fn is_projected(&self, volume: usize) -> bool {
        self.volumes
            .get(volume)
            .and_then(|v| v.get("projected"))
            .is_some_and(Value::is_object)
    }

    /// The index in `targets` of the volume named `name`, added on first use.
    fn target(&mut self, name: &'s str) -> usize {
        if let Some(&t) = self.target_index.get(name) {
            return t;
        }
        let existing = self
            .volume_index
            .get(name)
            .and_then(|&i| Some((i, self.volumes.get(i)?)));
        self.targets.push(TargetVolume::new(name.to_string(), existing));
        self.target_index.insert(name, self.targets.len() - 1);
        self.targets.len() - 1
    }

    /// Merges every target's entries into edits; the conflicts when there are any.
    fn finish(mut self) -> Result<Vec<Edit>, Vec<Finding>> {
        for mut target in std::mem::take(&mut self.targets) {
            for (_, (entry, who)) in std::mem::take(&mut target.entries) {
                if let Err(detail) = merge_entry(&mut target, entry, &who, &mut self.edits) {
                    self.conflict(format!("volume {:?}", target.name), detail);
                }
            }
            if target.existing.is_none() {
                self.edits.push(Edit::AddVolume {
                    name: target.name,
                    sources: target.sources,
                });
            }
        }
        if self.conflicts.is_empty() {
            Ok(self.edits)
        } else {
            Err(self.conflicts)
        }
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
    let missing = missing_items(target, entry, declared)?;
    if missing.is_empty() {
        return Ok(());
    }
    match target.with_items.get(secret).copied() {
        Some(source) => add_items(target, source, &missing, entry, who, edits),
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

/// The declared items the target does not project yet; a conflict when one
/// would project a path another source already writes.
fn missing_items(target: &TargetVolume, entry: &SecretMount, declared: &[KeyToPath]) -> Result<Vec<KeyToPath>, String> {
    let secret = entry.secret_name.as_str();
    let mut missing = Vec::new();
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
    Ok(missing)
}

/// Adds items to source `source` of the target. For a source the pod spec has,
/// that is an `AddItems` edit; for one the plan adds, the items are folded into
/// its pending `AddSource`, so every edit addresses what the text holds.
fn add_items(
    target: &mut TargetVolume,
    source: usize,
    missing: &[KeyToPath],
    entry: &SecretMount,
    who: &ContainerRef,
    edits: &mut Vec<Edit>,
) {
    let secret = entry.secret_name.as_str();
    target.index_items(source, secret, missing);
    let Some(volume) = target.existing else {
        return; // the new volume is added whole, from the working copy
    };
    if source < target.original {
        edits.push(Edit::AddItems {
            volume,
            name: target.name.clone(),
            source,
            items: missing.iter().map(item_json).collect(),
            entry: entry.name.clone(),
            secret: secret.to_string(),
            who: who.clone(),
        });
        return;
    }
    let folded = target.sources.get(source).cloned();
    let pending = target.pending.get(&source).and_then(|&e| edits.get_mut(e));
    if let (Some(Edit::AddSource { source, entries, .. }), Some(folded)) = (pending, folded) {
        *source = folded;
        entries.push(EntryRef::of(entry));
    }
}

fn add_source(
    target: &mut TargetVolume,
    source: Value,
    entry: &SecretMount,
    who: &ContainerRef,
    edits: &mut Vec<Edit>,
) {
    if let Some(volume) = target.existing {
        target.pending.insert(target.sources.len(), edits.len());
        edits.push(Edit::AddSource {
            volume,
            name: target.name.clone(),
            source: source.clone(),
            entries: vec![EntryRef::of(entry)],
            who: who.clone(),
        });
    }
    target.index_source(source);
}

/// One step from a pod spec into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(&'static str),
    Index(usize),
}

/// What an edit does, addressed from its pod spec: every edit is one of these
/// two, so an edit is defined once ([`Edit::change`]) and applied the same way
/// to the parsed view ([`apply_to_view`]) and to the object's text
/// ([`crate::splice`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Append `items` to the list at `key` of the object at `at`, creating the
    /// list when the key is absent or `null`.
    Append {
        at: Vec<Step>,
        key: &'static str,
        items: Vec<Value>,
    },
    /// Set `key: true` in the object at `at`.
    SetTrue { at: Vec<Step>, key: &'static str },
}

impl Edit {
    /// The change this edit makes; `mount_path` is the policy's (for new mounts).
    pub fn change(&self, mount_path: &str) -> Change {
        use Step::{Index, Key};
        match self {
            Edit::AddVolume { name, sources } => Change::Append {
                at: vec![],
                key: "volumes",
                items: vec![json!({"name": name, "projected": {"sources": sources}})],
            },
            Edit::AddMount { who, index, volume, .. } => Change::Append {
                at: vec![Key(who.list.field()), Index(*index)],
                key: "volumeMounts",
                items: vec![json!({"name": volume, "mountPath": mount_path, "readOnly": true})],
            },
            Edit::MakeReadOnly { who, index, mount } => Change::SetTrue {
                at: vec![Key(who.list.field()), Index(*index), Key("volumeMounts"), Index(*mount)],
                key: "readOnly",
            },
            Edit::AddSource { volume, source, .. } => Change::Append {
                at: vec![Key("volumes"), Index(*volume), Key("projected")],
                key: "sources",
                items: vec![source.clone()],
            },
            Edit::AddItems {
                volume, source, items, ..
            } => Change::Append {
                at: vec![
                    Key("volumes"),
                    Index(*volume),
                    Key("projected"),
                    Key("sources"),
                    Index(*source),
                    Key("secret"),
                ],
                key: "items",
                items: items.clone(),
            },
        }
    }
}

/// An edit that could not be placed: the field it appends to or sets is there
/// but not of its Kubernetes type, in a part of the pod spec the rules do not
/// judge as malformed (`projected.sources: 5`; the API server never sends
/// such an object, policy CI can). It is told, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    /// Dotted path, from the object's root, of what was to be changed.
    pub at: String,
    /// What the edit was to do there.
    pub what: String,
}

impl Unplaced {
    /// The finding that tells it: a conflict of the declared mounts with the
    /// object, so the answer says the mounts were not added.
    pub fn into_finding(self) -> Finding {
        Finding {
            at: self.at,
            violation: Violation::SecretMountsConflict {
                subject: "the policy's edit".to_string(),
                detail: format!(
                    "it has no place to {} here (the field is neither absent nor of its Kubernetes type), so nothing was added",
                    self.what
                ),
            },
        }
    }
}

impl Change {
    /// The object the change writes into, from the pod spec.
    pub fn at(&self) -> &[Step] {
        match self {
            Change::Append { at, .. } | Change::SetTrue { at, .. } => at,
        }
    }

    /// The key of that object it writes.
    pub fn key(&self) -> &'static str {
        match self {
            Change::Append { key, .. } | Change::SetTrue { key, .. } => key,
        }
    }

    /// The change as an edit that could not be placed in the pod spec at `spec_at`.
    pub fn describe(&self, spec_at: &str) -> Unplaced {
        let (at, key) = (self.at(), self.key());
        let what = match self {
            Change::Append { .. } => "append to",
            Change::SetTrue { .. } => "set to true",
        };
        let mut path = spec_at.to_string();
        for step in at {
            match step {
                Step::Key(k) => path = crate::json::child_path(&path, k),
                Step::Index(i) => path = format!("{path}[{i}]"),
            }
        }
        Unplaced {
            what: format!("{what} {key:?}"),
            at: crate::json::place(&path),
        }
    }
}

/// Applies planned edits to the parsed view of a pod spec, so that the rules
/// judge it as it will be admitted; the first edit that cannot be placed is
/// returned (`spec_at` names the pod spec in it).
pub fn apply_to_view(
    spec: &mut Map<String, Value>,
    edits: &[Edit],
    mount_path: &str,
    spec_at: &str,
) -> Result<(), Unplaced> {
    for edit in edits {
        let change = edit.change(mount_path);
        let unplaced = || change.describe(spec_at);
        let object = object_at(spec, change.at()).ok_or_else(unplaced)?;
        let key = change.key();
        match &change {
            Change::SetTrue { .. } => {
                object.insert(key.to_string(), Value::Bool(true));
            }
            Change::Append { .. } => {
                let slot = object.entry(key.to_string()).or_insert(Value::Null);
                if slot.is_null() {
                    *slot = Value::Array(Vec::new());
                }
                let list = slot.as_array_mut().ok_or_else(unplaced)?;
                if let Change::Append { items, .. } = change {
                    list.extend(items);
                }
            }
        }
    }
    Ok(())
}

/// The object reached from the pod spec by `at`.
fn object_at<'s>(spec: &'s mut Map<String, Value>, at: &[Step]) -> Option<&'s mut Map<String, Value>> {
    let Some((first, rest)) = at.split_first() else {
        return Some(spec);
    };
    let Step::Key(first) = first else { return None };
    let mut value = spec.get_mut(*first)?;
    for step in rest {
        value = match step {
            Step::Key(k) => value.as_object_mut()?.get_mut(*k)?,
            Step::Index(i) => value.as_array_mut()?.get_mut(*i)?,
        };
    }
    value.as_object_mut()
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
                entries,
                name: volume,
                ..
            } => (
                who,
                entries.clone(),
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
                let declared = EntryRef {
                    name: entry.clone(),
                    secret: secret.clone(),
                    declared_by: None,
                };
                (
                    who,
                    vec![declared],
                    format!("volume {volume:?} does not project {}", paths.join(", ")),
                )
            }
            // A new volume goes with a new mount; a writable mount is secret-mount-writable.
            Edit::AddVolume { .. } | Edit::MakeReadOnly { .. } => continue,
        };
        out.push(Finding {
            at: crate::json::place(at),
            violation: Violation::DeclaredMountMissing {
                container: who.clone(),
                entries,
                what,
            },
        });
    }
    out
}
