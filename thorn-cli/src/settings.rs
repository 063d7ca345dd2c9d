//! Settings: the `THORN_*` variables, then the flags that override them,
//! each checked exactly as its variable is, an error naming the flag as
//! typed.

use thorn_core::config::{ConfigBuilder, Setting};
use thorn_core::{Config, Error};

use crate::cli::SettingFlags;
use crate::failure::{Failure, Outcome};

/// The config of the environment with `flags` applied.
pub(crate) fn config(flags: &SettingFlags) -> Outcome<Config> {
    let mut config = Config::from_env()?;
    if let Some(url) = &flags.redis_url {
        config = apply(config, "--redis-url", &thorn_redis::settings::URL, url)?;
    }
    if let Some(queue) = &flags.queue {
        config = apply(config, "--queue", &thorn_redis::settings::QUEUE, queue)?;
    }
    if let Some(url) = &flags.pg_url {
        config = apply(config, "--pg-url", &thorn::postgres::settings::URL, url)?;
    }
    if let Some(path) = &flags.ca_file {
        let path = path.display().to_string();
        config = apply(config, "--ca-file", &thorn_http::settings::CA_FILE, &path)?;
    }
    for pair in &flags.set {
        config = set_pair(config, pair)?;
    }
    Ok(config)
}

/// Applies one flag standing for `setting` to `config`.
pub(crate) fn apply<T>(
    config: Config,
    flag: &str,
    setting: &Setting<T>,
    value: &str,
) -> Outcome<Config> {
    rebuild(config, |b| b.set(setting, value)).map_err(|e| flag_error(flag, e))
}

/// Applies `--set THORN_NAME=VALUE`.
fn set_pair(config: Config, pair: &str) -> Outcome<Config> {
    let Some((name, value)) = pair.split_once('=') else {
        return Err(Failure::Usage(format!(
            "--set {pair:?}: expected THORN_NAME=VALUE, such as --set THORN_RETRY_MAX=3"
        )));
    };
    if !name.starts_with("THORN_") {
        return Err(Failure::Usage(format!(
            "--set {pair:?}: {name:?} is not a THORN_ variable; see the README's table of settings"
        )));
    }
    rebuild(config, |b| b.var(name, value)).map_err(|e| flag_error(&format!("--set {name}"), e))
}

fn rebuild(
    config: Config,
    set: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> Result<Config, Error> {
    set(Config::builder().with(|c| *c = config)).build()
}

/// An error of a flag's value, naming the flag as typed (and the variable
/// it stands for).
pub(crate) fn flag_error(flag: &str, error: Error) -> Failure {
    match error {
        Error::InvalidSetting {
            name,
            value,
            reason,
        } if name != flag && !flag.ends_with(name) => Failure::Usage(format!(
            "invalid {flag} {value:?} (the flag of {name}): {reason}"
        )),
        Error::InvalidSetting { value, reason, .. } => {
            Failure::Usage(format!("invalid {flag} {value:?}: {reason}"))
        }
        other => Failure::Usage(format!("{flag}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::{config, set_pair};
    use crate::cli::SettingFlags;

    #[test]
    fn a_bad_flag_value_names_the_flag() {
        let cases = [
            (
                SettingFlags {
                    queue: Some("no spaces".into()),
                    ..SettingFlags::default()
                },
                "invalid --queue \"no spaces\"",
            ),
            (
                SettingFlags {
                    redis_url: Some("http://127.0.0.1:6379".into()),
                    ..SettingFlags::default()
                },
                "invalid --redis-url",
            ),
            (
                SettingFlags {
                    set: vec!["THORN_RETRY_MAX=lots".into()],
                    ..SettingFlags::default()
                },
                "invalid --set THORN_RETRY_MAX \"lots\"",
            ),
        ];
        for (flags, says) in cases {
            let e = config(&flags).unwrap_err().to_string();
            assert!(e.starts_with(says), "{e}");
        }
    }

    #[test]
    fn set_takes_only_thorn_variables() {
        let c = thorn_core::Config::default();
        assert!(
            set_pair(c.clone(), "PATH=/")
                .unwrap_err()
                .to_string()
                .contains("not a THORN_ variable")
        );
        assert!(
            set_pair(c.clone(), "THORN_RETRY_MAX")
                .unwrap_err()
                .to_string()
                .contains("expected THORN_NAME=VALUE")
        );
        let c = set_pair(c, "THORN_RETRY_MAX=3").unwrap();
        assert_eq!(c.retry.max_retries, 3);
    }
}
