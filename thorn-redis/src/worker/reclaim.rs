//! Reclaiming the entries of workers that stopped answering, and removing
//! their consumers from the group once they hold nothing.

use std::collections::HashMap;
use std::sync::Arc;

use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamPendingCountReply};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::group::prune_consumers;
use super::process::spawn_checked;
use super::reply::RawEntry;
use super::{MAX_HANDOVERS, Shared};
use crate::error::Result;
use crate::keys::GROUP;

/// Claims entries idle for longer than the ack deadline (their worker died).
pub(super) async fn reclaim(
    shared: &Arc<Shared>,
    mut permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let mut conn = shared.conn.get().await?;
    let mut cursor = String::from("0-0");
    // Bounded: a full pass over a large backlog takes several rounds.
    for _ in 0..16 {
        if permits.is_empty() {
            break;
        }
        let options = StreamAutoClaimOptions::default().count(permits.len());
        let reply: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &shared.keys.stream,
                GROUP,
                &shared.consumer,
                shared.ack_deadline.as_millis() as u64,
                &cursor,
                options,
            )
            .await
            .map_err(|e| shared.conn.err(e))?;
        let n = reply.claimed.len();
        if n > 0 {
            tracing::info!(
                entries = n,
                "reclaimed entries of a worker that stopped answering"
            );
            shared.counters.add(|c| &c.reclaimed, n as u64);
        }
        let rest = permits.split_off(n.min(permits.len()));
        let claimed: Vec<RawEntry> = reply.claimed.into_iter().map(RawEntry::from).collect();
        let poison = handovers(shared, &mut conn, &claimed).await?;
        spawn_checked(shared, claimed, permits, tasks, &poison);
        permits = rest;
        cursor = reply.next_stream_id;
        if cursor == "0-0" {
            break;
        }
    }
    // Housekeeping: a failure here is no reason to stop reading.
    if let Err(e) = prune_consumers(shared, &mut conn).await {
        tracing::warn!(error = %e, "removing consumers of dead workers failed");
    }
    Ok(())
}

/// Of the claimed entries, those handed over [`MAX_HANDOVERS`] times or
/// more, with their count.
///
/// Each id is looked up on its own (one `XPENDING` from the id to itself,
/// pipelined): a range from the first claimed id to the last, cut at as
/// many entries as were claimed, also holds the entries between them that
/// are pending for other workers, and misses the claimed ones after them.
async fn handovers(
    shared: &Shared,
    conn: &mut redis::aio::ConnectionManager,
    claimed: &[RawEntry],
) -> Result<HashMap<String, usize>> {
    if claimed.is_empty() {
        return Ok(HashMap::new());
    }
    let mut pipe = redis::pipe();
    for entry in claimed {
        pipe.cmd("XPENDING")
            .arg(&shared.keys.stream)
            .arg(GROUP)
            .arg(&entry.id)
            .arg(&entry.id)
            .arg(1);
    }
    let replies: Vec<StreamPendingCountReply> = pipe
        .query_async(conn)
        .await
        .map_err(|e| shared.conn.err(e))?;
    Ok(replies
        .into_iter()
        .flat_map(|reply| reply.ids)
        .filter(|p| p.times_delivered >= MAX_HANDOVERS)
        .map(|p| (p.id, p.times_delivered))
        .collect())
}
