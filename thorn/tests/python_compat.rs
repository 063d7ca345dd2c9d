//! A receiver written for Python Thorn verifies deliveries from Thorn for
//! Rust unchanged: Python's own `itsdangerous` (installed by the test
//! script) checks a real delivery's `Hook-HMAC`, signed by
//! `THORN_HMAC_SIGNER=compat` or by a subscription's own choice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use thorn::testkit::receiver::MockReceiver;
use thorn::{Config, Digest, Event, RecipientPolicy, Signer, Subscriber, Thorn};

/// What Python Thorn's receivers do: itsdangerous's `Signer` with the
/// subscription's digest verifies the body against the header.
const VERIFY: &str = r#"
import hashlib, sys
from itsdangerous import Signer
secret, digest, signature, path = sys.argv[1:5]
body = open(path, "rb").read()
ok = Signer(secret, digest_method=getattr(hashlib, digest)).verify_signature(body, signature.encode())
print("verified" if ok else "rejected")
"#;

fn python_verifies(secret: &str, digest: &str, signature: &str, body: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("thorn-compat-{}-{digest}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("body");
    std::fs::write(&path, body).unwrap();
    let out = Command::new("python3")
        .args(["-c", VERIFY, secret, digest, signature])
        .arg(&path)
        .output()
        .expect("python3 runs (scripts/test installs itsdangerous)");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn python_itsdangerous_verifies_a_real_delivery() {
    for (global, own, digest, name) in [
        ("compat", None, Digest::Sha256, "sha256"),
        ("hmac", Some(Signer::Compat), Digest::Sha1, "sha1"),
        ("compat", None, Digest::Sha512, "sha512"),
    ] {
        let receiver = MockReceiver::builder()
            .secret("s3cret", digest)
            .signer(Signer::Compat)
            .start()
            .await
            .unwrap();
        let mut config = Config::from_vars([("THORN_HMAC_SIGNER", global)]).unwrap();
        config.recipients = RecipientPolicy::allow_loopback_any_port();
        let mut sub = Subscriber::builder("user.*", receiver.url("/hook"), "s3cret").digest(digest);
        if let Some(own) = own {
            sub = sub.signer(own);
        }
        let thorn = Thorn::new(config, &thorn::registry()).unwrap();
        thorn.subscribe(sub.build().unwrap()).await.unwrap();
        let event =
            Event::new("user.created", serde_json::json!({"id": 1, "name": "Ada"})).unwrap();
        let report = thorn.send(event).await.unwrap();
        assert_eq!(report.count(thorn::Status::Delivered), 1, "{report:?}");
        let request = &receiver.requests()[0];
        let signature = request.header("hook-hmac").unwrap();
        assert_eq!(
            python_verifies("s3cret", name, signature, &request.body),
            "verified"
        );
        assert_eq!(
            python_verifies("wrong", name, signature, &request.body),
            "rejected"
        );
        request
            .verify_hook_with(Signer::Compat, "s3cret", digest)
            .unwrap();
        assert_eq!(
            request.signature_ok,
            Some(true),
            "the receiver checks the compat scheme"
        );
        assert!(
            request.verify_hook("s3cret", digest).is_err(),
            "not plain HMAC"
        );
    }
}
