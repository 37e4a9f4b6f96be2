//! Inode numbers for the namespace: fixed ones for the directories, and one per (kind, id)
//! handed out on first lookup and kept for the life of the mount (ids are immutable, so an
//! inode never changes meaning).

use std::collections::HashMap;
use std::sync::Mutex;

use weavedrive_cache::TxId;

pub const ROOT: u64 = 1;
pub const DATA_DIR: u64 = 2;
pub const TX_DIR: u64 = 3;
pub const BLOCK_DIR: u64 = 4;
pub const MANIFEST_DIR: u64 = 5;
const FIRST_DYNAMIC: u64 = 16;

/// What an inode stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Root,
    DataDir,
    TxDir,
    /// `/data/<id>`: the transaction's bytes.
    Data(TxId),
    /// `/tx/<id>`: its header as JSON.
    TxJson(TxId),
    BlockDir,
    /// `/block/<height>`: the block header as JSON.
    Block(u64),
    ManifestDir,
    /// A directory of a path manifest: the manifest's id and the directory's number in its
    /// [`weavedrive_cache::arweave::manifest::DirTree`] (0: `/manifest/<id>` itself).
    ManifestPath(TxId, u32),
    /// A file of a manifest: a symlink `up` directories up and into `data/<target>`.
    ManifestLink {
        target: TxId,
        up: u16,
    },
}

#[derive(Default)]
pub struct Inodes {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_node: HashMap<Node, u64>,
    by_ino: HashMap<u64, Node>,
    next: u64,
}

impl Inodes {
    pub fn node(&self, ino: u64) -> Option<Node> {
        match ino {
            ROOT => Some(Node::Root),
            DATA_DIR => Some(Node::DataDir),
            TX_DIR => Some(Node::TxDir),
            BLOCK_DIR => Some(Node::BlockDir),
            MANIFEST_DIR => Some(Node::ManifestDir),
            _ => self.inner.lock().unwrap().by_ino.get(&ino).copied(),
        }
    }

    pub fn ino(&self, node: Node) -> u64 {
        match node {
            Node::Root => ROOT,
            Node::DataDir => DATA_DIR,
            Node::TxDir => TX_DIR,
            Node::BlockDir => BLOCK_DIR,
            Node::ManifestDir => MANIFEST_DIR,
            _ => {
                let mut table = self.inner.lock().unwrap();
                if let Some(&ino) = table.by_node.get(&node) {
                    return ino;
                }
                let ino = FIRST_DYNAMIC + table.next;
                table.next += 1;
                table.by_node.insert(node, ino);
                table.by_ino.insert(ino, node);
                ino
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_are_stable_and_distinct() {
        let inodes = Inodes::default();
        let (a, b) = (TxId([1; 32]), TxId([2; 32]));
        let ia = inodes.ino(Node::Data(a));
        assert_eq!(inodes.ino(Node::Data(a)), ia);
        assert_ne!(inodes.ino(Node::TxJson(a)), ia);
        assert_ne!(inodes.ino(Node::Data(b)), ia);
        assert_eq!(inodes.node(ia), Some(Node::Data(a)));
        assert_eq!(inodes.node(ROOT), Some(Node::Root));
        assert_eq!(inodes.node(999), None);
    }
}
