//! What the policy can find wrong, and how it says so.
//!
//! Every finding names the container (or volume), the field and the Secret, and
//! says what to do instead. Rule names are stable and machine-readable: they are
//! returned in the response's audit annotations so reports can group by rule.

use std::fmt;

/// The three lists of containers of a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub const ALL: [ContainerList; 3] = [
        ContainerList::Containers,
        ContainerList::InitContainers,
        ContainerList::EphemeralContainers,
    ];

    /// The pod spec field holding this list.
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }

    /// How one entry of the list is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            ContainerList::Containers => "container",
            ContainerList::InitContainers => "initContainer",
            ContainerList::EphemeralContainers => "ephemeralContainer",
        }
    }
}

/// A container named in a message: `container "app"`, `initContainer "migrate"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub list: ContainerList,
    pub name: String,
}

impl fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.list.noun(), self.name)
    }
}

/// The rule a finding breaks; its `name()` is the stable machine-readable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    EnvSecretRef,
    EnvFromSecretRef,
    PlainSecretVolume,
    SecretMountPath,
    SecretMountWritable,
    SecretMountSubpath,
    ProjectedPathConflict,
    DeclaredMountMissing,
    SecretMountsConflict,
    SecretNotVaultSynced,
    VaultSyncUnavailable,
    DiscoveredSecretsMayCollide,
    MalformedObject,
}

impl Rule {
    /// Every rule, in the order of the rules reference (docs/rules.md).
    pub const ALL: [Rule; 13] = [
        Rule::EnvSecretRef,
        Rule::EnvFromSecretRef,
        Rule::PlainSecretVolume,
        Rule::SecretMountPath,
        Rule::SecretMountWritable,
        Rule::SecretMountSubpath,
        Rule::ProjectedPathConflict,
        Rule::DeclaredMountMissing,
        Rule::SecretMountsConflict,
        Rule::MalformedObject,
        Rule::SecretNotVaultSynced,
        Rule::VaultSyncUnavailable,
        Rule::DiscoveredSecretsMayCollide,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::EnvSecretRef => "env-secret-ref",
            Rule::EnvFromSecretRef => "envfrom-secret-ref",
            Rule::PlainSecretVolume => "plain-secret-volume",
            Rule::SecretMountPath => "secret-mount-path",
            Rule::SecretMountWritable => "secret-mount-writable",
            Rule::SecretMountSubpath => "secret-mount-subpath",
            Rule::ProjectedPathConflict => "projected-path-conflict",
            Rule::DeclaredMountMissing => "declared-mount-missing",
            Rule::SecretMountsConflict => "secret-mounts-conflict",
            Rule::SecretNotVaultSynced => "secret-not-vault-synced",
            Rule::VaultSyncUnavailable => "vault-sync-unavailable",
            Rule::DiscoveredSecretsMayCollide => "discovered-secrets-may-collide",
            Rule::MalformedObject => "malformed-object",
        }
    }
}

/// One thing wrong with a pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// `env[].valueFrom.secretKeyRef`.
    EnvSecretRef {
        container: ContainerRef,
        env: String,
        secret: String,
        key: String,
    },
    /// `envFrom[].secretRef`.
    EnvFromSecretRef { container: ContainerRef, secret: String },
    /// A `secret` volume; `mount` is the container and path mounting it, if any.
    PlainSecretVolume {
        volume: String,
        secret: String,
        mount: Option<(ContainerRef, String)>,
    },
    /// A secret-bearing projected volume mounted elsewhere than the allowed path.
    SecretMountPath {
        container: ContainerRef,
        volume: String,
        secrets: Vec<String>,
        path: String,
    },
    /// A secret-bearing projected volume mounted without `readOnly: true`.
    SecretMountWritable {
        container: ContainerRef,
        volume: String,
        secrets: Vec<String>,
        path: String,
    },
    /// A secret-bearing projected volume mounted with `subPath`/`subPathExpr`.
    SecretMountSubpath {
        container: ContainerRef,
        volume: String,
        secrets: Vec<String>,
        field: &'static str,
        value: String,
    },
    /// Two sources of one projected volume project the same file.
    ProjectedPathConflict {
        volume: String,
        path: String,
        first: String,
        second: String,
    },
    /// `mutate: false` and a declared mount is missing; `entries` are the
    /// `secretMounts` entries concerned (name, secret), `what` says which part.
    DeclaredMountMissing {
        container: ContainerRef,
        entries: Vec<EntryRef>,
        what: String,
    },
    /// The declared mounts cannot be added without guessing.
    SecretMountsConflict { subject: String, detail: String },
    /// A container consumes a Secret that no VSO resource of the namespace
    /// syncs; `consumer` says how (`env "DB_PASSWORD"`, `volumeMount of volume "x"`).
    SecretNotVaultSynced {
        container: ContainerRef,
        consumer: String,
        secret: String,
        namespace: String,
    },
    /// The VSO resources could not be read; `rejects` under `require: reject`.
    VaultSyncUnavailable { call: String, error: String },
    /// Secrets discovered from VSO resources (`entries`) go whole into one
    /// volume, where a key two of them share would collide; always a warning.
    DiscoveredSecretsMayCollide { entries: Vec<EntryRef> },
    /// The object does not have the shape Kubernetes gives it.
    MalformedObject { detail: String },
}

impl Violation {
    pub fn rule(&self) -> Rule {
        match self {
            Violation::EnvSecretRef { .. } => Rule::EnvSecretRef,
            Violation::EnvFromSecretRef { .. } => Rule::EnvFromSecretRef,
            Violation::PlainSecretVolume { .. } => Rule::PlainSecretVolume,
            Violation::SecretMountPath { .. } => Rule::SecretMountPath,
            Violation::SecretMountWritable { .. } => Rule::SecretMountWritable,
            Violation::SecretMountSubpath { .. } => Rule::SecretMountSubpath,
            Violation::ProjectedPathConflict { .. } => Rule::ProjectedPathConflict,
            Violation::DeclaredMountMissing { .. } => Rule::DeclaredMountMissing,
            Violation::SecretMountsConflict { .. } => Rule::SecretMountsConflict,
            Violation::SecretNotVaultSynced { .. } => Rule::SecretNotVaultSynced,
            Violation::VaultSyncUnavailable { .. } => Rule::VaultSyncUnavailable,
            Violation::DiscoveredSecretsMayCollide { .. } => Rule::DiscoveredSecretsMayCollide,
            Violation::MalformedObject { .. } => Rule::MalformedObject,
        }
    }

    /// What is wrong, naming who, which field and which Secret. `mount_path`
    /// is the allowed path from the settings. The fix is the rule's
    /// ([`Rule::advice`]), said once per message; only what is particular to
    /// one finding (a plain secret volume's escape hatch) is said here.
    pub fn describe(&self, mount_path: &str) -> String {
        match self {
            Violation::EnvSecretRef {
                container,
                env,
                secret,
                key,
            } => {
                format!("{container}: env {env:?} reads key {key:?} of secret {secret:?} into an environment variable")
            }
            Violation::EnvFromSecretRef { container, secret } => {
                format!("{container}: envFrom imports every key of secret {secret:?} as environment variables")
            }
            Violation::PlainSecretVolume { volume, secret, mount } => {
                let who = match mount {
                    Some((container, path)) => format!("{container}: volume {volume:?} mounted at {path:?}"),
                    None => format!("volume {volume:?} (mounted by no container)"),
                };
                // The fix moves the files to the mount path: a program whose
                // flags fix where it reads a certificate needs the escape hatch.
                let or_exempt = match mount {
                    Some((_, path)) if path != mount_path => format!(
                        "; if it is a certificate the program must find at {path}, list {secret:?} in exemptSecrets instead"
                    ),
                    _ => String::new(),
                };
                format!("{who} is a plain secret volume of secret {secret:?}{or_exempt}")
            }
            Violation::SecretMountPath {
                container,
                volume,
                secrets,
                path,
            } => format!(
                "{container}: volumeMount of volume {volume:?} ({}) is at {path:?}",
                secret_list(secrets)
            ),
            Violation::SecretMountWritable {
                container,
                volume,
                secrets,
                path,
            } => format!(
                "{container}: volumeMount of volume {volume:?} ({}) at {path:?} is not read-only",
                secret_list(secrets)
            ),
            Violation::SecretMountSubpath {
                container,
                volume,
                secrets,
                field,
                value,
            } => format!(
                "{container}: volumeMount of volume {volume:?} ({}) uses {field} {value:?}",
                secret_list(secrets)
            ),
            Violation::ProjectedPathConflict {
                volume,
                path,
                first,
                second,
            } => {
                format!("volume {volume:?}: {first} and {second} both project the file {path:?}")
            }
            Violation::DeclaredMountMissing {
                container,
                entries,
                what,
            } => describe_declared_mount_missing(container, entries, what),
            Violation::SecretMountsConflict { subject, detail } => {
                format!("{subject}: the declared secretMounts cannot be added: {detail}")
            }
            Violation::SecretNotVaultSynced {
                container,
                consumer,
                secret,
                namespace,
            } => format!(
                "{container}: {consumer} uses secret {secret:?}, which no Vault Secrets Operator resource in namespace \
                 {namespace:?} syncs from Vault"
            ),
            Violation::VaultSyncUnavailable { call, error } => format!(
                "could not {call} through the host's kubernetes capability: {}",
                error.trim_end_matches('.')
            ),
            Violation::DiscoveredSecretsMayCollide { entries } => {
                let secrets: Vec<String> = entries.iter().map(|e| e.secret.clone()).collect();
                let declarers: Vec<&str> = entries.iter().filter_map(|e| e.declared_by.as_deref()).collect();
                format!(
                    "{}, declared by {}, go whole into one volume at {mount_path}: their keys cannot be seen at \
                     admission, and a key two of them share would be one file",
                    secret_list(&secrets),
                    declarers.join(", ")
                )
            }
            Violation::MalformedObject { detail } => detail.clone(),
        }
    }
}

impl Rule {
    /// What to do about every finding of this rule, said once per message
    /// after its first finding; `None` where the finding says it all.
    pub fn advice(self, mount_path: &str) -> Option<String> {
        let text = match self {
            Rule::EnvSecretRef => format!(
                "Secrets must not be environment variables: remove the env entry, mount its secret through a \
                 projected volume, read-only at {mount_path}, and read the key as a file"
            ),
            Rule::EnvFromSecretRef => format!(
                "Remove the envFrom entry, mount its secret through a projected volume, read-only at {mount_path}, \
                 and read the keys as files"
            ),
            Rule::PlainSecretVolume => format!(
                "Secrets must arrive through a projected volume: replace the volume with a projected volume whose \
                 sources include its secret, mounted read-only at {mount_path}"
            ),
            Rule::SecretMountPath => {
                format!("Secret-bearing volumes may only be mounted at {mount_path}: set mountPath: {mount_path}")
            }
            Rule::SecretMountWritable => "Set readOnly: true on the volumeMount".to_string(),
            Rule::SecretMountSubpath => format!(
                "A subPath or subPathExpr mount never receives rotated secrets: remove it, mount the whole volume \
                 at {mount_path} and read the file there"
            ),
            Rule::ProjectedPathConflict => "Give each item a unique path".to_string(),
            Rule::DeclaredMountMissing => {
                "Add the declared mounts, or let the policy add them (mutate: true)".to_string()
            }
            Rule::SecretNotVaultSynced => "Sync the secret with a VaultStaticSecret (or VaultDynamicSecret, \
                 VaultPKISecret) of the namespace whose spec.destination.name is its name, or, if it must not \
                 come from Vault, list it in exemptSecrets"
                .to_string(),
            Rule::VaultSyncUnavailable => "The policy reads them to tell Vault-synced Secrets (vaultSync.require) \
                 and the mounts they declare (vaultSync.discover): run it as a context-aware policy allowed to list \
                 them (see the README's \"Vault-synced Secrets\"), or turn vaultSync off"
                .to_string(),
            Rule::DiscoveredSecretsMayCollide => "Make sure no two of them have a key of the same name, or declare \
                 their keys: a secretMounts entry with items for a Secret takes the place of the mount its VSO \
                 resource declares"
                .to_string(),
            Rule::SecretMountsConflict | Rule::MalformedObject => return None,
        };
        Some(text)
    }
}

/// The declared mounts a container lacks, told as they were declared: by
/// entries of the policy's `secretMounts`, or by VSO resources (`vaultSync.discover`).
fn describe_declared_mount_missing(container: &ContainerRef, entries: &[EntryRef], what: &str) -> String {
    let secrets: Vec<String> = entries.iter().map(|e| e.secret.clone()).collect();
    let verb = if entries.len() == 1 { "is" } else { "are" };
    if entries.iter().all(|e| e.declared_by.is_none()) {
        let names: Vec<String> = entries.iter().map(|e| format!("{:?}", e.name)).collect();
        let noun = if entries.len() == 1 { "entry" } else { "entries" };
        return format!(
            "{container}: secretMounts {noun} {} ({}) {verb} missing: {what}",
            names.join(", "),
            secret_list(&secrets)
        );
    }
    let declarers: Vec<String> = entries
        .iter()
        .map(|e| match &e.declared_by {
            Some(resource) => format!("{resource} (its rolloutRestartTargets name this workload)"),
            None => format!("secretMounts entry {:?}", e.name),
        })
        .collect();
    let noun = if entries.len() == 1 { "the mount" } else { "the mounts" };
    format!(
        "{container}: {noun} of {} declared by {} {verb} missing: {what}",
        secret_list(&secrets),
        declarers.join(", ")
    )
}

fn secret_list(secrets: &[String]) -> String {
    let quoted: Vec<String> = secrets.iter().map(|s| format!("{s:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("secret {one}"),
        _ => format!("secrets {}", quoted.join(", ")),
    }
}

/// A declared mount named in messages: its entry's name, its Secret, and the
/// VSO resource that declared it when it was discovered (`vaultSync.discover`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    pub name: String,
    pub secret: String,
    pub declared_by: Option<String>,
}

impl EntryRef {
    pub fn of(entry: &crate::settings::SecretMount) -> Self {
        EntryRef {
            name: entry.name.clone(),
            secret: entry.secret_name.clone(),
            declared_by: entry.declared_by.clone(),
        }
    }
}

/// A violation and where it is in the object (dotted path of the offending field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub at: String,
    pub violation: Violation,
}

impl Finding {
    /// One line of a message: `[rule] at: what is wrong.`, followed by the
    /// rule's advice when `advise` (the rule's first line in the message).
    pub fn render(&self, mount_path: &str, advise: bool) -> String {
        let rule = self.violation.rule();
        let mut line = format!(
            "[{}] {}: {}.",
            rule.name(),
            self.at,
            self.violation.describe(mount_path)
        );
        if let Some(advice) = rule.advice(mount_path).filter(|_| advise) {
            line.push(' ');
            line.push_str(&advice);
            line.push('.');
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> ContainerRef {
        ContainerRef {
            list: ContainerList::Containers,
            name: "app".into(),
        }
    }

    /// A new rule fails to compile here until it is in [`Rule::ALL`] too.
    fn index_in_all(rule: Rule) -> usize {
        match rule {
            Rule::EnvSecretRef => 0,
            Rule::EnvFromSecretRef => 1,
            Rule::PlainSecretVolume => 2,
            Rule::SecretMountPath => 3,
            Rule::SecretMountWritable => 4,
            Rule::SecretMountSubpath => 5,
            Rule::ProjectedPathConflict => 6,
            Rule::DeclaredMountMissing => 7,
            Rule::SecretMountsConflict => 8,
            Rule::MalformedObject => 9,
            Rule::SecretNotVaultSynced => 10,
            Rule::VaultSyncUnavailable => 11,
            Rule::DiscoveredSecretsMayCollide => 12,
        }
    }

    #[test]
    fn every_rule_has_a_distinct_name() {
        let rules = Rule::ALL;
        for (index, rule) in rules.iter().enumerate() {
            assert_eq!(index_in_all(*rule), index, "{rule:?}");
        }
        let mut names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len());
    }

    #[test]
    fn rendering_names_rule_location_container_field_secret_and_fix() {
        let finding = Finding {
            at: "spec.template.spec.containers[0].env[1]".into(),
            violation: Violation::EnvSecretRef {
                container: app(),
                env: "DB_PASSWORD".into(),
                secret: "db".into(),
                key: "password".into(),
            },
        };
        assert_eq!(
            finding.render("/etc/secrets", true),
            "[env-secret-ref] spec.template.spec.containers[0].env[1]: container \"app\": env \"DB_PASSWORD\" reads key \"password\" of secret \"db\" into an environment variable. Secrets must not be environment variables: remove the env entry, mount its secret through a projected volume, read-only at /etc/secrets, and read the key as a file."
        );
        assert_eq!(
            finding.render("/etc/secrets", false),
            "[env-secret-ref] spec.template.spec.containers[0].env[1]: container \"app\": env \"DB_PASSWORD\" reads key \"password\" of secret \"db\" into an environment variable."
        );
    }

    #[test]
    fn container_kinds_are_named_as_in_the_pod_spec() {
        let init = ContainerRef {
            list: ContainerList::InitContainers,
            name: "migrate".into(),
        };
        let eph = ContainerRef {
            list: ContainerList::EphemeralContainers,
            name: "debug".into(),
        };
        assert_eq!(init.to_string(), "initContainer \"migrate\"");
        assert_eq!(eph.to_string(), "ephemeralContainer \"debug\"");
    }

    #[test]
    fn several_secrets_of_one_volume_are_all_named() {
        let v = Violation::SecretMountWritable {
            container: app(),
            volume: "creds".into(),
            secrets: vec!["a".into(), "b".into()],
            path: "/etc/secrets".into(),
        };
        assert!(v.describe("/etc/secrets").contains("(secrets \"a\", \"b\")"));
    }
}
