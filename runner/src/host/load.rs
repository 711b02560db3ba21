//! The one way `run`, `check` and `bench` bring a policy up: its metadata,
//! the context-aware host made from it, the module compiled and linked, a
//! first instance, and that instance checked ready (waPC protocol v1, the
//! settings accepted).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use super::calls::PolicyInstance;
use super::module::{display_name, HostOptions, Policy};
use crate::context::ContextHost;
use crate::metadata::{find_metadata, FoundMetadata};

/// What to load, and how.
pub struct Load<'a> {
    pub policy: &'a Path,
    /// `--metadata`; without it, the metadata beside the module or in it.
    pub metadata: Option<&'a Path>,
    pub options: HostOptions,
    pub settings: &'a Value,
    /// Name the module in an error of the ready checks, for `bench`, which
    /// loads several modules with one settings (kwctl's settings error, which
    /// `run` and `check` keep, names none).
    pub name_module_when_not_ready: bool,
}

/// A policy brought up, with its first instance.
pub struct Loaded {
    pub metadata: Option<FoundMetadata>,
    pub policy: Policy,
    pub instance: PolicyInstance,
    /// How long making the first instance took.
    pub instantiate_time: Duration,
}

/// Loads `load.policy`; `context` makes the host that answers its
/// Kubernetes look-ups from the metadata found.
pub fn load(load: Load, context: impl FnOnce(Option<&FoundMetadata>) -> Result<ContextHost>) -> Result<Loaded> {
    let metadata = find_metadata(load.metadata, load.policy)?;
    let context = context(metadata.as_ref())?;
    let policy = Policy::open(load.policy, load.options, Arc::new(context))?;
    let started = Instant::now();
    let instance = policy.instantiate()?;
    let instantiate_time = started.elapsed();
    let ready = instance.ready(load.settings);
    if load.name_module_when_not_ready {
        ready.with_context(|| format!("module {}", display_name(load.policy)))?;
    } else {
        ready?;
    }
    Ok(Loaded {
        metadata,
        policy,
        instance,
        instantiate_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waPC guest that speaks protocol v1 and refuses every settings.
    const REFUSES_SETTINGS: &str = r#"(module
  (import "wapc" "__guest_response" (func $respond (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "\"v1\"")
  (data (i32.const 2048) "{\"valid\":false,\"message\":\"no\"}")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $respond (i32.const 1024) (i32.const 4)) (return (i32.const 1))))
    (call $respond (i32.const 2048) (i32.const 30))
    (i32.const 1)))
"#;

    #[test]
    fn a_refusal_of_the_settings_names_the_module_only_when_asked() {
        let name = format!("policy-runner-unready-{}.wat", std::process::id());
        let path = std::env::temp_dir().join(&name);
        std::fs::write(&path, REFUSES_SETTINGS).unwrap();
        let settings = serde_json::json!({});
        let error = |name_module_when_not_ready| {
            let spec = Load {
                policy: &path,
                metadata: None,
                options: HostOptions::default(),
                settings: &settings,
                name_module_when_not_ready,
            };
            load(spec, |_| Ok(ContextHost::default()))
                .err()
                .map(|e| format!("{e:#}"))
        };
        let (plain, named) = (error(false), error(true));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(plain.as_deref(), Some("Provided settings are not valid: no"));
        assert_eq!(
            named,
            Some(format!("module {name}: Provided settings are not valid: no"))
        );
    }
}
