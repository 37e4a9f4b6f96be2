//! The object store behind the shared tier: opened from a URL with each store's usual
//! environment variables, read with a time limit and a size cap (a tampered object may be
//! huge), written back in the background (see `writeback.rs`).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreScheme, PutPayload, RetryConfig,
};

use super::health::{DEMOTED_FOR, DOWN_FOR, Health, Say};
use super::writeback::WriteBack;
use crate::metrics::{Failure, Metrics, Outcome, TierOp, Upload};

/// How the tier is named among the Drive's sources, before its URL.
pub const TIER_LABEL_PREFIX: &str = "shared cache ";

/// Longest a tier request may take, body included: a slow tier must not hold a read longer
/// than the gateways would. Small objects (headers, proofs, offsets, item records) get less:
/// a healthy store answers them in milliseconds, and a silent one costs each cold open this
/// much until it counts as down.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const SMALL_OBJECT: u64 = 64 * 1024;
/// Keys remembered as present (read or written here), so they are not offered again.
const PRESENT_KEYS: usize = 1 << 16;

/// What one read of the tier gave.
pub enum Fetched {
    Found(Bytes),
    /// Not in the tier: a plain miss.
    Missing,
    /// The tier failed (down, slow, refused, larger than any honest object); counted.
    Failed,
}

pub struct SharedTier {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    pub(super) metrics: Arc<Metrics>,
    health: Health,
    present: Mutex<LruCache<String, ()>>,
    /// Keys caught serving something false: the next verified copy overwrites them.
    suspect: Mutex<HashSet<String>>,
    pub(super) writeback: WriteBack,
}

impl SharedTier {
    /// Opens the tier at `url`: `s3://BUCKET/PREFIX` (also S3-compatible stores: MinIO, Ceph,
    /// R2; `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP`), `gs://BUCKET/PREFIX` (`GOOGLE_*`), `az://CONTAINER/PREFIX`
    /// (`AZURE_*`), or `file:///PATH` (a directory, created if missing). Nothing is asked of
    /// the store until the first read or write.
    pub fn open(url: &str, metrics: Arc<Metrics>) -> Result<Arc<SharedTier>, String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("shared cache URL {url:?}: {e}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("shared cache {url}: {e}");
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|e| bad(&e))?;
        // Few, quick retries: the gateways are the fallback, not a long wait on the tier.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: REQUEST_TIMEOUT,
        };
        // The cloud stores' builders differ only in their names: each reads its own
        // environment variables (`from_env`), then takes the URL and our time limits.
        macro_rules! cloud {
            ($builder:path, $key:path) => {{
                use $key as Key;
                let store = <$builder>::from_env()
                    .with_url(url)
                    .with_retry(retry)
                    .with_config(Key::Client(ClientConfigKey::Timeout), "10s")
                    .with_config(Key::Client(ClientConfigKey::ConnectTimeout), "3s")
                    .build()
                    .map_err(|e| bad(&e))?;
                (Arc::new(store) as Arc<dyn ObjectStore>, prefix)
            }};
        }
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match scheme {
            ObjectStoreScheme::AmazonS3 => cloud!(
                object_store::aws::AmazonS3Builder,
                object_store::aws::AmazonS3ConfigKey
            ),
            ObjectStoreScheme::GoogleCloudStorage => cloud!(
                object_store::gcp::GoogleCloudStorageBuilder,
                object_store::gcp::GoogleConfigKey
            ),
            ObjectStoreScheme::MicrosoftAzure => cloud!(
                object_store::azure::MicrosoftAzureBuilder,
                object_store::azure::AzureConfigKey
            ),
            ObjectStoreScheme::Local => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad(&"not a local path"))?;
                std::fs::create_dir_all(&dir).map_err(|e| bad(&e))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(&e))?;
                (Arc::new(store), Path::default())
            }
            other => {
                return Err(bad(&format!(
                    "{other:?} is not supported; use s3://, gs://, az:// or file://"
                )));
            }
        };
        Ok(Arc::new(SharedTier {
            url: url.trim_end_matches('/').to_string(),
            store,
            prefix,
            metrics,
            health: Health::default(),
            present: Mutex::new(LruCache::new(NonZeroUsize::new(PRESENT_KEYS).unwrap())),
            suspect: Mutex::default(),
            writeback: WriteBack::new(),
        }))
    }

    /// The tier as the Drive's sources name it in messages.
    pub fn label(&self) -> String {
        format!("{TIER_LABEL_PREFIX}{}", self.url)
    }

    /// Whether the tier is asked before the gateways now (not down, not demoted).
    pub fn first(&self) -> bool {
        self.health.first()
    }

    fn path(&self, key: &str) -> Path {
        // Keys are made by `keys` from ids, hex and numbers: always valid path parts.
        let full = if self.prefix.as_ref().is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(full).expect("shared keys are valid object paths")
    }

    /// Object `key`, if the tier has it and it is at most `max` bytes.
    pub async fn get(&self, key: &str, max: u64) -> Fetched {
        let started = Instant::now();
        let limit = if max <= SMALL_OBJECT {
            SMALL_REQUEST_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        let read = tokio::time::timeout(limit, self.read_capped(key, max)).await;
        let (outcome, fetched) = match read {
            Ok(Ok(Some(bytes))) => (Outcome::Ok, Fetched::Found(bytes)),
            Ok(Ok(None)) => (Outcome::Miss, Fetched::Missing),
            Ok(Err(e)) => {
                self.failed(&e);
                (Outcome::Error, Fetched::Failed)
            }
            Err(_) => {
                self.failed(&format!("no answer within {limit:?}"));
                (Outcome::Error, Fetched::Failed)
            }
        };
        if !matches!(fetched, Fetched::Failed) {
            self.health.answered();
        }
        self.metrics
            .tier_request(TierOp::Get, outcome, started.elapsed());
        fetched
    }

    async fn read_capped(&self, key: &str, max: u64) -> Result<Option<Bytes>, String> {
        let result = match self.store.get(&self.path(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        if result.meta.size > max {
            return Err(format!(
                "{key} is {} bytes, more than {max}",
                result.meta.size
            ));
        }
        // The size is checked first, so this reads at most `max` bytes: an HTTP body is held
        // to the length it announced, a file is read in one go (its stream would read it in
        // 8 KiB pieces, each on a blocking thread).
        let body = result.bytes().await.map_err(|e| e.to_string())?;
        if body.len() as u64 > max {
            return Err(format!("{key} is more than {max} bytes"));
        }
        self.mark_present(key);
        Ok(Some(body))
    }

    fn failed(&self, error: &dyn std::fmt::Display) {
        match self.health.failed() {
            Say::Down => tracing::warn!(
                tier = %self.url, %error,
                "shared cache not answering; reading from the gateways (it is asked again in {}s)",
                DOWN_FOR.as_secs()
            ),
            _ => tracing::debug!(tier = %self.url, %error, "shared cache request failed"),
        }
    }

    /// The tier served `key` and it failed verification (`detail`): counted, said once,
    /// the tier demoted, and the key overwritten by the next verified copy.
    pub fn lied(&self, kind: Failure, key: &str, detail: &str) {
        self.metrics.verification_failed(kind);
        self.metrics.tier_demoted();
        self.present.lock().unwrap().pop(key);
        self.suspect.lock().unwrap().insert(key.to_string());
        match self.health.lied() {
            Say::Demoted => tracing::warn!(
                tier = %self.url, key, kind = kind.label(), %detail,
                "shared cache served data that failed verification; not used, read from the \
                 gateways instead; the shared cache is asked last for {}s",
                DEMOTED_FOR.as_secs()
            ),
            _ => tracing::debug!(tier = %self.url, key, kind = kind.label(), %detail,
                "shared cache data failed verification"),
        }
    }

    fn mark_present(&self, key: &str) {
        self.present.lock().unwrap().put(key.to_string(), ());
    }

    /// Whether `key` is worth offering: not known present, or known to be false.
    pub(super) fn wanted(&self, key: &str) -> bool {
        self.is_suspect(key) || !self.present.lock().unwrap().contains(key)
    }

    pub(super) fn is_suspect(&self, key: &str) -> bool {
        self.suspect.lock().unwrap().contains(key)
    }

    /// Whether the tier has `key` (known here, or by asking it); a failed request is no.
    pub async fn has(&self, key: &str) -> bool {
        self.lookup(key).await == Outcome::Ok
    }

    /// HEAD `key`: found (`Ok`), not there (`Miss`), or no answer (`Error`, counted).
    async fn lookup(&self, key: &str) -> Outcome {
        if !self.wanted(key) {
            return Outcome::Ok;
        }
        let started = Instant::now();
        let path = self.path(key);
        let head = tokio::time::timeout(SMALL_REQUEST_TIMEOUT, self.store.head(&path)).await;
        let outcome = match &head {
            Ok(Ok(_)) => Outcome::Ok,
            Ok(Err(object_store::Error::NotFound { .. })) => Outcome::Miss,
            _ => Outcome::Error,
        };
        self.metrics
            .tier_request(TierOp::Head, outcome, started.elapsed());
        match outcome {
            Outcome::Ok => self.mark_present(key),
            Outcome::Error => self.failed(&format!("HEAD {key} failed")),
            _ => self.health.answered(),
        }
        outcome
    }

    /// Writes `bytes` (verified by the caller) as `key` unless the tier has it already (a
    /// key caught serving something false is overwritten). Never fails a read: the result is
    /// counted and returned.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Upload {
        let path = self.path(key);
        if !self.is_suspect(key) {
            match self.lookup(key).await {
                Outcome::Ok => {
                    self.metrics.upload(Upload::Present);
                    return Upload::Present;
                }
                // No answer to a HEAD: a PUT would wait as long for nothing.
                Outcome::Error => {
                    self.writeback
                        .failed(&self.url, key, &"the shared cache did not answer");
                    self.metrics.upload(Upload::Failed);
                    return Upload::Failed;
                }
                _ => {}
            }
        }
        let limit = if bytes.len() as u64 <= SMALL_OBJECT {
            SMALL_REQUEST_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        let started = Instant::now();
        let put = tokio::time::timeout(limit, self.store.put(&path, PutPayload::from_bytes(bytes)));
        let put = put.await;
        let result = match put {
            Ok(Ok(_)) => {
                self.mark_present(key);
                self.suspect.lock().unwrap().remove(key);
                Upload::Uploaded
            }
            Ok(Err(e)) => {
                self.writeback.failed(&self.url, key, &e);
                Upload::Failed
            }
            Err(_) => {
                let e = format!("no answer within {limit:?}");
                self.writeback.failed(&self.url, key, &e);
                Upload::Failed
            }
        };
        let outcome = if result == Upload::Uploaded {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        self.metrics
            .tier_request(TierOp::Put, outcome, started.elapsed());
        self.metrics.upload(result);
        result
    }
}
