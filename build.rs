//! Link settings of the Wasm module.
//!
//! The linker gives a wasm32 module a 1 MiB stack by default, and the stack is
//! part of the module's initial linear memory, which every fresh instance (one
//! per request on policy-server) gets. The policy's deepest recursion follows
//! the nesting of the request, which serde_json caps at 128 levels: the hostile
//! e2e tests (the deepest request a host sends) and a custom kind nested 113
//! levels deep and searched with JSONPath `..` ran with a 256 KiB stack. Twice
//! that keeps a margin and brings the initial memory from 18 pages to 10.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=524288");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
