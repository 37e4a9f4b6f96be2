//! ANS-104 data items: the binary header (signature type, signature, owner, optional target
//! and anchor, Avro-encoded tags) in front of the data, and its signature over the deep hash
//! `["dataitem", "1", type, owner, target, anchor, tags, data]`. The item id is the SHA-256
//! of the signature. Arweave (RSA-PSS), ed25519, Solana (ed25519) and Ethereum (secp256k1
//! over the EIP-191 message hash) signatures are verified; Aptos, multi-Aptos and typed
//! Ethereum items parse and report themselves unverified.

use sha2::{Digest, Sha384};

use super::deep_hash::{DeepHashItem, deep_hash};
use super::{Tag, TxId, rsa_pss};

/// Limits from the ANS-104 spec: more tags, or longer names or values, make an item invalid.
const MAX_TAGS: usize = 128;
const MAX_TAG_NAME: usize = 1024;
const MAX_TAG_VALUE: usize = 3072;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    Arweave = 1,
    Ed25519 = 2,
    Ethereum = 3,
    Solana = 4,
    Aptos = 5,
    MultiAptos = 6,
    TypedEthereum = 7,
}

impl SignatureType {
    pub fn from_u16(value: u16) -> Option<Self> {
        use SignatureType::*;
        Some(match value {
            1 => Arweave,
            2 => Ed25519,
            3 => Ethereum,
            4 => Solana,
            5 => Aptos,
            6 => MultiAptos,
            7 => TypedEthereum,
            _ => return None,
        })
    }

    /// Signature and owner lengths in bytes.
    pub fn lengths(self) -> (usize, usize) {
        use SignatureType::*;
        match self {
            Arweave => (512, 512),
            Ed25519 | Solana | Aptos => (64, 32),
            Ethereum => (65, 65),
            MultiAptos => (2052, 1025),
            TypedEthereum => (65, 42),
        }
    }

    /// Whether this crate checks signatures of this type.
    pub fn is_verified(self) -> bool {
        use SignatureType::*;
        matches!(self, Arweave | Ed25519 | Ethereum | Solana)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    #[error("data item truncated: {0}")]
    Truncated(&'static str),
    #[error("unknown data item signature type {0}")]
    UnknownSignatureType(u16),
    #[error("data item {0} flag is {1}, not 0 or 1")]
    BadFlag(&'static str, u8),
    #[error("data item tags: {0}")]
    BadTags(String),
    #[error("data item signature does not verify")]
    BadSignature,
    /// The owner or signature is not the size its signature type has (a type-1 owner is a
    /// 4096-bit RSA key); refused before any signature arithmetic.
    #[error("data item of signature type {0}: {1}")]
    KeySize(u16, String),
}

/// A parsed item header; the data is what follows `data_offset` in the item's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItem {
    pub signature_type: SignatureType,
    pub signature: Vec<u8>,
    pub owner: Vec<u8>,
    pub target: Option<[u8; 32]>,
    pub anchor: Option<[u8; 32]>,
    pub tags: Vec<Tag>,
    /// The tags as signed (Avro), which the signature covers byte for byte.
    pub raw_tags: Vec<u8>,
    /// Where the data starts in the item.
    pub data_offset: usize,
}

/// What [`DataItem::verify`] could establish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verified,
    /// A signature type this crate parses but does not check.
    Unverified(SignatureType),
}

impl DataItem {
    /// Parses the header at the start of `item` (the data may follow or not).
    pub fn parse_header(item: &[u8]) -> Result<DataItem, ItemError> {
        let mut at = Cursor {
            bytes: item,
            pos: 0,
        };
        let raw_type = u16::from_le_bytes(at.take(2, "signature type")?.try_into().unwrap());
        let signature_type =
            SignatureType::from_u16(raw_type).ok_or(ItemError::UnknownSignatureType(raw_type))?;
        let (signature_len, owner_len) = signature_type.lengths();
        let signature = at.take(signature_len, "signature")?.to_vec();
        let owner = at.take(owner_len, "owner")?.to_vec();
        let target = at.optional_32("target")?;
        let anchor = at.optional_32("anchor")?;
        let tag_count = at.u64("tag count")?;
        let tag_bytes = at.u64("tag bytes")?;
        let raw_tags = at
            .take(
                usize::try_from(tag_bytes).map_err(|_| ItemError::Truncated("tags"))?,
                "tags",
            )?
            .to_vec();
        let tags = decode_tags(&raw_tags)?;
        if tags.len() as u64 != tag_count {
            return Err(ItemError::BadTags(format!(
                "header says {tag_count} tags, found {}",
                tags.len()
            )));
        }
        Ok(DataItem {
            signature_type,
            signature,
            owner,
            target,
            anchor,
            tags,
            raw_tags,
            data_offset: at.pos,
        })
    }

    pub fn id(&self) -> TxId {
        TxId::from_signature(&self.signature)
    }

    /// Checks the signature over the header and `data` (the item's bytes after
    /// `data_offset`).
    pub fn verify(&self, data: &[u8]) -> Result<Verification, ItemError> {
        self.verify_with_data_digest(data.len() as u64, Sha384::digest(data).into())
    }

    /// [`Self::verify`] for data too large to hold: its length and SHA-384.
    pub fn verify_with_data_digest(
        &self,
        data_len: u64,
        data_sha384: [u8; 48],
    ) -> Result<Verification, ItemError> {
        if !self.signature_type.is_verified() {
            return Ok(Verification::Unverified(self.signature_type));
        }
        self.check_key_size()?;
        let message = self.signed_message(data_len, data_sha384);
        let valid = match self.signature_type {
            SignatureType::Arweave => rsa_pss::verify(&self.owner, &message, &self.signature),
            SignatureType::Ed25519 => verify_ed25519(&self.owner, &message, &self.signature),
            // The reference signer for type 4 (arbundles' HexSolanaSigner) signs the deep
            // hash's lowercase hex text, not its bytes.
            SignatureType::Solana => verify_ed25519(
                &self.owner,
                hex::encode(message).as_bytes(),
                &self.signature,
            ),
            SignatureType::Ethereum => verify_ethereum(&self.owner, &message, &self.signature),
            _ => unreachable!("checked by is_verified"),
        };
        if valid {
            Ok(Verification::Verified)
        } else {
            Err(ItemError::BadSignature)
        }
    }

    /// Parsed items have these sizes by construction; a `DataItem` built any other way is
    /// held to them too, so a huge "RSA key" never reaches the big-number code.
    fn check_key_size(&self) -> Result<(), ItemError> {
        let (signature_len, owner_len) = self.signature_type.lengths();
        let kind = self.signature_type as u16;
        if self.owner.len() != owner_len {
            return Err(ItemError::KeySize(
                kind,
                format!("owner is {} bytes, not {owner_len}", self.owner.len()),
            ));
        }
        if self.signature.len() != signature_len {
            return Err(ItemError::KeySize(
                kind,
                format!(
                    "signature is {} bytes, not {signature_len}",
                    self.signature.len()
                ),
            ));
        }
        Ok(())
    }

    /// The deep hash the signature signs.
    fn signed_message(&self, data_len: u64, data_sha384: [u8; 48]) -> [u8; 48] {
        let type_text = (self.signature_type as u16).to_string();
        let target = self.target.map(|t| t.to_vec()).unwrap_or_default();
        let anchor = self.anchor.map(|a| a.to_vec()).unwrap_or_default();
        deep_hash(&DeepHashItem::List(vec![
            DeepHashItem::Blob(b"dataitem"),
            DeepHashItem::Blob(b"1"),
            DeepHashItem::Blob(type_text.as_bytes()),
            DeepHashItem::Blob(&self.owner),
            DeepHashItem::Blob(&target),
            DeepHashItem::Blob(&anchor),
            DeepHashItem::Blob(&self.raw_tags),
            DeepHashItem::HashedBlob {
                len: data_len,
                sha384: data_sha384,
            },
        ]))
    }
}

fn verify_ed25519(owner: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(owner), <[u8; 64]>::try_from(signature))
    else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
        .is_ok()
}

/// Ethereum signers sign the EIP-191 personal message: keccak256 of
/// "\x19Ethereum Signed Message:\n" + decimal length + message. The owner is the uncompressed
/// public key. Checked as the reference (ethers' verifyMessage) does: the key recovered with
/// the recovery byte (27/28 or 0/1) must be the owner; s must be in the low half (EIP-2), so
/// one signed item has one signature, hence one id.
fn verify_ethereum(owner: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    use sha3::Keccak256;
    let (Ok(owner), Some((&v, rs))) =
        (VerifyingKey::from_sec1_bytes(owner), signature.split_last())
    else {
        return false;
    };
    let (Ok(signature), Some(recovery)) = (
        Signature::from_slice(rs),
        RecoveryId::from_byte(if v >= 27 { v - 27 } else { v }),
    ) else {
        return false;
    };
    if signature.normalize_s().is_some() {
        return false;
    }
    let prefix = format!("\x19Ethereum Signed Message:\n{}", message.len());
    let hash = Keccak256::new()
        .chain_update(prefix.as_bytes())
        .chain_update(message)
        .finalize();
    VerifyingKey::recover_from_prehash(&hash, &signature, recovery).is_ok_and(|key| key == owner)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], ItemError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(ItemError::Truncated(what))?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, ItemError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    fn optional_32(&mut self, what: &'static str) -> Result<Option<[u8; 32]>, ItemError> {
        match self.take(1, what)?[0] {
            0 => Ok(None),
            1 => Ok(Some(self.take(32, what)?.try_into().unwrap())),
            flag => Err(ItemError::BadFlag(what, flag)),
        }
    }
}

/// Avro: an array of records {name: bytes, value: bytes} in blocks, each block a zigzag
/// count (negative: followed by its byte size), ended by a count of 0.
fn decode_tags(raw: &[u8]) -> Result<Vec<Tag>, ItemError> {
    let bad = |why: &str| ItemError::BadTags(why.to_string());
    let mut tags = Vec::new();
    if raw.is_empty() {
        return Ok(tags);
    }
    let mut at = 0usize;
    loop {
        let mut count = zigzag(raw, &mut at)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg().ok_or_else(|| bad("block count"))?;
            zigzag(raw, &mut at)?; // The block's size in bytes: not needed.
        }
        for _ in 0..count {
            if tags.len() == MAX_TAGS {
                return Err(bad("more than 128 tags"));
            }
            let name = avro_bytes(raw, &mut at, MAX_TAG_NAME, "name")?;
            let value = avro_bytes(raw, &mut at, MAX_TAG_VALUE, "value")?;
            if name.is_empty() {
                return Err(bad("empty tag name"));
            }
            tags.push(Tag { name, value });
        }
    }
    if at != raw.len() {
        return Err(bad("bytes after the last tag"));
    }
    Ok(tags)
}

fn avro_bytes(raw: &[u8], at: &mut usize, max: usize, what: &str) -> Result<Vec<u8>, ItemError> {
    let len = zigzag(raw, at)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= max)
        .ok_or_else(|| ItemError::BadTags(format!("tag {what} length {len}")))?;
    let end = at
        .checked_add(len)
        .filter(|&end| end <= raw.len())
        .ok_or(ItemError::Truncated("tag bytes"))?;
    let bytes = raw[*at..end].to_vec();
    *at = end;
    Ok(bytes)
}

/// An Avro long: a zigzag-encoded varint of at most 10 bytes.
fn zigzag(raw: &[u8], at: &mut usize) -> Result<i64, ItemError> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *raw.get(*at).ok_or(ItemError::Truncated("tag varint"))?;
        *at += 1;
        if shift == 63 && byte > 1 {
            return Err(ItemError::BadTags("varint overflows 64 bits".into()));
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(ItemError::BadTags("varint longer than 10 bytes".into()))
}

/// The Avro encoding of `tags`, as signers write it (one block, then the end marker).
pub fn encode_tags(tags: &[Tag]) -> Vec<u8> {
    fn long(out: &mut Vec<u8>, value: i64) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut out = Vec::new();
    if tags.is_empty() {
        return out;
    }
    long(&mut out, tags.len() as i64);
    for tag in tags {
        long(&mut out, tag.name.len() as i64);
        out.extend_from_slice(&tag.name);
        long(&mut out, tag.value.len() as i64);
        out.extend_from_slice(&tag.value);
    }
    long(&mut out, 0);
    out
}

/// The raw bytes of an unsigned item's header fields after the signature slot, for signers
/// (tests, the test gateway): owner, target, anchor, tag counts and tags.
pub fn header_after_signature(
    owner: &[u8],
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: &[Tag],
) -> Vec<u8> {
    let raw_tags = encode_tags(tags);
    let mut out = owner.to_vec();
    for field in [target, anchor] {
        match field {
            Some(bytes) => {
                out.push(1);
                out.extend_from_slice(&bytes);
            }
            None => out.push(0),
        }
    }
    out.extend_from_slice(&(tags.len() as u64).to_le_bytes());
    out.extend_from_slice(&(raw_tags.len() as u64).to_le_bytes());
    out.extend_from_slice(&raw_tags);
    out
}

/// The message a signer of type `signature_type` signs for these fields and data (the deep
/// hash; Ethereum signers then apply EIP-191 themselves).
pub fn message_to_sign(
    signature_type: SignatureType,
    owner: &[u8],
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: &[Tag],
    data: &[u8],
) -> [u8; 48] {
    DataItem {
        signature_type,
        signature: Vec::new(),
        owner: owner.to_vec(),
        target,
        anchor,
        tags: tags.to_vec(),
        raw_tags: encode_tags(tags),
        data_offset: 0,
    }
    .signed_message(data.len() as u64, Sha384::digest(data).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Vec<Tag> {
        vec![
            Tag {
                name: b"Content-Type".to_vec(),
                value: b"application/octet-stream".to_vec(),
            },
            Tag {
                name: b"App-Name".to_vec(),
                value: vec![0xff, 0, 7],
            },
        ]
    }

    #[test]
    fn tag_codec_round_trips_and_enforces_the_limits() {
        let too_many: Vec<Tag> = (0..129)
            .map(|i| Tag {
                name: format!("n{i}").into_bytes(),
                value: vec![],
            })
            .collect();
        assert!(matches!(
            decode_tags(&encode_tags(&too_many)),
            Err(ItemError::BadTags(_))
        ));
        assert_eq!(decode_tags(&encode_tags(&tags())), Ok(tags()));
        assert_eq!(decode_tags(&[]), Ok(vec![]));
    }

    /// A type-1 item whose owner is a 256 KiB "key" is refused at once, not after minutes of
    /// arithmetic.
    #[test]
    fn huge_rsa_owner_is_refused_before_any_arithmetic() {
        let owner = vec![0xff; 256 * 1024];
        let mut signature = vec![0xff; 256 * 1024];
        signature[0] = 0x7f;
        let item = DataItem {
            signature_type: SignatureType::Arweave,
            signature,
            owner,
            target: None,
            anchor: None,
            tags: vec![],
            raw_tags: vec![],
            data_offset: 0,
        };
        let started = std::time::Instant::now();
        let verdict = item.verify(b"data");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            verdict,
            Err(ItemError::KeySize(
                1,
                "owner is 262144 bytes, not 512".into()
            ))
        );
    }

    /// Items signed by arbundles (the reference implementation, `interop/ans104-items.js`):
    /// 4 of each verified type, with and without target, anchor, tags and data.
    #[test]
    fn items_signed_by_arbundles_parse_and_verify() {
        use crate::arweave::b64;
        use base64::Engine;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../interop/ans104-vectors.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut per_type = std::collections::HashMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let case = format!("type {} {}", v["signature_type"], v["case"]);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v["raw_b64"].as_str().unwrap())
                .unwrap();
            let item = DataItem::parse_header(&raw).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(item.signature_type as u64, v["signature_type"], "{case}");
            assert_eq!(item.id().to_string(), v["id"].as_str().unwrap(), "{case}");
            assert_eq!(b64::encode(&item.owner), v["owner_b64url"], "{case}");
            let optional =
                |field: Option<[u8; 32]>| field.map(|f| b64::encode(&f)).unwrap_or_default();
            assert_eq!(optional(item.target), v["target_b64url"], "{case}");
            assert_eq!(optional(item.anchor), v["anchor_b64url"], "{case}");
            let tags: Vec<(String, String)> = item
                .tags
                .iter()
                .map(|t| {
                    (
                        String::from_utf8(t.name.clone()).unwrap(),
                        String::from_utf8(t.value.clone()).unwrap(),
                    )
                })
                .collect();
            let expected: Vec<(String, String)> = v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap().into(),
                        t["value"].as_str().unwrap().into(),
                    )
                })
                .collect();
            assert_eq!(tags, expected, "{case}");
            let data = &raw[item.data_offset..];
            let expected_data = base64::engine::general_purpose::STANDARD
                .decode(v["data_b64"].as_str().unwrap())
                .unwrap();
            assert_eq!(data, &expected_data[..], "{case}");
            assert_eq!(item.verify(data), Ok(Verification::Verified), "{case}");
            let mut altered = raw.clone();
            *altered.last_mut().unwrap() ^= 1;
            let verdict = DataItem::parse_header(&altered)
                .and_then(|altered_item| altered_item.verify(&altered[altered_item.data_offset..]));
            assert!(verdict.is_err(), "{case}: last byte flipped and accepted");
            *per_type.entry(item.signature_type).or_insert(0) += 1;
        }
        assert_eq!(per_type.len(), 4, "{per_type:?}");
        assert!(per_type.values().all(|&n| n == 4), "{per_type:?}");
    }
}
