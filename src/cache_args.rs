//! Cache options shared by the commands that use the block cache.

use std::path::PathBuf;

use clap::Args;
use weavedrive_cache::DriveConfig;
use weavedrive_cache::units::{format_size_exact, parse_size};

use crate::gateway_args::GatewayArgs;

#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Disk cache directory [default: $XDG_CACHE_HOME/weavedrive, else ~/.cache/weavedrive].
    #[arg(long, env = "WEAVEDRIVE_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Disk cache budget (least recently used blocks go first; pinned ones never).
    #[arg(
        long,
        default_value = format_size_exact(DriveConfig::DEFAULT_DISK_BUDGET),
        value_parser = parse_size,
        global = true
    )]
    pub disk_cache: u64,
    /// Memory cache budget.
    #[arg(
        long,
        default_value = format_size_exact(DriveConfig::DEFAULT_MEMORY_BUDGET),
        value_parser = parse_size,
        global = true
    )]
    pub memory_cache: u64,
    /// Serve data items before their own signature is checked over all their data, and
    /// items whose signature type this build cannot check, on the word of whoever signed the
    /// bundle holding them (any gateway can sign a bundle). Off by default: an item's first
    /// read then waits for its signature check.
    #[arg(long, global = true)]
    pub trust_bundle_signer: bool,
    /// Keep fully cached files as blocks only: no extent file (one file per transaction or
    /// item, which a mount hands to the kernel and other reads read with one pread).
    #[arg(long, global = true)]
    pub no_extents: bool,
    /// A cache shared by a fleet of hosts, on an object store: s3://BUCKET/PREFIX (S3, MinIO,
    /// Ceph, R2: credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for plain HTTP), gs://BUCKET/PREFIX,
    /// az://CONTAINER/PREFIX or file:///DIR. Asked after the local cache and before the
    /// gateways; what this host verifies from gateways is written back. Nothing in it is
    /// trusted: everything read from it is verified as a gateway's answer is.
    #[arg(
        long,
        env = "WEAVEDRIVE_SHARED_CACHE",
        global = true,
        value_name = "URL"
    )]
    pub shared_cache: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics while the command runs (bytes by
    /// source, requests and latency per gateway and for the shared cache, failed checks).
    #[arg(long, env = "WEAVEDRIVE_METRICS", global = true, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl CacheArgs {
    pub fn dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("weavedrive")
    }

    pub fn drive_config(&self, gateway: &GatewayArgs) -> DriveConfig {
        DriveConfig {
            gateway: gateway.config(),
            cache_dir: Some(self.dir()),
            disk_budget: self.disk_cache,
            memory_budget: self.memory_cache,
            preload_concurrency: gateway.concurrency,
            trust_bundle_signer: self.trust_bundle_signer,
            extents: !self.no_extents,
            shared_cache: self.shared_cache.clone(),
            ..DriveConfig::default()
        }
    }

    /// For `get`: the same Drive as the other commands', or with `no_cache` one that keeps
    /// nothing on disk (memory only).
    pub fn get_config(&self, gateway: &GatewayArgs, no_cache: bool) -> DriveConfig {
        let mut config = self.drive_config(gateway);
        if no_cache {
            config.cache_dir = None;
        }
        config
    }
}
