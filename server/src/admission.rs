//! Admission control: what keeps the server's memory bounded whatever clients do.
//!
//! - Connections are capped ([`ResourceLimits::max_connections`]). A connection beyond
//!   the cap waits up to [`ResourceLimits::admission_wait`] for a slot; then it is
//!   answered with an HTTP 503 `ServiceUnavailable` (which every AWS SDK retries with
//!   back-off) and closed. At most [`MAX_REJECTERS`] such answers are in progress at
//!   once; connections beyond even that are closed at once.
//! - Request bodies in flight are capped in bytes ([`ResourceLimits::max_inflight_bytes`]):
//!   a request reserves its declared Content-Length before its body is read (a
//!   streamed body reserves each chunk as it arrives) and releases it when its reply is
//!   built. A request that cannot reserve within the admission wait gets a 503.
//! - Stalled clients time out: the request head must arrive within
//!   [`ResourceLimits::header_read_timeout`] (idle keep-alive connections too), the
//!   body within [`ResourceLimits::body_read_timeout`], and a request is answered
//!   within [`ResourceLimits::request_timeout`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Answers to over-cap connections that may be in progress at once.
pub const MAX_REJECTERS: usize = 32;
/// The HTTP/2 connection preface (`PRI * HTTP/2.0...`).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The resource limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Most open client connections.
    pub max_connections: usize,
    /// Most request-body bytes held in memory across all requests.
    pub max_inflight_bytes: usize,
    /// How long a connection or request waits for a free slot before a 503.
    pub admission_wait: Duration,
    /// How long a client may take to send a request head (and how long an idle
    /// keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body.
    pub body_read_timeout: Duration,
    /// How long a request may take from its head to its reply (SubscribeToShard's
    /// event stream excepted once it has started).
    pub request_timeout: Duration,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits {
            max_connections: 1024,
            max_inflight_bytes: 256 << 20,
            admission_wait: Duration::from_millis(500),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The connection and in-flight-byte budgets.
#[derive(Debug)]
pub struct Admission {
    limits: ResourceLimits,
    connections: Arc<Semaphore>,
    rejecters: Arc<Semaphore>,
    inflight: Arc<Semaphore>,
}

/// Request-body bytes reserved by one request; released when dropped.
#[derive(Debug, Default)]
pub struct BytesPermit {
    permits: Vec<OwnedSemaphorePermit>,
}

impl BytesPermit {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permits.iter().map(|p| p.num_permits()).sum()
    }
}

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Admission {
    /// Budgets for `limits`.
    pub fn new(limits: ResourceLimits) -> Self {
        Admission {
            connections: Arc::new(Semaphore::new(
                limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            rejecters: Arc::new(Semaphore::new(MAX_REJECTERS)),
            inflight: Arc::new(Semaphore::new(
                limits.max_inflight_bytes.clamp(1, Semaphore::MAX_PERMITS),
            )),
            limits,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &ResourceLimits {
        &self.limits
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.limits
            .max_connections
            .saturating_sub(self.connections.available_permits())
    }

    /// Request-body bytes held now.
    pub fn inflight_bytes(&self) -> usize {
        self.limits
            .max_inflight_bytes
            .saturating_sub(self.inflight.available_permits())
    }

    /// A connection slot, waiting up to the admission wait.
    pub async fn connection(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(
            self.limits.admission_wait,
            Arc::clone(&self.connections).acquire_owned(),
        )
        .await
        .ok()
        .and_then(Result::ok)
    }

    /// Reserves `bytes` more request-body bytes into `held`, waiting up to the
    /// admission wait. A reservation larger than the whole budget is clamped to it, so
    /// one maximal request can always proceed alone.
    pub async fn reserve(&self, held: &mut BytesPermit, bytes: usize) -> Result<(), Busy> {
        let room = self.limits.max_inflight_bytes.saturating_sub(held.bytes());
        let want = bytes.min(room);
        if want == 0 {
            return Ok(());
        }
        let n = u32::try_from(want).map_err(|_| Busy)?;
        let permit = tokio::time::timeout(
            self.limits.admission_wait,
            Arc::clone(&self.inflight).acquire_many_owned(n),
        )
        .await
        .map_err(|_| Busy)?
        .map_err(|_| Busy)?;
        held.permits.push(permit);
        Ok(())
    }

    /// Answers an over-cap connection with a 503 and closes it, in a task of its own,
    /// or closes it at once when too many such answers are in progress.
    pub fn reject(&self, stream: TcpStream) {
        let Ok(permit) = Arc::clone(&self.rejecters).try_acquire_owned() else {
            drop(stream);
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(Duration::from_secs(2), answer_busy(stream)).await;
        });
    }

    /// Waits (up to the header read timeout) until a new connection has sent enough
    /// bytes to tell HTTP/1.1 from HTTP/2, so a client that sends nothing (or a few
    /// bytes of the preface) cannot hold a connection forever. Returns false when the
    /// deadline passes or the peer closes first.
    pub async fn await_first_bytes(&self, stream: &TcpStream) -> bool {
        tokio::time::timeout(self.limits.header_read_timeout, async {
            let mut buf = [0u8; 24];
            let mut last = 0;
            loop {
                let n = match stream.peek(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                let seen = buf.get(..n).unwrap_or_default();
                if n >= H2_PREFACE.len() || !H2_PREFACE.starts_with(seen) {
                    return true;
                }
                if n == last {
                    // peek returns at once while bytes wait; poll gently for more.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                last = n;
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// The reply to a connection over the cap.
const BUSY_BODY: &str = r#"{"__type":"ServiceUnavailable","message":"The server has too many open connections; retry with back-off."}"#;

/// Reads what the client sent first (bounded), answers 503 and closes.
async fn answer_busy(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ServiceUnavailable\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Let the client read the reply before the socket goes: drain what it still sends.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_bounded_and_released() {
        let a = Admission::new(ResourceLimits {
            max_inflight_bytes: 100,
            admission_wait: Duration::from_millis(20),
            ..ResourceLimits::default()
        });
        let mut one = BytesPermit::default();
        assert_eq!(a.reserve(&mut one, 60).await, Ok(()));
        let mut two = BytesPermit::default();
        assert_eq!(a.reserve(&mut two, 60).await, Err(Busy));
        assert_eq!(a.inflight_bytes(), 60);
        drop(one);
        assert_eq!(a.reserve(&mut two, 60).await, Ok(()));
        // Larger than the whole budget: clamped, so it proceeds alone.
        drop(two);
        let mut big = BytesPermit::default();
        assert_eq!(a.reserve(&mut big, 1_000).await, Ok(()));
        assert_eq!(big.bytes(), 100);
    }
}
