//! The judgment: how a pod spec consumes Secrets.
//!
//! A pure walk over the raw pod spec (`serde_json::Value`): it reads only the
//! fields that matter, allocates only when it finds something wrong, and reports
//! every violation in a stable order — per container list (`containers`,
//! `initContainers`, `ephemeralContainers`), per container (env, envFrom,
//! volumeMounts), then the pod-level volumes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::podspec::kind_of;
use crate::settings::Settings;
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
    mounted: bool,
    mounted_by_judged: bool,
}

/// Reads a list field: absent or `null` is empty; anything else but a list is malformed.
pub(crate) fn list_field<'a>(map: &'a Map<String, Value>, key: &str, at: &str, out: &mut Vec<Finding>) -> &'a [Value] {
    match map.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            out.push(malformed(format!("{at}.{key}"), "a list", other));
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
pub(crate) fn entry_name(entry: &Map<String, Value>, index: usize) -> String {
    match entry.get("name").and_then(Value::as_str) {
        Some(name) => name.to_string(),
        None => format!("#{index} (unnamed)"),
    }
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Classifies a volume; `None` for volumes that carry no Secret.
pub fn secret_bearing(volume: &Map<String, Value>) -> Option<SecretBearingVolume<'_>> {
    if let Some(secret) = volume.get("secret").and_then(Value::as_object) {
        return Some(SecretBearingVolume::Plain {
            secret: str_field(secret, "secretName"),
        });
    }
    let sources = volume.get("projected")?.get("sources")?.as_array()?;
    let secrets: Vec<&str> = sources
        .iter()
        .filter_map(|s| s.get("secret").and_then(Value::as_object))
        .map(|s| str_field(s, "name"))
        .collect();
    if secrets.is_empty() {
        None
    } else {
        Some(SecretBearingVolume::Projected { secrets, sources })
    }
}

/// Validates one pod spec; `at` is its dotted location in the object.
pub fn validate_pod_spec(spec: &Map<String, Value>, at: &str, settings: &Settings, out: &mut Vec<Finding>) {
    let volumes_at = format!("{at}.volumes");
    let mut volumes: BTreeMap<&str, VolumeUse> = BTreeMap::new();
    for (index, volume) in list_field(spec, "volumes", at, out).iter().enumerate() {
        let Some(volume) = volume.as_object() else {
            out.push(malformed(format!("{volumes_at}[{index}]"), "an object", volume));
            continue;
        };
        if let Some(kind) = secret_bearing(volume) {
            volumes.insert(
                str_field(volume, "name"),
                VolumeUse {
                    index,
                    kind,
                    mounted: false,
                    mounted_by_judged: false,
                },
            );
        }
    }

    for list in ContainerList::ALL {
        let list_at = format!("{at}.{}", list.field());
        for (index, container) in list_field(spec, list.field(), at, out).iter().enumerate() {
            let container_at = format!("{list_at}[{index}]");
            let Some(container) = container.as_object() else {
                out.push(malformed(container_at, "an object", container));
                continue;
            };
            let name = entry_name(container, index);
            let judged = !settings.is_exempt(&name);
            let who = ContainerRef { list, name };
            if judged {
                check_env(container, &who, &container_at, out);
            }
            check_mounts(container, &who, &container_at, judged, &mut volumes, settings, out);
        }
    }

    for (name, volume) in &volumes {
        let volume_at = format!("{volumes_at}[{}]", volume.index);
        match &volume.kind {
            SecretBearingVolume::Plain { secret } if !volume.mounted => out.push(Finding {
                at: volume_at,
                violation: Violation::PlainSecretVolume {
                    volume: name.to_string(),
                    secret: secret.to_string(),
                    mount: None,
                },
            }),
            SecretBearingVolume::Projected { sources, .. } if volume.mounted_by_judged => {
                check_projected_paths(name, sources, &volume_at, out);
            }
            _ => {}
        }
    }
}

fn check_env(container: &Map<String, Value>, who: &ContainerRef, at: &str, out: &mut Vec<Finding>) {
    for (index, env) in list_field(container, "env", at, out).iter().enumerate() {
        let Some(secret_ref) = env.pointer("/valueFrom/secretKeyRef").and_then(Value::as_object) else {
            continue;
        };
        out.push(Finding {
            at: format!("{at}.env[{index}]"),
            violation: Violation::EnvSecretRef {
                container: who.clone(),
                env: env.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                secret: str_field(secret_ref, "name").to_string(),
                key: str_field(secret_ref, "key").to_string(),
            },
        });
    }
    for (index, env_from) in list_field(container, "envFrom", at, out).iter().enumerate() {
        let Some(secret_ref) = env_from.get("secretRef").and_then(Value::as_object) else {
            continue;
        };
        out.push(Finding {
            at: format!("{at}.envFrom[{index}]"),
            violation: Violation::EnvFromSecretRef {
                container: who.clone(),
                secret: str_field(secret_ref, "name").to_string(),
            },
        });
    }
}

fn check_mounts(
    container: &Map<String, Value>,
    who: &ContainerRef,
    at: &str,
    judged: bool,
    volumes: &mut BTreeMap<&str, VolumeUse>,
    settings: &Settings,
    out: &mut Vec<Finding>,
) {
    for (index, mount) in list_field(container, "volumeMounts", at, out).iter().enumerate() {
        let Some(mount) = mount.as_object() else {
            out.push(malformed(format!("{at}.volumeMounts[{index}]"), "an object", mount));
            continue;
        };
        let Some(volume) = volumes.get_mut(str_field(mount, "name")) else {
            continue;
        };
        volume.mounted = true;
        if !judged {
            continue;
        }
        volume.mounted_by_judged = true;
        let mount_at = || format!("{at}.volumeMounts[{index}]");
        let volume_name = str_field(mount, "name").to_string();
        let path = str_field(mount, "mountPath");
        let secrets = match &volume.kind {
            SecretBearingVolume::Plain { secret } => {
                out.push(Finding {
                    at: mount_at(),
                    violation: Violation::PlainSecretVolume {
                        volume: volume_name,
                        secret: secret.to_string(),
                        mount: Some((who.clone(), path.to_string())),
                    },
                });
                continue;
            }
            SecretBearingVolume::Projected { secrets, .. } => secrets,
        };
        let secrets = || secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        if path != settings.mount_path {
            out.push(Finding {
                at: mount_at(),
                violation: Violation::SecretMountPath {
                    container: who.clone(),
                    volume: volume_name.clone(),
                    secrets: secrets(),
                    path: path.to_string(),
                },
            });
        }
        if mount.get("readOnly") != Some(&Value::Bool(true)) {
            out.push(Finding {
                at: mount_at(),
                violation: Violation::SecretMountWritable {
                    container: who.clone(),
                    volume: volume_name.clone(),
                    secrets: secrets(),
                    path: path.to_string(),
                },
            });
        }
        for field in ["subPath", "subPathExpr"] {
            let value = str_field(mount, field);
            if !value.is_empty() {
                out.push(Finding {
                    at: mount_at(),
                    violation: Violation::SecretMountSubpath {
                        container: who.clone(),
                        volume: volume_name.clone(),
                        secrets: secrets(),
                        field,
                        value: value.to_string(),
                    },
                });
            }
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
