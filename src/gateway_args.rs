//! Gateway options shared by every command that talks to the network.

use std::time::Duration;

use clap::Args;
use weavedrive_cache::units::{format_size_exact, parse_size};
use weavedrive_cache::{DriveConfig, GatewayConfig};

#[derive(Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Gateway base URL; repeat for fallbacks, tried in the order given. Env
    /// WEAVEDRIVE_GATEWAY takes a comma-separated list.
    #[arg(
        long = "gateway",
        env = "WEAVEDRIVE_GATEWAY",
        value_delimiter = ',',
        default_value = GatewayConfig::DEFAULT_GATEWAY,
        global = true
    )]
    pub gateways: Vec<String>,
    /// Chunk requests in flight at once. A distant gateway's throughput comes from
    /// parallelism: 64 x 256 KiB at 20 ms per request is well over 100 MiB/s.
    #[arg(long, default_value_t = DriveConfig::DEFAULT_PRELOAD_CONCURRENCY, global = true)]
    pub concurrency: usize,
    /// Seconds before one request is abandoned (and retried).
    #[arg(long, default_value_t = GatewayConfig::DEFAULT_REQUEST_TIMEOUT.as_secs(), global = true)]
    pub timeout: u64,
    /// Extra rounds over the gateways after transient failures.
    #[arg(long, default_value_t = GatewayConfig::DEFAULT_RETRIES, global = true)]
    pub retries: u32,
    /// Largest transaction data_size accepted (e.g. 1TiB, 500GiB). A signed header claiming
    /// more is refused before anything is sized by it; the default is well above the
    /// largest real transactions.
    #[arg(
        long,
        default_value = format_size_exact(GatewayConfig::DEFAULT_MAX_DATA_SIZE),
        value_parser = parse_size,
        global = true
    )]
    pub max_data_size: u64,
}

impl GatewayArgs {
    /// The defaults clap would give, for commands that build a client themselves.
    pub fn defaults() -> Self {
        GatewayArgs {
            gateways: vec![GatewayConfig::DEFAULT_GATEWAY.into()],
            concurrency: DriveConfig::DEFAULT_PRELOAD_CONCURRENCY,
            timeout: GatewayConfig::DEFAULT_REQUEST_TIMEOUT.as_secs(),
            retries: GatewayConfig::DEFAULT_RETRIES,
            max_data_size: GatewayConfig::DEFAULT_MAX_DATA_SIZE,
        }
    }

    pub fn config(&self) -> GatewayConfig {
        GatewayConfig {
            gateways: self.gateways.clone(),
            request_timeout: Duration::from_secs(self.timeout.max(1)),
            // As long as the request timeout, up to the default read timeout.
            read_timeout: Duration::from_secs(
                self.timeout
                    .clamp(1, GatewayConfig::DEFAULT_READ_TIMEOUT.as_secs()),
            ),
            retries: self.retries,
            max_concurrency: self.concurrency.max(1) * 2,
            max_data_size: self.max_data_size,
            ..GatewayConfig::default()
        }
    }
}
