//! The worker's membership of the consumer group: joining it (made when
//! missing), leaving it, and removing the consumers of dead workers.

use super::Shared;
use crate::error::Result;
use crate::keys::GROUP;
use crate::scripts;

/// Joins the consumer group, making it (and the stream) when missing: a
/// group that is already there is no error.
pub(super) async fn create_group(shared: &Shared) -> Result<()> {
    let mut conn = shared.conn.get().await?;
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&shared.keys.stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") || e.to_string().contains("BUSYGROUP") => Ok(()),
        Err(e) => Err(shared.conn.err(e)),
    }
}

/// Removes this consumer from the group when it holds nothing pending.
pub(super) async fn leave_group(shared: &Shared) {
    let Ok(mut conn) = shared.conn.get().await else {
        return;
    };
    let pending: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
        .arg(&shared.keys.stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(1)
        .arg(&shared.consumer)
        .query_async(&mut conn)
        .await;
    if matches!(pending, Ok(redis::Value::Array(ref a)) if a.is_empty()) {
        let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
            .arg("DELCONSUMER")
            .arg(&shared.keys.stream)
            .arg(GROUP)
            .arg(&shared.consumer)
            .query_async(&mut conn)
            .await;
    }
}

/// Removes the consumers of dead workers once their entries are reclaimed
/// (see `scripts/prune.lua`).
pub(super) async fn prune_consumers(
    shared: &Shared,
    conn: &mut redis::aio::ConnectionManager,
) -> Result<()> {
    let removed: u64 = scripts::PRUNE
        .key(&shared.keys.stream)
        .arg(GROUP)
        .arg(shared.ack_deadline.as_millis() as u64)
        .arg(&shared.consumer)
        .invoke_async(conn)
        .await
        .map_err(|e| shared.conn.err(e))?;
    if removed > 0 {
        tracing::info!(
            consumers = removed,
            "removed consumers of workers that stopped answering and hold no entries"
        );
        shared.counters.add(|c| &c.consumers_removed, removed);
    }
    Ok(())
}
