//! Per-gateway flow control. A gateway that answers 429 or 503 is overloaded or rate-limiting
//! us: it gets fewer requests at once (the limit halves, at most once per round trip) and
//! earns them back one per success (AIMD, as TCP does), on top of the client's global limit.
//! A `Retry-After` pauses new requests to it. When it last served anything tells a gateway
//! that is busy (keep retrying) from one that is down (give up soon).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

/// Longest pause a `Retry-After` may impose: a gateway asking for an hour is treated as down
/// long before that, by the retry rules.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

pub(crate) struct Pacing {
    max: f64,
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Requests allowed in flight (at least 1); fractional so growth can be gradual.
    limit: f64,
    in_flight: usize,
    /// When the limit was last cut: answers to requests sent before then say nothing new.
    last_cut: Option<Instant>,
    paused_until: Option<Instant>,
    last_served: Option<Instant>,
}

/// A request's place at a gateway; freed on drop.
pub(crate) struct Slot<'a> {
    pacing: &'a Pacing,
    pub sent_at: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.pacing.state.lock().unwrap().in_flight -= 1;
        self.pacing.changed.notify_waiters();
    }
}

impl Pacing {
    pub fn new(max: usize) -> Self {
        let max = max.max(1) as f64;
        Pacing {
            max,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                last_cut: None,
                paused_until: None,
                last_served: None,
            }),
            changed: Notify::new(),
        }
    }

    /// Waits until the gateway is out of any pause and under its limit.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            // Registered before looking, so a change made in between still wakes us.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let pause = {
                let mut state = self.state.lock().unwrap();
                let now = Instant::now();
                match state.paused_until.filter(|&until| until > now) {
                    Some(until) => Some(until),
                    None if (state.in_flight as f64) < state.limit.floor() => {
                        state.in_flight += 1;
                        return Slot {
                            pacing: self,
                            sent_at: now,
                        };
                    }
                    None => None,
                }
            };
            match pause {
                Some(until) => {
                    let until = tokio::time::Instant::from_std(until);
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// A complete answer: the gateway is alive, and may have one more request at once.
    pub fn served(&self) {
        let mut state = self.state.lock().unwrap();
        state.last_served = Some(Instant::now());
        state.limit = (state.limit + 1.0).min(self.max);
        drop(state);
        self.changed.notify_waiters();
    }

    /// A 429 or 503 to a request sent at `sent_at`: halve the limit, unless it was cut after
    /// that request left (its answer reflects the old limit), and pause for `retry_after`.
    pub fn overloaded(&self, sent_at: Instant, retry_after: Option<Duration>) {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        if state.last_cut.is_none_or(|cut| sent_at >= cut) {
            state.limit = (state.limit / 2.0).max(1.0);
            state.last_cut = Some(now);
        }
        if let Some(pause) = retry_after {
            let until = now + pause.min(MAX_RETRY_AFTER);
            state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
        }
    }

    /// In a `Retry-After` pause now.
    pub fn paused(&self) -> bool {
        let state = self.state.lock().unwrap();
        state
            .paused_until
            .is_some_and(|until| until > Instant::now())
    }

    /// Answered some request completely within the last `window`.
    pub fn served_within(&self, window: Duration) -> bool {
        let state = self.state.lock().unwrap();
        state.last_served.is_some_and(|at| at.elapsed() <= window)
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap().limit.floor() as usize
    }
}

/// The pause a `Retry-After` value asks for, as of `now`: delay-seconds or an HTTP-date
/// (RFC 9110 10.2.3; a date in the past means no pause). `None` if it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_both_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after("120", now), secs(120));
        assert_eq!(parse_retry_after(" 0 ", now), secs(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            secs(u64::MAX)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            secs(30)
        );
        // The obsolete forms HTTP still requires recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            secs(10)
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:57 1994", now), secs(20));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            secs(0)
        );
        for bad in ["", "-5", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn limit_halves_once_per_round_trip_and_grows_back() {
        let pacing = Pacing::new(16);
        let early = pacing.acquire().await;
        let late_sent = Instant::now() + Duration::from_millis(1);
        pacing.overloaded(early.sent_at, None);
        assert_eq!(pacing.limit(), 8);
        // Another answer to a request sent before the cut: no second cut.
        pacing.overloaded(early.sent_at, None);
        assert_eq!(pacing.limit(), 8);
        pacing.overloaded(late_sent, None);
        assert_eq!(pacing.limit(), 4);
        for _ in 0..20 {
            pacing.served();
        }
        assert_eq!(pacing.limit(), 16);
        assert!(pacing.served_within(Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn slots_wait_for_the_limit_and_the_pause() {
        let pacing = Pacing::new(2);
        let a = pacing.acquire().await;
        let b = pacing.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), pacing.acquire()).await;
        assert!(third.is_err(), "a third request went past a limit of 2");
        drop(a);
        let started = Instant::now();
        let c = pacing.acquire().await;
        pacing.overloaded(c.sent_at, Some(Duration::from_millis(200)));
        drop((b, c));
        assert!(pacing.paused());
        let _d = pacing.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
