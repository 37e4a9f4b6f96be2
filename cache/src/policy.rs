//! Which ids a frontend may serve. The embedding host decides: allow everything, an allowlist
//! (what AO WeaveDrive's Assignments/Individual availability modes reduce to once the host has
//! resolved attestations), or a callback. Both frontends apply it before any network request
//! for a denied id: the mount answers EACCES, the WASI shim `EACCES` as a WASI errno.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::arweave::TxId;

#[derive(Clone, Default)]
pub enum AccessPolicy {
    #[default]
    AllowAll,
    /// Only these ids.
    Allow(Arc<HashSet<TxId>>),
    /// Asked for each id on each open or lookup; must be cheap and must not block on I/O.
    Callback(Arc<dyn Fn(&TxId) -> bool + Send + Sync>),
}

impl AccessPolicy {
    pub fn allowlist(ids: impl IntoIterator<Item = TxId>) -> Self {
        AccessPolicy::Allow(Arc::new(ids.into_iter().collect()))
    }

    pub fn callback(f: impl Fn(&TxId) -> bool + Send + Sync + 'static) -> Self {
        AccessPolicy::Callback(Arc::new(f))
    }

    pub fn allows(&self, id: &TxId) -> bool {
        match self {
            AccessPolicy::AllowAll => true,
            AccessPolicy::Allow(ids) => ids.contains(id),
            AccessPolicy::Callback(f) => f(id),
        }
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessPolicy::AllowAll => f.write_str("AllowAll"),
            AccessPolicy::Allow(ids) => write!(f, "Allow({} ids)", ids.len()),
            AccessPolicy::Callback(_) => f.write_str("Callback"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_decides() {
        let (a, b) = (TxId([1; 32]), TxId([2; 32]));
        assert!(AccessPolicy::AllowAll.allows(&a));
        let list = AccessPolicy::allowlist([a]);
        assert!(list.allows(&a) && !list.allows(&b));
        let odd = AccessPolicy::callback(|id| id.0[0] % 2 == 1);
        assert!(odd.allows(&a) && !odd.allows(&b));
    }
}
