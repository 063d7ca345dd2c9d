//! Printing: times, URLs without their secrets, JSON lines.

use std::time::SystemTime;

/// A time as RFC 3339 in UTC, to the second.
pub(crate) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A URL as an operator may see it: scheme, host, port and path, without
/// credentials or query (either may carry a token).
pub(crate) fn url(u: &url::Url) -> String {
    thorn::ShownUrl(u).to_string()
}

/// Prints one JSON value on one line.
pub(crate) fn json_line(value: &serde_json::Value) {
    println!("{value}");
}

/// A body for people: JSON pretty-printed, text as it is, anything else
/// as its length.
pub(crate) fn body(bytes: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Ok(pretty) = serde_json::to_string_pretty(&value) {
            return pretty;
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("({} bytes, not UTF-8)", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::{body, url};

    #[test]
    fn urls_lose_credentials_and_query() {
        let u = url::Url::parse("https://user:pw@example.com:8443/hooks?token=abc#x").unwrap();
        assert_eq!(url(&u), "https://example.com:8443/hooks");
    }

    #[test]
    fn bodies_are_pretty_when_json() {
        assert_eq!(body(br#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(body(b"a=1&b=2"), "a=1&b=2");
        assert_eq!(body(&[0xff, 0xfe]), "(2 bytes, not UTF-8)");
    }
}
