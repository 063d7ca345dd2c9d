use std::path::PathBuf;
use std::time::Duration;

use crate::config::core::SETTINGS;
use crate::config::{Config, Setting, parse};
use crate::error::Result;
use crate::policy::RecipientPolicy;
use crate::redirect::RedirectPolicy;
use crate::retry::RetryPolicy;

fn from(pairs: &[(&str, &str)]) -> Result<Config> {
    Config::from_vars(pairs.iter().copied())
}

#[test]
fn defaults_are_the_declared_ones() {
    let c = from(&[]).unwrap();
    assert_eq!(c.dispatcher, "default");
    assert_eq!(c.chunk_size, 10);
    assert_eq!(c.event_timeout, Duration::from_secs(3));
    assert!(c.retry.enabled);
    assert_eq!(c.retry.max_retries, 10);
    assert_eq!(c.allow_redirects, RedirectPolicy::Never);
    assert_eq!(c.recipients, RecipientPolicy::default());
    // The typed defaults agree with each declaration's default text.
    let mut declared = Config::default();
    for s in SETTINGS {
        if !s.default.is_empty() {
            declared.set_var(s.name, s.default).unwrap();
        }
    }
    declared.vars.clear();
    assert_eq!(format!("{declared:?}"), format!("{:?}", Config::default()));
}

#[test]
fn every_variable_is_read_and_every_thorn_variable_kept() {
    let c = from(&[
        ("THORN_DISPATCHER", "queue"),
        ("THORN_CHUNKSIZE", "25"),
        ("THORN_EVENT_TIMEOUT", "250ms"),
        ("THORN_RETRY", "false"),
        ("THORN_RETRY_MAX", "3"),
        ("THORN_RETRY_DELAY", "0.5"),
        ("THORN_RETRY_MAX_DELAY", "2m"),
        (
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_port=8080",
        ),
        ("THORN_ALLOW_REDIRECTS", "yes"),
        ("THORN_SUBSCRIBERS", "/etc/thorn/subs.json"),
        ("THORN_CONCURRENCY", "8"),
        ("THORN_ENVELOPE", "1"),
        ("THORN_STANDARD_WEBHOOKS", "on"),
        ("THORN_HMAC_SIGNER", "compat"),
        ("THORN_MYQUEUE_URL", "mq://:pw@127.0.0.1/"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(c.dispatcher, "queue");
    assert_eq!(c.chunk_size, 25);
    assert_eq!(c.event_timeout, Duration::from_millis(250));
    assert!(!c.retry.enabled);
    assert_eq!(c.retry.max_retries, 3);
    assert_eq!(c.retry.base_delay, Duration::from_millis(500));
    assert_eq!(c.retry.max_delay, Duration::from_secs(120));
    assert!(c.recipients.allow_loopback);
    assert!(c.recipients.ports.as_ref().unwrap().contains(&8080));
    assert_eq!(c.allow_redirects, RedirectPolicy::SameOrigin);
    assert_eq!(
        c.subscribers_file,
        Some(PathBuf::from("/etc/thorn/subs.json"))
    );
    assert_eq!(c.concurrency, 8);
    assert!(c.envelope);
    assert!(c.standard_webhooks);
    assert_eq!(c.hmac_signer, crate::signer::Signer::Compat);
    assert_eq!(c.var("THORN_MYQUEUE_URL"), Some("mq://:pw@127.0.0.1/"));
    assert_eq!(c.var("HOME"), None, "only THORN_* variables are kept");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("pw@"), "{dbg}");
}

#[test]
fn a_bad_value_of_each_names_variable_and_value() {
    let cases = [
        ("THORN_CHUNKSIZE", "0"),
        ("THORN_CHUNKSIZE", "ten"),
        ("THORN_EVENT_TIMEOUT", "soon"),
        ("THORN_EVENT_TIMEOUT", "0"),
        ("THORN_RETRY", "maybe"),
        ("THORN_RETRY_MAX", "-1"),
        ("THORN_RETRY_MAX", "1001"),
        ("THORN_RETRY_DELAY", "fast"),
        ("THORN_RETRY_MAX_DELAY", "x1"),
        ("THORN_RECIPIENT_VALIDATORS", "allow_everything"),
        ("THORN_ALLOW_REDIRECTS", "sometimes"),
        ("THORN_CONCURRENCY", "0"),
        ("THORN_ENVELOPE", "2"),
        ("THORN_STANDARD_WEBHOOKS", "y e s"),
        ("THORN_HMAC_SIGNER", "itsdangerous"),
        ("THORN_BREAKER", "sometimes"),
        ("THORN_BREAKER_FAILURES", "0"),
        ("THORN_BREAKER_COOL_DOWN", "a while"),
        ("THORN_BREAKER_MAX_COOL_DOWN", "25h"),
    ];
    for (var, value) in cases {
        let err = from(&[(var, value)]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("{var}={value:?}")), "{var}: {msg}");
        assert!(err.is_invalid_input());
        // The builder's text path gives the same error.
        let built = Config::builder().var(var, value).build().unwrap_err();
        assert_eq!(built.to_string(), msg);
    }
    // Every setting that can be bad has a case: the backend's name and the
    // subscriptions file take any text.
    for s in SETTINGS {
        if !["THORN_DISPATCHER", "THORN_SUBSCRIBERS"].contains(&s.name) {
            assert!(
                cases.iter().any(|(v, _)| *v == s.name),
                "{} has no bad-value case",
                s.name
            );
        }
    }
    let e = from(&[
        ("THORN_BREAKER_COOL_DOWN", "5m"),
        ("THORN_BREAKER_MAX_COOL_DOWN", "1m"),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains("THORN_BREAKER_MAX_COOL_DOWN")
            && e.to_string().contains("make it at least as long"),
        "{e}"
    );
    let e = from(&[
        ("THORN_RETRY_DELAY", "10s"),
        ("THORN_RETRY_MAX_DELAY", "1s"),
    ])
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("THORN_RETRY_MAX_DELAY=\"1s\""), "{text}");
    assert!(text.contains("THORN_RETRY_DELAY (10s)"), "{text}");
}

#[test]
fn durations_are_at_least_a_millisecond_and_errors_show_them_as_given() {
    for (var, value) in [
        ("THORN_EVENT_TIMEOUT", "1e-10"),
        ("THORN_EVENT_TIMEOUT", "0.0001"),
        ("THORN_EVENT_TIMEOUT", "-1"),
        ("THORN_EVENT_TIMEOUT", "NaN"),
        ("THORN_EVENT_TIMEOUT", "1e300"),
        ("THORN_RETRY_DELAY", "0"),
        ("THORN_RETRY_MAX_DELAY", "0"),
        ("THORN_RETRY_MAX_DELAY", "0.5ms"),
    ] {
        let text = from(&[(var, value)]).unwrap_err().to_string();
        assert!(text.contains(&format!("{var}={value:?}")), "{text}");
        assert!(!text.contains("ns"), "{text}");
    }
    let c = from(&[("THORN_EVENT_TIMEOUT", "1ms")]).unwrap();
    assert_eq!(c.event_timeout, Duration::from_millis(1));
    for d in [
        Duration::ZERO,
        Duration::from_nanos(10),
        Duration::from_secs(86_401),
    ] {
        let e = Config::builder().event_timeout(d).build().unwrap_err();
        assert!(e.to_string().contains("THORN_EVENT_TIMEOUT"), "{e}");
    }
    let zero = RetryPolicy::default().with_delays(Duration::ZERO, Duration::from_secs(1));
    assert!(Config::builder().retry(zero).build().is_err());
}

#[test]
fn an_empty_dispatcher_means_the_default() {
    for value in ["", "  "] {
        assert_eq!(
            from(&[("THORN_DISPATCHER", value)]).unwrap().dispatcher,
            "default"
        );
        let built = Config::builder().dispatcher(value).build().unwrap();
        assert_eq!(built.dispatcher, "default");
    }
}

#[test]
fn builder_reports_first_bad_value() {
    let e = Config::builder()
        .chunk_size(0)
        .concurrency(4)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("THORN_CHUNKSIZE"), "{e}");
    let c = Config::builder()
        .concurrency(4)
        .var("THORN_CHUNKSIZE", "7")
        .build()
        .unwrap();
    assert_eq!((c.concurrency, c.chunk_size), (4, 7));
}

const SIZE: Setting<usize> = Setting::new("THORN_TEST_SIZE", "5", "a test setting", parse::count)
    .checked(|n| parse::within(*n, 1, 9));

#[test]
fn a_backend_setting_reads_the_same_from_env_and_builder() {
    assert_eq!(Config::default().get(&SIZE).unwrap(), 5);
    let env = from(&[("THORN_TEST_SIZE", "7")]).unwrap();
    let built = Config::builder()
        .var("THORN_TEST_SIZE", "7")
        .build()
        .unwrap();
    assert_eq!((env.get(&SIZE).unwrap(), built.get(&SIZE).unwrap()), (7, 7));
    let env = from(&[("THORN_TEST_SIZE", "70")])
        .unwrap()
        .get(&SIZE)
        .unwrap_err();
    let built = Config::builder()
        .var("THORN_TEST_SIZE", "70")
        .build()
        .unwrap()
        .get(&SIZE)
        .unwrap_err();
    assert_eq!(env.to_string(), built.to_string());
    assert!(env.to_string().contains("THORN_TEST_SIZE=\"70\""), "{env}");
    // `set` parses at once, so the builder fails.
    let early = Config::builder().set(&SIZE, "70").build().unwrap_err();
    assert_eq!(early.to_string(), env.to_string());
}
