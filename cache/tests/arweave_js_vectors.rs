//! Cross-checks our protocol code against vectors produced by arweave-js
//! (`interop/make-vectors.js`, committed as `fixtures/arweave-js-vectors.json`).

use serde_json::Value;
use weavedrive_cache::arweave::chunking::merkle_leaf_ranges;
use weavedrive_cache::arweave::deep_hash::{DeepHashItem, deep_hash};
use weavedrive_cache::arweave::merkle::{MerkleTree, leaves_for_data, verify_path};
use weavedrive_cache::arweave::{TxHeader, TxId, b64};

fn vectors() -> Value {
    serde_json::from_str(include_str!("fixtures/arweave-js-vectors.json")).unwrap()
}

/// The generator both sides use: `data[i] = (i * 31 + floor(i / 4096)) % 251`.
fn formula_data(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| ((i * 31 + i / 4096) % 251) as u8)
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    b64::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn chunking_roots_and_proofs_match_arweave_js() {
    let vectors = vectors();
    for case in vectors["merkle"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap();
        let data = formula_data(size as usize);
        let expected_ranges: Vec<_> = case["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["min"].as_u64().unwrap()..c["max"].as_u64().unwrap())
            .collect();
        assert_eq!(merkle_leaf_ranges(size), expected_ranges, "size {size}");
        let leaves = leaves_for_data(&data);
        for (leaf, chunk) in leaves.iter().zip(case["chunks"].as_array().unwrap()) {
            assert_eq!(
                leaf.data_hash.to_vec(),
                bytes(&chunk["data_hash"]),
                "size {size}"
            );
        }
        let tree = MerkleTree::build(leaves);
        assert_eq!(
            tree.root.to_vec(),
            bytes(&case["data_root"]),
            "root, size {size}"
        );
        let proofs = case["proofs"].as_array().unwrap();
        assert_eq!(proofs.len(), tree.leaves.len());
        for (i, (proof, check)) in proofs
            .iter()
            .zip(case["validate"].as_array().unwrap())
            .enumerate()
        {
            let path = bytes(&proof["proof"]);
            assert_eq!(tree.proof(i), &path[..], "proof {i}, size {size}");
            let offset = proof["offset"].as_i64().unwrap();
            let ours = u64::try_from(offset)
                .ok()
                .and_then(|o| verify_path(&tree.root, size, o, &path).ok());
            match check.get("chunkSize") {
                Some(_) => {
                    let leaf = ours.unwrap_or_else(|| {
                        panic!("arweave-js accepts proof {i} of size {size}, we reject it")
                    });
                    assert_eq!(leaf.start, check["leftBound"].as_u64().unwrap());
                    assert_eq!(leaf.end, check["rightBound"].as_u64().unwrap());
                }
                // arweave-js rejects only the zero-length trailing leaf (offset -1 or past end).
                None => assert!(ours.is_none(), "size {size} proof {i}"),
            }
        }
    }
}

fn deep_hash_item(v: &Value) -> DeepHashItem<'static> {
    match v {
        Value::String(s) => {
            DeepHashItem::Blob(Box::leak(b64::decode(s).unwrap().into_boxed_slice()))
        }
        Value::Array(items) => DeepHashItem::List(items.iter().map(deep_hash_item).collect()),
        other => panic!("unexpected deep hash input {other}"),
    }
}

#[test]
fn deep_hash_matches_arweave_js() {
    for case in vectors()["deep_hash"].as_array().unwrap() {
        let ours = deep_hash(&deep_hash_item(&case["input"]));
        assert_eq!(ours.to_vec(), bytes(&case["hash"]), "{}", case["name"]);
    }
}

#[test]
fn signed_headers_verify_and_match_arweave_js() {
    for case in vectors()["transactions"].as_array().unwrap() {
        let id: TxId = case["id"].as_str().unwrap().parse().unwrap();
        let json = serde_json::to_vec(&case["header"]).unwrap();
        let header = TxHeader::from_json_verified(&json, &id).unwrap();
        assert_eq!(
            header.signature_message().unwrap(),
            bytes(&case["signature_data"])
        );
        assert_eq!(header.data_size, case["data_size"].as_u64().unwrap());
        if header.format == 2 && header.data_size > 0 {
            let data = formula_data(case["data_formula_size"].as_u64().unwrap() as usize);
            assert_eq!(Some(MerkleTree::from_data(&data).root), header.data_root);
        }
    }
}

/// Flipping any bit of any signed field (or the signature) must make the header fail.
#[test]
fn any_tampered_header_field_is_rejected() {
    for case in vectors()["transactions"].as_array().unwrap() {
        let id: TxId = case["id"].as_str().unwrap().parse().unwrap();
        let header = &case["header"];
        let mut tried = 0;
        let mut check = |tampered: Value, what: &str| {
            let json = serde_json::to_vec(&tampered).unwrap();
            assert!(
                TxHeader::from_json_verified(&json, &id).is_err(),
                "tampered {what} accepted for {id}"
            );
            tried += 1;
        };
        for field in [
            "owner",
            "target",
            "last_tx",
            "data_root",
            "signature",
            "data",
        ] {
            let original = bytes(&header[field]);
            for i in 0..original.len() {
                let mut changed = original.clone();
                changed[i] ^= 1 << (i % 8);
                let mut tampered = header.clone();
                tampered[field] = Value::String(b64::encode(&changed));
                check(tampered, &format!("{field}[{i}]"));
            }
        }
        for field in ["quantity", "reward", "data_size"] {
            let mut tampered = header.clone();
            let value = header[field].as_str().unwrap();
            tampered[field] = Value::String(format!("{value}1"));
            check(tampered, field);
        }
        for (t, tag) in header["tags"].as_array().unwrap().iter().enumerate() {
            for part in ["name", "value"] {
                let original = bytes(&tag[part]);
                for i in 0..original.len() {
                    let mut changed = original.clone();
                    changed[i] ^= 1;
                    let mut tampered = header.clone();
                    tampered["tags"][t][part] = Value::String(b64::encode(&changed));
                    check(tampered, &format!("tag {t} {part}[{i}]"));
                }
            }
        }
        let mut tampered = header.clone();
        tampered["tags"].as_array_mut().unwrap().reverse();
        if header["tags"].as_array().unwrap().len() > 1 {
            check(tampered, "tag order");
        }
        let mut tampered = header.clone();
        tampered["id"] = Value::String(TxId([9; 32]).to_string());
        check(tampered, "id");
        assert!(tried > 1000, "only {tried} tamperings tried");
    }
}
