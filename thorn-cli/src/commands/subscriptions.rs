//! `thorn subscriptions`: list, add, remove and show subscriptions in the
//! configured store.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use thorn_core::{
    Config, ContentType, Digest, EventName, MemoryStore, Secret, Signatures, Signer, Subscriber,
    SubscriberStore,
};
use thorn_redis::{RedisOptions, RedisStore};

use crate::cli::{
    SignerKind, StoreArgs, StoreKind, SubsAdd, SubsId, SubsList, SubscriptionsCommand,
};
use crate::failure::{Failure, Outcome};

/// Runs a `thorn subscriptions` subcommand.
pub(crate) async fn run(config: Config, command: SubscriptionsCommand) -> Outcome<ExitCode> {
    match command {
        SubscriptionsCommand::List(args) => list(&config, args).await,
        SubscriptionsCommand::Add(args) => add(&config, args).await,
        SubscriptionsCommand::Remove(args) => remove(&config, args).await,
        SubscriptionsCommand::Show(args) => show(&config, args).await,
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
            println!(
                "{} {} {} owner={}",
                sub.id,
                sub.pattern.as_str(),
                crate::output::url(&sub.url),
                sub.owner.as_deref().unwrap_or("-")
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
    let sub = builder
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
    })
}
