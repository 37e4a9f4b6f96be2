//! Arweave's deep hash (SHA-384 over a tree of blobs), the message a format-2 signature signs.

use sha2::{Digest, Sha384};

/// A node of the structure being hashed.
pub enum DeepHashItem<'a> {
    Blob(&'a [u8]),
    /// A blob given by its length and SHA-384, for data too large to hold at once.
    HashedBlob {
        len: u64,
        sha384: [u8; 48],
    },
    List(Vec<DeepHashItem<'a>>),
}

pub fn deep_hash(item: &DeepHashItem<'_>) -> [u8; 48] {
    match item {
        DeepHashItem::Blob(data) => deep_hash(&DeepHashItem::HashedBlob {
            len: data.len() as u64,
            sha384: Sha384::digest(data).into(),
        }),
        DeepHashItem::HashedBlob { len, sha384 } => {
            let tag = Sha384::digest(format!("blob{len}"));
            Sha384::new()
                .chain_update(tag)
                .chain_update(sha384)
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
