//! The quickstart runs as the README says, keeps the user's recipient
//! setting, and reports a bad setting in words.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn quickstart(vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("THORN_")) {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied())
        .output()
        .expect("the quickstart runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn delivers_every_event_signed_through_default() {
    let out = quickstart(&[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("summary: 9 deliveries: 9 delivered, 0 failed"),
        "{text}"
    );
    assert_eq!(text.matches("(signature ok)").count(), 9, "{text}");
}

#[test]
fn adds_its_receiver_to_the_user_s_recipient_setting() {
    let kept = quickstart(&[("THORN_RECIPIENT_VALIDATORS", "allow_cidr=10.1.0.0/16")]);
    assert!(stdout(&kept).contains("9 delivered"), "{}", stdout(&kept));
    let out = quickstart(&[(
        "THORN_RECIPIENT_VALIDATORS",
        "allow_cidr=10.1.0.0/16,https_only",
    )]);
    // https_only stays: the receiver's plain http URL is refused when it is
    // subscribed, and the advice keeps the user's own range.
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plain http is not allowed"), "{err}");
    assert!(err.contains("allow_cidr=10.1.0.0/16"), "{err}");
}

#[test]
fn disabled_sends_nothing() {
    let text = stdout(&quickstart(&[("THORN_DISPATCHER", "disabled")]));
    assert!(text.contains("9 dropped"), "{text}");
    assert!(text.contains("the receiver got 0 requests"), "{text}");
}

#[test]
fn a_bad_setting_is_reported_in_words() {
    let out = quickstart(&[("THORN_EVENT_TIMEOUT", "soon")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid setting THORN_EVENT_TIMEOUT=\"soon\""),
        "{err}"
    );
    assert!(!err.contains("InvalidSetting"), "Debug form: {err}");
}
