//! `thorn verify` accepts the check values of both signers, made by
//! Python's own `hmac` and `itsdangerous`, and rejects a changed body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{TempDir, thorn, thorn_with_input};

/// Signs the body file with Python: plain HMAC (base64) or Python Thorn's
/// signer (itsdangerous).
const SIGN: &str = r#"
import base64, hashlib, hmac, sys
from itsdangerous import Signer
scheme, secret, digest, path = sys.argv[1:5]
body = open(path, "rb").read()
method = getattr(hashlib, digest)
if scheme == "hmac":
    print(base64.b64encode(hmac.new(secret.encode(), body, method).digest()).decode())
else:
    print(Signer(secret, digest_method=method).get_signature(body).decode())
"#;

fn python_signs(scheme: &str, secret: &str, digest: &str, path: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", SIGN, scheme, secret, digest, path])
        .output()
        .expect("python3 runs (scripts/test installs itsdangerous)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn both_signers_verify_and_a_changed_body_does_not() {
    let dir = TempDir::new("verify");
    let body = dir.file("body.json", br#"{"id": 1, "name": "Ada"}"#);
    let changed = dir.file("changed.json", br#"{"id": 2, "name": "Ada"}"#);
    for (scheme, digest) in [
        ("hmac", "sha256"),
        ("hmac", "sha1"),
        ("compat", "sha256"),
        ("compat", "sha512"),
    ] {
        let value = python_signs(scheme, "s3cret", digest, &body);
        let out = thorn(
            &["verify", "--secret", "s3cret", "--hmac", &value, &body],
            &[],
        )
        .await;
        assert_eq!(out.ok().trim(), format!("ok ({scheme} {digest})"));

        let pinned = thorn(
            &[
                "verify", "--secret", "s3cret", "--signer", scheme, "--digest", digest, "--hmac",
                &value, &body,
            ],
            &[],
        )
        .await;
        assert_eq!(pinned.ok().trim(), format!("ok ({scheme} {digest})"));

        let bad = thorn(
            &["verify", "--secret", "s3cret", "--hmac", &value, &changed],
            &[],
        )
        .await;
        assert_eq!(bad.code, 1, "{bad:?}");
        assert!(bad.stdout.starts_with("mismatch"), "{bad:?}");

        let other_key = thorn(
            &["verify", "--secret", "other", "--hmac", &value, &body],
            &[],
        )
        .await;
        assert_eq!(other_key.code, 1, "{other_key:?}");
    }
    // The body from stdin, as `-` or by default.
    let value = python_signs("hmac", "s3cret", "sha256", &body);
    let piped = thorn_with_input(
        &["verify", "--secret", "s3cret", "--hmac", &value],
        &[],
        br#"{"id": 1, "name": "Ada"}"#,
    )
    .await;
    assert_eq!(piped.ok().trim(), "ok (hmac sha256)");
}

/// Signs `{id}.{timestamp}.{body}` with Python, as the Standard Webhooks
/// specification says: HMAC-SHA256 under the base64 key after `whsec_`.
const SIGN_STANDARD: &str = r#"
import base64, hashlib, hmac, sys, time
key, msg_id, path = sys.argv[1:4]
body = open(path, "rb").read()
ts = str(int(time.time()))
mac = hmac.new(base64.b64decode(key[len("whsec_"):]), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256)
print(ts, "v1," + base64.b64encode(mac.digest()).decode())
"#;

#[tokio::test]
async fn standard_webhooks_headers_verify() {
    let dir = TempDir::new("verify-standard");
    let body = dir.file("body.json", br#"{"test": 2432232314}"#);
    let changed = dir.file("changed.json", br#"{"test": 2432232315}"#);
    let key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = Command::new("python3")
        .args(["-c", SIGN_STANDARD, key, "msg_1", &body])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (ts, sig) = text.trim().split_once(' ').unwrap();
    let args = |file: &str| {
        vec![
            "verify".to_owned(),
            "--secret".into(),
            key.into(),
            "--webhook-id".into(),
            "msg_1".into(),
            "--webhook-timestamp".into(),
            ts.into(),
            "--webhook-signature".into(),
            sig.into(),
            file.into(),
        ]
    };
    let run = |file: &str| {
        let a = args(file);
        async move { thorn(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await }
    };
    assert_eq!(run(&body).await.ok().trim(), "ok (standard webhooks)");
    let bad = run(&changed).await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.contains("does not match"), "{bad:?}");

    let usage = thorn(&["verify", "--secret", key, &body], &[]).await;
    assert_eq!(usage.code, 2, "a scheme is required: {usage:?}");
}

/// URL-safe base64 (the compat signer's) starts with `-` about once in 64
/// signatures, and secrets may start with one: such values are values,
/// not flags.
#[tokio::test]
async fn values_that_begin_with_a_dash_are_values() {
    let dir = TempDir::new("verify-dash");
    let body = dir.file("body.json", br#"{"id": 9}"#);
    // A signature made for another body: read as the signature all the
    // same, so the answer is a mismatch (1), not a usage error (2).
    let other = thorn(
        &[
            "verify",
            "--secret",
            "another-Secret_42",
            "--hmac",
            "-TOIKHEZapM_XkM9oN2PcA9E7yrsQ3yOBfb9_T_Kxgg",
            &body,
        ],
        &[],
    )
    .await;
    assert_eq!(other.code, 1, "{other:?}");
    assert!(other.stdout.starts_with("mismatch"), "{other:?}");

    let value = python_signs("compat", "another-Secret_42", "sha256", &body);
    assert!(value.starts_with('-'), "the body is chosen for it: {value}");
    let out = thorn(
        &[
            "verify",
            "--secret",
            "another-Secret_42",
            "--hmac",
            &value,
            &body,
        ],
        &[],
    )
    .await;
    assert_eq!(out.ok().trim(), "ok (compat sha256)");

    let dashed = dir.file("dashed.json", br#"{"id": 12}"#);
    let value = python_signs("compat", "-s3cret", "sha256", &dashed);
    assert!(value.starts_with('-'), "{value}");
    let out = thorn(
        &["verify", "--secret", "-s3cret", "--hmac", &value, &dashed],
        &[],
    )
    .await;
    assert_eq!(out.ok().trim(), "ok (compat sha256)");
}
