//! Path manifests (`arweave/paths`): a JSON map from paths to transaction ids, with an
//! optional index (what the manifest itself resolves to) and, from 0.2.0, a fallback (what
//! unknown paths resolve to).
//!
//! Read and resolved as ar.io gateways do (ar-io/ar-io-node `src/lib/encoding.ts`:
//! `parseManifestStream`, which reads the JSON as a stream of events, and
//! `resolveManifestStreamPath`, which answers with the first event that matches):
//!
//! - Trailing slashes are stripped from the requested path and from the manifest's keys
//!   (`a/b/` is `a/b`); leading ones are not (`/a` is not `a`).
//! - The empty path is the index; an index by `id` (0.2.0) wins over one by `path` (both
//!   versions), except that gateways answer with the `path` when the index object names it
//!   before its `id` and the paths came before the index (the event order decides).
//! - A path the manifest lacks (and the empty path without a usable index) is the fallback,
//!   honoured only in 0.2.0 manifests.
//! - `index.id` and `fallback` count only once `"version": "0.2.0"` has been read; any other
//!   version, or none, is read as 0.1.0. Gateways refuse no version: they resolve whatever
//!   the `Content-Type` says is a manifest. We have no content type at hand where manifests
//!   are read, so `"manifest": "arweave/paths"` is what makes JSON a manifest here.
//! - A repeated path keeps its first id (the first event resolves).
//! - Entries gateways would skip are skipped, not errors: a path whose value is not an
//!   object with a string `id`, a non-string `index`/`fallback` field. A string that is not
//!   an id is kept as a dead end: that path resolves to nothing (gateways answer 404), not to
//!   the fallback. No entry makes the whole manifest an error.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::TxId;

/// The Content-Type tag a manifest transaction carries.
pub const CONTENT_TYPE: &str = "application/x.arweave-manifest+json";

/// Manifests larger than this are refused before they are read (real ones with 100 000 paths
/// are about 10 MB).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `version` as written ("" when absent or not a string).
    pub version: String,
    pub index: Option<Index>,
    pub fallback: Option<TxId>,
    /// Paths, trailing slashes stripped (none empty), each with the id it was first listed
    /// with; sorted.
    pub paths: BTreeMap<String, TxId>,
    /// Paths (stripped likewise) first listed with an `id` that is not one: they resolve to
    /// nothing, as a gateway answers 404 for them, and not to the fallback.
    pub dead_ends: BTreeSet<String>,
}

/// What the manifest itself (the empty path) resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// A path, looked up as a requested path is (both versions).
    Path(String),
    /// A transaction id directly (0.2.0).
    Id(TxId),
    /// An `id` that is not one: the manifest itself resolves to nothing.
    BadId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("not a path manifest: {0}")]
    NotAManifest(String),
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

/// What one lookup found.
enum Found {
    Id(TxId),
    /// Listed, but not with an id: nothing (no fallback).
    DeadEnd,
    Absent,
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

    /// Reads a manifest as gateways do (see the module's notes). Errors only when `bytes` are
    /// not JSON or lack `"manifest": "arweave/paths"`.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut top = Top::default();
        let mut json = serde_json::Deserializer::from_slice(bytes);
        TopSeed(&mut top)
            .deserialize(&mut json)
            .and_then(|()| json.end())
            .map_err(|e| ManifestError::NotAManifest(format!("not manifest JSON ({e})")))?;
        if !top.is_manifest {
            return Err(ManifestError::NotAManifest(
                "no \"manifest\": \"arweave/paths\"".into(),
            ));
        }
        Ok(Manifest {
            version: top.version.unwrap_or_default(),
            index: top.index,
            fallback: top.fallback,
            paths: top.paths,
            dead_ends: top.dead_ends,
        })
    }

    /// The id the manifest itself stands for (its index), if it has a usable one.
    pub fn index_id(&self) -> Option<TxId> {
        match self.find_index() {
            Found::Id(id) => Some(id),
            Found::DeadEnd | Found::Absent => None,
        }
    }

    /// What `<manifest>/<path>` serves, as an ar.io gateway resolves it
    /// (`resolveManifestStreamPath`): trailing slashes are stripped; the empty path is the
    /// index; a listed path is its id; anything else (and the empty path without a usable
    /// index) is the fallback, if there is one. A path listed with a bad id is nothing.
    pub fn resolve(&self, path: &str) -> Option<TxId> {
        let path = path.trim_end_matches('/');
        let found = match path.is_empty() {
            true => self.find_index(),
            false => self.find(path),
        };
        match found {
            Found::Id(id) => Some(id),
            Found::DeadEnd => None,
            Found::Absent => self.fallback,
        }
    }

    fn find(&self, path: &str) -> Found {
        match self.paths.get(path) {
            Some(id) => Found::Id(*id),
            None if self.dead_ends.contains(path) => Found::DeadEnd,
            None => Found::Absent,
        }
    }

    fn find_index(&self) -> Found {
        match &self.index {
            None => Found::Absent,
            Some(Index::Id(id)) => Found::Id(*id),
            Some(Index::BadId) => Found::DeadEnd,
            Some(Index::Path(path)) => match path.trim_end_matches('/') {
                "" => Found::Absent,
                path => self.find(path),
            },
        }
    }
}

/// The manifest as it is read, field by field in the order written (the order decides, as
/// it does for a gateway's stream parser).
#[derive(Default)]
struct Top {
    is_manifest: bool,
    version: Option<String>,
    /// `"version": "0.2.0"` has been read.
    v2: bool,
    /// An `index` has been read (the first one counts).
    index_seen: bool,
    index: Option<Index>,
    fallback: Option<TxId>,
    /// `paths` has been read.
    paths_seen: bool,
    paths: BTreeMap<String, TxId>,
    dead_ends: BTreeSet<String>,
}

impl Top {
    fn listed(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        self.paths.contains_key(path) || self.dead_ends.contains(path)
    }
}

/// Everything but maps (and strings, for the visitors that take them) is skipped: gateways
/// act only on string values at known places.
macro_rules! skip_other_values {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
}

macro_rules! skip_strings {
    () => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
}

/// A string (borrowed from the JSON where it can be: a manifest may hold a million), or
/// `None` for any other value.
struct MaybeStr<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Cow<'de, str>>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(s.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            skip_other_values!();
        }
        deserializer.deserialize_any(V).map(MaybeStr)
    }
}

/// `{"id": ..., "path": ...}` (an index, the fallback, a path's entry): the first string of
/// each, and whether the `path` came before any `id`.
#[derive(Default)]
struct IdPath<'de> {
    id: Option<Cow<'de, str>>,
    path: Option<Cow<'de, str>>,
    path_first: bool,
}

impl<'de> de::Deserialize<'de> for IdPath<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdPath<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IdPath::default();
                while let Some(MaybeStr(key)) = map.next_key()? {
                    match key.as_deref() {
                        Some("id") => {
                            let MaybeStr(value) = map.next_value()?;
                            if out.id.is_none() {
                                out.id = value;
                            }
                        }
                        Some("path") => {
                            let MaybeStr(value) = map.next_value()?;
                            if out.path.is_none() && value.is_some() {
                                out.path = value;
                                out.path_first = out.id.is_none();
                            }
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
            skip_other_values!();
            skip_strings!();
        }
        deserializer.deserialize_any(V)
    }
}

struct TopSeed<'a>(&'a mut Top);

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a path manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let top = self.0;
        while let Some(MaybeStr(key)) = map.next_key()? {
            match key.as_deref() {
                Some("manifest") => {
                    let MaybeStr(value) = map.next_value()?;
                    top.is_manifest |= value.as_deref() == Some("arweave/paths");
                }
                Some("version") => {
                    if let MaybeStr(Some(version)) = map.next_value()? {
                        top.v2 |= version == "0.2.0";
                        top.version.get_or_insert_with(|| version.into_owned());
                    }
                }
                Some("index") => {
                    let index: IdPath = map.next_value()?;
                    if !top.index_seen {
                        top.index_seen = true;
                        top.index = index_of(top, index);
                    }
                }
                Some("fallback") => {
                    // The last one read counts (a gateway keeps overwriting it).
                    let fallback: IdPath = map.next_value()?;
                    if let (true, Some(id)) = (top.v2, fallback.id) {
                        top.fallback = id.parse().ok();
                    }
                }
                Some("paths") => {
                    map.next_value_seed(PathsSeed(&mut *top))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    skip_other_values!();
    skip_strings!();
}

/// The index an `index` object makes, read at this point of the manifest. A gateway answers
/// the empty path with the first index it learns: from `index.id` as soon as it is read
/// (0.2.0 only), or from `index.path` once that path's id is known, which is at once when
/// the paths came first and the `path` is read before any `id`.
fn index_of(top: &Top, index: IdPath) -> Option<Index> {
    let path_known_first =
        index.path_first && top.paths_seen && index.path.as_deref().is_some_and(|p| top.listed(p));
    match (index.id, index.path) {
        (Some(_), Some(path)) if path_known_first => Some(Index::Path(path.into_owned())),
        (Some(id), _) if top.v2 => Some(id.parse().map_or(Index::BadId, Index::Id)),
        (_, Some(path)) => Some(Index::Path(path.into_owned())),
        (_, None) => None,
    }
}

/// `paths`, each id parsed as it is read, so a manifest of a million paths is not held twice
/// (as JSON values, then as ids). A second `paths` adds to the first (a gateway reads both).
struct PathsSeed<'a>(&'a mut Top);

impl<'de> DeserializeSeed<'de> for PathsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map from paths to {\"id\": ...}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let top = self.0;
        top.paths_seen = true;
        while let Some(MaybeStr(key)) = map.next_key()? {
            let entry: IdPath = map.next_value()?;
            // Not an object with a string id: a gateway sees no path here.
            let (Some(key), Some(id)) = (key, entry.id) else {
                continue;
            };
            let path = key.trim_end_matches('/');
            // The empty path is the index; no key answers it. A repeated path keeps its
            // first id.
            if path.is_empty() || top.listed(path) {
                continue;
            }
            match id.parse::<TxId>() {
                Ok(id) => top.paths.insert(path.to_owned(), id),
                Err(_) => {
                    top.dead_ends.insert(path.to_owned());
                    None
                }
            };
        }
        Ok(())
    }

    skip_other_values!();
    skip_strings!();
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
    /// Listed with an `id` that is not one: nothing, as `get` and gateways answer (404),
    /// not the fallback. Found by [`Dir::get`], never in [`Dir::entries`].
    DeadEnd,
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
            let slot = tree.slot(file, id.map_or(Entry::DeadEnd, Entry::File));
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

    /// What a listing shows: entries sorted by name, names unique, dead ends left out.
    pub fn entries(self) -> impl Iterator<Item = (&'t str, Entry)> + 't {
        let tree = self.tree;
        self.slots()
            .iter()
            .filter(|s| s.entry != Entry::DeadEnd)
            .map(move |s| (tree.name(s), s.entry))
    }

    pub fn get(&self, name: &str) -> Option<Entry> {
        let slots = self.slots();
        slots
            .binary_search_by(|s| self.tree.name(s).cmp(name))
            .ok()
            .map(|i| slots[i].entry)
    }
}

/// Walks the paths a tree shows, in order, calling `step(kept, new_dirs, file, id)` for each
/// (`id` is `None` for a dead end):
/// it keeps the first `kept` directories of the previous path's, enters `new_dirs` below
/// them, and lists `file` there. Checks each path against [`MAX_PATH_SEGMENTS`] before
/// taking it apart, so nothing it holds grows with a hostile path.
fn walk<'m>(
    manifest: &'m Manifest,
    mut step: impl FnMut(usize, &[&'m str], &'m str, Option<TxId>),
) -> Result<(), ManifestError> {
    let mut current: Vec<&'m str> = Vec::new();
    // Both sets are sorted and share no path: merged, they come in path order.
    let mut listed = manifest
        .paths
        .iter()
        .map(|(p, &id)| (p, Some(id)))
        .peekable();
    let mut dead = manifest.dead_ends.iter().map(|p| (p, None)).peekable();
    let in_order = std::iter::from_fn(|| match (listed.peek(), dead.peek()) {
        (Some(file), Some(end)) if end.0 < file.0 => dead.next(),
        (Some(_), _) => listed.next(),
        (None, _) => dead.next(),
    });
    for (path, id) in in_order {
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
        assert_eq!(old.resolve("weights/deep/er/config.json/"), Some(id(3)));
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

    /// Our stand-in for the gateways' Content-Type check: JSON with
    /// `"manifest": "arweave/paths"`. Nothing else in it is an error.
    #[test]
    fn only_non_json_or_a_missing_manifest_key_is_an_error() {
        let cases = [
            ("not json".to_string(), "not manifest JSON"),
            (r#"[1, 2]"#.to_string(), "no \"manifest\""),
            (
                r#"{"manifest":"other","version":"0.1.0","paths":{}}"#.to_string(),
                "no \"manifest\"",
            ),
            (
                r#"{"manifest":"arweave/paths","version":"0.1.0","paths":{}} x"#.to_string(),
                "not manifest JSON",
            ),
        ];
        for (json, expected) in cases {
            let err = Manifest::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
        // No paths at all: still a manifest (its index or fallback may be all it has).
        let bare = parse(&format!(
            r#"{{"manifest":"arweave/paths","version":"0.2.0","fallback":{{"id":"{}"}}}}"#,
            id(4)
        ));
        assert_eq!(bare.resolve("any"), Some(id(4)));
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
            ["a", "top.txt", "trailing"],
            "unrepresentable paths left out; `trailing/` is `trailing`"
        );
        assert_eq!(root.get("trailing"), Some(Entry::File(id(1))));
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
    /// slash resolved to nothing. Leading slashes are kept, on both sides, as gateways keep
    /// them (`resolveManifestStreamPath` strips only trailing ones): `/x` is not `x`.
    #[test]
    fn leading_slashes_are_not_stripped() {
        let m = parse(&format!(
            r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{
            "/x":{{"id":"{}"}},"y":{{"id":"{}"}},"/":{{"id":"{}"}}}}}}"#,
            id(1),
            id(2),
            id(3)
        ));
        assert_eq!(m.resolve("/x"), Some(id(1)));
        assert_eq!(m.resolve("/x/"), Some(id(1)));
        assert_eq!(m.resolve("x"), None);
        assert_eq!(m.resolve("y"), Some(id(2)));
        assert_eq!(m.resolve("/y"), None);
        // `/` is the empty path once stripped: the index, which this manifest lacks.
        assert_eq!(m.resolve("/"), None, "no index");
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
            dead_ends: BTreeSet::new(),
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

    /// Ids are parsed as the paths are read (one map, not two); escaped ids, which cannot be
    /// borrowed from the JSON, parse all the same.
    #[test]
    fn escaped_ids_parse() {
        let escaped = format!(
            r#"{{"manifest":"arweave/paths","version":"0.1.0","paths":{{"a":{{"id":"\u0041{}"}}}}}}"#,
            &id(0).to_string()[1..]
        );
        assert_eq!(parse(&escaped).resolve("a"), Some(id(0)));
    }

    fn parse(json: &str) -> Manifest {
        Manifest::parse(json.as_bytes()).unwrap()
    }

    /// `{"manifest":"arweave/paths", <fields>}`, ids written as `@n` replaced by `id(n)`.
    fn manifest(fields: &str) -> Manifest {
        let mut json = format!(r#"{{"manifest":"arweave/paths",{fields}}}"#);
        for n in (0..10u8).rev() {
            json = json.replace(&format!("@{n}"), &id(n).to_string());
        }
        parse(&json)
    }

    // The rules below are ar.io's (ar-io/ar-io-node `src/lib/encoding.ts`, read 2026-12-02):
    // `parseManifestStream` turns the JSON into `index`, `path` and `fallback` events and
    // `resolveManifestStreamPath` answers with the first that matches.

    /// `resolveManifestStreamPath`: `path.replace(/\/+$/g, '')` on the requested path.
    #[test]
    fn rule_trailing_slashes_are_stripped_from_the_requested_path() {
        let m = manifest(r#""version":"0.1.0","paths":{"a/b":{"id":"@1"}}"#);
        assert_eq!(m.resolve("a/b/"), Some(id(1)));
        assert_eq!(m.resolve("a/b///"), Some(id(1)));
        assert_eq!(m.resolve("a/"), None, "a directory is not a path");
    }

    /// `resolveManifestStreamPath`: `data.path.replace(/\/+$/g, '')` on each key; and the
    /// directories agree: `a/b/` is the file `b` in `a`.
    #[test]
    fn rule_trailing_slashes_are_stripped_from_keys() {
        let m = manifest(r#""version":"0.1.0","paths":{"a/b/":{"id":"@1"},"c//":{"id":"@2"}}"#);
        assert_eq!(m.resolve("a/b"), Some(id(1)));
        assert_eq!(m.resolve("a/b/"), Some(id(1)));
        assert_eq!(m.resolve("c"), Some(id(2)));
        assert_eq!(m.paths.keys().collect::<Vec<_>>(), ["a/b", "c"]);
        let tree = DirTree::new(&m).unwrap();
        let Some(Entry::Dir(a)) = tree.dir(0).get("a") else {
            panic!("a is a directory")
        };
        assert_eq!(tree.dir(a).get("b"), Some(Entry::File(id(1))));
        assert_eq!(tree.dir(0).get("c"), Some(Entry::File(id(2))));
    }

    /// `resolveManifestStreamPath`: the empty path (after stripping) is answered only by an
    /// `index` event (or the fallback); `sanitizedPath !== ''` keeps keys from answering it.
    #[test]
    fn rule_the_empty_path_is_the_index_and_no_key_answers_it() {
        let m = manifest(r#""version":"0.1.0","paths":{"/":{"id":"@1"},"":{"id":"@2"}}"#);
        assert_eq!(
            (m.resolve(""), m.resolve("/"), m.resolve("//")),
            (None, None, None)
        );
        assert!(m.paths.is_empty());
        let m = manifest(
            r#""version":"0.1.0","index":{"path":"i"},"paths":{"/":{"id":"@1"},"i":{"id":"@2"}}"#,
        );
        assert_eq!((m.resolve(""), m.resolve("/")), (Some(id(2)), Some(id(2))));
    }

    /// `parseManifestStream`: `index.id` emits an index at once (0.2.0), so an index with both
    /// `id` and `path` is the id, not an error (ar.io's fixtures
    /// `example_manifest_v0.2.0_index_id_path.json`, `..._at_the_end.json`).
    #[test]
    fn rule_an_index_with_id_and_path_resolves_to_the_id() {
        for index in [
            r#"{"path":"index.html","id":"@7"}"#,
            r#"{"id":"@7","path":"index.html"}"#,
        ] {
            let m = manifest(&format!(
                r#""version":"0.2.0","index":{index},"fallback":{{"id":"@9"}},
                "paths":{{"index.html":{{"id":"@1"}}}}"#
            ));
            assert_eq!(m.resolve(""), Some(id(7)), "{index}");
            assert_eq!(m.resolve("index.html"), Some(id(1)));
            assert_eq!(m.resolve("missing"), Some(id(9)));
        }
        // Paths first, index (id only) and fallback at the end.
        let m = manifest(
            r#""version":"0.2.0","paths":{"index.html":{"id":"@1"}},
            "index":{"id":"@7"},"fallback":{"id":"@9"}"#,
        );
        assert_eq!((m.resolve(""), m.resolve("x")), (Some(id(7)), Some(id(9))));
        // Paths first, then an index naming its id first: still the id.
        let m = manifest(
            r#""version":"0.2.0","paths":{"index.html":{"id":"@1"}},
            "index":{"id":"@7","path":"index.html"}"#,
        );
        assert_eq!(m.resolve(""), Some(id(7)));
    }

    /// `parseManifestStream`, `index.path` branch: with the paths already read, the path's
    /// id is emitted as the index the moment `path` is read, before any `id` after it.
    #[test]
    fn rule_an_index_path_read_after_the_paths_and_before_its_id_wins() {
        let m = manifest(
            r#""version":"0.2.0","paths":{"index.html":{"id":"@1"}},
            "index":{"path":"index.html","id":"@7"}"#,
        );
        assert_eq!(m.resolve(""), Some(id(1)));
        // Unless that path is not among them: then the id.
        let m = manifest(
            r#""version":"0.2.0","paths":{"other":{"id":"@1"}},
            "index":{"path":"index.html","id":"@7"}"#,
        );
        assert_eq!(m.resolve(""), Some(id(7)));
    }

    /// `parseManifestStream`: `index.path` in both versions (0.1.0's only kind of index),
    /// wherever the index is (fixture `example_manifest_v0.1.0_index_path_at_end.json`).
    #[test]
    fn rule_index_by_path_in_both_versions() {
        for version in ["0.1.0", "0.2.0"] {
            let before = manifest(&format!(
                r#""version":"{version}","index":{{"path":"i.html"}},"paths":{{"i.html":{{"id":"@1"}}}}"#
            ));
            let after = manifest(&format!(
                r#""version":"{version}","paths":{{"i.html":{{"id":"@1"}}}},"index":{{"path":"i.html"}}"#
            ));
            assert_eq!(before.resolve(""), Some(id(1)), "{version}");
            assert_eq!(after.resolve(""), Some(id(1)), "{version}");
        }
    }

    /// `parseManifestStream`: `index.id` and `fallback.id` are read only when `isManifestV2`,
    /// which `"version": "0.2.0"` sets when it is read: in 0.1.0 they are ignored, and an
    /// `id` beside a `path` is no error.
    #[test]
    fn rule_index_by_id_and_fallback_only_in_0_2_0() {
        let fields = r#""index":{"id":"@7","path":"i"},"fallback":{"id":"@9"},
            "paths":{"i":{"id":"@1"}}"#;
        let old = manifest(&format!(r#""version":"0.1.0",{fields}"#));
        assert_eq!(
            (old.resolve(""), old.resolve("missing")),
            (Some(id(1)), None)
        );
        let new = manifest(&format!(r#""version":"0.2.0",{fields}"#));
        assert_eq!(
            (new.resolve(""), new.resolve("missing")),
            (Some(id(7)), Some(id(9)))
        );
        // The version counts from where it is read.
        let late = manifest(&format!(r#"{fields},"version":"0.2.0""#));
        assert_eq!(
            (late.resolve(""), late.resolve("missing")),
            (Some(id(1)), None)
        );
    }

    /// `parseManifestStream`: only 0.1.0 and 0.2.0 make `isValid`, but
    /// `resolveManifestStreamPath` never looks at it (nor does any caller): other versions, or
    /// none, resolve as 0.1.0. Gateways refuse no version.
    #[test]
    fn rule_other_or_missing_versions_resolve_as_0_1_0() {
        for version in [r#""version":"9.9.9","#, r#""version":2,"#, ""] {
            let m = manifest(&format!(
                r#"{version}"index":{{"path":"i"}},"fallback":{{"id":"@9"}},"paths":{{"i":{{"id":"@1"}}}}"#
            ));
            assert_eq!(m.resolve(""), Some(id(1)), "{version}");
            assert_eq!(m.resolve("i"), Some(id(1)), "{version}");
            assert_eq!(
                m.resolve("missing"),
                None,
                "{version}: no fallback before 0.2.0"
            );
        }
    }

    /// `resolveManifestStreamPath`: the `fallback` event comes at the end, so a listed path
    /// or a usable index answers first; unknown paths, and the empty path without an index,
    /// get the fallback.
    #[test]
    fn rule_the_fallback_answers_what_nothing_else_does() {
        let m = manifest(r#""version":"0.2.0","fallback":{"id":"@9"},"paths":{"a":{"id":"@1"}}"#);
        assert_eq!(m.resolve("a"), Some(id(1)));
        assert_eq!(m.resolve("b"), Some(id(9)));
        assert_eq!(m.resolve(""), Some(id(9)), "no index: the fallback");
    }

    /// `parseManifestStream` emits `index` for `index.path` only when that path is listed;
    /// an unlisted one is no error (ours refused the manifest): the fallback answers.
    #[test]
    fn rule_an_unlisted_index_path_falls_back() {
        let m = manifest(
            r#""version":"0.2.0","index":{"path":"gone.html"},"fallback":{"id":"@9"},
            "paths":{"a":{"id":"@1"}}"#,
        );
        assert_eq!((m.resolve(""), m.resolve("a")), (Some(id(9)), Some(id(1))));
        let m = manifest(r#""version":"0.1.0","index":{"path":"gone.html"},"paths":{}"#);
        assert_eq!(m.resolve(""), None);
    }

    /// `resolveManifestStreamPath` resolves with the first matching `path` event: a repeated
    /// key, or keys equal once stripped (`a`, `a/`), keep the first id. (Ours kept the last.)
    #[test]
    fn rule_repeated_paths_keep_the_first_id() {
        let m = manifest(
            r#""version":"0.1.0","paths":{"a":{"id":"@1"},"a":{"id":"@2"},
            "b/":{"id":"@3"},"b":{"id":"@4"}}"#,
        );
        assert_eq!((m.resolve("a"), m.resolve("b")), (Some(id(1)), Some(id(3))));
        assert_eq!(m.paths.len(), 2);
        // A second `paths` object is read too, behind the first.
        let m = manifest(
            r#""version":"0.1.0","paths":{"a":{"id":"@1"}},"paths":{"a":{"id":"@2"},"c":{"id":"@3"}}"#,
        );
        assert_eq!((m.resolve("a"), m.resolve("c")), (Some(id(1)), Some(id(3))));
    }

    /// `parseManifestStream` acts only on string values at `paths.<path>.id`, `index.*`,
    /// `fallback.id`: anything else is skipped (no path, no index), never an error.
    #[test]
    fn rule_entries_gateways_skip_are_skipped() {
        let m = manifest(
            r#""version":"0.2.0","index":"i","fallback":{"id":5},"extra":[{"id":"x"}],
            "paths":{"num":{"id":5},"str":"@1","none":{},"nested":{"x":{"id":"@1"}},
            "late":{"id":null,"id":"@2"},"ok":{"id":"@3","other":true}}"#,
        );
        assert_eq!(m.index, None);
        assert_eq!(m.fallback, None);
        assert_eq!(m.paths.keys().collect::<Vec<_>>(), ["late", "ok"]);
        assert_eq!(
            (m.resolve("late"), m.resolve("ok")),
            (Some(id(2)), Some(id(3)))
        );
        assert_eq!(m.resolve("num"), None);
        // `paths` that is not an object: no paths.
        assert!(
            manifest(r#""version":"0.1.0","paths":[1]"#)
                .paths
                .is_empty()
        );
    }

    /// A string id that is not an id: a gateway resolves to it and then finds no such data
    /// (404), so that path is nothing, not the fallback; the rest of the manifest resolves
    /// (ours refused all of it).
    #[test]
    fn rule_a_bad_id_is_a_dead_end_not_an_error() {
        let m = manifest(
            r#""version":"0.2.0","fallback":{"id":"@9"},
            "paths":{"bad":{"id":"short"},"bad":{"id":"@1"},"good":{"id":"@2"}}"#,
        );
        assert_eq!(m.resolve("bad"), None, "the first listing counts");
        assert_eq!(m.resolve("good"), Some(id(2)));
        assert_eq!(m.resolve("missing"), Some(id(9)));
        let tree = DirTree::new(&m).unwrap();
        assert_eq!(tree.dir(0).get("bad"), Some(Entry::DeadEnd));
        assert_eq!(tree.dir(0).get("missing"), None, "the fallback's to give");
        // An index id that is not one: the manifest itself is nothing.
        let m =
            manifest(r#""version":"0.2.0","index":{"id":"!!"},"fallback":{"id":"@9"},"paths":{}"#);
        assert_eq!((m.index.clone(), m.resolve("")), (Some(Index::BadId), None));
        // A fallback id that is not one: unknown paths are nothing, as without a fallback.
        let m = manifest(r#""version":"0.2.0","fallback":{"id":"!!"},"paths":{}"#);
        assert_eq!(m.resolve("x"), None);
    }

    /// The directories show what resolve answers: every file in the tree resolves to its
    /// entry, whatever shape its key had.
    #[test]
    fn the_tree_agrees_with_resolve() {
        let m = manifest(
            r#""version":"0.1.0","paths":{"a/b/":{"id":"@1"},"a/b":{"id":"@2"},"a/c":{"id":"@3"},
            "d/":{"id":"@4"},"d/e//":{"id":"@5"},"f":{"id":"bad"}}"#,
        );
        let tree = DirTree::new(&m).unwrap();
        let mut stack = vec![(0u32, String::new())];
        let mut files = 0;
        while let Some((dir, prefix)) = stack.pop() {
            for (name, entry) in tree.dir(dir).entries() {
                match entry {
                    Entry::Dir(child) => stack.push((child, format!("{prefix}{name}/"))),
                    Entry::File(found) => {
                        files += 1;
                        assert_eq!(m.resolve(&format!("{prefix}{name}")), Some(found));
                    }
                    Entry::DeadEnd => unreachable!("listed"),
                }
            }
        }
        // a/b (first: #1), a/c, d/e; `d` is a directory there, and `f` a dead end: found as
        // one (not sent to a fallback), never listed.
        assert_eq!(files, 3);
        assert_eq!(m.resolve("a/b"), Some(id(1)));
        assert_eq!(tree.dir(0).get("f"), Some(Entry::DeadEnd));
        assert_eq!(m.resolve("f"), None);
        assert!(tree.dir(0).entries().all(|(name, _)| name != "f"));
    }
}
