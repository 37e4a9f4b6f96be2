//! ANS-104 items of every signature type, signed here for real (the test gateway's signers),
//! parsed and verified by the cache's parser; tampered items are refused.

use weavedrive_cache::TxId;
use weavedrive_cache::arweave::Tag;
use weavedrive_cache::arweave::ans104::*;
use weavedrive_testgw::items::signed_item;

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

const VERIFIED: [SignatureType; 4] = [
    SignatureType::Arweave,
    SignatureType::Ed25519,
    SignatureType::Ethereum,
    SignatureType::Solana,
];

#[test]
fn items_of_each_verified_type_round_trip() {
    for kind in VERIFIED {
        for (target, anchor, tags, data) in [
            (Some([1; 32]), Some([2; 32]), tags(), b"some data".to_vec()),
            (None, None, vec![], vec![]),
            (None, Some([4; 32]), tags(), vec![9; 5000]),
        ] {
            let bytes = signed_item(kind, target, anchor, &tags, &data);
            let item = DataItem::parse_header(&bytes).unwrap();
            assert_eq!(item.signature_type, kind);
            assert_eq!((item.target, item.anchor), (target, anchor));
            assert_eq!(item.tags, tags);
            assert_eq!(&bytes[item.data_offset..], &data[..]);
            assert_eq!(item.id(), TxId::from_signature(&item.signature));
            assert_eq!(
                item.verify(&bytes[item.data_offset..]),
                Ok(Verification::Verified),
                "{kind:?}"
            );
        }
    }
}

#[test]
fn tampering_with_data_tags_owner_or_signature_is_caught() {
    for kind in VERIFIED {
        let bytes = signed_item(kind, Some([1; 32]), None, &tags(), b"the data");
        let item = DataItem::parse_header(&bytes).unwrap();
        let data = &bytes[item.data_offset..];
        let mut altered = data.to_vec();
        altered[3] ^= 1;
        assert_eq!(
            item.verify(&altered),
            Err(ItemError::BadSignature),
            "{kind:?}"
        );
        assert_eq!(item.verify(&data[1..]), Err(ItemError::BadSignature));

        let tag_value_at = item.data_offset - 2; // Inside the last tag's value.
        let sig_len = kind.lengths().0;
        for flip in [
            2,
            2 + sig_len - 1,
            2 + sig_len + 5,
            2 + sig_len + 1,
            tag_value_at,
        ] {
            let mut forged = bytes.clone();
            forged[flip] ^= 0x01;
            let verdict = DataItem::parse_header(&forged)
                .and_then(|item| item.verify(&forged[item.data_offset..]));
            assert!(
                verdict.is_err(),
                "{kind:?}: byte {flip} flipped and accepted"
            );
        }
    }
}

#[test]
fn other_types_parse_and_say_unverified() {
    for kind in [
        SignatureType::Aptos,
        SignatureType::MultiAptos,
        SignatureType::TypedEthereum,
    ] {
        let bytes = signed_item(kind, None, Some([8; 32]), &tags(), b"x");
        let item = DataItem::parse_header(&bytes).unwrap();
        assert_eq!(item.tags, tags());
        assert_eq!(
            item.verify(&bytes[item.data_offset..]),
            Ok(Verification::Unverified(kind))
        );
    }
}

#[test]
fn malformed_headers_are_errors() {
    let bytes = signed_item(SignatureType::Ed25519, Some([1; 32]), None, &tags(), b"d");
    let item = DataItem::parse_header(&bytes).unwrap();
    for cut in 0..item.data_offset {
        assert!(
            DataItem::parse_header(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut unknown = bytes.clone();
    unknown[0] = 99;
    assert_eq!(
        DataItem::parse_header(&unknown),
        Err(ItemError::UnknownSignatureType(99))
    );
    let mut flag = bytes.clone();
    flag[2 + 64 + 32] = 2;
    assert_eq!(
        DataItem::parse_header(&flag),
        Err(ItemError::BadFlag("target", 2))
    );
    let count_at = 2 + 64 + 32 + 33 + 1;
    let mut count = bytes.clone();
    count[count_at] = 3;
    assert!(matches!(
        DataItem::parse_header(&count),
        Err(ItemError::BadTags(_))
    ));
}
