//! Compiled wasm modules for `weavedrive run`, under `modules/` in the cache directory, so a
//! second run of the same module skips compilation. The store only names and writes the
//! files; the engine that compiles and loads them lives in the WASI host. A compiled module
//! is native code: it is trusted because this user's own runs wrote it, not verified like a
//! block. Modules are few and small beside the blocks and do not count in the disk budget.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct ModuleStore {
    dir: PathBuf,
    tmp_dir: PathBuf,
}

impl ModuleStore {
    /// The `modules/` directory of `cache_dir` (created on the first `put`).
    pub fn open(cache_dir: &Path) -> ModuleStore {
        ModuleStore {
            dir: cache_dir.join("modules"),
            tmp_dir: cache_dir.join("tmp"),
        }
    }

    /// Where the compilation of `wasm` by an engine whose compatibility hash is `engine` is
    /// kept: named by the module's sha256 and that hash, so a changed module or an upgraded
    /// engine never loads a stale compilation.
    pub fn path(&self, wasm: &[u8], engine: u64) -> PathBuf {
        let sha = hex::encode(Sha256::digest(wasm));
        self.dir.join(format!("{sha}-{engine:016x}.cwasm"))
    }

    /// Writes `compiled` at `path` (from [`Self::path`]) atomically: written in `tmp/` and
    /// renamed, so a reader sees the whole file or none, and a killed writer's temp file is
    /// swept like any other (see the store's crash rules).
    pub fn put(&self, path: &Path, compiled: &[u8]) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut temp = super::temp_file(&self.tmp_dir, "module")?;
        io::Write::write_all(&mut temp, compiled)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_module_and_engine_and_writes_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModuleStore::open(dir.path());
        let path = store.path(b"\0asm one", 7);
        assert_ne!(path, store.path(b"\0asm two", 7));
        assert_ne!(path, store.path(b"\0asm one", 8));
        assert!(path.starts_with(dir.path().join("modules")));
        store.put(&path, b"native code").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"native code");
        store.put(&path, b"recompiled").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"recompiled");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}
