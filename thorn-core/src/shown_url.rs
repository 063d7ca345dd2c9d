//! URLs as they may leave the process: in logs, errors, dead letters,
//! metrics and API answers. A subscriber's URL may carry a token in its
//! query (`?token=…`) or credentials in its userinfo; neither is shown.
//! Every place that prints a URL goes through [`ShownUrl`] or
//! [`shown_url`], so there is one rule to keep.

use std::fmt;

use url::{Position, Url};

/// Shows a URL as scheme, host, port and path: no userinfo, query or
/// fragment. Writes without allocating, for log fields
/// (`url = %ShownUrl(&url)`).
///
/// ```
/// use thorn_core::ShownUrl;
/// let url = url::Url::parse("https://user:pw@example.com:8443/hooks?token=s3cret#x").unwrap();
/// assert_eq!(ShownUrl(&url).to_string(), "https://example.com:8443/hooks");
/// ```
#[derive(Clone, Copy)]
pub struct ShownUrl<'a>(pub &'a Url);

impl fmt::Display for ShownUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        if url.has_host() {
            f.write_str(url.scheme())?;
            f.write_str("://")?;
            f.write_str(&url[Position::BeforeHost..Position::AfterPath])
        } else {
            // No host (`mailto:…`, a mistaken `user:pw@host`): only the
            // scheme, as the rest may be anything.
            write!(f, "{}:…", url.scheme())
        }
    }
}

impl fmt::Debug for ShownUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A URL given as text, shown as [`ShownUrl`] shows it; text that does not
/// parse as a URL is cut at the first `?` or `#` and anything up to an `@`
/// is left out, so that a malformed URL's secrets stay in too.
///
/// ```
/// use thorn_core::shown_url;
/// assert_eq!(shown_url("http://a.example/x?token=1"), "http://a.example/x");
/// assert_eq!(shown_url("http://user:pw@[bad/x?token=1"), "http://[bad/x");
/// ```
pub fn shown_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => ShownUrl(&url).to_string(),
        Err(_) => {
            let end = text.find(['?', '#']).unwrap_or(text.len());
            let text = &text[..end];
            match (text.find("://"), text.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    format!("{}{}", &text[..scheme + 3], &text[at + 1..])
                }
                (None, Some(at)) => text[at + 1..].to_owned(),
                _ => text.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ShownUrl, shown_url};

    #[test]
    fn nothing_secret_is_shown() {
        for (given, shown) in [
            (
                "https://example.com/hooks?token=t0k",
                "https://example.com/hooks",
            ),
            (
                "http://u:p@example.com:8080/a/b#frag",
                "http://example.com:8080/a/b",
            ),
            ("http://[::1]:9/x?y=1", "http://[::1]:9/x"),
            ("tcp://:pw@127.0.0.1:6379/0", "tcp://127.0.0.1:6379/0"),
            ("not a url?token=t0k", "not a url"),
            ("me:pw@host/x?token=1", "me:…"),
            ("pw@[host/x?token=1", "[host/x"),
        ] {
            assert_eq!(shown_url(given), shown, "{given}");
        }
        let url = url::Url::parse("https://example.com/?token=t0k").unwrap();
        assert_eq!(format!("{:?}", ShownUrl(&url)), "\"https://example.com/\"");
    }
}
