//! `thorn listen`: a local receiver that prints each delivery and what
//! its signatures say.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use thorn_core::delivery::headers;
use thorn_core::{Digest, Secret, Signer, signing};

use crate::cli::ListenArgs;
use crate::failure::{Failure, Outcome};
use crate::signal::StopSignal;

/// The keys to check signatures with, and the answer to give.
struct Listener {
    secret: Option<Secret>,
    whsec: Option<Secret>,
    status: StatusCode,
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(args: ListenArgs) -> Outcome<ExitCode> {
    let key = |flag: &str, text: &Option<String>| -> Outcome<Option<Secret>> {
        text.as_deref()
            .map(|t| Secret::new(t).map_err(|e| Failure::Usage(format!("invalid {flag}: {e}"))))
            .transpose()
    };
    let listener = Listener {
        secret: key("--secret", &args.secret)?,
        whsec: key("--whsec", &args.whsec)?,
        status: StatusCode::from_u16(args.status)
            .map_err(|e| Failure::Usage(format!("invalid --status {}: {e}", args.status)))?,
    };
    let signal = StopSignal::listen();
    let socket = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .map_err(|e| {
            Failure::failed(format!(
                "cannot listen on {}:{}: {e}; pick another --port (0 takes any free one)",
                args.host, args.port
            ))
        })?;
    let addr = socket
        .local_addr()
        .map_err(|e| Failure::failed(format!("the listening address: {e}")))?;
    println!("listening on http://{addr}/");
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::new(listener));
    axum::serve(socket, app)
        .with_graceful_shutdown(signal.received())
        .await
        .map_err(|e| Failure::failed(format!("serving: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn receive(
    State(listener): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers_in: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers_in.get(name).and_then(|v| v.to_str().ok());
    let mut out = format!(
        "{method} {uri} event={} delivery={} subscription={}\n",
        header(headers::HOOK_EVENT).unwrap_or("-"),
        header(headers::HOOK_DELIVERY).unwrap_or("-"),
        header(headers::HOOK_SUBSCRIPTION).unwrap_or("-"),
    );
    out.push_str(&format!(
        "  hook-hmac: {}\n",
        hook_verdict(listener.secret.as_ref(), header(headers::HOOK_HMAC), &body)
    ));
    let standard_key = listener.whsec.as_ref().or(listener.secret.as_ref());
    out.push_str(&format!(
        "  standard-webhooks: {}\n",
        standard_verdict(
            standard_key,
            header(headers::WEBHOOK_ID),
            header(headers::WEBHOOK_TIMESTAMP),
            header(headers::WEBHOOK_SIGNATURE),
            &body
        )
    ));
    for line in crate::output::body(&body).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    print!("{out}");
    listener.status
}

/// What `Hook-HMAC` says under `secret`: which signer and digest matched.
pub(crate) fn hook_verdict(secret: Option<&Secret>, header: Option<&str>, body: &[u8]) -> String {
    let Some(header) = header else {
        return "not sent".into();
    };
    let Some(secret) = secret else {
        return "not checked (no --secret)".into();
    };
    for signer in [Signer::Hmac, Signer::Compat] {
        for digest in [Digest::Sha256, Digest::Sha1, Digest::Sha512] {
            if signer
                .verify(secret.hook_key(), digest, body, header)
                .is_ok()
            {
                return format!("ok ({} {})", signer.as_str(), digest.as_str());
            }
        }
    }
    "mismatch (no signer or digest matches the body under --secret)".into()
}

/// What the Standard Webhooks headers say under `key`.
pub(crate) fn standard_verdict(
    key: Option<&Secret>,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> String {
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        // Standard Webhooks headers are sent only when a subscription asks
        // for them: none is no failure; some without the others is.
        let missing: Vec<&str> = [
            (headers::WEBHOOK_ID, id),
            (headers::WEBHOOK_TIMESTAMP, timestamp),
            (headers::WEBHOOK_SIGNATURE, signature),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.is_none().then_some(name))
        .collect();
        return if missing.len() == 3 {
            "not sent".into()
        } else {
            format!("incomplete: {} missing", missing.join(" and "))
        };
    };
    let Some(key) = key else {
        return "not checked (no --whsec or --secret)".into();
    };
    match signing::verify_standard(
        &[key.standard_key()],
        id,
        timestamp,
        signature,
        body,
        SystemTime::now(),
    ) {
        Ok(()) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{hook_verdict, standard_verdict};

    #[test]
    fn headers_not_sent_are_no_failure_and_some_without_the_others_are() {
        assert_eq!(hook_verdict(None, None, b"{}"), "not sent");
        assert_eq!(standard_verdict(None, None, None, None, b"{}"), "not sent");
        assert_eq!(
            standard_verdict(None, Some("msg_1"), None, Some("v1,x"), b"{}"),
            "incomplete: webhook-timestamp missing"
        );
    }
}
