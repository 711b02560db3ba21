//! The waPC host: loading a policy module ([`module`]), the per-call
//! deadline ([`deadline`]), the waPC calls ([`calls`]) and making the
//! engine's errors readable ([`trap`]).

mod calls;
mod deadline;
mod module;
mod trap;

pub use calls::PolicyInstance;
pub use deadline::{Deadline, DEFAULT_TIMEOUT_MS};
pub use module::{display_name, HostOptions, Policy};
