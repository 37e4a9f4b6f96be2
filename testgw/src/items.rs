//! ANS-104 data items signed for real (types 1 to 4; 5 to 7 carry placeholder signatures,
//! as nothing here checks them) and bundles of them, as bundlers post them.

use bytes::Bytes;
use rand::SeedableRng;
use sha3::Digest;
use weavedrive_cache::arweave::ans104::{
    DataItem, SignatureType, header_after_signature, message_to_sign,
};
use weavedrive_cache::arweave::{Tag, TxId};

use crate::wallet::TestWallet;

/// An item as a bundle holds it: the id its index lists, and its bytes.
#[derive(Debug, Clone)]
pub struct BundleItem {
    pub id: TxId,
    pub bytes: Bytes,
}

/// What a lying bundler or gateway can alter in an item after it was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    Data,
    Tags,
    Signature,
}

impl BundleItem {
    /// An honest item: listed under the id its signature gives.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let header = DataItem::parse_header(&bytes).expect("a well-formed item");
        BundleItem {
            id: header.id(),
            bytes,
        }
    }

    /// The same item with one byte of `part` changed, still listed under its original id.
    pub fn tampered(&self, part: Tamper) -> Self {
        let header = DataItem::parse_header(&self.bytes).expect("a well-formed item");
        let at = match part {
            Tamper::Data => header.data_offset + (self.bytes.len() - header.data_offset) / 2,
            Tamper::Tags => header.data_offset - header.raw_tags.len() / 2 - 1,
            Tamper::Signature => 2 + header.signature.len() / 2,
        };
        assert!(at < self.bytes.len(), "{part:?} of an item without one");
        let mut bytes = self.bytes.to_vec();
        bytes[at] ^= 0x20;
        BundleItem {
            id: self.id,
            bytes: bytes.into(),
        }
    }
}

/// Tags from text pairs.
pub fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(n, v)| Tag {
            name: n.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        })
        .collect()
}

/// An item of `kind` over `data`, signed with a fixed key of that kind (the test wallet for
/// type 1), so the same inputs give the same id.
pub fn signed_item(
    kind: SignatureType,
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: &[Tag],
    data: &[u8],
) -> Vec<u8> {
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let eth = k256::ecdsa::SigningKey::from_slice(&[9; 32]).expect("a valid secp256k1 key");
    let wallet = TestWallet::fixed();
    let owner = match kind {
        SignatureType::Arweave => wallet.owner(),
        SignatureType::Ed25519 | SignatureType::Solana => ed.verifying_key().to_bytes().to_vec(),
        SignatureType::Ethereum => eth
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        other => vec![5; other.lengths().1],
    };
    let message = message_to_sign(kind, &owner, target, anchor, tags, data);
    let signature = match kind {
        SignatureType::Arweave => wallet.sign(&message, &mut rand::rngs::StdRng::seed_from_u64(1)),
        SignatureType::Ed25519 => ed25519_dalek::Signer::sign(&ed, &message)
            .to_bytes()
            .to_vec(),
        // arbundles' HexSolanaSigner signs the deep hash's hex text.
        SignatureType::Solana => ed25519_dalek::Signer::sign(&ed, hex::encode(message).as_bytes())
            .to_bytes()
            .to_vec(),
        // EIP-191 personal message, recovery byte 27/28 last (as ethers signs).
        SignatureType::Ethereum => {
            let hash = sha3::Keccak256::new()
                .chain_update(b"\x19Ethereum Signed Message:\n48")
                .chain_update(message)
                .finalize();
            let (signature, recovery) = eth
                .sign_prehash_recoverable(&hash)
                .expect("signing a 32-byte hash");
            [&signature.to_bytes()[..], &[27 + recovery.to_byte()]].concat()
        }
        other => {
            // Distinct per message, so distinct items get distinct ids.
            let seed = sha2::Sha256::digest(message);
            seed.iter()
                .cycle()
                .take(other.lengths().0)
                .copied()
                .collect()
        }
    };
    let mut item = (kind as u16).to_le_bytes().to_vec();
    item.extend_from_slice(&signature);
    item.extend_from_slice(&header_after_signature(&owner, target, anchor, tags));
    item.extend_from_slice(data);
    item
}

/// A bundle of `items`, itself wrapped as an ed25519-signed data item tagged as a bundle:
/// what a nested bundle is.
pub fn nested_bundle_item(items: &[BundleItem]) -> BundleItem {
    let bundle = bundle_bytes(items);
    let mut tags = weavedrive_cache::arweave::bundle::bundle_tags();
    tags.extend(self::tags(&[("Nested", "yes")]));
    BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags,
        &bundle,
    ))
}

/// A path manifest (see [`crate::path_manifest`]) as an ed25519-signed data item with the
/// manifest content type, as bundlers post manifests.
pub fn manifest_item(index: Option<&str>, paths: &[(&str, TxId)]) -> BundleItem {
    let tags = tags(&[("Content-Type", crate::MANIFEST_CONTENT_TYPE)]);
    let manifest = crate::path_manifest(index, paths);
    BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags,
        &manifest,
    ))
}

pub fn bundle_bytes(items: &[BundleItem]) -> Vec<u8> {
    let listed: Vec<(TxId, &[u8])> = items.iter().map(|i| (i.id, &i.bytes[..])).collect();
    weavedrive_cache::arweave::bundle::write(&listed)
}
