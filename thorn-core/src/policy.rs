//! The recipient policy: which URLs and addresses Thorn may POST to.
//!
//! By default only `http`/`https` on ports 80 and 443 to public addresses.
//! Private, loopback, link-local, multicast, reserved, CGNAT, documentation
//! and unspecified ranges are refused, for IPv4 and IPv6 alike (an IPv4
//! address mapped into IPv6 is judged as IPv4). The unspecified addresses
//! `0.0.0.0` and `::` connect to the local host, so they count as loopback.
//!
//! The allowances are narrow on purpose:
//!
//! - `allow_loopback` opens loopback (127.0.0.0/8, `::1`, `localhost`) and
//!   the unspecified addresses, nothing else.
//! - `allow_private` opens the private and reserved ranges (10.0.0.0/8,
//!   172.16.0.0/12, 192.168.0.0/16, CGNAT, `fc00::/7`, …) but **not**
//!   loopback and **not** link-local (169.254.0.0/16, `fe80::/10`), where
//!   cloud metadata services such as 169.254.169.254 live: those need
//!   `allow_loopback` or an `allow_cidr` that names them.
//! - `allow_cidr=CIDR` opens the addresses of that range (but never the
//!   unspecified addresses, which only `allow_loopback` opens).
//!
//! A [`Refusal`] carries the whole value of `THORN_RECIPIENT_VALIDATORS`
//! that allows exactly what was refused: the current setting plus the one
//! item it lacks. Subscriptions are checked when they are added
//! ([`RecipientPolicy::check_url`]: scheme, port, literal addresses); the
//! HTTP client applies [`RecipientPolicy::check_ip`] to every *resolved*
//! address at connect time, so DNS rebinding cannot slip past.
//!
//! ```
//! use thorn_core::RecipientPolicy;
//! let policy = RecipientPolicy::default();
//! assert!(policy.check_ip("10.0.0.1".parse().unwrap()).is_err());
//! assert!(policy.check_ip("93.184.216.34".parse().unwrap()).is_ok());
//! let dev = RecipientPolicy::parse("allow_loopback,allow_port=8080").unwrap();
//! assert!(dev.check_ip("127.0.0.1".parse().unwrap()).is_ok());
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::{Error, Result};

/// The environment variable of the recipient policy.
pub const VAR: &str = "THORN_RECIPIENT_VALIDATORS";

/// Why the policy refused a target, and what setting would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The refused URL, host or address.
    pub target: String,
    /// The rule that refused it.
    pub rule: &'static str,
    /// The whole value of `THORN_RECIPIENT_VALIDATORS` that allows exactly
    /// what was refused (the current setting plus what it lacks), or `None`
    /// when no setting can (a scheme other than http and https).
    pub allow: Option<String>,
    /// For a loopback target refused for its port: the value that opens
    /// loopback on every port (`allow_loopback,allow_any_port` from the
    /// default), for tests whose receivers listen on a random port that
    /// changes every run. `None` for any other refusal.
    pub any_port: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is refused: {}; ", self.target, self.rule)?;
        match &self.allow {
            Some(value) => write!(f, "to allow it, set {VAR}={value}")?,
            None => f.write_str("no setting allows it: use an http:// or https:// URL")?,
        }
        if let Some(value) = &self.any_port {
            write!(
                f,
                " (tests whose receivers listen on random ports: {VAR}={value})"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// Which recipients are allowed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecipientPolicy {
    /// Allowed ports (default 80 and 443); `None` allows every port.
    pub ports: Option<BTreeSet<u16>>,
    /// Whether plain `http` is allowed (default yes).
    pub allow_http: bool,
    /// Whether loopback addresses (127.0.0.0/8, `::1`, `localhost`) and the
    /// unspecified addresses (`0.0.0.0`, `::`) are allowed.
    pub allow_loopback: bool,
    /// Whether the private and reserved ranges are allowed: never loopback
    /// nor link-local (169.254.0.0/16, `fe80::/10`).
    pub allow_private: bool,
    /// Extra ranges allowed although private or reserved.
    pub allow_cidrs: Vec<IpNet>,
}

impl Default for RecipientPolicy {
    fn default() -> Self {
        RecipientPolicy {
            ports: Some([80, 443].into_iter().collect()),
            allow_http: true,
            allow_loopback: false,
            allow_private: false,
            allow_cidrs: Vec::new(),
        }
    }
}

impl fmt::Debug for RecipientPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientPolicy({self})")
    }
}

impl fmt::Display for RecipientPolicy {
    /// The policy in the syntax of `THORN_RECIPIENT_VALIDATORS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.allow_loopback {
            parts.push("allow_loopback".into());
        }
        if self.allow_private {
            parts.push("allow_private".into());
        }
        if !self.allow_http {
            parts.push("https_only".into());
        }
        match &self.ports {
            None => parts.push("allow_any_port".into()),
            Some(p) => parts.extend(
                p.iter()
                    .filter(|p| **p != 80 && **p != 443)
                    .map(|p| format!("allow_port={p}")),
            ),
        }
        parts.extend(self.allow_cidrs.iter().map(|c| format!("allow_cidr={c}")));
        if parts.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl RecipientPolicy {
    /// A policy for local development and tests: the defaults plus loopback
    /// addresses on any port.
    pub fn allow_loopback_any_port() -> Self {
        RecipientPolicy {
            ports: None,
            allow_loopback: true,
            ..Self::default()
        }
    }

    /// Parses the comma-separated syntax of `THORN_RECIPIENT_VALIDATORS`:
    /// `default`, `allow_loopback`, `allow_private`, `allow_cidr=10.1.0.0/16`,
    /// `allow_port=8080`, `allow_any_port`, `https_only`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut p = RecipientPolicy::default();
        let bad =
            |item: &str, why: &str| Error::setting(VAR, text, format!("item {item:?}: {why}"));
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            match (key, value) {
                ("default", None) => {}
                ("allow_loopback", None) => p.allow_loopback = true,
                ("allow_private", None) => p.allow_private = true,
                ("allow_any_port", None) => p.ports = None,
                ("https_only", None) => p.allow_http = false,
                ("allow_port", Some(v)) => {
                    let port: u16 = v
                        .parse()
                        .map_err(|_| bad(item, "a port is a number from 1 to 65535"))?;
                    if port == 0 {
                        return Err(bad(item, "a port is a number from 1 to 65535"));
                    }
                    if let Some(ports) = p.ports.as_mut() {
                        ports.insert(port);
                    }
                }
                ("allow_cidr", Some(v)) => {
                    let net: IpNet = v
                        .parse()
                        .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            bad(item, "expected a CIDR such as 10.1.0.0/16 or fd00::/8")
                        })?;
                    p.allow_cidrs.push(net);
                }
                _ => {
                    return Err(bad(
                        item,
                        "known items are default, allow_loopback, allow_private, allow_cidr=CIDR, allow_port=N, allow_any_port, https_only",
                    ));
                }
            }
        }
        Ok(p)
    }

    /// Checks a URL's scheme, port and, when the host is an IP literal or
    /// `localhost`, its address (a name is checked after it is resolved, by
    /// [`check_ip`](Self::check_ip)). A refusal's advice covers everything
    /// this URL lacks at once, so following it is enough.
    pub fn check_url(&self, url: &url::Url) -> std::result::Result<(), Refusal> {
        let refuse = |rule, allowed: Option<RecipientPolicy>| Refusal {
            target: crate::error::excerpt(&crate::ShownUrl(url).to_string()),
            rule,
            allow: allowed.map(|p| p.to_string()),
            any_port: None,
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                let mut allowed = self.clone();
                allowed.allow_http = true;
                return Err(refuse(
                    "plain http is not allowed (https_only)",
                    Some(allowed),
                ));
            }
            "" => return Err(refuse("the URL has no scheme", None)),
            _ => return Err(refuse("only http and https are allowed", None)),
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let port_refused = self.ports.as_ref().is_some_and(|p| !p.contains(&port));
        let host = canonical_host(url);
        let address_rule = match host {
            Some(Ok((ip, class))) if !self.allows(ip, class) => restricted(ip).map(|(r, _)| r),
            Some(Err(rule)) if !self.allow_loopback => Some(rule),
            _ => None,
        };
        if !port_refused && address_rule.is_none() {
            return Ok(());
        }
        // Refused: the advice adds everything this URL lacks to the setting.
        let mut allowed = self.clone();
        if let Some(ports) = allowed.ports.as_mut() {
            ports.insert(port);
        }
        let mut rule = "the port is not allowed";
        let mut loopback = false;
        if let Some(address) = address_rule {
            rule = address;
            loopback = match host {
                Some(Ok((_, class))) => matches!(class, Class::Loopback | Class::Unspecified),
                _ => true,
            };
            allowed.open(host.and_then(Result::ok));
        } else if self.allow_loopback {
            loopback = matches!(
                host,
                Some(Ok((_, Class::Loopback | Class::Unspecified)) | Err(_))
            );
        }
        let mut refusal = refuse(rule, Some(allowed.clone()));
        if loopback && port_refused {
            allowed.ports = None;
            refusal.any_port = Some(allowed.to_string());
        }
        Err(refusal)
    }

    /// Checks one resolved address.
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), Refusal> {
        let ip = canonical(ip);
        let Some((rule, class)) = restricted(ip) else {
            return Ok(());
        };
        if self.allows(ip, class) {
            return Ok(());
        }
        let mut allowed = self.clone();
        allowed.open(Some((ip, class)));
        Err(Refusal {
            target: ip.to_string(),
            rule,
            allow: Some(allowed.to_string()),
            any_port: None,
        })
    }

    fn allows(&self, ip: IpAddr, class: Class) -> bool {
        match class {
            Class::Unspecified => self.allow_loopback,
            Class::Loopback => self.allow_loopback || self.in_cidrs(ip),
            Class::LinkLocal => self.in_cidrs(ip),
            Class::Private => self.allow_private || self.in_cidrs(ip),
        }
    }

    fn in_cidrs(&self, ip: IpAddr) -> bool {
        self.allow_cidrs.iter().any(|n| n.contains(&ip))
    }

    /// Adds the narrowest item that allows `target`: `allow_loopback` for
    /// the local host, else the address alone as a CIDR.
    fn open(&mut self, target: Option<(IpAddr, Class)>) {
        match target {
            None | Some((_, Class::Loopback | Class::Unspecified)) => self.allow_loopback = true,
            Some((ip, _)) => self.allow_cidrs.push(IpNet::from(ip)),
        }
    }
}

/// A URL's host as the policy sees it: a restricted literal address and
/// its class, `Err(rule)` for `localhost`, or `None` for an address that is
/// not restricted or a name (checked when it is resolved).
fn canonical_host(url: &url::Url) -> Option<std::result::Result<(IpAddr, Class), &'static str>> {
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        // Hosts of http(s) URLs are lower-cased when parsed.
        url::Host::Domain(d) if d == "localhost" || d.ends_with(".localhost") => {
            return Some(Err("localhost is a loopback address"));
        }
        url::Host::Domain(_) => return None,
    };
    let ip = canonical(ip);
    restricted(ip).map(|(_, class)| Ok((ip, class)))
}

/// What kind of restricted range an address is in, which decides the
/// allowance that opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `0.0.0.0` or `::`: connects to the local host; only `allow_loopback`.
    Unspecified,
    /// The local host: `allow_loopback` or a CIDR naming it.
    Loopback,
    /// Link-local, home of metadata services: only a CIDR naming it.
    LinkLocal,
    /// Private and reserved: `allow_private` or a CIDR.
    Private,
}

/// An IPv4 address mapped or compatible into IPv6 is judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The rule refusing `ip` by default, and its class.
fn restricted(ip: IpAddr) -> Option<(&'static str, Class)> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn in4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn restricted_v4(ip: Ipv4Addr) -> Option<(&'static str, Class)> {
    let rules: &[([u8; 4], u32, &'static str)] = &[
        (
            [0, 0, 0, 0],
            8,
            "unspecified or \"this network\" address (0.0.0.0/8)",
        ),
        ([10, 0, 0, 0], 8, "private address (10.0.0.0/8)"),
        (
            [100, 64, 0, 0],
            10,
            "carrier-grade NAT address (100.64.0.0/10)",
        ),
        ([172, 16, 0, 0], 12, "private address (172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignment (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation address (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private address (192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking address (198.18.0.0/15)"),
        (
            [198, 51, 100, 0],
            24,
            "documentation address (198.51.100.0/24)",
        ),
        (
            [203, 0, 113, 0],
            24,
            "documentation address (203.0.113.0/24)",
        ),
        ([224, 0, 0, 0], 4, "multicast address (224.0.0.0/4)"),
        (
            [240, 0, 0, 0],
            4,
            "reserved or broadcast address (240.0.0.0/4)",
        ),
    ];
    if ip.is_loopback() {
        return Some(("loopback address (127.0.0.0/8)", Class::Loopback));
    }
    if ip.is_unspecified() {
        return Some((
            "unspecified address (0.0.0.0), which reaches the local host",
            Class::Unspecified,
        ));
    }
    if ip.is_link_local() {
        return Some(("link-local address (169.254.0.0/16)", Class::LinkLocal));
    }
    rules
        .iter()
        .find(|(net, bits, _)| in4(ip, *net, *bits))
        .map(|(_, _, r)| (*r, Class::Private))
}

fn restricted_v6(ip: Ipv6Addr) -> Option<(&'static str, Class)> {
    let seg = ip.segments();
    if ip.is_loopback() {
        return Some(("loopback address (::1)", Class::Loopback));
    }
    if ip.is_unspecified() {
        return Some((
            "unspecified address (::), which reaches the local host",
            Class::Unspecified,
        ));
    }
    // IPv4-compatible (deprecated) ::a.b.c.d and NAT64 64:ff9b::/96 carry an
    // IPv4 address that must pass the IPv4 rules.
    if seg[..6] == [0, 0, 0, 0, 0, 0] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return restricted_v4(v4).or(Some(("IPv4-embedding IPv6 address", Class::Private)));
    }
    if seg[0] & 0xffc0 == 0xfe80 {
        return Some(("link-local address (fe80::/10)", Class::LinkLocal));
    }
    let rules: &[(u16, u16, &'static str)] = &[
        (0xfec0, 0xffc0, "site-local address (fec0::/10)"),
        (0xfc00, 0xfe00, "unique local (private) address (fc00::/7)"),
        (0xff00, 0xff00, "multicast address (ff00::/8)"),
        (0x0100, 0xffff, "discard-only address (100::/64)"),
        (0x2002, 0xffff, "6to4 address (2002::/16)"),
    ];
    if let Some((_, _, r)) = rules.iter().find(|(net, mask, _)| seg[0] & mask == *net) {
        return Some((r, Class::Private));
    }
    // 2001::/23 holds IETF assignments (Teredo 2001::/32, benchmarking,
    // ORCHID); 2001:db8::/32 is documentation.
    if seg[0] == 0x2001 && seg[1] < 0x0200 {
        return Some(("IETF protocol assignment (2001::/23)", Class::Private));
    }
    if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        return Some(("documentation address (2001:db8::/32)", Class::Private));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{RecipientPolicy, VAR};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_refuses_internal_ranges() {
        let p = RecipientPolicy::default();
        for bad in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            let r = p.check_ip(ip(bad)).unwrap_err();
            assert!(r.to_string().contains(VAR), "{r}");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(p.check_ip(ip(good)).is_ok(), "{good}");
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn refusal_names_the_setting() {
        let p = RecipientPolicy::default();
        let r = p.check_ip(ip("127.0.0.1")).unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_loopback"));
        let r = p.check_ip(ip("10.0.0.1")).unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_cidr=10.0.0.1/32"));
        let r = p.check_url(&url("https://example.com:8443/")).unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_port=8443"));
        let r = p.check_url(&url("http://localhost/")).unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_loopback"));
    }

    #[test]
    fn advice_is_the_whole_value_that_works() {
        let p = RecipientPolicy::default();
        let target = url("http://127.0.0.1:18081/hook");
        let r = p.check_url(&target).unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_loopback,allow_port=18081"));
        assert!(
            r.to_string()
                .contains("set THORN_RECIPIENT_VALIDATORS=allow_loopback,allow_port=18081"),
            "{r}"
        );
        // Following the advice of a partial setting keeps what it had.
        let partial = RecipientPolicy::parse("allow_port=18081,allow_cidr=10.9.0.0/16").unwrap();
        let r = partial.check_url(&target).unwrap_err();
        let followed = RecipientPolicy::parse(r.allow.as_deref().unwrap()).unwrap();
        assert!(followed.check_url(&target).is_ok());
        assert!(followed.check_ip(ip("10.9.1.1")).is_ok());
        // https_only: the advice drops that item and keeps the rest.
        let https = RecipientPolicy::parse("https_only,allow_port=8443").unwrap();
        let r = https
            .check_url(&url("http://example.com:8443/"))
            .unwrap_err();
        assert_eq!(r.allow.as_deref(), Some("allow_port=8443"));
    }

    #[test]
    fn a_loopback_refusal_also_names_the_setting_for_random_ports() {
        let p = RecipientPolicy::default();
        for target in [
            "http://127.0.0.1:33557/hooks",
            "http://localhost:33557/",
            "http://[::1]:33557/",
        ] {
            let r = p.check_url(&url(target)).unwrap_err();
            assert!(
                r.allow.as_deref().unwrap().ends_with("allow_port=33557"),
                "the exact advice stays: {r}"
            );
            assert_eq!(
                r.any_port.as_deref(),
                Some("allow_loopback,allow_any_port"),
                "{target}"
            );
            let text = r.to_string();
            assert!(
                text.contains(
                    "tests whose receivers listen on random ports: THORN_RECIPIENT_VALIDATORS=allow_loopback,allow_any_port"
                ),
                "{text}"
            );
            let followed = RecipientPolicy::parse(r.any_port.as_deref().unwrap()).unwrap();
            assert!(followed.check_url(&url(target)).is_ok());
        }
        // Loopback already allowed, the port not: the same.
        let r = RecipientPolicy::parse("allow_loopback,https_only")
            .unwrap()
            .check_url(&url("https://127.0.0.1:33557/"))
            .unwrap_err();
        assert_eq!(
            r.any_port.as_deref(),
            Some("allow_loopback,https_only,allow_any_port")
        );
        // Not loopback, or not the port: no such advice.
        for (setting, target) in [
            ("default", "https://example.com:8443/"),
            ("default", "http://10.0.0.1:8080/"),
            ("default", "http://127.0.0.1/"),
            ("allow_any_port", "http://127.0.0.1:33557/"),
        ] {
            let r = RecipientPolicy::parse(setting)
                .unwrap()
                .check_url(&url(target))
                .unwrap_err();
            assert_eq!(r.any_port, None, "{setting} {target}: {r}");
            assert!(!r.to_string().contains("random ports"), "{r}");
        }
    }

    #[test]
    fn following_advice_allows_exactly_what_was_refused() {
        let cases = [
            ("default", "http://127.0.0.1:18081/"),
            ("default", "http://0.0.0.0/"),
            ("default", "http://[::]:8080/"),
            ("default", "http://[::ffff:10.1.2.3]/"),
            ("allow_private", "http://169.254.169.254/latest/meta-data/"),
            ("allow_private", "http://[fe80::1]/"),
            ("allow_private", "http://localhost:3000/"),
            ("allow_cidr=0.0.0.0/32", "http://0.0.0.0/"),
            ("https_only", "http://example.com/"),
            ("default", "https://example.com:8443/"),
        ];
        for (setting, target) in cases {
            let p = RecipientPolicy::parse(setting).unwrap();
            let target = url(target);
            let r = p.check_url(&target).unwrap_err();
            let advised = r.allow.as_deref().unwrap_or_else(|| panic!("{r}"));
            let followed = RecipientPolicy::parse(advised).unwrap();
            assert!(
                followed.check_url(&target).is_ok(),
                "{setting} {target}: {advised}"
            );
            // Nothing more: another address and another port stay refused.
            let mut other = target.clone();
            other.set_port(Some(18099)).unwrap();
            assert!(
                followed.check_url(&other).is_err(),
                "{advised} opens {other}"
            );
            for probe in ["169.254.1.1", "10.200.0.1", "fe80::2", "192.168.7.7"] {
                assert_eq!(
                    followed.check_ip(ip(probe)).is_ok(),
                    p.check_ip(ip(probe)).is_ok(),
                    "{advised} changes what {probe} gets"
                );
            }
        }
    }

    #[test]
    fn unspecified_counts_as_loopback() {
        for setting in [
            "default",
            "allow_private",
            "allow_cidr=0.0.0.0/32",
            "allow_cidr=::/128",
        ] {
            let p = RecipientPolicy::parse(setting).unwrap();
            for addr in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
                let r = p.check_ip(ip(addr)).unwrap_err();
                assert!(
                    r.allow.as_deref().unwrap().contains("allow_loopback"),
                    "{r}"
                );
            }
        }
        let p = RecipientPolicy::parse("allow_loopback").unwrap();
        assert!(p.check_ip(ip("0.0.0.0")).is_ok());
        assert!(p.check_ip(ip("::")).is_ok());
    }

    #[test]
    fn allow_private_opens_neither_loopback_nor_link_local() {
        let p = RecipientPolicy::parse("allow_private").unwrap();
        for bad in [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
        ] {
            assert!(p.check_ip(ip(bad)).is_err(), "{bad}");
        }
        assert!(p.check_url(&url("http://localhost/")).is_err());
        for good in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "fd00::1",
        ] {
            assert!(p.check_ip(ip(good)).is_ok(), "{good}");
        }
        let metadata = RecipientPolicy::parse("allow_cidr=169.254.169.254/32").unwrap();
        assert!(metadata.check_ip(ip("169.254.169.254")).is_ok());
        assert!(metadata.check_ip(ip("169.254.169.253")).is_err());
    }

    #[test]
    fn scheme_refusal_says_plainly_that_no_setting_helps() {
        let r = RecipientPolicy::default()
            .check_url(&url("ftp://example.com/"))
            .unwrap_err();
        assert_eq!(r.allow, None);
        let text = r.to_string();
        assert!(!text.contains("set THORN_RECIPIENT_VALIDATORS"), "{text}");
        assert!(text.contains("no setting allows it"), "{text}");
    }

    #[test]
    fn allow_lists() {
        let p = RecipientPolicy::parse("allow_loopback, allow_port=8080, allow_cidr=10.1.0.0/16")
            .unwrap();
        assert!(p.check_ip(ip("127.0.0.1")).is_ok());
        assert!(p.check_ip(ip("::1")).is_ok());
        assert!(p.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(p.check_ip(ip("10.1.2.3")).is_ok());
        assert!(p.check_ip(ip("10.2.0.1")).is_err());
        assert!(p.check_url(&url("http://example.com:8080/")).is_ok());
        assert!(p.check_url(&url("http://example.com:8081/")).is_err());
        let back = RecipientPolicy::parse(&p.to_string()).unwrap();
        assert_eq!(back, p);
        let https = RecipientPolicy::parse("https_only").unwrap();
        assert!(https.check_url(&url("http://example.com/")).is_err());
        assert!(
            RecipientPolicy::parse("allow_any_port")
                .unwrap()
                .ports
                .is_none()
        );
    }

    #[test]
    fn bad_syntax_names_item() {
        for bad in [
            "allow_port=x",
            "allow_port=0",
            "allow_cidr=nope",
            "frobnicate",
        ] {
            let e = RecipientPolicy::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains(VAR) && e.to_string().contains(bad),
                "{e}"
            );
        }
    }
}
