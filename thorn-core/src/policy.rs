//! The recipient policy: which URLs and addresses Thorn may POST to.
//!
//! By default only `http`/`https` on ports 80 and 443 to public addresses.
//! Private, loopback, link-local, multicast, reserved, CGNAT, documentation
//! and unspecified ranges are refused, for IPv4 and IPv6 alike (an IPv4
//! address mapped into IPv6 is judged as IPv4). The HTTP client applies
//! [`RecipientPolicy::check_ip`] to every *resolved* address at connect time,
//! so DNS rebinding cannot slip past.
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} is refused: {rule}; to allow it, set {VAR}={allow}")]
pub struct Refusal {
    /// The refused URL, host or address.
    pub target: String,
    /// The rule that refused it.
    pub rule: &'static str,
    /// The setting that would allow it.
    pub allow: String,
}

/// Which recipients are allowed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecipientPolicy {
    /// Allowed ports (default 80 and 443); `None` allows every port.
    pub ports: Option<BTreeSet<u16>>,
    /// Whether plain `http` is allowed (default yes).
    pub allow_http: bool,
    /// Whether loopback addresses (127.0.0.0/8, ::1) are allowed.
    pub allow_loopback: bool,
    /// Whether every private and reserved range is allowed.
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
        match &self.ports {
            None => parts.push("allow_any_port".into()),
            Some(p) => parts.extend(
                p.iter()
                    .filter(|p| **p != 80 && **p != 443)
                    .map(|p| format!("allow_port={p}")),
            ),
        }
        if !self.allow_http {
            parts.push("https_only".into());
        }
        if self.allow_loopback {
            parts.push("allow_loopback".into());
        }
        if self.allow_private {
            parts.push("allow_private".into());
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

    /// Checks a URL's scheme and port (the address is checked after it is
    /// resolved, by [`check_ip`](Self::check_ip)). An IP literal host is
    /// checked here too.
    pub fn check_url(&self, url: &url::Url) -> std::result::Result<(), Refusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Refusal {
                    target: url.to_string(),
                    rule: "plain http is not allowed",
                    allow: "default (remove https_only)".into(),
                });
            }
            other => {
                return Err(Refusal {
                    target: url.to_string(),
                    rule: if other.is_empty() {
                        "no scheme"
                    } else {
                        "only http and https are allowed"
                    },
                    allow: "(no setting: use an http or https URL)".into(),
                });
            }
        }
        let port = url.port_or_known_default().unwrap_or(0);
        if let Some(ports) = &self.ports {
            if !ports.contains(&port) {
                return Err(Refusal {
                    target: url.to_string(),
                    rule: "the port is not allowed",
                    allow: format!("allow_port={port}"),
                });
            }
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(d))
                if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
            {
                if self.allow_loopback || self.allow_private {
                    Ok(())
                } else {
                    Err(Refusal {
                        target: d.to_owned(),
                        rule: "localhost is a loopback address",
                        allow: "allow_loopback".into(),
                    })
                }
            }
            _ => Ok(()),
        }
    }

    /// Checks one resolved address.
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), Refusal> {
        let ip = canonical(ip);
        if self.allow_cidrs.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        let Some((rule, loopback)) = restricted(ip) else {
            return Ok(());
        };
        if self.allow_private || (loopback && self.allow_loopback) {
            return Ok(());
        }
        let allow = if loopback {
            "allow_loopback".to_owned()
        } else {
            format!("allow_cidr={}", IpNet::from(ip))
        };
        Err(Refusal {
            target: ip.to_string(),
            rule,
            allow,
        })
    }
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

/// The rule refusing `ip` by default, and whether it is loopback.
fn restricted(ip: IpAddr) -> Option<(&'static str, bool)> {
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

fn restricted_v4(ip: Ipv4Addr) -> Option<(&'static str, bool)> {
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
        ([169, 254, 0, 0], 16, "link-local address (169.254.0.0/16)"),
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
        return Some(("loopback address (127.0.0.0/8)", true));
    }
    rules
        .iter()
        .find(|(net, bits, _)| in4(ip, *net, *bits))
        .map(|(_, _, r)| (*r, false))
}

fn restricted_v6(ip: Ipv6Addr) -> Option<(&'static str, bool)> {
    let seg = ip.segments();
    if ip.is_loopback() {
        return Some(("loopback address (::1)", true));
    }
    if ip.is_unspecified() {
        return Some(("unspecified address (::)", false));
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
        return restricted_v4(v4).or(Some(("IPv4-embedding IPv6 address", false)));
    }
    let rules: &[(u16, u16, &'static str)] = &[
        (0xfe80, 0xffc0, "link-local address (fe80::/10)"),
        (0xfec0, 0xffc0, "site-local address (fec0::/10)"),
        (0xfc00, 0xfe00, "unique local (private) address (fc00::/7)"),
        (0xff00, 0xff00, "multicast address (ff00::/8)"),
        (0x0100, 0xffff, "discard-only address (100::/64)"),
        (0x2002, 0xffff, "6to4 address (2002::/16)"),
    ];
    if let Some((_, _, r)) = rules.iter().find(|(net, mask, _)| seg[0] & mask == *net) {
        return Some((r, false));
    }
    // 2001::/23 holds IETF assignments (Teredo 2001::/32, benchmarking,
    // ORCHID); 2001:db8::/32 is documentation.
    if seg[0] == 0x2001 && seg[1] < 0x0200 {
        return Some(("IETF protocol assignment (2001::/23)", false));
    }
    if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        return Some(("documentation address (2001:db8::/32)", false));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn refusal_names_the_setting() {
        let p = RecipientPolicy::default();
        let r = p.check_ip(ip("127.0.0.1")).unwrap_err();
        assert_eq!(r.allow, "allow_loopback");
        let r = p.check_ip(ip("10.0.0.1")).unwrap_err();
        assert_eq!(r.allow, "allow_cidr=10.0.0.1/32");
        let r = p
            .check_url(&url::Url::parse("https://example.com:8443/").unwrap())
            .unwrap_err();
        assert_eq!(r.allow, "allow_port=8443");
        let r = p
            .check_url(&url::Url::parse("http://localhost/").unwrap())
            .unwrap_err();
        assert_eq!(r.allow, "allow_loopback");
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
        assert!(
            p.check_url(&url::Url::parse("http://example.com:8080/").unwrap())
                .is_ok()
        );
        assert!(
            p.check_url(&url::Url::parse("http://example.com:8081/").unwrap())
                .is_err()
        );
        let back = RecipientPolicy::parse(&p.to_string()).unwrap();
        assert_eq!(back, p);
        let https = RecipientPolicy::parse("https_only").unwrap();
        assert!(
            https
                .check_url(&url::Url::parse("http://example.com/").unwrap())
                .is_err()
        );
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
