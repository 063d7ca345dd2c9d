//! The application's own settings (`AXUM_APP_*`), and the one allowance it
//! adds to Thorn's recipient policy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use thorn::{RecipientPolicy, Secret, Subscriber};

/// Where to listen when `AXUM_APP_ADDR` is unset.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3000));

/// Where `order.created` goes when `AXUM_APP_HOOK_URL` is unset: the
/// `axum_receiver` example at its default address.
pub const DEFAULT_HOOK_URL: &str = "http://127.0.0.1:3001/hooks";

/// Where the application listens and where its `order.*` events go.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (`AXUM_APP_ADDR`, default [`DEFAULT_ADDR`]).
    pub addr: SocketAddr,
    /// The receiver of `order.*` events (`AXUM_APP_HOOK_URL`, default
    /// [`DEFAULT_HOOK_URL`]).
    pub hook_url: String,
    /// The secret the receiver verifies with (`AXUM_APP_HOOK_SECRET`,
    /// required).
    pub hook_secret: Secret,
}

/// A setting that is missing or has a value the application cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct SettingsError {
    var: &'static str,
    reason: String,
}

impl SettingsError {
    /// The variable that was wrong.
    pub fn var(&self) -> &'static str {
        self.var
    }
}

impl Settings {
    /// Settings with `hook_secret` and every other setting at its default.
    pub fn new(hook_secret: Secret) -> Self {
        Settings {
            addr: DEFAULT_ADDR,
            hook_url: DEFAULT_HOOK_URL.to_owned(),
            hook_secret,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from `lookup`, which gives a variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        const SECRET: &str = "AXUM_APP_HOOK_SECRET";
        let text = lookup(SECRET).ok_or_else(|| SettingsError {
            var: SECRET,
            reason: "is unset; give it the secret the receiver verifies with".into(),
        })?;
        // Thorn's message names the problem and never the secret.
        let secret = Secret::new(text).map_err(|e| SettingsError {
            var: SECRET,
            reason: e.to_string(),
        })?;
        let mut settings = Settings::new(secret);
        if let Some(v) = lookup("AXUM_APP_ADDR") {
            settings.addr = v.trim().parse().map_err(|_| SettingsError {
                var: "AXUM_APP_ADDR",
                reason: format!("{v:?} is not an address such as 127.0.0.1:3000"),
            })?;
        }
        if let Some(v) = lookup("AXUM_APP_HOOK_URL") {
            // Checked when the subscription is built, with Thorn's message.
            settings.hook_url = v;
        }
        Ok(settings)
    }
}

/// Adds to `policy` what a receiver on this machine needs, when
/// `subscription` is one: loopback and its port. The rest of the policy is
/// the user's `THORN_RECIPIENT_VALIDATORS`, kept as it is; any other
/// receiver stays subject to it. Whether anything was added.
pub fn allow_local_receiver(policy: &mut RecipientPolicy, subscription: &Subscriber) -> bool {
    let url = subscription.url();
    let host = url.host_str().unwrap_or_default();
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local {
        return false;
    }
    policy.allow_loopback = true;
    if let (Some(ports), Some(port)) = (policy.ports.as_mut(), url.port_or_known_default()) {
        ports.insert(port);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_for(url: &str, user: &str) -> (bool, String) {
        let sub = Subscriber::builder("order.*", url, "k").build().unwrap();
        let mut policy = RecipientPolicy::parse(user).unwrap();
        let added = allow_local_receiver(&mut policy, &sub);
        (added, policy.to_string())
    }

    #[test]
    fn a_local_receiver_is_added_to_the_users_policy() {
        let user = "https_only,allow_port=8443,allow_cidr=10.9.0.0/16";
        assert_eq!(
            policy_for("http://127.0.0.1:3001/hooks", user),
            (
                true,
                "allow_loopback,https_only,allow_port=3001,allow_port=8443,allow_cidr=10.9.0.0/16"
                    .into()
            )
        );
        assert_eq!(
            policy_for("http://[::1]:3001/", "allow_any_port"),
            (true, "allow_loopback,allow_any_port".into())
        );
        assert_eq!(
            policy_for("http://localhost/", ""),
            (true, "allow_loopback".into())
        );
    }

    #[test]
    fn any_other_receiver_adds_nothing() {
        for url in ["https://example.com:8443/", "http://10.0.0.1:3001/"] {
            assert_eq!(policy_for(url, "default"), (false, "default".into()));
        }
    }

    #[test]
    fn the_secret_is_required_and_never_echoed() {
        let read = |vars: &'static [(&str, &str)]| {
            Settings::from_lookup(|n| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(read(&[]).unwrap_err().var(), "AXUM_APP_HOOK_SECRET");
        let e = read(&[("AXUM_APP_HOOK_SECRET", "whsec_??")]).unwrap_err();
        assert!(!e.to_string().contains("??"), "{e}");
        let s = read(&[("AXUM_APP_HOOK_SECRET", "k")]).unwrap();
        assert_eq!(
            (s.addr, s.hook_url.as_str()),
            (DEFAULT_ADDR, DEFAULT_HOOK_URL)
        );
    }
}
