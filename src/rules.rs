//! The rules: how a pod spec consumes Secrets.
//!
//! A pure walk over the parsed pod spec (`serde_json::Value`): it reads only the
//! fields that matter, allocates nothing for a compliant container (paths and
//! names are formatted only for findings) beyond an index of the secret-bearing
//! volumes, and reports
//! every violation in a stable order — per container list (`containers`,
//! `initContainers`, `ephemeralContainers`), per container (env, envFrom,
//! volumeMounts), then the pod-level volumes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::json::{field, get, kind_of, str_field};
use crate::settings::Settings;
use crate::vault_sync::VaultSynced;
use crate::violation::{ContainerList, ContainerRef, Finding, Violation};

/// What a pod-level volume means for Secrets.
#[derive(Debug)]
pub enum SecretBearingVolume<'a> {
    /// `secret:` — forbidden outright.
    Plain { secret: &'a str },
    /// `projected:` with at least one `secret` source.
    Projected {
        secrets: Vec<&'a str>,
        sources: &'a [Value],
    },
}

/// A volume of the pod spec, with who mounts it.
struct VolumeUse<'a> {
    index: usize,
    kind: SecretBearingVolume<'a>,
    /// The secrets a message about a mount of it names, when not all of
    /// `kind`'s: those of the sources the user wrote ([`Submitted`]).
    named: Option<Vec<&'a str>>,
    mounted: bool,
    mounted_by_judged: bool,
}

/// How many sources each volume had as submitted (`volumes[i]`; a volume past
/// the end was added by the policy), when the pod spec is judged as it will be
/// admitted: a message about a mount names the secrets the user wrote into the
/// volume, not those the policy adds to it (unless the user wrote none).
pub type Submitted<'a> = Option<&'a [usize]>;

/// Reads a list field: absent or `null` is empty; anything else but a list is
/// malformed. `at` renders the field's parent path, only when it is needed.
pub(crate) fn list_field<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: impl Fn() -> String,
    out: &mut Vec<Finding>,
) -> &'a [Value] {
    match field(map, key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            out.push(malformed(crate::json::child_path(&at(), key), "a list", other));
            &[]
        }
    }
}

pub(crate) fn malformed(at: String, expected: &str, found: &Value) -> Finding {
    Finding {
        violation: Violation::MalformedObject {
            detail: format!("must be {expected}, found {}", kind_of(found)),
        },
        at,
    }
}

/// The `name` of a list entry, or a placeholder naming its index.
pub(crate) fn entry_name(entry: &Map<String, Value>, index: usize) -> Cow<'_, str> {
    match field(entry, "name").and_then(Value::as_str) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("#{index} (unnamed)")),
    }
}

/// Classifies a volume; `None` for volumes that carry no Secret the rules
/// judge (secrets matched by `exemptSecrets` are not judged).
pub fn secret_bearing<'v>(volume: &'v Map<String, Value>, settings: &Settings) -> Option<SecretBearingVolume<'v>> {
    if let Some(secret) = field(volume, "secret").and_then(Value::as_object) {
        let secret = str_field(secret, "secretName");
        return (!settings.is_exempt_secret(secret)).then_some(SecretBearingVolume::Plain { secret });
    }
    let sources = volume.get("projected")?.get("sources")?.as_array()?;
    let secrets = judged_secrets(sources, settings);
    if secrets.is_empty() {
        None
    } else {
        Some(SecretBearingVolume::Projected { secrets, sources })
    }
}

/// A container of the pod spec: where it is and what it is called. Paths and
/// owned names are only built when a finding needs them.
struct ContainerAt<'a> {
    spec_at: &'a str,
    list: ContainerList,
    index: usize,
    name: Cow<'a, str>,
}

impl ContainerAt<'_> {
    fn at(&self) -> String {
        format!(
            "{}[{}]",
            crate::json::child_path(self.spec_at, self.list.field()),
            self.index
        )
    }

    fn field_at(&self, field: &str, index: usize) -> String {
        format!("{}.{field}[{index}]", self.at())
    }

    fn who(&self) -> ContainerRef {
        ContainerRef {
            list: self.list,
            name: self.name.to_string(),
        }
    }
}

/// What the rules judge a pod spec by: the settings and, when provenance is
/// required (`vaultSync.require`), the Secrets VSO syncs in its namespace.
#[derive(Clone, Copy)]
pub struct Criteria<'a> {
    pub settings: &'a Settings,
    pub synced: Option<&'a VaultSynced>,
}

/// Validates one pod spec; `at` is its dotted location in the object.
pub fn validate_pod_spec(
    spec: &Map<String, Value>,
    at: &str,
    criteria: Criteria,
    submitted: Submitted,
    out: &mut Vec<Finding>,
) {
    let settings = criteria.settings;
    let mut volumes = secret_bearing_volumes(spec, at, settings, submitted, out);
    for list in ContainerList::ALL {
        for (index, container) in list_field(spec, list.field(), || at.to_string(), out)
            .iter()
            .enumerate()
        {
            let Some(container) = container.as_object() else {
                out.push(malformed(
                    format!("{}[{index}]", crate::json::child_path(at, list.field())),
                    "an object",
                    container,
                ));
                continue;
            };
            let judged = ContainerAt {
                spec_at: at,
                list,
                index,
                name: entry_name(container, index),
            };
            let exempt = settings.is_exempt(container);
            if !exempt {
                check_env(container, &judged, criteria, out);
            }
            check_mounts(container, &judged, exempt, &mut volumes, criteria, out);
        }
    }
    check_volumes(spec, &volumes, at, out);
}

/// The secret-bearing volumes of a pod spec, by name; a volume that is not an
/// object is malformed.
fn secret_bearing_volumes<'s>(
    spec: &'s Map<String, Value>,
    at: &str,
    settings: &Settings,
    submitted: Submitted,
    out: &mut Vec<Finding>,
) -> BTreeMap<&'s str, VolumeUse<'s>> {
    let mut volumes = BTreeMap::new();
    for (index, volume) in list_field(spec, "volumes", || at.to_string(), out).iter().enumerate() {
        let Some(volume) = volume.as_object() else {
            out.push(malformed(
                format!("{}[{index}]", crate::json::child_path(at, "volumes")),
                "an object",
                volume,
            ));
            continue;
        };
        if let Some(kind) = secret_bearing(volume, settings) {
            let named = submitted.and_then(|counts| named_secrets(&kind, counts.get(index).copied(), settings));
            let unmounted = VolumeUse {
                index,
                kind,
                named,
                mounted: false,
                mounted_by_judged: false,
            };
            volumes.insert(str_field(volume, "name"), unmounted);
        }
    }
    volumes
}

/// The secrets of the first `submitted` sources of a projected volume, when
/// the policy added sources after them and the user's own include a secret.
fn named_secrets<'v>(
    kind: &SecretBearingVolume<'v>,
    submitted: Option<usize>,
    settings: &Settings,
) -> Option<Vec<&'v str>> {
    let SecretBearingVolume::Projected { sources, .. } = kind else {
        return None;
    };
    let own = sources
        .get(..submitted.unwrap_or(0))
        .filter(|own| own.len() < sources.len())?;
    let named = judged_secrets(own, settings);
    (!named.is_empty()).then_some(named)
}

/// The Secrets of a projected volume's `secret` sources that the rules judge
/// (not matched by `exemptSecrets`), in source order.
fn judged_secrets<'v>(sources: &'v [Value], settings: &Settings) -> Vec<&'v str> {
    sources
        .iter()
        .filter_map(|s| s.get("secret").and_then(Value::as_object))
        .map(|s| str_field(s, "name"))
        .filter(|secret| !settings.is_exempt_secret(secret))
        .collect()
}

/// The pod-level rules, once every mount is known: a plain secret volume no
/// container mounts, and the file paths of a projected volume a judged container mounts.
fn check_volumes(spec: &Map<String, Value>, volumes: &BTreeMap<&str, VolumeUse>, at: &str, out: &mut Vec<Finding>) {
    // Built for every projected volume a judged container mounts: one format.
    let volumes_at = |index: usize| match at {
        "" => format!("volumes[{index}]"),
        at => format!("{at}.volumes[{index}]"),
    };
    // In pod-spec order, as the README promises (the map is by name).
    for (index, volume) in crate::json::list(spec, "volumes").iter().enumerate() {
        let name = get(volume, "name").and_then(Value::as_str).unwrap_or("");
        let Some(volume) = volumes.get(name).filter(|v| v.index == index) else {
            continue;
        };
        match &volume.kind {
            SecretBearingVolume::Plain { secret } if !volume.mounted => out.push(Finding {
                at: volumes_at(volume.index),
                violation: Violation::PlainSecretVolume {
                    volume: name.to_string(),
                    secret: secret.to_string(),
                    mount: None,
                },
            }),
            SecretBearingVolume::Projected { sources, .. } if volume.mounted_by_judged => {
                check_projected_paths(name, sources, &volumes_at(volume.index), out);
            }
            _ => {}
        }
    }
}

/// Provenance (`vaultSync.require`): the Secret a judged container consumes
/// must be synced by a VSO resource of the namespace. `consumer` and `at` are
/// formatted only for a finding: this runs for every Secret of every mount.
fn check_synced(
    criteria: Criteria,
    secret: &str,
    judged: &ContainerAt,
    consumer: impl FnOnce() -> String,
    at: impl FnOnce() -> String,
    out: &mut Vec<Finding>,
) {
    let Some(synced) = criteria.synced else { return };
    if synced.is_synced(secret) {
        return;
    }
    out.push(Finding {
        at: at(),
        violation: Violation::SecretNotVaultSynced {
            container: judged.who(),
            consumer: consumer(),
            secret: secret.to_string(),
            namespace: synced.namespace.clone(),
        },
    });
}

fn check_env(container: &Map<String, Value>, judged: &ContainerAt, criteria: Criteria, out: &mut Vec<Finding>) {
    let settings = criteria.settings;
    for (index, env) in list_field(container, "env", || judged.at(), out).iter().enumerate() {
        let Some(secret_ref) = get(env, "valueFrom")
            .and_then(|v| get(v, "secretKeyRef"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let secret = str_field(secret_ref, "name");
        if settings.is_exempt_secret(secret) {
            continue;
        }
        let env = get(env, "name").and_then(Value::as_str).unwrap_or("");
        out.push(Finding {
            at: judged.field_at("env", index),
            violation: Violation::EnvSecretRef {
                container: judged.who(),
                env: env.to_string(),
                secret: secret.to_string(),
                key: str_field(secret_ref, "key").to_string(),
            },
        });
        let at = || judged.field_at("env", index);
        check_synced(criteria, secret, judged, || format!("env {env:?}"), at, out);
    }
    for (index, env_from) in list_field(container, "envFrom", || judged.at(), out).iter().enumerate() {
        let Some(secret_ref) = get(env_from, "secretRef").and_then(Value::as_object) else {
            continue;
        };
        let secret = str_field(secret_ref, "name");
        if settings.is_exempt_secret(secret) {
            continue;
        }
        out.push(Finding {
            at: judged.field_at("envFrom", index),
            violation: Violation::EnvFromSecretRef {
                container: judged.who(),
                secret: secret.to_string(),
            },
        });
        let at = || judged.field_at("envFrom", index);
        check_synced(criteria, secret, judged, || "envFrom".to_string(), at, out);
    }
}

fn check_mounts(
    container: &Map<String, Value>,
    judged: &ContainerAt,
    exempt: bool,
    volumes: &mut BTreeMap<&str, VolumeUse>,
    criteria: Criteria,
    out: &mut Vec<Finding>,
) {
    for (index, mount) in list_field(container, "volumeMounts", || judged.at(), out)
        .iter()
        .enumerate()
    {
        let Some(mount) = mount.as_object() else {
            out.push(malformed(judged.field_at("volumeMounts", index), "an object", mount));
            continue;
        };
        let volume_name = str_field(mount, "name");
        let Some(volume) = volumes.get_mut(volume_name) else {
            continue;
        };
        volume.mounted = true;
        if exempt {
            continue;
        }
        volume.mounted_by_judged = true;
        let mount_at = || judged.field_at("volumeMounts", index);
        let path = str_field(mount, "mountPath");
        let secrets = match &volume.kind {
            SecretBearingVolume::Plain { secret } => {
                out.push(Finding {
                    at: mount_at(),
                    violation: Violation::PlainSecretVolume {
                        volume: volume_name.to_string(),
                        secret: secret.to_string(),
                        mount: Some((judged.who(), path.to_string())),
                    },
                });
                std::slice::from_ref(secret)
            }
            SecretBearingVolume::Projected { secrets, .. } => {
                let named = volume.named.as_deref().unwrap_or(secrets);
                check_projected_mount(mount, judged, volume_name, named, mount_at, criteria.settings, out);
                secrets
            }
        };
        // One finding per Secret a mount consumes, however many sources name it.
        let firsts = secrets
            .iter()
            .enumerate()
            .filter(|&(i, s)| !secrets.get(..i).is_some_and(|before| before.contains(s)));
        for (_, secret) in firsts {
            let consumer = || format!("volumeMount of volume {volume_name:?}");
            check_synced(criteria, secret, judged, consumer, mount_at, out);
        }
    }
}

/// A mount of a secret-bearing projected volume: at the mount path, read-only,
/// the whole volume (no `subPath`).
fn check_projected_mount(
    mount: &Map<String, Value>,
    judged: &ContainerAt,
    volume: &str,
    secrets: &[&str],
    at: impl Fn() -> String,
    settings: &Settings,
    out: &mut Vec<Finding>,
) {
    let path = str_field(mount, "mountPath");
    let secrets = || secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The path is formatted only for a finding; a finding is at the field it
    // is about (`...volumeMounts[0].subPath`), which tools place at its key.
    let finding = |field: &str, violation| Finding {
        at: format!("{}.{field}", at()),
        violation,
    };
    if !settings.is_mount_path(path) {
        out.push(finding(
            "mountPath",
            Violation::SecretMountPath {
                container: judged.who(),
                volume: volume.to_string(),
                secrets: secrets(),
                path: path.to_string(),
            },
        ));
    }
    if field(mount, "readOnly") != Some(&Value::Bool(true)) {
        out.push(finding(
            "readOnly",
            Violation::SecretMountWritable {
                container: judged.who(),
                volume: volume.to_string(),
                secrets: secrets(),
                path: path.to_string(),
            },
        ));
    }
    for field in ["subPath", "subPathExpr"] {
        let value = str_field(mount, field);
        if !value.is_empty() {
            out.push(finding(
                field,
                Violation::SecretMountSubpath {
                    container: judged.who(),
                    volume: volume.to_string(),
                    secrets: secrets(),
                    field,
                    value: value.to_string(),
                },
            ));
        }
    }
}

/// Every explicit file path a projected volume's sources write, with a description
/// of the source for messages. Sources without `items` project keys unknown here.
pub(crate) fn projected_paths(sources: &[Value]) -> Vec<(&str, String)> {
    let mut paths = Vec::new();
    for source in sources {
        let Some(source) = source.as_object() else { continue };
        for (kind, body) in source {
            let Some(body) = body.as_object() else { continue };
            let name = str_field(body, "name");
            match kind.as_str() {
                "secret" | "configMap" => {
                    for item in body
                        .get("items")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        if let Some(path) = item.get("path").and_then(Value::as_str) {
                            let key = item.get("key").and_then(Value::as_str).unwrap_or("");
                            paths.push((path, format!("{kind} {name:?} key {key:?}")));
                        }
                    }
                }
                "downwardAPI" => {
                    for item in body
                        .get("items")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        if let Some(path) = item.get("path").and_then(Value::as_str) {
                            paths.push((path, "downwardAPI item".to_string()));
                        }
                    }
                }
                _ => {
                    // serviceAccountToken, clusterTrustBundle, podCertificate: every `*path`/`*Path` field.
                    for (field, value) in body {
                        if field == "path" || field.ends_with("Path") {
                            if let Some(path) = value.as_str() {
                                paths.push((path, format!("{kind} {field}")));
                            }
                        }
                    }
                }
            }
        }
    }
    paths
}

fn check_projected_paths(volume: &str, sources: &[Value], at: &str, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (path, source) in projected_paths(sources) {
        if let Some(first) = seen.get(path) {
            out.push(Finding {
                at: format!("{at}.projected.sources"),
                violation: Violation::ProjectedPathConflict {
                    volume: volume.to_string(),
                    path: path.to_string(),
                    first: first.clone(),
                    second: source,
                },
            });
        } else {
            seen.insert(path, source);
        }
    }
}
