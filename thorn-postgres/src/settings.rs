//! The settings of the Postgres store and outbox, declared here and read
//! from the [`Config`](thorn_core::Config): core knows nothing of them.

use std::time::Duration;

use thorn_core::config::{Setting, SettingDoc, parse, redact_url};

/// The database (`THORN_PG_URL`); its password never shows in errors.
pub const URL: Setting<String> = Setting::new(
    "THORN_PG_URL",
    "postgres://localhost/postgres",
    "the PostgreSQL database of the store and the outbox, `postgres://user[:password]@host[:port]/db`",
    url,
)
.shown_as(redact_url);

/// The schema of Thorn's tables (`THORN_PG_SCHEMA`).
pub const SCHEMA: Setting<String> = Setting::new(
    "THORN_PG_SCHEMA",
    "thorn",
    "the PostgreSQL schema of Thorn's tables (made by the migrations)",
    schema,
);

/// The key that seals secrets at rest (`THORN_PG_SECRET_KEY`).
pub const SECRET_KEY: Setting<Option<[u8; 32]>> = Setting::new(
    "THORN_PG_SECRET_KEY",
    "",
    "32 bytes in standard base64: subscription secrets are stored sealed with AES-256-GCM under it (unset: stored as given)",
    key,
)
.shown_as(|_| "<redacted>".into());

/// Outbox rows a relay claims at once (`THORN_OUTBOX_BATCH`).
pub const OUTBOX_BATCH: Setting<usize> = Setting::new(
    "THORN_OUTBOX_BATCH",
    "500",
    "outbox rows a relay claims and hands to the backend at once",
    parse::count,
)
.checked(|n| parse::within(*n, 1, 10_000));

/// How often an idle relay looks without being woken
/// (`THORN_OUTBOX_POLL`).
pub const OUTBOX_POLL: Setting<Duration> = Setting::new(
    "THORN_OUTBOX_POLL",
    "5s",
    "how often an idle relay looks at the outbox when no NOTIFY woke it (a safety net)",
    parse::duration,
)
.checked(parse::duration_range);

/// Every setting of the Postgres store and outbox, in the order of the
/// README's table.
pub const SETTINGS: &[SettingDoc] = &[
    URL.doc(),
    SCHEMA.doc(),
    SECRET_KEY.doc(),
    OUTBOX_BATCH.doc(),
    OUTBOX_POLL.doc(),
];

fn url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        Ok(text.to_owned())
    } else {
        Err("expected a URL such as postgres://user@127.0.0.1:5432/db".into())
    }
}

fn schema(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(
            "a schema name is 1 to 63 lowercase letters, digits or `_`, not starting with a digit"
                .into(),
        )
    }
}

fn key(text: &str) -> Result<Option<[u8; 32]>, String> {
    use base64::Engine as _;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "not standard base64; make one with `openssl rand -base64 32`".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| {
            format!(
                "{} bytes; it must be 32 (`openssl rand -base64 32`)",
                bytes.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use thorn_core::Config;

    use super::{SCHEMA, SECRET_KEY, URL};

    #[test]
    fn bad_values_are_named_and_secrets_are_not_shown() {
        let c = Config::from_vars([("THORN_PG_SCHEMA", "Robert'); DROP")]).unwrap();
        let e = c.get(&SCHEMA).unwrap_err().to_string();
        assert!(e.contains("THORN_PG_SCHEMA"), "{e}");
        let c = Config::from_vars([("THORN_PG_SECRET_KEY", "c2hvcnQ=")]).unwrap();
        let e = c.get(&SECRET_KEY).unwrap_err().to_string();
        assert!(
            e.contains("THORN_PG_SECRET_KEY") && !e.contains("c2hvcnQ"),
            "{e}"
        );
        let c = Config::from_vars([("THORN_PG_URL", "mysql://u:hunter2@h/db")]).unwrap();
        let e = c.get(&URL).unwrap_err().to_string();
        assert!(e.contains("THORN_PG_URL") && !e.contains("hunter2"), "{e}");
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let c = Config::from_vars([("THORN_PG_SECRET_KEY", key)]).unwrap();
        assert_eq!(c.get(&SECRET_KEY).unwrap().unwrap()[31], 31);
    }
}
