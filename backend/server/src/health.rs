//! Liveness, readiness and dependency status.
//!
//! Readiness fails while starting, while draining, and when this replica's own connections to a
//! dependency stay broken for `READINESS_GRACE_SECONDS` while a fresh connection works. A
//! dependency that is down for everyone does not fail readiness: taking every replica out of the
//! Service would turn fast JSON 503s into connection errors (see docs/decisions.md). Redis is not
//! awaited at start-up either: while it cannot be reached the monitor keeps the reason (shown by
//! `/health`) and logs it on every change and every 30 s.

use crate::live::{LiveError, LiveState};
use crate::outage_log::{describe, Notice, OutageLog};
use humor_store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the monitor knows about one dependency.
#[derive(Default)]
pub struct DependencyStatus {
    up: AtomicBool,
    /// Calls that found the dependency failing (see [`DependencyStatus::trips`]).
    trips: AtomicU64,
    /// Since when pooled connections fail while fresh ones work.
    local_failure_since: Mutex<Option<Instant>>,
    /// host:port this replica connects to (empty when not reported).
    address: String,
    /// Why the last probe failed, e.g. "name does not resolve".
    problem: Mutex<Option<String>>,
    log: Mutex<OutageLog>,
}

impl DependencyStatus {
    fn at(address: String) -> DependencyStatus {
        DependencyStatus {
            address,
            ..DependencyStatus::default()
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// "redis:6379: name does not resolve" while the last probe failed.
    pub fn problem(&self) -> Option<String> {
        let problem = self.problem.lock().ok()?.clone()?;
        Some(format!("{}: {problem}", self.address))
    }

    fn set_problem(&self, problem: Option<String>) -> Option<Notice> {
        let notice = self
            .log
            .lock()
            .ok()
            .and_then(|mut log| log.observe(problem.as_deref(), Instant::now()));
        if let Ok(mut p) = self.problem.lock() {
            *p = problem;
        }
        notice
    }

    fn local_failure_for(&self) -> Option<Duration> {
        self.local_failure_since
            .lock()
            .ok()
            .and_then(|s| s.map(|t| t.elapsed()))
    }

    /// A request saw this dependency fail: treat it as down until the next successful probe.
    pub fn trip(&self) {
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.up.store(false, Ordering::Relaxed);
    }

    /// How many calls found this dependency failing since start-up. Each such call waited at most
    /// one dependency timeout; calls answered at once because it was already known down are not
    /// counted, so this says how many timeouts requests paid (what the outage tests check).
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    fn record(&self, pooled_ok: bool, fresh_ok: bool) {
        self.up.store(pooled_ok, Ordering::Relaxed);
        if let Ok(mut since) = self.local_failure_since.lock() {
            if pooled_ok || !fresh_ok {
                *since = None;
            } else if since.is_none() {
                *since = Some(Instant::now());
            }
        }
    }
}

pub struct Health {
    started: AtomicBool,
    started_tx: tokio::sync::watch::Sender<bool>,
    draining: AtomicBool,
    pub database: DependencyStatus,
    /// None when live state is in memory.
    pub redis: Option<DependencyStatus>,
    grace: Duration,
    pub started_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(&'static str),
}

impl Health {
    /// `redis_address`: host:port of the configured Redis, None when live state is in memory.
    pub fn new(redis_address: Option<String>, grace: Duration) -> Health {
        Health {
            started: AtomicBool::new(false),
            started_tx: tokio::sync::watch::Sender::new(false),
            draining: AtomicBool::new(false),
            database: DependencyStatus::default(),
            redis: redis_address.map(DependencyStatus::at),
            grace,
            started_at: Instant::now(),
        }
    }

    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
        self.started_tx.send_replace(true);
    }

    /// Waits until start-up completes, at most `limit`; true when it has.
    pub async fn wait_started(&self, limit: Duration) -> bool {
        let mut rx = self.started_tx.subscribe();
        let started = tokio::time::timeout(limit, rx.wait_for(|s| *s)).await;
        matches!(started, Ok(Ok(_)))
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn readiness(&self) -> Readiness {
        if !self.is_started() {
            return Readiness::NotReady("starting");
        }
        if self.is_draining() {
            return Readiness::NotReady("draining");
        }
        if self
            .database
            .local_failure_for()
            .is_some_and(|d| d >= self.grace)
        {
            return Readiness::NotReady("database_connection_broken");
        }
        if let Some(r) = &self.redis {
            if r.local_failure_for().is_some_and(|d| d >= self.grace) {
                return Readiness::NotReady("redis_connection_broken");
            }
        }
        Readiness::Ready
    }
}

/// Probes the store and the live state and keeps what it learns in the shared [`Health`]
/// (which the services read to fail fast). It is given exactly what it probes, nothing more.
pub struct Monitor {
    health: Arc<Health>,
    store: Arc<dyn Store>,
    live: Arc<dyn LiveState>,
    timeout: Duration,
}

/// What an on-demand check (`/health`) found.
pub struct Checked {
    pub database: bool,
    /// None when live state is in memory; otherwise Ok, or why Redis is down.
    pub redis: Option<Result<(), String>>,
}

impl Monitor {
    /// `timeout` bounds every probe (the dependency timeout).
    pub fn new(
        health: Arc<Health>,
        store: Arc<dyn Store>,
        live: Arc<dyn LiveState>,
        timeout: Duration,
    ) -> Monitor {
        Monitor {
            health,
            store,
            live,
            timeout,
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Probes the dependencies once (both at the same time). A failed pooled round trip marks the
    /// dependency down at once (requests then fail fast); only then is a fresh connection tried, to
    /// tell "our pool is wedged" (readiness) from "it is down for everyone".
    pub async fn probe_dependencies(&self) {
        let timeout = self.timeout;
        let database = async {
            let ok = matches!(
                tokio::time::timeout(timeout, self.store.ping()).await,
                Ok(Ok(()))
            );
            self.health.database.set_up(ok);
            metrics::gauge!("dependency_up", "dependency" => "database")
                .set(f64::from(u8::from(ok)));
            let fresh = ok
                || matches!(
                    tokio::time::timeout(timeout, self.store.ping_fresh()).await,
                    Ok(Ok(()))
                );
            self.health.database.record(ok, fresh);
        };
        let redis = async {
            if let Some(status) = &self.health.redis {
                let ok = matches!(
                    tokio::time::timeout(timeout, self.live.ping()).await,
                    Ok(Ok(()))
                );
                status.set_up(ok);
                metrics::gauge!("dependency_up", "dependency" => "redis")
                    .set(f64::from(u8::from(ok)));
                let fresh = if ok {
                    Ok(())
                } else {
                    match tokio::time::timeout(timeout, self.live.ping_fresh()).await {
                        Ok(result) => result,
                        Err(_) => Err(LiveError::unavailable("timed out")),
                    }
                };
                status.record(ok, fresh.is_ok());
                let problem = match (ok, fresh) {
                    (true, _) => None,
                    (false, Ok(())) => Some("this replica's connection fails".into()),
                    (false, Err(e)) => Some(why_unreachable(&status.address, &e, timeout).await),
                };
                log_notice(&status.address, status.set_problem(problem));
            }
        };
        tokio::join!(database, redis);
        if let Ok(Ok(n)) = tokio::time::timeout(timeout, self.live.unsettled_games()).await {
            metrics::gauge!("game_sessions_active").set(n as f64);
        }
        self.publish_readiness();
    }

    /// Sets `app_ready` from the current readiness.
    pub fn publish_readiness(&self) {
        let ready = self.health.readiness() == Readiness::Ready;
        metrics::gauge!("app_ready").set(f64::from(u8::from(ready)));
    }

    /// One round trip to each dependency now (for `/health`), with the last probe's diagnosis of
    /// a Redis that does not answer.
    pub async fn check_now(&self) -> Checked {
        let timeout = self.timeout;
        let database = matches!(
            tokio::time::timeout(timeout, self.store.ping()).await,
            Ok(Ok(()))
        );
        let redis = match &self.health.redis {
            Some(redis) => {
                let ok = matches!(
                    tokio::time::timeout(timeout, self.live.ping()).await,
                    Ok(Ok(()))
                );
                // The monitor's diagnosis (at most a second old), or, if it has none yet, this.
                Some(if ok {
                    Ok(())
                } else {
                    Err(redis
                        .problem()
                        .unwrap_or_else(|| format!("{}: no answer", redis.address())))
                })
            }
            None => None,
        };
        Checked { database, redis }
    }

    /// "redis" or "memory".
    pub fn live_kind(&self) -> &'static str {
        self.live.kind()
    }
}

/// Why Redis at `address` did not answer, in the words a reader of `kubectl logs` needs.
async fn why_unreachable(address: &str, error: &LiveError, timeout: Duration) -> String {
    // A name that does not resolve (the Service does not exist yet) is the commonest case in a
    // cluster and the least clear in a client library's error text, so it is looked up apart.
    if address.contains(':') && !address.starts_with('/') {
        match tokio::time::timeout(timeout, tokio::net::lookup_host(address)).await {
            Err(_) => return "name lookup timed out".into(),
            Ok(Err(_)) => return "name does not resolve".into(),
            Ok(Ok(_)) => {}
        }
    }
    describe(error.what())
}

fn log_notice(address: &str, notice: Option<Notice>) {
    match notice {
        Some(Notice::Down(why)) | Some(Notice::StillDown(why)) => tracing::warn!(
            redis = address,
            reason = %why,
            "waiting for Redis at {address}: {why}; the game API answers 503 until it answers"
        ),
        Some(Notice::Up) => tracing::info!(redis = address, "Redis at {address} answers again"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_start_and_drain() {
        let h = Health::new(None, Duration::from_secs(30));
        assert_eq!(h.readiness(), Readiness::NotReady("starting"));
        h.mark_started();
        assert_eq!(h.readiness(), Readiness::Ready);
        h.start_draining();
        assert_eq!(h.readiness(), Readiness::NotReady("draining"));
    }

    #[test]
    fn a_shared_outage_keeps_the_replica_ready_but_a_local_one_does_not() {
        let h = Health::new(Some("redis:6379".into()), Duration::ZERO);
        h.mark_started();
        h.database.record(false, false); // down for everyone
        assert_eq!(h.readiness(), Readiness::Ready);
        h.database.record(false, true); // only our pool is broken
        assert_eq!(
            h.readiness(),
            Readiness::NotReady("database_connection_broken")
        );
        h.database.record(true, true);
        assert_eq!(h.readiness(), Readiness::Ready);
    }
}
