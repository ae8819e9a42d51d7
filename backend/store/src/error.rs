/// What can go wrong in the store, as the layers above need to tell apart. A variant caused by
/// another error keeps it as its `source()` (typed: a caller can still read a PostgreSQL code), and
/// its message repeats the cause's, because log lines print the message alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time; retrying later may work.
    #[error("database unavailable: {what}")]
    Unavailable {
        what: String,
        #[source]
        source: Option<sqlx::Error>,
    },
    /// A uniqueness rule refused the write (e.g. a second daily challenge).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database and this binary disagree about the migration history: retrying cannot fix it.
    #[error("the database's migrations do not match this release: {0}")]
    History(#[source] sqlx::migrate::MigrateError),
    /// A stored value this code cannot read (an unknown difficulty or status, a malformed id).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    /// A value this code could not write.
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Unavailable for a reason of the store's own (a timeout, a stopped writer).
    pub fn unavailable(what: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// An error retrying cannot fix (configuration, or a migration history that does not match).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Config(_) | StoreError::History(_))
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        what: e.to_string(),
        source: Some(e),
    }
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
                        _ => StoreError::Database(e),
                    }
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        match e {
            M::Execute(inner) | M::ExecuteMigration(inner, _) => inner.into(),
            history @ (M::VersionMismatch(_) | M::VersionMissing(_) | M::Dirty(_)) => {
                StoreError::History(history)
            }
            other => StoreError::Migration(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn the_cause_stays_attached() {
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(e.is_unavailable());
        assert!(e
            .source()
            .is_some_and(|s| s.to_string() == sqlx::Error::PoolTimedOut.to_string()));
        let e = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, StoreError::Database(sqlx::Error::RowNotFound)));
        assert!(e.source().is_some());
        let e = StoreError::from(sqlx::migrate::MigrateError::VersionMissing(3));
        assert!(e.is_permanent(), "{e}");
        assert!(e.source().is_some());
    }
}
