//! Where the games are stored: PostgreSQL (DATABASE_URL or DB_*) or an SQLite file.

use super::{encode_userinfo, invalid, is_weak, parse_port, ConfigError, Secret};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
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
}

impl DatabaseArgs {
    /// The PostgreSQL host when one is given by DB_HOST (DATABASE_URL takes precedence).
    fn postgres_host(&self) -> Option<&str> {
        match (&self.database_url, &self.db_host) {
            (None, Some(host)) if !host.trim().is_empty() => Some(host.trim()),
            _ => None,
        }
    }

    /// The variable holding a weak or demo password, if the connection uses one.
    pub fn weak_secret(&self) -> Option<&'static str> {
        let password = self.db_password.as_deref().unwrap_or_default();
        (self.postgres_host().is_some() && is_weak(password, 12)).then_some("DB_PASSWORD")
    }
}

/// The database a replica connects to.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    Postgres { url: Secret },
    Sqlite { path: String },
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub location: DatabaseLocation,
    /// Connections per replica.
    pub max_connections: u32,
}

impl DatabaseConfig {
    /// The engine's name, as /health reports it.
    pub fn engine(&self) -> &'static str {
        match self.location {
            DatabaseLocation::Postgres { .. } => "postgres",
            DatabaseLocation::Sqlite { .. } => "sqlite",
        }
    }
}

impl TryFrom<DatabaseArgs> for DatabaseConfig {
    type Error = ConfigError;

    fn try_from(args: DatabaseArgs) -> Result<Self, ConfigError> {
        let location = if let Some(url) = &args.database_url {
            if let Some(path) = url.strip_prefix("sqlite://") {
                DatabaseLocation::Sqlite {
                    path: path.to_string(),
                }
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                DatabaseLocation::Postgres {
                    url: Secret::new(url.clone()),
                }
            } else {
                return Err(invalid(
                    "DATABASE_URL",
                    "must start with postgres://, postgresql:// or sqlite://",
                ));
            }
        } else if let Some(host) = args.postgres_host() {
            let password = args.db_password.clone().unwrap_or_default();
            let auth = if password.is_empty() {
                encode_userinfo(&args.db_user)
            } else {
                format!(
                    "{}:{}",
                    encode_userinfo(&args.db_user),
                    encode_userinfo(&password)
                )
            };
            DatabaseLocation::Postgres {
                url: Secret::new(format!(
                    "postgres://{auth}@{host}:{}/{}",
                    args.db_port,
                    encode_userinfo(&args.db_name)
                )),
            }
        } else {
            DatabaseLocation::Sqlite {
                path: args.sqlite_path.clone(),
            }
        };
        if let DatabaseLocation::Sqlite { path } = &location {
            if path.trim().is_empty() {
                return Err(invalid("SQLITE_PATH", "must not be empty"));
            }
        }
        if args.db_max_connections == 0 {
            return Err(invalid("DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(DatabaseConfig {
            location,
            max_connections: args.db_max_connections,
        })
    }
}
