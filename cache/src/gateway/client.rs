//! HTTP client over several untrusted gateways: priority order with failover, retries that
//! last as long as a gateway makes progress (exponential backoff once it serves nothing),
//! timeouts, body size caps, a global concurrency limit with per-gateway flow control
//! (pacing.rs), and a verification hook on every response so a gateway that lies is treated
//! like one that fails.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::{StatusCode, Url, header};
use tokio::sync::Semaphore;

use super::chunk_endpoint::{self, ChunkEndpoint};
use super::error::{AttemptError, GatewayError, TransportKind, Unusable};
use super::limits::{self, Limits};
use super::pacing::{Pacing, parse_retry_after};
use crate::metrics::{Failure, Metrics, Outcome};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URLs in priority order.
    pub gateways: Vec<String>,
    pub connect_timeout: Duration,
    /// Longest silence while waiting for bytes; catches gateways that hang mid-response.
    pub read_timeout: Duration,
    /// Upper bound on one whole small request (header, offset, one chunk).
    pub request_timeout: Duration,
    /// Extra rounds over the gateways after the first, for transient failures while no
    /// gateway tried serves anything (for `request_timeout`). Rounds in which a gateway
    /// refused us but served other requests lately do not count (it is busy, not down), up
    /// to [`PROGRESS_ROUNDS`] times as many rounds and `retries + 1` request timeouts in all.
    /// 0: no retry at all.
    pub retries: u32,
    /// Pause before the second round; doubles with each round in which no gateway made
    /// progress (rounds while one does wait just this long: its flow control paces us).
    pub backoff: Duration,
    /// Requests in flight at once, over all gateways; also the most any one gateway gets
    /// (less while it answers 429/503, see pacing.rs).
    pub max_concurrency: usize,
    /// Largest signed `data_size` accepted in a transaction header; larger ones are refused
    /// before anything is sized by them. Default [`GatewayConfig::DEFAULT_MAX_DATA_SIZE`].
    pub max_data_size: u64,
}

/// Defaults, named so that the command line's defaults are these same values.
impl GatewayConfig {
    pub const DEFAULT_GATEWAY: &str = "https://arweave.net";
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_RETRIES: u32 = 4;
    pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
    /// 1 TiB, well above the largest real transactions.
    pub const DEFAULT_MAX_DATA_SIZE: u64 = 1 << 40;
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            gateways: vec![Self::DEFAULT_GATEWAY.into()],
            connect_timeout: Duration::from_secs(10),
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            backoff: Duration::from_millis(200),
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            max_data_size: Self::DEFAULT_MAX_DATA_SIZE,
        }
    }
}

/// How many times `retries + 1` rounds a request may go on while its gateway makes progress:
/// enough that a gateway refusing half its requests is very unlikely to refuse one request
/// every time, and bounded so one request refused forever still ends.
pub const PROGRESS_ROUNDS: u32 = 8;

/// A gateway's recent behaviour: gateways that keep failing are tried last (but still tried,
/// so one that comes back is used again without a restart).
struct Gateway {
    base: Url,
    label: String,
    health: Mutex<Health>,
    pacing: Pacing,
    chunk_endpoint: ChunkEndpoint,
}

#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    demoted_until: Option<Instant>,
}

/// The parts of a successful (2xx) response a caller checks.
pub struct Reply {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Bytes,
    /// The body is a chunk's raw bytes from `/chunk/{offset}/data`, its proof in the headers
    /// (see [`GatewayClient::get_chunk_checked`]); otherwise whatever the path serves.
    pub binary_chunk: bool,
}

/// What a request asks each gateway for.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Path(&'a str),
    /// The chunk holding this weave offset, from the gateway's binary endpoint where it has
    /// one, else its JSON endpoint.
    Chunk {
        weave_offset: u64,
    },
}

pub struct GatewayClient {
    http: reqwest::Client,
    gateways: Vec<Gateway>,
    config: GatewayConfig,
    permits: Semaphore,
    metrics: Arc<Metrics>,
}

impl GatewayClient {
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayError> {
        Self::with_metrics(config, Arc::default())
    }

    /// [`Self::new`], counting requests, latency and failed checks in `metrics`.
    pub fn with_metrics(
        config: GatewayConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, GatewayError> {
        let invalid = |detail: String| GatewayError::Invalid {
            what: "gateway configuration".into(),
            detail,
        };
        if config.gateways.is_empty() {
            return Err(invalid("no gateway given".into()));
        }
        let gateways = config
            .gateways
            .iter()
            .map(|text| {
                let mut base =
                    Url::parse(text).map_err(|e| invalid(format!("gateway URL {text:?}: {e}")))?;
                if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
                    return Err(invalid(format!("gateway URL {text:?} is not http(s)")));
                }
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                Ok(Gateway {
                    label: text.trim_end_matches('/').to_string(),
                    base,
                    health: Mutex::new(Health::default()),
                    pacing: Pacing::new(config.max_concurrency),
                    chunk_endpoint: ChunkEndpoint::default(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .pool_max_idle_per_host(config.max_concurrency)
            .tcp_nodelay(true)
            .user_agent(concat!("weavedrive/", env!("CARGO_PKG_VERSION")))
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(GatewayClient {
            http,
            gateways,
            permits: Semaphore::new(config.max_concurrency.max(1)),
            config,
            metrics,
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// How many gateways are configured (numbered from 0 in priority order, for
    /// [`Self::get_checked_on`]).
    pub fn gateway_count(&self) -> usize {
        self.gateways.len()
    }

    /// The gateway's URL as the user gave it, for messages.
    pub fn gateway_label(&self, gateway: usize) -> &str {
        &self.gateways[gateway].label
    }

    /// Requests gateway number `gateway` may have in flight now: cut when it answers 429 or
    /// 503, grown back as it serves.
    pub fn gateway_limit(&self, gateway: usize) -> usize {
        self.gateways[gateway].pacing.limit()
    }

    /// GETs `path` (relative to each gateway's base) until `check` accepts a reply.
    /// `what` names the request in errors; `limits` bound the time and the body (a larger
    /// body is a lie of that gateway). Gateways are tried in priority order (demoted ones
    /// last, those in a `Retry-After` pause only when no other is left) in each round; a
    /// gateway that answers "not found" or refuses is not asked again.
    pub async fn get_checked<T>(
        &self,
        what: &str,
        path: &str,
        range: Option<Range<u64>>,
        limits: Limits,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let target = Target::Path(path);
        self.checked(
            reqwest::Method::GET,
            None,
            what,
            target,
            range,
            limits,
            check,
        )
        .await
    }

    /// GETs the chunk holding `weave_offset` until `check` accepts a reply, as
    /// [`Self::get_checked`] does. Each gateway is asked for the raw bytes first
    /// (`/chunk/{offset}/data`, the proof in headers: [`Reply::binary_chunk`]), and for the
    /// JSON (`/chunk/{offset}`) once it has shown it has no binary endpoint. `timeout` bounds
    /// each request.
    pub async fn get_chunk_checked<T>(
        &self,
        what: &str,
        weave_offset: u64,
        timeout: Duration,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let target = Target::Chunk { weave_offset };
        let limits = Limits::new(timeout, limits::CHUNK_JSON_MAX);
        self.checked(
            reqwest::Method::GET,
            None,
            what,
            target,
            None,
            limits,
            check,
        )
        .await
    }

    /// [`Self::get_checked`] asking only gateway number `gateway` (with the usual retries):
    /// for answers that must be compared across gateways, or asked of each in turn.
    pub async fn get_checked_on<T>(
        &self,
        gateway: usize,
        what: &str,
        path: &str,
        range: Option<Range<u64>>,
        limits: Limits,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let (only, target) = (Some(gateway), Target::Path(path));
        self.checked(
            reqwest::Method::GET,
            only,
            what,
            target,
            range,
            limits,
            check,
        )
        .await
    }

    /// [`Self::get_checked`] for a HEAD request: `check` sees the headers, with an empty body
    /// (a HEAD answer has none, whatever its `Content-Length` says). `only` restricts it to
    /// one gateway, as in [`Self::get_checked_on`].
    pub async fn head_checked<T>(
        &self,
        only: Option<usize>,
        what: &str,
        path: &str,
        timeout: Duration,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let method = reqwest::Method::HEAD;
        let limits = Limits::new(timeout, 0);
        self.checked(method, only, what, Target::Path(path), None, limits, check)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn checked<T>(
        &self,
        method: reqwest::Method,
        only: Option<usize>,
        what: &str,
        target: Target<'_>,
        range: Option<Range<u64>>,
        limits: Limits,
        mut check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let started = Instant::now();
        let mut attempts = Vec::new();
        // Gateways other than `only` count as given up from the start.
        let mut given_up: Vec<bool> = (0..self.gateways.len())
            .map(|i| only.is_some_and(|only| only != i))
            .collect();
        let (mut rounds, mut fruitless_rounds) = (0u32, 0u32);
        loop {
            // Set when a gateway failed us but served others lately: busy, not down.
            let mut progress = false;
            let open: Vec<usize> = self
                .priority_order()
                .into_iter()
                .filter(|&i| !given_up[i])
                .collect();
            let all_paused = open.iter().all(|&i| self.gateways[i].pacing.paused());
            for index in open {
                let gateway = &self.gateways[index];
                if !all_paused && gateway.pacing.paused() {
                    continue;
                }
                let asked = Instant::now();
                let reply = match target {
                    Target::Path(path) => {
                        let request = (method.clone(), path, range.clone(), limits);
                        self.attempt(gateway, request).await
                    }
                    Target::Chunk { weave_offset } => {
                        self.chunk_attempt(gateway, weave_offset, limits).await
                    }
                };
                let outcome = match reply {
                    Ok(reply) => check(reply),
                    Err(e) => Err(e),
                };
                self.count(gateway, target, &outcome, asked.elapsed());
                match outcome {
                    Ok(value) => {
                        self.record(index, true);
                        return Ok(value);
                    }
                    Err(error) => {
                        tracing::debug!(gateway = %gateway.label, %what, %error, "attempt failed");
                        if error.is_transient() {
                            self.record(index, false);
                            progress |= gateway.pacing.served_within(self.config.request_timeout);
                        } else if !error.is_integrity() {
                            // Not found, refused, unusable: this gateway will not do better.
                            given_up[index] = true;
                        }
                        attempts.push((gateway.label.clone(), error));
                    }
                }
            }
            rounds += 1;
            let retries = self.config.retries;
            let may_forgive =
                retries > 0 && started.elapsed() < self.config.request_timeout * (retries + 1);
            if !(progress && may_forgive) {
                fruitless_rounds += 1;
            }
            let out_of_rounds = rounds >= (retries + 1).saturating_mul(PROGRESS_ROUNDS);
            if given_up.iter().all(|&g| g) || fruitless_rounds > retries || out_of_rounds {
                break;
            }
            let pause = if progress {
                // The gateway is alive and its flow control (fewer requests at once) paces
                // us: a short pause, jittered so the refused do not return together.
                self.backoff(1) / 4
            } else {
                self.backoff(fruitless_rounds)
            };
            tokio::time::sleep(pause).await;
        }
        Err(GatewayError::from_attempts(what.to_string(), attempts))
    }

    /// One gateway's answer for the chunk at `weave_offset`: binary where it serves that,
    /// else JSON (`json_limits`). A binary miss on a gateway not yet known to serve binary
    /// may mean the endpoint is missing (Arweave nodes, arlocal), so JSON is asked too.
    async fn chunk_attempt(
        &self,
        gateway: &Gateway,
        weave_offset: u64,
        json_limits: Limits,
    ) -> Result<Reply, AttemptError> {
        let get = reqwest::Method::GET;
        let endpoint = &gateway.chunk_endpoint;
        let mut binary_missing = false;
        if endpoint.try_binary() {
            let path = chunk_endpoint::binary_path(weave_offset);
            let limits = Limits::new(json_limits.timeout, limits::CHUNK_DATA_MAX);
            match self
                .attempt(gateway, (get.clone(), &path, None, limits))
                .await
            {
                Ok(mut reply) if reply.headers.contains_key(chunk_endpoint::DATA_PATH_HEADER) => {
                    endpoint.served_binary();
                    reply.binary_chunk = true;
                    return Ok(reply);
                }
                // A success without a proof is not the binary endpoint (a catch-all page).
                Ok(_) => binary_missing = true,
                Err(AttemptError::NotFound | AttemptError::Rejected { .. })
                    if endpoint.may_lack_binary() =>
                {
                    binary_missing = true
                }
                Err(error) => return Err(error),
            }
        }
        let path = chunk_endpoint::json_path(weave_offset);
        let reply = self
            .attempt(gateway, (get, &path, None, json_limits))
            .await?;
        if binary_missing {
            endpoint.lacks_binary();
        }
        Ok(reply)
    }

    async fn attempt(
        &self,
        gateway: &Gateway,
        (method, path, range, limits): (reqwest::Method, &str, Option<Range<u64>>, Limits),
    ) -> Result<Reply, AttemptError> {
        let is_head = method == reqwest::Method::HEAD;
        let url = gateway
            .base
            .join(path)
            .map_err(|e| AttemptError::Unusable(Unusable::BadUrl(e.to_string())))?;
        // The gateway's own limit first: waiting for it must not hold a global permit that
        // another gateway could use.
        let slot = gateway.pacing.acquire().await;
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let mut request = self.http.request(method, url).timeout(limits.timeout);
        if let Some(r) = &range {
            request = request.header(header::RANGE, format!("bytes={}-{}", r.start, r.end - 1));
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::GONE
        {
            return Err(AttemptError::NotFound);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            gateway.pacing.overloaded(slot.sent_at, retry_after);
            return Err(AttemptError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Err(AttemptError::Status {
                status: status.as_u16(),
                retry_after: None,
            });
        }
        if status.is_redirection() {
            let to = response.headers().get(header::LOCATION);
            let to = to.and_then(|v| v.to_str().ok()).unwrap_or("?");
            return Err(AttemptError::Redirected {
                status: status.as_u16(),
                to: to.to_string(),
            });
        }
        if !status.is_success() {
            return Err(AttemptError::Rejected {
                status: status.as_u16(),
            });
        }
        let headers = response.headers().clone();
        let body = if is_head {
            Bytes::new()
        } else {
            read_capped(&mut response, limits.max_body).await?
        };
        gateway.pacing.served();
        Ok(Reply {
            status,
            headers,
            body,
            binary_chunk: false,
        })
    }

    /// Counts one attempt on `gateway` in the metrics: its outcome and latency, and what
    /// failed verification.
    fn count<T>(
        &self,
        gateway: &Gateway,
        target: Target<'_>,
        outcome: &Result<T, AttemptError>,
        took: Duration,
    ) {
        let counted = match outcome {
            Ok(_) => Outcome::Ok,
            Err(AttemptError::NotFound) => Outcome::Miss,
            Err(e) if e.is_integrity() => {
                self.metrics.verification_failed(match target {
                    Target::Chunk { .. } => Failure::GatewayChunk,
                    Target::Path(path) if path.starts_with("tx/") => Failure::GatewayHeader,
                    Target::Path(_) => Failure::GatewayOther,
                });
                Outcome::Integrity
            }
            Err(_) => Outcome::Error,
        };
        self.metrics.gateway_request(&gateway.label, counted, took);
    }

    /// Where this client counts what it does.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn backoff(&self, round: u32) -> Duration {
        let base = self.config.backoff * 2u32.saturating_pow(round.saturating_sub(1).min(6));
        // Up to 25% jitter so many readers retrying together do not move in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos() as u64
            ^ std::process::id() as u64
            ^ (round as u64).wrapping_mul(0x9E37_79B9);
        base + base.mul_f64((nanos % 1000) as f64 / 4000.0)
    }

    /// Gateways in the order to ask them now: those in a `Retry-After` pause last, and before
    /// them those recently failing (stable otherwise: the user's order).
    pub(crate) fn priority_order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut order: Vec<usize> = (0..self.gateways.len()).collect();
        order.sort_by_key(|&i| {
            let gateway = &self.gateways[i];
            let health = gateway.health.lock().unwrap();
            let demoted = health.demoted_until.is_some_and(|until| until > now);
            (gateway.pacing.paused(), demoted)
        });
        order
    }

    fn record(&self, index: usize, ok: bool) {
        let mut health = self.gateways[index].health.lock().unwrap();
        if ok {
            *health = Health::default();
        } else {
            health.consecutive_failures += 1;
            let secs = 2u64.saturating_pow(health.consecutive_failures.min(5));
            health.demoted_until = Some(Instant::now() + Duration::from_secs(secs));
        }
    }
}

/// Redirects are followed only to the same host or its subdomains (ar.io gateways send `/{id}`
/// to a sandbox subdomain), at most 5 deep: the gateways the user named are the only hosts
/// ever contacted. Any other redirect comes back as the 3xx answer, which is refused.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = attempt.previous().first().and_then(|url| url.host_str());
        let allowed = match (origin, attempt.url().host_str()) {
            (Some(origin), Some(host)) => same_site(origin, host),
            _ => false,
        };
        if !allowed {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// `host` is `origin` or one of its subdomains.
fn same_site(origin: &str, host: &str) -> bool {
    host == origin
        || host
            .strip_suffix(origin)
            .is_some_and(|sub| sub.ends_with('.'))
}

/// The body, read as it streams in and given up as soon as it passes `max_body` (dropping the
/// response closes the connection, so the rest is never read). A `Content-Length` over the
/// cap is refused before any body byte is read.
async fn read_capped(
    response: &mut reqwest::Response,
    max_body: u64,
) -> Result<Bytes, AttemptError> {
    let announced = response.content_length();
    if announced.is_some_and(|len| len > max_body) {
        return Err(AttemptError::Oversized(max_body));
    }
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut received = 0u64;
    while let Some(piece) = response.chunk().await.map_err(transport_error)? {
        received += piece.len() as u64;
        if received > max_body {
            return Err(AttemptError::Oversized(max_body));
        }
        pieces.push(piece);
    }
    if let Some(len) = announced
        && len != received
    {
        return Err(AttemptError::Truncated {
            received,
            announced: len,
        });
    }
    // One piece (the usual small answer) is returned as is, without a copy.
    Ok(match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().expect("one piece"),
        _ => {
            let mut whole = BytesMut::with_capacity(received as usize);
            for piece in pieces {
                whole.extend_from_slice(&piece);
            }
            whole.freeze()
        }
    })
}

fn transport_error(error: reqwest::Error) -> AttemptError {
    use std::error::Error;
    let kind = if error.is_timeout() {
        TransportKind::TimedOut
    } else if error.is_connect() {
        TransportKind::Connect
    } else if error.is_body() || error.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    };
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    AttemptError::Transport {
        kind,
        detail: causes.join(": "),
    }
}

#[cfg(test)]
mod tests {
    use super::same_site;

    #[test]
    fn redirects_stay_on_the_gateway_or_its_subdomains() {
        assert!(same_site("arweave.net", "arweave.net"));
        assert!(same_site("arweave.net", "abc123.arweave.net"));
        assert!(!same_site("arweave.net", "evilarweave.net"));
        assert!(!same_site("arweave.net", "arweave.net.evil.com"));
        assert!(!same_site("127.0.0.1", "localhost"));
    }
}
