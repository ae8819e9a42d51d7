//! How a replica treats its dependencies and its own shutdown: the time limit of one database
//! or Redis call, the readiness grace, the drain delay and the shutdown timeout.

use super::{invalid, ConfigError};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct OperationsArgs {
    /// On SIGTERM, report not-ready and keep serving (with Connection: close) this long before closing.
    #[arg(
        long,
        env = "DRAIN_DELAY_SECONDS",
        default_value_t = 5,
        help_heading = "Operations"
    )]
    pub drain_delay_seconds: u64,
    /// After the drain delay, wait at most this long for in-flight requests.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT_SECONDS",
        default_value_t = 20,
        help_heading = "Operations"
    )]
    pub shutdown_timeout_seconds: u64,
    /// Time limit of one database or Redis call before the API answers 503.
    #[arg(
        long,
        env = "DEPENDENCY_TIMEOUT_MS",
        default_value_t = 1000,
        help_heading = "Operations"
    )]
    pub dependency_timeout_ms: u64,
    /// How long this replica's own connections may stay broken (while a fresh connection works) before it reports not-ready.
    #[arg(
        long,
        env = "READINESS_GRACE_SECONDS",
        default_value_t = 30,
        help_heading = "Operations"
    )]
    pub readiness_grace_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct OperationsConfig {
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
    pub dependency_timeout: Duration,
    pub readiness_grace: Duration,
}

impl TryFrom<OperationsArgs> for OperationsConfig {
    type Error = ConfigError;

    fn try_from(args: OperationsArgs) -> Result<Self, ConfigError> {
        if args.dependency_timeout_ms == 0 {
            return Err(invalid("DEPENDENCY_TIMEOUT_MS", "must be at least 1"));
        }
        Ok(OperationsConfig {
            drain_delay: Duration::from_secs(args.drain_delay_seconds),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout_seconds),
            dependency_timeout: Duration::from_millis(args.dependency_timeout_ms),
            readiness_grace: Duration::from_secs(args.readiness_grace_seconds),
        })
    }
}
