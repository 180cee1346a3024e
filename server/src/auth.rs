//! SigV4 at the front door: which access keys are accepted, and verification off the
//! async threads for large bodies (hashing a 16 MiB body takes tens of milliseconds).

use bytes::Bytes;
use freshet_protocol::ApiError;

pub use freshet_protocol::sigv4::AuthConfig;

/// Bodies larger than this are hashed on a blocking thread.
const INLINE_HASH_BYTES: usize = 64 * 1024;

/// Verifies a request's signature (a no-op when verification is off).
pub async fn verify(
    cfg: &AuthConfig,
    parts: &http::request::Parts,
    body: &Bytes,
    now_ms: i64,
) -> Result<(), ApiError> {
    if !cfg.enabled {
        return Ok(());
    }
    if body.len() <= INLINE_HASH_BYTES {
        return freshet_protocol::sigv4::verify(
            cfg,
            parts.method.as_str(),
            &parts.uri,
            &parts.headers,
            body,
            now_ms,
        );
    }
    let (cfg, method, uri, headers, body) = (
        cfg.clone(),
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
        body.clone(),
    );
    tokio::task::spawn_blocking(move || {
        freshet_protocol::sigv4::verify(&cfg, method.as_str(), &uri, &headers, &body, now_ms)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ApiError::internal(format!(
            "Internal service failure: signature check failed: {e}"
        )))
    })
}

/// Verifies the signature of a request whose body is streamed to its service: over the
/// headers and the payload hash the client declared (see
/// [`freshet_protocol::sigv4::Payload::Streamed`]).
pub fn verify_streamed(
    cfg: &AuthConfig,
    parts: &http::request::Parts,
    now_ms: i64,
) -> Result<(), ApiError> {
    freshet_protocol::sigv4::verify_payload(
        cfg,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        freshet_protocol::sigv4::Payload::Streamed,
        now_ms,
    )
}
