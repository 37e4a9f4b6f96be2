//! Tags as extended attributes on `/data/<id>`: `user.arweave.tag.<name>` holds the tag's
//! value (the first, when a name repeats, as Arweave allows), and `user.arweave.tags` all of
//! them as a JSON array of `{"name", "value"}` (names and values that are not UTF-8 are given
//! lossily there). A name that cannot be an attribute name (a NUL, or longer than the kernel
//! takes) is only in `user.arweave.tags`.

use weavedrive_cache::arweave::Tag;

pub const PREFIX: &str = "user.arweave.tag.";
pub const ALL_TAGS: &str = "user.arweave.tags";
/// The kernel's limit on an attribute name (XATTR_NAME_MAX).
const NAME_MAX: usize = 255;

/// An extended attribute: name and value.
pub type Attribute = (Vec<u8>, Vec<u8>);

/// The attributes, in tag order.
pub fn tag_attributes(tags: &[Tag]) -> Vec<Attribute> {
    let mut attributes: Vec<Attribute> = Vec::new();
    for tag in tags {
        let name = [PREFIX.as_bytes(), &tag.name].concat();
        let fits = !tag.name.is_empty() && !tag.name.contains(&0) && name.len() <= NAME_MAX;
        if fits && !attributes.iter().any(|(n, _)| *n == name) {
            attributes.push((name, tag.value.clone()));
        }
    }
    let all: Vec<serde_json::Value> = tags
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": String::from_utf8_lossy(&t.name),
                "value": String::from_utf8_lossy(&t.value),
            })
        })
        .collect();
    let json = serde_json::to_vec(&all).expect("JSON values serialise");
    attributes.push((ALL_TAGS.as_bytes().to_vec(), json));
    attributes
}

/// The `listxattr` answer: each name NUL-terminated.
pub fn name_list(attributes: &[Attribute]) -> Vec<u8> {
    attributes
        .iter()
        .flat_map(|(name, _)| name.iter().copied().chain([0]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &[u8], value: &[u8]) -> Tag {
        Tag {
            name: name.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn each_name_once_and_all_tags_as_json() {
        let tags = [
            tag(b"Content-Type", b"application/json"),
            tag(b"App", b"first"),
            tag(b"App", b"second"),
            tag(b"bad\0name", b"x"),
            tag(&[b'n'; 300], b"too long"),
        ];
        let attributes = tag_attributes(&tags);
        let names: Vec<&[u8]> = attributes.iter().map(|(n, _)| &n[..]).collect();
        assert_eq!(
            names,
            [
                &b"user.arweave.tag.Content-Type"[..],
                b"user.arweave.tag.App",
                b"user.arweave.tags"
            ]
        );
        assert_eq!(attributes[1].1, b"first");
        let all: serde_json::Value = serde_json::from_slice(&attributes[2].1).unwrap();
        assert_eq!(all.as_array().unwrap().len(), 5);
        assert_eq!(all[2]["value"], "second");
        assert_eq!(
            name_list(&attributes[..2]),
            b"user.arweave.tag.Content-Type\0user.arweave.tag.App\0"
        );
    }
}
