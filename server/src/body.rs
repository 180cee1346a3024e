//! The body of a reply: a whole document, or the frames of an event stream as a
//! subscription task produces them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// A reply body.
#[derive(Debug)]
pub enum ReplyBody {
    /// A complete body (sent with a Content-Length).
    Full(Full<Bytes>),
    /// Chunks sent as they arrive; the body ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl ReplyBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ReplyBody::Full(Full::new(bytes.into()))
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
            ReplyBody::Full(f) => Pin::new(f).poll_frame(cx),
            ReplyBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(f) => f.is_end_stream(),
            ReplyBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(f) => f.size_hint(),
            ReplyBody::Stream(_) => SizeHint::default(),
        }
    }
}
