//! Subscriptions: who receives which events, where, and how they are signed.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result, excerpt};
use crate::limits::RateLimit;
use crate::pattern::Pattern;
use crate::shown_url::{ShownUrl, shown_url};
use crate::signer::Signer;

/// A subscription's shared secret. Its `Debug` and `Display` never show it.
///
/// The Standard Webhooks key is decoded once, when the secret is made, not
/// on every signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<SecretKeys>);

#[derive(PartialEq, Eq)]
struct SecretKeys {
    text: Box<str>,
    /// The decoded `whsec_` key, or the text's bytes without that prefix.
    standard: Box<[u8]>,
}

impl Secret {
    /// Wraps `secret`. It must not be blank; a secret starting with
    /// `whsec_` (Standard Webhooks) must have a key after the prefix, in
    /// standard base64. Short secrets are accepted (subscriptions carried
    /// over from Python Thorn have them), but [`Secret::generate`] makes the
    /// kind to give new subscriptions.
    pub fn new(secret: impl AsRef<str>) -> Result<Self> {
        const HOW: &str =
            "make one with Secret::generate() (32 random bytes, as whsec_ and base64)";
        let invalid = |reason: String| Error::InvalidSecret {
            subscription: String::from("(new)"),
            reason,
        };
        let text = secret.as_ref();
        if text.trim().is_empty() {
            return Err(invalid(format!("the secret is empty or blank; {HOW}")));
        }
        let standard = match text.strip_prefix("whsec_") {
            Some("") => {
                return Err(invalid(format!(
                    "it is `whsec_` with no key after the prefix; {HOW}"
                )));
            }
            Some(b64) => STANDARD.decode(b64).map_err(|_| {
                invalid(format!(
                    "it starts with `whsec_` but the rest is not standard base64; {HOW}"
                ))
            })?,
            None => text.as_bytes().to_vec(),
        };
        if standard.is_empty() {
            return Err(invalid(format!("its key decodes to no bytes; {HOW}")));
        }
        Ok(Secret(Arc::new(SecretKeys {
            text: Box::from(text),
            standard: standard.into_boxed_slice(),
        })))
    }

    /// A new secret of 32 bytes from the operating system's random source,
    /// in the Standard Webhooks form (`whsec_` and base64), which serves
    /// `Hook-HMAC` and Standard Webhooks alike.
    ///
    /// ```
    /// use thorn_core::Secret;
    /// let secret = Secret::generate();
    /// assert!(secret.expose().starts_with("whsec_"));
    /// assert_eq!(secret.standard_key().len(), 32);
    /// ```
    ///
    /// # Panics
    ///
    /// If the operating system has no working random source, as
    /// `Uuid::new_v4` does: no secret is better than a guessable one.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        #[allow(clippy::expect_used)]
        getrandom::getrandom(&mut key).expect("the operating system's random source works");
        Secret(Arc::new(SecretKeys {
            text: format!("whsec_{}", STANDARD.encode(key)).into_boxed_str(),
            standard: Box::from(key),
        }))
    }

    /// The secret's text. Handle with care: never log it.
    pub fn expose(&self) -> &str {
        &self.0.text
    }

    /// The key for `Hook-HMAC`: the secret's bytes as given.
    pub fn hook_key(&self) -> &[u8] {
        self.0.text.as_bytes()
    }

    /// The key for Standard Webhooks: the base64-decoded part after `whsec_`,
    /// or the secret's bytes when it has no such prefix.
    pub fn standard_key(&self) -> &[u8] {
        &self.0.standard
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.text)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Secret::new(s).map_err(serde::de::Error::custom)
    }
}

/// The hash function of a subscription's HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// HMAC-SHA1, for receivers that only know it.
    Sha1,
    /// HMAC-SHA256, the default.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Digest {
    /// Parses `sha1`, `sha256` or `sha512` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// The name [`parse`](Self::parse) reads: `sha1`, `sha256` or `sha512`.
    ///
    /// ```
    /// use thorn_core::Digest;
    /// assert_eq!(Digest::parse(Digest::Sha512.as_str()), Some(Digest::Sha512));
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }
}

/// How a subscription wants the body encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ContentType {
    /// `application/json`, the default.
    #[default]
    #[serde(rename = "application/json", alias = "json")]
    Json,
    /// `application/x-www-form-urlencoded`: the top-level fields of an object.
    #[serde(rename = "application/x-www-form-urlencoded", alias = "form")]
    Form,
}

impl ContentType {
    /// The MIME type sent in `Content-Type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::Form => "application/x-www-form-urlencoded",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            ContentType::Json => 0,
            ContentType::Form => 1,
        }
    }
}

/// Which signature headers a subscription gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signatures {
    /// Thorn's `Hook-HMAC` only (the default).
    #[default]
    Hook,
    /// `Hook-HMAC` and the Standard Webhooks headers.
    Both,
}

impl Signatures {
    /// Whether Standard Webhooks headers are sent.
    pub const fn standard(self) -> bool {
        matches!(self, Signatures::Both)
    }
}

/// One subscription: an event pattern, where to POST, and how to sign.
///
/// ```
/// use thorn_core::Subscriber;
/// let sub = Subscriber::builder("article.*", "https://example.com/hook", "s3cret")
///     .owner("user1")
///     .build()
///     .unwrap();
/// assert_eq!(sub.url().host_str(), Some("example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    /// The subscription's id, sent as `Hook-Subscription`.
    #[serde(default = "Uuid::new_v4")]
    pub id: Uuid,
    /// Which events it receives (`event` in JSON, or `pattern`).
    #[serde(rename = "event", alias = "pattern")]
    pub pattern: Pattern,
    /// Where to POST.
    #[serde(with = "url_serde")]
    pub url: url::Url,
    /// The HMAC secret.
    pub secret: Secret,
    /// The HMAC hash function.
    #[serde(default)]
    pub digest: Digest,
    /// The body's encoding.
    #[serde(default)]
    pub content_type: ContentType,
    /// The owner id; events with a sender match only their owner's
    /// subscriptions.
    #[serde(default)]
    pub owner: Option<Arc<str>>,
    /// Which signature headers to send.
    #[serde(default)]
    pub signatures: Signatures,
    /// Secrets being rotated out: while set, `webhook-signature` carries a
    /// signature under each of them besides the current secret's, so a
    /// receiver still holding an old key keeps verifying. `Hook-HMAC` uses
    /// the current secret only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<Secret>,
    /// Until when (Unix seconds) the previous secrets sign; `None`: until
    /// they are removed. A rotation with a grace period sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<i64>,
    /// Whether it receives events; a disabled subscription matches none.
    #[serde(default = "enabled_by_default", skip_serializing_if = "is_enabled")]
    pub enabled: bool,
    /// The scheme of `Hook-HMAC` for this subscription; `None` follows
    /// `THORN_HMAC_SIGNER` (plain HMAC by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// How many times a store has written it: 0 for one never stored, 1
    /// once added, one more for each change. A store applies
    /// [`update`](crate::SubscriberStore::update) only while the revision
    /// it holds is still this one, so two changes made from one read cannot
    /// overwrite each other.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
    /// At most how many deliveries a second it receives, across every
    /// worker; `None`: as fast as they come. A delivery over the limit
    /// waits for its slot and is never failed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// At most how many of its deliveries are in flight at once, across
    /// every worker; `None`: no cap of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Strict order: its deliveries arrive in the order they were sent,
    /// and a failing one holds the later ones back (this subscription's
    /// only) until it is delivered or dead-lettered. Off by default, when
    /// a retried delivery may be overtaken by later ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn enabled_by_default() -> bool {
    true
}

fn is_enabled(enabled: &bool) -> bool {
    *enabled
}

mod url_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(u: &url::Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(u.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_url(&s).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn parse_url(s: &str) -> Result<url::Url> {
    let url = url::Url::parse(s).map_err(|e| Error::InvalidUrl {
        url: excerpt(&shown_url(s)),
        reason: format!("{e}; give an absolute http:// or https:// URL"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl {
            url: excerpt(&ShownUrl(&url).to_string()),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    if url.host().is_none() {
        return Err(Error::InvalidUrl {
            url: excerpt(&ShownUrl(&url).to_string()),
            reason: "it has no host".into(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidUrl {
            url: excerpt(&ShownUrl(&url).to_string()),
            reason: "it carries credentials; sign requests with the subscription's secret instead"
                .into(),
        });
    }
    Ok(url)
}

impl Subscriber {
    /// Starts a subscription of `pattern` to `url`, signed with `secret`.
    pub fn builder(
        pattern: impl AsRef<str>,
        url: impl AsRef<str>,
        secret: impl AsRef<str>,
    ) -> SubscriberBuilder {
        SubscriberBuilder {
            id: None,
            pattern: pattern.as_ref().to_owned(),
            url: url.as_ref().to_owned(),
            secret: secret.as_ref().to_owned(),
            digest: Digest::default(),
            content_type: ContentType::default(),
            owner: None,
            signatures: Signatures::default(),
            previous_secrets: Vec::new(),
            previous_until: None,
            enabled: true,
            signer: None,
            rate_limit: None,
            max_in_flight: None,
            ordered: false,
        }
    }

    /// The subscription's URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Checks a subscription that was built field by field or deserialised.
    pub fn validate(&self) -> Result<()> {
        parse_url(self.url.as_str())?;
        if let Some(limit) = &self.rate_limit {
            limit.check()?;
        }
        check_in_flight(self.max_in_flight)?;
        Ok(())
    }
}

/// Builds a [`Subscriber`], validating every field. Its `Debug` shows no
/// secret.
#[derive(Clone)]
#[must_use]
pub struct SubscriberBuilder {
    id: Option<Uuid>,
    pattern: String,
    url: String,
    secret: String,
    digest: Digest,
    content_type: ContentType,
    owner: Option<Arc<str>>,
    signatures: Signatures,
    previous_secrets: Vec<String>,
    previous_until: Option<i64>,
    enabled: bool,
    signer: Option<Signer>,
    rate_limit: Option<RateLimit>,
    max_in_flight: Option<u32>,
    ordered: bool,
}

/// Refuses a cap of 0 deliveries in flight.
fn check_in_flight(max_in_flight: Option<u32>) -> Result<()> {
    if max_in_flight == Some(0) {
        return Err(Error::InvalidSetting {
            name: "max_in_flight",
            value: "0".into(),
            reason: "give at least 1, or no cap".into(),
        });
    }
    Ok(())
}

impl fmt::Debug for SubscriberBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberBuilder")
            .field("id", &self.id)
            .field("pattern", &self.pattern)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("digest", &self.digest)
            .field("content_type", &self.content_type)
            .field("owner", &self.owner)
            .field("signatures", &self.signatures)
            .field("previous_secrets", &self.previous_secrets.len())
            .field("previous_until", &self.previous_until)
            .field("enabled", &self.enabled)
            .field("signer", &self.signer)
            .field("rate_limit", &self.rate_limit)
            .field("max_in_flight", &self.max_in_flight)
            .field("ordered", &self.ordered)
            .finish()
    }
}

impl SubscriberBuilder {
    /// A fixed id instead of a random one.
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
    /// The HMAC hash function.
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = digest;
        self
    }
    /// The body's encoding.
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }
    /// The owner id.
    pub fn owner(mut self, owner: impl Into<Arc<str>>) -> Self {
        self.owner = Some(owner.into());
        self
    }
    /// Which signature headers to send.
    pub fn signatures(mut self, signatures: Signatures) -> Self {
        self.signatures = signatures;
        self
    }
    /// The scheme of `Hook-HMAC` for this subscription, whatever
    /// `THORN_HMAC_SIGNER` says: [`Signer::Compat`] for a receiver written
    /// for Python Thorn.
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }
    /// A secret being rotated out (see [`Subscriber::previous_secrets`]);
    /// call once per old secret.
    pub fn previous_secret(mut self, secret: impl AsRef<str>) -> Self {
        self.previous_secrets.push(secret.as_ref().to_owned());
        self
    }
    /// Until when (Unix seconds) the previous secrets sign: the end of a
    /// rotation's grace period.
    pub fn previous_until(mut self, unix_seconds: i64) -> Self {
        self.previous_until = Some(unix_seconds);
        self
    }

    /// Whether it receives events (default true).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// At most `per_second` deliveries a second on average, `burst` at
    /// once after a quiet spell, across every worker (see
    /// [`limits`](crate::limits)). `build` refuses 0 for either.
    pub fn rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.rate_limit = Some(RateLimit { per_second, burst });
        self
    }

    /// At most `n` deliveries in flight at once, across every worker.
    /// `build` refuses 0.
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// Strict order (see [`Subscriber::ordered`]); off by default.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Subscriber> {
        if let Some(limit) = &self.rate_limit {
            limit.check()?;
        }
        check_in_flight(self.max_in_flight)?;
        let id = self.id.unwrap_or_else(Uuid::new_v4);
        let pattern = Pattern::new(&self.pattern)?;
        let url = parse_url(&self.url)?;
        let named = |e: Error| match e {
            Error::InvalidSecret { reason, .. } => Error::InvalidSecret {
                subscription: id.to_string(),
                reason,
            },
            other => other,
        };
        let secret = Secret::new(self.secret).map_err(named)?;
        let previous_secrets = self
            .previous_secrets
            .into_iter()
            .map(|s| Secret::new(s).map_err(named))
            .collect::<Result<Vec<_>>>()?;
        Ok(Subscriber {
            id,
            pattern,
            url,
            secret,
            digest: self.digest,
            content_type: self.content_type,
            owner: self.owner,
            signatures: self.signatures,
            previous_secrets,
            previous_until: self.previous_until,
            enabled: self.enabled,
            signer: self.signer,
            revision: 0,
            rate_limit: self.rate_limit,
            max_in_flight: self.max_in_flight,
            ordered: self.ordered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{ContentType, Digest, Secret, Subscriber};
    use crate::error::Error;

    #[test]
    fn secret_is_redacted() {
        let s = Subscriber::builder("a", "https://example.com/", "topsecret")
            .build()
            .unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn bad_input_is_named() {
        let e = Subscriber::builder("a", "ftp://x/", "k")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("ftp://x/"), "{e}");
        let e = Subscriber::builder("a", "not a url", "k")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("not a url"), "{e}");
        let e = Subscriber::builder("a", "https://u:pw@x/", "k")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = Subscriber::builder("a", "https://x/", "")
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidSecret { .. }), "{e}");
        let e = Subscriber::builder("a", "https://x/", "whsec_!!!")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("whsec_!!!"), "{e}");
        let e = Subscriber::builder("a..b", "https://x/", "k")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("a..b"), "{e}");
    }

    #[test]
    fn degenerate_secrets_are_refused_with_advice() {
        for bad in ["", " ", "\t\n", "whsec_", "whsec_!!!", "whsec_===="] {
            let e = Secret::new(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidSecret { .. }), "{bad:?}: {e}");
            assert!(e.to_string().contains("Secret::generate()"), "{e}");
        }
        // Short secrets stay allowed: Python Thorn's subscriptions have them.
        assert_eq!(Secret::new("k").unwrap().hook_key(), b"k");
    }

    #[test]
    fn generated_secrets_are_random_standard_keys() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(s.expose().starts_with("whsec_"));
            assert_eq!(s.standard_key().len(), 32);
            assert_eq!(Secret::new(s.expose()).unwrap(), *s, "it parses back");
        }
    }

    #[test]
    fn a_huge_url_is_shown_in_part() {
        let url = format!("ftp://{}/", "a".repeat(10_000));
        let e = Subscriber::builder("a", &url, "k").build().unwrap_err();
        let text = e.to_string();
        assert!(text.len() < 400, "{} bytes", text.len());
        assert!(text.contains("10007 characters"), "{text}");
        assert!(format!("{e:?}").len() < 400);
    }

    #[test]
    fn json_round_trip() {
        let s = Subscriber::builder("a.*", "https://example.com/h", "k")
            .digest(Digest::Sha512)
            .content_type(ContentType::Form)
            .owner("u")
            .build()
            .unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let back: Subscriber = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
