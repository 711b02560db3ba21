//! A per-call deadline on guest code, through wasmtime's epoch interruption:
//! a background thread advances the engine's epoch at a fixed tick, and each
//! waPC call (and the module's initialisation) may run for a bounded number
//! of ticks. A guest stuck in a loop then fails the call instead of hanging
//! CI — the protection policy-server gives its policies with its timeout.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use wasmtime::Engine;

/// The default deadline of one call, as policy-server's policy timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;

/// How long one call may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub timeout: Duration,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline::from_millis(DEFAULT_TIMEOUT_MS)
    }
}

impl Deadline {
    pub fn from_millis(ms: u64) -> Deadline {
        Deadline {
            timeout: Duration::from_millis(ms.max(1)),
        }
    }

    pub fn millis(&self) -> u128 {
        self.timeout.as_millis()
    }

    /// The epoch tick: fine enough that the deadline is kept to within a
    /// tick, coarse enough that the ticking thread costs nothing measurable.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(10).min(self.timeout)
    }

    /// Ticks a call may take. A call starts somewhere inside a tick, so one
    /// extra tick guarantees it at least the whole timeout.
    pub fn ticks(&self) -> u64 {
        let tick = self.tick().as_nanos().max(1);
        let whole = self.timeout.as_nanos().div_ceil(tick);
        u64::try_from(whole).unwrap_or(u64::MAX - 1).saturating_add(1)
    }
}

/// Advances an engine's epoch every tick until dropped: dropping it closes
/// the channel, which wakes the thread at once and ends it.
pub struct EpochTicker {
    _stop: Sender<()>,
}

impl EpochTicker {
    pub fn start(engine: Engine, tick: Duration) -> std::io::Result<EpochTicker> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("epoch-ticker".to_string())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_whole_timeout() {
        let d = Deadline::from_millis(2000);
        assert_eq!(d.tick(), Duration::from_millis(10));
        assert_eq!(d.ticks(), 201);
        let short = Deadline::from_millis(3);
        assert_eq!(short.tick(), Duration::from_millis(3));
        assert_eq!(short.ticks(), 2);
        let odd = Deadline::from_millis(25);
        assert_eq!(odd.ticks(), 4);
        assert_eq!(Deadline::from_millis(0).millis(), 1);
        assert_eq!(Deadline::default().millis(), 2000);
    }
}
