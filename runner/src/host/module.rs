//! Loading a policy module: reading and compiling it on an engine of its own,
//! whose epoch ticker enforces the per-call deadline.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use wasmtime::{Cache, Config, Engine, ExternType, InstancePre, Module};

use super::cache;
use super::deadline::{Deadline, EpochTicker};
use super::trap::one_line;
use super::wapc::{linker, HostState};
use crate::context::ContextHost;

/// How hosts are set up.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Print the guest's log events on stderr.
    pub verbose: bool,
    /// How long one waPC call (or the module's initialisation) may run.
    pub deadline: Deadline,
    /// Keep compiled modules between runs, in wasmtime's cache ([`cache`]);
    /// compile every time without it.
    pub cache: bool,
}

/// A compiled policy module, ready to be instantiated.
pub struct Policy {
    pub path: PathBuf,
    pub size: usize,
    /// Compiling the module took this long (loading it, when cached).
    pub compile_time: Duration,
    pub(super) engine: Engine,
    /// The module linked with the runner's waPC and WASI functions, from
    /// which every instance is made.
    pub(super) pre: InstancePre<HostState>,
    pub(super) options: HostOptions,
    /// Advances the engine's epoch for as long as the policy is loaded.
    _ticker: EpochTicker,
    /// Answers the policy's context-aware host calls (shared by its instances).
    pub(super) context: Arc<ContextHost>,
    /// Instances made so far, so that callers can show (and tests check)
    /// that no instance was reused.
    pub(super) instantiations: Cell<u64>,
}

/// A short name for messages: the file name, or the path as given.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The engine of every command, configured as policy-server's: wasmtime's
/// defaults (copy-on-write memory images among them) with epoch
/// interruption, so that guest code checks the epoch at loop heads and
/// function entries and a call stops at its deadline, counted in ticks;
/// with wasmtime's cache when `options` keep compiled modules.
fn new_engine(options: &HostOptions) -> Result<(Engine, Option<Cache>)> {
    let mut config = Config::default();
    config.epoch_interruption(true);
    let cache = options
        .cache
        .then(|| cache::enable(&mut config, None, options.verbose))
        .flatten();
    let engine = Engine::new(&config).map_err(|e| anyhow!("cannot create wasmtime engine: {e}"))?;
    Ok((engine, cache))
}

fn compile(engine: &Engine, bytes: &[u8], name: &str) -> Result<Module> {
    if bytes.starts_with(b"\0asm") {
        Module::new(engine, bytes).map_err(|e| {
            anyhow!(
                "policy module {name} is not a valid WebAssembly module: {}",
                one_line(&format!("{e:#}"))
            )
        })
    } else {
        // Not binary wasm. The WebAssembly text format is accepted too
        // (handy for tests); anything else is rejected plainly.
        Module::new(engine, bytes)
            .map_err(|_| anyhow!("policy module {name} is not a WebAssembly module (no `\\0asm` header)"))
    }
}

impl Policy {
    /// Reads, compiles and links a policy module, checking that it is a waPC
    /// guest; `context` answers its Kubernetes look-ups. The one way run,
    /// check and bench load a policy.
    pub fn open(path: &Path, options: HostOptions, context: Arc<ContextHost>) -> Result<Policy> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read policy module {name}"))?;
        if bytes.is_empty() {
            bail!("policy module {name} is empty, not a WebAssembly module");
        }
        let (engine, cache) = new_engine(&options)?;
        let started = Instant::now();
        let module = compile(&engine, &bytes, &name)?;
        let compile_time = started.elapsed();
        if let (true, Some(said)) = (options.verbose, cache.as_ref().and_then(cache::outcome)) {
            eprintln!("policy-runner: {said}");
        }

        let exports_guest_call = module
            .exports()
            .any(|e| e.name() == "__guest_call" && matches!(e.ty(), ExternType::Func(_)));
        if !exports_guest_call {
            bail!("policy module {name} is not a waPC policy: it does not export the `__guest_call` function");
        }
        // An import the runner does not provide fails here, and wasmtime's
        // error names it.
        let pre = linker(&engine)
            .and_then(|l| l.instantiate_pre(&module))
            .map_err(|e| anyhow!("cannot link policy module {name}: {}", one_line(&format!("{e:#}"))))?;
        let ticker = EpochTicker::start(engine.clone(), options.deadline.tick())
            .context("cannot start the thread that enforces the call deadline")?;

        Ok(Policy {
            path: path.to_path_buf(),
            size: bytes.len(),
            compile_time,
            engine,
            pre,
            options,
            _ticker: ticker,
            context,
            instantiations: Cell::new(0),
        })
    }

    /// What answers the policy's Kubernetes look-ups.
    pub fn context(&self) -> &ContextHost {
        &self.context
    }

    /// How many linear memories each instance has.
    pub fn linear_memories(&self) -> usize {
        let memories = self.pre.module().resources_required().num_memories;
        usize::try_from(memories).unwrap_or(usize::MAX)
    }

    /// How many instances [`Policy::instantiate`] has made.
    pub fn instantiations(&self) -> u64 {
        self.instantiations.get()
    }

    /// A short name for messages.
    pub fn label(&self) -> String {
        display_name(&self.path)
    }
}
