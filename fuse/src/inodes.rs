//! Inode numbers for the namespace: fixed ones for the directories, and one per (kind, id)
//! for as long as the kernel holds it. Only a lookup that succeeded (a verified header, a
//! block read, a manifest parsed) hands one out, and counts it; FORGET gives the counts back
//! and at zero the inode is dropped. Numbers are never reused while the mount lives, so a
//! number the kernel still had would miss (ENOENT), never name another file.
//!
//! A listing gives the kernel no reference, so what it shows is kept only among the last
//! [`LISTED_KEPT`] listed: `ls -l` (readdir, then a lookup per name) sees one number per file.

use std::collections::HashMap;
use std::sync::Mutex;

use lru::LruCache;

pub use weavedrive_namespace::Node;

pub const ROOT: u64 = 1;
pub const DATA_DIR: u64 = 2;
pub const TX_DIR: u64 = 3;
pub const BLOCK_DIR: u64 = 4;
pub const MANIFEST_DIR: u64 = 5;
const FIRST_DYNAMIC: u64 = 16;

/// Listed-only inodes kept, so a listing and the lookups after it agree on numbers.
pub const LISTED_KEPT: usize = 32 * 1024;

pub struct Inodes {
    inner: Mutex<Table>,
}

impl Default for Inodes {
    fn default() -> Self {
        Inodes {
            inner: Mutex::new(Table {
                by_node: HashMap::new(),
                by_ino: HashMap::new(),
                listed: LruCache::unbounded(),
                next: FIRST_DYNAMIC,
            }),
        }
    }
}

struct Table {
    by_node: HashMap<Node, u64>,
    by_ino: HashMap<u64, Slot>,
    /// Inodes with no lookups (only listed), least recently listed first out.
    listed: LruCache<u64, ()>,
    next: u64,
}

struct Slot {
    node: Node,
    /// Lookups the kernel has not forgotten.
    lookups: u64,
}

/// The fixed inode of a fixed directory.
fn fixed(node: Node) -> Option<u64> {
    match node {
        Node::Root => Some(ROOT),
        Node::DataDir => Some(DATA_DIR),
        Node::TxDir => Some(TX_DIR),
        Node::BlockDir => Some(BLOCK_DIR),
        Node::ManifestDir => Some(MANIFEST_DIR),
        _ => None,
    }
}

impl Inodes {
    pub fn node(&self, ino: u64) -> Option<Node> {
        match ino {
            ROOT => Some(Node::Root),
            DATA_DIR => Some(Node::DataDir),
            TX_DIR => Some(Node::TxDir),
            BLOCK_DIR => Some(Node::BlockDir),
            MANIFEST_DIR => Some(Node::ManifestDir),
            _ => self.inner.lock().unwrap().by_ino.get(&ino).map(|s| s.node),
        }
    }

    /// The inode for `node`, which a lookup has just found: it is the kernel's until it
    /// forgets as many lookups as it was given.
    pub fn looked_up(&self, node: Node) -> u64 {
        if let Some(ino) = fixed(node) {
            return ino;
        }
        let mut table = self.inner.lock().unwrap();
        let ino = table.ino(node);
        let slot = table.by_ino.get_mut(&ino).expect("just made");
        slot.lookups += 1;
        if slot.lookups == 1 {
            table.listed.pop(&ino);
        }
        table.log();
        ino
    }

    /// The inode a listing shows for `node`; it gives the kernel no reference.
    pub fn listed(&self, node: Node) -> u64 {
        if let Some(ino) = fixed(node) {
            return ino;
        }
        let mut table = self.inner.lock().unwrap();
        let ino = table.ino(node);
        if table.by_ino[&ino].lookups == 0 {
            table.listed.put(ino, ());
            while table.listed.len() > LISTED_KEPT {
                let (old, ()) = table
                    .listed
                    .pop_lru()
                    .expect("over the cap means not empty");
                table.drop_ino(old);
            }
        }
        table.log();
        ino
    }

    /// The kernel dropped `lookups` of its lookups of `ino` (FORGET).
    pub fn forget(&self, ino: u64, lookups: u64) {
        let mut table = self.inner.lock().unwrap();
        let Some(slot) = table.by_ino.get_mut(&ino) else {
            return;
        };
        slot.lookups = slot.lookups.saturating_sub(lookups);
        if slot.lookups == 0 {
            table.drop_ino(ino);
            table.log();
        }
    }

    /// Inodes held besides the fixed ones.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().by_ino.len()
    }
}

impl Table {
    /// The inode of `node`, made (with no lookups) if it has none.
    fn ino(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_node.insert(node, ino);
        self.by_ino.insert(ino, Slot { node, lookups: 0 });
        ino
    }

    fn drop_ino(&mut self, ino: u64) {
        if let Some(slot) = self.by_ino.remove(&ino) {
            self.by_node.remove(&slot.node);
        }
        self.listed.pop(&ino);
    }

    /// The table's size, for the debug log (the mount tests read it there).
    fn log(&self) {
        tracing::debug!(
            inodes = self.by_ino.len(),
            listed = self.listed.len(),
            "inode table"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weavedrive_cache::TxId;

    #[test]
    fn inodes_are_stable_and_distinct() {
        let inodes = Inodes::default();
        let (a, b) = (TxId([1; 32]), TxId([2; 32]));
        let ia = inodes.looked_up(Node::Data(a));
        assert_eq!(inodes.looked_up(Node::Data(a)), ia);
        assert_ne!(inodes.looked_up(Node::TxJson(a)), ia);
        assert_ne!(inodes.looked_up(Node::Data(b)), ia);
        assert_eq!(inodes.node(ia), Some(Node::Data(a)));
        assert_eq!(inodes.node(ROOT), Some(Node::Root));
        assert_eq!(inodes.looked_up(Node::DataDir), DATA_DIR);
        assert_eq!(inodes.node(999), None);
    }

    #[test]
    fn forget_drops_an_inode_when_its_lookups_are_all_forgotten() {
        let inodes = Inodes::default();
        let a = Node::Data(TxId([1; 32]));
        let ino = inodes.looked_up(a);
        assert_eq!(inodes.looked_up(a), ino);
        assert_eq!(inodes.looked_up(a), ino);
        inodes.forget(ino, 2);
        assert_eq!(inodes.node(ino), Some(a), "one lookup left");
        inodes.forget(ino, 1);
        assert_eq!(inodes.node(ino), None);
        assert_eq!(inodes.len(), 0);
        // Forgetting what is gone, or more than was given, or a fixed inode: no effect.
        inodes.forget(ino, 5);
        inodes.forget(ROOT, 1);
        assert_eq!(inodes.node(ROOT), Some(Node::Root));

        // Looked up again: a new number, never the old one.
        let again = inodes.looked_up(a);
        assert_ne!(again, ino);
        assert_eq!(inodes.node(again), Some(a));
    }

    #[test]
    fn a_listing_and_the_lookups_after_it_agree_and_listings_stay_bounded() {
        let inodes = Inodes::default();
        let node = |n: u64| Node::Block(n);
        let listed = inodes.listed(node(0));
        assert_eq!(inodes.looked_up(node(0)), listed, "ls -l sees one number");
        for n in 1..=(LISTED_KEPT as u64 + 100) {
            inodes.listed(node(n));
        }
        // The looked-up one stays whatever is listed after it; listed-only ones are capped.
        assert_eq!(inodes.node(listed), Some(node(0)));
        assert_eq!(inodes.len(), LISTED_KEPT + 1);
        assert_eq!(inodes.listed(node(0)), listed);
        // A listed inode that is then looked up and forgotten goes.
        let last = inodes.listed(node(LISTED_KEPT as u64 + 100));
        assert_eq!(inodes.looked_up(node(LISTED_KEPT as u64 + 100)), last);
        inodes.forget(last, 1);
        assert_eq!(inodes.node(last), None);
        inodes.forget(listed, 1);
        assert_eq!(inodes.len(), LISTED_KEPT - 1);
    }
}
