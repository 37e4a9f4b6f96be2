//! Command-line interface definition.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use weavedrive_cache::TxId;
use weavedrive_cache::units::{format_size_exact, parse_size};

use crate::access_args::AccessArgs;
use crate::cache_args::CacheArgs;
use crate::commands::{CacheCommand, Via};
use crate::gateway_args::GatewayArgs;

/// `weavedrive run --max-memory`'s default: what AO gives a wasm64 process.
pub const DEFAULT_MAX_MEMORY: u64 = 16 << 30;

#[derive(Parser)]
#[command(
    name = "weavedrive",
    version,
    about = "Read Arweave data as a local disk, verified"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Fetch a transaction's or bundled data item's data, verify every byte, write it to
    /// stdout or a file.
    Get {
        /// Transaction or data item id (43 base64url characters), or `<manifest-id>/<path>`
        /// for a file of a path manifest (`<manifest-id>/` for its index).
        id: crate::commands::get::Target,
        /// Write here (atomically: temp file + rename, never partial); `-` or absent = stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// `chunks`: per-chunk Merkle proofs, streamed as verified (any gateway).
        /// `ranges`: large ranged reads of `/raw/{id}` checked against the data root at the
        /// end (ar.io gateways); falls back to chunks when that cannot be verified.
        #[arg(long, value_enum, default_value_t)]
        via: Via,
        /// Do not print the summary line on stderr.
        #[arg(short, long)]
        quiet: bool,
        /// Use no disk cache: neither serve from it nor leave what is fetched in it (by
        /// default `get` reads through the cache, as the mount does).
        #[arg(long)]
        no_cache: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Fetch whole transactions or data items into the disk cache (verified), with progress.
    /// A large data item's signature is checked once all of it is in.
    Preload {
        #[arg(required = true)]
        ids: Vec<TxId>,
        /// Keep them from eviction, across restarts, until `weavedrive cache unpin`.
        #[arg(long)]
        pin: bool,
        /// Seed the shared cache (--shared-cache): make sure it holds everything another
        /// host needs to read these ids from it alone, uploading what it lacks.
        #[arg(long, requires = "shared_cache")]
        shared: bool,
        /// No progress bar or summary.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Show a transaction's or data item's size, owner, tags and how much of it is cached;
    /// for a data item, the bundles holding it and how it was verified.
    Stat {
        id: TxId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Inspect and trim the disk cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Mount the drive read-only: `<MOUNTPOINT>/data/<id>` is the data of transaction or
    /// bundled data item `<id>`,
    /// `<MOUNTPOINT>/tx/<id>` its header as JSON, `<MOUNTPOINT>/block/<height>` a block header
    /// (as the gateway reports it; blocks are not authenticated). Serves until Ctrl-C, SIGTERM or unmount.
    Mount {
        mountpoint: PathBuf,
        /// Run in the background (log in the cache dir) and return once mounted.
        #[arg(long)]
        daemon: bool,
        /// Let other users read the mount.
        #[arg(long)]
        allow_other: bool,
        /// FUSE worker threads.
        #[arg(long, default_value_t = weavedrive_fuse::MountOptions::DEFAULT_THREADS)]
        threads: usize,
        /// Which data files an open fetches and verifies whole first, so that a chunk no
        /// gateway serves verified fails the open (EIO) rather than a page fault of a
        /// mapping, which a loader using MAP_POPULATE (llama.cpp) would wait on for good.
        /// `gguf`: files starting with the GGUF magic; `all`; `never` (opens return at once).
        #[arg(long, value_enum, default_value_t = VerifyOnOpenArg::Gguf)]
        verify_on_open: VerifyOnOpenArg,
        /// Hand fully cached files to the kernel (FUSE passthrough, Linux 6.9+, needs
        /// CAP_SYS_ADMIN), so their reads and mappings never reach this process: `auto` uses
        /// it where the kernel allows; `off` serves every read here.
        #[arg(long, value_enum, env = "WEAVEDRIVE_PASSTHROUGH", default_value_t = PassthroughArg::Auto)]
        passthrough: PassthroughArg,
        #[command(flatten)]
        access: AccessArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run a WASI (preview1) module with `/data/<id>` and `/tx/<id>` preopened, served from
    /// the cache straight into the module's memory. Exits with the module's exit code. A
    /// memory64 module gets WeaveDrive's own 64-bit WASI (preview1 with 64-bit pointers).
    Run {
        /// The module (.wasm or .wat). Its compilation is cached beside the block cache.
        module: PathBuf,
        /// Preopen a host directory, read-write: `HOST::GUEST`, or `DIR` for the same path.
        #[arg(long = "dir", value_name = "HOST::GUEST")]
        dirs: Vec<String>,
        /// An environment variable for the module: `NAME=VALUE` (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Fetch this id into the cache before the module starts (repeatable).
        #[arg(long = "preload", value_name = "ID", allow_hyphen_values = true)]
        preload: Vec<TxId>,
        /// The most linear memory the module may grow to (a failed `memory.grow` past it,
        /// which the module's allocator reports as out of memory).
        #[arg(
            long,
            value_name = "SIZE",
            default_value = format_size_exact(DEFAULT_MAX_MEMORY),
            value_parser = parse_size
        )]
        max_memory: u64,
        #[command(flatten)]
        access: AccessArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// Arguments for the module, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Unmount a weavedrive mount (also one left stale by a killed process).
    Unmount {
        mountpoint: PathBuf,
        /// Detach now even if files are open; the kernel finishes when they close.
        #[arg(long)]
        lazy: bool,
    },
    /// Offline demo: the embedded local gateway with sample data, fetched and verified, then
    /// mounted and read back; serves until Ctrl-C.
    Demo {
        /// Size of the large sample transaction, in MiB.
        #[arg(long, default_value_t = 300)]
        large_mib: u64,
        /// Make the local gateway behave like a distant one: delay per request (ms).
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// ... and a bandwidth cap per connection (MiB/s).
        #[arg(long)]
        bandwidth_mib: Option<u64>,
        /// Mount here instead of a temporary directory.
        #[arg(long)]
        mountpoint: Option<PathBuf>,
        /// Exit after the checks instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
}

/// Parses the process arguments, letting ids that start with `-` through (see
/// [`hyphen_ids_to_positionals`]).
pub fn parse() -> Cli {
    Cli::parse_from(hyphen_ids_to_positionals(std::env::args_os().collect()))
}

/// One id in 64 starts with `-`, and clap would read `-Zabc...` as flags. Such arguments (not
/// values of an option) are moved behind a `--`, where clap takes them as positionals, in
/// order. No option name is 43 base64url characters, so nothing else is touched.
pub fn hyphen_ids_to_positionals(args: Vec<OsString>) -> Vec<OsString> {
    let takes_value = value_options(&Cli::command());
    let (mut kept, mut ids) = (Vec::with_capacity(args.len()), Vec::new());
    let mut value_next = false;
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            kept.push(arg);
            kept.extend(iter.by_ref());
            break;
        }
        let text = arg.to_string_lossy();
        let id_like = text.parse::<crate::commands::get::Target>().is_ok();
        if !value_next && text.starts_with('-') && id_like {
            ids.push(arg);
            continue;
        }
        value_next = !text.contains('=') && takes_value.contains(text.as_ref());
        kept.push(arg);
    }
    if !ids.is_empty() {
        if !kept.iter().any(|a| a == "--") {
            kept.push("--".into());
        }
        kept.extend(ids);
    }
    kept
}

/// `--flag` and `-f` spellings of every option that takes a value, in any subcommand.
fn value_options(command: &clap::Command) -> HashSet<String> {
    let mut names = HashSet::new();
    for arg in command.get_arguments() {
        if arg.get_action().takes_values() && !arg.is_positional() {
            names.extend(arg.get_long().map(|l| format!("--{l}")));
            names.extend(arg.get_short().map(|c| format!("-{c}")));
        }
    }
    for sub in command.get_subcommands() {
        names.extend(value_options(sub));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quarter of all ids start with `-` or `_`; `-Z...` must parse as an id, not a flag.
    #[test]
    fn ids_may_start_with_a_hyphen() {
        let id = format!("-{}", &TxId([0x55; 32]).to_string()[1..]);
        assert!(id.parse::<TxId>().is_ok());
        for args in [
            vec!["weavedrive", "get", &id, "-o", "out.bin"],
            vec!["weavedrive", "get", "-o", "out.bin", &id],
            vec!["weavedrive", "stat", &id, "--json"],
            vec!["weavedrive", "preload", &id, &id, "--pin"],
            vec!["weavedrive", "cache", "unpin", &id, "--cache-dir", "d"],
        ] {
            let args = hyphen_ids_to_positionals(args.into_iter().map(Into::into).collect());
            let parsed = Cli::try_parse_from(&args);
            assert!(parsed.is_ok(), "{args:?}: {}", parsed.err().unwrap());
        }
        let args = ["weavedrive", "get", &id, "-o", "x"]
            .map(OsString::from)
            .to_vec();
        let Command::Get {
            id: got, output, ..
        } = Cli::try_parse_from(hyphen_ids_to_positionals(args))
            .unwrap()
            .command
        else {
            panic!("not get")
        };
        assert_eq!(got.to_string(), id);
        assert_eq!(output.unwrap(), std::path::PathBuf::from("x"));
    }
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        hyphen_ids_to_positionals(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn only_hyphen_ids_outside_option_values_move() {
        let id = format!("-{}", &TxId([0x55; 32]).to_string()[1..]);
        let plain = TxId([1; 32]).to_string();
        assert_eq!(
            rewrite(&["w", "get", &plain, "-o", "x"]),
            ["w", "get", &plain, "-o", "x"]
        );
        assert_eq!(
            rewrite(&["w", "preload", &id, &plain, "--pin"]),
            ["w", "preload", &plain, "--pin", "--", &id]
        );
        // A value of an option stays where it is, even if it looks like an id.
        assert_eq!(
            rewrite(&["w", "get", &plain, "-o", &id]),
            ["w", "get", &plain, "-o", &id]
        );
        assert_eq!(
            rewrite(&["w", "get", "--output", &id, &id]),
            ["w", "get", "--output", &id, "--", &id]
        );
        // After an existing `--`, nothing is touched.
        assert_eq!(rewrite(&["w", "get", "--", &id]), ["w", "get", "--", &id]);
    }
}

/// `mount --verify-on-open`: see [`weavedrive_fuse::VerifyOnOpen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyOnOpenArg {
    Never,
    Gguf,
    All,
}

impl From<VerifyOnOpenArg> for weavedrive_fuse::VerifyOnOpen {
    fn from(arg: VerifyOnOpenArg) -> Self {
        match arg {
            VerifyOnOpenArg::Never => weavedrive_fuse::VerifyOnOpen::Never,
            VerifyOnOpenArg::Gguf => weavedrive_fuse::VerifyOnOpen::Gguf,
            VerifyOnOpenArg::All => weavedrive_fuse::VerifyOnOpen::All,
        }
    }
}

/// `mount --passthrough`: see [`weavedrive_fuse::Passthrough`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PassthroughArg {
    Auto,
    Off,
}

impl From<PassthroughArg> for weavedrive_fuse::Passthrough {
    fn from(arg: PassthroughArg) -> Self {
        match arg {
            PassthroughArg::Auto => weavedrive_fuse::Passthrough::Auto,
            PassthroughArg::Off => weavedrive_fuse::Passthrough::Off,
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use weavedrive_cache::{DriveConfig, GatewayConfig};
    use weavedrive_fuse::MountOptions;

    /// `a` and `b` field by field, destructured in full so that a new field does not compile
    /// until it is compared here. `max_concurrency` is the one field the command line sets
    /// apart: `--concurrency N` is one fetch's window and the client's limit over all of them
    /// is 2N (`GatewayArgs::config`), so the CLI's is twice the library's default.
    fn assert_gateway_configs_agree(cli: &GatewayConfig, default: &GatewayConfig) {
        let GatewayConfig {
            gateways: _, // from the environment too; see `cli_defaults_are_the_config_defaults`
            connect_timeout,
            read_timeout,
            request_timeout,
            retries,
            backoff,
            max_concurrency,
            max_data_size,
        } = cli;
        assert_eq!(*connect_timeout, default.connect_timeout);
        assert_eq!(*read_timeout, default.read_timeout);
        assert_eq!(*request_timeout, default.request_timeout);
        assert_eq!(*retries, default.retries);
        assert_eq!(*backoff, default.backoff);
        assert_eq!(
            *max_concurrency,
            2 * DriveConfig::DEFAULT_PRELOAD_CONCURRENCY
        );
        assert_eq!(*max_data_size, default.max_data_size);
    }

    /// With no option given, the configs a command builds are the config types' defaults:
    /// the CLI's defaults are taken from their constants, and cannot drift from them.
    #[test]
    fn cli_defaults_are_the_config_defaults() {
        let parsed = Cli::try_parse_from(["weavedrive", "mount", "/mnt"]).unwrap();
        let Command::Mount {
            threads,
            verify_on_open,
            passthrough,
            gateway,
            cache,
            ..
        } = parsed.command
        else {
            panic!("not mount")
        };
        assert_eq!(threads, MountOptions::default().threads);
        assert_eq!(
            weavedrive_fuse::VerifyOnOpen::from(verify_on_open),
            MountOptions::default().verify_on_open
        );
        // Both read WEAVEDRIVE_PASSTHROUGH, so they agree wherever the tests run.
        assert_eq!(
            weavedrive_fuse::Passthrough::from(passthrough),
            MountOptions::default().passthrough
        );

        let default = DriveConfig::default();
        let DriveConfig {
            gateway: cli_gateway,
            cache_dir: _, // the CLI always has a disk tier, in a directory of its own
            disk_budget,
            memory_budget,
            prefetch_max,
            preload_concurrency,
            trust_bundle_signer,
            extents,
            shared_cache,
        } = cache.drive_config(&gateway);
        assert_eq!(shared_cache, default.shared_cache);
        assert_eq!(extents, default.extents);
        assert_eq!(disk_budget, default.disk_budget);
        assert_eq!(memory_budget, default.memory_budget);
        assert_eq!(prefetch_max, default.prefetch_max);
        assert_eq!(preload_concurrency, default.preload_concurrency);
        assert_eq!(trust_bundle_signer, default.trust_bundle_signer);
        assert_gateway_configs_agree(&cli_gateway, &default.gateway);
        // The defaults for commands that build a client themselves (demo) agree as well.
        let built = GatewayArgs::defaults().config();
        assert_gateway_configs_agree(&built, &default.gateway);
        assert_eq!(built.gateways, default.gateway.gateways);

        // The default gateway, as declared (WEAVEDRIVE_GATEWAY may be set where tests run).
        let command = Cli::command();
        let mount = command.find_subcommand("mount").unwrap();
        let arg = mount
            .get_arguments()
            .find(|a| a.get_id() == "gateways")
            .unwrap();
        assert_eq!(arg.get_default_values(), default.gateway.gateways);
    }
}
