//! When to log that a dependency cannot be reached: at every change (down, a new reason, back up)
//! and, while it stays down, once per [`REPEAT`], so `kubectl logs` shows why a replica answers 503
//! without a line every second. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

/// How often an unchanged outage is logged again.
pub const REPEAT: Duration = Duration::from_secs(30);

/// What to log after an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// It went down, or the reason changed.
    Down(String),
    /// Still down for the same reason, [`REPEAT`] after the last line.
    StillDown(String),
    /// It answers again.
    Up,
}

#[derive(Debug, Default)]
pub struct OutageLog {
    /// The reason last observed (None: it answered) and when it was last logged.
    last: Option<(Option<String>, Instant)>,
}

impl OutageLog {
    /// Records one probe result (`problem` is None when the dependency answered).
    pub fn observe(&mut self, problem: Option<&str>, now: Instant) -> Option<Notice> {
        let (notice, logged_at) = match (&self.last, problem) {
            // The first answer needs no line; "ready to serve" says it.
            (None, None) => (None, now),
            (Some((None, at)), None) => (None, *at),
            (Some((Some(_), _)), None) => (Some(Notice::Up), now),
            (Some((Some(before), at)), Some(p)) if before == p => {
                if now.duration_since(*at) >= REPEAT {
                    (Some(Notice::StillDown(p.to_string())), now)
                } else {
                    (None, *at)
                }
            }
            (_, Some(p)) => (Some(Notice::Down(p.to_string())), now),
        };
        self.last = Some((problem.map(str::to_string), logged_at));
        notice
    }
}

/// A dependency error as a reader wants to see it after the address: "connection refused", not
/// "Connection refused (os error 111)".
pub fn describe(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("did not answer in time") {
        "no answer in time".into()
    } else {
        error.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_logged_when_it_starts_changes_and_ends_and_only_slowly_in_between() {
        let t0 = Instant::now();
        let mut log = OutageLog::default();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            log.observe(Some("name does not resolve"), at(0)),
            Some(Notice::Down("name does not resolve".into()))
        );
        for s in 1..30 {
            assert_eq!(
                log.observe(Some("name does not resolve"), at(s)),
                None,
                "second {s}"
            );
        }
        assert_eq!(
            log.observe(Some("name does not resolve"), at(30)),
            Some(Notice::StillDown("name does not resolve".into()))
        );
        assert_eq!(log.observe(Some("name does not resolve"), at(31)), None);
        // The Service appeared but Redis is not listening yet: a new reason is a new line.
        assert_eq!(
            log.observe(Some("connection refused"), at(32)),
            Some(Notice::Down("connection refused".into()))
        );
        assert_eq!(log.observe(None, at(33)), Some(Notice::Up));
        assert_eq!(log.observe(None, at(34)), None);
        assert_eq!(
            log.observe(Some("connection refused"), at(35)),
            Some(Notice::Down("connection refused".into()))
        );
    }

    #[test]
    fn a_dependency_that_answers_from_the_start_logs_nothing() {
        let mut log = OutageLog::default();
        let t0 = Instant::now();
        assert_eq!(log.observe(None, t0), None);
        assert_eq!(log.observe(None, t0 + REPEAT * 3), None);
    }

    #[test]
    fn errors_are_described_in_a_few_words() {
        assert_eq!(
            describe("Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(
            describe("Redis did not answer in time"),
            "no answer in time"
        );
        assert_eq!(describe("timed out"), "no answer in time");
        assert_eq!(
            describe("WRONGPASS: invalid username-password pair"),
            "WRONGPASS: invalid username-password pair"
        );
    }
}
