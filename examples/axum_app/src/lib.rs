//! An axum service that announces its writes with Thorn. `POST /orders`
//! writes an order and sends `order.created` inside a buffer scope, so the
//! event goes out in one flush when the handler's work is done, after the
//! record is written; `GET /orders/{id}` reads one back. [`serve`] stops on
//! a signal and then calls [`Thorn::shutdown`], so that nothing Thorn still
//! holds ends with the process.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum_app::{App, Settings, serve};
//!
//! let settings = Settings::from_env()?;
//! let app = App::new(thorn::Config::from_env()?, &settings).await?;
//! let listener = tokio::net::TcpListener::bind(settings.addr).await?;
//! let report = serve(listener, app, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! println!("{} held deliveries sent at shutdown", report.outcomes.len());
//! # Ok(()) }
//! ```
//!
//! With the `"default"` backend the flush delivers before the answer is
//! sent; with `THORN_DISPATCHER=redis` it only enqueues (one `XADD`), and a
//! `thorn worker` delivers. If the flush fails (Redis is down), the order
//! stays written and is answered 201: Thorn holds the event and delivers it
//! on a later flush, at the latest at shutdown.

use std::future::Future;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use thorn::{Config, Event, Report, Signatures, Status, Subscriber, Thorn};
use tokio::net::TcpListener;

pub mod orders;
pub mod problem;
pub mod settings;

pub use orders::{NewOrder, Order, Orders};
pub use problem::Problem;
pub use settings::{Settings, SettingsError, allow_local_receiver};

/// The event sent when an order is written.
pub const ORDER_CREATED: &str = "order.created";

/// The application's state: its records and its Thorn. Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    thorn: Thorn,
    orders: Orders,
}

impl App {
    /// The application with Thorn's settings `config` (say,
    /// [`Config::from_env`]), subscribing `order.*` at `settings`'
    /// receiver, which is allowed by the recipient policy when it is on
    /// this machine.
    pub async fn new(mut config: Config, settings: &Settings) -> thorn::Result<App> {
        let subscription =
            Subscriber::builder("order.*", &settings.hook_url, settings.hook_secret.expose())
                // Standard Webhooks headers too: they bound a delivery in
                // time, which lets receivers refuse old replays.
                .signatures(Signatures::Both)
                .build()?;
        allow_local_receiver(&mut config.recipients, &subscription);
        let thorn = Thorn::new(config, &thorn::registry())?;
        thorn.subscribe(subscription).await?;
        Ok(App {
            thorn,
            orders: Orders::default(),
        })
    }

    /// Its Thorn.
    pub fn thorn(&self) -> &Thorn {
        &self.thorn
    }

    /// Its records.
    pub fn orders(&self) -> &Orders {
        &self.orders
    }
}

/// The routes: `POST /orders`, `GET /orders/{id}`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves and the requests
/// under way are answered, then delivers what Thorn still holds
/// ([`Thorn::shutdown`]); its report.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> Result<Report, ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let thorn = app.thorn.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)?;
    thorn.shutdown().await.map_err(ServeError::Shutdown)
}

/// Why [`serve`] ended in error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting connections failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// What Thorn held could not be handed to its backend; it stays held
    /// in this process, which is about to end.
    #[error("delivering the events still held at shutdown: {0}")]
    Shutdown(thorn::Error),
}

async fn create_order(
    State(app): State<App>,
    payload: Result<Json<NewOrder>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Json(new) =
        payload.map_err(|e| Problem::new(e.status(), "unreadable order", e.body_text()))?;
    if let Some(why) = new.problem() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid order",
            why,
        ));
    }
    // Every send in the scope is held and flushed once, when it ends.
    let (created, flushed) = app.thorn.buffer_events(write_and_announce(&app, new)).await;
    let order = created?;
    match flushed {
        Ok(report) => print_report(order.id, &report),
        // The order is written; answering an error would invite the client
        // to write it again. Thorn holds the event for its next flush.
        Err(e) => eprintln!(
            "order {}: {ORDER_CREATED} is held for a later flush: {e}",
            order.id
        ),
    }
    let location = format!("/orders/{}", order.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(order),
    ))
}

/// Writes the order, then sends `order.created`. In the caller's buffer
/// scope the send is only held; it goes out when the scope ends.
async fn write_and_announce(app: &App, new: NewOrder) -> Result<Order, Problem> {
    let order = app.orders.insert(new);
    let data = serde_json::to_value(&order).map_err(Problem::internal)?;
    let event = Event::new(ORDER_CREATED, data).map_err(Problem::internal)?;
    app.thorn.send(event).await.map_err(Problem::internal)?;
    Ok(order)
}

async fn get_order(State(app): State<App>, Path(id): Path<u64>) -> Result<Json<Order>, Problem> {
    app.orders.get(id).map(Json).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no such order",
            format!("no order {id}"),
        )
    })
}

fn print_report(id: u64, report: &Report) {
    println!(
        "order {id}: {ORDER_CREATED} delivered {}, queued {}, failed {}",
        report.count(Status::Delivered),
        report.count(Status::Queued),
        report
            .outcomes
            .iter()
            .filter(|o| o.status.is_failure())
            .count(),
    );
    for failed in report.outcomes.iter().filter(|o| o.status.is_failure()) {
        let why = failed.error.as_deref().unwrap_or("no reason given");
        eprintln!(
            "order {id}: delivery to {} failed: {why}",
            failed.subscriber.url()
        );
    }
}
