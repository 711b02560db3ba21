//! A new instance per evaluation, as Kubewarden's policy-server runs waPC
//! policies: the module is linked once (WASI and the waPC host functions,
//! into wasmtime's pre-instantiated form), and every evaluation gets a new
//! store and instance from it, dropped afterwards. Nothing a guest keeps in
//! globals or linear memory survives from one evaluation to the next, and
//! each evaluation pays for instantiation and teardown: what `bench
//! --fresh-instance` measures.

use std::cell::Cell;

use anyhow::{anyhow, Result};
use wasmtime_provider::{WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

use super::calls::PolicyInstance;
use super::module::Policy;
use super::trap::error_text;

/// A policy linked once, from which fresh instances are made.
pub struct PolicyPre {
    policy: Policy,
    pre: WasmtimeEngineProviderPre,
    /// Instances made so far, so that callers can show (and tests check)
    /// that no instance was reused.
    instantiations: Cell<u64>,
}

impl PolicyPre {
    /// Links the module of `policy` with WASI and the waPC host functions.
    pub fn new(policy: Policy) -> Result<PolicyPre> {
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(policy.engine.clone())
            .module(policy.module.clone())
            .build_pre()
            .map_err(|e| anyhow!("cannot link policy module {}: {}", policy.label(), error_text(&e)))?;
        Ok(PolicyPre {
            policy,
            pre,
            instantiations: Cell::new(0),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A new store and instance, initialised (`_start`, `wapc_init`) under
    /// the call deadline, with the same host callbacks as
    /// [`Policy::instantiate`].
    pub fn instantiate(&self) -> Result<PolicyInstance> {
        // Engines without epochs (memory tracking) are guarded by the
        // policy's watchdog instead, in `start_instance`.
        let epoch_deadlines = self
            .policy
            .watchdog()
            .is_none()
            .then(|| self.policy.options.deadline.epoch_deadlines());
        let provider = self.pre.rehydrate(epoch_deadlines).map_err(|e| {
            anyhow!(
                "cannot create a store for policy module {}: {}",
                self.policy.label(),
                error_text(&e)
            )
        })?;
        let instance = self.policy.start_instance(provider)?;
        self.instantiations.set(self.instantiations.get() + 1);
        Ok(instance)
    }

    /// How many instances [`PolicyPre::instantiate`] has made.
    pub fn instantiations(&self) -> u64 {
        self.instantiations.get()
    }
}
