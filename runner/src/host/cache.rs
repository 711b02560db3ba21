//! Compiled modules kept between runs, as `kwctl run` keeps them (wasmtime's
//! cache, on unless `--disable-wasmtime-cache`): Cranelift takes about a
//! CPU-second over a policy of half a megabyte, loading its compiled form
//! back a few milliseconds.
//!
//! One file per module and engine: `<sha256>.cwasm`, named by the SHA-256 of
//! the module's bytes and of what the engine's configuration makes of
//! compiled code (`Engine::precompile_compatibility_hash`: wasmtime's
//! version, the target, the settings). A file that does not load (truncated,
//! written by another wasmtime) is compiled anew and replaced. Every build of
//! a policy is a new file, so the cache keeps the [`KEEP`] files used last.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// How many compiled modules the cache keeps (about 2 MB each for a policy
/// of half a megabyte): those loaded or stored last.
const KEEP: usize = 16;

/// Where compiled modules are kept: `$XDG_CACHE_HOME/policy-runner`, else
/// `~/.cache/policy-runner`; none when neither is known.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |var: &str| std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("policy-runner"))
}

/// Feeds what a `Hash` impl writes into SHA-256. `Engine`'s compatibility
/// hash is only offered as `impl Hash`; std's hashers would cut it to 64
/// bits, too few to name a file whose code is trusted when loaded.
struct Sha256Writer(Sha256);

impl Hasher for Sha256Writer {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Never read: the digest is taken from the inner `Sha256`.
    fn finish(&self) -> u64 {
        0
    }
}

/// The cache file of `bytes` compiled by `engine`, in `dir`.
fn file(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let mut writer = Sha256Writer(Sha256::new());
    writer.write(bytes);
    engine.precompile_compatibility_hash().hash(&mut writer);
    let name: String = writer.0.finalize().iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.cwasm"))
}

/// The module compiled from `bytes`: loaded from `dir` when it was compiled
/// before, else compiled by `compile` and stored there. A cache that cannot
/// be written is no error (said with `verbose`).
pub fn load_or_compile(
    dir: &Path,
    engine: &Engine,
    bytes: &[u8],
    verbose: bool,
    compile: impl FnOnce() -> anyhow::Result<Module>,
) -> anyhow::Result<Module> {
    let path = file(dir, engine, bytes);
    // SAFETY: `deserialize_file` runs the machine code in the file it is
    // given. Files here are only written by `store` below, from modules this
    // engine compiled, and are named by the hash of the module's bytes and of
    // the engine's configuration; wasmtime checks the file's header (its
    // version and settings) again, and any error means: compile anew. The
    // directory is the user's own, trusted as kwctl trusts its wasmtime cache.
    if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
        // Marks it as used, for `prune`.
        let _ = std::fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        if verbose {
            eprintln!("policy-runner: compiled module loaded from {}", path.display());
        }
        return Ok(module);
    }
    let module = compile()?;
    let kept = store(&module, &path).and_then(|()| prune(dir, KEEP));
    if verbose {
        match kept {
            Ok(()) => eprintln!("policy-runner: compiled module stored in {}", path.display()),
            // The module was compiled all the same.
            Err(e) => eprintln!("policy-runner: module cache: {e:#}"),
        }
    }
    Ok(module)
}

/// Writes the compiled module next to its place, then renames it there, so
/// that a reader never maps a half-written file (a runner reading the old
/// file keeps its mapping of it).
fn store(module: &Module, path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path.parent().context("cache file without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = module
        .serialize()
        .map_err(|e| anyhow::anyhow!("cannot serialise the compiled module: {e}"))?;
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Removes all but the `keep` files of `dir` used last (by modification
/// time, which a load sets), leftovers of interrupted writes included.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some((metadata.modified().ok()?, entry.path()))
        })
        .collect();
    files.sort_unstable_by(|a, b| b.cmp(a));
    for (_, path) in files.iter().skip(keep) {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::Config;

    const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    /// An empty directory of this test's own.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("policy-runner-cache-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn engine(epochs: bool) -> Engine {
        let mut config = Config::default();
        config.epoch_interruption(epochs);
        Engine::new(&config).unwrap()
    }

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(engine, ());
        // Epochs never advance here; without a deadline above 0 the call
        // would be interrupted at once.
        store.set_epoch_deadline(1);
        let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
        instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .unwrap()
            .call(&mut store, ())
            .unwrap()
    }

    /// Loads through the cache, counting the compilations.
    fn load(dir: &Path, engine: &Engine, bytes: &[u8], compiled: &mut u32) -> Module {
        load_or_compile(dir, engine, bytes, false, || {
            *compiled += 1;
            Module::new(engine, bytes).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .unwrap()
    }

    #[test]
    fn a_module_is_compiled_once_then_loaded_and_runs_the_same() {
        let dir = scratch("once");
        let engine = engine(true);
        let mut compiled = 0;
        let first = load(&dir, &engine, WAT.as_bytes(), &mut compiled);
        let second = load(&dir, &engine, WAT.as_bytes(), &mut compiled);
        assert_eq!(compiled, 1);
        assert_eq!((answer(&engine, &first), answer(&engine, &second)), (42, 42));
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].extension().unwrap(), "cwasm");
    }

    #[test]
    fn other_bytes_or_another_engine_configuration_is_another_file() {
        let dir = scratch("other");
        let (epochs, plain) = (engine(true), engine(false));
        let other = WAT.replace("42", "7");
        assert_ne!(file(&dir, &epochs, WAT.as_bytes()), file(&dir, &plain, WAT.as_bytes()));
        assert_ne!(
            file(&dir, &epochs, WAT.as_bytes()),
            file(&dir, &epochs, other.as_bytes())
        );
        let mut compiled = 0;
        load(&dir, &epochs, WAT.as_bytes(), &mut compiled);
        let module = load(&dir, &epochs, other.as_bytes(), &mut compiled);
        load(&dir, &plain, WAT.as_bytes(), &mut compiled);
        assert_eq!(compiled, 3);
        assert_eq!(answer(&epochs, &module), 7);
    }

    #[test]
    fn a_damaged_file_is_compiled_anew_and_replaced() {
        let dir = scratch("damaged");
        let engine = engine(true);
        let path = file(&dir, &engine, WAT.as_bytes());
        std::fs::write(&path, b"not a compiled module").unwrap();
        let mut compiled = 0;
        let module = load(&dir, &engine, WAT.as_bytes(), &mut compiled);
        assert_eq!((compiled, answer(&engine, &module)), (1, 42));
        load(&dir, &engine, WAT.as_bytes(), &mut compiled);
        assert_eq!(compiled, 1, "the damaged file was not replaced");
    }

    #[test]
    fn the_cache_keeps_the_files_used_last() {
        let dir = scratch("prune");
        let engine = engine(true);
        let mut compiled = 0;
        let texts: Vec<String> = (0..3).map(|n| WAT.replace("42", &n.to_string())).collect();
        for text in &texts {
            load(&dir, &engine, text.as_bytes(), &mut compiled);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Loading the oldest makes it the newest.
        load(&dir, &engine, texts[0].as_bytes(), &mut compiled);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join("left-by-a-crash.tmp"), b"").unwrap();
        prune(&dir, 2).unwrap();
        let mut kept: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        kept.sort();
        let mut expected = vec![
            dir.join("left-by-a-crash.tmp"),
            file(&dir, &engine, texts[0].as_bytes()),
        ];
        expected.sort();
        assert_eq!((compiled, kept), (3, expected));
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_compiled_module() {
        let dir = scratch("unwritable");
        let blocked = dir.join("a-file");
        std::fs::write(&blocked, b"").unwrap();
        let engine = engine(true);
        let mut compiled = 0;
        let module = load(&blocked.join("cache"), &engine, WAT.as_bytes(), &mut compiled);
        assert_eq!((compiled, answer(&engine, &module)), (1, 42));
    }
}
