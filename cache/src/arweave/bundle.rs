//! ANS-104 bundles: a 32-byte little-endian item count, then per item a 32-byte size and its
//! 32-byte id, then the items back to back. A bundle is the data of a transaction (or of a
//! data item, nested) tagged `Bundle-Format: binary` and `Bundle-Version: 2.0.0`.

use super::{Tag, TxId};

/// An index of more entries than this (64 MiB of index) is refused rather than read.
pub const MAX_ITEMS: u64 = 1 << 20;
/// Bundles inside data items inside bundles... ar.io stops at the same depth.
pub const MAX_NESTING: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("bundle {0} does not fit in 64 bits")]
    TooLarge(&'static str),
    #[error("bundle index of {0} items is more than the {MAX_ITEMS} read")]
    TooManyItems(u64),
    #[error("bundle index truncated: {0} bytes for {1} entries")]
    Truncated(usize, u64),
    #[error("bundle items add up to {items} bytes after a {index}-byte index, but it holds {len}")]
    SizesExceedBundle { index: u64, items: u64, len: u64 },
}

/// One item as the index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub id: TxId,
    /// Where the item starts, from the start of the bundle.
    pub start: u64,
    pub size: u64,
}

/// A parsed bundle index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub entries: Vec<Entry>,
}

/// A 32-byte little-endian number that must fit in 64 bits.
fn le_u256(bytes: &[u8], what: &'static str) -> Result<u64, BundleError> {
    if bytes[8..32].iter().any(|&b| b != 0) {
        return Err(BundleError::TooLarge(what));
    }
    Ok(u64::from_le_bytes(bytes[..8].try_into().unwrap()))
}

impl Index {
    /// The item count from a bundle's first 32 bytes.
    pub fn count(head: &[u8; 32]) -> Result<u64, BundleError> {
        let count = le_u256(head, "item count")?;
        if count > MAX_ITEMS {
            return Err(BundleError::TooManyItems(count));
        }
        Ok(count)
    }

    /// Bytes of count plus entries for `count` items: where the first item starts.
    pub fn len_for(count: u64) -> u64 {
        32 + 64 * count
    }

    /// Parses the `count` entries that follow the count, for a bundle of `bundle_len` bytes
    /// (the items must fit in it).
    pub fn parse(entries: &[u8], count: u64, bundle_len: u64) -> Result<Index, BundleError> {
        if entries.len() as u64 != 64 * count {
            return Err(BundleError::Truncated(entries.len(), count));
        }
        let mut start = Self::len_for(count);
        let mut parsed = Vec::with_capacity(count as usize);
        for raw in entries.chunks_exact(64) {
            let size = le_u256(&raw[..32], "item size")?;
            parsed.push(Entry {
                id: TxId(raw[32..].try_into().unwrap()),
                start,
                size,
            });
            start = start
                .checked_add(size)
                .ok_or(BundleError::TooLarge("item sizes"))?;
        }
        if start > bundle_len {
            return Err(BundleError::SizesExceedBundle {
                index: Self::len_for(count),
                items: start - Self::len_for(count),
                len: bundle_len,
            });
        }
        Ok(Index { entries: parsed })
    }

    pub fn find(&self, id: &TxId) -> Option<Entry> {
        self.entries.iter().find(|e| e.id == *id).copied()
    }

    /// The item whose bytes include `offset` (from the bundle's start).
    pub fn containing(&self, offset: u64) -> Option<Entry> {
        let at = self.entries.partition_point(|e| e.start + e.size <= offset);
        self.entries
            .get(at)
            .filter(|e| e.start <= offset && offset < e.start + e.size)
            .copied()
    }
}

/// Whether these tags mark the data as an ANS-104 binary bundle.
pub fn is_bundle(tags: &[Tag]) -> bool {
    let has = |name: &[u8], value: &[u8]| tags.iter().any(|t| t.name == name && t.value == value);
    has(b"Bundle-Format", b"binary") && has(b"Bundle-Version", b"2.0.0")
}

/// The tags a bundle carries, for writers (the test gateway, tests).
pub fn bundle_tags() -> Vec<Tag> {
    [("Bundle-Format", "binary"), ("Bundle-Version", "2.0.0")]
        .into_iter()
        .map(|(n, v)| Tag {
            name: n.into(),
            value: v.into(),
        })
        .collect()
}

/// Serialises `(id, item bytes)` pairs as a bundle, for writers. The index lists the given ids,
/// which honest writers take from the items' signatures.
pub fn write(items: &[(TxId, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let number = |n: u64| {
        let mut field = [0u8; 32];
        field[..8].copy_from_slice(&n.to_le_bytes());
        field
    };
    out.extend_from_slice(&number(items.len() as u64));
    for (id, item) in items {
        out.extend_from_slice(&number(item.len() as u64));
        out.extend_from_slice(&id.0);
    }
    for (_, item) in items {
        out.extend_from_slice(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        TxId([n; 32])
    }

    #[test]
    fn written_bundles_parse_back_with_item_positions() {
        let bundle = write(&[(id(1), b"abc"), (id(2), b""), (id(3), b"defgh")]);
        let count = Index::count(bundle[..32].try_into().unwrap()).unwrap();
        assert_eq!(count, 3);
        let index_len = Index::len_for(count) as usize;
        let index = Index::parse(&bundle[32..index_len], count, bundle.len() as u64).unwrap();
        let starts: Vec<_> = index.entries.iter().map(|e| (e.start, e.size)).collect();
        assert_eq!(starts, [(224, 3), (227, 0), (227, 5)]);
        assert_eq!(&bundle[227..232], b"defgh");
        assert_eq!(index.find(&id(3)).unwrap().start, 227);
        assert_eq!(index.find(&id(9)), None);
        // The empty item holds no offset: 227 belongs to the item after it.
        assert_eq!(index.containing(226).unwrap().id, id(1));
        assert_eq!(index.containing(227).unwrap().id, id(3));
        assert_eq!(index.containing(232), None);
        assert_eq!(index.containing(10), None);
    }

    #[test]
    fn malformed_indexes_are_refused() {
        let mut head = [0u8; 32];
        head[8] = 1;
        assert_eq!(
            Index::count(&head),
            Err(BundleError::TooLarge("item count"))
        );
        head = [0; 32];
        head[..8].copy_from_slice(&(MAX_ITEMS + 1).to_le_bytes());
        assert!(matches!(
            Index::count(&head),
            Err(BundleError::TooManyItems(_))
        ));
        let bundle = write(&[(id(1), b"abc")]);
        assert!(matches!(
            Index::parse(&bundle[32..90], 1, 1000),
            Err(BundleError::Truncated(58, 1))
        ));
        // Sizes that run past the end of the bundle.
        assert!(matches!(
            Index::parse(&bundle[32..96], 1, bundle.len() as u64 - 1),
            Err(BundleError::SizesExceedBundle { .. })
        ));
        let two = write(&[(id(1), b"a"), (id(2), b"b")]);
        let mut overflow = two.clone();
        overflow[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Index::parse(&overflow[32..160], 2, u64::MAX),
            Err(BundleError::TooLarge("item sizes"))
        ));
    }

    #[test]
    fn bundle_tags_mark_a_bundle() {
        assert!(is_bundle(&bundle_tags()));
        assert!(!is_bundle(&bundle_tags()[..1]));
        assert!(!is_bundle(&[]));
    }
}
