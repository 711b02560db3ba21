//! Turning what wasmtime or a guest says about a failed call (multi-line
//! error chains, wasm backtraces) into one readable line.

/// Turns an error text from wasmtime or a guest (which may span many lines,
/// e.g. a wasm backtrace) into one line that still says what happened.
pub fn one_line(text: &str) -> String {
    let text = text.trim();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let Some(first) = lines.first() else {
        return String::new();
    };
    let frames: Vec<String> = lines.iter().skip(1).filter_map(|l| frame_function(l)).collect();
    if first.starts_with("error while executing at wasm backtrace") {
        return trap_summary(&frames);
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

/// A trap's text is its backtrace; name where it happened (the top frame and the first frame of the policy's
/// own code) instead of listing every frame.
fn trap_summary(frames: &[String]) -> String {
    let mut shown: Vec<&str> = Vec::new();
    if let Some(top) = frames.first() {
        shown.push(top);
    }
    if let Some(user) = frames.iter().find(|f| !is_runtime_frame(f)) {
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

/// Frames of the Rust runtime and the waPC glue, which say nothing about
/// where in the policy a trap happened.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_summarises_traps_and_joins_other_lines() {
        let trap = "error while executing at wasm backtrace:
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
        assert_eq!(one_line("plain message"), "plain message");
        assert_eq!(one_line("a:\n  b\n"), "a: b");
        assert_eq!(one_line("a\nCaused by:\n    b"), "a: b");
        assert_eq!(one_line(""), "");
        assert_eq!(
            one_line("error while executing at wasm backtrace:\n 0: 0x1 - m!wapc_init"),
            "the guest trapped (wasm backtrace: wapc_init)"
        );
    }
}
