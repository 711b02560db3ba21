//! Talking waPC to an instance of a policy: the guest calls a Kubewarden
//! policy answers (`protocol_version`, `validate_settings`, `validate`) and
//! the host calls it may make back.

use std::cell::RefCell;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use wasmtime::{Store, Trap, TypedFunc};

use super::module::Policy;
use super::trap::{failure, one_line};
use super::wapc::{Exit, HostCallback, HostState};
use crate::context::{ContextHost, Warnings};
use crate::response::ValidationResponse;

/// The policy refused the settings: its message, said in kwctl's words.
#[derive(Debug, thiserror::Error)]
#[error("Provided settings are not valid: {message}")]
pub struct SettingsRefused {
    pub message: String,
}

/// The answer of `validate_settings`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
struct SettingsValidation {
    valid: bool,
    #[serde(default)]
    message: Option<String>,
}

/// One instance of a policy with its waPC host.
pub struct PolicyInstance {
    store: RefCell<Store<HostState>>,
    guest_call: TypedFunc<(i32, i32), i32>,
    label: String,
    deadline_ms: u128,
    /// Epoch ticks per call.
    ticks: u64,
    /// Bytes of linear memory the instance held once initialised.
    initial_memory: usize,
}

/// Why a guest call gave no answer.
enum CallError {
    Deadline,
    Failed(String),
}

impl From<wasmtime::Error> for CallError {
    /// Wasmtime stopped the guest at the epoch deadline, or it failed.
    fn from(err: wasmtime::Error) -> CallError {
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Deadline,
            _ => CallError::Failed(failure(&err)),
        }
    }
}

impl Policy {
    /// Creates a fresh instance: a new store, the module instantiated from
    /// its linked form, and the guest's `_start` then `wapc_init` run when
    /// exported (as waPC hosts do), under the same deadline as a call. The
    /// store's limiter records the instance's linear memory ([`MemoryUse`]).
    ///
    /// [`MemoryUse`]: super::memory::MemoryUse
    pub fn instantiate(&self) -> Result<PolicyInstance> {
        let label = self.label();
        let deadline = self.options.deadline;
        let ticks = deadline.ticks();
        let calls = HostCalls {
            verbose: self.options.verbose,
            label: label.clone(),
            context: self.context.clone(),
            denied: Warnings::default(),
        };
        let callback: Arc<HostCallback> = Arc::new(move |b, n, o, p| calls.answer(b, n, o, p));
        let mut store = Store::new(&self.engine, HostState::new(callback, self.options.verbose));
        store.limiter(|state| &mut state.memory);
        let guest_call = self.start(&mut store, ticks).map_err(|e| match e {
            CallError::Deadline => anyhow!("cannot instantiate policy module {label}: its initialisation exceeded the {} ms deadline (raise it with --timeout-ms)", deadline.millis()),
            CallError::Failed(why) => {
                anyhow!("cannot instantiate policy module {label} (waPC initialisation failed): {why}")
            }
        })?;
        self.instantiations.set(self.instantiations.get() + 1);
        let initial_memory = store.data().memory.bytes();
        Ok(PolicyInstance {
            store: RefCell::new(store),
            guest_call,
            label,
            deadline_ms: deadline.millis(),
            ticks,
            initial_memory,
        })
    }

    fn start(&self, store: &mut Store<HostState>, ticks: u64) -> Result<TypedFunc<(i32, i32), i32>, CallError> {
        store.set_epoch_deadline(ticks);
        let instance = self.pre.instantiate(&mut *store)?;
        for start in ["_start", "wapc_init"] {
            if instance.get_func(&mut *store, start).is_none() {
                continue;
            }
            let func = instance.get_typed_func::<(), ()>(&mut *store, start)?;
            store.set_epoch_deadline(ticks);
            match func.call(&mut *store, ()) {
                Ok(()) => {}
                // A Go (TinyGo) `main` ends with proc_exit(0): a success.
                Err(e) if matches!(e.downcast_ref::<Exit>(), Some(Exit(0))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        instance
            .get_typed_func::<(i32, i32), i32>(&mut *store, "__guest_call")
            .map_err(|e| CallError::Failed(format!("`__guest_call`: {}", failure(&e))))
    }
}

impl PolicyInstance {
    /// One waPC guest call, under the deadline: the guest's answer, or its
    /// error (or the engine's, when it trapped).
    fn guarded_call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let lengths = (i32::try_from(operation.len()), i32::try_from(payload.len()));
        let (Ok(op_len), Ok(len)) = lengths else {
            return Err(CallError::Failed(format!(
                "the payload of {} bytes is too large for waPC",
                payload.len()
            )));
        };
        let mut store = self.store.borrow_mut();
        store.data_mut().start_call(operation, payload);
        store.set_epoch_deadline(self.ticks);
        let result = self.guest_call.call(&mut *store, (op_len, len));
        let state = &mut store.data_mut().call;
        let failed = |otherwise: &str| CallError::Failed(one_line(state.error.as_deref().unwrap_or(otherwise)));
        match result {
            Err(e) => Err(e.into()),
            Ok(0) => Err(failed("the guest failed without an error message")),
            Ok(_) => state
                .response
                .take()
                .ok_or_else(|| failed("the guest succeeded without a response")),
        }
    }

    /// One guest call; `failed` makes the error of a guest that failed.
    fn call_or(
        &self,
        operation: &str,
        payload: &[u8],
        failed: impl FnOnce(String) -> anyhow::Error,
    ) -> Result<Vec<u8>> {
        self.guarded_call(operation, payload).map_err(|e| match e {
            CallError::Deadline => anyhow!(
                "policy {}: evaluation exceeded the {} ms deadline in `{operation}` (raise it with --timeout-ms)",
                self.label,
                self.deadline_ms
            ),
            CallError::Failed(why) => failed(why),
        })
    }

    fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.call_or(operation, payload, |why| {
            anyhow!("policy {} failed in `{operation}`: {why}", self.label)
        })
    }

    /// Calls `protocol_version` and accepts only `"v1"`.
    fn check_protocol_version(&self) -> Result<()> {
        let answer = self.call_or("protocol_version", &[], |why| {
            anyhow!(
                "policy module {} is not a Kubewarden waPC policy: calling `protocol_version` failed: {why}",
                self.label
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

    /// The guest's answer read as a `T`, else an error naming `what` it is.
    fn parse<T: DeserializeOwned>(&self, answer: &[u8], what: &str) -> Result<T> {
        serde_json::from_slice(answer).map_err(|e| {
            anyhow!(
                "policy {} returned an invalid {what} ({e}): {}",
                self.label,
                preview(answer)
            )
        })
    }

    /// What every command does first with a new instance: checks that it
    /// speaks waPC protocol v1 and accepts the settings.
    pub fn ready(&self, settings: &Value) -> Result<()> {
        self.check_protocol_version()?;
        self.require_valid_settings(settings)
    }

    /// Calls `validate_settings` and fails unless the policy accepts them,
    /// in kwctl's words, so that CI logs read the same with either tool.
    fn require_valid_settings(&self, settings: &Value) -> Result<()> {
        let answer = self.call("validate_settings", &serde_json::to_vec(settings)?)?;
        let verdict: SettingsValidation = self.parse(&answer, "settings validation response")?;
        if !verdict.valid {
            return Err(SettingsRefused {
                message: verdict.message.unwrap_or_default(),
            }
            .into());
        }
        Ok(())
    }

    /// Calls `validate` and returns the raw answer.
    pub fn validate_raw(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.call("validate", payload)
    }

    /// Bytes of linear memory the instance held once initialised.
    pub fn initial_memory(&self) -> usize {
        self.initial_memory
    }

    /// Bytes of linear memory the instance holds now, the most it held
    /// (wasm memories never shrink).
    pub fn memory(&self) -> usize {
        self.store.borrow().data().memory.bytes()
    }

    /// Calls `validate` and parses the Kubewarden ValidationResponse.
    pub fn validate(&self, payload: &[u8]) -> Result<ValidationResponse> {
        self.parse(&self.validate_raw(payload)?, "ValidationResponse")
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

/// Answers guest→host calls: `kubewarden/tracing/log` is served (printed
/// only when verbose), `kubewarden/kubernetes/*` look-ups go to the
/// [`ContextHost`], every other capability gets an error (said on stderr
/// once per capability and instance).
struct HostCalls {
    verbose: bool,
    label: String,
    context: Arc<ContextHost>,
    denied: Warnings,
}

impl HostCalls {
    fn answer(&self, binding: &str, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let label = &self.label;
        if (binding, namespace, operation) == ("kubewarden", "tracing", "log") {
            if self.verbose {
                eprintln!("{}", format_guest_log(label, payload));
            }
            // Must succeed: the SDK's log drain aborts the guest on an error.
            return Ok(Vec::new());
        }
        if (binding, namespace) == ("kubewarden", "kubernetes") {
            if let Some(answer) = self.context.answer(label, operation, payload) {
                return answer;
            }
        }
        let capability = format!("{binding}/{namespace}/{operation}");
        self.denied.once(capability.clone(), || {
            format!("policy-runner: warning: policy {label} asked for host capability {capability}, which policy-runner does not provide")
        });
        Err(format!(
            "host capability {capability} is not available in policy-runner (only kubewarden/tracing/log is served)"
        ))
    }
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
    fn guest_log_is_rendered_on_one_line() {
        let line = format_guest_log(
            "p.wasm",
            br#"{"level":"warning","message":"hello","line":3,"column":1,"file":"src/lib.rs","policy":"x","n":2}"#,
        );
        assert_eq!(line, r#"[p.wasm] WARNING: hello n=2 policy="x""#);
        assert_eq!(format_guest_log("p", b"raw text\n"), "[p] raw text");
    }

    fn host_calls(context: ContextHost) -> HostCalls {
        HostCalls {
            verbose: false,
            label: "p".to_string(),
            context: Arc::new(context),
            denied: Warnings::default(),
        }
    }

    #[test]
    fn log_calls_succeed_and_other_capabilities_fail() {
        let calls = host_calls(ContextHost::default());
        let ok = calls.answer("kubewarden", "tracing", "log", b"{}");
        assert_eq!(ok.unwrap(), Vec::<u8>::new());
        let err = calls
            .answer("kubewarden", "oci", "v1/verify", b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubewarden/oci/v1/verify"), "{err}");
        assert!(err.contains("not available"), "{err}");
        // Kubernetes look-ups go to the context host, which grants nothing here
        let list = br#"{"api_version":"v1","kind":"Pod","namespace":"a","label_selector":null,"field_selector":null}"#;
        let err = calls
            .answer("kubewarden", "kubernetes", "list_resources_by_namespace", list)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Policy has not been granted access to Kubernetes v1/Pod"),
            "{err}"
        );
        assert_eq!(calls.context.calls(), 1);
    }
}
