//! HTTP client over several untrusted gateways: priority order with failover, bounded retries
//! with exponential backoff, timeouts, a global concurrency limit, and a verification hook on
//! every response so a gateway that lies is treated like one that fails.

use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{StatusCode, Url, header};
use tokio::sync::Semaphore;

use super::error::{AttemptError, GatewayError};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URLs in priority order.
    pub gateways: Vec<String>,
    pub connect_timeout: Duration,
    /// Longest silence while waiting for bytes; catches gateways that hang mid-response.
    pub read_timeout: Duration,
    /// Upper bound on one whole small request (header, offset, one chunk).
    pub request_timeout: Duration,
    /// Extra rounds over the gateways after the first, for transient failures.
    pub retries: u32,
    /// Pause before the second round; doubles each round.
    pub backoff: Duration,
    /// Requests in flight at once, over all gateways.
    pub max_concurrency: usize,
    /// Largest signed `data_size` accepted in a transaction header; larger ones are refused
    /// before anything is sized by them. Default 1 TiB, well above the largest real
    /// transactions.
    pub max_data_size: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            gateways: vec!["https://arweave.net".into()],
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(200),
            max_concurrency: 64,
            max_data_size: 1 << 40,
        }
    }
}

/// A gateway's recent behaviour: gateways that keep failing are tried last (but still tried,
/// so one that comes back is used again without a restart).
struct Gateway {
    base: Url,
    label: String,
    health: Mutex<Health>,
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
}

pub struct GatewayClient {
    http: reqwest::Client,
    gateways: Vec<Gateway>,
    config: GatewayConfig,
    permits: Semaphore,
}

impl GatewayClient {
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayError> {
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

    /// GETs `path` (relative to each gateway's base) until `check` accepts a reply.
    /// `what` names the request in errors. Gateways are tried in priority order (demoted ones
    /// last) in each round; a gateway that answers "not found" or refuses is not asked again.
    pub async fn get_checked<T>(
        &self,
        what: &str,
        path: &str,
        range: Option<Range<u64>>,
        timeout: Duration,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        self.checked(
            reqwest::Method::GET,
            None,
            what,
            path,
            range,
            timeout,
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
        timeout: Duration,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let only = Some(gateway);
        self.checked(
            reqwest::Method::GET,
            only,
            what,
            path,
            range,
            timeout,
            check,
        )
        .await
    }

    /// [`Self::get_checked`] for a HEAD request: `check` sees the headers, with an empty body.
    /// `only` restricts it to one gateway, as in [`Self::get_checked_on`].
    pub async fn head_checked<T>(
        &self,
        only: Option<usize>,
        what: &str,
        path: &str,
        timeout: Duration,
        check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let method = reqwest::Method::HEAD;
        self.checked(method, only, what, path, None, timeout, check)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn checked<T>(
        &self,
        method: reqwest::Method,
        only: Option<usize>,
        what: &str,
        path: &str,
        range: Option<Range<u64>>,
        timeout: Duration,
        mut check: impl FnMut(Reply) -> Result<T, AttemptError>,
    ) -> Result<T, GatewayError> {
        let mut attempts = Vec::new();
        // Gateways other than `only` count as given up from the start.
        let mut given_up: Vec<bool> = (0..self.gateways.len())
            .map(|i| only.is_some_and(|only| only != i))
            .collect();
        for round in 0..=self.config.retries {
            if round > 0 {
                tokio::time::sleep(self.backoff(round)).await;
            }
            for index in self.priority_order() {
                if given_up[index] {
                    continue;
                }
                let gateway = &self.gateways[index];
                let request = (method.clone(), path, range.clone(), timeout);
                let outcome = match self.attempt(gateway, request).await {
                    Ok(reply) => check(reply),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(value) => {
                        self.record(index, true);
                        return Ok(value);
                    }
                    Err(error) => {
                        tracing::debug!(gateway = %gateway.label, %what, %error, "attempt failed");
                        match error {
                            AttemptError::NotFound | AttemptError::Refused(_) => {
                                given_up[index] = true
                            }
                            AttemptError::Transient(_) => self.record(index, false),
                            AttemptError::Integrity(_) => {}
                        }
                        attempts.push((gateway.label.clone(), error));
                    }
                }
            }
            if given_up.iter().all(|&g| g) {
                break;
            }
        }
        Err(GatewayError::from_attempts(what.to_string(), attempts))
    }

    async fn attempt(
        &self,
        gateway: &Gateway,
        (method, path, range, timeout): (reqwest::Method, &str, Option<Range<u64>>, Duration),
    ) -> Result<Reply, AttemptError> {
        let is_head = method == reqwest::Method::HEAD;
        let url = gateway
            .base
            .join(path)
            .map_err(|e| AttemptError::Refused(format!("bad URL: {e}")))?;
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let mut request = self.http.request(method, url).timeout(timeout);
        if let Some(r) = &range {
            request = request.header(header::RANGE, format!("bytes={}-{}", r.start, r.end - 1));
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::GONE
        {
            return Err(AttemptError::NotFound);
        }
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            return Err(AttemptError::Transient(format!("HTTP {}", status.as_u16())));
        }
        if status.is_redirection() {
            let to = response.headers().get(header::LOCATION);
            let to = to.and_then(|v| v.to_str().ok()).unwrap_or("?");
            return Err(AttemptError::Refused(format!(
                "HTTP {} to {to}: not followed (only the gateways given are contacted)",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(AttemptError::Refused(format!("HTTP {}", status.as_u16())));
        }
        let headers = response.headers().clone();
        let expected_len = response.content_length();
        let body = response.bytes().await.map_err(transport_error)?;
        if let Some(len) = expected_len.filter(|_| !is_head)
            && len != body.len() as u64
        {
            return Err(AttemptError::Transient(format!(
                "truncated body: {} of {len} bytes",
                body.len()
            )));
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn backoff(&self, round: u32) -> Duration {
        let base = self.config.backoff * 2u32.saturating_pow(round.saturating_sub(1).min(6));
        // Up to 25% jitter so many readers retrying together do not move in lockstep.
        let nanos = Instant::now().elapsed().subsec_nanos() as u64
            ^ std::process::id() as u64
            ^ (round as u64).wrapping_mul(0x9E37_79B9);
        base + base.mul_f64((nanos % 1000) as f64 / 4000.0)
    }

    fn priority_order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut order: Vec<usize> = (0..self.gateways.len()).collect();
        order.sort_by_key(|&i| {
            let health = self.gateways[i].health.lock().unwrap();
            health.demoted_until.is_some_and(|until| until > now)
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

fn transport_error(error: reqwest::Error) -> AttemptError {
    use std::error::Error;
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else if error.is_body() || error.is_decode() {
        "response body broken".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    AttemptError::Transient(text)
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
