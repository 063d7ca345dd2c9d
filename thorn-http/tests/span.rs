//! The delivery span names the URL without its query, which may carry a
//! token: logs get the receiver, never its credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use thorn_core::{Config, Delivery, EventName, Signer, Subscriber};
use thorn_http::AttemptRecorder;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Keeps the `url` field of every new span.
#[derive(Clone, Default)]
struct Urls(Arc<Mutex<Vec<String>>>);

impl Visit for Urls {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "url" {
            self.0.lock().unwrap().push(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "url" {
            self.0.lock().unwrap().push(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Urls {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        attrs.record(&mut self.clone());
    }
}

#[test]
fn the_span_names_the_url_without_its_query() {
    let urls = Urls::default();
    let subscriber = tracing_subscriber::registry().with(urls.clone());
    let delivery = Delivery {
        id: uuid::Uuid::new_v4(),
        event: EventName::new("a.b").unwrap(),
        subscriber: Arc::new(
            Subscriber::builder("a.*", "https://example.com/hooks?token=SECRET-TOKEN", "k")
                .build()
                .unwrap(),
        ),
        body: Bytes::from_static(b"{}"),
        timeout: None,
        standard_webhooks: false,
        hmac_signer: Signer::Hmac,
    };
    let recorder = AttemptRecorder::new(&Config::default());
    tracing::subscriber::with_default(subscriber, || {
        let _span = recorder.span(&delivery);
    });
    assert_eq!(*urls.0.lock().unwrap(), ["https://example.com/hooks"]);
}
