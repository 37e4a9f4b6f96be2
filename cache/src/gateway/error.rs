//! What can go wrong fetching from gateways, with enough context to act on.

use std::fmt;
use std::time::Duration;

/// The outcome of one attempt at one gateway, kept so a final error can say what each
/// gateway did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptError {
    /// An HTTP status worth retrying (5xx, 408, 429), with the pause the gateway asked for
    /// (`Retry-After`), if it did.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No whole answer: the connection failed, the request timed out, the body broke off.
    /// Worth retrying. `detail` is the chain of causes.
    Transport { kind: TransportKind, detail: String },
    /// The body ended before the length the gateway announced. Worth retrying.
    Truncated { received: u64, announced: u64 },
    /// The body is not the length the request needs. Worth retrying.
    WrongLength { expected: u64, received: u64 },
    /// The gateway does not have it (404, 410, or arlocal's 204 for a chunk).
    NotFound,
    /// A 4xx other than 404 (or an unexpected status): this gateway will not serve it; do
    /// not retry it.
    Rejected { status: u16 },
    /// A redirect, not followed: only the gateways given are contacted.
    Redirected { status: u16, to: String },
    /// The gateway answered in a way that cannot be used; do not retry it.
    Unusable(Unusable),
    /// The gateway answered, but the bytes failed verification (a proof, a signature, a
    /// malformed answer that cannot be checked).
    Integrity(String),
    /// The answer's body was larger than this many bytes, the most the request can need:
    /// a lie, refused without reading the rest.
    Oversized(u64),
}

/// How a request failed to get a whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    TimedOut,
    Connect,
    /// The response body broke off or could not be decoded.
    Body,
    Other,
}

/// Why a gateway's answer cannot be used, whatever it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unusable {
    /// The gateway's URL joined with the path is not a URL.
    BadUrl(String),
    /// A ranged request answered with the whole body.
    IgnoresRange,
    /// The chunk is packed (not the data): named by its packing.
    PackedChunk(String),
    /// A data item served without the header naming its root transaction.
    NoItemRoot,
    /// A data item's root is named as the item itself.
    ItemCalledTx,
    /// A gateway's answer is invalid for this request (e.g. a data size over the limit).
    Invalid(String),
}

impl AttemptError {
    /// Whether the same gateway may answer better if asked again (it was busy, the
    /// connection failed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AttemptError::Status { .. }
                | AttemptError::Transport { .. }
                | AttemptError::Truncated { .. }
                | AttemptError::WrongLength { .. }
        )
    }

    /// Whether the gateway answered with bytes that fail verification (or a lie about
    /// their size).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            AttemptError::Integrity(_) | AttemptError::Oversized(_)
        )
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Status {
                status,
                retry_after: Some(pause),
            } => write!(f, "HTTP {status} (retry after {} s)", pause.as_secs()),
            AttemptError::Status { status, .. } => write!(f, "HTTP {status}"),
            AttemptError::Transport { kind, detail } if detail.is_empty() => write!(f, "{kind}"),
            AttemptError::Transport { kind, detail } => write!(f, "{kind}: {detail}"),
            AttemptError::Truncated {
                received,
                announced,
            } => write!(f, "truncated body: {received} of {announced} bytes"),
            AttemptError::WrongLength { expected, received } => {
                write!(f, "expected {expected} bytes, got {received}")
            }
            AttemptError::NotFound => f.write_str("not found"),
            AttemptError::Rejected { status } => write!(f, "refused: HTTP {status}"),
            AttemptError::Redirected { status, to } => write!(
                f,
                "refused: HTTP {status} to {to}: not followed (only the gateways given are \
                 contacted)"
            ),
            AttemptError::Unusable(why) => write!(f, "refused: {why}"),
            AttemptError::Integrity(e) => write!(f, "failed verification: {e}"),
            AttemptError::Oversized(max) => write!(f, "body over {max} bytes"),
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::TimedOut => "timed out",
            TransportKind::Connect => "connection failed",
            TransportKind::Body => "response body broken",
            TransportKind::Other => "request failed",
        })
    }
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::BadUrl(e) => write!(f, "bad URL: {e}"),
            Unusable::IgnoresRange => f.write_str("gateway ignores Range"),
            Unusable::PackedChunk(packing) => write!(f, "chunk is packed ({packing})"),
            Unusable::NoItemRoot => write!(
                f,
                "serves it without {}, so it cannot be verified",
                super::arweave_api::ROOT_TX_HEADER
            ),
            Unusable::ItemCalledTx => {
                f.write_str("calls it a transaction, but has no header for it")
            }
            Unusable::Invalid(detail) => f.write_str(detail),
        }
    }
}

/// Every gateway was tried (with retries) and none gave a verified answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("{what}: not found on any gateway ({})", attempts_summary(.attempts))]
    NotFound {
        what: String,
        attempts: Vec<(String, AttemptError)>,
    },
    #[error("{what}: no gateway served data that verifies ({})", attempts_summary(.attempts))]
    Integrity {
        what: String,
        attempts: Vec<(String, AttemptError)>,
    },
    #[error("{what}: gateways unavailable after retries ({})", attempts_summary(.attempts))]
    Unavailable {
        what: String,
        attempts: Vec<(String, AttemptError)>,
    },
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
}

impl GatewayError {
    /// The error for a request that failed with these attempts (gateway, outcome): not found
    /// when every gateway said so, an integrity failure when any answer failed verification,
    /// unavailable otherwise.
    pub fn from_attempts(what: String, attempts: Vec<(String, AttemptError)>) -> Self {
        let all_missing = !attempts.is_empty()
            && attempts
                .iter()
                .all(|(_, e)| matches!(e, AttemptError::NotFound));
        if all_missing {
            GatewayError::NotFound { what, attempts }
        } else if attempts.iter().any(|(_, e)| e.is_integrity()) {
            GatewayError::Integrity { what, attempts }
        } else {
            GatewayError::Unavailable { what, attempts }
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, GatewayError::NotFound { .. })
    }

    pub fn is_integrity(&self) -> bool {
        matches!(self, GatewayError::Integrity { .. })
    }
}

/// "gw1: 503 (x3); gw2: not found": the last error of each gateway, with repeat counts.
fn attempts_summary(attempts: &[(String, AttemptError)]) -> String {
    let mut parts: Vec<(String, String, usize)> = Vec::new();
    for (gateway, error) in attempts {
        let text = error.to_string();
        match parts
            .iter_mut()
            .find(|(g, t, _)| g == gateway && *t == text)
        {
            Some(entry) => entry.2 += 1,
            None => parts.push((gateway.clone(), text, 1)),
        }
    }
    parts
        .into_iter()
        .map(|(g, t, n)| {
            if n > 1 {
                format!("{g}: {t} (x{n})")
            } else {
                format!("{g}: {t}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
