//! The body of a reply: a whole document (holding its bytes' share of the in-flight
//! budget until it is sent), or the chunks of an event stream as a service produces
//! them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use freshet_protocol::service::ChunkStream;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};

use crate::admission::BytesPermit;

/// A reply body.
pub enum ReplyBody {
    /// A complete body (sent with a Content-Length) and the budget it holds.
    Full(Full<Bytes>, BytesPermit),
    /// Chunks sent as they arrive; the body ends with the stream.
    Stream(ChunkStream),
}

impl Default for ReplyBody {
    fn default() -> Self {
        ReplyBody::full(Bytes::new())
    }
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyBody::Full(b, p) => f
                .debug_struct("Full")
                .field("size", &b.size_hint().exact())
                .field("held", &p.bytes())
                .finish(),
            ReplyBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl ReplyBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ReplyBody::Full(Full::new(bytes.into()), BytesPermit::default())
    }

    /// The same body, holding `permit` until it has been sent (or dropped).
    pub fn holding(self, permit: BytesPermit) -> Self {
        match self {
            ReplyBody::Full(b, _) => ReplyBody::Full(b, permit),
            other => other,
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReplyBody::Full(f, _) => Pin::new(f).poll_frame(cx),
            ReplyBody::Stream(s) => s
                .as_mut()
                .poll_next(cx)
                .map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(f, _) => f.is_end_stream(),
            ReplyBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(f, _) => f.size_hint(),
            ReplyBody::Stream(_) => SizeHint::default(),
        }
    }
}
