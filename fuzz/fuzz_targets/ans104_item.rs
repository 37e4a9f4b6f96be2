//! ANS-104 data items from an untrusted gateway or bundle: parsing and signature checks never
//! panic; a parsed header re-encodes to the bytes it came from (when its tags were encoded the
//! usual way); a flipped data byte never keeps a verified signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::ans104::{
    DataItem, Verification, encode_tags, header_after_signature,
};

fuzz_target!(|bytes: &[u8]| {
    let Ok(item) = DataItem::parse_header(bytes) else {
        return;
    };
    assert!(item.data_offset <= bytes.len());
    if item.raw_tags == encode_tags(&item.tags) {
        let mut again = (item.signature_type as u16).to_le_bytes().to_vec();
        again.extend_from_slice(&item.signature);
        again.extend_from_slice(&header_after_signature(
            &item.owner,
            item.target,
            item.anchor,
            &item.tags,
        ));
        assert_eq!(again, &bytes[..item.data_offset]);
    }
    let data = &bytes[item.data_offset..];
    if let Ok(Verification::Verified) = item.verify(data)
        && !data.is_empty()
    {
        let mut altered = data.to_vec();
        altered[0] ^= 1;
        assert!(
            item.verify(&altered).is_err(),
            "a changed item still verifies"
        );
    }
});
