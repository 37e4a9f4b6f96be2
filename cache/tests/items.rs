//! ANS-104 data items through the Drive, served by the test gateway the way ar.io serves them
//! (`/raw/{id}` naming the root transaction and the item's offset): every signature type
//! round-trips, nested bundles resolve, tampered items and lying offsets are refused, large
//! items stream and are signature-checked by preload, and a restart finds items offline.

use std::time::Duration;

use bytes::Bytes;
use weavedrive_cache::arweave::Tag;
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_cache::drive::{SignatureCheck, VerificationMode, WHOLE_ITEM_MAX};
use weavedrive_cache::{Drive, DriveConfig, DriveError, GatewayConfig, TxId};
use weavedrive_testgw::items::{
    BundleItem, Tamper, manifest_item, nested_bundle_item, signed_item, tags,
};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};

struct Item {
    id: TxId,
    data: Bytes,
    tags: Vec<Tag>,
}

fn item(kind: SignatureType, seed: u64, size: usize) -> (Item, BundleItem) {
    let data = pseudo_random_data(seed, size);
    let tags = tags(&[
        ("Content-Type", "application/octet-stream"),
        ("Seed", &seed.to_string()),
    ]);
    let bytes = signed_item(kind, None, Some([seed as u8; 32]), &tags, &data);
    let bundled = BundleItem::new(bytes);
    (
        Item {
            id: bundled.id,
            data,
            tags,
        },
        bundled,
    )
}

fn config(gateway: &TestGateway, dir: &std::path::Path) -> DriveConfig {
    DriveConfig {
        gateway: GatewayConfig {
            gateways: vec![gateway.url()],
            retries: 1,
            backoff: Duration::from_millis(10),
            ..GatewayConfig::default()
        },
        cache_dir: Some(dir.to_path_buf()),
        ..DriveConfig::default()
    }
}

async fn signature(drive: &Drive, id: TxId) -> SignatureCheck {
    drive.stat(&id).await.unwrap().item.unwrap().signature
}

async fn read_whole(drive: &Drive, id: &TxId) -> Result<Bytes, DriveError> {
    let size = drive.stat(id).await?.size;
    drive.read_at(id, 0, size + 10).await
}

#[tokio::test]
async fn items_of_every_type_nested_or_not_read_back_verified() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 1);
    let kinds = [
        SignatureType::Arweave,
        SignatureType::Ed25519,
        SignatureType::Ethereum,
        SignatureType::Solana,
        SignatureType::Aptos,
    ];
    let (items, bundled): (Vec<Item>, Vec<BundleItem>) = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| item(kind, i as u64, 1000 + 300_000 * i))
        .unzip();
    let (inner, inner_bundled) = item(SignatureType::Ethereum, 50, 70_000);
    let (deep, deep_bundled) = item(SignatureType::Ed25519, 51, 5);
    let middle = nested_bundle_item(&[deep_bundled]);
    let outer = nested_bundle_item(&[inner_bundled, middle.clone()]);
    let mut top = bundled.clone();
    top.insert(2, outer.clone());
    let root = data.add_bundle(&top, vec![("App".into(), "items-test".into())]);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();

    for (item, kind) in items.iter().zip(kinds) {
        if kind == SignatureType::Aptos {
            // Its signature cannot be checked here: refused (hostile_drive.rs has the opt-in).
            let error = read_whole(&drive, &item.id).await.unwrap_err();
            assert!(
                matches!(error, DriveError::UnverifiableItem { .. }),
                "{error}"
            );
            continue;
        }
        assert!(
            read_whole(&drive, &item.id).await.unwrap() == item.data,
            "{kind:?}"
        );
        let stat = drive.stat(&item.id).await.unwrap();
        assert_eq!(stat.size, item.data.len() as u64);
        assert_eq!(stat.format, 0);
        let tags: Vec<_> = item
            .tags
            .iter()
            .map(|t| {
                (
                    String::from_utf8(t.name.clone()).unwrap(),
                    String::from_utf8(t.value.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(stat.tags, tags);
        let info = stat.item.expect("a data item");
        assert_eq!((info.root, info.parents.clone()), (root, vec![]));
        assert_eq!(info.signature_type, kind);
        assert_eq!(info.mode, VerificationMode::WholeItem, "{kind:?}");
        assert_eq!(info.signature, SignatureCheck::Verified, "{kind:?}");
        let meta = drive.metadata(&item.id).await.unwrap();
        assert_eq!(meta.tags, item.tags);
        let json: serde_json::Value = serde_json::from_slice(&meta.json()).unwrap();
        assert_eq!(json["id"], item.id.to_string());
        assert_eq!(json["bundled_in"], root.to_string());
        assert_eq!(json["data_size"], item.data.len().to_string());
        assert_eq!(json["signature_type"], kind as u16);
    }
    // A middle range, through a handle.
    let handle = drive.open(&items[3].id).await.unwrap();
    assert_eq!(handle.size(), items[3].data.len() as u64);
    let got = handle.read_at(100_000, 300_000).await.unwrap();
    assert!(got == items[3].data.slice(100_000..400_000));

    // Nested: one level and two levels down.
    assert!(read_whole(&drive, &inner.id).await.unwrap() == inner.data);
    let info = drive.stat(&inner.id).await.unwrap().item.unwrap();
    assert_eq!(info.parents, vec![outer.id]);
    assert_eq!(read_whole(&drive, &deep.id).await.unwrap(), deep.data);
    let info = drive.stat(&deep.id).await.unwrap().item.unwrap();
    assert_eq!(info.parents, vec![outer.id, middle.id]);
    assert_eq!(info.signature, SignatureCheck::Verified);
    // The bundles themselves are items too.
    let outer_info = drive.stat(&outer.id).await.unwrap();
    assert!(
        outer_info
            .tags
            .contains(&("Bundle-Format".into(), "binary".into()))
    );

    // The root transaction is an ordinary transaction; an unknown id is not found.
    assert!(drive.stat(&root).await.unwrap().item.is_none());
    let unknown = drive.stat(&TxId([3; 32])).await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");

    // A restart with the gateway gone: the items and their bundle bytes are in the cache.
    let cached = drive.cached_ids().unwrap();
    assert!(cached.contains(&items[0].id) && cached.contains(&deep.id));
    drop(drive);
    drop(gateway);
    let offline = TestGateway::start(
        GatewayData::new(TestWallet::fixed()),
        GatewayOptions::default(),
    )
    .await
    .unwrap();
    let drive = Drive::new(config(&offline, dir.path())).unwrap();
    let verifiable = items.iter().zip(kinds).filter(|(_, k)| k.is_verified());
    for item in verifiable.map(|(item, _)| item).chain([&inner, &deep]) {
        assert!(read_whole(&drive, &item.id).await.unwrap() == item.data);
    }
    assert_eq!(
        drive.stat(&deep.id).await.unwrap().item.unwrap().signature,
        SignatureCheck::Verified
    );
    assert_eq!(offline.stats().requests(), 0, "{:?}", offline.stats());
}

#[tokio::test]
async fn tampered_items_and_lying_offsets_are_refused() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 2);
    let (honest, honest_bundled) = item(SignatureType::Ed25519, 1, 10_000);
    let mut tampered = Vec::new();
    let mut bundled = vec![honest_bundled.clone()];
    for (n, part) in [Tamper::Data, Tamper::Tags, Tamper::Signature]
        .into_iter()
        .enumerate()
    {
        for kind in [SignatureType::Arweave, SignatureType::Ethereum] {
            let (item, b) = item(kind, 10 + n as u64 * 2 + kind as u64, 20_000);
            tampered.push((item.id, part, kind));
            bundled.push(b.tampered(part));
        }
    }
    let (other, other_bundled) = item(SignatureType::Solana, 30, 3_000);
    bundled.push(other_bundled);
    data.add_bundle(&bundled, vec![]);
    // A gateway that points at the wrong item, or into the index.
    let other_offset = data.item(&other.id).unwrap().item_offset;
    let (misplaced, misplaced_bundled) = item(SignatureType::Ed25519, 40, 500);
    let (in_index, in_index_bundled) = item(SignatureType::Ed25519, 41, 500);
    data.add_bundle(&[misplaced_bundled, in_index_bundled], vec![]);
    data.misplace_item(&misplaced.id, other_offset);
    data.misplace_item(&in_index.id, 40);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();

    for (id, part, kind) in &tampered {
        let error = read_whole(&drive, id).await.unwrap_err();
        assert!(error.is_unavailable(), "{part:?} {kind:?}: {error}");
        let expected = match part {
            Tamper::Signature => "the item there has id",
            _ => "signature does not match",
        };
        assert!(
            error.to_string().contains(expected),
            "{part:?} {kind:?}: {error}"
        );
        assert!(drive.open(id).await.is_err());
    }
    for id in [misplaced.id, in_index.id] {
        let error = read_whole(&drive, &id).await.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
    }
    // The honest items of the same bundles are unaffected.
    assert!(read_whole(&drive, &honest.id).await.unwrap() == honest.data);
    assert!(read_whole(&drive, &other.id).await.unwrap() == other.data);
}

#[tokio::test]
async fn a_large_item_is_checked_whole_by_its_first_read_or_by_preload() {
    let size = WHOLE_ITEM_MAX as usize + 300_000;
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 3);
    let (good, good_bundled) = item(SignatureType::Arweave, 1, size);
    let (forged, forged_bundled) = item(SignatureType::Ed25519, 2, size);
    let (good_read, good_read_bundled) = item(SignatureType::Ethereum, 3, size);
    let (forged_read, forged_read_bundled) = item(SignatureType::Solana, 4, size);
    data.add_bundle(
        &[
            good_bundled,
            forged_bundled.tampered(Tamper::Data),
            good_read_bundled,
            forged_read_bundled.tampered(Tamper::Data),
        ],
        vec![],
    );
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();

    for it in [&good, &forged, &good_read, &forged_read] {
        // Resolved without reading it all; nothing of it served yet, tags included.
        let before = gateway.stats().chunk;
        let stat = drive.stat(&it.id).await.unwrap();
        assert!(stat.tags.is_empty(), "tags before the check");
        let info = stat.item.unwrap();
        assert_eq!(info.mode, VerificationMode::WholeItem);
        assert_eq!(info.signature, SignatureCheck::Pending);
        assert!(gateway.stats().chunk - before < 8, "resolving read it all");
    }
    // Preload reads everything, then checks the signature.
    drive.preload(&good.id, false, |_, _| {}).await.unwrap();
    assert_eq!(signature(&drive, good.id).await, SignatureCheck::Verified);
    assert!(read_whole(&drive, &good.id).await.unwrap() == good.data);
    let error = drive
        .preload(&forged.id, false, |_, _| {})
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(
        error.to_string().contains("signature does not match"),
        "{error}"
    );
    assert!(
        drive
            .read_at(&forged.id, 0, 10)
            .await
            .unwrap_err()
            .is_unavailable()
    );

    // So does the first read, wherever it is: it waits for the check, then is served, or
    // fails for a forged item.
    for (it, honest) in [(&good_read, true), (&forged_read, false)] {
        let handle = drive.open(&it.id).await.unwrap();
        let before = gateway.stats().chunk;
        let read = handle.read_at(5_000_000, 1000).await;
        assert!(
            gateway.stats().chunk - before >= 64,
            "the whole item was read"
        );
        if honest {
            assert!(read.unwrap() == it.data.slice(5_000_000..5_001_000));
            assert_eq!(signature(&drive, it.id).await, SignatureCheck::Verified);
        } else {
            assert!(read.unwrap_err().is_unavailable());
            assert!(handle.read_at(0, 10).await.is_err(), "refused from then on");
        }
    }

    // What was learnt survives a restart: the good ones are served, the forged ones are not
    // (their bundle is known to forge them, and no gateway places them elsewhere).
    drop(drive);
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();
    for (it, good) in [
        (&good, true),
        (&forged, false),
        (&good_read, true),
        (&forged_read, false),
    ] {
        let read = drive.read_at(&it.id, 0, 10).await;
        assert_eq!(read.is_ok(), good);
        assert_eq!(drive.open(&it.id).await.is_ok(), good);
        if good {
            assert_eq!(signature(&drive, it.id).await, SignatureCheck::Verified);
        } else {
            let error = drive.stat(&it.id).await.unwrap_err();
            assert!(error.to_string().contains("does not match"), "{error}");
        }
    }
}

#[tokio::test]
async fn a_path_manifest_in_a_data_item_is_a_manifest() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 4);
    let (file, file_bundled) = item(SignatureType::Ed25519, 1, 100);
    let manifest_item = manifest_item(Some("index.bin"), &[("index.bin", file.id)]);
    data.add_bundle(&[file_bundled, manifest_item.clone()], vec![]);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();
    let parsed = drive.manifest(&manifest_item.id).await.unwrap();
    assert_eq!(parsed.resolve(""), Some(file.id));
    assert_eq!(read_whole(&drive, &file.id).await.unwrap(), file.data);
}

/// Gateways that tell less: with the root but no offset, an item of the root's own bundle is
/// found by id in its index, while a nested one cannot be found (a clear error); with no root,
/// the item cannot be verified and is refused, however much the gateway serves it.
#[tokio::test]
async fn gateways_that_report_less_of_an_items_place() {
    use weavedrive_testgw::Reported;
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 5);
    let (top, top_bundled) = item(SignatureType::Ed25519, 1, 2000);
    let (deep, deep_bundled) = item(SignatureType::Ed25519, 2, 2000);
    let (hidden, hidden_bundled) = item(SignatureType::Ed25519, 3, 2000);
    let nested = nested_bundle_item(&[deep_bundled]);
    data.add_bundle(&[nested, top_bundled, hidden_bundled], vec![]);
    data.report_item(&top.id, Reported::RootOnly);
    data.report_item(&deep.id, Reported::RootOnly);
    data.report_item(&hidden.id, Reported::Nothing);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();

    assert!(read_whole(&drive, &top.id).await.unwrap() == top.data);
    let info = drive.stat(&top.id).await.unwrap().item.unwrap();
    assert_eq!(info.signature, SignatureCheck::Verified);

    let error = read_whole(&drive, &deep.id).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(error.to_string().contains("gave no offset"), "{error}");

    let error = read_whole(&drive, &hidden.id).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(
        error.to_string().contains("x-ar-io-root-transaction-id"),
        "{error}"
    );
}

/// `clear` keeps the records of items whose bundle is pinned (pinning an item pins its root)
/// and drops the others; a damaged record is resolved again instead of breaking the id.
#[tokio::test]
async fn item_records_follow_pins_and_a_damaged_one_is_resolved_again() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 6);
    let (kept, kept_bundled) = item(SignatureType::Ed25519, 1, 3000);
    let (dropped, dropped_bundled) = item(SignatureType::Ed25519, 2, 3000);
    let kept_root = data.add_bundle(&[kept_bundled], vec![]);
    data.add_bundle(&[dropped_bundled], vec![]);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();
    for it in [&kept, &dropped] {
        assert!(read_whole(&drive, &it.id).await.unwrap() == it.data);
    }
    drive.pin(&kept.id).await.unwrap();
    assert!(drive.is_pinned(&kept_root));
    assert!(drive.stat(&kept.id).await.unwrap().pinned);
    drive.clear().unwrap();
    let cached = drive.cached_ids().unwrap();
    assert!(cached.contains(&kept.id) && cached.contains(&kept_root));
    assert!(!cached.contains(&dropped.id));
    drop(drive);

    std::fs::write(
        dir.path().join("items").join(kept.id.to_string()),
        b"{not json",
    )
    .unwrap();
    let before = gateway.stats().requests();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();
    assert!(read_whole(&drive, &kept.id).await.unwrap() == kept.data);
    assert!(
        gateway.stats().requests() > before,
        "resolved again through the gateway"
    );
    drive.unpin(&kept.id).await.unwrap();
    assert!(!drive.is_pinned(&kept_root));
}

/// A gateway that refuses HEAD (as some CDNs in front of gateways do) is asked for the item's
/// first byte instead, and its answer's headers place the item the same way.
#[tokio::test]
async fn a_gateway_refusing_head_is_asked_for_the_first_byte() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 7);
    let (it, bundled) = item(SignatureType::Ethereum, 1, 5000);
    data.add_bundle(&[bundled], vec![]);
    let options = GatewayOptions {
        head_support: false,
        ..GatewayOptions::default()
    };
    let gateway = TestGateway::start(data, options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = Drive::new(config(&gateway, dir.path())).unwrap();
    assert!(read_whole(&drive, &it.id).await.unwrap() == it.data);
    let info = drive.stat(&it.id).await.unwrap().item.unwrap();
    assert_eq!(info.signature, SignatureCheck::Verified);
}
