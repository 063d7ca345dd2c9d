//! Database errors as Thorn's store errors: retryable when the database
//! could not be reached, with the address never holding a password.

use thorn_core::Error;

/// A database error as a [`thorn_core::Error::Store`].
pub(crate) fn db(e: sqlx::Error) -> Error {
    let retryable = matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    ) || matches!(&e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("57") || c.starts_with("08")));
    Error::Store {
        retryable,
        source: format!("postgres: {e}").into(),
    }
}
