//! Payload codecs: the body of a delivery, encoded once per content type.

use bytes::Bytes;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::subscriber::ContentType;

/// The optional envelope around an event's data:
/// `{"event", "ref", "sender", "data"}`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The event's name.
    pub event: &'a str,
    /// The event's reference, if any.
    #[serde(rename = "ref")]
    pub reference: Option<&'a str>,
    /// The sender's owner id, if any.
    pub sender: Option<&'a str>,
    /// The event's data.
    pub data: &'a serde_json::Value,
}

/// Encodes `event`'s data (or its envelope, if `envelope` is set) as
/// `content_type`.
///
/// JSON is compact `serde_json` output. A form body holds the top-level
/// fields of an object: strings as they are, numbers and booleans as their
/// JSON text, `null` as an empty value; nested objects or arrays, or data that
/// is not an object, are an [`Error::Encode`] naming the field.
pub fn encode(event: &Event, content_type: ContentType, envelope: bool) -> Result<Bytes> {
    let fail = |reason: String| Error::Encode {
        event: event.name.to_string(),
        content_type: content_type.as_str(),
        reason,
    };
    match content_type {
        ContentType::Json => {
            let out = if envelope {
                serde_json::to_vec(&Envelope {
                    event: event.name.as_str(),
                    reference: event.reference.as_deref(),
                    sender: event.sender.as_deref(),
                    data: &event.data,
                })
            } else {
                serde_json::to_vec(&event.data)
            };
            out.map(Bytes::from).map_err(|e| fail(e.to_string()))
        }
        ContentType::Form => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            if envelope {
                ser.append_pair("event", event.name.as_str());
                if let Some(r) = &event.reference {
                    ser.append_pair("ref", r);
                }
                if let Some(s) = &event.sender {
                    ser.append_pair("sender", s);
                }
                let data = serde_json::to_string(&event.data).map_err(|e| fail(e.to_string()))?;
                ser.append_pair("data", &data);
                return Ok(Bytes::from(ser.finish()));
            }
            let serde_json::Value::Object(map) = &event.data else {
                return Err(fail(format!(
                    "a form body needs an object of fields, but the data is {}; send an object or use application/json",
                    kind(&event.data)
                )));
            };
            let mut num = String::new();
            for (k, v) in map {
                let text: &str = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "",
                    serde_json::Value::Bool(b) => {
                        if *b {
                            "true"
                        } else {
                            "false"
                        }
                    }
                    serde_json::Value::Number(n) => {
                        num.clear();
                        num.push_str(&n.to_string());
                        &num
                    }
                    other => {
                        return Err(fail(format!(
                            "field {k:?} is {}; a form body holds only strings, numbers, booleans and null (use application/json for nested data)",
                            kind(other)
                        )));
                    }
                };
                ser.append_pair(k, text);
            }
            Ok(Bytes::from(ser.finish()))
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::encode;
    use crate::event::Event;
    use crate::subscriber::ContentType;

    #[test]
    fn form_fields() {
        let e = Event::new(
            "a.b",
            json!({"name": "Ada L", "n": 3, "ok": true, "x": null, "amp": "a&b=c"}),
        )
        .unwrap();
        let body = encode(&e, ContentType::Form, false).unwrap();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        assert!(pairs.contains(&("name".into(), "Ada L".into())));
        assert!(pairs.contains(&("n".into(), "3".into())));
        assert!(pairs.contains(&("ok".into(), "true".into())));
        assert!(pairs.contains(&("x".into(), String::new())));
        assert!(pairs.contains(&("amp".into(), "a&b=c".into())));
        assert_eq!(pairs.len(), 5);
        assert!(std::str::from_utf8(&body).unwrap().contains("name=Ada+L"));
    }

    #[test]
    fn form_rejects_nested_and_non_objects() {
        let e = Event::new("a.b", json!({"nested": {"a": 1}})).unwrap();
        let err = encode(&e, ContentType::Form, false).unwrap_err();
        assert!(err.to_string().contains("\"nested\""), "{err}");
        assert!(err.is_invalid_input());
        let e = Event::new("a.b", json!([1, 2])).unwrap();
        let err = encode(&e, ContentType::Form, false).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
    }

    #[test]
    fn json_and_envelope() {
        let e = Event::new("a.b", json!({"id": 1}))
            .unwrap()
            .sender("u1")
            .reference("https://x/1");
        assert_eq!(
            &encode(&e, ContentType::Json, false).unwrap()[..],
            br#"{"id":1}"#
        );
        let env: serde_json::Value =
            serde_json::from_slice(&encode(&e, ContentType::Json, true).unwrap()).unwrap();
        assert_eq!(
            env,
            json!({"event": "a.b", "ref": "https://x/1", "sender": "u1", "data": {"id": 1}})
        );
        let form = encode(&e, ContentType::Form, true).unwrap();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&form).into_owned().collect();
        assert!(pairs.contains(&("data".into(), r#"{"id":1}"#.into())));
        assert!(pairs.contains(&("event".into(), "a.b".into())));
    }
}
