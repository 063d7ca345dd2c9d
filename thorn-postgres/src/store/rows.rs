//! A subscription as a row of `subscriptions`, and back.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use thorn_core::{ContentType, Digest, Error, Result, Signatures, Signer, Subscriber};

use crate::cipher::Cipher;
use crate::error::db;

/// The columns, in the order [`bind_upsert`] binds them.
pub(crate) const COLUMNS: &str = "id, owner, pattern, url, secret, previous_secrets, previous_until, digest, signer, content_type, standard_webhooks, enabled, \
     rate_limit_per_second, rate_limit_burst, max_in_flight, ordered";

/// The placeholders of [`COLUMNS`]' values.
const VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16";

/// The columns [`COLUMNS`] sets, each from its bound value, for an `UPDATE`.
const SET: &str = "owner = $2, pattern = $3, url = $4, secret = $5, \
     previous_secrets = $6, previous_until = $7, digest = $8, signer = $9, content_type = $10, \
     standard_webhooks = $11, enabled = $12, rate_limit_per_second = $13, rate_limit_burst = $14, \
     max_in_flight = $15, ordered = $16, updated_at = now()";

/// The upsert of one subscription into `table` (last writer wins); the
/// stored revision.
pub(crate) fn upsert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS s ({COLUMNS}) VALUES ({VALUES}) \
         ON CONFLICT (id) DO UPDATE SET {SET}, revision = s.revision + 1 RETURNING revision"
    )
}

/// The insert of a new subscription into `table`; its revision, or no row
/// when the id is taken.
pub(crate) fn insert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} ({COLUMNS}) VALUES ({VALUES}) \
         ON CONFLICT (id) DO NOTHING RETURNING revision"
    )
}

/// The change of a subscription still at revision `$17`; its new
/// revision, or no row when it changed or went.
pub(crate) fn update_sql(table: &str) -> String {
    format!(
        "UPDATE {table} SET {SET}, revision = revision + 1 WHERE id = $1 AND revision = $17 \
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
        .bind(sub.enabled)
        .bind(sub.rate_limit.map(|r| i64::from(r.per_second)))
        .bind(sub.rate_limit.map(|r| i64::from(r.burst)))
        .bind(sub.max_in_flight.map(i64::from))
        .bind(sub.ordered))
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
    if let (Some(per_second), Some(burst)) = (
        count(row, "rate_limit_per_second")?,
        count(row, "rate_limit_burst")?,
    ) {
        builder = builder.rate_limit(per_second, burst);
    }
    if let Some(n) = count(row, "max_in_flight")? {
        builder = builder.max_in_flight(n);
    }
    builder = builder.ordered(row.try_get("ordered").map_err(db)?);
    let mut sub = builder.build()?;
    sub.revision = u64::try_from(row.try_get::<i64, _>("revision").map_err(db)?).unwrap_or(0);
    Ok(sub)
}

/// A limit's column: a `bigint` that the table's checks keep within a
/// `u32`.
fn count(row: &PgRow, name: &str) -> Result<Option<u32>> {
    let Some(n) = row.try_get::<Option<i64>, _>(name).map_err(db)? else {
        return Ok(None);
    };
    u32::try_from(n).map(Some).map_err(|_| Error::Store {
        retryable: false,
        source: format!("postgres: {name} is {n}, beyond what a subscription holds").into(),
    })
}
