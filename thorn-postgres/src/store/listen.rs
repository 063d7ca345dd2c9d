//! Keeping a process's index fresh: `LISTEN thorn_subscriptions` applies
//! each change as it is committed; a lost connection, and every
//! [`RELOAD_EVERY`], reloads the whole table.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Shared;

/// The channel of subscription changes.
pub(crate) const CHANNEL: &str = "thorn_subscriptions";

/// How often the whole table is reloaded anyway.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Listens until `stop`.
pub(crate) async fn listen(shared: Arc<Shared>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match PgListener::connect_with(&shared.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "listening for subscription changes failed; retrying");
                if wait(&stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            if wait(&stop, backoff).await {
                return;
            }
            continue;
        }
        // Changes made while no one listened are in the table.
        if let Err(e) = shared.reload().await {
            tracing::warn!(error = %e, "reloading subscriptions failed; retrying");
            if wait(&stop, backoff).await {
                return;
            }
            continue;
        }
        backoff = Duration::from_millis(100);
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RELOAD_EVERY) => None,
                n = listener.try_recv() => Some(n),
            };
            match next {
                None => {
                    if let Err(e) = shared.reload().await {
                        tracing::warn!(error = %e, "reloading subscriptions failed");
                    }
                }
                Some(Ok(Some(n))) => {
                    let Some((schema, id)) = n.payload().split_once(' ') else {
                        continue;
                    };
                    if schema != shared.schema {
                        continue;
                    }
                    let Ok(id) = Uuid::parse_str(id) else {
                        continue;
                    };
                    if let Err(e) = shared.refresh(id).await {
                        tracing::warn!(error = %e, subscription = %id, "reading a changed subscription failed; reloading all");
                        break;
                    }
                }
                // The connection was lost: connect and reload.
                Some(Ok(None)) | Some(Err(_)) => break,
            }
        }
    }
}

/// Waits `d` or until `stop`; whether it stopped.
async fn wait(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}
