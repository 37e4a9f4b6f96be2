//! Transaction headers (formats 1 and 2): parsing the gateway JSON and authenticating it.
//!
//! A header is authentic for an id when `id == sha256(signature)` and the signature verifies
//! against `owner` over the header's signature message. That one check vouches for
//! `data_root`, `data_size` and the tags, which is why no other trust in gateways is needed.

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
}

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
        Ok(text)
    }
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
        let header = TxHeader {
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
        header.check_shape()?;
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

    fn check_shape(&self) -> Result<(), TxError> {
        match self.format {
            2 if self.data_size > 0 && self.data_root.is_none() => Err(TxError::Malformed(
                "format 2 transaction with data has no data_root".into(),
            )),
            1 if !self.data.is_empty() && self.data.len() as u64 != self.data_size => Err(
                TxError::Malformed("inline data length differs from data_size".into()),
            ),
            _ => Ok(()),
        }
    }

    /// Checks `id == sha256(signature)` and the RSA-PSS signature over the header.
    pub fn verify(&self) -> Result<(), TxError> {
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
            return Err(TxError::BadSignature);
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
