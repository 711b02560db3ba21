//! Loading a policy module and talking waPC to it.

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use wapc::WapcHost;
use wasmtime_provider::wasmtime::{Config, Engine, ExternType, Module};
use wasmtime_provider::WasmtimeEngineProviderBuilder;

use crate::memory::{MemoryStats, TrackingMemoryCreator};
use crate::response::ValidationResponse;

/// How hosts are set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostOptions {
    /// Print the guest's log events on stderr.
    pub verbose: bool,
    /// Give the engine a memory creator that records linear memory sizes.
    pub track_memory: bool,
}

/// The answer of `validate_settings`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// A compiled policy module, ready to be instantiated.
pub struct Policy {
    pub path: PathBuf,
    pub size: usize,
    pub compile_time: Duration,
    engine: Engine,
    module: Module,
    memory: Option<Arc<MemoryStats>>,
    options: HostOptions,
}

/// One instance of a policy with its waPC host.
pub struct PolicyInstance {
    host: WapcHost,
    label: String,
}

/// A short name for messages: the file name, or the path as given.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Turns an error text from wasmtime/waPC (which may span many lines, e.g. a
/// wasm backtrace) into one line that still says what happened.
pub fn one_line(text: &str) -> String {
    // waPC wraps (sometimes twice) what the engine said; the wrappers add
    // nothing to our own context.
    let mut text = text.trim();
    while let Some(rest) = ["Guest call failure: ", "Initialization failed: "]
        .iter()
        .find_map(|p| text.strip_prefix(p))
    {
        text = rest;
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let Some(first) = lines.first() else {
        return String::new();
    };
    let frames: Vec<String> = lines.iter().skip(1).filter_map(|l| frame_function(l)).collect();
    if first.starts_with("error while executing at wasm backtrace") {
        // wasmtime-provider keeps only the backtrace of a trap, not its
        // reason; name where it happened instead of listing every frame.
        let mut shown: Vec<&str> = Vec::new();
        if let Some(top) = frames.first() {
            shown.push(top);
        }
        if let Some(user) = frames.iter().find(|f| !is_runtime_frame(f)) {
            if shown.first() != Some(&user.as_str()) {
                shown.push(user);
            }
        }
        return if shown.is_empty() {
            "the guest trapped".to_string()
        } else {
            format!("the guest trapped (wasm backtrace: {})", shown.join(" … "))
        };
    }
    let rest = lines
        .iter()
        .skip(1)
        .filter(|l| frame_function(l).is_none())
        .map(|l| l.trim_start_matches("Caused by:").trim())
        .filter(|l| !l.is_empty());
    std::iter::once(first.trim_end_matches(':'))
        .chain(rest)
        .collect::<Vec<_>>()
        .join(": ")
}

/// `3: 0x19d23 - m.wasm!std[a8]::process::abort::h0123` → `std::process::abort`.
fn frame_function(line: &str) -> Option<String> {
    let (index, rest) = line.split_once(':')?;
    if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (_, symbol) = rest.split_once(" - ")?;
    let function = symbol.split_once('!').map_or(symbol, |(_, f)| f).trim();
    // drop crate disambiguators `[0123abcd]` and the trailing `::h<hash>`
    let mut clean = String::new();
    let mut depth = 0usize;
    for c in function.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    if let Some((head, hash)) = clean.rsplit_once("::h") {
        if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
            clean = head.to_string();
        }
    }
    Some(clean)
}

fn is_runtime_frame(function: &str) -> bool {
    const RUNTIME: &[&str] = &[
        "std::",
        "core::",
        "alloc::",
        "__rust",
        "__rustc::",
        "rust_",
        "abort",
        "__guest_call",
        "wapc_guest::",
        "<unknown>",
        "dlmalloc",
        "panic",
    ];
    RUNTIME.iter().any(|p| function.starts_with(p))
}

fn error_text(err: &dyn StdError) -> String {
    one_line(&err.to_string())
}

fn new_engine(options: &HostOptions) -> Result<(Engine, Option<Arc<MemoryStats>>)> {
    let mut config = Config::default();
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

impl Policy {
    /// Reads and compiles a policy module, checking that it is a waPC guest.
    pub fn load(path: &Path, options: HostOptions) -> Result<Policy> {
        let name = path.display();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read policy module {name}"))?;
        if bytes.is_empty() {
            bail!("policy module {name} is empty, not a WebAssembly module");
        }
        let (engine, memory) = new_engine(&options)?;
        let started = Instant::now();
        let module = if bytes.starts_with(b"\0asm") {
            Module::new(&engine, &bytes).map_err(|e| {
                anyhow!(
                    "policy module {name} is not a valid WebAssembly module: {}",
                    one_line(&format!("{e:#}"))
                )
            })?
        } else {
            // Not binary wasm. The WebAssembly text format is accepted too
            // (handy for tests); anything else is rejected plainly.
            Module::new(&engine, &bytes)
                .map_err(|_| anyhow!("policy module {name} is not a WebAssembly module (no `\\0asm` header)"))?
        };
        let compile_time = started.elapsed();

        let exports_guest_call = module
            .exports()
            .any(|e| e.name() == "__guest_call" && matches!(e.ty(), ExternType::Func(_)));
        if !exports_guest_call {
            bail!("policy module {name} is not a waPC policy: it does not export the `__guest_call` function");
        }

        Ok(Policy {
            path: path.to_path_buf(),
            size: bytes.len(),
            compile_time,
            engine,
            module,
            memory,
            options,
        })
    }

    /// The memory statistics of this policy's engine, when tracked.
    pub fn memory_stats(&self) -> Option<&MemoryStats> {
        self.memory.as_deref()
    }

    /// Creates a fresh instance (runs the guest's `_start`/`wapc_init`).
    pub fn instantiate(&self) -> Result<PolicyInstance> {
        let label = display_name(&self.path);
        let provider = WasmtimeEngineProviderBuilder::new()
            .engine(self.engine.clone())
            .module(self.module.clone())
            .build()
            .map_err(|e| anyhow!("cannot link policy module {label}: {}", error_text(&e)))?;
        let callback = host_callback(self.options.verbose, label.clone());
        let host = WapcHost::new(Box::new(provider), Some(callback)).map_err(|e| {
            anyhow!(
                "cannot instantiate policy module {label} (waPC initialisation failed): {}",
                error_text(&e)
            )
        })?;
        Ok(PolicyInstance { host, label })
    }

    /// Loads, instantiates and checks the waPC protocol version.
    pub fn open(path: &Path, options: HostOptions) -> Result<(Policy, PolicyInstance)> {
        let policy = Policy::load(path, options)?;
        let instance = policy.instantiate()?;
        instance.check_protocol_version()?;
        Ok((policy, instance))
    }
}

impl PolicyInstance {
    fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.host
            .call(operation, payload)
            .map_err(|e| anyhow!("policy {} failed in `{operation}`: {}", self.label, error_text(&e)))
    }

    /// Calls `protocol_version` and accepts only `"v1"`.
    pub fn check_protocol_version(&self) -> Result<()> {
        let answer = self.host.call("protocol_version", &[]).map_err(|e| {
            anyhow!(
                "policy module {} is not a Kubewarden waPC policy: calling `protocol_version` failed: {}",
                self.label,
                error_text(&e)
            )
        })?;
        match serde_json::from_slice::<Value>(&answer) {
            Ok(Value::String(v)) if v == "v1" => Ok(()),
            _ => bail!(
                "policy module {} speaks an unsupported protocol version: {}",
                self.label,
                String::from_utf8_lossy(&answer)
            ),
        }
    }

    /// Calls `validate_settings` with the settings object.
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        let payload = serde_json::to_vec(settings)?;
        let answer = self.call("validate_settings", &payload)?;
        serde_json::from_slice(&answer).map_err(|e| {
            anyhow!(
                "policy {} returned an invalid settings validation response ({e}): {}",
                self.label,
                preview(&answer)
            )
        })
    }

    /// Calls `validate` and returns the raw answer.
    pub fn validate_raw(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.call("validate", payload)
    }

    /// Calls `validate` and parses the Kubewarden ValidationResponse.
    pub fn validate(&self, payload: &[u8]) -> Result<ValidationResponse> {
        let answer = self.validate_raw(payload)?;
        serde_json::from_slice(&answer).map_err(|e| {
            anyhow!(
                "policy {} returned an invalid ValidationResponse ({e}): {}",
                self.label,
                preview(&answer)
            )
        })
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.replace('\n', " ");
    if text.chars().count() > 200 {
        let cut: String = text.chars().take(200).collect();
        format!("{cut}…")
    } else {
        text
    }
}

type CallbackResult = std::result::Result<Vec<u8>, Box<dyn StdError + Send + Sync>>;

/// Answers guest→host calls: `kubewarden/tracing/log` is served (printed
/// only when verbose), every other capability gets an error.
fn host_callback(verbose: bool, label: String) -> Box<wapc::HostCallback> {
    let denied: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    Box::new(
        move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
            answer_host_call(verbose, &label, &denied, binding, namespace, operation, payload)
        },
    )
}

fn answer_host_call(
    verbose: bool,
    label: &str,
    denied: &Mutex<BTreeSet<String>>,
    binding: &str,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> CallbackResult {
    if (binding, namespace, operation) == ("kubewarden", "tracing", "log") {
        if verbose {
            eprintln!("{}", format_guest_log(label, payload));
        }
        // Must succeed: the SDK's log drain aborts the guest on an error.
        return Ok(Vec::new());
    }
    let capability = format!("{binding}/{namespace}/{operation}");
    let first_time = denied
        .lock()
        .map(|mut seen| seen.insert(capability.clone()))
        .unwrap_or(true);
    if first_time {
        eprintln!(
            "policy-runner: warning: policy {label} asked for host capability {capability}, which policy-runner does not provide"
        );
    }
    Err(format!(
        "host capability {capability} is not available in policy-runner (only kubewarden/tracing/log is served)"
    )
    .into())
}

/// Renders a Kubewarden SDK log event (`{"level","message",...}`) as one line.
pub fn format_guest_log(label: &str, payload: &[u8]) -> String {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => {
            let level = map.get("level").and_then(Value::as_str).unwrap_or("info");
            let message = map.get("message").and_then(Value::as_str).unwrap_or("");
            let mut line = format!("[{label}] {}: {message}", level.to_uppercase());
            for (key, value) in &map {
                if matches!(key.as_str(), "level" | "message" | "line" | "column" | "file") {
                    continue;
                }
                match value {
                    Value::String(s) => line.push_str(&format!(" {key}={s:?}")),
                    other => line.push_str(&format!(" {key}={other}")),
                }
            }
            line
        }
        _ => format!("[{label}] {}", String::from_utf8_lossy(payload).trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_summarises_traps_and_joins_other_lines() {
        let trap = "Guest call failure: error while executing at wasm backtrace:
    0:  0x1ced4 - testguest.wasm!abort
    1:  0x197cf - testguest.wasm!std[a88812da5ee6ad9e]::process::abort
    2:  0x25b0f - testguest.wasm!core[9f8d08631ff90aa5]::panicking::panic_fmt
    3:   0x3d97 - testguest.wasm!testguest::validate::h4788a317261b3cee
    4:  0x16f00 - testguest.wasm!__guest_call";
        assert_eq!(
            one_line(trap),
            "the guest trapped (wasm backtrace: abort … testguest::validate)"
        );
        assert_eq!(
            one_line("error while executing at wasm backtrace:\n 0: 0x1 - <unknown>!<wasm function 3>"),
            "the guest trapped (wasm backtrace: <wasm function 3>)"
        );
        assert_eq!(one_line("Guest call failure: plain message"), "plain message");
        assert_eq!(one_line("a:\n  b\n"), "a: b");
        assert_eq!(one_line("a\nCaused by:\n    b"), "a: b");
        assert_eq!(one_line(""), "");
        assert_eq!(
            one_line("Initialization failed: Initialization failed: error while executing at wasm backtrace:\n 0: 0x1 - m!wapc_init"),
            "the guest trapped (wasm backtrace: wapc_init)"
        );
    }

    #[test]
    fn guest_log_is_rendered_on_one_line() {
        let line = format_guest_log(
            "p.wasm",
            br#"{"level":"warning","message":"hello","line":3,"column":1,"file":"src/lib.rs","policy":"x","n":2}"#,
        );
        assert_eq!(line, r#"[p.wasm] WARNING: hello n=2 policy="x""#);
        assert_eq!(format_guest_log("p", b"raw text\n"), "[p] raw text");
    }

    #[test]
    fn log_calls_succeed_and_other_capabilities_fail() {
        let denied = Mutex::new(BTreeSet::new());
        let ok = answer_host_call(false, "p", &denied, "kubewarden", "tracing", "log", b"{}");
        assert_eq!(ok.unwrap(), Vec::<u8>::new());
        let err = answer_host_call(false, "p", &denied, "kubewarden", "oci", "v1/verify", b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubewarden/oci/v1/verify"), "{err}");
        assert!(err.contains("not available"), "{err}");
    }
}
