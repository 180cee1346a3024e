//! [`VideoService`]: Kinesis Video Streams' REST APIs behind the front door.

use std::sync::Arc;
use std::time::Duration;

use freshet_protocol::error::ApiError;
use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_storage::Engine;

use crate::params::JSON;
use crate::store::Store;

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account_id: String,
    /// `http` or `https`: the scheme of the data endpoints it hands out.
    pub scheme: String,
    /// How long a caught-up GetMedia waits for a new fragment before it ends.
    pub get_media_idle: Duration,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            scheme: "http".into(),
            get_media_idle: Duration::from_secs(3),
        }
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The streams.
    pub store: Arc<Store>,
    /// Settings.
    pub cfg: Arc<VideoConfig>,
}

/// The data-plane operations, by path.
const DATA: &[&str] = &[
    "/putMedia",
    "/getMedia",
    "/listFragments",
    "/getMediaForFragmentList",
    "/getHLSStreamingSessionURL",
    "/getClip",
];

/// Kinesis Video Streams behind the front door.
pub struct VideoService {
    ctx: Ctx,
}

impl VideoService {
    /// Opens the service over `engine`: loads the streams and indexes their fragments.
    pub fn open(engine: Engine, cfg: VideoConfig) -> Result<VideoService, String> {
        let store = Store::open(engine).map_err(|e| e.message)?;
        Ok(VideoService {
            ctx: Ctx {
                store: Arc::new(store),
                cfg: Arc::new(cfg),
            },
        })
    }
}

fn host(call: &Call) -> String {
    call.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| call.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into())
}

async fn blocking(
    f: impl FnOnce() -> Result<serde_json::Value, ApiError> + Send + 'static,
) -> Reply {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Reply::ok(JSON, v.to_string()),
        Ok(Err(e)) => Reply::Error(e),
        Err(e) => Reply::Error(crate::error::internal(format!("task failed: {e}"))),
    }
}

impl Service for VideoService {
    fn name(&self) -> &'static str {
        "kinesisvideo"
    }

    fn routes(&self) -> Vec<Route> {
        crate::control::OPERATIONS
            .iter()
            .chain(DATA)
            .chain(&[crate::hls::PREFIX])
            .map(|p| Route::PathPrefix(p))
            .collect()
    }

    fn knows(&self, _route: &Route, operation: &str) -> bool {
        crate::control::OPERATIONS.contains(&operation)
            || DATA.contains(&operation)
            || operation
                .strip_prefix(crate::hls::PREFIX)
                .is_some_and(|e| crate::hls::ENDPOINTS.contains(&e))
    }

    fn authenticates_itself(&self, _route: &Route, operation: &str) -> bool {
        operation.starts_with(crate::hls::PREFIX)
    }

    fn streams_request(&self, _route: &Route, operation: &str) -> bool {
        operation == "/putMedia"
    }

    fn auth_error_status(&self) -> u16 {
        403
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let op = call.operation.clone();
            match op.as_str() {
                "/putMedia" => crate::ingest::put_media(ctx, call).await,
                "/getMedia" => crate::media::get_media(ctx, call).await,
                "/getMediaForFragmentList" => {
                    crate::archive::get_media_for_fragment_list(ctx, call).await
                }
                "/getHLSStreamingSessionURL" => {
                    let host = host(&call);
                    blocking(move || crate::hls::session_url(&ctx, &call.body, &host)).await
                }
                "/getClip" => {
                    let run = move || crate::hls::clip(&ctx, &call.body);
                    match tokio::task::spawn_blocking(run).await {
                        Ok(Ok(mp4)) => Reply::ok("video/mp4", mp4),
                        Ok(Err(e)) => Reply::Error(e),
                        Err(e) => Reply::Error(crate::error::internal(format!("task failed: {e}"))),
                    }
                }
                _ if op.starts_with(crate::hls::PREFIX) => {
                    let run = move || crate::hls::endpoint(&ctx, &call);
                    match tokio::task::spawn_blocking(run).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => Reply::Error(e),
                        Err(e) => Reply::Error(crate::error::internal(format!("task failed: {e}"))),
                    }
                }
                "/listFragments" => {
                    blocking(move || crate::archive::list_fragments(&ctx, &call.body)).await
                }
                _ => {
                    let host = host(&call);
                    blocking(move || {
                        crate::control::dispatch(&ctx, &call.operation, &call.body, &host)
                    })
                    .await
                }
            }
        })
    }
}
