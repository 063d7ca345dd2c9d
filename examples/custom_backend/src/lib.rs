//! A backend of one's own: delivers a batch one delivery at a time, in
//! order, with `THORN_ONEBYONE_ATTEMPTS` attempts each (one when
//! `THORN_RETRY=false`), through Thorn's HTTP client and its shared outcome
//! path (observers, tracing, metrics). `THORN_DISPATCHER=onebyone` picks it.
use thorn::backend::*;

/// The name the backend is registered under.
pub const NAME: &str = "onebyone";

/// Attempts per delivery (`THORN_ONEBYONE_ATTEMPTS`, 1 to 10, default 3).
pub const ATTEMPTS: Setting<usize> =
    Setting::new("THORN_ONEBYONE_ATTEMPTS", "3", "attempts", parse::count_in::<1, 10>);

/// Registers the backend in `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(NAME, |c: &Config| {
        let n = if c.retry.enabled { c.get(&ATTEMPTS)? } else { 1 };
        Ok(OneByOne(HttpClient::new(c)?, AttemptRecorder::new(c), c.retry, n as u32))
    });
}

/// The backend: the client, the outcome path, the delays, the attempts.
#[derive(Debug)]
pub struct OneByOne(HttpClient, AttemptRecorder, RetryPolicy, u32);

#[async_trait]
impl Dispatcher for OneByOne {
    fn name(&self) -> &str {
        NAME
    }

    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        let OneByOne(client, recorder, retry, attempts) = self;
        let mut outcomes = Vec::new();
        for delivery in batch.deliveries() {
            let mut outcome = Outcome::new(delivery, Status::Retrying);
            for n in 1..=*attempts {
                let attempt = client.attempt(delivery, n).await;
                if recorder.record(&mut outcome, &attempt, n, n < *attempts) != Status::Retrying {
                    break;
                }
                tokio::time::sleep(retry.delay(n, attempt.retry_after)).await;
            }
            outcomes.push(outcome);
        }
        Ok(Report { outcomes })
    }
}
