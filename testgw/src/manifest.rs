//! Arweave path manifests (`arweave/paths` 0.2.0, the format ar.io gateways resolve), as the
//! demo and the tests publish them: one small JSON transaction naming a set of others (a
//! model's files) by path, so a reader needs one id to find them all.

use bytes::Bytes;
use weavedrive_cache::TxId;

/// The Content-Type tag gateways recognise manifests by.
pub const MANIFEST_CONTENT_TYPE: &str = "application/x.arweave-manifest+json";

/// A manifest mapping each path to its transaction; `index` (a path among them) is what the
/// manifest's own URL serves.
pub fn path_manifest(index: Option<&str>, paths: &[(&str, TxId)]) -> Bytes {
    let paths: serde_json::Map<String, serde_json::Value> = paths
        .iter()
        .map(|(path, id)| {
            (
                path.to_string(),
                serde_json::json!({ "id": id.to_string() }),
            )
        })
        .collect();
    let mut manifest = serde_json::json!({
        "manifest": "arweave/paths",
        "version": "0.2.0",
        "paths": paths,
    });
    if let Some(index) = index {
        manifest["index"] = serde_json::json!({ "path": index });
    }
    Bytes::from(serde_json::to_vec_pretty(&manifest).expect("JSON values serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_path_with_its_id() {
        let (a, b) = (TxId([1; 32]), TxId([2; 32]));
        let json: serde_json::Value =
            serde_json::from_slice(&path_manifest(Some("a.json"), &[("a.json", a), ("w/b", b)]))
                .unwrap();
        assert_eq!(json["manifest"], "arweave/paths");
        assert_eq!(json["version"], "0.2.0");
        assert_eq!(json["index"]["path"], "a.json");
        assert_eq!(json["paths"]["a.json"]["id"], a.to_string());
        assert_eq!(json["paths"]["w/b"]["id"], b.to_string());
        assert!(path_manifest(None, &[]).len() > 2);
    }
}
