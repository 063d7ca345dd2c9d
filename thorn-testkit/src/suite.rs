//! The behaviour suite every backend must pass (feature `http`).
//!
//! Each check builds a fresh [`Thorn`] through the backend's start function
//! with a config made for it (loopback allowed, short timeouts and retry
//! delays, an observer of every attempt), sends events to a
//! [`MockReceiver`], and asserts on what the receiver got. Backends that
//! deliver later (their reports say [`Status::Queued`]) are checked through
//! the receiver and the observer, so their start function must build its
//! worker from the config it is given.
//!
//! ```no_run
//! # async fn run() {
//! use thorn_core::{Registry, Thorn};
//! use thorn_testkit::suite::{Harness, Suite};
//!
//! let suite = Suite::new("disabled", |config| {
//!     Box::pin(async move { Ok(Harness::new(Thorn::new(config, &Registry::new())?)) })
//! });
//! suite.signed_delivery_with_every_header().await;
//! # }
//! ```

/// Declares one `#[tokio::test]` per check of the suite, each running the
/// check on the [`Suite`] that the expression builds, so that every backend
/// runs every check (a check added here reaches them all):
///
/// ```no_run
/// fn suite() -> thorn_testkit::suite::Suite {
///     todo!("the backend's suite")
/// }
/// thorn_testkit::behaviour_tests!(suite());
/// # fn main() {}
/// ```
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features.
#[macro_export]
macro_rules! behaviour_tests {
    ($suite:expr) => {
        $crate::behaviour_tests!(@each $suite;
            signed_delivery_with_every_header,
            json_and_form_bodies,
            unencodable_form_fails_alone,
            matching_by_sender,
            buffered_batch_in_order,
            retry_then_success_same_delivery_id,
            gone_is_not_retried,
            not_found_is_permanent,
            silent_receiver_times_out,
        );
    };
    (@each $suite:expr; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                ($suite).$check().await;
            }
        )*
    };
}

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use thorn_core::delivery::headers;
use thorn_core::{
    BoxFuture, Config, ContentType, Digest, Event, Observer, Outcome, RecipientPolicy, Report,
    Result, RetryPolicy, Signatures, Status, Subscriber, Thorn,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::receiver::{MockReceiver, Reply};

/// How long a check waits for requests or outcomes before failing.
const WAIT: Duration = Duration::from_secs(10);

/// A running backend: the [`Thorn`] to send with, and whatever must live
/// while the check runs (a worker's handle).
pub struct Harness {
    /// Sends the events.
    pub thorn: Thorn,
    /// Kept alive until the check ends, then dropped.
    pub guard: Option<Box<dyn Any + Send>>,
    /// How events are sent, when not with [`Thorn::send`].
    pub sender: Option<Arc<dyn EventSender>>,
}

/// A way of sending that is not [`Thorn::send`]: a transactional outbox
/// writes events first, and a relay hands them to the backend. Its
/// reports say [`Status::Queued`] for deliveries still to be made, under
/// the ids they will be made with, and the final outcomes reach the
/// config's observers.
pub trait EventSender: Send + Sync {
    /// Sends `events` together (in one transaction, say): one report of
    /// every delivery, in order.
    fn send_all<'a>(
        &'a self,
        thorn: &'a Thorn,
        events: Vec<Event>,
    ) -> BoxFuture<'a, Result<Report>>;
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("thorn", &self.thorn)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A harness with nothing else to keep alive.
    pub fn new(thorn: Thorn) -> Self {
        Harness {
            thorn,
            guard: None,
            sender: None,
        }
    }

    /// The same harness, sending through `sender`.
    pub fn with_sender(mut self, sender: impl EventSender + 'static) -> Self {
        self.sender = Some(Arc::new(sender));
        self
    }

    /// A harness keeping `guard` (say, a worker) alive.
    pub fn with_guard(thorn: Thorn, guard: impl Any + Send) -> Self {
        Harness {
            thorn,
            guard: Some(Box::new(guard)),
            sender: None,
        }
    }
}

type Start = Arc<dyn Fn(Config) -> BoxFuture<'static, Result<Harness>> + Send + Sync>;

/// The suite, bound to one backend.
#[derive(Clone)]
pub struct Suite {
    backend: String,
    start: Start,
}

impl fmt::Debug for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Every outcome the backend reported to observers.
#[derive(Debug, Default)]
struct Seen {
    outcomes: Mutex<Vec<Outcome>>,
    changed: Notify,
}

impl Seen {
    fn push(&self, o: &Outcome) {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(o.clone());
        self.changed.notify_waiters();
    }

    fn final_of(&self, delivery: Uuid) -> Option<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|o| o.delivery == delivery && o.status != Status::Retrying)
            .cloned()
    }
}

#[derive(Debug, Clone, Default)]
struct SeenObserver(Arc<Seen>);

impl Observer for SeenObserver {
    fn on_success(&self, outcome: &Outcome) {
        self.0.push(outcome);
    }
    fn on_error(&self, outcome: &Outcome) {
        self.0.push(outcome);
    }
    fn on_timeout(&self, outcome: &Outcome) {
        self.0.push(outcome);
    }
}

/// One check's running backend and what it observed.
struct Run {
    harness: Harness,
    seen: Arc<Seen>,
}

impl Run {
    fn thorn(&self) -> &Thorn {
        &self.harness.thorn
    }

    /// Sends one event, as the harness sends.
    async fn send(&self, event: Event) -> Result<Report> {
        match &self.harness.sender {
            Some(sender) => sender.send_all(self.thorn(), vec![event]).await,
            None => self.thorn().send(event).await,
        }
    }

    /// The final outcome of the report's `index`th delivery: from the report
    /// when the backend delivered inline, else from the observer.
    async fn outcome(&self, report: &Report, index: usize) -> Outcome {
        let reported = report
            .outcomes
            .get(index)
            .cloned()
            .expect("the report lists the delivery");
        if !matches!(reported.status, Status::Queued | Status::Buffered) {
            return reported;
        }
        self.observed(reported.delivery).await
    }

    /// The final outcome observers saw for `delivery`, waited for: a
    /// backend that delivers later tells them later.
    async fn observed(&self, delivery: Uuid) -> Outcome {
        let wait = async {
            loop {
                let notified = self.seen.changed.notified();
                if let Some(o) = self.seen.final_of(delivery) {
                    return o;
                }
                notified.await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("the backend reports the delivery's final outcome to observers")
    }
}

fn event(name: &str, data: serde_json::Value) -> Event {
    Event::new(name, data).expect("a valid event name")
}

fn subscriber(pattern: &str, url: String, secret: &str) -> thorn_core::SubscriberBuilder {
    Subscriber::builder(pattern, url, secret)
}

impl Suite {
    /// The suite for backend `backend`: `start` builds a Thorn (and starts
    /// anything that delivers) from the config it is given, whose
    /// `dispatcher` is already `backend`.
    pub fn new<F>(backend: impl Into<String>, start: F) -> Self
    where
        F: Fn(Config) -> BoxFuture<'static, Result<Harness>> + Send + Sync + 'static,
    {
        Suite {
            backend: backend.into(),
            start: Arc::new(start),
        }
    }

    /// The config a check starts from: this backend, loopback on any port
    /// allowed, a 2 s timeout, two retries 10 to 50 ms apart, and the
    /// suite's observer.
    pub fn config(&self) -> Config {
        let mut c = Config::default();
        c.dispatcher = self.backend.clone();
        c.recipients = RecipientPolicy::allow_loopback_any_port();
        c.event_timeout = Duration::from_secs(2);
        c.retry = RetryPolicy::default()
            .with_delays(Duration::from_millis(10), Duration::from_millis(50))
            .with_max_retries(2);
        c
    }

    async fn run(&self, adjust: impl FnOnce(&mut Config)) -> Run {
        let seen = Arc::new(Seen::default());
        let mut config = self.config();
        config
            .observers
            .push(Arc::new(SeenObserver(Arc::clone(&seen))));
        adjust(&mut config);
        let harness = (self.start)(config).await.expect("the backend starts");
        Run { harness, seen }
    }

    /// Sends one event to a receiver that always answers `reply`, with the
    /// config adjusted by `adjust`; the receiver and the delivery's final
    /// outcome.
    async fn one_delivery_answered(
        &self,
        reply: Reply,
        adjust: impl FnOnce(&mut Config),
    ) -> (MockReceiver, Outcome) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        receiver.otherwise(reply);
        let run = self.run(adjust).await;
        let sub = subscriber("job.*", receiver.url("/answers"), "k")
            .build()
            .expect("subscriber");
        run.thorn().subscribe(sub).await.expect("subscribe");
        let report = run.send(event("job.done", json!({}))).await.expect("send");
        let outcome = run.outcome(&report, 0).await;
        (receiver, outcome)
    }

    /// Runs every check, one after another.
    pub async fn run_all(&self) {
        self.signed_delivery_with_every_header().await;
        self.json_and_form_bodies().await;
        self.unencodable_form_fails_alone().await;
        self.matching_by_sender().await;
        self.buffered_batch_in_order().await;
        self.retry_then_success_same_delivery_id().await;
        self.gone_is_not_retried().await;
        self.not_found_is_permanent().await;
        self.silent_receiver_times_out().await;
    }

    /// Every header of the wire format, and signatures that verify under
    /// both schemes.
    pub async fn signed_delivery_with_every_header(&self) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        let run = self.run(|_| {}).await;
        let hook = subscriber("article.*", receiver.url("/hook"), "s3cret")
            .digest(Digest::Sha512)
            .build()
            .expect("subscriber");
        let standard_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let standard = subscriber(
            "article.created",
            receiver.url("/standard"),
            standard_secret,
        )
        .signatures(Signatures::Both)
        .build()
        .expect("subscriber");
        let (hook_id, standard_id) = (hook.id, standard.id);
        run.thorn().subscribe(hook).await.expect("subscribe");
        run.thorn().subscribe(standard).await.expect("subscribe");
        let data = json!({"id": 1, "name": "Ada"});
        run.send(event("article.created", data.clone()))
            .await
            .expect("send");
        assert_eq!(
            receiver.wait_for(2, WAIT).await,
            2,
            "both subscribers receive the event"
        );

        let r = &receiver.requests_on("/hook")[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.event(), Some("article.created"));
        assert_eq!(
            r.header(headers::HOOK_SUBSCRIPTION),
            Some(hook_id.to_string().as_str())
        );
        assert!(
            r.delivery().and_then(|d| d.parse::<Uuid>().ok()).is_some(),
            "Hook-Delivery is a UUID"
        );
        let ua = r.header("user-agent").unwrap_or_default();
        assert!(ua.starts_with(headers::USER_AGENT), "User-Agent {ua:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json(), Some(data.clone()));
        r.verify_hook("s3cret", Digest::Sha512)
            .expect("Hook-HMAC verifies");
        assert!(
            r.verify_hook("other", Digest::Sha512).is_err(),
            "a wrong secret does not verify"
        );
        assert!(
            r.header(headers::WEBHOOK_SIGNATURE).is_none(),
            "no Standard Webhooks headers unless asked"
        );

        let s = &receiver.requests_on("/standard")[0];
        assert_eq!(
            s.header(headers::HOOK_SUBSCRIPTION),
            Some(standard_id.to_string().as_str())
        );
        assert_eq!(
            s.header(headers::WEBHOOK_ID),
            s.delivery(),
            "webhook-id is the delivery id"
        );
        assert!(s.header(headers::WEBHOOK_TIMESTAMP).is_some());
        s.verify_standard(standard_secret)
            .expect("webhook-signature verifies");
        s.verify_hook(standard_secret, Digest::Sha256)
            .expect("Hook-HMAC verifies too");
        assert_ne!(r.delivery(), s.delivery(), "each delivery has its own id");
    }

    /// A JSON subscription gets JSON, a form subscription gets form fields.
    pub async fn json_and_form_bodies(&self) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        let run = self.run(|_| {}).await;
        for (path, ct) in [("/json", ContentType::Json), ("/form", ContentType::Form)] {
            let sub = subscriber("user.*", receiver.url(path), "k")
                .content_type(ct)
                .build()
                .expect("subscriber");
            run.thorn().subscribe(sub).await.expect("subscribe");
        }
        let data = json!({"name": "Ada Lovelace", "id": 7});
        run.send(event("user.created", data.clone()))
            .await
            .expect("send");
        assert_eq!(receiver.wait_for(2, WAIT).await, 2);
        let j = &receiver.requests_on("/json")[0];
        assert_eq!(j.header("content-type"), Some("application/json"));
        assert_eq!(j.json(), Some(data));
        let f = &receiver.requests_on("/form")[0];
        assert_eq!(
            f.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let fields = f.form();
        assert!(
            fields.contains(&("name".into(), "Ada Lovelace".into())),
            "{fields:?}"
        );
        assert!(fields.contains(&("id".into(), "7".into())), "{fields:?}");
        f.verify_hook("k", Digest::Sha256)
            .expect("the form body is signed as sent");
    }

    /// Data that a form body cannot hold (a nested object) fails the form
    /// subscriber's delivery alone, for good and with a clear error; the
    /// JSON subscriber still receives the event.
    pub async fn unencodable_form_fails_alone(&self) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        let run = self.run(|_| {}).await;
        let mut form_id = None;
        for (path, ct) in [("/form", ContentType::Form), ("/json", ContentType::Json)] {
            let sub = subscriber("user.*", receiver.url(path), "k")
                .content_type(ct)
                .build()
                .expect("subscriber");
            if ct == ContentType::Form {
                form_id = Some(sub.id);
            }
            run.thorn().subscribe(sub).await.expect("subscribe");
        }
        let data = json!({"name": "Ada", "address": {"city": "London"}});
        let report = run
            .send(event("user.created", data.clone()))
            .await
            .expect("one unencodable subscriber does not fail the send");
        assert_eq!(report.outcomes.len(), 2, "{report:?}");
        let form = report
            .outcomes
            .iter()
            .find(|o| Some(o.subscriber.id) == form_id)
            .expect("the form subscriber has an outcome");
        assert_eq!(form.status, Status::Failed);
        assert_eq!(form.attempts, 0);
        let error = form.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("application/x-www-form-urlencoded") && error.contains("address"),
            "the error names the content type and the field: {error}"
        );
        assert_eq!(
            run.observed(form.delivery).await.status,
            Status::Failed,
            "observers see the failure"
        );
        let json_index = report
            .outcomes
            .iter()
            .position(|o| Some(o.subscriber.id) != form_id)
            .expect("the JSON subscriber has an outcome");
        let json = run.outcome(&report, json_index).await;
        assert_eq!(json.status, Status::Delivered, "{json:?}");
        assert_eq!(receiver.requests_on("/json")[0].json(), Some(data));
        assert!(receiver.requests_on("/form").is_empty());
    }

    /// An event with a sender reaches only its owner's subscriptions.
    pub async fn matching_by_sender(&self) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        let run = self.run(|_| {}).await;
        for owner in ["user1", "user2"] {
            let sub = subscriber("order.*", receiver.url(&format!("/{owner}")), "k")
                .owner(owner)
                .build()
                .expect("subscriber");
            run.thorn().subscribe(sub).await.expect("subscribe");
        }
        let to_two = event("order.paid", json!({"n": 2})).sender("user2");
        run.send(to_two).await.expect("send");
        let to_one = event("order.paid", json!({"n": 1})).sender("user1");
        run.send(to_one).await.expect("send");
        assert_eq!(receiver.wait_for(2, WAIT).await, 2);
        let one = receiver.requests_on("/user1");
        let two = receiver.requests_on("/user2");
        assert_eq!(one.len(), 1, "user1 receives only its event");
        assert_eq!(two.len(), 1, "user2 receives only its event");
        assert_eq!(one[0].json(), Some(json!({"n": 1})));
        assert_eq!(two[0].json(), Some(json!({"n": 2})));
    }

    /// A buffer scope's events reach each subscriber in send order.
    pub async fn buffered_batch_in_order(&self) {
        const EVENTS: usize = 25;
        let receiver = MockReceiver::start().await.expect("receiver starts");
        let run = self.run(|_| {}).await;
        for path in ["/a", "/b"] {
            let sub = subscriber("seq.*", receiver.url(path), "k")
                .build()
                .expect("subscriber");
            run.thorn().subscribe(sub).await.expect("subscribe");
        }
        let flushed = match &run.harness.sender {
            // Written together (one transaction), handed over together.
            Some(sender) => {
                let events = (0..EVENTS)
                    .map(|i| event("seq.step", json!({"i": i})))
                    .collect();
                sender.send_all(run.thorn(), events).await
            }
            None => {
                let thorn = run.thorn().clone();
                let ((), flushed) = run
                    .thorn()
                    .buffer_events(async {
                        for i in 0..EVENTS {
                            let r = thorn
                                .send(event("seq.step", json!({"i": i})))
                                .await
                                .expect("send");
                            assert_eq!(r.count(Status::Buffered), 2, "sends in a scope are held");
                        }
                    })
                    .await;
                flushed
            }
        };
        let flushed = flushed.expect("flush");
        assert_eq!(flushed.outcomes.len(), 2 * EVENTS);
        assert_eq!(receiver.wait_for(2 * EVENTS, WAIT).await, 2 * EVENTS);
        for path in ["/a", "/b"] {
            let order: Vec<u64> = receiver
                .requests_on(path)
                .iter()
                .filter_map(|r| r.json()?.get("i")?.as_u64())
                .collect();
            let expected: Vec<u64> = (0..EVENTS as u64).collect();
            assert_eq!(order, expected, "{path} receives the batch in order");
        }
    }

    /// A 500 is retried; the retry carries the same delivery id and a fresh
    /// valid signature.
    pub async fn retry_then_success_same_delivery_id(&self) {
        let receiver = MockReceiver::start().await.expect("receiver starts");
        receiver.script_path("/r", [Reply::status(500), Reply::status(200)]);
        let run = self.run(|_| {}).await;
        let sub = subscriber("job.*", receiver.url("/r"), "k")
            .build()
            .expect("subscriber");
        run.thorn().subscribe(sub).await.expect("subscribe");
        let report = run
            .send(event("job.done", json!({"ok": true})))
            .await
            .expect("send");
        assert_eq!(receiver.wait_for(2, WAIT).await, 2, "the 500 is retried");
        let outcome = run.outcome(&report, 0).await;
        assert_eq!(outcome.status, Status::Delivered, "{outcome:?}");
        assert_eq!(outcome.attempts, 2);
        assert_eq!(outcome.http_status, Some(200));
        let reqs = receiver.requests();
        assert_eq!(
            reqs[0].delivery(),
            reqs[1].delivery(),
            "retries keep the delivery id"
        );
        assert_eq!(
            reqs[0].delivery(),
            Some(outcome.delivery.to_string().as_str())
        );
        for r in &reqs {
            r.verify_hook("k", Digest::Sha256)
                .expect("each attempt is signed");
        }
    }

    /// A 410 is not retried and is reported gone.
    pub async fn gone_is_not_retried(&self) {
        let (receiver, outcome) = self.one_delivery_answered(Reply::status(410), |_| {}).await;
        assert_eq!(outcome.status, Status::Gone, "{outcome:?}");
        assert_eq!(outcome.attempts, 1);
        assert_eq!(outcome.http_status, Some(410));
        assert_eq!(receiver.len(), 1, "410 is not retried");
    }

    /// A 404 is a permanent failure, not retried.
    pub async fn not_found_is_permanent(&self) {
        let (receiver, outcome) = self.one_delivery_answered(Reply::status(404), |_| {}).await;
        assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
        assert_eq!(outcome.attempts, 1);
        assert_eq!(outcome.http_status, Some(404));
        assert!(outcome.error.is_some());
        assert_eq!(receiver.len(), 1, "404 is not retried");
    }

    /// A receiver that never answers makes the delivery time out.
    pub async fn silent_receiver_times_out(&self) {
        let (receiver, outcome) = self
            .one_delivery_answered(Reply::hang(), |c| {
                c.event_timeout = Duration::from_millis(300);
                c.retry = RetryPolicy::never();
            })
            .await;
        assert_eq!(outcome.status, Status::TimedOut, "{outcome:?}");
        assert_eq!(outcome.http_status, None);
        assert!(!receiver.is_empty(), "the request reached the receiver");
    }
}
