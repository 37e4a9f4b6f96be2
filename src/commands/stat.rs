//! `weavedrive stat`: what a transaction or data item is, how it was verified, and how much
//! of it is cached.

use weavedrive_cache::arweave::tx::FORMAT1_NOTE;
use weavedrive_cache::drive::{ItemInfo, SignatureCheck, VerificationMode};
use weavedrive_cache::units::format_size;
use weavedrive_cache::{Drive, TxId, TxInfo};

pub async fn run(drive: &Drive, id: &TxId, json: bool) -> anyhow::Result<()> {
    let info = drive.stat(id).await?;
    if json {
        let mut json = to_json(&info);
        // What this process did to answer (header from the shared cache or a gateway...).
        json["process"] = serde_json::to_value(drive.metrics().snapshot())?;
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("id:      {}", info.id);
    println!("size:    {} ({} bytes)", format_size(info.size), info.size);
    match &info.item {
        None => println!("format:  {}", info.format),
        Some(item) => print_item(item),
    }
    if info.format == 1 && info.item.is_none() {
        println!("note:    {}", FORMAT1_NOTE);
    }
    println!("owner:   {}", info.owner_address);
    println!(
        "cached:  {} of {} chunks, {}{}",
        info.chunks_cached,
        info.chunks,
        format_size(info.bytes_cached),
        if info.pinned { " (pinned)" } else { "" }
    );
    let tags_withheld = info.item.as_ref().is_some_and(|i| {
        i.mode == VerificationMode::WholeItem && i.signature == SignatureCheck::Pending
    });
    if tags_withheld {
        println!("tags:    (not shown until the item's signature is checked: read or preload it)");
    } else if info.tags.is_empty() {
        println!("tags:    (none)");
    } else {
        println!("tags:");
        for (name, value) in &info.tags {
            println!("  {name}: {value}");
        }
    }
    Ok(())
}

fn print_item(item: &ItemInfo) {
    println!(
        "format:  ANS-104 data item, signature type {} ({:?})",
        item.signature_type as u16, item.signature_type
    );
    let path: Vec<String> = std::iter::once(item.root)
        .chain(item.parents.iter().copied())
        .map(|id| id.to_string())
        .collect();
    println!("bundle:  {}", path.join(" > "));
    println!(
        "         data at byte {} of {}",
        item.data_offset_in_root, item.root
    );
    let mode = match item.mode {
        VerificationMode::WholeItem => {
            "whole item: its signature is checked over all its data before any byte is served"
        }
        VerificationMode::ChunksThroughBundle => {
            "by chunk, against the root transaction's data_root, as they are read: trusting \
             whoever signed the bundle (--trust-bundle-signer)"
        }
    };
    println!("verify:  {mode}");
    println!("signature: {}", signature_text(item.signature));
}

fn signature_text(check: SignatureCheck) -> String {
    match check {
        SignatureCheck::Verified => "verified over all the data".into(),
        SignatureCheck::Pending => {
            "not checked yet: the first read (or preload) checks it over all the data".into()
        }
        SignatureCheck::Unsupported(kind) => format!(
            "not checked: type {} ({kind:?}) signatures are not verified by this build; served \
             only because the bundle's signer is trusted (--trust-bundle-signer)",
            kind as u16
        ),
        SignatureCheck::Failed => {
            "FAILED: the data does not match it; the item is not served".into()
        }
    }
}

fn item_json(item: &ItemInfo) -> serde_json::Value {
    let signature = match item.signature {
        SignatureCheck::Verified => "verified",
        SignatureCheck::Pending => "pending",
        SignatureCheck::Unsupported(_) => "unsupported",
        SignatureCheck::Failed => "failed",
    };
    serde_json::json!({
        "root": item.root.to_string(),
        "parents": item.parents.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "data_offset_in_root": item.data_offset_in_root,
        "signature_type": item.signature_type as u16,
        "verification": match item.mode {
            VerificationMode::WholeItem => "whole-item",
            VerificationMode::ChunksThroughBundle => "chunks-through-bundle",
        },
        "signature": signature,
    })
}

pub fn to_json(info: &TxInfo) -> serde_json::Value {
    let mut json = serde_json::json!({
        "id": info.id.to_string(),
        "size": info.size,
        "format": info.format,
        "owner": info.owner_address,
        "tags": info.tags.iter().map(|(n, v)| serde_json::json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "chunks": info.chunks,
        "chunks_cached": info.chunks_cached,
        "bytes_cached": info.bytes_cached,
        "pinned": info.pinned,
        "item": info.item.as_ref().map(item_json),
    });
    if info.format == 1 && info.item.is_none() {
        json["format1_fields_authenticated"] = false.into();
        json["note"] = FORMAT1_NOTE.into();
    }
    json
}
