//! `thorn verify`: checks a signature and says which scheme matched, or
//! why none did.

use std::process::ExitCode;

use thorn_core::{Digest, Secret, Signer};
use tokio::io::AsyncReadExt as _;

use super::listen::{hook_verdict, standard_verdict};
use crate::cli::{SignerKind, VerifyArgs};
use crate::failure::{Failure, Outcome};

/// Exit 0 when the signature verifies, 1 when it does not.
pub(crate) async fn run(args: VerifyArgs) -> Outcome<ExitCode> {
    let secret =
        Secret::new(&args.secret).map_err(|e| Failure::Usage(format!("invalid --secret: {e}")))?;
    let digest = match args.digest.as_deref() {
        None => None,
        Some(text) => Some(Digest::parse(text).ok_or_else(|| {
            Failure::Usage(format!(
                "invalid --digest {text:?}: use sha1, sha256 or sha512"
            ))
        })?),
    };
    let body = read_body(&args.body).await?;
    let verdict = if let Some(hmac) = &args.hmac {
        match (args.signer, digest) {
            (None, None) => hook_verdict(Some(&secret), Some(hmac), &body),
            (signer, digest) => one_hook(&secret, signer, digest, hmac, &body),
        }
    } else {
        let verdict = standard_verdict(
            Some(&secret),
            args.webhook_id.as_deref(),
            args.webhook_timestamp.as_deref(),
            args.webhook_signature.as_deref(),
            &body,
        );
        if verdict == "ok" {
            "ok (standard webhooks)".into()
        } else {
            verdict
        }
    };
    println!("{verdict}");
    Ok(if verdict.starts_with("ok") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks `Hook-HMAC` under the given signer and digest (the others tried
/// when one is left open).
fn one_hook(
    secret: &Secret,
    signer: Option<SignerKind>,
    digest: Option<Digest>,
    header: &str,
    body: &[u8],
) -> String {
    let signers: &[Signer] = match signer {
        Some(SignerKind::Hmac) => &[Signer::Hmac],
        Some(SignerKind::Compat) => &[Signer::Compat],
        None => &[Signer::Hmac, Signer::Compat],
    };
    let all = [Digest::Sha256, Digest::Sha1, Digest::Sha512];
    let digests: Vec<Digest> = digest.map_or_else(|| all.to_vec(), |d| vec![d]);
    let mut last = String::new();
    for &signer in signers {
        for &digest in &digests {
            match signer.verify(secret.hook_key(), digest, body, header) {
                Ok(()) => {
                    return format!("ok ({} {})", signer.as_str(), digest.as_str());
                }
                Err(e) => last = e.to_string(),
            }
        }
    }
    format!("mismatch: {last}")
}

async fn read_body(from: &str) -> Outcome<Vec<u8>> {
    let mut body = Vec::new();
    if from == "-" {
        tokio::io::stdin()
            .read_to_end(&mut body)
            .await
            .map_err(|e| Failure::failed(format!("reading the body from stdin: {e}")))?;
    } else {
        body = tokio::fs::read(from)
            .await
            .map_err(|e| Failure::Usage(format!("BODY_FILE {from:?}: cannot read it: {e}")))?;
    }
    Ok(body)
}
