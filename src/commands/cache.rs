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
    }
    Ok(())
}
