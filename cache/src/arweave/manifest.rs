//! Path manifests (`arweave/paths` 0.1.0 and 0.2.0): a JSON map from paths to transaction ids,
//! with an optional index (what the manifest itself resolves to) and, from 0.2.0, a fallback
//! (what unknown paths resolve to). Parsed strictly: a manifest whose ids or shape are wrong is
//! an error, never a partial map.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::TxId;

/// The Content-Type tag a manifest transaction carries.
pub const CONTENT_TYPE: &str = "application/x.arweave-manifest+json";

/// Manifests larger than this are refused before they are read (real ones with 100 000 paths
/// are about 10 MB).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub version: String,
    pub index: Option<Index>,
    pub fallback: Option<TxId>,
    /// Paths as written (no leading slash), sorted.
    pub paths: BTreeMap<String, TxId>,
}

/// What the manifest itself (the empty path) resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// A key of `paths` (both versions).
    Path(String),
    /// A transaction id directly (accepted by ar.io gateways).
    Id(TxId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not a path manifest: {0}")]
    NotAManifest(String),
    #[error("unsupported path manifest version {0:?} (known: 0.1.0, 0.2.0)")]
    Version(String),
    #[error("path manifest: {0}")]
    Invalid(String),
    /// The manifest resolves, but is too large to show as directories.
    #[error(
        "path manifest too large to show as directories: {value} {cap}, more than {limit} \
         (its paths still resolve)"
    )]
    TreeTooLarge {
        cap: TreeCap,
        value: u64,
        limit: u64,
    },
}

/// Other fields are ignored, as gateways do.
#[derive(Deserialize)]
struct Raw<'a> {
    manifest: String,
    version: String,
    #[serde(default)]
    index: Option<RawIndex>,
    #[serde(default, borrow)]
    fallback: Option<RawId<'a>>,
    paths: Paths,
}

#[derive(Deserialize)]
struct RawIndex {
    path: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawId<'a> {
    /// Borrowed from the JSON where it can be: a manifest may hold a million of them.
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// `paths`, each id parsed as it is read, so a manifest of a million paths is not held twice
/// (as JSON values, then as ids). The first bad id is the answer; the rest of the map is only
/// read as JSON.
struct Paths(Result<BTreeMap<String, TxId>, ManifestError>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Paths, D::Error> {
        struct PathsVisitor;
        impl<'de> Visitor<'de> for PathsVisitor {
            type Value = Paths;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from paths to {\"id\": ...}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Paths, A::Error> {
                let mut paths = BTreeMap::new();
                while let Some(path) = map.next_key::<String>()? {
                    let entry: RawId = map.next_value()?;
                    match parse_id(|| format!("path {:?}", preview(&path)), &entry.id) {
                        Ok(id) => {
                            paths.insert(path, id);
                        }
                        Err(e) => {
                            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                            return Ok(Paths(Err(e)));
                        }
                    }
                }
                Ok(Paths(Ok(paths)))
            }
        }
        deserializer.deserialize_map(PathsVisitor)
    }
}

/// An id from the manifest; `what` (named only on error: paths may be megabytes long) says
/// whose.
fn parse_id(what: impl FnOnce() -> String, text: &str) -> Result<TxId, ManifestError> {
    text.parse::<TxId>()
        .map_err(|e| ManifestError::Invalid(format!("{}: bad id {:?}: {e}", what(), preview(text))))
}

impl Manifest {
    /// Refuses data too large to be a manifest before it is read.
    pub fn check_size(len: u64) -> Result<(), ManifestError> {
        if len > MAX_MANIFEST_BYTES {
            return Err(ManifestError::NotAManifest(format!(
                "{len} bytes, more than a manifest may have ({MAX_MANIFEST_BYTES})"
            )));
        }
        Ok(())
    }

    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError::NotAManifest(format!("not manifest JSON ({e})")))?;
        if raw.manifest != "arweave/paths" {
            return Err(ManifestError::NotAManifest(format!(
                "\"manifest\" is {:?}, not \"arweave/paths\"",
                preview(&raw.manifest)
            )));
        }
        if !matches!(raw.version.as_str(), "0.1.0" | "0.2.0") {
            return Err(ManifestError::Version(preview(&raw.version)));
        }
        let paths = raw.paths.0?;
        let index = match raw.index {
            None => None,
            Some(RawIndex {
                path: Some(path),
                id: None,
            }) => {
                if !paths.contains_key(&path) {
                    return Err(ManifestError::Invalid(format!(
                        "index path {:?} is not one of the paths",
                        preview(&path)
                    )));
                }
                Some(Index::Path(path))
            }
            Some(RawIndex {
                path: None,
                id: Some(text),
            }) => Some(Index::Id(parse_id(|| "index".into(), &text)?)),
            Some(_) => {
                return Err(ManifestError::Invalid(
                    "index needs exactly one of \"path\" and \"id\"".into(),
                ));
            }
        };
        let fallback = match raw.fallback {
            Some(entry) => Some(parse_id(|| "fallback".into(), &entry.id)?),
            None => None,
        };
        Ok(Manifest {
            version: raw.version,
            index,
            fallback,
            paths,
        })
    }

    /// The id the manifest itself stands for (its index), if any.
    pub fn index_id(&self) -> Option<TxId> {
        match &self.index {
            Some(Index::Path(path)) => self.paths.get(path).copied(),
            Some(Index::Id(id)) => Some(*id),
            None => None,
        }
    }

    /// What `<manifest>/<path>` serves, as an ar.io gateway resolves it: the empty path is
    /// the index; a listed path is its id; anything else is the fallback, if there is one.
    /// A leading slash is ignored unless a listed path has it (found by fuzzing: a manifest
    /// may list "/x", which stripping alone would make unreachable).
    pub fn resolve(&self, path: &str) -> Option<TxId> {
        let found = match (self.paths.get(path), path.strip_prefix('/').unwrap_or(path)) {
            (Some(id), _) if !path.is_empty() => Some(*id),
            (_, "") => self.index_id(),
            (_, stripped) => self.paths.get(stripped).copied(),
        };
        found.or(self.fallback)
    }
}

/// A manifest's paths as directories, for a filesystem: directory 0 is the manifest itself.
/// Path segments that cannot be file names (empty, `.`, `..`, holding a NUL, or longer than
/// [`MAX_NAME_BYTES`]) leave their path out, and where a path is both a file and a directory
/// (`a` and `a/b`), the directory wins; such paths still resolve through
/// [`Manifest::resolve`]. A manifest beyond [`MAX_PATH_SEGMENTS`] or [`MAX_TREE_NODES`] has
/// no tree at all ([`ManifestError::TreeTooLarge`]), never a partial one.
///
/// Three flat arrays, not a map per directory: most directories of a deep tree hold one
/// entry, and a map's smallest node, or even a boxed name and slice, costs several times
/// what the entry does (measured at the node cap: 263 MiB that way, 57 MiB this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirTree {
    dirs: Vec<DirSpan>,
    /// Every directory's entries, each directory's together and sorted by name.
    entries: Vec<Slot>,
    /// Every entry's name, back to back.
    names: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DirSpan {
    depth: u16,
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    name: u32,
    /// Names are at most [`MAX_NAME_BYTES`].
    name_len: u8,
    entry: Entry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Dir(u32),
    File(TxId),
}

/// One directory of a [`DirTree`].
#[derive(Clone, Copy)]
pub struct Dir<'t> {
    tree: &'t DirTree,
    span: &'t DirSpan,
}

/// Segments in one path the tree shows, and so its depth (a file in `a/b/c` is 2 directories
/// down). Far above real manifests (a site's or a model's files, a few levels deep, rarely
/// past 20), and below what the mount can show: a file's symlink climbs `depth + 2` levels
/// with `../` and must fit in PATH_MAX (4096 bytes), which allows 1347. Resolution is not
/// capped (see [`Manifest::resolve`]).
pub const MAX_PATH_SEGMENTS: usize = 1024;

/// Directories plus listed files in one tree. Real manifests list up to ~100 000 paths in
/// fewer directories; this is ten times that and 57 MiB as a tree at worst (chains of
/// one-entry directories), where 64 MiB of `a/a/a/...` would be 32 million directories.
pub const MAX_TREE_NODES: usize = 1 << 20;

/// Longest file name Linux takes (NAME_MAX): a longer segment cannot be looked up.
pub const MAX_NAME_BYTES: usize = 255;

/// Which cap a manifest's tree is beyond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeCap {
    /// [`MAX_PATH_SEGMENTS`], in the path that starts with `path`.
    PathSegments { path: String },
    /// [`MAX_TREE_NODES`].
    Nodes,
}

impl std::fmt::Display for TreeCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeCap::PathSegments { path } => {
                write!(f, "segments in path {path:?} (MAX_PATH_SEGMENTS)")
            }
            TreeCap::Nodes => f.write_str("directories and files (MAX_TREE_NODES)"),
        }
    }
}

impl DirTree {
    /// The tree of `manifest`, or which cap it is beyond. The caps are checked first, in a
    /// pass that allocates nothing in proportion to the manifest; only then is the tree
    /// built, into arrays of the size that pass counted.
    pub fn new(manifest: &Manifest) -> Result<DirTree, ManifestError> {
        let (mut dirs, mut files, mut name_bytes) = (0usize, 0usize, 0usize);
        walk(manifest, |_, new_dirs, file, _| {
            dirs += new_dirs.len();
            files += 1;
            name_bytes += file.len() + new_dirs.iter().map(|name| name.len()).sum::<usize>();
        })?;
        let nodes = dirs + files;
        if nodes > MAX_TREE_NODES {
            return Err(ManifestError::TreeTooLarge {
                cap: TreeCap::Nodes,
                value: nodes as u64,
                limit: MAX_TREE_NODES as u64,
            });
        }
        let mut tree = DirTree {
            dirs: Vec::with_capacity(dirs + 1),
            entries: Vec::with_capacity(nodes),
            names: String::with_capacity(name_bytes),
        };
        tree.dirs.push(DirSpan {
            depth: 0,
            start: 0,
            len: 0,
        });
        // Entries of the directories on the current path, root first: paths come sorted, so
        // all of a directory's paths come together and it is finished once they are past.
        let mut open: Vec<(u32, Vec<Slot>)> = vec![(0, Vec::new())];
        let mut spare: Vec<Vec<Slot>> = Vec::new();
        walk(manifest, |kept, new_dirs, file, id| {
            while open.len() > kept + 1 {
                let (dir, mut entries) = open.pop().expect("more than the root");
                tree.finish(dir, &mut entries);
                spare.push(entries);
            }
            for name in new_dirs {
                let dir = tree.dirs.len() as u32;
                tree.dirs.push(DirSpan {
                    // The segment cap keeps this far below u16::MAX.
                    depth: open.len() as u16,
                    start: 0,
                    len: 0,
                });
                let slot = tree.slot(name, Entry::Dir(dir));
                open.last_mut().expect("the root stays").1.push(slot);
                open.push((dir, spare.pop().unwrap_or_default()));
            }
            let slot = tree.slot(file, Entry::File(id));
            open.last_mut().expect("the root stays").1.push(slot);
        })?;
        while let Some((dir, mut entries)) = open.pop() {
            tree.finish(dir, &mut entries);
        }
        Ok(tree)
    }

    /// Directory `index` (0: the manifest itself; others as [`Entry::Dir`] names them).
    pub fn dir(&self, index: u32) -> Dir<'_> {
        Dir {
            tree: self,
            span: &self.dirs[index as usize],
        }
    }

    pub fn dir_count(&self) -> usize {
        self.dirs.len()
    }

    /// How much memory the tree holds, for caches that keep trees within a budget.
    pub fn approx_bytes(&self) -> usize {
        self.dirs.capacity() * std::mem::size_of::<DirSpan>()
            + self.entries.capacity() * std::mem::size_of::<Slot>()
            + self.names.capacity()
    }

    fn slot(&mut self, name: &str, entry: Entry) -> Slot {
        let slot = Slot {
            name: self.names.len() as u32,
            name_len: name.len() as u8,
            entry,
        };
        self.names.push_str(name);
        slot
    }

    fn name(&self, slot: &Slot) -> &str {
        let start = slot.name as usize;
        &self.names[start..start + slot.name_len as usize]
    }

    /// Sorts a directory's entries by name (where a name is both a file and a directory,
    /// keeps the directory) and moves them into the tree.
    fn finish(&mut self, dir: u32, entries: &mut Vec<Slot>) {
        entries.sort_by(|a, b| self.name(a).cmp(self.name(b)));
        entries.dedup_by(|later, kept| {
            if self.name(later) != self.name(kept) {
                return false;
            }
            if matches!(later.entry, Entry::Dir(_)) {
                std::mem::swap(later, kept);
            }
            true
        });
        let span = &mut self.dirs[dir as usize];
        span.start = self.entries.len() as u32;
        span.len = entries.len() as u32;
        self.entries.append(entries);
    }
}

impl<'t> Dir<'t> {
    /// How many directories down from the manifest (0 for the manifest itself).
    pub fn depth(&self) -> u16 {
        self.span.depth
    }

    fn slots(&self) -> &'t [Slot] {
        let start = self.span.start as usize;
        &self.tree.entries[start..start + self.span.len as usize]
    }

    /// Entries sorted by name, names unique.
    pub fn entries(self) -> impl ExactSizeIterator<Item = (&'t str, Entry)> + 't {
        let tree = self.tree;
        self.slots().iter().map(move |s| (tree.name(s), s.entry))
    }

    pub fn get(&self, name: &str) -> Option<Entry> {
        let slots = self.slots();
        slots
            .binary_search_by(|s| self.tree.name(s).cmp(name))
            .ok()
            .map(|i| slots[i].entry)
    }
}

/// Walks the paths a tree shows, in order, calling `step(kept, new_dirs, file, id)` for each:
/// it keeps the first `kept` directories of the previous path's, enters `new_dirs` below
/// them, and lists `file` there. Checks each path against [`MAX_PATH_SEGMENTS`] before
/// taking it apart, so nothing it holds grows with a hostile path.
fn walk<'m>(
    manifest: &'m Manifest,
    mut step: impl FnMut(usize, &[&'m str], &'m str, TxId),
) -> Result<(), ManifestError> {
    let mut current: Vec<&'m str> = Vec::new();
    for (path, &id) in &manifest.paths {
        if !showable(path)? {
            continue;
        }
        let mut segments = path.split('/');
        let file = segments.next_back().expect("split yields one at least");
        let (mut kept, mut parents) = (0, 0);
        for (depth, name) in segments.enumerate() {
            parents += 1;
            if kept == depth && current.get(depth) == Some(&name) {
                kept += 1;
            } else {
                if kept == depth {
                    // The first directory this path does not share: leave the previous
                    // path's from here down.
                    current.truncate(depth);
                }
                current.push(name);
            }
        }
        current.truncate(parents);
        step(kept, &current[kept..], file, id);
    }
    Ok(())
}

/// Whether every segment of `path` can be a file name; an error if it has more than
/// [`MAX_PATH_SEGMENTS`]. One pass over the bytes, allocating nothing: this runs over up to
/// 64 MiB of paths on every lookup of a manifest the memo does not hold.
fn showable(path: &str) -> Result<bool, ManifestError> {
    let bytes = path.as_bytes();
    let (mut segments, mut start) = (0usize, 0usize);
    for (at, &byte) in bytes.iter().chain(std::iter::once(&b'/')).enumerate() {
        match byte {
            0 => return Ok(false),
            b'/' => {
                if matches!(&bytes[start..at], b"" | b"." | b"..") || at - start > MAX_NAME_BYTES {
                    return Ok(false);
                }
                segments += 1;
                start = at + 1;
            }
            _ => {}
        }
    }
    if segments > MAX_PATH_SEGMENTS {
        return Err(ManifestError::TreeTooLarge {
            cap: TreeCap::PathSegments {
                path: preview(path),
            },
            value: segments as u64,
            limit: MAX_PATH_SEGMENTS as u64,
        });
    }
    Ok(true)
}

/// The start of a string from the manifest, which may be megabytes long, for a message.
fn preview(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        TxId([n; 32])
    }

    fn manifest_json(version: &str, extra: &str) -> String {
        format!(
            r#"{{"manifest":"arweave/paths","version":"{version}",{extra}"paths":{{
                "index.html":{{"id":"{}"}},
                "weights/model.safetensors":{{"id":"{}"}},
                "weights/deep/er/config.json":{{"id":"{}"}}}}}}"#,
            id(1),
            id(2),
            id(3)
        )
    }

    #[test]
    fn both_versions_resolve_paths_index_and_fallback() {
        let old =
            Manifest::parse(manifest_json("0.1.0", r#""index":{"path":"index.html"},"#).as_bytes())
                .unwrap();
        assert_eq!(old.resolve(""), Some(id(1)));
        assert_eq!(old.resolve("/"), Some(id(1)));
        assert_eq!(old.resolve("weights/model.safetensors"), Some(id(2)));
        assert_eq!(old.resolve("/weights/deep/er/config.json"), Some(id(3)));
        assert_eq!(old.resolve("weights"), None, "a directory is not a path");
        assert_eq!(old.resolve("missing.txt"), None);

        let new = Manifest::parse(
            manifest_json(
                "0.2.0",
                &format!(
                    r#""index":{{"path":"index.html"}},"fallback":{{"id":"{}"}},"#,
                    id(9)
                ),
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(new.resolve("weights/model.safetensors"), Some(id(2)));
        assert_eq!(new.resolve("missing.txt"), Some(id(9)));
        assert_eq!(new.resolve("weights/"), Some(id(9)));

        let no_index = Manifest::parse(manifest_json("0.2.0", "").as_bytes()).unwrap();
        assert_eq!(no_index.resolve(""), None);
        let by_id = Manifest::parse(
            manifest_json("0.2.0", &format!(r#""index":{{"id":"{}"}},"#, id(7))).as_bytes(),
        )
        .unwrap();
        assert_eq!(by_id.resolve(""), Some(id(7)));
    }

    #[test]
    fn malformed_manifests_are_errors() {
        let cases = [
            ("not json".to_string(), "not manifest JSON"),
            (
                r#"{"manifest":"other","version":"0.1.0","paths":{}}"#.to_string(),
                "not \"arweave/paths\"",
            ),
            (
                r#"{"manifest":"arweave/paths","version":"9.9.9","paths":{}}"#.to_string(),
                "unsupported",
            ),
            (
                r#"{"manifest":"arweave/paths","version":"0.1.0","paths":{"a":{"id":"short"}}}"#
                    .to_string(),
                "bad id",
            ),
            (
                manifest_json("0.1.0", r#""index":{"path":"nope.html"},"#),
                "not one of the paths",
            ),
            (
                manifest_json(
                    "0.1.0",
                    &format!(r#""index":{{"path":"index.html","id":"{}"}},"#, id(1)),
                ),
                "exactly one",
            ),
            (
                manifest_json("0.2.0", r#""fallback":{"id":"!!"},"#),
                "fallback: bad id",
            ),
            (
                r#"{"manifest":"arweave/paths","version":"0.1.0"}"#.to_string(),
                "paths",
            ),
        ];
        for (json, expected) in cases {
            let err = Manifest::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn paths_become_directories() {
        let m = Manifest::parse(
            format!(
                r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{
                "a":{{"id":"{a}"}}, "a/b/c.bin":{{"id":"{b}"}}, "a/d":{{"id":"{c}"}},
                "top.txt":{{"id":"{c}"}}, "../escape":{{"id":"{a}"}}, "x//y":{{"id":"{a}"}},
                "./dot":{{"id":"{a}"}}, "trailing/":{{"id":"{a}"}}}}}}"#,
                a = id(1),
                b = id(2),
                c = id(3)
            )
            .as_bytes(),
        )
        .unwrap();
        let tree = DirTree::new(&m).unwrap();
        let root = tree.dir(0);
        assert_eq!(
            names(root),
            ["a", "top.txt"],
            "unrepresentable paths left out"
        );
        let Some(Entry::Dir(a)) = root.get("a") else {
            panic!("a/b/c.bin makes a a directory")
        };
        let a = tree.dir(a);
        assert_eq!(a.depth(), 1);
        assert_eq!(a.get("d"), Some(Entry::File(id(3))));
        let Some(Entry::Dir(b)) = a.get("b") else {
            panic!("b is a directory")
        };
        assert_eq!(tree.dir(b).get("c.bin"), Some(Entry::File(id(2))));
        assert_eq!(tree.dir(b).depth(), 2);
        assert_eq!(root.get("top.txt"), Some(Entry::File(id(3))));
        assert_eq!(root.get("missing"), None);
    }

    /// Regression (fuzz/artifacts/manifest/crash-d348a3a8): a listed path that starts with a
    /// slash resolved to nothing.
    #[test]
    fn a_listed_path_with_a_leading_slash_resolves() {
        let m = Manifest::parse(
            format!(
                r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{
                "/x":{{"id":"{}"}},"y":{{"id":"{}"}},"/":{{"id":"{}"}}}}}}"#,
                id(1),
                id(2),
                id(3)
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(m.resolve("/x"), Some(id(1)));
        assert_eq!(m.resolve("x"), None);
        assert_eq!(m.resolve("/y"), Some(id(2)));
        assert_eq!(m.resolve("/"), Some(id(3)));
        assert_eq!(m.resolve(""), None, "no index");
    }

    /// The error, without printing a whole tree when there is none.
    fn refused(manifest: &Manifest) -> ManifestError {
        match DirTree::new(manifest) {
            Ok(tree) => panic!("built a tree of {} directories", tree.dir_count()),
            Err(e) => e,
        }
    }

    fn names(dir: Dir<'_>) -> Vec<&str> {
        dir.entries().map(|(name, _)| name).collect()
    }

    /// A manifest of `paths`, all naming `id(1)`, written without serde_json's maps (which
    /// would hold every path twice while the test builds it).
    fn manifest_of(paths: impl Iterator<Item = String>) -> Manifest {
        let mut json = String::from(r#"{"manifest":"arweave/paths","version":"0.1.0","paths":{"#);
        for (i, path) in paths.enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!(r#""{path}":{{"id":"{}"}}"#, id(1)));
        }
        json.push_str("}}");
        Manifest::parse(json.as_bytes()).unwrap()
    }

    /// `a/a/…/a/f` with `segments` segments.
    fn deep_path(segments: usize) -> String {
        format!("{}f", "a/".repeat(segments - 1))
    }

    #[test]
    fn a_path_beyond_the_segment_cap_refuses_the_tree_and_still_resolves() {
        let at_cap = manifest_of([deep_path(MAX_PATH_SEGMENTS)].into_iter());
        let tree = DirTree::new(&at_cap).unwrap();
        assert_eq!(
            tree.dir_count(),
            MAX_PATH_SEGMENTS,
            "the root and 1023 directories"
        );
        let last = tree.dir(MAX_PATH_SEGMENTS as u32 - 1);
        assert_eq!(last.depth() as usize, MAX_PATH_SEGMENTS - 1);
        assert_eq!(
            last.entries().collect::<Vec<_>>(),
            [("f", Entry::File(id(1)))]
        );

        let deep = deep_path(MAX_PATH_SEGMENTS + 1);
        let over = manifest_of([deep.clone(), "top.txt".into()].into_iter());
        let err = refused(&over);
        let ManifestError::TreeTooLarge {
            cap: TreeCap::PathSegments { path },
            value,
            limit,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*value, *limit), (1025, 1024));
        assert!(deep.starts_with(path.trim_end_matches('…')) && path.len() < 100);
        let text = err.to_string();
        assert!(
            text.contains("1025 segments in path") && text.contains("more than 1024"),
            "{text}"
        );
        assert_eq!(over.resolve(&deep), Some(id(1)), "resolution is not capped");
        assert_eq!(over.resolve("top.txt"), Some(id(1)));
    }

    /// The hostile manifest of issue 15: one path of 64 MiB, 32 million segments. Refused in
    /// a pass that allocates nothing for the path (it used to build 32 million directories).
    #[test]
    fn sixty_four_mib_of_a_slash_a_is_refused_without_building_it() {
        let deep = "a/".repeat(32 << 20);
        let m = Manifest {
            version: "0.1.0".into(),
            index: None,
            fallback: None,
            paths: [(deep.clone(), id(1))].into(),
        };
        // The trailing slash makes the last segment empty, so not a file name: that path is
        // left out (as before), whatever its length.
        assert_eq!(DirTree::new(&m).unwrap().dir_count(), 1);
        let m = Manifest {
            paths: [(format!("{deep}a"), id(1))].into(),
            ..m
        };
        let err = refused(&m);
        assert!(
            matches!(err, ManifestError::TreeTooLarge { value, .. } if value == (32 << 20) + 1),
            "{err}"
        );
        assert_eq!(m.resolve(&format!("{deep}a")), Some(id(1)));
    }

    #[test]
    fn a_tree_beyond_the_node_cap_is_refused_and_one_at_it_is_built() {
        // Each path: its own top directory, 998 more below it, and a file: 1000 nodes.
        let paths = |n: usize| (0..n).map(|i| format!("p{i}/{}", deep_path(999)));
        let over = manifest_of(paths(MAX_TREE_NODES / 1000 + 1));
        let err = refused(&over);
        assert_eq!(
            err,
            ManifestError::TreeTooLarge {
                cap: TreeCap::Nodes,
                value: 1_049_000,
                limit: MAX_TREE_NODES as u64,
            }
        );
        assert!(
            err.to_string().contains("1049000 directories and files"),
            "{err}"
        );

        let at = manifest_of(paths(MAX_TREE_NODES / 1000));
        let tree = DirTree::new(&at).unwrap();
        assert_eq!(tree.dir_count(), 1 + 1048 * 999);
        // The worst shape (one entry per directory) at the cap stays within what the cap's
        // comment promises.
        let bytes = tree.approx_bytes();
        assert!(bytes < 64 << 20, "{} MiB", bytes >> 20);
    }

    #[test]
    fn names_longer_than_name_max_leave_their_path_out() {
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let m = manifest_of(
            [
                format!("{long}/x"),
                format!("d/{long}"),
                "n".repeat(MAX_NAME_BYTES),
            ]
            .into_iter(),
        );
        let tree = DirTree::new(&m).unwrap();
        assert_eq!(names(tree.dir(0)), ["n".repeat(MAX_NAME_BYTES)]);
        assert_eq!(m.resolve(&format!("d/{long}")), Some(id(1)));
    }

    /// Paths come sorted, so a directory's paths come together; names that sort between a
    /// file and the directory of the same name (`a-b` between `a` and `a/x`) must not split
    /// it, and the directory wins over the file.
    #[test]
    fn directories_interleaved_with_similar_names_are_built_once() {
        let m = manifest_of(
            [
                "a", "a-b/c", "a.d", "a/x", "a/y/z", "a/y!", "b/c/d", "b/e", "c",
            ]
            .into_iter()
            .map(String::from),
        );
        let tree = DirTree::new(&m).unwrap();
        let root = tree.dir(0);
        assert_eq!(names(root), ["a", "a-b", "a.d", "b", "c"]);
        let Some(Entry::Dir(a)) = root.get("a") else {
            panic!("a is a directory")
        };
        assert_eq!(names(tree.dir(a)), ["x", "y", "y!"]);
        let Some(Entry::Dir(b)) = root.get("b") else {
            panic!("b is a directory")
        };
        assert_eq!(names(tree.dir(b)), ["c", "e"]);
        // Every directory is reached once: as many directory entries as directories.
        let dir_entries = (0..tree.dir_count() as u32)
            .flat_map(|d| tree.dir(d).entries())
            .filter(|(_, e)| matches!(e, Entry::Dir(_)))
            .count();
        assert_eq!(dir_entries + 1, tree.dir_count());
    }

    /// Ids are parsed as the paths are read (one map, not two); errors still name the path,
    /// briefly however long it is, and a repeated path keeps its last id, as before.
    #[test]
    fn bad_ids_are_named_briefly_and_repeated_paths_keep_the_last() {
        let long = "x".repeat(1 << 20);
        let json = format!(
            r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{
            "a":{{"id":"{}"}},"{long}":{{"id":"{long}"}},"b":{{"id":"{}"}}}}}}"#,
            id(1),
            id(2)
        );
        let err = Manifest::parse(json.as_bytes()).unwrap_err();
        let ManifestError::Invalid(text) = &err else {
            panic!("{err:?}")
        };
        assert!(
            text.starts_with("path \"xxxx") && text.contains("bad id"),
            "{text}"
        );
        assert!(text.len() < 400, "{} bytes", text.len());
        // The rest of the map must still be JSON.
        let broken = json.replace(r#""b":"#, r#""b"#);
        assert!(matches!(
            Manifest::parse(broken.as_bytes()),
            Err(ManifestError::NotAManifest(_))
        ));

        let twice = format!(
            r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{
            "a":{{"id":"{}"}},"a":{{"id":"{}"}}}}}}"#,
            id(1),
            id(2)
        );
        let m = Manifest::parse(twice.as_bytes()).unwrap();
        assert_eq!((m.paths.len(), m.resolve("a")), (1, Some(id(2))));
        // Escaped ids cannot be borrowed from the JSON; they parse all the same.
        let escaped = format!(
            r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{"a":{{"id":"\u0041{}"}}}}}}"#,
            &id(0).to_string()[1..]
        );
        assert_eq!(
            Manifest::parse(escaped.as_bytes()).unwrap().resolve("a"),
            Some(id(0))
        );
    }
}
