//! The waPC host: loading a policy module ([`module`]), the per-call
//! deadline ([`deadline`]), the waPC calls ([`calls`]), a new instance per
//! evaluation as policy-server makes them ([`fresh`]) and making the
//! engine's errors readable ([`trap`]).

mod calls;
mod deadline;
mod fresh;
mod module;
mod trap;

pub use calls::PolicyInstance;
pub use deadline::{Deadline, DEFAULT_TIMEOUT_MS};
pub use fresh::PolicyPre;
pub use module::{display_name, HostOptions, Policy};
