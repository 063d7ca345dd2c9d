#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod breaker;
pub mod buffer;
pub mod codec;
pub mod config;
pub mod delivery;
pub mod disabled;
pub mod dispatcher;
pub mod error;
pub mod event;
pub mod limits;
pub mod linked;
pub mod pattern;
pub mod policy;
pub mod redirect;
pub mod registry;
pub mod report;
pub mod retry;
pub mod shown_url;
pub mod signer;
pub mod signing;
pub mod store;
pub mod subscriber;
mod thorn;

pub use async_trait::async_trait;
pub use buffer::BufferOptions;
pub use config::{Config, ConfigBuilder, Extensions, Setting, SettingDoc};
pub use delivery::{Batch, Delivery, PreparedEvent, Signature};
pub use dispatcher::{BoxFuture, Dispatcher};
pub use error::{BoxError, Error, Result};
pub use event::{Event, EventName};
pub use limits::RateLimit;
pub use linked::Linked;
pub use pattern::{Pattern, SubscriptionIndex};
pub use policy::{RecipientPolicy, Refusal};
pub use redirect::RedirectPolicy;
pub use registry::{Factory, Registry};
pub use report::{AttemptEnd, Observer, Outcome, Report, SharedObserver, Status};
pub use retry::RetryPolicy;
pub use shown_url::{ShownUrl, shown_url};
pub use signer::Signer;
pub use signing::VerifyError;
pub use store::{MemoryStore, SubscriberStore};
pub use subscriber::{ContentType, Digest, Secret, Signatures, Subscriber, SubscriberBuilder};
pub use thorn::{Thorn, ThornBuilder};
