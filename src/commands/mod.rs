//! One module per subcommand; each is a thin layer over `weavedrive_cache`.

mod demo;
mod get;

pub use get::Via;

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
        } => runtime.block_on(get::run(id, output, &gateway, via, quiet)),
        Command::Demo {
            large_mib,
            latency_ms,
            bandwidth_mib,
            serve,
        } => runtime.block_on(demo::run(demo::DemoOptions {
            large_mib,
            latency_ms,
            bandwidth_mib,
            serve,
        })),
    }
}
