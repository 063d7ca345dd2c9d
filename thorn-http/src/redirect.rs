//! Following a redirect: which statuses, to which origins, and what the
//! next request of the attempt keeps.
//!
//! A webhook is a POST whose body is the event, so a redirect is followed
//! only where the event still arrives, and only where the setting allows:
//!
//! - 307 and 308 keep the method and the body (RFC 9110 §15.4.8, §15.4.9);
//! - 303 turns the request into a GET without a body (§15.4.4): the
//!   receiver has taken the POST and points at a result, whose answer then
//!   classifies the attempt;
//! - 301 and 302 are refused for a POST: clients may turn it into a GET
//!   (§15.4.2, §15.4.3), which would drop the event yet could answer 2xx,
//!   and keeping the POST is not what a receiver sending them expects
//!   either; the error says to move the subscription or answer 307/308.
//!   After a 303 (already a GET) they are followed as a GET;
//! - any other 3xx is not a redirect to follow.
//!
//! The signature headers go only to the subscription's origin (scheme,
//! host, port): once a chain leaves it they are not sent again, even if it
//! comes back, so that no other origin can replay them to the subscriber.

use http::StatusCode;
use thorn_core::RedirectPolicy;
use thorn_core::ShownUrl;
use url::{Origin, Url};

/// How many redirects one attempt follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// How one request of an attempt is made: [`Hop::FIRST`], then one derived
/// by each redirect followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hop {
    /// A POST with the body; `false` once a 303 made it a GET without one.
    pub(crate) post: bool,
    /// Whether the signature headers are sent: not once the chain has left
    /// the subscription's origin, and not on a GET (they would sign a body
    /// that is not sent).
    pub(crate) signed: bool,
}

impl Hop {
    /// The delivery itself: a signed POST with the body.
    pub(crate) const FIRST: Hop = Hop {
        post: true,
        signed: true,
    };
}

/// Decides on a 3xx answer to the request `hop` made to `current`, after
/// `followed` redirects: the next URL and how to request it, or why not
/// (the attempt's error, naming what would change the outcome).
///
/// The next URL still has to pass the recipient policy; that is the
/// client's check, as for the first URL.
pub(crate) fn follow(
    policy: RedirectPolicy,
    status: StatusCode,
    location: Option<&str>,
    current: &Url,
    subscription: &Url,
    hop: Hop,
    followed: usize,
) -> Result<(Url, Hop), String> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Err(format!(
            "receiver answered {status}, which is not a redirect Thorn follows (303, 307 and 308 are)"
        ));
    }
    let Some(raw) = location else {
        return Err(format!(
            "receiver answered {status} without a Location header; nothing to follow"
        ));
    };
    let next = current.join(raw).map_err(|e| {
        let raw = thorn_core::shown_url(raw);
        format!("receiver answered {status} with a Location that is not a URL ({raw:?}: {e})")
    })?;
    // A Location may carry a token too: errors show it without its query.
    let shown = ShownUrl(&next);
    let same_origin = next.origin() == subscription.origin();
    // The value of THORN_ALLOW_REDIRECTS this redirect needs, if not the
    // current one.
    let needs = match (policy, same_origin) {
        (RedirectPolicy::Never, true) => Some(RedirectPolicy::SameOrigin),
        (RedirectPolicy::Never | RedirectPolicy::SameOrigin, false) => {
            Some(RedirectPolicy::AnyOrigin)
        }
        (RedirectPolicy::SameOrigin | RedirectPolicy::AnyOrigin, true)
        | (RedirectPolicy::AnyOrigin, false) => None,
    };
    let post = match status.as_u16() {
        301 | 302 if hop.post => {
            let also = needs
                .map(|p| format!(", with THORN_ALLOW_REDIRECTS={}", setting(p)))
                .unwrap_or_default();
            return Err(format!(
                "receiver answered {status} to {shown}; a webhook POST is not followed through 301 or 302, \
                 which may turn it into a GET without the event: point the subscription at {shown}, \
                 or have the receiver answer 308 (permanent) or 307 (temporary){also}"
            ));
        }
        303 => false,
        _ => hop.post,
    };
    match needs {
        Some(RedirectPolicy::AnyOrigin) => {
            return Err(format!(
                "redirect {status} to another origin, {}, not followed; set THORN_ALLOW_REDIRECTS=any_origin \
                 to follow redirects to other origins (signature headers are never sent there)",
                origin(&next)
            ));
        }
        Some(_) => {
            return Err(format!(
                "redirect {status} to {shown} not followed; set THORN_ALLOW_REDIRECTS=true \
                 to follow redirects within the subscription's origin"
            ));
        }
        None => {}
    }
    if followed >= MAX_REDIRECTS {
        return Err(format!(
            "redirect {status} to {shown} not followed: more than {MAX_REDIRECTS} redirects"
        ));
    }
    let signed = hop.signed && post && same_origin;
    Ok((next, Hop { post, signed }))
}

/// How an error spells the setting: `true` reads better than `same_origin`
/// to someone who has it at `false`.
fn setting(policy: RedirectPolicy) -> &'static str {
    match policy {
        RedirectPolicy::SameOrigin => "true",
        other => other.as_str(),
    }
}

/// `scheme://host[:port]`, or the whole URL when it has no such origin
/// (a scheme other than http(s)), so that an error always names a target.
pub(crate) fn origin(url: &Url) -> String {
    match url.origin() {
        o @ Origin::Tuple(..) => o.ascii_serialization(),
        Origin::Opaque(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use thorn_core::RedirectPolicy;
    use url::Url;

    use super::{Hop, MAX_REDIRECTS, follow, origin};

    const SUB: &str = "https://hooks.example.com/in";

    fn decide(
        policy: RedirectPolicy,
        status: u16,
        location: &str,
        hop: Hop,
    ) -> Result<(Url, Hop), String> {
        let sub = Url::parse(SUB).unwrap();
        let status = StatusCode::from_u16(status).unwrap();
        follow(policy, status, Some(location), &sub, &sub, hop, 0)
    }

    #[test]
    fn each_status_for_a_post() {
        use RedirectPolicy::SameOrigin;
        let same = |status| decide(SameOrigin, status, "/next", Hop::FIRST);
        for status in [307, 308] {
            assert_eq!(same(status).unwrap().1, Hop::FIRST, "{status}");
        }
        let (url, hop) = same(303).unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/next");
        assert_eq!(
            hop,
            Hop {
                post: false,
                signed: false
            }
        );
        for status in [301, 302] {
            let e = same(status).unwrap_err();
            assert!(e.contains(&status.to_string()) && e.contains("308"), "{e}");
            assert!(!e.contains("THORN_ALLOW_REDIRECTS"), "{e}");
        }
        for status in [300, 304, 305, 306, 399] {
            assert!(same(status).unwrap_err().contains("303, 307 and 308"));
        }
    }

    #[test]
    fn a_get_follows_moved_and_found_as_a_get() {
        let get = Hop {
            post: false,
            signed: false,
        };
        for status in [301, 302, 303, 307, 308] {
            let (_, hop) = decide(RedirectPolicy::SameOrigin, status, "/x", get).unwrap();
            assert_eq!(hop, get, "{status}");
        }
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        use RedirectPolicy::{AnyOrigin, Never, SameOrigin};
        for other in [
            "http://hooks.example.com/in",
            "https://hooks.example.com:8443/in",
            "https://evil.example.com/in",
            "ftp://hooks.example.com/in",
        ] {
            for policy in [Never, SameOrigin] {
                let e = decide(policy, 307, other, Hop::FIRST).unwrap_err();
                assert!(e.contains("THORN_ALLOW_REDIRECTS=any_origin"), "{e}");
                let target = Url::parse(other).unwrap();
                assert!(e.contains(&origin(&target)), "{e}");
            }
            let (_, hop) = decide(AnyOrigin, 307, other, Hop::FIRST).unwrap();
            assert_eq!(
                hop,
                Hop {
                    post: true,
                    signed: false
                },
                "{other}"
            );
        }
        // The default port is the same origin.
        let (_, hop) = decide(
            SameOrigin,
            308,
            "https://hooks.example.com:443/x",
            Hop::FIRST,
        )
        .unwrap();
        assert!(hop.signed);
    }

    #[test]
    fn never_names_the_value_that_would_follow() {
        let e = decide(RedirectPolicy::Never, 307, "/next", Hop::FIRST).unwrap_err();
        assert!(e.contains("THORN_ALLOW_REDIRECTS=true"), "{e}");
        let e = decide(RedirectPolicy::Never, 301, "/next", Hop::FIRST).unwrap_err();
        assert!(
            e.contains("308") && e.contains("THORN_ALLOW_REDIRECTS=true"),
            "{e}"
        );
    }

    #[test]
    fn unsigned_stays_unsigned_back_on_the_origin() {
        let left = Hop {
            post: true,
            signed: false,
        };
        let (_, hop) = decide(RedirectPolicy::AnyOrigin, 307, SUB, left).unwrap();
        assert!(!hop.signed);
    }

    #[test]
    fn a_missing_or_bad_location_and_too_many_hops() {
        let sub = Url::parse(SUB).unwrap();
        let s = StatusCode::TEMPORARY_REDIRECT;
        let p = RedirectPolicy::SameOrigin;
        assert!(follow(p, s, None, &sub, &sub, Hop::FIRST, 0).is_err());
        assert!(follow(p, s, Some("http://[::1"), &sub, &sub, Hop::FIRST, 0).is_err());
        assert!(follow(p, s, Some("/a"), &sub, &sub, Hop::FIRST, MAX_REDIRECTS - 1).is_ok());
        let e = follow(p, s, Some("/a"), &sub, &sub, Hop::FIRST, MAX_REDIRECTS).unwrap_err();
        assert!(e.contains("more than 5"), "{e}");
    }
}
