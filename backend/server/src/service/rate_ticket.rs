//! A request's rate-limit hit handed to the move it carries, so that the move's save counts it in
//! the same round trip to the live state. Whoever counts it first records the decision; the HTTP
//! layer counts it itself after the request when the move never reached a save (refused,
//! replayed, invalid), so every request is still counted once.

use crate::live::{RateDecision, RateHit};
use std::sync::OnceLock;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
