//! Shared live state: a Redis URL (REDIS_URL or REDIS_*) or none, and the key prefix.

use super::{encode_userinfo, invalid, is_weak, parse_port, ConfigError, Secret};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct RedisArgs {
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
}

impl RedisArgs {
    /// The Redis host when one is given by REDIS_HOST (REDIS_URL takes precedence).
    fn host(&self) -> Option<&str> {
        match (&self.redis_url, &self.redis_host) {
            (None, Some(host)) if !host.trim().is_empty() => Some(host.trim()),
            _ => None,
        }
    }

    /// The variable holding a weak or demo password, if the connection uses one.
    pub fn weak_secret(&self) -> Option<&'static str> {
        let password = self.redis_password.as_deref().unwrap_or_default();
        (self.host().is_some() && is_weak(password, 12)).then_some("REDIS_PASSWORD")
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// None: live games, caches and limits stay in this replica's memory.
    pub url: Option<Secret>,
    pub key_prefix: String,
}

impl TryFrom<RedisArgs> for RedisConfig {
    type Error = ConfigError;

    fn try_from(args: RedisArgs) -> Result<Self, ConfigError> {
        let url = if let Some(url) = &args.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
            Some(Secret::new(url.clone()))
        } else if let Some(host) = args.host() {
            let password = args.redis_password.clone().unwrap_or_default();
            let auth = if password.is_empty() {
                String::new()
            } else {
                format!(":{}@", encode_userinfo(&password))
            };
            Some(Secret::new(format!(
                "redis://{auth}{host}:{}/{}",
                args.redis_port, args.redis_db
            )))
        } else {
            None
        };
        if args.redis_key_prefix.contains(char::is_whitespace) {
            return Err(invalid("REDIS_KEY_PREFIX", "must not contain spaces"));
        }
        Ok(RedisConfig {
            url,
            key_prefix: args.redis_key_prefix,
        })
    }
}
