//! The store and the live state as the services call them: every call bounded by the dependency
//! timeout, and a dependency known down answered at once instead of waited for. A failure marks
//! the dependency down in the shared [`Health`] so the next requests fail fast too; the monitor's
//! next probe (every second) notices recovery.

use super::AppError;
use crate::health::Health;
use crate::live::{LiveError, LiveState};
use humor_store::{Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The durable store behind the dependency timeout.
#[derive(Clone)]
pub struct GuardedStore {
    pub store: Arc<dyn Store>,
    health: Arc<Health>,
    timeout: Duration,
}

impl GuardedStore {
    pub fn new(store: Arc<dyn Store>, health: Arc<Health>, timeout: Duration) -> GuardedStore {
        GuardedStore {
            store,
            health,
            timeout,
        }
    }

    /// A database call, bounded so an outage answers fast instead of hanging.
    pub async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, AppError> {
        self.call_raw(fut).await?.map_err(Into::into)
    }

    /// Like [`GuardedStore::call`], but leaves the store's own errors to the caller.
    pub async fn call_raw<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, StoreError>, AppError> {
        // While the database is known down, answer at once instead of waiting for timeouts.
        if self.health.is_started() && !self.health.database.is_up() {
            return Err(AppError::Unavailable("database"));
        }
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Err(e)) if e.is_unavailable() => {
                self.health.database.trip();
                Ok(Err(e))
            }
            Ok(out) => Ok(out),
            Err(_) => {
                self.health.database.trip();
                Err(AppError::Unavailable("database"))
            }
        }
    }
}

/// One job of the live state (e.g. `dyn BoardCache`) behind the dependency timeout.
pub struct GuardedLive<T: ?Sized = dyn LiveState> {
    pub state: Arc<T>,
    health: Arc<Health>,
    timeout: Duration,
}

impl<T: ?Sized> Clone for GuardedLive<T> {
    fn clone(&self) -> Self {
        GuardedLive {
            state: self.state.clone(),
            health: self.health.clone(),
            timeout: self.timeout,
        }
    }
}

impl<J: ?Sized> GuardedLive<J> {
    pub fn new(state: Arc<J>, health: Arc<Health>, timeout: Duration) -> GuardedLive<J> {
        GuardedLive {
            state,
            health,
            timeout,
        }
    }

    /// A live-state call, bounded by the dependency timeout. A Redis failure marks Redis down at
    /// once, so the rest of this request and the next ones fail fast instead of each waiting.
    pub async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, LiveError>>,
    ) -> Result<T, AppError> {
        if self.known_down() {
            return Err(AppError::Unavailable("redis"));
        }
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_unavailable() {
                    self.trip();
                }
                Err(e.into())
            }
            Err(_) => {
                self.trip();
                Err(AppError::Unavailable("redis"))
            }
        }
    }

    /// True while Redis is known down: callers fail fast or skip it.
    pub fn known_down(&self) -> bool {
        self.health.is_started() && self.health.redis.as_ref().is_some_and(|r| !r.is_up())
    }

    fn trip(&self) {
        if let Some(r) = &self.health.redis {
            r.trip();
        }
    }
}
