//! `weavedrive cache ls|gc|clear|unpin`: look after the disk cache.

use weavedrive_cache::units::format_size;
use weavedrive_cache::{Drive, TxId};

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// List cached transactions.
    Ls,
    /// Evict least recently used unpinned blocks down to the budget (or --to SIZE).
    Gc {
        #[arg(long, value_parser = weavedrive_cache::units::parse_size)]
        to: Option<u64>,
    },
    /// Remove every unpinned block and transaction.
    Clear,
    /// Let a pinned transaction be evicted again.
    Unpin { ids: Vec<TxId> },
    /// Check every cached block whole against the SHA-256 it is named by, and every record;
    /// remove what fails. Exits 1 if anything failed and was not repaired.
    Verify {
        /// Fetch again (from the gateways, each chunk proven) what the cached transactions
        /// name and the check removed.
        #[arg(long)]
        repair: bool,
    },
}

pub async fn run(drive: &Drive, command: CacheCommand, budget: u64) -> anyhow::Result<()> {
    match command {
        CacheCommand::Ls => {
            let txs = drive.list().await?;
            println!(
                "{:<43} {:>10} {:>10} {:>6}  pinned",
                "id", "size", "cached", "%"
            );
            for tx in &txs {
                let percent = if tx.size == 0 {
                    100.0
                } else {
                    100.0 * tx.bytes_cached as f64 / tx.size as f64
                };
                println!(
                    "{:<43} {:>10} {:>10} {:>5.1}%  {}",
                    tx.id,
                    format_size(tx.size),
                    format_size(tx.bytes_cached),
                    percent,
                    if tx.pinned { "yes" } else { "" }
                );
            }
            if let Some(disk) = drive.stats().disk {
                println!(
                    "{} transaction(s); disk cache {} of {} budget in {} blocks",
                    txs.len(),
                    format_size(disk.bytes),
                    format_size(disk.budget),
                    disk.blocks
                );
            }
        }
        CacheCommand::Gc { to } => {
            let freed = drive.gc(to.unwrap_or(budget))?;
            println!("freed {}", format_size(freed));
        }
        CacheCommand::Clear => {
            drive.clear()?;
            println!("cleared (pinned transactions kept)");
        }
        CacheCommand::Unpin { ids } => {
            for id in &ids {
                drive.unpin(id).await?;
            }
        }
        CacheCommand::Verify { repair } => verify(drive, repair).await?,
    }
    Ok(())
}

async fn verify(drive: &Drive, repair: bool) -> anyhow::Result<()> {
    let check = drive.verify_cache(repair, |_, _| {}).await?;
    println!(
        "{} blocks sound ({}), {} extents sound, {} records loaded",
        check.sound_blocks,
        format_size(check.sound_bytes),
        check.sound_extents,
        check.records
    );
    for (key, why) in &check.corrupt {
        println!("corrupt, removed: block {}: {why}", hex::encode(key));
    }
    for (id, why) in &check.corrupt_extents {
        println!("corrupt, removed: extent of {id}: {why}");
    }
    if repair {
        println!("fetched again and proven: {} chunk(s)", check.refetched);
        if !check.corrupt_extents.is_empty() {
            println!(
                "fetched again, proven and assembled: {} extent(s)",
                check.repaired_extents
            );
        }
        for failed in &check.unrepaired {
            println!("not repaired: {failed}");
        }
        if !check.unrepaired.is_empty() {
            anyhow::bail!(
                "{} chunk(s) could not be fetched again; they will be fetched when read",
                check.unrepaired.len()
            );
        }
    } else if !check.corrupt.is_empty() || !check.corrupt_extents.is_empty() {
        anyhow::bail!(
            "{} corrupt block(s) and {} corrupt extent(s) removed; `weavedrive cache verify \
             --repair` fetches them again",
            check.corrupt.len(),
            check.corrupt_extents.len()
        );
    }
    Ok(())
}
