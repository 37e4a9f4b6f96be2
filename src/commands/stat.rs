//! `weavedrive stat`: what a transaction is and how much of it is cached.

use weavedrive_cache::units::format_size;
use weavedrive_cache::{Drive, TxId, TxInfo};

pub async fn run(drive: &Drive, id: &TxId, json: bool) -> anyhow::Result<()> {
    let info = drive.stat(id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(&info))?);
        return Ok(());
    }
    println!("id:      {}", info.id);
    println!("size:    {} ({} bytes)", format_size(info.size), info.size);
    println!("format:  {}", info.format);
    println!("owner:   {}", info.owner_address);
    println!(
        "cached:  {} of {} chunks, {}{}",
        info.chunks_cached,
        info.chunks,
        format_size(info.bytes_cached),
        if info.pinned { " (pinned)" } else { "" }
    );
    if info.tags.is_empty() {
        println!("tags:    (none)");
    } else {
        println!("tags:");
        for (name, value) in &info.tags {
            println!("  {name}: {value}");
        }
    }
    Ok(())
}

pub fn to_json(info: &TxInfo) -> serde_json::Value {
    serde_json::json!({
        "id": info.id.to_string(),
        "size": info.size,
        "format": info.format,
        "owner": info.owner_address,
        "tags": info.tags.iter().map(|(n, v)| serde_json::json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "chunks": info.chunks,
        "chunks_cached": info.chunks_cached,
        "bytes_cached": info.bytes_cached,
        "pinned": info.pinned,
    })
}
