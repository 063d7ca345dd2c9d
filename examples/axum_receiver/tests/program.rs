//! The program itself, configured from the environment: a real Thorn
//! delivers to it in Python Thorn's scheme, it prints what it processed,
//! and SIGTERM stops it cleanly; a bad setting is reported by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::start;
use thorn::{
    Config, Event, RecipientPolicy, Secret, Signatures, Signer, Status, Subscriber, Thorn,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_to_the_program_and_stops_on_sigterm() {
    let secret = Secret::generate();
    let mut program = start(&[
        ("AXUM_RECEIVER_ADDR", "127.0.0.1:0"),
        ("AXUM_RECEIVER_SECRET", secret.expose()),
        ("AXUM_RECEIVER_SIGNER", "compat"),
    ]);
    let listening = program.line().await.unwrap();
    let url = listening
        .strip_prefix("listening on ")
        .expect("the first line says where")
        .to_owned();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches(axum_receiver::PATH)
        .parse()
        .unwrap();
    let port = addr.port();

    let policy = RecipientPolicy::parse(&format!("allow_loopback,allow_port={port}")).unwrap();
    let thorn = Thorn::new(
        Config::builder().recipients(policy).build().unwrap(),
        &thorn::registry(),
    )
    .unwrap();
    let sub = Subscriber::builder("order.*", &url, secret.expose())
        .signer(Signer::Compat)
        .signatures(Signatures::Both)
        .build()
        .unwrap();
    thorn.subscribe(sub).await.unwrap();
    let event = Event::new("order.created", json!({"id": 1})).unwrap();
    let report = thorn.send(event).await.unwrap();
    assert_eq!(report.count(Status::Delivered), 1, "{report:?}");
    let id = report.outcomes[0].delivery;
    assert_eq!(
        program.line().await.unwrap(),
        format!("processed order.created {id} {{\"id\":1}}")
    );

    program.terminate().unwrap();
    assert_eq!(program.line().await.unwrap(), "stopped");
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn a_bad_setting_is_named_in_plain_words() {
    let program = start(&[
        ("AXUM_RECEIVER_SECRET", "s3cret"),
        ("AXUM_RECEIVER_STANDARD", "sometimes"),
    ]);
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "axum_receiver: AXUM_RECEIVER_STANDARD: \"sometimes\" is neither required nor optional"
    );
    let program = start(&[]);
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("AXUM_RECEIVER_SECRET: is unset"),
        "{stderr}"
    );
}
