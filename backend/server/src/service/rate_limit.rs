//! The rate limit's helpers around the shared counters (`RateLimits`):
//!
//! - [`RateTicket`]: a request's hit handed to the move it carries, so that the move's save counts
//!   it in the same round trip to the live state. Whoever counts it first records the decision;
//!   the HTTP layer counts it itself after the request when the move never reached a save
//!   (refused, replayed, invalid), so every request is still counted once.
//! - [`RefusedClients`]: the clients this replica saw refused, until their window ends. A
//!   window's count only grows, so the shared counter would refuse them too: their next requests
//!   are refused before any work, Redis included.

use crate::live::{RateDecision, RateHit};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Refusals remembered at most; past this many the oldest windows are forgotten first.
const REFUSED_KEEP: usize = 10_000;

#[derive(Debug)]
pub struct RateTicket {
    hit: RateHit,
    decision: OnceLock<RateDecision>,
}

impl RateTicket {
    pub fn new(hit: RateHit) -> RateTicket {
        RateTicket {
            hit,
            decision: OnceLock::new(),
        }
    }

    pub fn hit(&self) -> &RateHit {
        &self.hit
    }

    /// The hit, while it has not been counted.
    pub fn uncounted(&self) -> Option<&RateHit> {
        self.decision.get().is_none().then_some(&self.hit)
    }

    /// Records what counting the hit decided (the first record stands).
    pub fn counted(&self, decision: RateDecision) {
        let _ = self.decision.set(decision);
    }

    pub fn decision(&self) -> Option<RateDecision> {
        self.decision.get().copied()
    }
}

/// Clients refused in their current window, by client: the window's end and the refusal.
#[derive(Debug, Default)]
pub struct RefusedClients(Mutex<HashMap<String, (i64, RateDecision)>>);

impl RefusedClients {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, RateDecision)>> {
        // Nothing panics while holding it; were it poisoned, forgetting a refusal is harmless.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The refusal that still stands for `client` at `now_ms`, with the time left in its window.
    pub fn standing(&self, client: &str, now_ms: i64) -> Option<RateDecision> {
        let (until, decision) = *self.map().get(client)?;
        (now_ms < until).then(|| RateDecision {
            reset_after: Duration::from_millis((until - now_ms) as u64),
            ..decision
        })
    }

    /// Remembers a refusal until the end of its window (an allowed decision is not remembered).
    pub fn record(&self, client: &str, now_ms: i64, decision: RateDecision) {
        if decision.allowed {
            return;
        }
        let until = now_ms + decision.reset_after.as_millis() as i64;
        let mut map = self.map();
        if map.len() >= REFUSED_KEEP && !map.contains_key(client) {
            map.retain(|_, (end, _)| *end > now_ms);
            if map.len() >= REFUSED_KEEP {
                map.clear();
            }
        }
        map.insert(client.to_string(), (until, decision));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_stands_until_its_window_ends_and_only_for_its_client() {
        let refused = RefusedClients::default();
        refused.record("a", 1_000, RateDecision::of(2, 2, Duration::from_secs(5)));
        assert!(
            refused.standing("a", 1_000).is_none(),
            "allowed is not a refusal"
        );
        refused.record("a", 1_000, RateDecision::of(3, 2, Duration::from_secs(5)));
        let standing = refused.standing("a", 4_000).expect("refused");
        assert!(!standing.allowed);
        assert_eq!(standing.reset_after, Duration::from_secs(2));
        assert!(refused.standing("b", 4_000).is_none());
        assert!(
            refused.standing("a", 6_000).is_none(),
            "the next window starts afresh"
        );
    }

    #[test]
    fn a_hit_is_counted_once_and_the_first_decision_stands() {
        let ticket = RateTicket::new(RateHit {
            client: "198.51.100.7".into(),
            window: Duration::from_secs(60),
            max: 2,
            now_ms: 0,
        });
        assert!(ticket.uncounted().is_some());
        let first = RateDecision::of(3, 2, Duration::from_secs(5));
        ticket.counted(first);
        ticket.counted(RateDecision::of(1, 2, Duration::from_secs(5)));
        assert!(ticket.uncounted().is_none());
        assert_eq!(ticket.decision(), Some(first));
        assert!(!first.allowed);
    }
}
