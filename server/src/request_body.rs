//! Reading a request body within the limits: the API's maximum size, the in-flight
//! byte budget and the body read timeout.
//!
//! A body over [`MAX_BODY_BYTES`] (declared by Content-Length, or found while streaming)
//! is never held: the rest of it is read and discarded (up to [`MAX_DRAIN_BYTES`], within
//! the body read timeout) so that the client, which is still sending, reads the error
//! reply instead of a connection reset that its SDK would retry with the same body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use freshet_protocol::service::BodyStream;

use crate::admission::{Admission, BytesPermit};
use freshet_protocol::ApiError;

/// Largest request body accepted. A PutRecords call of 500 records of 1 MiB would be
/// refused by Kinesis (5 MiB per call), so the largest valid request, base64-encoded
/// as JSON (about 6.7 MiB plus keys), fits with room to spare.
pub const MAX_BODY_BYTES: usize = freshet_protocol::service::DEFAULT_MAX_BODY_BYTES;
/// Most bytes of an oversize body read and discarded before the connection is closed.
pub const MAX_DRAIN_BYTES: u64 = 4 * MAX_BODY_BYTES as u64;

/// The error for an oversize body.
pub fn too_large(declared: Option<u64>, limit: usize) -> ApiError {
    let what = match declared {
        Some(n) => format!("The request body of {n} bytes"),
        None => "The request body".to_string(),
    };
    ApiError::serialization(format!("{what} exceeds the limit of {limit} bytes."))
}

/// The error when the in-flight byte budget stays exhausted.
pub fn busy() -> ApiError {
    ApiError::custom(
        "ServiceUnavailable",
        "The server is holding too many request bytes in flight; retry with back-off.",
        503,
    )
}

/// The error for a body that did not arrive in time.
pub fn timed_out(ms: u128) -> ApiError {
    ApiError::custom(
        "RequestTimeoutException",
        format!("The request body was not received within {ms} ms."),
        408,
    )
}

/// Reads a body of at most `limit` bytes (the service's; [`MAX_BODY_BYTES`] for
/// requests no service owns), reserving its bytes in `admission`'s
/// budget first (a declared length at once, a streamed body chunk by chunk). The
/// permit holds the bytes until dropped.
pub async fn read(
    admission: &Admission,
    mut body: Incoming,
    declared: Option<u64>,
    limit: usize,
) -> Result<(Bytes, BytesPermit), ApiError> {
    let limits = *admission.limits();
    let mut held = BytesPermit::default();
    if declared.is_some_and(|n| n > limit as u64) {
        let _ = tokio::time::timeout(limits.body_read_timeout, drain(&mut body)).await;
        return Err(too_large(declared, limit));
    }
    if let Some(n) = declared {
        let n = usize::try_from(n).unwrap_or(limit);
        admission.reserve(&mut held, n).await.map_err(|_| busy())?;
    }
    let capacity = declared.map_or(0, |n| n as usize);
    let read_all = async {
        let mut buf = BytesMut::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::serialization(format!("The request body could not be read: {e}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buf.len() + data.len() > limit {
                drop(buf);
                drain(&mut body).await;
                return Err(too_large(declared, limit));
            }
            if declared.is_none() {
                admission
                    .reserve(&mut held, data.len())
                    .await
                    .map_err(|_| busy())?;
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(limits.body_read_timeout, read_all).await {
        Ok(Ok(bytes)) => Ok((bytes, held)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out(limits.body_read_timeout.as_millis())),
    }
}

/// Reads and discards the rest of a body, up to [`MAX_DRAIN_BYTES`].
async fn drain(body: &mut Incoming) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
        }
        if seen > MAX_DRAIN_BYTES {
            return;
        }
    }
}

/// A body handed to its service as it arrives ([`BodyStream`]): data frames in order,
/// trailers skipped, a failed connection as the stream's last item.
pub fn streamed(body: Incoming) -> BodyStream {
    Box::pin(IncomingChunks { body, done: false })
}

struct IncomingChunks {
    body: Incoming,
    done: bool,
}

impl futures_core::Stream for IncomingChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                }
            }
        }
    }
}
