//! A subscription as a row of `subscriptions`, and back.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use thorn_core::{ContentType, Digest, Result, Signatures, Signer, Subscriber};

use crate::cipher::Cipher;
use crate::error::db;

/// The columns, in the order [`bind_upsert`] binds them.
pub(crate) const COLUMNS: &str = "id, owner, pattern, url, secret, previous_secrets, previous_until, digest, signer, content_type, standard_webhooks, enabled";

/// The columns [`COLUMNS`] sets, each from its bound value, for an `UPDATE`.
const SET: &str = "owner = $2, pattern = $3, url = $4, secret = $5, \
     previous_secrets = $6, previous_until = $7, digest = $8, signer = $9, content_type = $10, \
     standard_webhooks = $11, enabled = $12, updated_at = now()";

/// The upsert of one subscription into `table` (last writer wins); the
/// stored revision.
pub(crate) fn upsert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS s ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET {SET}, revision = s.revision + 1 RETURNING revision"
    )
}

/// The insert of a new subscription into `table`; its revision, or no row
/// when the id is taken.
pub(crate) fn insert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO NOTHING RETURNING revision"
    )
}

/// The change of a subscription still at revision `$13`; its new
/// revision, or no row when it changed or went.
pub(crate) fn update_sql(table: &str) -> String {
    format!(
        "UPDATE {table} SET {SET}, revision = revision + 1 WHERE id = $1 AND revision = $13 \
         RETURNING revision"
    )
}

/// Binds `sub`'s values to the upsert, its secrets sealed by `cipher`.
pub(crate) fn bind_upsert<'q>(
    sql: &'q str,
    sub: &Subscriber,
    cipher: &Cipher,
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>> {
    let previous = sub
        .previous_secrets
        .iter()
        .map(|s| cipher.seal(s.expose()))
        .collect::<Result<Vec<_>>>()?;
    Ok(sqlx::query(sql)
        .bind(sub.id)
        .bind(sub.owner.as_deref().map(str::to_owned))
        .bind(sub.pattern.as_str().to_owned())
        .bind(sub.url.as_str().to_owned())
        .bind(cipher.seal(sub.secret.expose())?)
        .bind(previous)
        .bind(sub.previous_until)
        .bind(sub.digest.as_str())
        .bind(sub.signer.map(Signer::as_str))
        .bind(sub.content_type.as_str())
        .bind(sub.signatures.standard())
        .bind(sub.enabled))
}

/// The subscription a row holds.
pub(crate) fn from_row(row: &PgRow, cipher: &Cipher) -> Result<Subscriber> {
    let get_text = |name: &str| row.try_get::<String, _>(name).map_err(db);
    let secret = cipher.open(&get_text("secret")?)?;
    let mut builder = Subscriber::builder(get_text("pattern")?, get_text("url")?, secret)
        .id(row.try_get("id").map_err(db)?)
        .digest(Digest::parse(&get_text("digest")?).unwrap_or_default())
        .enabled(row.try_get("enabled").map_err(db)?);
    if let Some(owner) = row.try_get::<Option<String>, _>("owner").map_err(db)? {
        builder = builder.owner(owner);
    }
    if get_text("content_type")? == ContentType::Form.as_str() {
        builder = builder.content_type(ContentType::Form);
    }
    if let Some(signer) = row.try_get::<Option<String>, _>("signer").map_err(db)? {
        builder = builder.signer(Signer::parse(&signer)?);
    }
    if row.try_get::<bool, _>("standard_webhooks").map_err(db)? {
        builder = builder.signatures(Signatures::Both);
    }
    for old in row
        .try_get::<Vec<String>, _>("previous_secrets")
        .map_err(db)?
    {
        builder = builder.previous_secret(cipher.open(&old)?);
    }
    if let Some(until) = row
        .try_get::<Option<i64>, _>("previous_until")
        .map_err(db)?
    {
        builder = builder.previous_until(until);
    }
    let mut sub = builder.build()?;
    sub.revision = u64::try_from(row.try_get::<i64, _>("revision").map_err(db)?).unwrap_or(0);
    Ok(sub)
}
