//! The behaviour suite through the outbox: each event is written in a
//! committed transaction, a relay hands it to "default" or to "redis"
//! (with a worker), and every check holds as for a direct send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json as _;
use thorn::{BoxFuture, Event, Outcome, Report, Result, Status, Thorn};
use thorn_postgres::{Outbox, Relay};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::redis_server::RedisServer;
use thorn_testkit::suite::{EventSender, Harness, Suite};

/// Sends by writing events into the outbox in one committed transaction;
/// the report holds each delivery the relay will make, queued, under the
/// id it will be made with.
struct OutboxSender {
    pool: sqlx::PgPool,
    outbox: Outbox,
}

impl EventSender for OutboxSender {
    fn send_all<'a>(
        &'a self,
        thorn: &'a Thorn,
        events: Vec<Event>,
    ) -> BoxFuture<'a, Result<Report>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.unwrap();
            let mut written = Vec::new();
            for event in events {
                let w = self.outbox.send(&mut *tx, &event).await?;
                written.push(w.event(event));
            }
            tx.commit().await.unwrap();
            let mut report = Report {
                outcomes: Vec::new(),
            };
            for event in written {
                let prepared = thorn.prepare(event).await?;
                report.outcomes.extend(prepared.failed);
                report.outcomes.extend(
                    prepared
                        .deliveries
                        .iter()
                        .map(|d| Outcome::new(d, Status::Queued)),
                );
            }
            Ok(report)
        })
    }
}

/// What lives while a check runs.
struct Running {
    _relay: Relay,
    _pg: PostgresServer,
    _redis: Option<(RedisServer, thorn::redis::ShutdownHandle)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self._redis {
            stop.shutdown();
        }
    }
}

async fn start(mut config: thorn::Config, redis: bool) -> Result<Harness> {
    let pg = PostgresServer::start().await.expect("PostgreSQL starts");
    config.set_var("THORN_PG_URL", pg.url())?;
    let redis = if redis {
        let server = RedisServer::start().await.expect("redis-server starts");
        config.set_var("THORN_REDIS_URL", server.url())?;
        let worker = thorn::redis::Worker::builder(config.clone())
            .options(thorn::redis::RedisOptions::from_config(&config).unwrap())
            .build()
            .unwrap();
        let stop = worker.shutdown_handle();
        tokio::spawn(worker.run());
        Some((server, stop))
    } else {
        None
    };
    let pool = thorn_postgres::connect(&config).await?;
    thorn_postgres::migrate(&pool, &config).await?;
    let outbox = Outbox::new(&config)?;
    let thorn = Thorn::new(config, &thorn::registry())?;
    let relay = outbox.relay(pool.clone(), thorn.clone());
    let running = Running {
        _relay: relay,
        _pg: pg,
        _redis: redis,
    };
    Ok(Harness::with_guard(thorn, running).with_sender(OutboxSender { pool, outbox }))
}

mod through_default {
    use super::*;

    fn suite() -> Suite {
        Suite::new("default", |config| Box::pin(start(config, false)))
    }

    thorn_testkit::behaviour_tests!(suite());
}

mod through_redis {
    use super::*;

    fn suite() -> Suite {
        Suite::new("redis", |config| Box::pin(start(config, true)))
    }

    thorn_testkit::behaviour_tests!(suite());
}
