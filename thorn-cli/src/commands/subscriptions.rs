//! `thorn subscriptions`: list, add, remove and show subscriptions in the
//! configured store, and change their limits.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use thorn_core::limits::RateLimit;
use thorn_core::{
    Config, ContentType, Digest, EventName, MemoryStore, Secret, Signatures, Signer, Subscriber,
    SubscriberStore,
};
use thorn_redis::{RedisOptions, RedisStore};

use crate::cli::{
    LimitArgs, SignerKind, StoreArgs, StoreKind, SubsAdd, SubsId, SubsLimit, SubsList,
    SubscriptionsCommand,
};
use crate::failure::{Failure, Outcome};

/// Runs a `thorn subscriptions` subcommand.
pub(crate) async fn run(config: Config, command: SubscriptionsCommand) -> Outcome<ExitCode> {
    match command {
        SubscriptionsCommand::List(args) => list(&config, args).await,
        SubscriptionsCommand::Add(args) => add(&config, args).await,
        SubscriptionsCommand::Remove(args) => remove(&config, args).await,
        SubscriptionsCommand::Show(args) => show(&config, args).await,
        SubscriptionsCommand::Limit(args) => limit(&config, args).await,
    }
}

/// The store `args` names.
pub(crate) async fn open_store(
    config: &Config,
    args: &StoreArgs,
) -> Outcome<Arc<dyn SubscriberStore>> {
    match args.store {
        StoreKind::Redis => {
            let options = RedisOptions::from_config(config)?;
            Ok(Arc::new(RedisStore::new(&options, &args.store_name)?))
        }
        StoreKind::Postgres => {
            let pool = thorn::postgres::connect(config).await?;
            Ok(Arc::new(thorn::postgres::PgStore::new(pool, config).await?))
        }
        StoreKind::File => Ok(Arc::new(MemoryStore::from_file(file_path(config)?)?)),
    }
}

/// The file of `--store file`: THORN_SUBSCRIBERS.
pub(crate) fn file_path(config: &Config) -> Outcome<&Path> {
    config.subscribers_file.as_deref().ok_or_else(|| {
        Failure::Usage(
            "--store file: THORN_SUBSCRIBERS names no file; set it, or use --store redis".into(),
        )
    })
}

/// Which store `args` names, for people: `the Redis store "default" at
/// redis://127.0.0.1:6379/` (never a password).
pub(crate) fn describe(config: &Config, args: &StoreArgs) -> String {
    let at = |setting: &thorn_core::config::Setting<String>| {
        config
            .get(setting)
            .ok()
            .and_then(|text| url::Url::parse(&text).ok())
            .map_or_else(|| setting.name().to_owned(), |u| crate::output::url(&u))
    };
    match args.store {
        StoreKind::Redis => format!(
            "the Redis store {:?} at {}",
            args.store_name,
            at(&thorn_redis::settings::URL)
        ),
        StoreKind::Postgres => format!(
            "the PostgreSQL store at {}",
            at(&thorn::postgres::settings::URL)
        ),
        StoreKind::File => match &config.subscribers_file {
            Some(path) => format!("the file store {}", path.display()),
            None => "the file store (THORN_SUBSCRIBERS is unset)".into(),
        },
    }
}

async fn store(config: &Config, args: &StoreArgs) -> Outcome<Arc<dyn SubscriberStore>> {
    open_store(config, args).await
}

fn read_only(args: &StoreArgs) -> Outcome {
    if args.store == StoreKind::File {
        return Err(Failure::Usage(
            "--store file is read only: edit the THORN_SUBSCRIBERS file, or use --store redis"
                .into(),
        ));
    }
    Ok(())
}

async fn list(config: &Config, args: SubsList) -> Outcome<ExitCode> {
    let store = store(config, &args.store).await?;
    let event = args
        .event
        .as_deref()
        .map(|e| EventName::new(e).map_err(|e| Failure::Usage(format!("invalid --event: {e}"))))
        .transpose()?;
    let mut subs = match &args.owner {
        Some(owner) => store.by_owner(owner).await?,
        None => store.all().await?,
    };
    subs.retain(|s| event.as_ref().is_none_or(|e| s.pattern.matches(e)));
    subs.sort_by(|a, b| {
        (a.pattern.as_str(), a.url.as_str()).cmp(&(b.pattern.as_str(), b.url.as_str()))
    });
    for sub in &subs {
        if args.json {
            crate::output::json_line(&public(sub));
        } else {
            let limits = limits_text(sub);
            println!(
                "{} {} {} owner={}{}{limits}",
                sub.id,
                sub.pattern.as_str(),
                crate::output::url(&sub.url),
                sub.owner.as_deref().unwrap_or("-"),
                if limits.is_empty() { "" } else { " " },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(config: &Config, args: SubsAdd) -> Outcome<ExitCode> {
    read_only(&args.store)?;
    let secret = match &args.secret {
        Some(text) => {
            Secret::new(text).map_err(|e| Failure::Usage(format!("invalid --secret: {e}")))?
        }
        None => Secret::generate(),
    };
    let mut builder = Subscriber::builder(args.event.as_str(), args.url.as_str(), secret.expose());
    if let Some(owner) = &args.owner {
        builder = builder.owner(owner.as_str());
    }
    if let Some(text) = &args.digest {
        let digest = Digest::parse(text).ok_or_else(|| {
            Failure::Usage(format!(
                "invalid --digest {text:?}: use sha1, sha256 or sha512"
            ))
        })?;
        builder = builder.digest(digest);
    }
    if let Some(text) = &args.content_type {
        let content_type = match text.as_str() {
            "json" | "application/json" => ContentType::Json,
            "form" | "application/x-www-form-urlencoded" => ContentType::Form,
            _ => {
                return Err(Failure::Usage(format!(
                    "invalid --content-type {text:?}: use json or form"
                )));
            }
        };
        builder = builder.content_type(content_type);
    }
    if let Some(kind) = args.signer {
        builder = builder.signer(match kind {
            SignerKind::Hmac => Signer::Hmac,
            SignerKind::Compat => Signer::Compat,
        });
    }
    if args.standard_webhooks {
        builder = builder.signatures(Signatures::Both);
    }
    if let Some(limit) = rate_limit(&args.limits)? {
        builder = builder.rate_limit(limit.per_second, limit.burst);
    }
    if let Some(n) = args.limits.max_in_flight {
        builder = builder.max_in_flight(n);
    }
    let sub = builder
        .ordered(args.ordered)
        .build()
        .map_err(|e| Failure::Usage(format!("invalid subscription: {e}")))?;
    // Refused here rather than at every send: the same check and advice.
    config
        .recipients
        .check_url(&sub.url)
        .map_err(|e| Failure::Usage(format!("URL {}: {e}", crate::output::url(&sub.url))))?;
    let store = store(config, &args.store).await?;
    let (id, shown_secret) = (sub.id, secret.expose().to_owned());
    let mut value = public(&sub);
    store.add(sub).await?;
    if args.json {
        value["secret"] = json!(shown_secret);
        crate::output::json_line(&value);
    } else {
        println!("added {id}");
        if args.secret.is_none() {
            println!("secret {shown_secret}");
            println!("(shown once: give it to the receiver now)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(config: &Config, args: SubsId) -> Outcome<ExitCode> {
    read_only(&args.store)?;
    let store = store(config, &args.store).await?;
    if store.remove(args.id).await? {
        println!("removed {}", args.id);
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::failed(format!("no subscription {}", args.id)))
    }
}

async fn show(config: &Config, args: SubsId) -> Outcome<ExitCode> {
    let store = store(config, &args.store).await?;
    let Some(sub) = store.get(args.id).await? else {
        return Err(Failure::failed(format!("no subscription {}", args.id)));
    };
    let value = public(&sub);
    if args.json {
        crate::output::json_line(&value);
    } else if let Some(map) = value.as_object() {
        for (k, v) in map {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            println!("{k:<17} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Changes a subscription's limits, applied only to the subscription as
/// it was read: a change made meanwhile is a failure, never overwritten.
async fn limit(config: &Config, args: SubsLimit) -> Outcome<ExitCode> {
    read_only(&args.store)?;
    let store = store(config, &args.store).await?;
    let Some(read) = store.get(args.id).await? else {
        return Err(Failure::failed(format!("no subscription {}", args.id)));
    };
    let mut next = (*read).clone();
    if let Some(limit) = rate_limit(&args.limits)? {
        next.rate_limit = Some(limit);
    } else if args.no_rate_limit {
        next.rate_limit = None;
    }
    if let Some(n) = args.limits.max_in_flight {
        next.max_in_flight = Some(n);
    } else if args.no_max_in_flight {
        next.max_in_flight = None;
    }
    if let Some(ordered) = args.ordered {
        next.ordered = ordered;
    }
    let stored = store.update(next).await?;
    if args.json {
        crate::output::json_line(&public(&stored));
    } else {
        let limits = limits_text(&stored);
        if limits.is_empty() {
            println!("changed {}: no limits", stored.id);
        } else {
            println!("changed {}: {limits}", stored.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rate limit of `--rate-limit` and `--burst` (the burst, unless
/// given, as many as the rate).
fn rate_limit(args: &LimitArgs) -> Outcome<Option<RateLimit>> {
    let Some(per_second) = args.rate_limit else {
        return Ok(None);
    };
    RateLimit::new(per_second, args.burst.unwrap_or(per_second))
        .map(Some)
        .map_err(|e| Failure::Usage(format!("invalid --rate-limit or --burst: {e}")))
}

/// A subscription's limits, as a listing shows them: empty when it has
/// none.
fn limits_text(sub: &Subscriber) -> String {
    let mut parts = Vec::new();
    if let Some(limit) = sub.rate_limit {
        parts.push(format!(
            "rate_limit={}/s burst={}",
            limit.per_second, limit.burst
        ));
    }
    if let Some(n) = sub.max_in_flight {
        parts.push(format!("max_in_flight={n}"));
    }
    if sub.ordered {
        parts.push("ordered".to_owned());
    }
    parts.join(" ")
}

/// A subscription as JSON, without its secrets or the URL's query.
fn public(sub: &Subscriber) -> serde_json::Value {
    json!({
        "id": sub.id.to_string(),
        "event": sub.pattern.as_str(),
        "url": crate::output::url(&sub.url),
        "owner": sub.owner.as_deref(),
        "digest": sub.digest.as_str(),
        "content_type": sub.content_type.as_str(),
        "signer": sub.signer.map(thorn_core::Signer::as_str),
        "standard_webhooks": sub.signatures.standard(),
        "previous_secrets": sub.previous_secrets.len(),
        "rate_limit": sub.rate_limit.map(|r| json!({"per_second": r.per_second, "burst": r.burst})),
        "max_in_flight": sub.max_in_flight,
        "ordered": sub.ordered,
    })
}
