//! Configuration: environment variables with the guide's names (each also a `--flag`), parsed
//! and validated once at start-up. A malformed value stops start-up with a message naming the
//! variable; secrets are wrapped so they never print.
//!
//! The settings come in groups, one module each: its clap arguments (`…Args`), its typed
//! configuration (`…Config`) and the validation between them. [`Settings::into_config`] only
//! puts the groups together; the weak-secret rule is the one check that spans groups.

mod database;
mod limits;
mod operations;
mod redis;
mod security;
mod server;
mod telemetry;

pub use database::{DatabaseArgs, DatabaseConfig, DatabaseLocation};
pub use limits::{LimitsArgs, LimitsConfig};
pub use operations::{OperationsArgs, OperationsConfig};
pub use redis::{RedisArgs, RedisConfig};
pub use security::{SecurityArgs, SecurityConfig};
pub use server::{ServerArgs, ServerConfig};
pub use telemetry::{LogFormat, TelemetryArgs, TelemetryConfig};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::fmt;

#[derive(Parser, Debug)]
#[command(
    name = "humor-memory-game",
    version,
    about = "The Humor Memory Game server: the game at http://localhost:3000 with an embedded SQLite database.",
    long_about = "The Humor Memory Game server.\n\nWith no configuration it serves the game at http://localhost:3000 \
with an embedded SQLite database and in-process state. Set DB_HOST (or DATABASE_URL) for PostgreSQL and \
REDIS_HOST (or REDIS_URL) for Redis; then any number of replicas serve the same players.\n\nEvery option \
is an environment variable (shown in brackets); flags override them."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve the game and the API (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Exit 0 when the server on PORT answers 200 on the path, else 1 (for container HEALTHCHECKs).
    Healthcheck {
        /// The path to check.
        #[arg(long, default_value = "/health/ready")]
        path: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Print the operational contract (port, probes, environment, metrics, timings) as JSON.
    Contract,
}

/// Every setting, in groups; the order of the groups is the order of `--help` and of the contract.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub operations: OperationsArgs,
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration, by group.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub security: SecurityConfig,
    pub limits: LimitsConfig,
    pub telemetry: TelemetryConfig,
    pub operations: OperationsConfig,
}

/// A configuration problem, naming the variable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

pub(crate) fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

/// Parses a port, also in the Kubernetes service-link form `tcp://10.43.0.5:6379`.
pub fn parse_port(s: &str) -> Result<u16, String> {
    let raw = s.trim();
    let port = match raw.strip_prefix("tcp://") {
        Some(rest) => rest.rsplit_once(':').map(|(_, p)| p).unwrap_or(""),
        None => raw,
    };
    port.parse::<u16>()
        .map_err(|_| format!("'{s}' is not a port (1-65535) or tcp://host:port"))
        .and_then(|p| {
            if p == 0 && raw != "0" {
                Err("port 0".into())
            } else {
                Ok(p)
            }
        })
}

pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("'{s}' is not true or false")),
    }
}

/// Demo values from the guide and the usual suspects: accepted with a warning, never in production.
const DEMO_SECRETS: &[&str] = &[
    "gamepass123",
    "your-super-secret-jwt-key",
    "password",
    "postgres",
    "redis",
    "changeme",
    "secret",
    "admin",
    "admin123",
];

pub(crate) fn is_weak(value: &str, min_len: usize) -> bool {
    value.len() < min_len || DEMO_SECRETS.contains(&value.to_ascii_lowercase().as_str())
}

/// Percent-encodes a URL user-info component.
pub(crate) fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Settings {
    /// Every setting at its default, whatever the process environment holds: clap's defaults
    /// with the environment lookups taken out, so there is one list of defaults.
    pub fn defaults() -> Settings {
        let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
        command
            .try_get_matches_from(["humor-memory-game"])
            .map_err(|e| e.to_string())
            .and_then(|matches| Settings::from_arg_matches(&matches).map_err(|e| e.to_string()))
            .expect("the defaults parse")
    }

    /// Validates the settings into a [`Config`], group by group.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let weak_secrets = [
            self.database.weak_secret(),
            self.redis.weak_secret(),
            self.security.weak_secret(),
        ];
        let database = DatabaseConfig::try_from(self.database)?;
        let redis = RedisConfig::try_from(self.redis)?;
        let security =
            SecurityConfig::try_new(self.security, weak_secrets.into_iter().flatten().collect())?;
        let server = ServerConfig::try_from(self.server)?;
        let telemetry = TelemetryConfig::try_new(self.telemetry, server.is_production())?;
        Ok(Config {
            server,
            database,
            redis,
            security,
            limits: self.limits.try_into()?,
            telemetry,
            operations: self.operations.try_into()?,
        })
    }
}

impl Config {
    /// Settings for tests and embedding: SQLite at `sqlite_path`, everything else default.
    /// Never reads the environment, so a developer's exported variables cannot change a test.
    pub fn for_sqlite(sqlite_path: &str) -> Config {
        let mut config = Settings::defaults()
            .into_config()
            .expect("the defaults are valid");
        config.database.location = DatabaseLocation::Sqlite {
            path: sqlite_path.into(),
        };
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Settings {
        let mut full = vec!["humor-memory-game"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).expect("parse").settings
    }

    #[test]
    fn kubernetes_service_link_ports_are_accepted() {
        assert_eq!(parse_port("tcp://10.43.0.5:6379"), Ok(6379));
        assert_eq!(parse_port("6380"), Ok(6380));
        assert!(parse_port("tcp://10.43.0.5").is_err());
        assert!(parse_port("redis").is_err());
    }

    #[test]
    fn the_guides_values_boot_with_warnings() {
        let s = settings(&[
            "--db-host",
            "postgres",
            "--db-password",
            "gamepass123",
            "--redis-host",
            "redis",
            "--redis-password",
            "gamepass123",
            "--jwt-secret",
            "your-super-secret-jwt-key",
            "--redis-port",
            "tcp://10.43.0.5:6379",
        ]);
        let c = s.into_config().expect("boots");
        assert_eq!(
            c.security.weak_secrets,
            vec!["DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"]
        );
        match &c.database.location {
            DatabaseLocation::Postgres { url } => {
                assert_eq!(
                    url.expose(),
                    "postgres://gameuser:gamepass123@postgres:5432/humor_memory_game"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.redis.url.map(|u| u.expose().to_string()),
            Some("redis://:gamepass123@redis:6379/0".into())
        );
    }

    #[test]
    fn strong_secrets_can_be_required() {
        let s = settings(&[
            "--db-host",
            "postgres",
            "--db-password",
            "gamepass123",
            "--require-strong-secrets",
            "true",
        ]);
        let e = s.into_config().expect_err("refused");
        assert_eq!(e.variable, "DB_PASSWORD");
        assert!(!e.to_string().contains("gamepass123"), "{e}");
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (args, var) in [
            (
                vec!["--trusted-proxies", "10.0.0.0/8,nonsense"],
                "TRUSTED_PROXIES",
            ),
            (vec!["--cors-origin", "localhost:3000"], "CORS_ORIGIN"),
            (vec!["--database-url", "mysql://x"], "DATABASE_URL"),
            (vec!["--log-level", "loud[["], "LOG_LEVEL"),
            (
                vec!["--rate-limit-max-requests", "0"],
                "RATE_LIMIT_MAX_REQUESTS",
            ),
        ] {
            let e = settings(&args).into_config().expect_err("invalid");
            assert_eq!(e.variable, var);
        }
    }

    #[test]
    fn passwords_with_url_characters_are_encoded() {
        let c = settings(&["--db-host", "db", "--db-password", "p@ss:w/rd#1"])
            .into_config()
            .expect("ok");
        match c.database.location {
            DatabaseLocation::Postgres { url } => {
                assert!(url.expose().contains("p%40ss%3Aw%2Frd%231@db"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
