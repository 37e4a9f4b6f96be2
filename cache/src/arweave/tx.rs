//! Transaction headers (formats 1 and 2): parsing the gateway JSON and authenticating it.
//!
//! A header is authentic for an id when `id == sha256(signature)` and the signature verifies
//! against `owner` over the header's signature message. For format 2 that one check vouches
//! for `data_root`, `data_size` and the tags, which is why no other trust in gateways is
//! needed. Format 1 signs `owner‖target‖data‖quantity‖reward‖last_tx‖tags` with no lengths:
//! the signature vouches for those bytes, not for where one field ends and the next begins.
//! The field rules nodes enforce ([`TxHeader::check_rules`]) rule out most other splits;
//! [`FORMAT1_NOTE`] says what they leave open.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::b64;
use super::deep_hash::{DeepHashItem, deep_hash};
use super::id::TxId;
use super::merkle::Hash;
use super::rsa_pss;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// A parsed header. Binary fields are decoded; `quantity` and `reward` stay as the decimal
/// strings that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxHeader {
    pub format: u8,
    pub id: TxId,
    pub last_tx: Vec<u8>,
    pub owner: Vec<u8>,
    pub tags: Vec<Tag>,
    pub target: Vec<u8>,
    pub quantity: String,
    /// Inline data (format 1 only; empty when the gateway leaves it out).
    pub data: Vec<u8>,
    pub data_size: u64,
    /// Merkle root of the data (format 2; `None` for format 1 or empty data).
    pub data_root: Option<Hash>,
    pub reward: String,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    #[error("malformed transaction header: {0}")]
    Malformed(String),
    #[error("unsupported transaction format {0}")]
    UnsupportedFormat(u64),
    #[error("header id {got} does not match the requested id {expected}")]
    WrongId { expected: TxId, got: TxId },
    #[error("signature does not hash to the transaction id")]
    IdNotSignature,
    #[error("signature does not verify against the owner's key")]
    BadSignature,
    /// A format-1 signature covers the data, which the gateway left out of the header.
    #[error("format-1 header without its data cannot be verified on its own")]
    NeedsData,
    /// A field breaks a rule every node enforces (so no valid transaction has it); the text
    /// names the field, its value or size, and the rule. Checked before any signature work.
    #[error("header breaks a protocol rule: {0}")]
    Rule(String),
}

/// The most data a format-1 transaction can carry: nodes refuse more (ArweaveTeam/arweave,
/// `apps/arweave/include/ar.hrl`: `-define(TX_DATA_SIZE_LIMIT, 10 * ?MiB).`, checked on
/// `byte_size(TX#tx.data)` in `ar_tx:tx_field_size_limit_v1/3`).
pub const FORMAT1_MAX_DATA: u64 = 10 * 1024 * 1024;

/// The longest `target`: an address, sha256 of an owner (`ar_tx:verify_target_length/2`).
const TARGET_BYTES: usize = 32;

/// `last_tx` anchors: empty (a wallet's first transaction), a transaction id (32 bytes), or
/// a block hash (48 bytes, accepted since fork 1.8); nodes refuse longer ones
/// (`ar_tx:tx_field_size_limit_v1/3` and `_v2/3`).
const LAST_TX_SIZES: [usize; 3] = [0, 32, 48];

/// What frontends say of every format-1 transaction (`stat`, `/tx/<id>` JSON): what its
/// signature proves, and which re-splits of the signed bytes the node's field rules leave
/// open (the same signature and id, read as different fields).
pub const FORMAT1_NOTE: &str = "format 1 signs owner, target, data, quantity, reward, \
last_tx and tags run together without lengths: the signature proves those bytes, not where \
one field ends and the next begins. The field rules nodes enforce narrow the other readings \
but leave some: with quantity 0, 32 bytes can move between the target and the start of the \
data; the data can end earlier or later wherever the bytes after it still read as quantity \
and reward (decimal digits) and a last_tx of 0, 32 or 48 bytes; and the tags can be cut \
anywhere. With several gateways, their verified fields are compared: two that agree settle \
them, and differing fields with no two agreeing are refused.";

/// Most bytes of tag names and values together (`ar_tx:validate_tags_size/2`).
const MAX_TAG_BYTES: usize = 2048;

/// The JSON shape gateways serve. Numbers arrive as strings or as numbers depending on the
/// server, so both are accepted.
#[derive(Deserialize, Serialize)]
struct HeaderJson {
    format: Option<NumOrString>,
    id: String,
    #[serde(default)]
    last_tx: String,
    owner: String,
    #[serde(default)]
    tags: Vec<TagJson>,
    #[serde(default)]
    target: String,
    #[serde(default)]
    quantity: NumOrString,
    #[serde(default)]
    data: String,
    #[serde(default)]
    data_size: NumOrString,
    #[serde(default)]
    data_root: String,
    #[serde(default)]
    reward: NumOrString,
    signature: String,
}

#[derive(Deserialize, Serialize)]
struct TagJson {
    name: String,
    value: String,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(untagged)]
enum NumOrString {
    Num(u64),
    Str(String),
}

impl Default for NumOrString {
    fn default() -> Self {
        NumOrString::Str("0".into())
    }
}

impl NumOrString {
    fn as_decimal(&self, field: &str) -> Result<String, TxError> {
        let text = match self {
            NumOrString::Num(n) => n.to_string(),
            NumOrString::Str(s) => s.clone(),
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TxError::Malformed(format!(
                "{field} is not a decimal number"
            )));
        }
        check_canonical(field, &text)?;
        Ok(text)
    }
}

/// Nodes sign `integer_to_binary(N)`: digits only, no leading zero. An extra `0` would be a
/// signed byte that could have belonged to the neighbouring field (format 1).
fn check_canonical(field: &str, text: &str) -> Result<(), TxError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(TxError::Rule(format!(
            "{field} {text:?} is not a canonical decimal (digits only, no sign, no leading zeros)"
        )));
    }
    Ok(())
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, TxError> {
    b64::decode(text).map_err(|_| TxError::Malformed(format!("{field} is not base64url")))
}

impl TxHeader {
    /// Parses header JSON without authenticating it (see [`TxHeader::verify`]).
    pub fn from_json(json: &[u8]) -> Result<Self, TxError> {
        let raw: HeaderJson =
            serde_json::from_slice(json).map_err(|e| TxError::Malformed(e.to_string()))?;
        let format = match raw.format {
            None => 1,
            Some(f) => f.as_decimal("format")?.parse::<u64>().unwrap_or(u64::MAX),
        };
        if format != 1 && format != 2 {
            return Err(TxError::UnsupportedFormat(format));
        }
        let id = raw
            .id
            .parse()
            .map_err(|e: super::IdError| TxError::Malformed(e.to_string()))?;
        let tags = raw
            .tags
            .iter()
            .map(|t| {
                Ok(Tag {
                    name: decode("tag name", &t.name)?,
                    value: decode("tag value", &t.value)?,
                })
            })
            .collect::<Result<_, TxError>>()?;
        let data_root = match decode("data_root", &raw.data_root)? {
            r if r.is_empty() => None,
            r => Some(
                r.try_into()
                    .map_err(|_| TxError::Malformed("data_root is not 32 bytes".into()))?,
            ),
        };
        let data_size = raw
            .data_size
            .as_decimal("data_size")?
            .parse::<u64>()
            .map_err(|_| TxError::Malformed("data_size does not fit in 64 bits".into()))?;
        let mut header = TxHeader {
            format: format as u8,
            id,
            last_tx: decode("last_tx", &raw.last_tx)?,
            owner: decode("owner", &raw.owner)?,
            tags,
            target: decode("target", &raw.target)?,
            quantity: raw.quantity.as_decimal("quantity")?,
            data: decode("data", &raw.data)?,
            data_size,
            data_root,
            reward: raw.reward.as_decimal("reward")?,
            signature: decode("signature", &raw.signature)?,
        };
        // Fields a format does not sign are dropped rather than kept unverified: format 2
        // signs data_root, not the data; format 1 signs the data, and has no data_root.
        match header.format {
            2 => header.data = Vec::new(),
            _ => header.data_root = None,
        }
        header.check_rules()?;
        Ok(header)
    }

    /// Parses and authenticates a header served for `expected`.
    pub fn from_json_verified(json: &[u8], expected: &TxId) -> Result<Self, TxError> {
        let header = Self::from_json(json)?;
        if header.id != *expected {
            return Err(TxError::WrongId {
                expected: *expected,
                got: header.id,
            });
        }
        header.verify()?;
        Ok(header)
    }

    /// The field rules every node enforces (ArweaveTeam/arweave `ar_tx.erl`: field sizes,
    /// target length, canonical integers, the format-1 data limit), checked before any
    /// signature work. For format 1 they also narrow which field splits a signature allows.
    pub fn check_rules(&self) -> Result<(), TxError> {
        let rule = |text: String| Err(TxError::Rule(text));
        if self.owner.len() != rsa_pss::ARWEAVE_KEY_BYTES {
            return rule(format!(
                "owner is {} bytes: transactions are signed by 4096-bit RSA keys, whose \
                 owner (the modulus) is {} bytes",
                self.owner.len(),
                rsa_pss::ARWEAVE_KEY_BYTES
            ));
        }
        if self.signature.len() != rsa_pss::ARWEAVE_KEY_BYTES {
            return rule(format!(
                "signature is {} bytes: a 4096-bit RSA signature is {} bytes",
                self.signature.len(),
                rsa_pss::ARWEAVE_KEY_BYTES
            ));
        }
        check_canonical("quantity", &self.quantity)?;
        check_canonical("reward", &self.reward)?;
        if !LAST_TX_SIZES.contains(&self.last_tx.len()) {
            return rule(format!(
                "last_tx is {} bytes: an anchor is empty, a 32-byte transaction id or a \
                 48-byte block hash",
                self.last_tx.len()
            ));
        }
        let tag_bytes: usize = self.tags.iter().map(|t| t.name.len() + t.value.len()).sum();
        if tag_bytes > MAX_TAG_BYTES {
            return rule(format!(
                "tags are {tag_bytes} bytes: nodes accept at most {MAX_TAG_BYTES} bytes of tag \
                 names and values"
            ));
        }
        if self.target.len() > TARGET_BYTES {
            return rule(format!(
                "target is {} bytes: an address is {TARGET_BYTES} bytes",
                self.target.len()
            ));
        }
        if !self.data.is_empty() && self.data.len() as u64 != self.data_size {
            return rule(format!(
                "data_size says {}, the inline data is {} bytes",
                self.data_size,
                self.data.len()
            ));
        }
        match self.format {
            2 if self.data_size > 0 && self.data_root.is_none() => Err(TxError::Malformed(
                "format 2 transaction with data has no data_root".into(),
            )),
            // The next two rules (nodes since fork 2.4) pin the target/data boundary of
            // format 1; format 2 signs field boundaries, and older format-2 transactions may
            // break them validly, so they are not applied there.
            1 if !self.target.is_empty() && self.target.len() != TARGET_BYTES => rule(format!(
                "target is {} bytes: format 1 allows only none or a {TARGET_BYTES}-byte \
                 address",
                self.target.len()
            )),
            1 if self.target.is_empty() && self.quantity != "0" => rule(format!(
                "quantity is {} with no target: a transfer needs a {TARGET_BYTES}-byte target",
                self.quantity
            )),
            1 if self.data_size > FORMAT1_MAX_DATA => rule(format!(
                "data_size {} is above the {} MiB nodes allow format-1 data",
                self.data_size,
                FORMAT1_MAX_DATA >> 20
            )),
            _ => Ok(()),
        }
    }

    /// Checks the field rules, `id == sha256(signature)` and the RSA-PSS signature over the
    /// header. Costs one 4096-bit RSA operation (about a millisecond): async callers run it
    /// off the runtime threads.
    pub fn verify(&self) -> Result<(), TxError> {
        self.check_rules()?;
        if TxId::from_signature(&self.signature) != self.id {
            return Err(TxError::IdNotSignature);
        }
        let message = self.signature_message().ok_or(TxError::NeedsData)?;
        if !rsa_pss::verify(&self.owner, &message, &self.signature) {
            return Err(TxError::BadSignature);
        }
        Ok(())
    }

    /// The bytes the owner signs. For format 1 this includes the inline data, so it needs
    /// `data` present (returns `None` when a non-empty format-1 body was left out).
    pub fn signature_message(&self) -> Option<Vec<u8>> {
        self.signature_message_with_data(&self.data)
    }

    /// As [`Self::signature_message`], with format-1 data supplied from elsewhere (e.g. fetched
    /// from `/{id}`), so the data itself is authenticated by the signature.
    pub fn signature_message_with_data(&self, data: &[u8]) -> Option<Vec<u8>> {
        match self.format {
            1 => {
                if data.len() as u64 != self.data_size {
                    return None;
                }
                let mut msg = Vec::new();
                for part in [&self.owner, &self.target, &data.to_vec()] {
                    msg.extend_from_slice(part);
                }
                msg.extend_from_slice(self.quantity.as_bytes());
                msg.extend_from_slice(self.reward.as_bytes());
                msg.extend_from_slice(&self.last_tx);
                for tag in &self.tags {
                    msg.extend_from_slice(&tag.name);
                    msg.extend_from_slice(&tag.value);
                }
                Some(msg)
            }
            _ => {
                let data_size = self.data_size.to_string();
                let data_root = self.data_root.map(|r| r.to_vec()).unwrap_or_default();
                let tags = self
                    .tags
                    .iter()
                    .map(|t| {
                        DeepHashItem::List(vec![
                            DeepHashItem::Blob(&t.name),
                            DeepHashItem::Blob(&t.value),
                        ])
                    })
                    .collect();
                let item = DeepHashItem::List(vec![
                    DeepHashItem::Blob(b"2"),
                    DeepHashItem::Blob(&self.owner),
                    DeepHashItem::Blob(&self.target),
                    DeepHashItem::Blob(self.quantity.as_bytes()),
                    DeepHashItem::Blob(self.reward.as_bytes()),
                    DeepHashItem::Blob(&self.last_tx),
                    DeepHashItem::List(tags),
                    DeepHashItem::Blob(data_size.as_bytes()),
                    DeepHashItem::Blob(&data_root),
                ]);
                Some(deep_hash(&item).to_vec())
            }
        }
    }

    /// Attaches format-1 data fetched separately and verifies the whole header with it.
    pub fn verify_with_data(mut self, data: Vec<u8>) -> Result<Self, TxError> {
        if data.len() as u64 != self.data_size {
            return Err(TxError::Rule(format!(
                "data is {} bytes, data_size says {}",
                data.len(),
                self.data_size
            )));
        }
        self.data = data;
        self.verify()?;
        Ok(self)
    }

    /// The owner's wallet address: base64url(sha256(owner)).
    pub fn owner_address(&self) -> String {
        b64::encode(&Sha256::digest(&self.owner))
    }

    /// The header as gateway JSON (format 2 shape; used by the test gateway and `/tx/<id>`).
    pub fn to_json(&self) -> serde_json::Value {
        let raw = HeaderJson {
            format: Some(NumOrString::Num(self.format as u64)),
            id: self.id.to_string(),
            last_tx: b64::encode(&self.last_tx),
            owner: b64::encode(&self.owner),
            tags: self
                .tags
                .iter()
                .map(|t| TagJson {
                    name: b64::encode(&t.name),
                    value: b64::encode(&t.value),
                })
                .collect(),
            target: b64::encode(&self.target),
            quantity: NumOrString::Str(self.quantity.clone()),
            data: b64::encode(&self.data),
            data_size: NumOrString::Str(self.data_size.to_string()),
            data_root: self.data_root.map(|r| b64::encode(&r)).unwrap_or_default(),
            reward: NumOrString::Str(self.reward.clone()),
            signature: b64::encode(&self.signature),
        };
        serde_json::to_value(raw).expect("header serialises")
    }
}
