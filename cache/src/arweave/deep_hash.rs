//! Arweave's deep hash (SHA-384 over a tree of blobs), the message a format-2 signature signs.

use sha2::{Digest, Sha384};

/// A node of the structure being hashed.
pub enum DeepHashItem<'a> {
    Blob(&'a [u8]),
    List(Vec<DeepHashItem<'a>>),
}

pub fn deep_hash(item: &DeepHashItem<'_>) -> [u8; 48] {
    match item {
        DeepHashItem::Blob(data) => {
            let tag = Sha384::digest(format!("blob{}", data.len()));
            let data_hash = Sha384::digest(data);
            Sha384::new()
                .chain_update(tag)
                .chain_update(data_hash)
                .finalize()
                .into()
        }
        DeepHashItem::List(items) => {
            let mut acc: [u8; 48] = Sha384::digest(format!("list{}", items.len())).into();
            for child in items {
                acc = Sha384::new()
                    .chain_update(acc)
                    .chain_update(deep_hash(child))
                    .finalize()
                    .into();
            }
            acc
        }
    }
}
