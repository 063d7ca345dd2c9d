//! The custom backend passes the behaviour suite every backend passes, is
//! chosen by `THORN_DISPATCHER`, and reads its own setting from the
//! environment and from the builder alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use thorn::testkit::suite::{Harness, Suite};
use thorn::{Config, Registry, Thorn};

fn suite() -> Suite {
    Suite::new(custom_backend::NAME, |config| {
        Box::pin(async move {
            let mut registry = Registry::new();
            custom_backend::register(&mut registry);
            Ok(Harness::new(Thorn::new(config, &registry)?))
        })
    })
}

thorn::testkit::behaviour_tests!(suite());

/// Runs the example's program with `vars`; what it printed, or its error.
fn run(vars: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_custom_backend"))
        .env_remove("THORN_DISPATCHER")
        .envs(vars.iter().copied())
        .output()
        .expect("the example runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).trim().to_owned();
    if out.status.success() { Ok(text(out.stdout)) } else { Err(text(out.stderr)) }
}

#[test]
fn chosen_by_name_with_its_own_setting_from_the_environment() {
    let chosen = [("THORN_DISPATCHER", "onebyone"), ("THORN_RETRY_DELAY", "1ms")];
    assert_eq!(run(&chosen).unwrap(), "attempts: 3", "the declared default");
    let two = [chosen[0], chosen[1], ("THORN_ONEBYONE_ATTEMPTS", "2")];
    assert_eq!(run(&two).unwrap(), "attempts: 2");
    let bad = [chosen[0], ("THORN_ONEBYONE_ATTEMPTS", "11")];
    let err = run(&bad).unwrap_err();
    assert!(err.contains("THORN_ONEBYONE_ATTEMPTS=\"11\""), "{err}");
}

#[test]
fn its_setting_from_the_builder_is_checked_as_from_the_environment() {
    let mut registry = Registry::new();
    custom_backend::register(&mut registry);
    let built = |value: &str| {
        let config = Config::builder()
            .dispatcher(custom_backend::NAME)
            .var("THORN_ONEBYONE_ATTEMPTS", value)
            .build()
            .unwrap();
        Thorn::new(config, &registry).map(|t| t.dispatcher().name().to_owned())
    };
    assert_eq!(built("5").unwrap(), "onebyone");
    let from_builder = built("0").unwrap_err().to_string();
    let config =
        Config::from_vars([("THORN_DISPATCHER", "onebyone"), ("THORN_ONEBYONE_ATTEMPTS", "0")])
            .unwrap();
    let from_env = Thorn::new(config, &registry).unwrap_err().to_string();
    assert_eq!(from_builder, from_env);
    assert!(from_env.contains("THORN_ONEBYONE_ATTEMPTS=\"0\""), "{from_env}");
}
