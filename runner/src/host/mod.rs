//! The waPC host: loading and linking a policy module ([`module`]) with
//! compiled modules kept between runs ([`cache`]), the one load sequence of
//! every command ([`load`]), the host functions it imports ([`wapc`]), the
//! per-call deadline ([`deadline`]), the instance's linear memory
//! ([`memory`]), the waPC calls on an instance ([`calls`]) and making the
//! engine's errors readable ([`trap`]).

mod cache;
mod calls;
mod deadline;
mod load;
mod memory;
mod module;
mod trap;
mod wapc;

pub use calls::{PolicyInstance, SettingsRefused};
pub use deadline::{Deadline, DEFAULT_TIMEOUT_MS};
pub use load::{load, Load, Loaded};
pub use module::{display_name, HostOptions, Policy};
