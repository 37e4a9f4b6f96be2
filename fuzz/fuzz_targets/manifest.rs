//! Path manifests: JSON from an untrusted transaction. An accepted manifest resolves every
//! listed path to its own id, its index and fallback are coherent, and its directory tree
//! holds only names a filesystem can show, each file at the end of a real listed path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::manifest::{DirTree, Entry, Index, Manifest};

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::parse(data) else {
        return;
    };
    for (path, id) in &manifest.paths {
        if !path.is_empty() {
            assert_eq!(manifest.resolve(path), Some(*id), "{path:?}");
        }
    }
    if let Some(Index::Path(path)) = &manifest.index {
        assert!(manifest.paths.contains_key(path), "index outside the paths");
    }
    assert_eq!(
        manifest.resolve(""),
        manifest.index_id().or(manifest.fallback)
    );

    let tree = DirTree::new(&manifest);
    let mut stack = vec![(0u32, String::new())];
    let mut seen = 0;
    while let Some((dir, prefix)) = stack.pop() {
        seen += 1;
        assert!(seen <= tree.dirs.len(), "a directory reached twice");
        let dir = &tree.dirs[dir as usize];
        for (name, entry) in &dir.entries {
            assert!(!matches!(name.as_str(), "" | "." | ".."), "{name:?}");
            assert!(!name.contains('/') && !name.contains('\0'), "{name:?}");
            let path = format!("{prefix}{name}");
            match entry {
                Entry::Dir(child) => {
                    assert_eq!(tree.dirs[*child as usize].depth, dir.depth + 1);
                    stack.push((*child, format!("{path}/")));
                }
                Entry::File(id) => assert_eq!(manifest.paths.get(&path), Some(id), "{path:?}"),
            }
        }
    }
});
