//! The Lua scripts: one per state change, each with a KEYS/ARGV/returns
//! header in its `.lua` file.

use std::sync::LazyLock;

use redis::Script;

/// A script that starts with the Lua functions of `$prelude` (say,
/// `guard.lua`, the key checks before a first write), then runs `$file`.
macro_rules! script_after {
    ($prelude:literal, $file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!(concat!("scripts/", $prelude)),
                include_str!(concat!("scripts/", $file))
            ))
        })
    };
}

/// Acknowledges an entry, files its retries and dead letters, deletes it.
pub(crate) static SETTLE: LazyLock<Script> = script_after!("guard.lua", "settle.lua");
/// Moves due retries back to the stream.
pub(crate) static PROMOTE: LazyLock<Script> = script_after!("guard.lua", "promote.lua");
/// Keeps a live worker's entries from being reclaimed.
pub(crate) static HEARTBEAT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/heartbeat.lua")));
/// Hands a worker back what it was handed but does not have in flight.
pub(crate) static RECOVER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/recover.lua")));
/// Removes consumers of dead workers that hold nothing.
pub(crate) static PRUNE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/prune.lua")));
/// Takes a rate-limited subscription's next slot.
pub(crate) static PACE: LazyLock<Script> = script_after!("guard.lua", "pace.lua");
/// Counts a capped subscription's delivery in flight, if its cap allows.
pub(crate) static FLIGHT: LazyLock<Script> = script_after!("guard.lua", "flight.lua");
/// Enqueues ordered subscriptions' deliveries, one on its way each.
pub(crate) static ORDER_PUSH: LazyLock<Script> = script_after!("guard.lua", "order_push.lua");
/// Moves a dead letter back to the stream.
pub(crate) static REPLAY: LazyLock<Script> = script_after!("guard.lua", "replay.lua");

/// Adds or replaces a subscription.
pub(crate) static STORE_PUT: LazyLock<Script> = script_after!("store_lib.lua", "store_put.lua");
/// Adds a new subscription within its owner's limit.
pub(crate) static STORE_CREATE: LazyLock<Script> =
    script_after!("store_lib.lua", "store_create.lua");
/// Changes a subscription still at the revision it was read at.
pub(crate) static STORE_UPDATE: LazyLock<Script> =
    script_after!("store_lib.lua", "store_update.lua");
/// Removes a subscription.
pub(crate) static STORE_REMOVE: LazyLock<Script> =
    script_after!("store_lib.lua", "store_remove.lua");
