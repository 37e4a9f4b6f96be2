//! `weavedrive preload`: fill the disk cache with whole transactions, with a progress bar.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use weavedrive_cache::units::format_size;
use weavedrive_cache::{Drive, TxId};

pub async fn run(drive: &Drive, ids: &[TxId], pin: bool, quiet: bool) -> anyhow::Result<()> {
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )?
    .progress_chars("=> ");
    for id in ids {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0).with_style(style.clone())
        };
        bar.set_prefix(format!("{}…", &id.to_string()[..8]));
        let started = Instant::now();
        let fetched = drive
            .preload(id, pin, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await;
        bar.finish_and_clear();
        let fetched = fetched?;
        if !quiet {
            let info = drive.stat(id).await?;
            eprintln!(
                "{id}: {} cached{} ({} from the network in {:.1} s)",
                format_size(info.bytes_cached),
                if info.pinned { ", pinned" } else { "" },
                format_size(fetched),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// `preload --shared`: seeds the shared cache with everything another host needs to read
/// `ids` from it alone (after [`run`] cached them here).
pub async fn share(drive: &Drive, ids: &[TxId], quiet: bool) -> anyhow::Result<()> {
    for id in ids {
        let started = Instant::now();
        let shared = drive.share(id).await?;
        if !quiet {
            eprintln!(
                "{id}: in the shared cache ({} objects uploaded, {} there already, {} chunks \
                 fetched again for their proofs, {:.1} s)",
                shared.uploaded,
                shared.present,
                shared.refetched,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
