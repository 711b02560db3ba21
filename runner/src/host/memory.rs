//! The size of an instance's linear memories, seen through wasmtime's
//! [`ResourceLimiter`], which every store of the runner is given: wasmtime
//! asks it before creating each linear memory (as a growth from 0) and
//! before every `memory.grow`, and tells it when an allowed growth failed.
//!
//! It allows every growth, as policy-server does (it sets no memory limit of
//! its own): a policy may use what its module declares, up to wasm32's
//! 4 GiB, here as there. Tables are not limited either.

use wasmtime::ResourceLimiter;

/// Bytes of linear memory an instance holds. Wasm memories never shrink,
/// so this is also the largest size they reached.
#[derive(Debug, Default)]
pub struct MemoryUse {
    bytes: usize,
    /// The growth last allowed, taken back if wasmtime reports it failed.
    /// Wasmtime reports a failure only right after asking for the growth
    /// (without custom page sizes, which the runner's engine leaves off).
    pending: usize,
}

impl MemoryUse {
    /// Bytes of linear memory the instance holds now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl ResourceLimiter for MemoryUse {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.pending = desired.saturating_sub(current);
        self.bytes = self.bytes.saturating_add(self.pending);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.bytes = self.bytes.saturating_sub(self.pending);
        self.pending = 0;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    const PAGE: usize = 65536;

    /// A module with two memories (1 page, at most 3; and 2 pages) whose
    /// `grow` grows the first by its argument and returns what `memory.grow`
    /// returned.
    const TWO_MEMORIES: &str = r#"(module
  (memory $a 1 3)
  (memory $b 2)
  (func (export "grow") (param i32) (result i32) (memory.grow $a (local.get 0))))"#;

    #[test]
    fn creation_and_every_growth_are_counted_and_a_failed_growth_is_not() {
        let engine = Engine::default();
        let module = Module::new(&engine, TWO_MEMORIES).unwrap();
        let mut store = Store::new(&engine, MemoryUse::default());
        store.limiter(|memory| memory);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(store.data().bytes(), 3 * PAGE);
        let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
        assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
        assert_eq!(store.data().bytes(), 4 * PAGE);
        // past the declared maximum: memory.grow fails, nothing is counted
        assert_eq!(grow.call(&mut store, 2).unwrap(), -1);
        assert_eq!(store.data().bytes(), 4 * PAGE);
        assert_eq!(grow.call(&mut store, 1).unwrap(), 2);
        assert_eq!(store.data().bytes(), 5 * PAGE);
    }
}
