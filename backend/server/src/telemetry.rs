//! Logs: JSON lines in production (one per request, with its request id), plain text on a terminal.

use crate::config::Config;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls are ignored, which tests rely on).
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(format!(
        "{},sqlx=warn,hyper=warn,h2=warn,tower=warn",
        config.log_level
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if config.json_logs {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
