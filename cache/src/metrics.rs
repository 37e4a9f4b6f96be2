//! What a process's Drive did, as Prometheus metrics (`prometheus-client`): bytes served by
//! where they came from, requests, errors and latency per gateway and for the shared tier,
//! verification failures by kind, evictions and open handles. One [`Metrics`] per Drive,
//! shared with its gateway client and shared tier; frontends serve [`Metrics::encode`]
//! (`--metrics ADDR`) and show [`Metrics::snapshot`] (`stat --json`).

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Where bytes a read got came from. Memory and disk count bytes served from those tiers;
/// shared and gateway count verified chunk bytes fetched from them (into the cache, and to
/// the reader that waited). Reads the kernel serves from an extent by FUSE passthrough never
/// reach the process and are not counted.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum ByteSource {
    Memory,
    Disk,
    Shared,
    Gateway,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Not there (404): for the shared tier, a plain miss.
    Miss,
    /// Answered with something that failed verification.
    Integrity,
    /// Failed: refused, timed out, unreachable, 5xx.
    Error,
}

/// What failed verification, and where it came from.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Failure {
    /// A gateway's chunk failed its Merkle proof.
    GatewayChunk,
    /// A gateway's header failed its id or signature check.
    GatewayHeader,
    /// Another gateway answer failed its check.
    GatewayOther,
    /// A shared-tier block did not match its sha256 or the proof's leaf.
    SharedBlock,
    /// A shared-tier proof did not prove the chunk to the data_root.
    SharedProof,
    /// A shared-tier header failed its id or signature check.
    SharedHeader,
    /// A shared-tier item record did not match the verified bundle index.
    SharedItem,
    /// A shared-tier weave offset did not hold the data.
    SharedOffset,
}

/// The shared tier's operations.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum TierOp {
    Get,
    Head,
    Put,
}

/// What became of an upload offered to the shared tier.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Upload {
    /// Written.
    Uploaded,
    /// The tier had it already.
    Present,
    /// The tier refused or failed it (counted and logged, never a read's failure).
    Failed,
    /// Not attempted: the write-back queue was full (its memory is bounded).
    Dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    gateway: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayOnly {
    gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    op: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierOpOnly {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UploadLabels {
    result: &'static str,
}

/// Label values: lower-case, as Prometheus labels usually are.
macro_rules! labels {
    ($($ty:ident { $($variant:ident => $text:literal),* $(,)? })*) => {$(
        impl $ty {
            pub fn label(self) -> &'static str {
                match self { $($ty::$variant => $text),* }
            }
        }
    )*};
}

labels! {
    ByteSource { Memory => "memory", Disk => "disk", Shared => "shared", Gateway => "gateway" }
    Outcome { Ok => "ok", Miss => "miss", Integrity => "integrity", Error => "error" }
    Failure {
        GatewayChunk => "gateway_chunk",
        GatewayHeader => "gateway_header",
        GatewayOther => "gateway_other",
        SharedBlock => "shared_block",
        SharedProof => "shared_proof",
        SharedHeader => "shared_header",
        SharedItem => "shared_item",
        SharedOffset => "shared_offset",
    }
    TierOp { Get => "get", Head => "head", Put => "put" }
    Upload { Uploaded => "uploaded", Present => "present", Failed => "failed", Dropped => "dropped" }
}

type Latency = Family<GatewayOnly, Histogram, fn() -> Histogram>;
type TierLatency = Family<TierOpOnly, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    bytes: Family<SourceLabels, Counter>,
    /// `bytes`' counter of each source, looked up once: every read adds to one (a family
    /// lookup takes a lock and hashes the labels).
    by_source: [Counter; 4],
    gateway_requests: Family<GatewayLabels, Counter>,
    gateway_latency: Latency,
    tier_requests: Family<TierLabels, Counter>,
    tier_latency: TierLatency,
    failures: Family<FailureLabels, Counter>,
    uploads: Family<UploadLabels, Counter>,
    tier_demotions: Counter,
    evictions: Counter,
    open_handles: Gauge<i64, std::sync::atomic::AtomicI64>,
}

/// Latency buckets from 1 ms to about 33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("weavedrive");
        let m = Metrics {
            bytes: Family::default(),
            by_source: Default::default(),
            gateway_requests: Family::default(),
            gateway_latency: Family::new_with_constructor(latency_histogram),
            tier_requests: Family::default(),
            tier_latency: Family::new_with_constructor(latency_histogram),
            failures: Family::default(),
            uploads: Family::default(),
            tier_demotions: Counter::default(),
            evictions: Counter::default(),
            open_handles: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "bytes",
            "Bytes served by source: memory and disk tiers; verified chunk bytes fetched from \
             the shared tier and from gateways",
            m.bytes.clone(),
        );
        registry.register(
            "gateway_requests",
            "Gateway requests by gateway and outcome",
            m.gateway_requests.clone(),
        );
        registry.register(
            "gateway_request_seconds",
            "Gateway request latency",
            m.gateway_latency.clone(),
        );
        registry.register(
            "shared_requests",
            "Shared tier requests by operation and outcome",
            m.tier_requests.clone(),
        );
        registry.register(
            "shared_request_seconds",
            "Shared tier request latency",
            m.tier_latency.clone(),
        );
        registry.register(
            "verification_failures",
            "Answers that failed verification, by kind (nothing failing is ever served)",
            m.failures.clone(),
        );
        registry.register(
            "shared_uploads",
            "Write-back to the shared tier, by result",
            m.uploads.clone(),
        );
        registry.register(
            "shared_demotions",
            "Times the shared tier was demoted for serving something that failed verification",
            m.tier_demotions.clone(),
        );
        registry.register(
            "cache_evictions",
            "Blocks and extents evicted from the disk cache by this process",
            m.evictions.clone(),
        );
        registry.register(
            "open_handles",
            "Files open on the Drive",
            m.open_handles.clone(),
        );
        // In declaration order: `source as usize` indexes this.
        let sources = [
            ByteSource::Memory,
            ByteSource::Disk,
            ByteSource::Shared,
            ByteSource::Gateway,
        ];
        let by_source = sources.map(|source| {
            let labels = SourceLabels {
                source: source.label(),
            };
            m.bytes.get_or_create(&labels).clone()
        });
        Metrics {
            registry,
            by_source,
            ..m
        }
    }

    pub fn served(&self, source: ByteSource, bytes: u64) {
        if bytes > 0 {
            self.by_source[source as usize].inc_by(bytes);
        }
    }

    pub fn gateway_request(&self, gateway: &str, outcome: Outcome, took: Duration) {
        let gateway = gateway.to_string();
        self.gateway_requests
            .get_or_create(&GatewayLabels {
                gateway: gateway.clone(),
                outcome: outcome.label(),
            })
            .inc();
        self.gateway_latency
            .get_or_create(&GatewayOnly { gateway })
            .observe(took.as_secs_f64());
    }

    pub fn tier_request(&self, op: TierOp, outcome: Outcome, took: Duration) {
        self.tier_requests
            .get_or_create(&TierLabels {
                op: op.label(),
                outcome: outcome.label(),
            })
            .inc();
        self.tier_latency
            .get_or_create(&TierOpOnly { op: op.label() })
            .observe(took.as_secs_f64());
    }

    pub fn verification_failed(&self, kind: Failure) {
        self.failures
            .get_or_create(&FailureLabels { kind: kind.label() })
            .inc();
    }

    pub fn upload(&self, result: Upload) {
        self.uploads
            .get_or_create(&UploadLabels {
                result: result.label(),
            })
            .inc();
    }

    pub fn tier_demoted(&self) {
        self.tier_demotions.inc();
    }

    /// Brings the evictions counter up to `total`, the disk store's own count.
    pub fn sync_evictions(&self, total: u64) {
        let seen = self.evictions.get();
        if total > seen {
            self.evictions.inc_by(total - seen);
        }
    }

    pub fn handle_opened(&self) {
        self.open_handles.inc();
    }

    pub fn handle_closed(&self) {
        self.open_handles.dec();
    }

    /// Bytes served from `source` so far.
    pub fn served_from(&self, source: ByteSource) -> u64 {
        self.by_source[source as usize].get()
    }

    /// Verification failures of `kind` so far.
    pub fn failures_of(&self, kind: Failure) -> u64 {
        self.failures
            .get_or_create(&FailureLabels { kind: kind.label() })
            .get()
    }

    /// The Prometheus text exposition (OpenMetrics) of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Every sample of [`Self::encode`] as `name{labels}` → value (histograms as their
    /// `_count` and `_sum`), for `stat --json`.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        self.encode()
            .lines()
            .filter(|line| !line.starts_with('#') && !line.contains("_bucket"))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_text_and_the_snapshot() {
        let m = Metrics::new();
        m.served(ByteSource::Gateway, 1000);
        m.served(ByteSource::Gateway, 24);
        m.gateway_request("http://gw", Outcome::Ok, Duration::from_millis(3));
        m.verification_failed(Failure::SharedBlock);
        m.handle_opened();
        let text = m.encode();
        assert!(
            text.contains("weavedrive_bytes_total{source=\"gateway\"} 1024"),
            "{text}"
        );
        let snap = m.snapshot();
        assert_eq!(snap["weavedrive_bytes_total{source=\"gateway\"}"], 1024.0);
        assert_eq!(
            snap["weavedrive_gateway_requests_total{gateway=\"http://gw\",outcome=\"ok\"}"],
            1.0
        );
        assert_eq!(
            snap["weavedrive_gateway_request_seconds_count{gateway=\"http://gw\"}"],
            1.0
        );
        assert_eq!(
            snap["weavedrive_verification_failures_total{kind=\"shared_block\"}"],
            1.0
        );
        assert_eq!(snap["weavedrive_open_handles"], 1.0);
        assert_eq!(m.served_from(ByteSource::Gateway), 1024);
        // Each source counts under its own label.
        for (n, source) in ["memory", "disk", "shared"].iter().enumerate() {
            let kind = [ByteSource::Memory, ByteSource::Disk, ByteSource::Shared][n];
            m.served(kind, 10 + n as u64);
            let line = format!("weavedrive_bytes_total{{source=\"{source}\"}} {}", 10 + n);
            assert!(m.encode().contains(&line), "{line}");
        }
    }
}
