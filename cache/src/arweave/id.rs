//! Transaction and data item ids: 32 bytes, written as 43 base64url characters.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::b64;

/// The id of a transaction or data item: `sha256(signature)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub [u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("invalid Arweave id {0:?}: expected 43 base64url characters")]
    Malformed(String),
}

impl TxId {
    /// The id a signature commits to.
    pub fn from_signature(signature: &[u8]) -> Self {
        TxId(Sha256::digest(signature).into())
    }
}

impl FromStr for TxId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        let malformed = || IdError::Malformed(text.chars().take(100).collect());
        if text.len() != 43
            || !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(malformed());
        }
        let bytes = b64::decode(text).map_err(|_| malformed())?;
        let id: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
        // 43 chars carry 258 bits: reject the non-canonical spellings of the same 32 bytes,
        // so one id has exactly one path under /data.
        if b64::encode(&id) != text {
            return Err(malformed());
        }
        Ok(TxId(id))
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64::encode(&self.0))
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({self})")
    }
}

impl serde::Serialize for TxId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TxId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_ids() {
        let id = TxId([7u8; 32]);
        let text = id.to_string();
        assert_eq!(text.len(), 43);
        assert_eq!(text.parse::<TxId>().unwrap(), id);
        for bad in [
            "",
            "abc",
            &text[..42],
            &format!("{text}A"),
            &format!("{}=", &text[..42]),
            &format!("{}+", &text[..42]),
            "../../../../../../../../../../../etc/passwd",
        ] {
            assert!(bad.parse::<TxId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        let text = TxId([0u8; 32]).to_string();
        assert!(text.ends_with('A'));
        let other = format!("{}B", &text[..42]);
        assert!(other.parse::<TxId>().is_err());
    }
}
