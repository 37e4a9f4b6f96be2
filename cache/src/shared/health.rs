//! Whether to ask the shared tier before the gateways: not while it is down (after a few
//! failures in a row, for a short while) or demoted (after it served something that failed
//! verification, for longer), like a gateway. Each state is said once in the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row after which the tier counts as down.
const DOWN_AFTER: u32 = 3;
/// How long a tier that is down is asked last.
pub const DOWN_FOR: Duration = Duration::from_secs(10);
/// How long a tier that lied is asked last.
pub const DEMOTED_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Health {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures_in_a_row: u32,
    asked_last_until: Option<Instant>,
    /// The current trouble was said in the log (reset when the tier answers well again).
    said: bool,
}

/// What the caller should log, once per spell of trouble.
pub enum Say {
    Nothing,
    Down,
    Demoted,
}

impl Health {
    /// Whether the tier is asked before the gateways now.
    pub fn first(&self) -> bool {
        let state = self.state.lock().unwrap();
        state
            .asked_last_until
            .is_none_or(|until| until <= Instant::now())
    }

    /// The tier answered (found or not).
    pub fn answered(&self) {
        let mut state = self.state.lock().unwrap();
        state.failures_in_a_row = 0;
        if state
            .asked_last_until
            .is_none_or(|until| until <= Instant::now())
        {
            state.said = false;
        }
    }

    /// A request failed (unreachable, timed out, refused).
    pub fn failed(&self) -> Say {
        let mut state = self.state.lock().unwrap();
        state.failures_in_a_row += 1;
        if state.failures_in_a_row < DOWN_AFTER {
            return Say::Nothing;
        }
        let until = Instant::now() + DOWN_FOR;
        state.asked_last_until = Some(state.asked_last_until.map_or(until, |u| u.max(until)));
        Self::say_once(&mut state, Say::Down)
    }

    /// The tier served something that failed verification.
    pub fn lied(&self) -> Say {
        let mut state = self.state.lock().unwrap();
        state.asked_last_until = Some(Instant::now() + DEMOTED_FOR);
        Self::say_once(&mut state, Say::Demoted)
    }

    fn say_once(state: &mut State, say: Say) -> Say {
        if std::mem::replace(&mut state.said, true) {
            Say::Nothing
        } else {
            say
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lie_demotes_at_once_failures_only_in_a_row() {
        let health = Health::default();
        assert!(health.first());
        assert!(matches!(health.failed(), Say::Nothing));
        assert!(matches!(health.failed(), Say::Nothing));
        health.answered();
        assert!(matches!(health.failed(), Say::Nothing));
        assert!(health.first(), "failures must be in a row");
        let health = Health::default();
        assert!(matches!(health.lied(), Say::Demoted));
        assert!(!health.first());
        assert!(matches!(health.lied(), Say::Nothing), "said once");
        let health = Health::default();
        for _ in 0..DOWN_AFTER - 1 {
            health.failed();
        }
        assert!(matches!(health.failed(), Say::Down));
        assert!(!health.first());
    }
}
