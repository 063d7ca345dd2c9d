//! The command line: every subcommand, flag and variable, declared with
//! clap's derive API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Thorn webhooks, from the command line: run the Redis worker, send
/// events, watch and verify deliveries, manage dead letters, the queue
/// and subscriptions.
///
/// Settings come from `THORN_*` variables; a flag overrides its variable.
/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
///
/// Exit codes: 0 done; 1 failed (Redis unreachable, a signature that does
/// not verify, a delivery that failed); 2 usage (an unknown flag, a bad
/// value: the message names the flag as typed).
///
/// Subscriptions are read from and written to one store, the same for
/// every subcommand: `--store` (THORN_STORE), Redis unless told otherwise.
#[derive(Debug, Parser)]
#[command(
    name = "thorn",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Settings shared by the subcommands.
    #[command(flatten)]
    pub(crate) settings: SettingFlags,
    /// How logs are written to stderr.
    #[arg(long, global = true, env = "THORN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, help_heading = GLOBAL)]
    pub(crate) log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The heading of the options every subcommand takes, in each one's
/// `--help`, below its own.
pub(crate) const GLOBAL: &str = "Global options";

/// Flags that stand for `THORN_*` variables, accepted by every
/// subcommand.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct SettingFlags {
    /// The Redis server (THORN_REDIS_URL).
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub(crate) redis_url: Option<String>,
    /// The Redis queue (THORN_REDIS_QUEUE).
    #[arg(long, global = true, value_name = "NAME", help_heading = GLOBAL)]
    pub(crate) queue: Option<String>,
    /// The PostgreSQL database of the store and the outbox (THORN_PG_URL).
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub(crate) pg_url: Option<String>,
    /// A PEM file of CA certificates to trust besides the built-in roots
    /// (THORN_CA_FILE).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub(crate) ca_file: Option<PathBuf>,
    /// Any other setting, as its variable: `--set THORN_RETRY_MAX=3`
    /// (repeatable).
    #[arg(long = "set", global = true, value_name = "THORN_NAME=VALUE", help_heading = GLOBAL)]
    pub(crate) set: Vec<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deliver what producers enqueue to the Redis queue, until SIGINT or
    /// SIGTERM (then finish and settle what is in flight).
    Worker(WorkerArgs),
    /// Send one event through the configured backend and print the report.
    Send(SendArgs),
    /// A local receiver that prints each delivery it gets and checks its
    /// signatures.
    Listen(ListenArgs),
    /// Check a webhook signature: which scheme matched, or why none did.
    Verify(VerifyArgs),
    /// Dead letters: deliveries that failed for good.
    #[command(subcommand)]
    Dead(DeadCommand),
    /// The Redis queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Subscriptions in the configured store.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// The transactional outbox in PostgreSQL.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Make or update Thorn's tables in PostgreSQL (THORN_PG_URL, under
    /// THORN_PG_SCHEMA).
    Migrate,
}

/// `thorn outbox …`.
#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// Hand committed outbox events to the configured backend until SIGINT
    /// or SIGTERM; several relays can run side by side.
    Relay(RelayArgs),
    /// How many events wait, how many were refused, the oldest one's age.
    Stats(OutboxStatsArgs),
}

/// `thorn outbox relay`.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// Where the subscriptions the events are matched against are kept.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The backend (THORN_DISPATCHER): `default` delivers, `redis` queues.
    #[arg(long, value_name = "NAME")]
    pub(crate) dispatcher: Option<String>,
    /// Serve metrics in Prometheus' text format on this address.
    #[arg(long, env = "THORN_METRICS_ADDR", value_name = "HOST:PORT")]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// `thorn outbox stats`.
#[derive(Debug, Args)]
pub(crate) struct OutboxStatsArgs {
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Deliveries in flight at once (THORN_CONCURRENCY).
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<String>,
    /// This worker's name in the consumer group (default
    /// `worker-PID-RANDOM`).
    #[arg(long, value_name = "NAME")]
    pub(crate) consumer_name: Option<String>,
    /// Reclaim entries of dead workers after this long: 30, 0.5, 250ms,
    /// 10s, 2m (default 30 s; at least THORN_EVENT_TIMEOUT + 1 s).
    #[arg(long, value_name = "DURATION")]
    pub(crate) ack_deadline: Option<String>,
    /// Serve metrics in Prometheus' text format on this address, at any
    /// path (THORN_METRICS_ADDR).
    #[arg(long, env = "THORN_METRICS_ADDR", value_name = "HOST:PORT")]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// `thorn send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The event's name, such as `order.created`.
    pub(crate) event: String,
    /// The payload: JSON, or `@file.json` to read it from a file
    /// (default `{}`).
    #[arg(long, value_name = "JSON|@FILE")]
    pub(crate) data: Option<String>,
    /// Send on behalf of this owner: only their subscriptions match.
    #[arg(long, value_name = "OWNER")]
    pub(crate) sender: Option<String>,
    /// A JSON file of subscriptions to send to, instead of the store:
    /// `--store file` with THORN_SUBSCRIBERS=FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) subscribers: Option<PathBuf>,
    /// Where the subscriptions are kept.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Exit 1 when no subscription matches the event (by default that is
    /// said, and the exit is 0).
    #[arg(long)]
    pub(crate) require_match: bool,
    /// The backend (THORN_DISPATCHER): `default` delivers now, `redis`
    /// enqueues for workers.
    #[arg(long, value_name = "NAME")]
    pub(crate) dispatcher: Option<String>,
    /// Print the report as one JSON object per delivery.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The port (0: any free port; the first line printed names it).
    #[arg(long, default_value_t = 8000)]
    pub(crate) port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: std::net::IpAddr,
    /// The subscription's secret, to check `Hook-HMAC` (either signer,
    /// any digest) and, if it is a `whsec_` key, the Standard Webhooks
    /// headers.
    #[arg(
        long,
        env = "THORN_LISTEN_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub(crate) secret: Option<String>,
    /// A Standard Webhooks key (`whsec_…`) to check `webhook-signature`.
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub(crate) whsec: Option<String>,
    /// The status to answer each delivery with.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(100..=599))]
    pub(crate) status: u16,
}

/// `thorn verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scheme").required(true).args(["hmac", "webhook_signature"])))]
pub(crate) struct VerifyArgs {
    /// The subscription's secret (it may begin with `-`).
    #[arg(long, value_name = "SECRET", allow_hyphen_values = true)]
    pub(crate) secret: String,
    /// The `Hook-HMAC` digest (default: try sha256, sha1 and sha512).
    #[arg(long, value_name = "sha1|sha256|sha512")]
    pub(crate) digest: Option<String>,
    /// The `Hook-HMAC` scheme (default: try both).
    #[arg(long, value_enum)]
    pub(crate) signer: Option<SignerKind>,
    /// The `Hook-HMAC` header's value (it may begin with `-`, as one
    /// signature of the compat signer in 64 does).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub(crate) hmac: Option<String>,
    /// The `webhook-id` header (Standard Webhooks).
    #[arg(long, value_name = "ID", requires = "webhook_signature")]
    pub(crate) webhook_id: Option<String>,
    /// The `webhook-timestamp` header (Standard Webhooks).
    #[arg(long, value_name = "SECONDS", requires = "webhook_signature")]
    pub(crate) webhook_timestamp: Option<String>,
    /// The `webhook-signature` header (Standard Webhooks); needs
    /// `--webhook-id` and `--webhook-timestamp`.
    #[arg(long, value_name = "SIGNATURES", requires_all = ["webhook_id", "webhook_timestamp"], allow_hyphen_values = true)]
    pub(crate) webhook_signature: Option<String>,
    /// The body as received: a file, or `-` for stdin (the default).
    #[arg(value_name = "BODY_FILE|-", default_value = "-")]
    pub(crate) body: String,
}

/// A `Hook-HMAC` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignerKind {
    /// Base64 of HMAC(secret, body): Thorn's default.
    Hmac,
    /// Python Thorn's default signer (itsdangerous).
    Compat,
}

/// Where subscriptions are kept: one default for every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreKind {
    /// The Redis store (`thorn:{NAME}:subs` on THORN_REDIS_URL).
    Redis,
    /// The THORN_SUBSCRIBERS file (read only).
    File,
    /// The PostgreSQL store (THORN_PG_URL, THORN_PG_SCHEMA).
    Postgres,
}

/// `thorn dead …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadCommand {
    /// List dead letters, oldest first.
    List(DeadList),
    /// Show one dead letter in full (its body pretty-printed).
    Show(DeadShow),
    /// Put dead letters back on the queue, attempts reset, same delivery
    /// ids.
    Replay(DeadSelect),
    /// Delete dead letters for good.
    Purge(DeadSelect),
}

/// Which dead letters.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DeadFilter {
    /// Only those of events matching this pattern (`order.*`).
    #[arg(long, value_name = "PATTERN")]
    pub(crate) event: Option<String>,
    /// Only those of this subscription (its id).
    #[arg(long, value_name = "ID")]
    pub(crate) subscription: Option<uuid::Uuid>,
    /// Only those that failed within this long: 90s, 15m, 2h, 1d.
    #[arg(long, value_name = "DURATION")]
    pub(crate) since: Option<humantime::Duration>,
}

/// `thorn dead list`.
#[derive(Debug, Args)]
pub(crate) struct DeadList {
    /// Which ones.
    #[command(flatten)]
    pub(crate) filter: DeadFilter,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn dead show`.
#[derive(Debug, Args)]
pub(crate) struct DeadShow {
    /// The dead letter's id (from `thorn dead list`).
    pub(crate) id: String,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn dead replay` and `thorn dead purge`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "all"])))]
pub(crate) struct DeadSelect {
    /// The dead letters' ids.
    pub(crate) ids: Vec<String>,
    /// Every dead letter (that the filters let through).
    #[arg(long)]
    pub(crate) all: bool,
    /// Which ones, with `--all`.
    #[command(flatten)]
    pub(crate) filter: DeadFilter,
    /// One JSON object with the counts.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn queue …`.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Lengths, pending entries per consumer, retries, dead letters and
    /// the delivery rate.
    Stats(QueueStatsArgs),
}

/// `thorn queue stats`.
#[derive(Debug, Args)]
pub(crate) struct QueueStatsArgs {
    /// Look again every SECS seconds (until interrupted, or `--count`).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) watch: Option<u64>,
    /// With `--watch`, stop after this many looks.
    #[arg(long, value_name = "N", requires = "watch")]
    pub(crate) count: Option<u64>,
    /// One JSON object per look.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn subscriptions …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SubscriptionsCommand {
    /// List subscriptions (secrets never shown).
    List(SubsList),
    /// Add a subscription; prints its id and, once, its secret.
    Add(SubsAdd),
    /// Remove a subscription.
    Remove(SubsId),
    /// Show one subscription (its secret never shown).
    Show(SubsId),
    /// Change a subscription's limits: its rate limit, its cap on
    /// deliveries in flight, strict order. What is not named stays.
    Limit(SubsLimit),
}

/// Where subscriptions are kept: the same flags, variables and default
/// for `thorn subscriptions`, `thorn send` and `thorn outbox relay`, so
/// what one writes the others read.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Where subscriptions are kept.
    #[arg(long, value_enum, env = "THORN_STORE", default_value_t = StoreKind::Redis)]
    pub(crate) store: StoreKind,
    /// The Redis store's name (its keys are `thorn:{NAME}:subs`).
    #[arg(
        long,
        env = "THORN_REDIS_STORE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub(crate) store_name: String,
}

/// `thorn subscriptions list`.
#[derive(Debug, Args)]
pub(crate) struct SubsList {
    /// The store.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Only this owner's.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Only those whose pattern matches this event name.
    #[arg(long, value_name = "EVENT")]
    pub(crate) event: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn subscriptions add`.
#[derive(Debug, Args)]
pub(crate) struct SubsAdd {
    /// The store.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The events it receives: a pattern such as `order.*`.
    pub(crate) event: String,
    /// Where to POST them.
    pub(crate) url: String,
    /// The secret (default: a new random `whsec_` key, printed once); it
    /// may begin with `-`.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) secret: Option<String>,
    /// The owner.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// The `Hook-HMAC` digest.
    #[arg(long, value_name = "sha1|sha256|sha512")]
    pub(crate) digest: Option<String>,
    /// The body's encoding: json or form.
    #[arg(long, value_name = "json|form")]
    pub(crate) content_type: Option<String>,
    /// The `Hook-HMAC` scheme (default: THORN_HMAC_SIGNER).
    #[arg(long, value_enum)]
    pub(crate) signer: Option<SignerKind>,
    /// Send the Standard Webhooks headers too.
    #[arg(long)]
    pub(crate) standard_webhooks: bool,
    /// Its limits.
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Strict order: deliveries arrive in the order they were sent, and a
    /// failing one holds back the later ones of this subscription only.
    #[arg(long)]
    pub(crate) ordered: bool,
    /// As one JSON object (with the secret).
    #[arg(long)]
    pub(crate) json: bool,
}

/// A subscription's rate limit and cap on deliveries in flight, as
/// `thorn subscriptions add` and `limit` take them.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct LimitArgs {
    /// At most this many deliveries a second, across every worker; a
    /// delivery over the limit waits for its slot, and is never failed
    /// for it.
    #[arg(long, value_name = "PER_SECOND", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate_limit: Option<u32>,
    /// With `--rate-limit`: how many may go at once after a quiet spell
    /// (default: the rate).
    #[arg(long, value_name = "N", requires = "rate_limit", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) burst: Option<u32>,
    /// At most this many deliveries in flight at once, across every
    /// worker.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_in_flight: Option<u32>,
}

/// `thorn subscriptions limit`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["rate_limit", "no_rate_limit", "max_in_flight", "no_max_in_flight", "ordered"])
))]
pub(crate) struct SubsLimit {
    /// The store.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The subscription's id.
    pub(crate) id: uuid::Uuid,
    /// The new limits.
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Remove the rate limit.
    #[arg(long, conflicts_with = "rate_limit")]
    pub(crate) no_rate_limit: bool,
    /// Remove the cap on deliveries in flight.
    #[arg(long, conflicts_with = "max_in_flight")]
    pub(crate) no_max_in_flight: bool,
    /// Strict order on or off.
    #[arg(long, value_name = "true|false")]
    pub(crate) ordered: Option<bool>,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `thorn subscriptions show|remove`.
#[derive(Debug, Args)]
pub(crate) struct SubsId {
    /// The store.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The subscription's id.
    pub(crate) id: uuid::Uuid,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}
