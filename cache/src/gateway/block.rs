//! Block headers (`/block/height/{h}`). Unlike transactions, a block header is not
//! authenticated by anything we hold: its `indep_hash` is a hash over a fork-dependent
//! serialization of dozens of fields, and checking it proves nothing without a trusted chain
//! tip. So block headers are checked for shape only (the height asked for, a 48-byte
//! indep_hash, well-formed transaction ids) and are labelled unverified wherever they are
//! shown. Nothing read from `/data` depends on them: transactions are authenticated by id.

use serde_json::Value;

use super::client::GatewayClient;
use super::error::{AttemptError, GatewayError};
use super::limits::{self, Limits};
use crate::arweave::{TxId, b64};

/// A block header as a gateway reports it; shape-checked, not authenticated.
#[derive(Debug, Clone)]
pub struct BlockHeader {
    pub height: u64,
    pub indep_hash: Vec<u8>,
    pub txs: Vec<TxId>,
    /// The gateway's JSON, unchanged.
    pub json: Value,
}

impl BlockHeader {
    /// Parses and shape-checks a gateway's answer for `height`.
    pub fn from_json(body: &[u8], height: u64) -> Result<Self, String> {
        let json: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let reported = match &json["height"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        if reported != Some(height) {
            return Err(format!("asked for height {height}, got {}", json["height"]));
        }
        let indep_hash = json["indep_hash"]
            .as_str()
            .and_then(|s| b64::decode(s).ok())
            .filter(|h| h.len() == 48)
            .ok_or("indep_hash is not 48 bytes of base64url")?;
        let txs = match &json["txs"] {
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect::<Option<Vec<TxId>>>()
                .ok_or("txs holds something that is not a transaction id")?,
            Value::Null => Vec::new(),
            _ => return Err("txs is not a list".into()),
        };
        Ok(BlockHeader {
            height,
            indep_hash,
            txs,
            json,
        })
    }
}

impl GatewayClient {
    /// The block at `height`, shape-checked (see the module docs for why not more).
    pub async fn block(&self, height: u64) -> Result<BlockHeader, GatewayError> {
        self.get_checked(
            &format!("block {height}"),
            &format!("block/height/{height}"),
            None,
            Limits::new(self.config().request_timeout, limits::BLOCK_JSON_MAX),
            |reply| BlockHeader::from_json(&reply.body, height).map_err(AttemptError::Integrity),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_checks() {
        let hash = b64::encode(&[7u8; 48]);
        let id = TxId([3; 32]).to_string();
        let good = format!(r#"{{"height":12,"indep_hash":"{hash}","txs":["{id}"]}}"#);
        let block = BlockHeader::from_json(good.as_bytes(), 12).unwrap();
        assert_eq!((block.height, block.txs.len()), (12, 1));
        assert!(BlockHeader::from_json(good.as_bytes(), 13).is_err());
        let as_text = good.replace(r#""height":12"#, r#""height":"12""#);
        assert!(BlockHeader::from_json(as_text.as_bytes(), 12).is_ok());
        let short_hash = good.replace(&hash, &b64::encode(&[7u8; 32]));
        assert!(BlockHeader::from_json(short_hash.as_bytes(), 12).is_err());
        let bad_tx = good.replace(&id, "nope");
        assert!(BlockHeader::from_json(bad_tx.as_bytes(), 12).is_err());
        assert!(BlockHeader::from_json(b"<html>", 12).is_err());
    }
}
