//! The weave the gateway serves: signed transactions laid out at absolute weave offsets.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use weavedrive_cache::arweave::chunking::merkle_leaf_ranges;
use weavedrive_cache::arweave::{Leaf, MerkleTree, Tag, TxHeader, TxId};

use crate::items::{BundleItem, bundle_bytes};
use crate::wallet::TestWallet;

/// Weave offset of the first tx's first byte. Nonzero, and txs are separated by odd gaps, so
/// a client that confuses weave offsets with tx offsets fails loudly.
pub const WEAVE_START: u64 = 1_000_000;
const GAP: u64 = 123_457;

/// One transaction as stored: its signed header, its data and Merkle tree, and where it
/// sits in the weave.
pub struct StoredTx {
    pub header: TxHeader,
    pub data: Bytes,
    pub tree: MerkleTree,
    /// Weave offset of the last byte (what `/tx/{id}/offset` reports). For an empty tx this
    /// is `start_offset() - 1`.
    pub end_offset: u64,
}

impl StoredTx {
    pub fn id(&self) -> TxId {
        self.header.id
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Weave offset of byte 0: `end - size + 1`.
    pub fn start_offset(&self) -> u64 {
        self.end_offset + 1 - self.size()
    }

    /// Leaf index and byte range (within the tx) of the data chunk holding byte `offset`.
    pub fn chunk_at(&self, offset: u64) -> Option<(usize, Range<u64>)> {
        if offset >= self.size() {
            return None;
        }
        // Leaves are sorted and contiguous; the first whose end lies past `offset` holds it.
        let index = self.tree.leaves.partition_point(|l| l.end <= offset);
        Some((index, self.tree.leaves[index].range()))
    }
}

/// Where a bundled data item sits, as an ar.io gateway reports it: offsets in the root
/// transaction's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemPlace {
    pub root: TxId,
    /// Where the item's header starts (what the gateway reports; see `misplace_item`).
    pub item_offset: u64,
    pub data_offset: u64,
    pub data_size: u64,
    /// What the gateway tells of this: the root (and the offset), or nothing.
    pub reported: Reported,
}

/// How much of an item's place the gateway reports in its `/raw` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    RootAndOffset,
    RootOnly,
    Nothing,
}

/// The transactions a gateway serves. Built up front, then shared read-only by the server.
pub struct GatewayData {
    wallet: TestWallet,
    rng: StdRng,
    txs: Vec<StoredTx>,
    by_id: HashMap<TxId, usize>,
    items: HashMap<TxId, ItemPlace>,
    next_start: u64,
    /// Empty blocks past the last transaction's, and padding (see [`GatewayData::grow_chain`]).
    chain: Chain,
}

#[derive(Default)]
struct Chain {
    height: u64,
    padding: usize,
}

impl GatewayData {
    /// Empty weave; headers get fresh random anchors and salts (ids differ per run).
    pub fn new(wallet: TestWallet) -> Self {
        Self::with_rng(wallet, StdRng::from_entropy())
    }

    /// Empty weave whose ids are reproducible: same seed, data and tags give the same ids.
    pub fn with_seed(wallet: TestWallet, seed: u64) -> Self {
        Self::with_rng(wallet, StdRng::seed_from_u64(seed))
    }

    fn with_rng(wallet: TestWallet, rng: StdRng) -> Self {
        GatewayData {
            wallet,
            rng,
            txs: Vec::new(),
            by_id: HashMap::new(),
            items: HashMap::new(),
            next_start: WEAVE_START,
            chain: Chain::default(),
        }
    }

    /// Signs a format-2 transaction for `data` and appends it to the weave.
    pub fn add_tx(&mut self, data: Bytes, tags: Vec<(String, String)>) -> TxId {
        let tree = build_tree(&data);
        self.add_tx_with_tree(data, tree, tags)
    }

    /// [`Self::add_tx`] with the data's Merkle tree already built.
    pub(crate) fn add_tx_with_tree(
        &mut self,
        data: Bytes,
        tree: MerkleTree,
        tags: Vec<(String, String)>,
    ) -> TxId {
        let mut header = TxHeader {
            format: 2,
            id: TxId([0; 32]),
            last_tx: self.rng.r#gen::<[u8; 32]>().to_vec(),
            owner: self.wallet.owner(),
            tags: tags
                .into_iter()
                .map(|(name, value)| Tag {
                    name: name.into_bytes(),
                    value: value.into_bytes(),
                })
                .collect(),
            target: Vec::new(),
            quantity: "0".into(),
            data: Vec::new(),
            data_size: data.len() as u64,
            // arweave-js leaves data_root empty for empty data.
            data_root: (!data.is_empty()).then_some(tree.root),
            reward: self
                .rng
                .gen_range(1_000_000u64..1_000_000_000_000)
                .to_string(),
            signature: Vec::new(),
        };
        let message = header
            .signature_message()
            .expect("format 2 always has a message");
        header.signature = self.wallet.sign(&message, &mut self.rng);
        header.id = TxId::from_signature(&header.signature);
        debug_assert!(header.verify().is_ok());
        self.push_tx(header, data, tree)
    }

    /// Serves `header` as given for its id (signed elsewhere, or a lie: see `format1`), with
    /// `data` at `/{id}` and in the weave. The weave extent (what `/tx/{id}/offset` reports)
    /// is the header's data_size when that claims more than `data` holds.
    pub fn add_signed_tx(&mut self, header: TxHeader, data: Bytes) -> TxId {
        let tree = build_tree(&data);
        self.push_tx(header, data, tree)
    }

    fn push_tx(&mut self, header: TxHeader, data: Bytes, tree: MerkleTree) -> TxId {
        let start = self.next_start;
        let extent = header.data_size.max(data.len() as u64);
        let end_offset = start + extent - 1;
        self.next_start = start.saturating_add(extent).saturating_add(GAP);
        let id = header.id;
        self.by_id.insert(id, self.txs.len());
        self.txs.push(StoredTx {
            header,
            data,
            tree,
            end_offset,
        });
        id
    }

    /// Posts `items` as an ANS-104 bundle: a transaction tagged as one (plus `tags`), whose
    /// items, and the items of bundles nested in them, the gateway then serves by id.
    pub fn add_bundle(&mut self, items: &[BundleItem], tags: Vec<(String, String)>) -> TxId {
        self.add_bundle_bytes(bundle_bytes(items).into(), tags)
    }

    /// [`Self::add_bundle`] for a bundle already serialised (by another implementation).
    pub fn add_bundle_bytes(&mut self, data: Bytes, tags: Vec<(String, String)>) -> TxId {
        let mut all_tags: Vec<(String, String)> = weavedrive_cache::arweave::bundle::bundle_tags()
            .into_iter()
            .map(|t| {
                (
                    String::from_utf8(t.name).unwrap(),
                    String::from_utf8(t.value).unwrap(),
                )
            })
            .collect();
        all_tags.extend(tags);
        let root = self.add_tx(data.clone(), all_tags);
        self.index_bundle(root, 0, &data, 0);
        root
    }

    /// Records where each item of the bundle at `base` of `root`'s data sits, nested ones too.
    fn index_bundle(&mut self, root: TxId, base: u64, bundle: &[u8], depth: usize) {
        use weavedrive_cache::arweave::ans104::DataItem;
        use weavedrive_cache::arweave::bundle::{Index, MAX_NESTING, is_bundle};
        let Some(head) = bundle.get(..32) else { return };
        let Ok(count) = Index::count(head.try_into().unwrap()) else {
            return;
        };
        let index_len = Index::len_for(count) as usize;
        let Some(Ok(index)) = bundle
            .get(32..index_len)
            .map(|e| Index::parse(e, count, bundle.len() as u64))
        else {
            return;
        };
        for entry in index.entries {
            let item = &bundle[entry.start as usize..(entry.start + entry.size) as usize];
            let Ok(header) = DataItem::parse_header(item) else {
                continue;
            };
            let data_offset = header.data_offset as u64;
            let at = base + entry.start;
            self.items.entry(entry.id).or_insert(ItemPlace {
                root,
                item_offset: at,
                data_offset: at + data_offset,
                data_size: entry.size - data_offset,
                reported: Reported::RootAndOffset,
            });
            if is_bundle(&header.tags) && depth + 1 < MAX_NESTING {
                let data = &item[data_offset as usize..];
                self.index_bundle(root, at + data_offset, data, depth + 1);
            }
        }
    }

    /// A bundled data item the gateway knows.
    pub fn item(&self, id: &TxId) -> Option<&ItemPlace> {
        self.items.get(id)
    }

    /// Makes the gateway forget where item `id` is (see `hostile.rs`).
    pub(crate) fn forget_item(&mut self, id: &TxId) {
        self.items.remove(id);
    }

    /// Makes the gateway report a false offset for item `id` (a lying or confused gateway).
    pub fn misplace_item(&mut self, id: &TxId, item_offset: u64) {
        self.items.get_mut(id).expect("a known item").item_offset = item_offset;
    }

    /// Makes the gateway report less of where item `id` is (as gateways without ar.io's
    /// offset index do).
    pub fn report_item(&mut self, id: &TxId, reported: Reported) {
        self.items.get_mut(id).expect("a known item").reported = reported;
    }

    /// The data of item `id`: a slice of its root transaction's data.
    pub fn item_data(&self, place: &ItemPlace) -> Bytes {
        let root = self
            .tx(&place.root)
            .expect("items are indexed from stored bundles");
        let start = place.data_offset as usize;
        root.data.slice(start..start + place.data_size as usize)
    }

    pub fn tx(&self, id: &TxId) -> Option<&StoredTx> {
        self.by_id.get(id).map(|&i| &self.txs[i])
    }

    /// All transactions, in weave order.
    pub fn txs(&self) -> &[StoredTx] {
        &self.txs
    }

    /// The transaction whose data covers absolute weave offset `offset`.
    pub fn tx_at(&self, offset: u64) -> Option<&StoredTx> {
        let after = self.txs.partition_point(|t| t.start_offset() <= offset);
        let tx = &self.txs[after.checked_sub(1)?];
        (offset <= tx.end_offset && tx.size() > 0).then_some(tx)
    }

    /// One past the last weave offset in use.
    pub fn weave_size(&self) -> u64 {
        self.txs.last().map_or(WEAVE_START, |t| t.end_offset + 1)
    }

    pub fn wallet(&self) -> &TestWallet {
        &self.wallet
    }

    /// A synthetic chain: block 0 holds nothing and block `h` holds transaction `h - 1`, so
    /// the chain is one block taller than the number of transactions.
    pub fn block_json(&self, height: u64) -> Option<serde_json::Value> {
        let hash = |h: u64| {
            let digest = sha2::Sha384::digest(format!("weavedrive testgw block {h}"));
            weavedrive_cache::arweave::b64::encode(&digest)
        };
        let with_tx = height as usize <= self.txs.len();
        if !with_tx && height > self.chain.height {
            return None;
        }
        let txs: Vec<String> = match height {
            h if h == 0 || !with_tx => Vec::new(),
            h => vec![self.txs[h as usize - 1].id().to_string()],
        };
        let weave_size = match height {
            0 => WEAVE_START,
            _ if !with_tx => self.weave_size(),
            h => self.txs[h as usize - 1].end_offset + 1,
        };
        let mut block = serde_json::json!({
            "height": height,
            "indep_hash": hash(height),
            "previous_block": if height == 0 { String::new() } else { hash(height - 1) },
            "timestamp": 1_700_000_000 + 120 * height,
            "txs": txs,
            "weave_size": weave_size.to_string(),
        });
        if self.chain.padding > 0 {
            block["testgw_padding"] = "x".repeat(self.chain.padding).into();
        }
        Some(block)
    }

    /// Makes the chain at least `height` blocks tall (blocks past the last transaction's hold
    /// none) and pads every block's JSON with `padding` bytes in a `testgw_padding` field,
    /// the size of a real block's transaction list: for tests that read many large blocks.
    pub fn grow_chain(&mut self, height: u64, padding: usize) {
        self.chain = Chain { height, padding };
    }
}

/// `MerkleTree::from_data`, with leaf hashing spread over the cores for big data (a 1 GiB
/// benchmark file would otherwise take a second or more to load).
fn build_tree(data: &[u8]) -> MerkleTree {
    const PARALLEL_ABOVE: usize = 8 << 20;
    let ranges = merkle_leaf_ranges(data.len() as u64);
    let leaf = |r: &Range<u64>| Leaf {
        data_hash: Sha256::digest(&data[r.start as usize..r.end as usize]).into(),
        start: r.start,
        end: r.end,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if data.len() < PARALLEL_ABOVE || threads == 1 {
        return MerkleTree::build(ranges.iter().map(leaf).collect());
    }
    let per_thread = ranges.len().div_ceil(threads);
    let leaves = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .chunks(per_thread)
            .map(|part| s.spawn(move || part.iter().map(leaf).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("leaf hashing thread"))
            .collect()
    });
    MerkleTree::build(leaves)
}

/// Deterministic pseudo-random bytes, fast enough for GiB-sized test data: splitmix64 is
/// counter-based (word `k` depends only on the seed and `k`), so threads fill parts alone.
pub fn pseudo_random_data(seed: u64, size: usize) -> Bytes {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    let base = seed ^ 0x5851_f42d_4c95_7f2d;
    let word = |k: u64| {
        let mut z = base.wrapping_add(GAMMA.wrapping_mul(k + 1));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    };
    let fill = |part: &mut [u8], first_word: u64| {
        for (k, chunk) in (first_word..).zip(part.chunks_mut(8)) {
            chunk.copy_from_slice(&word(k)[..chunk.len()]);
        }
    };
    let mut buf = vec![0u8; size];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = size.div_ceil(threads).next_multiple_of(8).max(1 << 20);
    std::thread::scope(|s| {
        for (i, part) in buf.chunks_mut(per_thread).enumerate() {
            let first_word = (i * per_thread / 8) as u64;
            s.spawn(move || fill(part, first_word));
        }
    });
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_lookup() {
        let mut data = GatewayData::with_seed(TestWallet::fixed(), 7);
        let a = data.add_tx(pseudo_random_data(1, 270_000), vec![]);
        let empty = data.add_tx(Bytes::new(), vec![("A".into(), "b".into())]);
        let b = data.add_tx(pseudo_random_data(2, 10), vec![]);
        let (ta, te, tb) = (
            data.tx(&a).unwrap(),
            data.tx(&empty).unwrap(),
            data.tx(&b).unwrap(),
        );
        assert_eq!(ta.start_offset(), WEAVE_START);
        assert_eq!(ta.end_offset, WEAVE_START + 270_000 - 1);
        assert!(tb.start_offset() > ta.end_offset + 1);
        for t in [ta, te, tb] {
            t.header.verify().unwrap();
        }
        assert!(te.header.data_root.is_none());
        assert_eq!(data.tx_at(WEAVE_START).unwrap().id(), a);
        assert_eq!(data.tx_at(ta.end_offset).unwrap().id(), a);
        assert!(data.tx_at(ta.end_offset + 1).is_none());
        assert!(data.tx_at(WEAVE_START - 1).is_none());
        assert_eq!(data.tx_at(tb.end_offset).unwrap().id(), b);
        assert!(data.tx_at(tb.end_offset + 1).is_none());
        assert_eq!(ta.chunk_at(0).unwrap(), (0, 0..135_000));
        assert_eq!(ta.chunk_at(135_000).unwrap(), (1, 135_000..270_000));
        assert!(ta.chunk_at(270_000).is_none());
    }

    #[test]
    fn seeded_ids_are_reproducible_and_trees_match_the_core() {
        let make = || {
            let mut d = GatewayData::with_seed(TestWallet::fixed(), 3);
            d.add_tx(pseudo_random_data(9, 20 << 20), vec![])
        };
        let (id1, id2) = (make(), make());
        assert_eq!(id1, id2);
        let data = pseudo_random_data(9, 20 << 20);
        assert_eq!(build_tree(&data).root, MerkleTree::from_data(&data).root);
        assert_ne!(pseudo_random_data(1, 64), pseudo_random_data(2, 64));
        assert_eq!(
            pseudo_random_data(1, 13),
            pseudo_random_data(1, 64).slice(..13)
        );
    }

    #[test]
    fn a_grown_chain_serves_padded_empty_blocks_up_to_its_height() {
        let mut data = GatewayData::with_seed(TestWallet::fixed(), 3);
        let a = data.add_tx(pseudo_random_data(1, 10), vec![]);
        assert!(data.block_json(2).is_none());
        data.grow_chain(5, 100);
        assert_eq!(data.block_json(1).unwrap()["txs"][0], a.to_string());
        let last = data.block_json(5).unwrap();
        assert_eq!(last["txs"].as_array().unwrap().len(), 0);
        assert_eq!(last["weave_size"], data.weave_size().to_string());
        assert_eq!(last["testgw_padding"].as_str().unwrap().len(), 100);
        assert!(data.block_json(6).is_none());
    }
}
