//! Turning what a caller sent into a subscription, each bad value a
//! problem naming its field.

use std::time::SystemTime;

use thorn_core::limits::RateLimit;
use thorn_core::{
    Config, ContentType, Digest, EventName, Pattern, Secret, Signatures, Signer, Subscriber,
};

use super::model::{
    CONTENT_TYPES, CreateSubscription, DIGESTS, RateLimitInput, SIGNERS, UpdateSubscription, named,
    names,
};
use crate::owner::Owner;
use crate::problem::Problem;

/// The new subscription of `owner`, and its secret.
pub(crate) fn create(
    config: &Config,
    owner: &Owner,
    input: CreateSubscription,
) -> Result<(Subscriber, Secret), Problem> {
    let secret = match &input.secret {
        Some(text) => Secret::new(text).map_err(|e| Problem::invalid("secret", e.to_string()))?,
        None => Secret::generate(),
    };
    pattern(&input.event)?;
    let mut builder = Subscriber::builder(&input.event, &input.url, secret.expose())
        .owner(owner.shared())
        .content_type(content_type(input.content_type.as_deref())?)
        .digest(digest(input.digest.as_deref())?);
    if let Some(text) = &input.signer {
        builder = builder.signer(signer(text)?);
    }
    if input.standard_webhooks == Some(true) {
        builder = builder.signatures(Signatures::Both);
    }
    if let Some(limit) = &input.rate_limit {
        let limit = rate_limit(limit)?;
        builder = builder.rate_limit(limit.per_second, limit.burst);
    }
    if let Some(n) = input.max_in_flight {
        builder = builder.max_in_flight(max_in_flight(n)?);
    }
    builder = builder.ordered(input.ordered.unwrap_or(false));
    let sub = builder
        .build()
        .map_err(|e| Problem::invalid("url", e.to_string()))?;
    allowed(config, &sub)?;
    Ok((sub, secret))
}

/// `sub` with `changes` made.
pub(crate) fn update(
    config: &Config,
    sub: &Subscriber,
    changes: UpdateSubscription,
) -> Result<Subscriber, Problem> {
    let mut next = sub.clone();
    if let Some(event) = &changes.event {
        next.pattern = pattern(event)?;
    }
    if let Some(url) = &changes.url {
        let probe = Subscriber::builder("a", url, "k")
            .build()
            .map_err(|e| Problem::invalid("url", e.to_string()))?;
        next.url = probe.url;
    }
    if changes.content_type.is_some() {
        next.content_type = content_type(changes.content_type.as_deref())?;
    }
    if let Some(enabled) = changes.enabled {
        next.enabled = enabled;
    }
    if let Some(limit) = &changes.rate_limit {
        next.rate_limit = limit.as_ref().map(rate_limit).transpose()?;
    }
    if let Some(n) = changes.max_in_flight {
        next.max_in_flight = n.map(max_in_flight).transpose()?;
    }
    if let Some(ordered) = changes.ordered {
        next.ordered = ordered;
    }
    allowed(config, &next)?;
    Ok(next)
}

/// `sub` with a new secret; the old one signs as a previous secret until
/// `until`.
pub(crate) fn rotate(sub: &Subscriber, until: SystemTime) -> (Subscriber, Secret) {
    let secret = Secret::generate();
    let mut next = sub.clone();
    next.previous_secrets = vec![std::mem::replace(&mut next.secret, secret.clone())];
    next.previous_until = Some(thorn_core::signing::unix_seconds(until));
    (next, secret)
}

/// The recipient policy's verdict on the URL, as a send would give it.
fn allowed(config: &Config, sub: &Subscriber) -> Result<(), Problem> {
    config
        .recipients
        .check_url(&sub.url)
        .map_err(|refusal| Problem::invalid("url", refusal.to_string()))
}

/// A rate limit as given; without a burst, the burst is the rate.
fn rate_limit(input: &RateLimitInput) -> Result<RateLimit, Problem> {
    let Some(per_second) = input.per_second else {
        return Err(Problem::invalid(
            "rate_limit.per_second",
            "rate_limit.per_second is missing: a rate limit needs deliveries a second; a burst \
             alone limits nothing",
        ));
    };
    let per_second = count("rate_limit.per_second", per_second)?;
    let burst = match input.burst {
        Some(burst) => count("rate_limit.burst", burst)?,
        None => per_second,
    };
    RateLimit::new(per_second, burst).map_err(|e| Problem::invalid("rate_limit", e.to_string()))
}

fn max_in_flight(n: i64) -> Result<u32, Problem> {
    count("max_in_flight", n)
}

/// A limit's count: a whole number from 1 to `u32::MAX`.
fn count(field: &str, n: i64) -> Result<u32, Problem> {
    u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
        Problem::invalid(
            field,
            format!(
                "{field} {n} is out of range: give a whole number from 1 to {}",
                u32::MAX
            ),
        )
    })
}

fn pattern(text: &str) -> Result<Pattern, Problem> {
    Pattern::new(text).map_err(|e| Problem::invalid("event", e.to_string()))
}

/// An event name of the list's filter.
pub(crate) fn event_name(text: &str) -> Result<EventName, Problem> {
    EventName::new(text).map_err(|e| Problem::bad_request(e.to_string()).field("event"))
}

fn content_type(text: Option<&str>) -> Result<ContentType, Problem> {
    let Some(text) = text else {
        return Ok(ContentType::Json);
    };
    named(&CONTENT_TYPES, text).ok_or_else(|| {
        Problem::invalid(
            "content_type",
            format!(
                "{text:?} is not a content type Thorn sends; use one of {}",
                names(&CONTENT_TYPES)
            ),
        )
    })
}

fn digest(text: Option<&str>) -> Result<Digest, Problem> {
    let Some(text) = text else {
        return Ok(Digest::Sha256);
    };
    named(&DIGESTS, text).ok_or_else(|| {
        Problem::invalid(
            "digest",
            format!("{text:?} is not a digest; use one of {}", names(&DIGESTS)),
        )
    })
}

fn signer(text: &str) -> Result<Signer, Problem> {
    named(&SIGNERS, text).ok_or_else(|| {
        Problem::invalid(
            "signer",
            format!("{text:?} is not a signer; use one of {}", names(&SIGNERS)),
        )
    })
}
