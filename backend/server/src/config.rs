//! Configuration: environment variables with the guide's names (each also a `--flag`), parsed
//! and validated once at start-up. A malformed value stops start-up with a message naming the
//! variable; secrets are wrapped so they never print.

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal or NODE_ENV=production, else plain text.
    Auto,
    Json,
    Pretty,
}

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Port to listen on (compose and Kubernetes use 3001).
    #[arg(long, env = "PORT", default_value = "3000", value_parser = parse_port, help_heading = "Server")]
    pub port: u16,
    /// Address to listen on (containers set 0.0.0.0).
    #[arg(
        long,
        env = "HOST",
        default_value = "127.0.0.1",
        help_heading = "Server"
    )]
    pub host: IpAddr,
    /// Environment name reported by /health (production also selects JSON logs).
    #[arg(
        long = "node-env",
        env = "NODE_ENV",
        default_value = "development",
        help_heading = "Server"
    )]
    pub node_env: String,
    /// Serve the web game from this folder instead of the copy embedded at build time.
    #[arg(long, env = "FRONTEND_DIR", help_heading = "Server")]
    pub frontend_dir: Option<PathBuf>,
    /// Allowed browser origins for CORS, comma-separated.
    #[arg(
        long,
        env = "CORS_ORIGIN",
        default_value = "http://localhost:3000",
        help_heading = "Server"
    )]
    pub cors_origin: String,
    /// CIDRs of proxies whose X-Forwarded-For is believed, comma-separated (e.g. 10.0.0.0/8).
    #[arg(
        long,
        env = "TRUSTED_PROXIES",
        default_value = "",
        help_heading = "Server"
    )]
    pub trusted_proxies: String,
    /// Give up on a request after this many milliseconds (JSON 503).
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_MS",
        default_value_t = 10_000,
        help_heading = "Server"
    )]
    pub request_timeout_ms: u64,
    /// Close idle keep-alive connections after this many seconds (keep proxies' upstream keepalive shorter).
    #[arg(
        long,
        env = "HTTP_IDLE_TIMEOUT_SECONDS",
        default_value_t = 75,
        help_heading = "Server"
    )]
    pub http_idle_timeout_seconds: u64,

    /// PostgreSQL URL (postgres://…) or sqlite://<path>; overrides DB_* and SQLITE_PATH.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        help_heading = "Database"
    )]
    pub database_url: Option<String>,
    /// PostgreSQL host; when set (or DATABASE_URL is), PostgreSQL is used instead of SQLite.
    #[arg(long, env = "DB_HOST", help_heading = "Database")]
    pub db_host: Option<String>,
    /// PostgreSQL port (also accepts the Kubernetes form tcp://10.0.0.1:5432).
    #[arg(long, env = "DB_PORT", default_value = "5432", value_parser = parse_port, help_heading = "Database")]
    pub db_port: u16,
    /// PostgreSQL database.
    #[arg(
        long,
        env = "DB_NAME",
        default_value = "humor_memory_game",
        help_heading = "Database"
    )]
    pub db_name: String,
    /// PostgreSQL user.
    #[arg(
        long,
        env = "DB_USER",
        default_value = "gameuser",
        help_heading = "Database"
    )]
    pub db_user: String,
    /// PostgreSQL password.
    #[arg(
        long,
        env = "DB_PASSWORD",
        hide_env_values = true,
        help_heading = "Database"
    )]
    pub db_password: Option<String>,
    /// Connections per replica.
    #[arg(
        long,
        env = "DB_MAX_CONNECTIONS",
        default_value_t = 10,
        help_heading = "Database"
    )]
    pub db_max_connections: u32,
    /// SQLite database file (used when no PostgreSQL is configured).
    #[arg(
        long,
        env = "SQLITE_PATH",
        default_value = "data/humor_memory_game.sqlite",
        help_heading = "Database"
    )]
    pub sqlite_path: String,

    /// Redis URL (redis://…); overrides REDIS_*. Without Redis, live games and limits stay in memory.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        help_heading = "Redis"
    )]
    pub redis_url: Option<String>,
    /// Redis host; when set, live games, leaderboards caches and rate limits are shared through Redis.
    #[arg(long, env = "REDIS_HOST", help_heading = "Redis")]
    pub redis_host: Option<String>,
    /// Redis port (also accepts the Kubernetes form tcp://10.0.0.1:6379).
    #[arg(long, env = "REDIS_PORT", default_value = "6379", value_parser = parse_port, help_heading = "Redis")]
    pub redis_port: u16,
    /// Redis password.
    #[arg(
        long,
        env = "REDIS_PASSWORD",
        hide_env_values = true,
        help_heading = "Redis"
    )]
    pub redis_password: Option<String>,
    /// Redis database number.
    #[arg(long, env = "REDIS_DB", default_value_t = 0, help_heading = "Redis")]
    pub redis_db: u32,
    /// Prefix of every Redis key (lets several deployments or tests share one Redis).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        default_value = "hmg:",
        help_heading = "Redis"
    )]
    pub redis_key_prefix: String,

    /// Key that signs player tokens (32+ characters). Unset: generated once and kept in the database.
    #[arg(
        long,
        env = "JWT_SECRET",
        hide_env_values = true,
        help_heading = "Security"
    )]
    pub jwt_secret: Option<String>,
    /// Refuse to start with weak or demo secrets (the production overlay sets it).
    #[arg(long, env = "REQUIRE_STRONG_SECRETS", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Security")]
    pub require_strong_secrets: bool,
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

#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Postgres { url: Secret },
    Sqlite { path: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub host: IpAddr,
    pub environment: String,
    pub frontend_dir: Option<PathBuf>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub request_timeout: Duration,
    pub http_idle_timeout: Duration,
    pub database: DatabaseConfig,
    pub db_max_connections: u32,
    pub redis_url: Option<Secret>,
    pub redis_key_prefix: String,
    pub jwt_secret: Option<Secret>,
    pub rate_limit_window: Duration,
    pub rate_limit_max: u64,
    pub log_level: String,
    pub json_logs: bool,
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
    pub dependency_timeout: Duration,
    pub readiness_grace: Duration,
    /// Variables holding weak or demo secrets (reported, never their values).
    pub weak_secrets: Vec<&'static str>,
}

/// A configuration problem, naming the variable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
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

fn parse_bool(s: &str) -> Result<bool, String> {
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

fn is_weak(value: &str, min_len: usize) -> bool {
    value.len() < min_len || DEMO_SECRETS.contains(&value.to_ascii_lowercase().as_str())
}

/// Percent-encodes a URL user-info component.
fn encode_userinfo(s: &str) -> String {
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
    /// Validates the settings into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut weak_secrets = Vec::new();
        let database = match (&self.database_url, &self.db_host) {
            (Some(url), _) => {
                if let Some(path) = url.strip_prefix("sqlite://") {
                    DatabaseConfig::Sqlite {
                        path: path.to_string(),
                    }
                } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    DatabaseConfig::Postgres {
                        url: Secret::new(url.clone()),
                    }
                } else {
                    return Err(invalid(
                        "DATABASE_URL",
                        "must start with postgres://, postgresql:// or sqlite://",
                    ));
                }
            }
            (None, Some(host)) if !host.trim().is_empty() => {
                let password = self.db_password.clone().unwrap_or_default();
                if is_weak(&password, 12) {
                    weak_secrets.push("DB_PASSWORD");
                }
                let auth = if password.is_empty() {
                    encode_userinfo(&self.db_user)
                } else {
                    format!(
                        "{}:{}",
                        encode_userinfo(&self.db_user),
                        encode_userinfo(&password)
                    )
                };
                DatabaseConfig::Postgres {
                    url: Secret::new(format!(
                        "postgres://{auth}@{}:{}/{}",
                        host.trim(),
                        self.db_port,
                        encode_userinfo(&self.db_name)
                    )),
                }
            }
            _ => DatabaseConfig::Sqlite {
                path: self.sqlite_path.clone(),
            },
        };
        if let DatabaseConfig::Sqlite { path } = &database {
            if path.trim().is_empty() {
                return Err(invalid("SQLITE_PATH", "must not be empty"));
            }
        }

        let redis_url = match (&self.redis_url, &self.redis_host) {
            (Some(url), _) => {
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    return Err(invalid(
                        "REDIS_URL",
                        "must start with redis:// or rediss://",
                    ));
                }
                Some(Secret::new(url.clone()))
            }
            (None, Some(host)) if !host.trim().is_empty() => {
                let password = self.redis_password.clone().unwrap_or_default();
                if is_weak(&password, 12) {
                    weak_secrets.push("REDIS_PASSWORD");
                }
                let auth = if password.is_empty() {
                    String::new()
                } else {
                    format!(":{}@", encode_userinfo(&password))
                };
                Some(Secret::new(format!(
                    "redis://{auth}{}:{}/{}",
                    host.trim(),
                    self.redis_port,
                    self.redis_db
                )))
            }
            _ => None,
        };

        let jwt_secret = match &self.jwt_secret {
            Some(s) if !s.is_empty() => {
                if is_weak(s, 32) {
                    weak_secrets.push("JWT_SECRET");
                }
                Some(Secret::new(s.clone()))
            }
            _ => None,
        };
        if self.require_strong_secrets && !weak_secrets.is_empty() {
            return Err(invalid(
                weak_secrets[0],
                format!(
                    "REQUIRE_STRONG_SECRETS is set and {} weak or a demo value (passwords need 12+ \
                     characters, JWT_SECRET 32+, none of the guide's demo values)",
                    if weak_secrets.len() == 1 {
                        format!("{} is", weak_secrets[0])
                    } else {
                        format!("{} are", weak_secrets.join(", "))
                    }
                ),
            ));
        }

        let cors_origins: Vec<String> = self
            .cors_origin
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for origin in &cors_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && origin.splitn(4, '/').count() == 3
                && axum::http::HeaderValue::from_str(origin).is_ok();
            if !ok {
                return Err(invalid(
                    "CORS_ORIGIN",
                    format!("'{origin}' is not an origin like https://game.example.com"),
                ));
            }
        }

        let mut trusted_proxies = Vec::new();
        for item in self
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("'{item}' is not an IP address or CIDR"),
                    )
                })?;
            trusted_proxies.push(net);
        }

        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(invalid(
                "LOG_LEVEL",
                format!("'{}' is not a log level or filter", self.log_level),
            ));
        }
        if self.rate_limit_window_ms == 0 {
            return Err(invalid("RATE_LIMIT_WINDOW_MS", "must be at least 1"));
        }
        if self.rate_limit_max_requests == 0 {
            return Err(invalid("RATE_LIMIT_MAX_REQUESTS", "must be at least 1"));
        }
        if self.db_max_connections == 0 {
            return Err(invalid("DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("REQUEST_TIMEOUT_MS", "must be at least 1"));
        }
        if self.dependency_timeout_ms == 0 {
            return Err(invalid("DEPENDENCY_TIMEOUT_MS", "must be at least 1"));
        }
        if self.redis_key_prefix.contains(char::is_whitespace) {
            return Err(invalid("REDIS_KEY_PREFIX", "must not contain spaces"));
        }

        let production = self.node_env.eq_ignore_ascii_case("production");
        let json_logs = match self.log_format {
            LogFormat::Json => true,
            LogFormat::Pretty => false,
            LogFormat::Auto => production || !std::io::IsTerminal::is_terminal(&std::io::stdout()),
        };

        Ok(Config {
            port: self.port,
            host: self.host,
            environment: self.node_env,
            frontend_dir: self.frontend_dir,
            cors_origins,
            trusted_proxies,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            http_idle_timeout: Duration::from_secs(self.http_idle_timeout_seconds.max(1)),
            database,
            db_max_connections: self.db_max_connections,
            redis_url,
            redis_key_prefix: self.redis_key_prefix,
            jwt_secret,
            rate_limit_window: Duration::from_millis(self.rate_limit_window_ms),
            rate_limit_max: self.rate_limit_max_requests,
            log_level: self.log_level,
            json_logs,
            drain_delay: Duration::from_secs(self.drain_delay_seconds),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
            dependency_timeout: Duration::from_millis(self.dependency_timeout_ms),
            readiness_grace: Duration::from_secs(self.readiness_grace_seconds),
            weak_secrets,
        })
    }
}

impl Config {
    /// Settings for tests and embedding: SQLite at `sqlite_path`, everything else default.
    pub fn for_sqlite(sqlite_path: &str) -> Config {
        let settings =
            Cli::parse_from(["humor-memory-game", "--sqlite-path", sqlite_path]).settings;
        let mut config = settings.into_config().expect("defaults are valid");
        // Tests must not depend on the developer's environment variables.
        config.database = DatabaseConfig::Sqlite {
            path: sqlite_path.into(),
        };
        config.redis_url = None;
        config.jwt_secret = None;
        config.weak_secrets.clear();
        config
    }

    pub fn database_engine(&self) -> &'static str {
        match self.database {
            DatabaseConfig::Postgres { .. } => "postgres",
            DatabaseConfig::Sqlite { .. } => "sqlite",
        }
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
            c.weak_secrets,
            vec!["DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"]
        );
        match &c.database {
            DatabaseConfig::Postgres { url } => {
                assert_eq!(
                    url.expose(),
                    "postgres://gameuser:gamepass123@postgres:5432/humor_memory_game"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.redis_url.map(|u| u.expose().to_string()),
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
        match c.database {
            DatabaseConfig::Postgres { url } => {
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
