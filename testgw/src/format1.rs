//! Format-1 transactions (the data signed inline, in a plain concatenation of the fields) and
//! the lies a hostile gateway can tell with them: the same signed bytes re-split into other
//! fields (the signature stays valid), wrong data, and two headers that are costly to take:
//! a 256 KiB RSA "key" and a signed data_size of 2^62.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weavedrive_cache::arweave::{Tag, TxHeader, TxId};

use crate::data::GatewayData;
use crate::wallet::TestWallet;

/// The fields of a format-1 transaction, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format1 {
    pub data: Vec<u8>,
    pub target: Vec<u8>,
    pub quantity: String,
    pub reward: String,
    pub last_tx: Vec<u8>,
    pub tags: Vec<Tag>,
}

impl Format1 {
    /// A plain upload: no target, quantity 0, a 32-byte anchor, one Content-Type tag.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Format1 {
            data: data.into(),
            target: Vec::new(),
            quantity: "0".into(),
            reward: "7654321".into(),
            last_tx: vec![7; 32],
            tags: vec![Tag {
                name: b"Content-Type".to_vec(),
                value: b"text/plain".to_vec(),
            }],
        }
    }

    /// A transfer to a 32-byte `target` with the data.
    pub fn transfer(data: impl Into<Vec<u8>>, quantity: &str) -> Self {
        Format1 {
            target: vec![0x5a; 32],
            quantity: quantity.into(),
            ..Format1::new(data)
        }
    }

    /// Signs the fields with `wallet` (the salt drawn from `seed`: same seed, same id). The
    /// header carries its data inline.
    pub fn sign(&self, wallet: &TestWallet, seed: u64) -> TxHeader {
        let mut header = TxHeader {
            format: 1,
            id: TxId([0; 32]),
            last_tx: self.last_tx.clone(),
            owner: wallet.owner(),
            tags: self.tags.clone(),
            target: self.target.clone(),
            quantity: self.quantity.clone(),
            data: self.data.clone(),
            data_size: self.data.len() as u64,
            data_root: None,
            reward: self.reward.clone(),
            signature: Vec::new(),
        };
        let message = header.signature_message().expect("inline data");
        header.signature = wallet.sign(&message, &mut StdRng::seed_from_u64(seed));
        header.id = TxId::from_signature(&header.signature);
        header
    }
}

/// How a gateway serves a format-1 transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format1Serving {
    /// `/tx/{id}` carries the data.
    Inline,
    /// `/tx/{id}` leaves the data out (`data` empty, `data_size` kept); `/{id}` serves it.
    DataAtId,
    /// A re-split of the signed bytes (the signature still verifies), data inline.
    Resplit(Resplit),
    /// The data with one byte changed: in the header, or at `/{id}` (header without data).
    WrongData { inline: bool },
}

/// Ways to read a format-1 header's signed bytes (`owner‖target‖data‖quantity‖reward‖
/// last_tx‖tags`) as other fields. Each keeps the bytes, so the signature and id stay valid;
/// the node's field rules refuse some, not all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resplit {
    /// The last `n` bytes of the owner become the start of the target.
    OwnerIntoTarget(usize),
    /// The first `n` bytes of the data become the end of the target.
    DataIntoTarget(usize),
    /// The target becomes the start of the data.
    TargetIntoData,
    /// The last `n` bytes of the data become the start of quantity.
    DataIntoQuantity(usize),
    /// The last `n` digits of quantity become the start of reward.
    QuantityIntoReward(usize),
    /// The last `n` bytes of last_tx become the start of the first tag's name.
    LastTxIntoTags(usize),
    /// The last `n` bytes of the first tag's value become the start of the second's name.
    TagBoundary(usize),
}

/// `header` re-split as `how` says (panics when it has too few bytes for it). The result
/// signs the same bytes: `signature_message()` is unchanged.
pub fn resplit(header: &TxHeader, how: Resplit) -> TxHeader {
    fn move_tail(from: &mut Vec<u8>, n: usize) -> Vec<u8> {
        from.split_off(from.len().checked_sub(n).expect("enough bytes to move"))
    }
    let mut h = header.clone();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("decimal digits");
    match how {
        Resplit::OwnerIntoTarget(n) => {
            let mut target = move_tail(&mut h.owner, n);
            target.extend_from_slice(&h.target);
            h.target = target;
        }
        Resplit::DataIntoTarget(n) => {
            let rest = h.data.split_off(n);
            h.target.extend_from_slice(&h.data);
            h.data = rest;
        }
        Resplit::TargetIntoData => {
            let mut data = std::mem::take(&mut h.target);
            data.extend_from_slice(&h.data);
            h.data = data;
        }
        Resplit::DataIntoQuantity(n) => {
            let mut quantity = move_tail(&mut h.data, n);
            quantity.extend_from_slice(h.quantity.as_bytes());
            h.quantity = text(quantity);
        }
        Resplit::QuantityIntoReward(n) => {
            let mut quantity = h.quantity.into_bytes();
            let mut reward = move_tail(&mut quantity, n);
            reward.extend_from_slice(h.reward.as_bytes());
            h.quantity = text(quantity);
            h.reward = text(reward);
        }
        Resplit::LastTxIntoTags(n) => {
            let mut name = move_tail(&mut h.last_tx, n);
            let first = h.tags.first_mut().expect("a tag");
            name.extend_from_slice(&first.name);
            first.name = name;
        }
        Resplit::TagBoundary(n) => {
            let mut name = move_tail(&mut h.tags[0].value, n);
            let second = h.tags.get_mut(1).expect("two tags");
            name.extend_from_slice(&second.name);
            second.name = name;
        }
    }
    h.data_size = h.data.len() as u64;
    assert_eq!(
        h.signature_message(),
        header.signature_message(),
        "{how:?} must keep the signed bytes"
    );
    h
}

impl GatewayData {
    /// Serves the signed format-1 transaction `header` (with its data inline) as `serving`
    /// says. Gateways built with the same header serve the same id.
    pub fn add_format1(&mut self, header: &TxHeader, serving: Format1Serving) -> TxId {
        assert_eq!(header.format, 1);
        let data = Bytes::from(header.data.clone());
        let without_data = |h: &TxHeader| TxHeader {
            data: Vec::new(),
            ..h.clone()
        };
        let (served, at_id) = match serving {
            Format1Serving::Inline => (header.clone(), data),
            Format1Serving::DataAtId => (without_data(header), data),
            Format1Serving::Resplit(how) => {
                let split = resplit(header, how);
                let data = Bytes::from(split.data.clone());
                (split, data)
            }
            Format1Serving::WrongData { inline } => {
                let mut wrong = header.data.clone();
                let middle = wrong.len() / 2;
                wrong[middle] ^= 0x20;
                let lying = TxHeader {
                    data: wrong.clone(),
                    ..header.clone()
                };
                match inline {
                    true => (lying, Bytes::from(wrong)),
                    false => (without_data(header), Bytes::from(wrong)),
                }
            }
        };
        self.add_signed_tx(served, at_id)
    }

    /// Serves a header whose owner is a `size`-byte "RSA key" (a format-2 header without
    /// data). Its id is the sha256 of its signature, so it passes the id check; checking the
    /// signature against a 256 KiB modulus would take minutes.
    pub fn add_huge_key_header(&mut self, size: usize) -> TxId {
        let owner = vec![0xff; size];
        let mut signature = vec![0xff; size];
        // Below the modulus, so a verifier without a key-size rule does the full arithmetic.
        signature[0] = 0x7f;
        let header = TxHeader {
            format: 2,
            id: TxId::from_signature(&signature),
            last_tx: vec![1; 32],
            owner,
            tags: Vec::new(),
            target: Vec::new(),
            quantity: "0".into(),
            data: Vec::new(),
            data_size: 0,
            data_root: None,
            reward: "1".into(),
            signature,
        };
        self.add_signed_tx(header, Bytes::new())
    }

    /// Serves a format-2 header signed for real by the gateway's wallet that claims
    /// `data_size` bytes (e.g. 2^62) under a made-up data_root, with consistent `/offset`
    /// answers: everything a client sizes by data_size believes it.
    pub fn add_claimed_size_header(&mut self, data_size: u64, seed: u64) -> TxId {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut header = TxHeader {
            format: 2,
            id: TxId([0; 32]),
            last_tx: rng.r#gen::<[u8; 32]>().to_vec(),
            owner: self.wallet().owner(),
            tags: vec![Tag {
                name: b"Content-Type".to_vec(),
                value: b"application/octet-stream".to_vec(),
            }],
            target: Vec::new(),
            quantity: "0".into(),
            data: Vec::new(),
            data_size,
            data_root: Some(rng.r#gen()),
            reward: "1".into(),
            signature: Vec::new(),
        };
        let message = header.signature_message().expect("format 2");
        header.signature = self.wallet().sign(&message, &mut rng);
        header.id = TxId::from_signature(&header.signature);
        self.add_signed_tx(header, Bytes::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resplits_keep_the_signature_valid() {
        let wallet = TestWallet::fixed();
        let mut fields = Format1::transfer(b"hello world, 2024 edition: 15".to_vec(), "25");
        fields.tags.push(Tag {
            name: b"App".to_vec(),
            value: b"x".to_vec(),
        });
        let header = fields.sign(&wallet, 1);
        header.verify().unwrap();
        for how in [
            Resplit::DataIntoTarget(3),
            Resplit::TargetIntoData,
            Resplit::DataIntoQuantity(2),
            Resplit::QuantityIntoReward(1),
            Resplit::LastTxIntoTags(16),
            Resplit::TagBoundary(4),
            Resplit::OwnerIntoTarget(32),
        ] {
            let split = resplit(&header, how);
            assert_ne!(split, header, "{how:?}");
            assert_eq!(split.id, header.id);
            assert_eq!(split.signature_message(), header.signature_message());
        }
    }
}
