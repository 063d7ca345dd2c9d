//! One module per subcommand.

pub(crate) mod dead;
pub(crate) mod listen;
pub(crate) mod metrics;
pub(crate) mod outbox;
pub(crate) mod queue;
pub(crate) mod send;
pub(crate) mod subscriptions;
pub(crate) mod verify;
pub(crate) mod worker;
