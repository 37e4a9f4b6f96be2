//! Path manifests (`arweave/paths` 0.1.0 and 0.2.0): a JSON map from paths to transaction ids,
//! with an optional index (what the manifest itself resolves to) and, from 0.2.0, a fallback
//! (what unknown paths resolve to). Parsed strictly: a manifest whose ids or shape are wrong is
//! an error, never a partial map.

use std::collections::BTreeMap;

use serde::Deserialize;

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
}

/// Other fields are ignored, as gateways do.
#[derive(Deserialize)]
struct Raw {
    manifest: String,
    version: String,
    #[serde(default)]
    index: Option<RawIndex>,
    #[serde(default)]
    fallback: Option<RawId>,
    paths: BTreeMap<String, RawId>,
}

#[derive(Deserialize)]
struct RawIndex {
    path: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawId {
    id: String,
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
                raw.manifest
            )));
        }
        if !matches!(raw.version.as_str(), "0.1.0" | "0.2.0") {
            return Err(ManifestError::Version(raw.version));
        }
        let id = |what: &str, text: &str| {
            text.parse::<TxId>()
                .map_err(|e| ManifestError::Invalid(format!("{what}: bad id {text:?}: {e}")))
        };
        let mut paths = BTreeMap::new();
        for (path, entry) in raw.paths {
            paths.insert(path.clone(), id(&format!("path {path:?}"), &entry.id)?);
        }
        let index = match raw.index {
            None => None,
            Some(RawIndex {
                path: Some(path),
                id: None,
            }) => {
                if !paths.contains_key(&path) {
                    return Err(ManifestError::Invalid(format!(
                        "index path {path:?} is not one of the paths"
                    )));
                }
                Some(Index::Path(path))
            }
            Some(RawIndex {
                path: None,
                id: Some(text),
            }) => Some(Index::Id(id("index", &text)?)),
            Some(_) => {
                return Err(ManifestError::Invalid(
                    "index needs exactly one of \"path\" and \"id\"".into(),
                ));
            }
        };
        let fallback = match raw.fallback {
            Some(entry) => Some(id("fallback", &entry.id)?),
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
/// Path segments that cannot be file names (empty, `.`, `..`, or holding a NUL) leave their
/// path out, and where a path is both a file and a directory (`a` and `a/b`), the directory
/// wins; such paths still resolve through [`Manifest::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirTree {
    pub dirs: Vec<Dir>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dir {
    /// How many directories down from the manifest (0 for the manifest itself).
    pub depth: u16,
    pub entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Dir(u32),
    File(TxId),
}

impl DirTree {
    pub fn new(manifest: &Manifest) -> DirTree {
        let mut dirs = vec![Dir::default()];
        'paths: for (path, &id) in &manifest.paths {
            let segments: Vec<&str> = path.split('/').collect();
            let valid = |s: &&str| !matches!(*s, "" | "." | "..") && !s.contains('\0');
            if !segments.iter().all(valid) {
                continue;
            }
            let (file, parents) = segments.split_last().expect("split yields one at least");
            let mut at = 0usize;
            for name in parents {
                let next = match dirs[at].entries.get(*name) {
                    Some(Entry::Dir(d)) => *d as usize,
                    Some(Entry::File(_)) | None => {
                        if dirs.len() > u32::MAX as usize || dirs[at].depth == u16::MAX {
                            continue 'paths;
                        }
                        let depth = dirs[at].depth + 1;
                        dirs.push(Dir {
                            depth,
                            entries: BTreeMap::new(),
                        });
                        let new = (dirs.len() - 1) as u32;
                        dirs[at].entries.insert(name.to_string(), Entry::Dir(new));
                        new as usize
                    }
                };
                at = next;
            }
            dirs[at]
                .entries
                .entry(file.to_string())
                .or_insert(Entry::File(id));
        }
        DirTree { dirs }
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
        let tree = DirTree::new(&m);
        let root = &tree.dirs[0];
        assert_eq!(
            root.entries.keys().collect::<Vec<_>>(),
            ["a", "top.txt"],
            "unrepresentable paths left out"
        );
        let Entry::Dir(a) = root.entries["a"] else {
            panic!("a/b/c.bin makes a a directory")
        };
        let a = &tree.dirs[a as usize];
        assert_eq!(a.depth, 1);
        assert_eq!(a.entries["d"], Entry::File(id(3)));
        let Entry::Dir(b) = a.entries["b"] else {
            panic!("b is a directory")
        };
        assert_eq!(tree.dirs[b as usize].entries["c.bin"], Entry::File(id(2)));
        assert_eq!(tree.dirs[b as usize].depth, 2);
        assert_eq!(root.entries["top.txt"], Entry::File(id(3)));
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
}
