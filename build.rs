//! Link settings of the Wasm module, and the rule catalogue it carries.
//!
//! The linker gives a wasm32 module a 1 MiB stack by default, and the stack is
//! part of the module's initial linear memory, which every fresh instance (one
//! per request on policy-server) gets. The policy's deepest recursion follows
//! the nesting of the request, which serde_json caps at 128 levels: the hostile
//! e2e tests (the deepest request a host sends) and a custom kind nested 113
//! levels deep and searched with JSONPath `..` ran with a 256 KiB stack. Twice
//! that keeps a margin and brings the initial memory from 18 pages to 10.
//!
//! The rule catalogue (docs/rules.yml) travels in the module as compact JSON,
//! zlib-compressed (2 KB instead of 8 KB in every instance's module), in the
//! `policy-runner.rules` custom section, so that a released module alone
//! lets `policy-runner check` describe every rule in its SARIF report (src/lib.rs
//! places it; the runner reads it, runner/src/catalogue.rs). `kwctl annotate`
//! keeps custom sections it does not know, and so does `wasm-opt`.

use std::path::Path;

const CATALOGUE: &str = "docs/rules.yml";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=524288");
        println!("cargo:rerun-if-changed={CATALOGUE}");
        if let Err(error) = write_catalogue() {
            eprintln!("{CATALOGUE}: {error}");
            std::process::exit(1);
        }
    }
}

/// Writes `catalogue.json.zlib` (the catalogue as compact JSON, compressed
/// with zlib at miniz_oxide's best level) and `catalogue.rs` (a static of its
/// exact length, which src/lib.rs includes) into OUT_DIR.
fn write_catalogue() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(CATALOGUE)?;
    let rules: Vec<serde_json::Value> = serde_yaml::from_str(&text)?;
    let json = serde_json::to_vec(&rules)?;
    let zlib = miniz_oxide::deflate::compress_to_vec_zlib(&json, 10);
    let out = std::env::var("OUT_DIR")?;
    let out = Path::new(&out);
    std::fs::write(out.join("catalogue.json.zlib"), &zlib)?;
    let rust = format!(
        "/// The rule catalogue, {CATALOGUE} as compact JSON in a zlib stream (build.rs).\n\
         /// Public, and not `#[used]`: rustc turns it into the custom section, and\n\
         /// `#[used]` would also keep a copy in the module's data.\n\
         #[link_section = \"policy-runner.rules\"]\n\
         pub static RULE_CATALOGUE: [u8; {}] = *include_bytes!(\"catalogue.json.zlib\");\n",
        zlib.len()
    );
    std::fs::write(out.join("catalogue.rs"), rust)?;
    Ok(())
}
