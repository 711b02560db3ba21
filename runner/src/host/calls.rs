//! Talking waPC to an instance of a policy: the guest calls a Kubewarden
//! policy answers (`protocol_version`, `validate_settings`, `validate`) and
//! the host calls it may make back.

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::Value;
use wapc::WapcHost;
use wasmtime_provider::{WasmtimeEngineProvider, WasmtimeEngineProviderBuilder};

use super::deadline::Watchdog;
use super::module::Policy;
use super::trap::{error_text, is_deadline_exceeded};
use crate::context::ContextHost;
use crate::response::ValidationResponse;

/// The answer of `validate_settings`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// One instance of a policy with its waPC host.
pub struct PolicyInstance {
    host: WapcHost,
    label: String,
    deadline_ms: u128,
    watchdog: Option<Arc<Watchdog>>,
}

impl Policy {
    /// Creates a fresh instance (runs the guest's `_start`/`wapc_init`,
    /// under the same deadline as a call).
    pub fn instantiate(&self) -> Result<PolicyInstance> {
        let label = self.label();
        let deadline = self.options.deadline;
        let watchdog = self.watchdog();
        let mut builder = WasmtimeEngineProviderBuilder::new()
            .engine(self.engine.clone())
            .module(self.module.clone());
        if watchdog.is_none() {
            builder = builder.enable_epoch_interruptions(deadline.epoch_deadlines());
        }
        let provider = builder
            .build()
            .map_err(|e| anyhow!("cannot link policy module {label}: {}", error_text(&e)))?;
        self.start_instance(provider)
    }

    /// Starts a linked instance: wires the waPC host callbacks and runs the
    /// guest's initialisation under the deadline.
    pub(super) fn start_instance(&self, provider: WasmtimeEngineProvider) -> Result<PolicyInstance> {
        let label = self.label();
        let deadline = self.options.deadline;
        let watchdog = self.watchdog();
        let callback = host_callback(self.options.verbose, label.clone(), self.context.clone());
        if let Some(w) = &watchdog {
            w.arm(init_deadline_message(&label, deadline.millis()));
        }
        let host = WapcHost::new(Box::new(provider), Some(callback));
        if let Some(w) = &watchdog {
            w.disarm();
        }
        let host = host.map_err(|e| {
            let text = e.to_string();
            if is_deadline_exceeded(&text) {
                anyhow!(init_deadline_message(&label, deadline.millis()))
            } else {
                anyhow!(
                    "cannot instantiate policy module {label} (waPC initialisation failed): {}",
                    error_text(&e)
                )
            }
        })?;
        Ok(PolicyInstance {
            host,
            label,
            deadline_ms: deadline.millis(),
            watchdog,
        })
    }
}

impl PolicyInstance {
    /// One guest call, under the deadline.
    fn guarded_call(&self, operation: &str, payload: &[u8]) -> std::result::Result<Vec<u8>, wapc::errors::Error> {
        if let Some(w) = &self.watchdog {
            w.arm(self.deadline_error(operation).to_string());
        }
        let answer = self.host.call(operation, payload);
        if let Some(w) = &self.watchdog {
            w.disarm();
        }
        answer
    }

    fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.guarded_call(operation, payload).map_err(|e| {
            if is_deadline_exceeded(&e.to_string()) {
                self.deadline_error(operation)
            } else {
                anyhow!("policy {} failed in `{operation}`: {}", self.label, error_text(&e))
            }
        })
    }

    fn deadline_error(&self, operation: &str) -> anyhow::Error {
        anyhow!(
            "policy {}: evaluation exceeded the {} ms deadline in `{operation}` (raise it with --timeout-ms)",
            self.label,
            self.deadline_ms
        )
    }

    /// Calls `protocol_version` and accepts only `"v1"`.
    pub fn check_protocol_version(&self) -> Result<()> {
        let answer = self.guarded_call("protocol_version", &[]).map_err(|e| {
            if is_deadline_exceeded(&e.to_string()) {
                return self.deadline_error("protocol_version");
            }
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

    /// Calls `validate_settings` and fails unless the policy accepts them,
    /// in kwctl's words, so that CI logs read the same with either tool.
    pub fn require_valid_settings(&self, settings: &Value) -> Result<()> {
        let verdict = self.validate_settings(settings)?;
        if !verdict.valid {
            bail!(
                "Provided settings are not valid: {}",
                verdict.message.unwrap_or_default()
            );
        }
        Ok(())
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

fn init_deadline_message(label: &str, deadline_ms: u128) -> String {
    format!("cannot instantiate policy module {label}: its initialisation exceeded the {deadline_ms} ms deadline (raise it with --timeout-ms)")
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
/// only when verbose), `kubewarden/kubernetes/*` look-ups go to the
/// [`ContextHost`], every other capability gets an error.
fn host_callback(verbose: bool, label: String, context: Arc<ContextHost>) -> Box<wapc::HostCallback> {
    let denied: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    Box::new(
        move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
            let call = HostCall {
                binding,
                namespace,
                operation,
                payload,
            };
            answer_host_call(verbose, &label, &denied, &context, call)
        },
    )
}

/// One guest→host call.
struct HostCall<'a> {
    binding: &'a str,
    namespace: &'a str,
    operation: &'a str,
    payload: &'a [u8],
}

fn answer_host_call(
    verbose: bool,
    label: &str,
    denied: &Mutex<BTreeSet<String>>,
    context: &ContextHost,
    call: HostCall,
) -> CallbackResult {
    let HostCall {
        binding,
        namespace,
        operation,
        payload,
    } = call;
    if (binding, namespace, operation) == ("kubewarden", "tracing", "log") {
        if verbose {
            eprintln!("{}", format_guest_log(label, payload));
        }
        // Must succeed: the SDK's log drain aborts the guest on an error.
        return Ok(Vec::new());
    }
    if (binding, namespace) == ("kubewarden", "kubernetes") {
        if let Some(answer) = context.answer(label, operation, payload) {
            return answer.map_err(Into::into);
        }
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
    fn guest_log_is_rendered_on_one_line() {
        let line = format_guest_log(
            "p.wasm",
            br#"{"level":"warning","message":"hello","line":3,"column":1,"file":"src/lib.rs","policy":"x","n":2}"#,
        );
        assert_eq!(line, r#"[p.wasm] WARNING: hello n=2 policy="x""#);
        assert_eq!(format_guest_log("p", b"raw text\n"), "[p] raw text");
    }

    fn call<'a>(binding: &'a str, namespace: &'a str, operation: &'a str, payload: &'a [u8]) -> HostCall<'a> {
        HostCall {
            binding,
            namespace,
            operation,
            payload,
        }
    }

    #[test]
    fn log_calls_succeed_and_other_capabilities_fail() {
        let denied = Mutex::new(BTreeSet::new());
        let context = ContextHost::default();
        let ok = answer_host_call(
            false,
            "p",
            &denied,
            &context,
            call("kubewarden", "tracing", "log", b"{}"),
        );
        assert_eq!(ok.unwrap(), Vec::<u8>::new());
        let err = answer_host_call(
            false,
            "p",
            &denied,
            &context,
            call("kubewarden", "oci", "v1/verify", b"{}"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("kubewarden/oci/v1/verify"), "{err}");
        assert!(err.contains("not available"), "{err}");
        // Kubernetes look-ups go to the context host, which grants nothing here
        let list = br#"{"api_version":"v1","kind":"Pod","namespace":"a","label_selector":null,"field_selector":null}"#;
        let err = answer_host_call(
            false,
            "p",
            &denied,
            &context,
            call("kubewarden", "kubernetes", "list_resources_by_namespace", list),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("Policy has not been granted access to Kubernetes v1/Pod"),
            "{err}"
        );
        assert_eq!(context.calls(), 1);
    }
}
