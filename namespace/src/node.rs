//! What a name in the tree stands for. Frontends give these their own handles (FUSE inode
//! numbers, WASI fds); the namespace answers questions about them.

use weavedrive_cache::TxId;

/// A node of the tree:
///
/// ```text
/// /data/<id>              Data(id)          the verified bytes of a transaction or data item
/// /tx/<id>                TxJson(id)        its authenticated header as JSON
/// /block/<h>              Block(h)          the block header at height h (not authenticated)
/// /manifest/<id>          ManifestPath(id, 0)
/// /manifest/<id>/a/b      ManifestPath(id, n) a directory of a path manifest
/// /manifest/<id>/a/f      ManifestLink{..}    a file of a manifest: leads to /data/<its id>
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Root,
    DataDir,
    TxDir,
    BlockDir,
    ManifestDir,
    Data(TxId),
    TxJson(TxId),
    Block(u64),
    /// A directory of a path manifest: the manifest's id and the directory's number in its
    /// [`weavedrive_cache::arweave::manifest::DirTree`] (0: `/manifest/<id>` itself).
    ManifestPath(TxId, u32),
    /// A file of a manifest, `up` directories below the root: it stands for `/data/<target>`
    /// (a symlink `../../data/<target>` where the frontend has symlinks).
    ManifestLink {
        target: TxId,
        up: u16,
    },
}

/// What kind of file a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Directory,
    File,
    Symlink,
}

/// The top-level directories, in listing order.
pub const TOP: [(&str, Node); 4] = [
    ("data", Node::DataDir),
    ("tx", Node::TxDir),
    ("block", Node::BlockDir),
    ("manifest", Node::ManifestDir),
];

impl Node {
    pub fn kind(self) -> Kind {
        match self {
            Node::Root
            | Node::DataDir
            | Node::TxDir
            | Node::BlockDir
            | Node::ManifestDir
            | Node::ManifestPath(..) => Kind::Directory,
            Node::Data(_) | Node::TxJson(_) | Node::Block(_) => Kind::File,
            Node::ManifestLink { .. } => Kind::Symlink,
        }
    }

    pub fn is_dir(self) -> bool {
        self.kind() == Kind::Directory
    }

    /// The id the access policy decides on, where it applies: `/data/<id>`, `/tx/<id>` and a
    /// manifest's directories. A manifest's files lead into `/data`, and are governed there;
    /// `/block` is not governed.
    pub fn governed_id(self) -> Option<TxId> {
        match self {
            Node::Data(id) | Node::TxJson(id) | Node::ManifestPath(id, _) => Some(id),
            _ => None,
        }
    }

    /// Where a symlink leads, as a node: a manifest's file is its data. Other nodes are
    /// themselves.
    pub fn followed(self) -> Node {
        match self {
            Node::ManifestLink { target, .. } => Node::Data(target),
            node => node,
        }
    }

    /// Whether what it shows can never change (everything but the listings of directories
    /// that grow as things are cached): frontends let caches keep it long.
    pub fn is_immutable(self) -> bool {
        !matches!(
            self,
            Node::Root | Node::DataDir | Node::TxDir | Node::BlockDir | Node::ManifestDir
        )
    }
}

/// The target of a manifest's file as a relative symlink: `up` directories up, then
/// `data/<id>`.
pub fn link_target(target: TxId, up: u16) -> String {
    format!("{}data/{target}", "../".repeat(up as usize))
}
