//! Logs: the filter and whether lines are JSON.

use super::{invalid, ConfigError};
use clap::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal or NODE_ENV=production, else plain text.
    Auto,
    Json,
    Pretty,
}

#[derive(Args, Debug, Clone)]
pub struct TelemetryArgs {
    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(
        long,
        env = "LOG_LEVEL",
        default_value = "info",
        help_heading = "Operations"
    )]
    pub log_level: String,
    /// Log format: auto (JSON unless on a terminal; always JSON with NODE_ENV=production), json or pretty.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "auto",
        help_heading = "Operations"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub log_level: String,
    pub json_logs: bool,
}

impl TelemetryConfig {
    /// Checks the filter; `production` (NODE_ENV) makes the automatic format JSON.
    pub fn try_new(args: TelemetryArgs, production: bool) -> Result<Self, ConfigError> {
        if tracing_subscriber::EnvFilter::try_new(&args.log_level).is_err() {
            return Err(invalid(
                "LOG_LEVEL",
                format!("'{}' is not a log level or filter", args.log_level),
            ));
        }
        let json_logs = match args.log_format {
            LogFormat::Json => true,
            LogFormat::Pretty => false,
            LogFormat::Auto => production || !std::io::IsTerminal::is_terminal(&std::io::stdout()),
        };
        Ok(TelemetryConfig {
            log_level: args.log_level,
            json_logs,
        })
    }
}
