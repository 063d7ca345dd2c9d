//! Recovering the entries the group handed to this worker's consumer that
//! it does not have in flight (a reply lost with its connection, or a
//! previous run under the same name that died holding them), without
//! counting the entries it is delivering as handed over again (see
//! `scripts/recover.lua`).

use std::collections::HashMap;
use std::sync::Arc;

use redis::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::process::spawn_checked;
use super::reply::{RawEntry, entry_of, kind};
use super::{MAX_HANDOVERS, Shared};
use crate::error::Result;
use crate::keys::GROUP;
use crate::scripts;

/// Where the consumer's pending list is read from first.
pub(super) const START: &str = "-";

/// Hands back up to `permits.len()` of this consumer's pending entries
/// after `cursor` that are not in flight here, and starts them; those handed
/// over [`MAX_HANDOVERS`] times or more go to the dead letters. Returns the
/// cursor to go on from, or `None` when the pending list was read to its end.
pub(super) async fn recover(
    shared: &Arc<Shared>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
    cursor: String,
) -> Result<Option<String>> {
    let in_flight: Vec<String> = shared.in_flight().iter().cloned().collect();
    let mut conn = shared.conn.get().await?;
    let mut inv = scripts::RECOVER.prepare_invoke();
    inv.key(&shared.keys.stream)
        .arg(GROUP)
        .arg(&shared.consumer)
        .arg(&cursor)
        .arg(permits.len())
        .arg(&in_flight);
    let reply: Value = inv
        .invoke_async(&mut conn)
        .await
        .map_err(|e| shared.conn.err(e))?;
    let recovered = Recovered::parse(reply).map_err(|detail| {
        shared.conn.err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply of the recover script",
            detail,
        )))
    })?;
    if !recovered.entries.is_empty() {
        tracing::info!(
            entries = recovered.entries.len(),
            "recovered entries this worker was handed but never saw"
        );
        shared
            .counters
            .add(|c| &c.reclaimed, recovered.entries.len() as u64);
    }
    // An entry a worker of this name keeps dying on comes back here after
    // each restart, before any other worker could reclaim it.
    let poison: HashMap<String, usize> = recovered
        .entries
        .iter()
        .zip(&recovered.counts)
        .filter(|(_, count)| **count >= MAX_HANDOVERS)
        .map(|(entry, count)| (entry.id.clone(), *count))
        .collect();
    spawn_checked(shared, recovered.entries, permits, tasks, &poison);
    Ok(recovered.last.map(|id| format!("({id}")))
}

/// The recover script's reply.
#[derive(Debug)]
struct Recovered {
    /// The last pending id looked at; `None` at the end of the list.
    last: Option<String>,
    entries: Vec<RawEntry>,
    /// Each entry's delivery count, this handover included.
    counts: Vec<usize>,
}

impl Recovered {
    fn parse(reply: Value) -> Result<Self, String> {
        let Value::Array(parts) = reply else {
            return Err(format!("the reply is {}", kind(&reply)));
        };
        let [last, entries, counts] = <[Value; 3]>::try_from(parts)
            .map_err(|parts| format!("the reply has {} parts, not 3", parts.len()))?;
        let last = match last {
            Value::BulkString(b) => String::from_utf8(b).map_err(|_| "an id is not UTF-8")?,
            Value::SimpleString(s) => s,
            other => return Err(format!("the last id is {}", kind(&other))),
        };
        let (Value::Array(entries), Value::Array(counts)) = (entries, counts) else {
            return Err("the entries or their counts are not arrays".into());
        };
        let entries = entries
            .into_iter()
            .map(entry_of)
            .collect::<Result<Vec<_>, _>>()?;
        let counts = counts
            .into_iter()
            .map(|c| match c {
                Value::Int(n) => usize::try_from(n).map_err(|_| format!("a count is {n}")),
                other => Err(format!("a count is {}", kind(&other))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if counts.len() != entries.len() {
            return Err(format!(
                "{} counts for {} entries",
                counts.len(),
                entries.len()
            ));
        }
        Ok(Recovered {
            last: (!last.is_empty()).then_some(last),
            entries,
            counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use redis::Value;

    use super::Recovered;
    use crate::worker::reply::Payload;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_entries_deleted_ones_and_counts() {
        let reply = Value::Array(vec![
            bulk("2-0"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk(crate::keys::FIELD), bulk("payload")]),
                ]),
                Value::Array(vec![bulk("2-0")]),
            ]),
            Value::Array(vec![Value::Int(2), Value::Int(1)]),
        ]);
        let r = Recovered::parse(reply).unwrap();
        assert_eq!(r.last.as_deref(), Some("2-0"));
        assert_eq!(r.entries[0].id, "1-0");
        assert!(matches!(r.entries[0].payload, Payload::Blob(_)));
        assert_eq!(r.entries[1].payload, Payload::Deleted);
        assert_eq!(r.counts, [2, 1]);

        let end = Value::Array(vec![bulk(""), Value::Array(vec![]), Value::Array(vec![])]);
        assert!(Recovered::parse(end).unwrap().last.is_none());
        let short = Value::Array(vec![bulk(""), Value::Array(vec![])]);
        assert!(Recovered::parse(short).is_err());
        let uneven = Value::Array(vec![
            bulk(""),
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(1)]),
        ]);
        assert!(Recovered::parse(uneven).is_err());
    }
}
