//! Database errors as Thorn's store errors: retryable when the database
//! could not be reached, with the address never holding a password.

use thorn_core::Error;

/// A database error of the subscriber store, as a
/// [`thorn_core::Error::Store`].
pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::Store {
        retryable: retryable(&e),
        source: format!("postgres: {e}").into(),
    }
}

/// A database error of the outbox (writing, claiming, deleting,
/// committing), as a [`thorn_core::Error::Database`].
pub(crate) fn outbox_db(e: sqlx::Error) -> Error {
    Error::Database {
        what: "the outbox",
        retryable: retryable(&e),
        source: format!("postgres: {e}").into(),
    }
}

/// Whether the database may answer if asked again: it could not be
/// reached, or it is shutting down or starting.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("57") || c.starts_with("08")))
}
