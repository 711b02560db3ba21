//! Observing a wasm instance's linear memory from the outside.
//!
//! An engine can be given a custom [`MemoryCreator`]: wasmtime then asks us for every linear memory it
//! instantiates and calls [`LinearMemory::grow_to`] on every successful
//! `memory.grow`. That is the exact, authoritative view of the linear memory
//! size, so the bench subcommand records it here.
//!
//! The memories mirror wasmtime's own mmap strategy (reserve the whole
//! region plus guard pages as inaccessible, make pages read/write as the
//! memory grows) so the JIT-compiled code keeps the same bounds-check
//! elision as with wasmtime's built-in allocator. The only visible difference
//! is that copy-on-write memory images must be disabled on such an engine,
//! so data segments are copied at instantiation time.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Sizes, in bytes, of the linear memories created through one
/// [`TrackingMemoryCreator`].
#[derive(Debug, Default)]
pub struct MemoryStats {
    current: AtomicUsize,
    peak: AtomicUsize,
    created: AtomicUsize,
}

impl MemoryStats {
    /// Bytes currently accessible across all live memories.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    /// Largest value [`MemoryStats::current`] ever reached.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Number of linear memories created so far.
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    fn grew(&self, bytes: usize) {
        let now = self.current.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn released(&self, bytes: usize) {
        self.current.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// A wasmtime memory creator that records linear memory sizes in a shared
/// [`MemoryStats`].
pub struct TrackingMemoryCreator {
    stats: Arc<MemoryStats>,
}

impl TrackingMemoryCreator {
    pub fn new(stats: Arc<MemoryStats>) -> Self {
        TrackingMemoryCreator { stats }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

fn round_up(value: usize, align: usize) -> Option<usize> {
    value.checked_next_multiple_of(align)
}

/// An anonymous mapping: `accessible` read/write bytes from the start, the
/// rest inaccessible (reservation and guard pages).
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn reserve(len: usize) -> io::Result<Mapping> {
        let len = len.max(page_size());
        // SAFETY: a fresh private anonymous mapping chosen by the kernel; it
        // does not alias any existing Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned a null pointer"))?;
        Ok(Mapping { base, len })
    }

    /// Makes the first `bytes` bytes readable and writable.
    fn make_accessible(&self, bytes: usize) -> io::Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        if bytes > self.len {
            return Err(io::Error::other("growth beyond the reserved region"));
        }
        // SAFETY: the range lies inside our own mapping (checked above); the
        // kernel rounds the length up to whole pages, which stays inside the
        // mapping because its length is a multiple of the page size.
        let rc = unsafe { libc::mprotect(self.base.as_ptr().cast(), bytes, libc::PROT_READ | libc::PROT_WRITE) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region we mapped; nothing refers to
        // it any more once wasmtime drops the memory.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

struct TrackedMemory {
    mapping: Mapping,
    /// Bytes usable without moving the base (the reservation).
    capacity: usize,
    guard: usize,
    /// Bytes currently accessible to the guest.
    size: usize,
    stats: Arc<MemoryStats>,
}

// SAFETY: the raw pointer is only an address of a mapping owned by this
// value; wasmtime serialises all access to a linear memory through its store.
unsafe impl Send for TrackedMemory {}
// SAFETY: as above, `&TrackedMemory` exposes no interior mutability.
unsafe impl Sync for TrackedMemory {}

impl TrackedMemory {
    fn new(
        minimum: usize,
        reserved: Option<usize>,
        guard: usize,
        stats: Arc<MemoryStats>,
    ) -> io::Result<TrackedMemory> {
        let page = page_size();
        let overflow = || io::Error::other("memory size overflow");
        let capacity = round_up(reserved.unwrap_or(0).max(minimum), page).ok_or_else(overflow)?;
        let guard = round_up(guard, page).ok_or_else(overflow)?;
        let mapping = Mapping::reserve(capacity.checked_add(guard).ok_or_else(overflow)?)?;
        mapping.make_accessible(minimum)?;
        stats.created.fetch_add(1, Ordering::SeqCst);
        stats.grew(minimum);
        Ok(TrackedMemory {
            mapping,
            capacity,
            guard,
            size: minimum,
            stats,
        })
    }
}

impl Drop for TrackedMemory {
    fn drop(&mut self) {
        self.stats.released(self.size);
    }
}

// SAFETY: `as_ptr` points at `byte_capacity` bytes of reservation followed
// by `guard` inaccessible bytes; the first `byte_size` bytes are
// readable/writable and zero-initialised by the kernel; the base only moves
// when growing past `byte_capacity`, which wasmtime allows only for memories
// it considers movable.
unsafe impl LinearMemory for TrackedMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size <= self.size {
            return Ok(());
        }
        if new_size <= self.capacity {
            self.mapping.make_accessible(new_size)?;
        } else {
            // Only reachable for memories without a large enough reservation,
            // which wasmtime compiles with explicit bounds checks and allows
            // to move.
            let page = page_size();
            let capacity = round_up(new_size, page).ok_or_else(|| io::Error::other("memory size overflow"))?;
            let total = capacity
                .checked_add(self.guard)
                .ok_or_else(|| io::Error::other("memory size overflow"))?;
            let mapping = Mapping::reserve(total)?;
            mapping.make_accessible(new_size)?;
            // SAFETY: both regions are ours, at least `self.size` bytes long
            // and readable/writable there, and distinct mappings.
            unsafe {
                std::ptr::copy_nonoverlapping(self.mapping.base.as_ptr(), mapping.base.as_ptr(), self.size);
            }
            self.mapping = mapping;
            self.capacity = capacity;
        }
        self.stats.grew(new_size - self.size);
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.mapping.base.as_ptr()
    }
}

// SAFETY: every memory handed out honours the reservation and guard sizes
// wasmtime asked for (see `TrackedMemory`).
unsafe impl MemoryCreator for TrackingMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        TrackedMemory::new(minimum, reserved_size_in_bytes, guard_size_in_bytes, self.stats.clone())
            .map(|m| Box::new(m) as Box<dyn LinearMemory>)
            .map_err(|e| format!("cannot allocate linear memory: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_growth_peak_and_release() {
        let stats = Arc::new(MemoryStats::default());
        {
            let mut mem = TrackedMemory::new(65536, Some(1 << 20), 65536, stats.clone()).unwrap();
            assert_eq!(stats.current(), 65536);
            mem.grow_to(3 * 65536).unwrap();
            // the newly accessible bytes are zeroed and writable
            // SAFETY: within byte_size.
            unsafe {
                let p = mem.as_ptr().add(2 * 65536);
                assert_eq!(*p, 0);
                *p = 7;
                assert_eq!(*p, 7);
            }
            assert_eq!(stats.current(), 3 * 65536);
            assert_eq!(stats.peak(), 3 * 65536);
            assert_eq!(mem.byte_capacity(), 1 << 20);
        }
        assert_eq!(stats.current(), 0);
        assert_eq!(stats.peak(), 3 * 65536);
        assert_eq!(stats.created(), 1);
    }

    #[test]
    fn growth_past_reservation_moves_and_keeps_contents() {
        let stats = Arc::new(MemoryStats::default());
        let mut mem = TrackedMemory::new(65536, Some(0), 0, stats.clone()).unwrap();
        // SAFETY: within byte_size.
        unsafe { *mem.as_ptr().add(10) = 42 };
        mem.grow_to(4 * 65536).unwrap();
        // SAFETY: within byte_size.
        unsafe {
            assert_eq!(*mem.as_ptr().add(10), 42);
            assert_eq!(*mem.as_ptr().add(4 * 65536 - 1), 0);
        }
        assert_eq!(stats.peak(), 4 * 65536);
    }
}
