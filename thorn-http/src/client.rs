//! `HttpClient`: the one pooled HTTP client of a process.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use thorn_core::config::parse::clamp_duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use thorn_core::delivery::headers;
use thorn_core::{Config, Delivery, RecipientPolicy, RedirectPolicy, Refusal, Result};

use crate::attempt::{Attempt, Verdict, retry_after};
use crate::redirect::{self, Hop};
use crate::resolver::PolicyResolver;
use crate::tls::{TrustedRoots, client_config};

type Connector = HttpsConnector<HttpConnector<PolicyResolver>>;

/// How much of a response body is read so the connection can be reused;
/// past this the connection is dropped instead.
const MAX_DRAIN: usize = 64 * 1024;
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The HTTP client of Thorn: one connection pool (keep-alive, HTTP/1.1 and
/// HTTP/2 by ALPN) over rustls with certificate checks always on, the
/// recipient policy applied to every resolved address, and timeouts.
/// Clones are cheap and share the pool.
///
/// ```no_run
/// # async fn run(delivery: thorn_core::Delivery) -> thorn_core::Result<()> {
/// use thorn_core::Config;
/// use thorn_http::{HttpClient, Verdict};
/// let client = HttpClient::new(&Config::default())?;
/// let attempt = client.attempt(&delivery, 1).await;
/// if attempt.verdict == Verdict::Retryable {
///     // try again later, after attempt.retry_after if the receiver said so
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    policy: Arc<RecipientPolicy>,
    timeout: Duration,
    redirects: RedirectPolicy,
    user_agent: HeaderValue,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.inner.policy)
            .field("timeout", &self.inner.timeout)
            .field("redirects", &self.inner.redirects)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the config's timeout (`event_timeout`), recipient
    /// policy, redirect setting, trusted roots (`THORN_TLS_NATIVE_ROOTS`,
    /// `THORN_CA_FILE`) and, if present in its extensions,
    /// [`TrustedRoots`].
    pub fn new(config: &Config) -> Result<Self> {
        Self::with_roots(config, config.extensions.get::<TrustedRoots>())
    }

    /// Like [`new`](Self::new), trusting `roots` besides the others
    /// (instead of any `TrustedRoots` in the config).
    pub fn with_roots(config: &Config, roots: Option<&TrustedRoots>) -> Result<Self> {
        let policy = Arc::new(config.recipients.clone());
        let mut http = HttpConnector::new_with_resolver(PolicyResolver::new(Arc::clone(&policy)));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.event_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(client_config(config, roots)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        let user_agent = HeaderValue::try_from(format!("{} hyper/1", headers::USER_AGENT))
            .map_err(|e| thorn_core::Error::dispatch("http", false, e))?;
        Ok(HttpClient {
            inner: Arc::new(Inner {
                client,
                policy,
                timeout: config.event_timeout,
                redirects: config.allow_redirects,
                user_agent,
            }),
        })
    }

    /// The timeout of an attempt whose delivery has none of its own.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Makes exactly one attempt of `delivery` (`attempt` is its 1-based
    /// number, for logs): checks the URL against the recipient policy,
    /// signs with the current time, POSTs, and classifies the answer.
    /// Never panics; every failure is in the returned [`Attempt`].
    pub async fn attempt(&self, delivery: &Delivery, attempt: u32) -> Attempt {
        let started = Instant::now();
        let url = &delivery.subscriber.url;
        // However the delivery came (an event's own timeout, an entry read
        // back from a queue), no attempt waits past the setting's range.
        let timeout = clamp_duration(delivery.timeout.unwrap_or(self.inner.timeout));
        let mut result = match self.inner.policy.check_url(url) {
            Err(refusal) => refused(&refusal),
            Ok(()) => match tokio::time::timeout(timeout, self.exchange(delivery)).await {
                Ok(a) => a,
                Err(_) => Attempt {
                    timed_out: true,
                    ..Attempt::failed(
                        Verdict::Retryable,
                        format!("no answer within {timeout:?}"),
                        Duration::ZERO,
                    )
                },
            },
        };
        result.duration = started.elapsed();
        tracing::debug!(
            delivery = %delivery.id,
            attempt,
            verdict = ?result.verdict,
            status = result.status,
            timed_out = result.timed_out,
            refused = result.refused,
            duration_ms = result.duration.as_millis() as u64,
            error = result.error.as_deref(),
            "thorn http attempt"
        );
        result
    }

    async fn exchange(&self, delivery: &Delivery) -> Attempt {
        let subscription = &delivery.subscriber.url;
        // Borrowed until a redirect is followed.
        let mut url = std::borrow::Cow::Borrowed(subscription);
        let mut hop = Hop::FIRST;
        let mut followed = 0;
        // Ends: `redirect::follow` refuses past MAX_REDIRECTS.
        loop {
            let uri: Uri = match url.as_str().parse() {
                Ok(u) => u,
                Err(e) => {
                    return Attempt::failed(
                        Verdict::Permanent,
                        format!("bad URL {url}: {e}"),
                        Duration::ZERO,
                    );
                }
            };
            let response = match self
                .inner
                .client
                .request(self.request(delivery, uri, hop))
                .await
            {
                Ok(r) => r,
                Err(e) => return from_error(&e),
            };
            let status = response.status();
            if !status.is_redirection() {
                // Only a failure's answer can ask for a later retry.
                let retry_after = if status.is_success() {
                    None
                } else {
                    retry_after(response.headers(), SystemTime::now())
                };
                drain(response.into_body()).await;
                let verdict = Verdict::of_status(status);
                let error =
                    (verdict != Verdict::Success).then(|| format!("receiver answered {status}"));
                return Attempt {
                    verdict,
                    status: Some(status.as_u16()),
                    retry_after,
                    timed_out: false,
                    refused: false,
                    duration: Duration::ZERO,
                    error,
                };
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            drain(response.into_body()).await;
            let next = redirect::follow(
                self.inner.redirects,
                status,
                location.as_deref(),
                &url,
                subscription,
                hop,
                followed,
            );
            let (next, next_hop) = match next {
                Ok(n) => n,
                Err(error) => return answered(status.as_u16(), None, error),
            };
            if let Err(refusal) = self.inner.policy.check_url(&next) {
                return Attempt {
                    status: Some(status.as_u16()),
                    ..refused(&refusal)
                };
            }
            tracing::debug!(
                delivery = %delivery.id,
                status = status.as_u16(),
                to = %redirect::origin(&next),
                post = next_hop.post,
                signed = next_hop.signed,
                "thorn follows a redirect"
            );
            url = std::borrow::Cow::Owned(next);
            hop = next_hop;
            followed += 1;
        }
    }

    /// The request `hop` makes to `uri`: the signed POST of the delivery,
    /// or what a redirect left of it.
    fn request(&self, delivery: &Delivery, uri: Uri, hop: Hop) -> Request<Full<Bytes>> {
        let (method, body) = if hop.post {
            (http::Method::POST, delivery.body.clone())
        } else {
            (http::Method::GET, Bytes::new())
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers(delivery, hop);
        request
    }

    /// Every header of the wire format, signed now; without the
    /// signatures when `hop` is unsigned, and without `Content-Type` when
    /// it sends no body.
    fn headers(&self, delivery: &Delivery, hop: Hop) -> HeaderMap {
        let signature = hop.signed.then(|| delivery.sign(SystemTime::now()));
        let mut h = HeaderMap::with_capacity(10);
        let mut id_buf = uuid::Uuid::encode_buffer();
        let id = delivery.id.hyphenated().encode_lower(&mut id_buf);
        let mut sub_buf = uuid::Uuid::encode_buffer();
        let sub = delivery
            .subscriber
            .id
            .hyphenated()
            .encode_lower(&mut sub_buf);
        let id_value = header_value(id);
        put(
            &mut h,
            headers::HOOK_EVENT,
            header_value(delivery.event.as_str()),
        );
        put(&mut h, headers::HOOK_SUBSCRIPTION, header_value(sub));
        h.insert(USER_AGENT, self.inner.user_agent.clone());
        if hop.post {
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(delivery.subscriber.content_type.as_str()),
            );
        }
        if delivery.sends_standard() {
            put(&mut h, headers::WEBHOOK_ID, id_value.clone());
        }
        // Only here, so that an unsigned hop (another origin, or a GET)
        // carries nothing that authenticates.
        if let Some(signature) = signature {
            put(
                &mut h,
                headers::HOOK_HMAC,
                HeaderValue::try_from(signature.hook_hmac).ok(),
            );
            if let Some((ts, sig)) = signature.standard {
                put(
                    &mut h,
                    headers::WEBHOOK_TIMESTAMP,
                    HeaderValue::try_from(ts.to_string()).ok(),
                );
                put(
                    &mut h,
                    headers::WEBHOOK_SIGNATURE,
                    HeaderValue::try_from(sig).ok(),
                );
            }
        }
        put(&mut h, headers::HOOK_DELIVERY, id_value);
        h
    }
}

fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// Sets a header; every value here is ASCII made by Thorn, so `None` does
/// not happen in practice and the header is then left out.
fn put(h: &mut HeaderMap, name: &'static str, value: Option<HeaderValue>) {
    if let Some(v) = value {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Reads (and drops) the response body so the connection returns to the
/// pool; a large or broken body just loses the connection.
async fn drain(mut body: hyper::body::Incoming) {
    let mut read = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            read += data.len();
            if read > MAX_DRAIN {
                return;
            }
        }
    }
}

fn answered(status: u16, retry_after: Option<Duration>, error: String) -> Attempt {
    Attempt {
        status: Some(status),
        retry_after,
        ..Attempt::failed(Verdict::Permanent, error, Duration::ZERO)
    }
}

fn refused(refusal: &Refusal) -> Attempt {
    Attempt {
        refused: true,
        ..Attempt::failed(Verdict::Permanent, refusal.to_string(), Duration::ZERO)
    }
}

/// Classifies a request that got no response: a refusal or a certificate
/// error is permanent; anything else (connect error, reset, timeout) is
/// retryable.
fn from_error(e: &hyper_util::client::legacy::Error) -> Attempt {
    let mut messages: Vec<String> = Vec::new();
    let mut refusal: Option<Refusal> = None;
    let mut certificate = false;
    let mut timed_out = false;
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        let msg = err.to_string();
        if !messages.iter().any(|m| m.contains(&msg)) {
            messages.push(msg);
        }
        if let Some(r) = err.downcast_ref::<Refusal>() {
            refusal = Some(r.clone());
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            certificate |= is_certificate_error(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
                // io::Error's source skips its payload; look at the payload.
                io.get_ref().map(|inner| inner as &(dyn StdError + 'static))
            }
            None => err.source(),
        };
    }
    if let Some(r) = refusal {
        return refused(&r);
    }
    let text = messages.join(": ");
    if certificate {
        return Attempt::failed(
            Verdict::Permanent,
            format!("TLS error: {text}"),
            Duration::ZERO,
        );
    }
    Attempt {
        timed_out,
        ..Attempt::failed(Verdict::Retryable, text, Duration::ZERO)
    }
}

fn is_certificate_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
    )
}
