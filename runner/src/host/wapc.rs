//! The host side of waPC (<https://wapc.io>) and the five WASI preview-1
//! functions waPC policies built with the Rust or Go SDKs import, as one
//! wasmtime [`Linker`]: one function per import.
//!
//! A waPC call: the host stores the operation and its payload, calls the
//! guest's `__guest_call(operation length, payload length)`; the guest
//! fetches both with `__guest_request` and answers with `__guest_response`
//! (then returns 1) or `__guest_error` (then returns 0). While it runs, the
//! guest may call the host with `__host_call(binding, namespace, operation,
//! payload)`, which returns 1 (fetch the answer with `__host_response_len` and
//! `__host_response`) or 0 (fetch the error with `__host_error_len` and
//! `__host_error`).
//!
//! WASI is the least a policy needs: no arguments, no environment, standard
//! output and error as the runner's, random bytes from the kernel. A module
//! importing anything else fails at instantiation, and wasmtime's error names
//! the import.

use std::io::Write;
use std::sync::Arc;

use wasmtime::{Caller, Extern, Linker, Memory};

use super::memory::MemoryUse;

/// Answers a guest's `__host_call`: binding, namespace, operation, payload.
pub type HostCallback = dyn Fn(&str, &str, &str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// What one guest call of the conversation holds.
#[derive(Default)]
pub struct GuestCall {
    /// The operation and payload of the guest call.
    pub request: Option<(String, Vec<u8>)>,
    pub response: Option<Vec<u8>>,
    pub error: Option<String>,
    /// The answer to the guest's last host call: the response, or the error.
    host_answer: Option<Result<Vec<u8>, String>>,
}

/// What one instance's waPC conversation holds (the store's data).
pub struct HostState {
    pub call: GuestCall,
    host_calls: Arc<HostCallback>,
    /// Print what the guest logs with `__console_log`.
    verbose: bool,
    /// The store's limiter: the instance's linear memory.
    pub memory: MemoryUse,
}

impl HostState {
    pub fn new(host_calls: Arc<HostCallback>, verbose: bool) -> HostState {
        HostState {
            call: GuestCall::default(),
            host_calls,
            verbose,
            memory: MemoryUse::default(),
        }
    }

    /// Starts a guest call: forgets what the last one left.
    pub fn start_call(&mut self, operation: &str, payload: &[u8]) {
        self.call = GuestCall {
            request: Some((operation.to_string(), payload.to_vec())),
            ..GuestCall::default()
        };
    }

    fn host_response(&self) -> Option<&[u8]> {
        self.call.host_answer.as_ref()?.as_deref().ok()
    }

    fn host_error(&self) -> Option<&[u8]> {
        self.call.host_answer.as_ref()?.as_ref().err().map(|e| e.as_bytes())
    }
}

/// `proc_exit`: ends the guest with this status (a trap carrying it).
#[derive(Debug, thiserror::Error)]
#[error("the guest exited with status {0}")]
pub struct Exit(pub i32);

type Ctx<'a> = Caller<'a, HostState>;

fn memory(caller: &mut Ctx) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| wasmtime::Error::msg("the guest exports no `memory`"))
}

/// `len` bytes of the guest's memory at `ptr`.
fn read(caller: &mut Ctx, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    start
        .checked_add(len)
        .and_then(|end| memory.data(&caller).get(start..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::Error::msg(format!("the guest passed {len} bytes at {start}, outside its memory")))
}

fn read_str(caller: &mut Ctx, ptr: i32, len: i32) -> wasmtime::Result<String> {
    String::from_utf8(read(caller, ptr, len)?)
        .map_err(|_| wasmtime::Error::msg("the guest passed a string that is not UTF-8"))
}

fn write(caller: &mut Ctx, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    place(memory.data_mut(caller), ptr, bytes.len())?.copy_from_slice(bytes);
    Ok(())
}

/// Writes what `held` picks of the conversation into the guest's memory at
/// `ptr`; nothing when it holds nothing there.
fn write_held(
    caller: &mut Ctx,
    ptr: i32,
    held: impl for<'a> Fn(&'a HostState) -> Option<&'a [u8]>,
) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let (data, state) = memory.data_and_store_mut(caller);
    if let Some(bytes) = held(state) {
        place(data, ptr, bytes.len())?.copy_from_slice(bytes);
    }
    Ok(())
}

/// The `len` bytes of the guest's memory at `ptr`, to be written.
fn place(data: &mut [u8], ptr: i32, len: usize) -> wasmtime::Result<&mut [u8]> {
    let start = ptr as u32 as usize;
    start
        .checked_add(len)
        .and_then(|end| data.get_mut(start..end))
        .ok_or_else(|| wasmtime::Error::msg(format!("the guest asked for {len} bytes at {ptr}, outside its memory")))
}

fn len_i32(bytes: Option<&[u8]>) -> i32 {
    bytes.map_or(0, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

/// The waPC functions of a guest call and of its logging (module `wapc`).
fn add_wapc(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("wapc", "__guest_request", |mut c: Ctx, op_ptr: i32, ptr: i32| {
        write_held(&mut c, ptr, |s| s.call.request.as_ref().map(|r| r.1.as_slice()))?;
        write_held(&mut c, op_ptr, |s| s.call.request.as_ref().map(|r| r.0.as_bytes()))
    })?;
    linker.func_wrap("wapc", "__guest_response", |mut c: Ctx, ptr: i32, len: i32| {
        c.data_mut().call.response = Some(read(&mut c, ptr, len)?);
        Ok(())
    })?;
    linker.func_wrap("wapc", "__guest_error", |mut c: Ctx, ptr: i32, len: i32| {
        c.data_mut().call.error = Some(String::from_utf8_lossy(&read(&mut c, ptr, len)?).into_owned());
        Ok(())
    })?;
    linker.func_wrap("wapc", "__console_log", |mut c: Ctx, ptr: i32, len: i32| {
        let text = read(&mut c, ptr, len)?;
        if c.data().verbose {
            eprintln!("[guest console] {}", String::from_utf8_lossy(&text).trim_end());
        }
        Ok(())
    })?;
    add_host_calls(linker)
}

/// The waPC functions through which the guest calls the host and reads its
/// answer or error.
fn add_host_calls(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut c: Ctx,
         bd_ptr: i32,
         bd_len: i32,
         ns_ptr: i32,
         ns_len: i32,
         op_ptr: i32,
         op_len: i32,
         ptr: i32,
         len: i32| {
            let binding = read_str(&mut c, bd_ptr, bd_len)?;
            let namespace = read_str(&mut c, ns_ptr, ns_len)?;
            let operation = read_str(&mut c, op_ptr, op_len)?;
            let payload = read(&mut c, ptr, len)?;
            let state = c.data_mut();
            let answer = (state.host_calls)(&binding, &namespace, &operation, &payload);
            let answered = answer.is_ok();
            state.call.host_answer = Some(answer);
            Ok(i32::from(answered))
        },
    )?;
    linker.func_wrap("wapc", "__host_response_len", |c: Ctx| {
        len_i32(c.data().host_response())
    })?;
    linker.func_wrap("wapc", "__host_response", |mut c: Ctx, ptr: i32| {
        write_held(&mut c, ptr, HostState::host_response)
    })?;
    linker.func_wrap("wapc", "__host_error_len", |c: Ctx| len_i32(c.data().host_error()))?;
    linker.func_wrap("wapc", "__host_error", |mut c: Ctx, ptr: i32| {
        write_held(&mut c, ptr, HostState::host_error)
    })?;
    Ok(())
}

/// WASI errno values.
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EIO: i32 = 29;

/// The WASI preview-1 functions (module `wasi_snapshot_preview1`).
fn add_wasi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    const WASI: &str = "wasi_snapshot_preview1";
    // No environment: zero variables, zero bytes.
    linker.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut c: Ctx, count_ptr: i32, size_ptr: i32| {
            let zeros = write(&mut c, count_ptr, &0u32.to_le_bytes())
                .and_then(|()| write(&mut c, size_ptr, &0u32.to_le_bytes()));
            Ok(if zeros.is_ok() { SUCCESS } else { EFAULT })
        },
    )?;
    linker.func_wrap(WASI, "environ_get", |_: Ctx, _environ: i32, _buf: i32| SUCCESS)?;
    linker.func_wrap(WASI, "random_get", |mut c: Ctx, ptr: i32, len: i32| {
        let mut bytes = vec![0u8; len as u32 as usize];
        if getrandom::fill(&mut bytes).is_err() {
            return Ok(EIO);
        }
        Ok(if write(&mut c, ptr, &bytes).is_ok() {
            SUCCESS
        } else {
            EFAULT
        })
    })?;
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Ctx, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| -> wasmtime::Result<i32> {
            let Ok(vectors) = read(&mut c, iovs, iovs_len.saturating_mul(8)) else {
                return Ok(EFAULT);
            };
            let mut text = Vec::new();
            for iov in vectors.chunks_exact(8) {
                let field = |at: usize| i32::from_le_bytes([iov[at], iov[at + 1], iov[at + 2], iov[at + 3]]);
                match read(&mut c, field(0), field(4)) {
                    Ok(bytes) => text.extend_from_slice(&bytes),
                    Err(_) => return Ok(EFAULT),
                }
            }
            let written = match fd {
                1 => std::io::stdout().lock().write_all(&text),
                2 => std::io::stderr().lock().write_all(&text),
                _ => return Ok(EBADF),
            };
            if written.is_err() {
                return Ok(EIO);
            }
            let count = u32::try_from(text.len()).unwrap_or(u32::MAX);
            Ok(if write(&mut c, nwritten, &count.to_le_bytes()).is_ok() {
                SUCCESS
            } else {
                EFAULT
            })
        },
    )?;
    linker.func_wrap(WASI, "proc_exit", |_: Ctx, status: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(status)))
    })?;
    Ok(())
}

/// A linker with every function the runner provides.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    add_wapc(&mut linker)?;
    add_wasi(&mut linker)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::super::{HostOptions, Policy};

    fn load(name: &str, wat: &str) -> anyhow::Result<Policy> {
        let path = std::env::temp_dir().join(format!("policy-runner-{name}-{}.wat", std::process::id()));
        std::fs::write(&path, wat).unwrap();
        let policy = Policy::open(&path, HostOptions::default(), Default::default());
        std::fs::remove_file(&path).unwrap();
        policy
    }

    #[test]
    fn an_import_the_runner_does_not_provide_fails_at_load_naming_it() {
        let err = load(
            "fd-read",
            r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 0)))"#,
        )
        .err()
        .expect("linking must fail")
        .to_string();
        assert!(err.contains("wasi_snapshot_preview1::fd_read"), "{err}");
        assert!(err.starts_with("cannot link policy module"), "{err}");
    }

    /// Every function the runner provides, imported with its signature: the
    /// module links, and a guest call runs the whole waPC conversation.
    #[test]
    fn the_provided_imports_link_and_answer_a_guest_call() {
        let policy = load(
            "all-imports",
            r#"(module
  (import "wapc" "__guest_request" (func $request (param i32 i32)))
  (import "wapc" "__guest_response" (func $respond (param i32 i32)))
  (import "wapc" "__guest_error" (func (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response" (func (param i32)))
  (import "wapc" "__host_response_len" (func (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__console_log" (func (param i32 i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "kubewardenoci")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $request (i32.const 1000) (i32.const 2000))
    ;; an unserved capability: the host answers 0 and an error
    (if (i32.ne (call $host_call (i32.const 100) (i32.const 10) (i32.const 110) (i32.const 3)
                                 (i32.const 110) (i32.const 3) (i32.const 0) (i32.const 0)) (i32.const 0))
      (then unreachable))
    (call $host_error (i32.const 3000))
    (drop (call $random (i32.const 4000) (i32.const 16)))
    (drop (call $sizes (i32.const 4100) (i32.const 4104)))
    ;; answer with the payload, then the host error's length
    (call $respond (i32.const 2000) (local.get $len))
    (i32.const 1)))"#,
        )
        .unwrap();
        let instance = policy.instantiate().unwrap();
        assert_eq!(instance.validate_raw(b"{\"x\":1}").unwrap(), b"{\"x\":1}");
        assert_eq!(policy.instantiations(), 1);
    }
}
