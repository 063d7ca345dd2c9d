//! The settings of the Redis backend, declared here and read from the
//! [`Config`](thorn_core::Config): core knows nothing of them.

use std::time::Duration;

use thorn_core::config::{Setting, SettingDoc, parse, redact_url};

/// The Redis server (`THORN_REDIS_URL`); its password never shows in
/// errors.
pub const URL: Setting<String> = Setting::new(
    "THORN_REDIS_URL",
    "redis://127.0.0.1:6379",
    "the Redis backend's server, `redis://[:password@]host[:port][/db]` or `rediss://…`",
    url,
)
.shown_as(redact_url);

/// The queue's name (`THORN_REDIS_QUEUE`): its keys are `thorn:{queue}:…`.
pub const QUEUE: Setting<String> = Setting::new(
    "THORN_REDIS_QUEUE",
    "default",
    "the Redis backend's queue name",
    queue,
);

/// How long a stopping worker waits for the deliveries in flight
/// (`THORN_SHUTDOWN_GRACE`); those still running then are given up, and
/// their entries go to another worker after the ack deadline.
pub const SHUTDOWN_GRACE: Setting<Duration> = Setting::new(
    "THORN_SHUTDOWN_GRACE",
    "30s",
    "how long a stopping worker waits for deliveries in flight before it leaves them to another worker",
    parse::duration,
)
.checked(parse::duration_range);

/// Every setting of the Redis backend, in the order of the README's table.
pub const SETTINGS: &[SettingDoc] = &[URL.doc(), QUEUE.doc(), SHUTDOWN_GRACE.doc()];

fn url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {
            Ok(text.to_owned())
        }
        Ok(u) => Err(format!(
            "scheme {:?} is not redis:// or rediss://",
            u.scheme()
        )),
        Err(e) => Err(format!(
            "{e}; expected redis://[:password@]host[:port][/db]"
        )),
    }
}

fn queue(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if ok {
        Ok(name.to_owned())
    } else {
        Err("a queue name is 1 to 100 letters, digits, `_`, `-`, `.` or `:`".into())
    }
}

#[cfg(test)]
mod tests {
    use thorn_core::Config;

    use super::{QUEUE, URL};

    #[test]
    fn bad_values_name_the_variable_and_hide_the_password() {
        for (setting, value) in [
            (&URL, "http://127.0.0.1:6379"),
            (&URL, "redis://:topsecret@[bad"),
            (&QUEUE, "no spaces"),
            (&QUEUE, ""),
        ] {
            let from_env = Config::from_vars([(setting.name(), value)])
                .unwrap()
                .get(setting)
                .unwrap_err()
                .to_string();
            assert!(from_env.contains(setting.name()), "{from_env}");
            assert!(!from_env.contains("topsecret"), "{from_env}");
            let built = Config::builder().set(setting, value).build().unwrap_err();
            assert_eq!(built.to_string(), from_env);
        }
        let e = Config::from_vars([("THORN_REDIS_URL", "redis://:topsecret@x:1/ ftp")]);
        assert!(!format!("{e:?}").contains("topsecret"));
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.get(&URL).unwrap(), "redis://127.0.0.1:6379");
        assert_eq!(c.get(&QUEUE).unwrap(), "default");
    }
}
