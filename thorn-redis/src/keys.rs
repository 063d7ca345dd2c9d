//! The Redis keys of one queue, hash-tagged so that Redis Cluster keeps a
//! queue on one slot (and spreads queues over nodes).

/// The consumer group every worker of a queue reads through.
pub const GROUP: &str = "thorn";

/// The field of a stream entry that holds the encoded deliveries.
pub const FIELD: &str = "d";

/// The keys of one queue: `thorn:{queue}:stream`, `thorn:{queue}:delayed`,
/// `thorn:{queue}:dead` and `thorn:{queue}:stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The queue's name.
    pub queue: String,
    /// The stream of entries waiting for a worker.
    pub stream: String,
    /// The sorted set of retries, scored by when they are due (Unix ms).
    pub delayed: String,
    /// The stream of dead letters.
    pub dead: String,
    /// A hash of the queue's counters (`delivered`), kept by workers.
    pub stats: String,
    /// A hash of the open (or paused) circuits: subscription id →
    /// `"<until, Unix ms>,<openings in a row>"`.
    pub circuits: String,
    /// A hash of the health of the receivers that failed lately (the
    /// breaker's counts): subscription id → `"<failures in a row>,<window
    /// start>,<attempts in it>,<failures in it>"`.
    pub health: String,
    /// A hash of the rate-limited subscriptions' pace: subscription id →
    /// the theoretical arrival time of its next delivery (Unix ms).
    pub pace: String,
    /// The start of the per-subscription keys: `probe:<id>` (who probes an
    /// open circuit), `flight:<id>` (a capped subscription's deliveries in
    /// flight), `order:<id>` and `head:<id>` (an ordered subscription's
    /// waiting deliveries and the one on its way).
    pub prefix: String,
}

impl Keys {
    /// The keys of `queue`.
    pub fn new(queue: &str) -> Self {
        Keys {
            queue: queue.to_owned(),
            stream: format!("thorn:{{{queue}}}:stream"),
            delayed: format!("thorn:{{{queue}}}:delayed"),
            dead: format!("thorn:{{{queue}}}:dead"),
            stats: format!("thorn:{{{queue}}}:stats"),
            circuits: format!("thorn:{{{queue}}}:circuits"),
            pace: format!("thorn:{{{queue}}}:pace"),
            health: format!("thorn:{{{queue}}}:health"),
            prefix: format!("thorn:{{{queue}}}:"),
        }
    }

    /// A per-subscription key: `kind` is `probe`, `flight`, `order` or
    /// `head` (see [`Keys::prefix`]).
    pub fn of(&self, kind: &str, sub: uuid::Uuid) -> String {
        format!("{}{kind}:{sub}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn keys_share_one_hash_tag() {
        let k = Keys::new("mail");
        assert_eq!(k.stream, "thorn:{mail}:stream");
        assert_eq!(k.delayed, "thorn:{mail}:delayed");
        assert_eq!(k.dead, "thorn:{mail}:dead");
        assert_eq!(k.stats, "thorn:{mail}:stats");
    }
}
