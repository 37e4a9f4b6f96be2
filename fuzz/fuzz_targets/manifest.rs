//! Path manifests: JSON from an untrusted transaction. An accepted manifest resolves every
//! listed path (with or without trailing slashes) to its own id and every dead end to
//! nothing, its index and fallback are coherent, and its directory tree
//! holds only names a filesystem can show, each file at the end of a real listed path. The
//! tree is built only within its caps: refused exactly when a showable path is deeper than
//! MAX_PATH_SEGMENTS (the node cap is out of reach of fuzz-sized inputs), and a built one
//! has sorted, unique names, depths within the cap, and every showable path in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::manifest::{
    DirTree, Entry, Index, MAX_NAME_BYTES, MAX_PATH_SEGMENTS, MAX_TREE_NODES, Manifest,
    ManifestError, TreeCap,
};

fn showable(path: &str) -> bool {
    path.split('/')
        .all(|s| !matches!(s, "" | "." | "..") && !s.contains('\0') && s.len() <= MAX_NAME_BYTES)
}

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::parse(data) else {
        return;
    };
    for (path, id) in &manifest.paths {
        assert!(
            !path.is_empty() && !path.ends_with('/'),
            "{path:?} kept unstripped"
        );
        assert_eq!(manifest.resolve(path), Some(*id), "{path:?}");
        assert_eq!(
            manifest.resolve(&format!("{path}/")),
            Some(*id),
            "{path:?}/"
        );
    }
    for path in &manifest.dead_ends {
        assert!(
            !manifest.paths.contains_key(path),
            "{path:?} both listed and a dead end"
        );
        assert_eq!(manifest.resolve(path), None, "{path:?}");
    }
    let index = match &manifest.index {
        Some(Index::BadId) => None,
        Some(Index::Path(path)) if manifest.dead_ends.contains(path.trim_end_matches('/')) => None,
        _ => manifest.index_id().or(manifest.fallback),
    };
    assert_eq!(manifest.resolve(""), index);

    // Dead ends are in the tree too (found as nothing), so they count against its caps.
    let too_deep = (manifest.paths.keys().chain(&manifest.dead_ends))
        .any(|p| showable(p) && p.split('/').count() > MAX_PATH_SEGMENTS);
    let tree = match DirTree::new(&manifest) {
        Ok(tree) => tree,
        Err(ManifestError::TreeTooLarge {
            cap: TreeCap::PathSegments { .. },
            value,
            limit,
        }) => {
            assert!(too_deep && value > limit, "refused within the caps");
            return;
        }
        Err(e) => panic!("a tree is refused only beyond a cap: {e}"),
    };
    assert!(!too_deep, "a path deeper than the cap was shown");
    let files = (manifest.paths.keys().chain(&manifest.dead_ends))
        .filter(|p| showable(p))
        .count();
    assert!(tree.dir_count() + files <= MAX_TREE_NODES + 1);

    let mut stack = vec![(0u32, String::new())];
    let mut seen = 0;
    while let Some((dir, prefix)) = stack.pop() {
        seen += 1;
        assert!(seen <= tree.dir_count(), "a directory reached twice");
        let dir = tree.dir(dir);
        assert!((dir.depth() as usize) < MAX_PATH_SEGMENTS);
        let entries: Vec<_> = dir.entries().collect();
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "names sorted and unique"
        );
        for (name, entry) in entries {
            assert!(!matches!(name, "" | "." | ".."), "{name:?}");
            assert!(!name.contains('/') && !name.contains('\0'), "{name:?}");
            assert!(name.len() <= MAX_NAME_BYTES);
            assert_eq!(dir.get(name), Some(entry));
            let path = format!("{prefix}{name}");
            match entry {
                Entry::Dir(child) => {
                    assert_eq!(tree.dir(child).depth(), dir.depth() + 1);
                    stack.push((child, format!("{path}/")));
                }
                Entry::File(id) => assert_eq!(manifest.paths.get(&path), Some(&id), "{path:?}"),
                Entry::DeadEnd => panic!("{path:?}: a dead end listed"),
            }
        }
    }
    assert_eq!(seen, tree.dir_count(), "every directory reachable");

    // Every showable path is in the tree: its file, or a directory of the same name.
    for (path, id) in manifest.paths.iter().filter(|(p, _)| showable(p)) {
        let mut dir = tree.dir(0);
        let mut segments = path.split('/').peekable();
        while let Some(name) = segments.next() {
            match (dir.get(name), segments.peek()) {
                (Some(Entry::Dir(child)), _) => dir = tree.dir(child),
                (Some(Entry::File(found)), None) => assert_eq!(found, *id, "{path:?}"),
                (found, _) => panic!("{path:?}: {name:?} is {found:?}"),
            }
        }
    }
    // Every showable dead end is one in the tree (nothing, not the fallback), or a directory.
    for path in manifest.dead_ends.iter().filter(|p| showable(p)) {
        let mut dir = tree.dir(0);
        let mut segments = path.split('/').peekable();
        while let Some(name) = segments.next() {
            match (dir.get(name), segments.peek()) {
                (Some(Entry::Dir(child)), _) => dir = tree.dir(child),
                (Some(Entry::DeadEnd), None) => {}
                (found, _) => panic!("{path:?}: {name:?} is {found:?}"),
            }
        }
    }
});
