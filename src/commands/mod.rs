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
            quiet,
            gateway,
            cache,
        } => runtime.block_on(async {
            let drive = Drive::new(cache.drive_config(&gateway))?;
            preload::run(&drive, &ids, pin, quiet).await
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
