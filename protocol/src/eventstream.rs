//! The `application/vnd.amazon.eventstream` messages of SubscribeToShard, framed by
//! `aws-smithy-eventstream` (the AWS SDKs' own codec: prelude with total and header
//! lengths, prelude CRC-32, typed headers, payload, message CRC-32).
//!
//! Three kinds are written: the `initial-response` event the SDKs wait for first (an
//! empty document), `SubscribeToShardEvent` events, and exceptions
//! (`:message-type` `exception` with `:exception-type` naming the error).

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

use crate::error::ApiError;
use crate::value::{encode, map, Encoding, Value};

/// The Content-Type of an event-stream response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The `:content-type` of payloads in an encoding.
pub fn payload_content_type(enc: Encoding) -> &'static str {
    match enc {
        Encoding::Json => "application/json",
        Encoding::Cbor => "application/x-amz-cbor-1.1",
    }
}

fn header(name: &'static str, value: impl Into<String>) -> Header {
    Header::new(name, HeaderValue::String(value.into().into()))
}

fn frame(message: &Message) -> Bytes {
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    match write_message_to(message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(e) => {
            // Only a payload over 16 MiB or an overlong header fails; events are far
            // smaller. Send an exception instead of a torn frame.
            tracing::error!(error = %e, "cannot frame an event-stream message");
            let fallback = Message::new(Bytes::from_static(b"{}"))
                .add_header(header(":message-type", "exception"))
                .add_header(header(":exception-type", "InternalFailureException"))
                .add_header(header(":content-type", "application/json"));
            let mut out = Vec::new();
            let _ = write_message_to(&fallback, &mut out);
            Bytes::from(out)
        }
    }
}

/// An event message of `event_type` holding `doc`.
pub fn event(enc: Encoding, event_type: &'static str, doc: &Value) -> Bytes {
    let msg = Message::new(Bytes::from(encode(enc, doc)))
        .add_header(header(":message-type", "event"))
        .add_header(header(":event-type", event_type))
        .add_header(header(":content-type", payload_content_type(enc)));
    frame(&msg)
}

/// The `initial-response` event: an empty document.
pub fn initial_response(enc: Encoding) -> Bytes {
    event(enc, "initial-response", &Value::Map(Vec::new()))
}

/// An exception message for an error.
pub fn exception(enc: Encoding, e: &ApiError) -> Bytes {
    let kind = match e.kind {
        "InternalFailure" => "InternalFailureException",
        other => other,
    };
    // `__type` too: the SDKs take an error's code from it (the header picks the type).
    let doc = map([
        ("__type", Value::str(kind)),
        ("message", Value::str(&e.message)),
    ]);
    let msg = Message::new(Bytes::from(encode(enc, &doc)))
        .add_header(header(":message-type", "exception"))
        .add_header(header(":exception-type", kind))
        .add_header(header(":content-type", payload_content_type(enc)));
    frame(&msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header_str<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    }

    #[test]
    fn initial_response_round_trips() -> Result<(), String> {
        let bytes = initial_response(Encoding::Json);
        let m = read_message_from(bytes).map_err(|e| e.to_string())?;
        assert_eq!(header_str(&m, ":message-type"), Some("event"));
        assert_eq!(header_str(&m, ":event-type"), Some("initial-response"));
        assert_eq!(m.payload().as_ref(), b"{}");
        Ok(())
    }

    #[test]
    fn exceptions_name_their_type() -> Result<(), String> {
        let bytes = exception(Encoding::Json, &ApiError::in_use("taken over"));
        let m = read_message_from(bytes).map_err(|e| e.to_string())?;
        assert_eq!(header_str(&m, ":message-type"), Some("exception"));
        assert_eq!(
            header_str(&m, ":exception-type"),
            Some("ResourceInUseException")
        );
        assert_eq!(
            m.payload().as_ref(),
            br#"{"__type":"ResourceInUseException","message":"taken over"}"#
        );
        Ok(())
    }
}
