//! Single-flight: one load however many ask at once. Transactions, data items, chunks and
//! relocations are each loaded by one shared future per key; whoever asks while it runs joins
//! it. A flight leaves its map when it ends (after its work has put the result where later
//! readers look: the memos, the memory tier), so a later ask starts afresh or finds it cached.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};

use super::DriveError;

pub(super) type Flight<T> = Shared<BoxFuture<'static, Result<T, DriveError>>>;

/// The flights under way, by key.
pub(super) struct Flights<K, T> {
    map: Arc<Mutex<HashMap<K, Flight<T>>>>,
}

impl<K, T> Default for Flights<K, T> {
    fn default() -> Self {
        Flights {
            map: Arc::default(),
        }
    }
}

impl<K, T> Flights<K, T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The flight under way for `key`, if any.
    pub fn get(&self, key: &K) -> Option<Flight<T>> {
        self.map.lock().unwrap().get(key).cloned()
    }

    /// The flight already under way for `key` (and `true`: joined), or a new one running
    /// `start` (and `false`). The new flight is registered before anything runs, so whoever
    /// asks next joins it; it removes itself once `start`'s future has finished.
    pub fn join<F>(&self, key: K, start: impl FnOnce() -> F) -> (Flight<T>, bool)
    where
        F: Future<Output = Result<T, DriveError>> + Send + 'static,
    {
        let mut joined = true;
        let flight = self
            .map
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_insert_with(|| {
                joined = false;
                let (map, work) = (self.map.clone(), start());
                async move {
                    let result = work.await;
                    map.lock().unwrap().remove(&key);
                    result
                }
                .boxed()
                .shared()
            })
            .clone();
        (flight, joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[tokio::test]
    async fn one_load_however_many_ask_then_afresh() {
        let flights = Flights::<u32, u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = || {
            let runs = runs.clone();
            async move {
                tokio::task::yield_now().await;
                Ok(runs.fetch_add(1, SeqCst) as u32)
            }
        };
        let (a, joined_a) = flights.join(7, start);
        let (b, joined_b) = flights.join(7, start);
        assert!(!joined_a && joined_b);
        assert!(flights.get(&7).is_some());
        assert_eq!((a.await.unwrap(), b.await.unwrap()), (0, 0));
        assert!(flights.get(&7).is_none(), "an ended flight leaves the map");
        assert_eq!(flights.join(7, start).0.await.unwrap(), 1);
    }
}
