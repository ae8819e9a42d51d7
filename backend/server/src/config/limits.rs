//! How many API requests a client may make per window.

use super::{invalid, ConfigError};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct LimitsArgs {
    /// Rate limit window in milliseconds.
    #[arg(
        long,
        env = "RATE_LIMIT_WINDOW_MS",
        default_value_t = 60_000,
        help_heading = "Security"
    )]
    pub rate_limit_window_ms: u64,
    /// API requests allowed per client and window (health and metrics are exempt).
    #[arg(
        long,
        env = "RATE_LIMIT_MAX_REQUESTS",
        default_value_t = 300,
        help_heading = "Security"
    )]
    pub rate_limit_max_requests: u64,
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub rate_limit_window: Duration,
    /// API requests allowed per client and window.
    pub rate_limit_max: u64,
}

impl TryFrom<LimitsArgs> for LimitsConfig {
    type Error = ConfigError;

    fn try_from(args: LimitsArgs) -> Result<Self, ConfigError> {
        if args.rate_limit_window_ms == 0 {
            return Err(invalid("RATE_LIMIT_WINDOW_MS", "must be at least 1"));
        }
        if args.rate_limit_max_requests == 0 {
            return Err(invalid("RATE_LIMIT_MAX_REQUESTS", "must be at least 1"));
        }
        Ok(LimitsConfig {
            rate_limit_window: Duration::from_millis(args.rate_limit_window_ms),
            rate_limit_max: args.rate_limit_max_requests,
        })
    }
}
