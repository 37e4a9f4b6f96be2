//! Lies a hostile gateway tells that take more than a fault rule: a bundle it signs itself
//! around a copied item header, and transactions too large to hold in memory (for tests that
//! a client's costs do not grow with what a signed header claims).

use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use weavedrive_cache::arweave::ans104::DataItem;
use weavedrive_cache::arweave::chunking::merkle_leaf_ranges;
use weavedrive_cache::arweave::{Leaf, MerkleTree, TxId};

use crate::data::{GatewayData, pseudo_random_data};
use crate::items::BundleItem;

impl GatewayData {
    /// A bundle this gateway signs itself, holding `item`'s header (signature and all, so the
    /// id matches and the index lists it honestly) followed by other data of the same length;
    /// the gateway then says the item lives there. Every check short of the item's own
    /// signature over its data passes. Returns the forged bundle's id.
    pub fn forge_item(&mut self, item: &BundleItem, seed: u64) -> TxId {
        let header = DataItem::parse_header(&item.bytes).expect("a well-formed item");
        let data_len = item.bytes.len() - header.data_offset;
        let mut forged = item.bytes[..header.data_offset].to_vec();
        forged.extend_from_slice(&pseudo_random_data(seed, data_len));
        assert_ne!(forged[..], item.bytes[..], "other data");
        let copy = BundleItem {
            id: item.id,
            bytes: forged.into(),
        };
        // Indexing keeps the first place it finds for an id: forget the honest one.
        self.forget_item(&item.id);
        let root = self.add_bundle(std::slice::from_ref(&copy), vec![]);
        assert_eq!(self.item(&item.id).map(|p| p.root), Some(root));
        root
    }

    /// A signed transaction of `size` zero bytes, held as an unbacked read-only mapping (no
    /// memory until read, and reads of zero pages cost none) with its tree built from one
    /// chunk hash: 100 GiB costs about 100 MB of tree and a second to build.
    pub fn add_zeros_tx(&mut self, size: u64, tags: Vec<(String, String)>) -> TxId {
        let data = zeros(size);
        let hashes: std::collections::HashMap<u64, [u8; 32]> = merkle_leaf_ranges(size)
            .iter()
            .map(|r| r.end - r.start)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|len| (len, Sha256::digest(&data[..len as usize]).into()))
            .collect();
        let leaves = merkle_leaf_ranges(size)
            .into_iter()
            .map(|r| Leaf {
                data_hash: hashes[&(r.end - r.start)],
                start: r.start,
                end: r.end,
            })
            .collect();
        self.add_tx_with_tree(data, MerkleTree::build(leaves), tags)
    }

    /// Where [`crate::Fault::WrongOffset`] says `tx` ends: inside another transaction at
    /// least as large (so every byte maps into it), or else just past the weave.
    pub(crate) fn decoy_end_offset(&self, tx: &crate::StoredTx) -> u64 {
        self.txs()
            .iter()
            .find(|other| other.id() != tx.id() && other.size() >= tx.size())
            .map_or(self.weave_size() + tx.size(), |other| other.end_offset)
    }
}

/// `size` zero bytes without memory: a private read-only anonymous mapping, never written,
/// so every page is the kernel's shared zero page.
fn zeros(size: u64) -> Bytes {
    struct Zeros {
        ptr: *const u8,
        len: usize,
    }
    // SAFETY: the mapping is read-only and lives as long as the owner.
    unsafe impl Send for Zeros {}
    unsafe impl Sync for Zeros {}
    impl AsRef<[u8]> for Zeros {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: `ptr` maps `len` readable bytes until drop.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
    impl Drop for Zeros {
        fn drop(&mut self) {
            // SAFETY: unmapping what `zeros` mapped.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }
    if size == 0 {
        static EMPTY: OnceLock<Bytes> = OnceLock::new();
        return EMPTY.get_or_init(Bytes::new).clone();
    }
    let len = usize::try_from(size).expect("a 64-bit address space");
    // SAFETY: a fresh anonymous mapping; checked for failure below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(ptr, libc::MAP_FAILED, "mapping {size} zero bytes");
    Bytes::from_owner(Zeros {
        ptr: ptr as *const u8,
        len,
    })
}
