//! The listener and the HTTP surface: address, environment name, web game folder, CORS,
//! trusted proxies and the per-request and idle timeouts.

use super::{invalid, parse_port, ConfigError};
use clap::Args;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
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
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub port: u16,
    pub host: IpAddr,
    /// The NODE_ENV name, reported by /health.
    pub environment: String,
    pub frontend_dir: Option<PathBuf>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub request_timeout: Duration,
    pub http_idle_timeout: Duration,
}

impl ServerConfig {
    pub fn is_production(&self) -> bool {
        self.environment.eq_ignore_ascii_case("production")
    }
}

impl TryFrom<ServerArgs> for ServerConfig {
    type Error = ConfigError;

    fn try_from(args: ServerArgs) -> Result<Self, ConfigError> {
        if args.request_timeout_ms == 0 {
            return Err(invalid("REQUEST_TIMEOUT_MS", "must be at least 1"));
        }
        Ok(ServerConfig {
            port: args.port,
            host: args.host,
            environment: args.node_env,
            frontend_dir: args.frontend_dir,
            cors_origins: cors_origins(&args.cors_origin)?,
            trusted_proxies: trusted_proxies(&args.trusted_proxies)?,
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            http_idle_timeout: Duration::from_secs(args.http_idle_timeout_seconds.max(1)),
        })
    }
}

fn cors_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = list
        .split(',')
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for origin in &origins {
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
    Ok(origins)
}

fn trusted_proxies(list: &str) -> Result<Vec<IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("'{item}' is not an IP address or CIDR"),
                    )
                })
        })
        .collect()
}
