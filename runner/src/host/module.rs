//! Loading a policy module: reading and compiling it on an engine of its own,
//! with what enforces the per-call deadline on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use std::cell::Cell;

use wasmtime::{Config, Engine, ExternType, InstancePre, Module};

use super::cache;
use super::deadline::{Deadline, EpochTicker, Watchdog};
use super::trap::one_line;
use super::wapc::{linker, HostState};
use crate::context::ContextHost;
use crate::memory::{MemoryStats, TrackingMemoryCreator};

/// How hosts are set up.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Print the guest's log events on stderr.
    pub verbose: bool,
    /// Give the engine a memory creator that records linear memory sizes.
    pub track_memory: bool,
    /// How long one waPC call (or the module's initialisation) may run.
    pub deadline: Deadline,
    /// Keep compiled modules in this directory between runs ([`cache`]);
    /// compile every time without one.
    pub cache: Option<PathBuf>,
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
    memory: Option<Arc<MemoryStats>>,
    pub(super) enforcement: Enforcement,
    /// Answers the policy's context-aware host calls (shared by its instances).
    pub(super) context: Arc<ContextHost>,
    /// Instances made so far, so that callers can show (and tests check)
    /// that no instance was reused.
    pub(super) instantiations: Cell<u64>,
}

/// What stops a call at the deadline, for as long as the policy is loaded.
pub(super) enum Enforcement {
    /// Epoch interruption: the call fails with a trap. The ticker is held
    /// for its Drop, which stops it.
    Epochs(#[allow(dead_code)] EpochTicker),
    /// For memory-tracking engines, which cannot use epochs.
    Watchdog(Arc<Watchdog>),
}

/// A short name for messages: the file name, or the path as given.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn new_engine(options: &HostOptions) -> Result<(Engine, Option<Arc<MemoryStats>>)> {
    let mut config = Config::default();
    // Guest code checks the epoch at loop heads and function entries; the
    // deadline in `EpochDeadlines` is counted in epoch ticks. Not with
    // memory tracking: see `Watchdog`.
    config.epoch_interruption(!options.track_memory);
    let stats = if options.track_memory {
        let stats = Arc::new(MemoryStats::default());
        config.with_host_memory(Arc::new(TrackingMemoryCreator::new(stats.clone())));
        // Copy-on-write memory images need wasmtime's own mmap memories.
        config.memory_init_cow(false);
        Some(stats)
    } else {
        None
    };
    let engine = Engine::new(&config).map_err(|e| anyhow!("cannot create wasmtime engine: {e}"))?;
    Ok((engine, stats))
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

fn enforcement(engine: &Engine, options: &HostOptions) -> Result<Enforcement> {
    let started = if options.track_memory {
        Watchdog::start(options.deadline.timeout).map(|w| Enforcement::Watchdog(Arc::new(w)))
    } else {
        EpochTicker::start(engine.clone(), options.deadline.tick()).map(Enforcement::Epochs)
    };
    started.context("cannot start the thread that enforces the call deadline")
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
        let (engine, memory) = new_engine(&options)?;
        let started = Instant::now();
        let module = match &options.cache {
            Some(dir) => cache::load_or_compile(dir, &engine, &bytes, options.verbose, || {
                compile(&engine, &bytes, &name)
            })?,
            None => compile(&engine, &bytes, &name)?,
        };
        let compile_time = started.elapsed();

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
        let enforcement = enforcement(&engine, &options)?;

        Ok(Policy {
            path: path.to_path_buf(),
            size: bytes.len(),
            compile_time,
            engine,
            pre,
            options,
            memory,
            enforcement,
            context,
            instantiations: Cell::new(0),
        })
    }

    /// What answers the policy's Kubernetes look-ups.
    pub fn context(&self) -> &ContextHost {
        &self.context
    }

    /// The memory statistics of this policy's engine, when tracked.
    pub fn memory_stats(&self) -> Option<&MemoryStats> {
        self.memory.as_deref()
    }

    /// The watchdog of a memory-tracking engine.
    pub(super) fn watchdog(&self) -> Option<Arc<Watchdog>> {
        match &self.enforcement {
            Enforcement::Watchdog(w) => Some(w.clone()),
            Enforcement::Epochs(_) => None,
        }
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
