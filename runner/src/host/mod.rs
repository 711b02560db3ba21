//! The waPC host: loading and linking a policy module ([`module`]) with
//! compiled modules kept between runs ([`cache`]), the host functions it
//! imports ([`wapc`]), the per-call deadline ([`deadline`]), the waPC calls on
//! an instance ([`calls`]) and making the engine's errors readable
//! ([`trap`]).

pub mod cache;
mod calls;
mod deadline;
mod module;
mod trap;
mod wapc;

pub use calls::PolicyInstance;
pub use deadline::{Deadline, DEFAULT_TIMEOUT_MS};
pub use module::{display_name, HostOptions, Policy};
