//! Reading `XREADGROUP` replies straight from the protocol values: the
//! payloads are moved out, never copied, and no map is built per entry.

use bytes::Bytes;
use redis::Value;
use redis::streams::StreamId;

use crate::keys::FIELD;

/// A stream entry as read.
#[derive(Debug)]
pub(super) struct RawEntry {
    pub(super) id: String,
    pub(super) payload: Payload,
}

/// What an entry holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// The payload field's value.
    Blob(Bytes),
    /// Fields, but not the payload field (or not as a string).
    Missing,
    /// No fields: the entry was deleted while it was pending, and Redis
    /// sends its id alone.
    Deleted,
}

impl From<StreamId> for RawEntry {
    fn from(mut entry: StreamId) -> Self {
        let payload = match entry.map.remove(FIELD) {
            Some(Value::BulkString(b)) => Payload::Blob(Bytes::from(b)),
            _ => Payload::Missing,
        };
        RawEntry {
            id: entry.id,
            payload,
        }
    }
}

/// The entries of an `XREADGROUP` reply (every stream's, in order), in
/// the RESP2 or the RESP3 shape; `Nil` (the block timed out) is none.
pub(super) fn read_reply(reply: Value) -> Result<Vec<RawEntry>, String> {
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                other => Err(format!("a stream of the reply is {other:?}")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(format!("the reply is {}", kind(&other))),
    };
    let mut out = Vec::new();
    for entries in streams {
        let Value::Array(entries) = entries else {
            return Err(format!("a stream's entries are {}", kind(&entries)));
        };
        out.reserve(entries.len());
        for entry in entries {
            out.push(entry_of(entry)?);
        }
    }
    Ok(out)
}

pub(super) fn entry_of(entry: Value) -> Result<RawEntry, String> {
    let Value::Array(parts) = entry else {
        return Err(format!("an entry is {}", kind(&entry)));
    };
    let mut parts = parts.into_iter();
    let id = match parts.next() {
        Some(Value::BulkString(b)) => {
            String::from_utf8(b).map_err(|_| "an entry id is not UTF-8")?
        }
        Some(Value::SimpleString(s)) => s,
        other => return Err(format!("an entry id is {other:?}")),
    };
    let payload = match parts.next() {
        Some(Value::Array(fields)) => payload(fields),
        Some(Value::Map(fields)) => payload(fields.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Some(Value::Nil) | None => Payload::Deleted,
        Some(other) => return Err(format!("the fields of entry {id} are {}", kind(&other))),
    };
    Ok(RawEntry { id, payload })
}

/// The value of the payload field among `fields` (name, value, name, ...).
fn payload(fields: Vec<Value>) -> Payload {
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        let is_payload = match &name {
            Value::BulkString(n) => n.as_slice() == FIELD.as_bytes(),
            Value::SimpleString(n) => n == FIELD,
            _ => false,
        };
        if is_payload {
            return match value {
                Value::BulkString(b) => Payload::Blob(Bytes::from(b)),
                _ => Payload::Missing,
            };
        }
    }
    Payload::Missing
}

/// A value's kind, for errors (not its content: payloads hold secrets).
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a string",
        Value::Array(_) => "an array",
        Value::SimpleString(_) => "a status",
        Value::Okay => "OK",
        Value::Map(_) => "a map",
        _ => "an unexpected value",
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redis::Value;

    use super::{Payload, read_reply};
    use crate::keys::FIELD;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_resp2_and_resp3_shapes_and_deleted_entries() {
        let entries = Value::Array(vec![
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("x"), bulk("1"), bulk(FIELD), bulk("payload")]),
            ]),
            // Deleted while pending: the id without fields.
            Value::Array(vec![bulk("2-0"), Value::Nil]),
            Value::Array(vec![bulk("3-0"), Value::Array(vec![bulk("x"), bulk("1")])]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("stream"), entries.clone()])]);
        let resp3 = Value::Map(vec![(bulk("stream"), entries)]);
        for reply in [resp2, resp3] {
            let got = read_reply(reply).unwrap();
            let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, ["1-0", "2-0", "3-0"]);
            assert_eq!(
                got[0].payload,
                Payload::Blob(Bytes::from_static(b"payload"))
            );
            assert_eq!(got[1].payload, Payload::Deleted);
            assert_eq!(got[2].payload, Payload::Missing);
        }
        assert!(read_reply(Value::Nil).unwrap().is_empty());
        assert!(read_reply(Value::Int(3)).is_err());
    }
}
