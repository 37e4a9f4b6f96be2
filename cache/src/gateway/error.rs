//! What can go wrong fetching from gateways, with enough context to act on.

use std::fmt;

/// The outcome of one attempt at one gateway, kept so a final error can say what each
/// gateway did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// Connection refused/reset, timeout, truncated body, 5xx, 429: worth retrying.
    Transient(String),
    /// The gateway does not have it (404, or arlocal's 204 for a chunk).
    NotFound,
    /// A 4xx other than 404: this gateway will not serve it; do not retry it.
    Refused(String),
    /// The gateway answered, but the bytes failed verification.
    Integrity(String),
    /// The answer's body was larger than this many bytes, the most the request can need:
    /// a lie, refused without reading the rest.
    Oversized(u64),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Transient(e) => write!(f, "{e}"),
            AttemptError::NotFound => f.write_str("not found"),
            AttemptError::Refused(e) => write!(f, "refused: {e}"),
            AttemptError::Integrity(e) => write!(f, "failed verification: {e}"),
            AttemptError::Oversized(max) => write!(f, "body over {max} bytes"),
        }
    }
}

/// Every gateway was tried (with retries) and none gave a verified answer.
#[derive(Debug, Clone, thiserror::Error)]
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
    pub(crate) fn from_attempts(what: String, attempts: Vec<(String, AttemptError)>) -> Self {
        let all_missing = !attempts.is_empty()
            && attempts
                .iter()
                .all(|(_, e)| matches!(e, AttemptError::NotFound));
        if all_missing {
            GatewayError::NotFound { what, attempts }
        } else if attempts
            .iter()
            .any(|(_, e)| matches!(e, AttemptError::Integrity(_) | AttemptError::Oversized(_)))
        {
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
