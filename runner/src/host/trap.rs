//! Turning what wasmtime or a guest says about a failed call (multi-line
//! error chains, wasm backtraces) into one readable line.

use wasmtime::{FrameInfo, WasmBacktrace};

/// What a failed guest function says, on one line: for a trap, where it
/// happened, from wasmtime's backtrace; else the error's text.
pub fn failure(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<WasmBacktrace>() {
        Some(backtrace) => trap_summary(backtrace.frames()),
        None => one_line(&err.to_string()),
    }
}

/// Turns an error text from wasmtime or a guest (which may span many lines,
/// such as an error chain) into one line that still says what happened.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(|l| l.trim().trim_start_matches("Caused by:").trim())
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(index, l)| if index == 0 { l.trim_end_matches(':') } else { l })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Names where a trap happened (the top frame and the first frame of the
/// policy's own code) instead of listing every frame.
fn trap_summary(frames: &[FrameInfo]) -> String {
    let functions: Vec<String> = frames.iter().map(function).collect();
    let mut shown: Vec<&str> = Vec::new();
    if let Some(top) = functions.first() {
        shown.push(top);
    }
    if let Some(user) = functions.iter().find(|f| !is_runtime_frame(f)) {
        if shown.first() != Some(&user.as_str()) {
            shown.push(user);
        }
    }
    if shown.is_empty() {
        "the guest trapped".to_string()
    } else {
        format!("the guest trapped (wasm backtrace: {})", shown.join(" … "))
    }
}

/// A frame's function, demangled without hashes and crate disambiguators:
/// `_ZN3std7process5abort17h0123456789abcdefE` → `std::process::abort`.
fn function(frame: &FrameInfo) -> String {
    let Some(name) = frame.func_name() else {
        return format!("<wasm function {}>", frame.func_index());
    };
    if let Ok(rust) = rustc_demangle::try_demangle(name) {
        return format!("{rust:#}");
    }
    cpp_demangle::Symbol::new(name)
        .ok()
        .and_then(|symbol| symbol.demangle().ok())
        .unwrap_or_else(|| name.to_string())
}

/// Frames of the Rust runtime and the waPC glue, which say nothing about
/// where in the policy a trap happened.
fn is_runtime_frame(function: &str) -> bool {
    #[rustfmt::skip]
    const RUNTIME: &[&str] = &[
        "std::", "core::", "alloc::", "__rust", "__rustc::", "rust_", "abort", "__guest_call",
        "wapc_guest::", "<unknown>", "dlmalloc", "panic",
    ];
    RUNTIME.iter().any(|p| function.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    /// The error of calling `run` in a module given in the text format.
    fn trap_of(wat: &str) -> wasmtime::Error {
        let engine = Engine::default();
        let module = Module::new(&engine, wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
        run.call(&mut store, ()).unwrap_err()
    }

    #[test]
    fn a_trap_names_its_top_frame_and_the_policys_own_frame() {
        // mangled as rustc does (legacy and v0 schemes), called as a panic is
        let trap = trap_of(
            r#"(module
                (func $abort unreachable)
                (func $_RNvNtCs1234abcd_3std7process5abort call $abort)
                (func $_ZN4core9panicking9panic_fmt17h0123456789abcdefE call $_RNvNtCs1234abcd_3std7process5abort)
                (func $_ZN9testguest8validate17h4788a317261b3ceeE call $_ZN4core9panicking9panic_fmt17h0123456789abcdefE)
                (func $__guest_call call $_ZN9testguest8validate17h4788a317261b3ceeE)
                (func (export "run") call $__guest_call))"#,
        );
        assert_eq!(
            failure(&trap),
            "the guest trapped (wasm backtrace: abort … testguest::validate)"
        );
        // a function without a name is named by its index
        let trap = trap_of(r#"(module (func unreachable) (func (export "run") call 0))"#);
        assert_eq!(failure(&trap), "the guest trapped (wasm backtrace: <wasm function 0>)");
        let trap = trap_of(r#"(module (func $wapc_init unreachable) (func (export "run") call $wapc_init))"#);
        assert_eq!(failure(&trap), "the guest trapped (wasm backtrace: wapc_init)");
    }

    #[test]
    fn other_errors_are_joined_on_one_line() {
        assert_eq!(one_line("plain message"), "plain message");
        assert_eq!(one_line("a:\n  b\n"), "a: b");
        assert_eq!(one_line("a\nCaused by:\n    b"), "a: b");
        assert_eq!(one_line(""), "");
        assert_eq!(failure(&wasmtime::Error::msg("a\nb")), "a: b");
    }
}
