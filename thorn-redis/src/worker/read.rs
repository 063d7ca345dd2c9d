//! Reading new entries from the queue through the consumer group.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::Shared;
use super::process::spawn_entries;
use super::reply::read_reply;
use crate::error::Result;
use crate::keys::GROUP;

/// Reads new entries (`XREADGROUP` from `>`) on the reader's own
/// connection, blocking for up to the block time, and starts them.
pub(super) async fn read(
    shared: &Arc<Shared>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(GROUP)
        .arg(&shared.consumer)
        .arg("COUNT")
        .arg(permits.len())
        .arg("BLOCK")
        .arg(shared.block.as_millis() as u64)
        .arg("STREAMS")
        .arg(&shared.keys.stream)
        .arg(">");
    let conn = &shared.reader;
    let mut c = conn.get().await?;
    // The open circuits are read in the same round trip, right after the
    // read returns: what other workers opened (or closed) applies to
    // these entries.
    let mut pipe = redis::pipe();
    pipe.add_command(cmd)
        .cmd("HGETALL")
        .arg(&shared.keys.circuits);
    let (reply, circuits): (redis::Value, redis::Value) =
        pipe.query_async(&mut c).await.map_err(|e| conn.err(e))?;
    let entries = read_reply(reply).map_err(|detail| {
        conn.err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected XREADGROUP reply",
            detail,
        )))
    })?;
    if !entries.is_empty() {
        match redis::from_redis_value(circuits) {
            Ok(all) => super::circuits::take(shared, all).await,
            Err(e) => {
                tracing::warn!(error = %e, "reading the open circuits failed; using what was read before")
            }
        }
    }
    spawn_entries(shared, entries, permits, tasks);
    Ok(())
}
