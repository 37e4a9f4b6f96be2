//! One module per subcommand; each is a thin layer over `weavedrive_cache`.

mod cache;
mod demo;
pub mod get;
mod mount;
mod preload;
mod run;
mod stat;

pub use cache::CacheCommand;
pub use get::Via;

use std::time::Duration;

use weavedrive_cache::Drive;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Get {
            id,
            output,
            gateway,
            via,
            quiet,
            no_cache,
            cache,
        } => runtime.block_on(get::run(id, output, &gateway, &cache, no_cache, via, quiet)),
        Command::Preload {
            ids,
            pin,
            shared,
            quiet,
            gateway,
            cache,
        } => runtime.block_on(async {
            let drive = Drive::new(cache.drive_config(&gateway))?;
            crate::metrics_endpoint::start(cache.metrics, &drive)?;
            preload::run(&drive, &ids, pin, quiet).await?;
            if shared {
                preload::share(&drive, &ids, quiet).await?;
            }
            finish_shared(&drive).await;
            Ok(())
        }),
        Command::Stat {
            id,
            json,
            gateway,
            cache,
        } => runtime.block_on(async {
            let drive = Drive::new(cache.drive_config(&gateway))?;
            stat::run(&drive, &id, json).await
        }),
        Command::Cache {
            command,
            gateway,
            cache,
        } => runtime.block_on(async {
            let drive = Drive::new(cache.drive_config(&gateway))?;
            cache::run(&drive, command, cache.disk_cache).await
        }),
        Command::Mount {
            mountpoint,
            daemon,
            allow_other,
            threads,
            verify_on_open,
            passthrough,
            access,
            gateway,
            cache,
        } => {
            // Checked here, so a bad --allow-file fails at once, not in the daemon's log.
            let policy = access.policy()?;
            if daemon {
                return mount::daemonize(&mountpoint, &cache.dir().join("mount.log"));
            }
            let options = weavedrive_fuse::MountOptions {
                allow_other,
                threads,
                policy,
                verify_on_open: verify_on_open.into(),
                passthrough: passthrough.into(),
            };
            mount::run(
                &runtime,
                &mountpoint,
                cache.drive_config(&gateway),
                &options,
                cache.metrics,
            )
        }
        Command::Run {
            module,
            dirs,
            env,
            preload,
            max_memory,
            access,
            gateway,
            cache,
            args,
        } => {
            let request = run::RunRequest {
                module,
                dirs,
                env,
                preload,
                args,
                max_memory,
                policy: access.policy()?,
                module_cache: weavedrive_cache::store::ModuleStore::open(&cache.dir()),
                metrics: cache.metrics,
            };
            let code = run::run(runtime, cache.drive_config(&gateway), request)?;
            std::process::exit(code)
        }
        Command::Unmount { mountpoint, lazy } => mount::unmount(&mountpoint, lazy),
        Command::Demo {
            large_mib,
            latency_ms,
            bandwidth_mib,
            mountpoint,
            exit,
        } => runtime.block_on(demo::run(demo::DemoOptions {
            large_mib,
            latency_ms,
            bandwidth_mib,
            mountpoint,
            exit,
        })),
    }
}

/// Waits (a minute at most) for uploads to the shared cache before the command exits, and
/// says if some did not finish (other hosts then fetch those from the gateways).
pub async fn finish_shared(drive: &Drive) {
    if let Some(flushed) = drive.flush_shared(Duration::from_secs(60)).await
        && flushed.left > 0
    {
        eprintln!(
            "weavedrive: {} uploads to the shared cache did not finish in time; other hosts \
             will read those from the gateways",
            flushed.left
        );
    }
}
