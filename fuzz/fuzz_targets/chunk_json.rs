//! `/chunk` answers: JSON, base64url and proof from an untrusted gateway. Accepted bytes are
//! exactly the proven leaf: their sha256 is the leaf's data hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use weavedrive_cache::TxId;
use weavedrive_cache::gateway::{TxLocation, verify_chunk_json};

fuzz_target!(|data: &[u8]| {
    if data.len() < 48 {
        return;
    }
    let tx = TxLocation {
        id: TxId([7; 32]),
        data_root: data[..32].try_into().unwrap(),
        data_size: u64::from_le_bytes(data[32..40].try_into().unwrap()),
        end_offset: u64::MAX / 2,
    };
    let offset = u64::from_le_bytes(data[40..48].try_into().unwrap());
    if offset >= tx.data_size {
        return;
    }
    if let Ok(chunk) = verify_chunk_json(&tx, offset, &data[48..]) {
        let hash: [u8; 32] = Sha256::digest(&chunk.bytes()).into();
        assert_eq!(
            hash,
            chunk.leaf().data_hash,
            "bytes are not the proven leaf"
        );
        assert_eq!(
            chunk.bytes().len() as u64,
            chunk.leaf().end - chunk.leaf().start
        );
    }
});
