use std::fmt;

/// What can go wrong in the store, as the layers above need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the write (e.g. a second daily challenge).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// A stored value this code cannot read (an unknown difficulty or status, a malformed id).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// An error retrying cannot fix (configuration, or a migration history that does not match).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Config(_))
    }
}

fn unavailable(e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => unavailable(e),
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    StoreError::Conflict(db.message().to_string())
                } else {
                    match db.code().as_deref() {
                        // PostgreSQL: connection exceptions, shutdown, statement timeout/cancel;
                        // SQLite: busy/locked.
                        Some(code)
                            if code.starts_with("08")
                                || code.starts_with("57P")
                                || code == "57014"
                                || code == "5"
                                || code == "6"
                                || code == "517" =>
                        {
                            unavailable(e)
                        }
                        _ => StoreError::Other(e.to_string()),
                    }
                }
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        match e {
            M::Execute(inner) | M::ExecuteMigration(inner, _) => inner.into(),
            // The database and this binary disagree about history: retrying cannot fix it.
            other @ (M::VersionMismatch(_) | M::VersionMissing(_) | M::Dirty(_)) => {
                StoreError::Config(format!("migrations: {other}"))
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}
