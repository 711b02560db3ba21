//! Compiled modules kept between runs, as `kwctl run` keeps them: wasmtime's
//! own cache (policy-evaluator's `enable_wasmtime_cache`), on unless
//! `--disable-wasmtime-cache`. Cranelift takes about a CPU-second over a
//! policy of half a megabyte, loading its compiled form back a few
//! milliseconds.
//!
//! The cache is wasmtime's default one, shared with kwctl and the wasmtime
//! CLI: `$XDG_CACHE_HOME/wasmtime`, else `~/.cache/wasmtime`. Wasmtime names
//! each entry by the module's bytes and the engine's settings, compiles anew
//! an entry that does not load (truncated, written by another wasmtime) and
//! replaces it, and trims the directory in a thread of its own.

use std::path::Path;

use wasmtime::{Cache, CacheConfig, Config};

/// Turns wasmtime's cache on in `config`, in `dir` (else wasmtime's default
/// directory). A cache that cannot be set up (no home directory, one that
/// cannot be written) is no error: the module is compiled all the same (said
/// with `verbose`).
pub fn enable(config: &mut Config, dir: Option<&Path>, verbose: bool) -> Option<Cache> {
    let mut settings = CacheConfig::new();
    if let Some(dir) = dir {
        settings.with_directory(dir);
    }
    match Cache::new(settings) {
        Ok(cache) => {
            config.cache(Some(cache.clone()));
            Some(cache)
        }
        Err(e) => {
            if verbose {
                eprintln!("policy-runner: module cache: {e:#}");
            }
            None
        }
    }
}

/// What `cache` did for the one module its engine compiled, said as
/// `-v` says it: loaded, or compiled and stored; `None` when neither (the
/// entry could not be written).
pub fn outcome(cache: &Cache) -> Option<String> {
    let dir = cache.directory().display();
    if cache.cache_hits() > 0 {
        Some(format!("compiled module loaded from wasmtime's cache in {dir}"))
    } else if cache.cache_misses() > 0 {
        Some(format!("compiled module stored in wasmtime's cache in {dir}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wasmtime::{Engine, Module};

    const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    /// An empty directory of this test's own.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("policy-runner-cache-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Compiles `text` on a new engine (with epochs or not) whose cache is
    /// in `dir`, as each run of the runner does: the module and what the
    /// cache did.
    fn compile(dir: &Path, epochs: bool, text: &str) -> (Module, Option<String>) {
        let mut config = Config::default();
        config.epoch_interruption(epochs);
        let cache = enable(&mut config, Some(dir), false).unwrap();
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, text).unwrap();
        let said = outcome(&cache).map(|text| text.replace(&cache.directory().display().to_string(), "DIR"));
        (module, said)
    }

    fn answer(module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(module.engine(), ());
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

    /// The compiled modules in the cache: wasmtime's entries are named by
    /// a hash without an extension (beside them `.stats` files and
    /// `.wip-*` leftovers).
    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_none() {
                    found.push(path);
                }
            }
        }
        found.sort();
        found
    }

    const STORED: Option<&str> = Some("compiled module stored in wasmtime's cache in DIR");
    const LOADED: Option<&str> = Some("compiled module loaded from wasmtime's cache in DIR");

    #[test]
    fn a_module_is_compiled_once_then_loaded_and_runs_the_same() {
        let dir = scratch("once");
        let (first, said_first) = compile(&dir, true, WAT);
        let (second, said_second) = compile(&dir, true, WAT);
        assert_eq!((said_first.as_deref(), said_second.as_deref()), (STORED, LOADED));
        assert_eq!((answer(&first), answer(&second)), (42, 42));
        assert_eq!(entries(&dir).len(), 1, "{:?}", entries(&dir));
    }

    #[test]
    fn other_bytes_or_another_engine_configuration_is_another_entry() {
        let dir = scratch("other");
        let other = WAT.replace("42", "7");
        assert_eq!(compile(&dir, true, WAT).1.as_deref(), STORED);
        let (module, said) = compile(&dir, true, &other);
        assert_eq!((said.as_deref(), answer(&module)), (STORED, 7));
        assert_eq!(compile(&dir, false, WAT).1.as_deref(), STORED);
        assert_eq!(entries(&dir).len(), 3);
        assert_eq!(compile(&dir, false, WAT).1.as_deref(), LOADED);
    }

    #[test]
    fn a_damaged_entry_is_compiled_anew_and_replaced() {
        let dir = scratch("damaged");
        compile(&dir, true, WAT);
        let entry = entries(&dir).remove(0);
        let whole = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &whole[..whole.len() / 2]).unwrap();
        let (module, said) = compile(&dir, true, WAT);
        assert_eq!((said.as_deref(), answer(&module)), (STORED, 42));
        assert_eq!(
            compile(&dir, true, WAT).1.as_deref(),
            LOADED,
            "the damaged entry was not replaced"
        );
        std::fs::write(&entry, b"not a compiled module").unwrap();
        assert_eq!(compile(&dir, true, WAT).1.as_deref(), STORED);
    }

    #[test]
    fn an_unusable_cache_still_gives_the_compiled_module() {
        let dir = scratch("unwritable");
        let blocked = dir.join("a-file");
        std::fs::write(&blocked, b"").unwrap();
        let mut config = Config::default();
        assert!(enable(&mut config, Some(&blocked.join("cache")), false).is_none());
        let module = Module::new(&Engine::new(&config).unwrap(), WAT).unwrap();
        assert_eq!(answer(&module), 42);
    }
}
