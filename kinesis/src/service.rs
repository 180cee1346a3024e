//! The Kinesis service behind the front door: routes, dispatch onto a bounded pool of
//! blocking threads (engine calls block until durable), and SubscribeToShard's event
//! stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_protocol::value::{decode, encode, Encoding};
use freshet_protocol::ApiError;
use freshet_storage::Engine;
use tokio::sync::mpsc;

use crate::actions::{self, leases};
use crate::consumers::Consumers;
use crate::state::{ApiConfig, KinesisState};

/// The `X-Amz-Target` prefix of Kinesis.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The Kinesis Data Streams service.
#[derive(Debug, Clone)]
pub struct KinesisService {
    state: Arc<KinesisState>,
}

impl KinesisService {
    /// The service over shared state.
    pub fn new(state: Arc<KinesisState>) -> Self {
        KinesisService { state }
    }

    /// The service over an open engine, its stream consumers persisted in the engine's
    /// catalog, on-demand streams scaled by an engine job.
    pub fn open(engine: Engine, cfg: ApiConfig) -> Result<Self, String> {
        let consumers = Consumers::open(&engine)?;
        let scaling = cfg.scaling;
        let state = KinesisState::with_consumers(engine, cfg, consumers);
        crate::autoscale::Scaler::start(&state, scaling);
        Ok(Self::new(state))
    }

    /// Its state.
    pub fn state(&self) -> &Arc<KinesisState> {
        &self.state
    }

    /// Runs one action: a JSON PutRecords on the typed path right here (its batches
    /// written from this task, its syncs awaited without a thread: no hand-off to a
    /// blocking thread and back per request); anything else on a blocking thread, the
    /// typed fast path for JSON PutRecords and GetRecords, else decode and dispatch.
    /// The call (and what the front door holds for it) lives until the work ends.
    fn run(&self, call: Call, action: String) -> BoxFuture<'static, Reply> {
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let enc = call.encoding;
            if enc == Encoding::Json && action == "PutRecords" {
                // A task of its own (on this worker's queue, no thread hand-off) so that a
                // panic answers this request with a 500, as on a blocking thread.
                let (st, body, deadline) = (Arc::clone(&state), call.body.clone(), call.deadline);
                let put = tokio::spawn(async move {
                    actions::fast::put_records_async(&st, &body, deadline).await
                });
                match put.await {
                    Ok(Some(Ok(body))) => return Reply::ok(enc.content_type(), body),
                    Ok(Some(Err(e))) => return Reply::Error(e),
                    Ok(None) => {}
                    Err(e) => {
                        return Reply::Error(ApiError::internal(format!(
                            "Internal service failure: the handler failed: {e}"
                        )))
                    }
                }
            }
            let outcome = tokio::task::spawn_blocking(move || {
                let call = call;
                if enc == Encoding::Json {
                    if let Some(done) =
                        actions::fast::try_dispatch(&state, &action, &call.body, call.deadline)
                    {
                        return done;
                    }
                }
                let doc = decode(enc, &call.body).map_err(|e| ApiError::serialization(e.0))?;
                actions::dispatch(&state, &action, &doc, call.deadline).map(|v| encode(enc, &v))
            })
            .await
            .unwrap_or_else(|e| {
                Err(ApiError::internal(format!(
                    "Internal service failure: the handler failed: {e}"
                )))
            });
            match outcome {
                Ok(body) => Reply::ok(enc.content_type(), body),
                Err(e) => Reply::Error(e),
            }
        })
    }
}

impl Service for KinesisService {
    fn name(&self) -> &'static str {
        "kinesis"
    }

    fn routes(&self) -> Vec<Route> {
        vec![
            Route::TargetPrefix(TARGET_PREFIX),
            Route::TargetPrefix(leases::TARGET_PREFIX),
        ]
    }

    fn knows(&self, route: &Route, operation: &str) -> bool {
        match route {
            Route::TargetPrefix(TARGET_PREFIX) => actions::ACTIONS.contains(&operation),
            Route::TargetPrefix(p) if *p == leases::TARGET_PREFIX => {
                leases::OPERATIONS.contains(&operation)
            }
            _ => false,
        }
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let action = match &call.route {
            Route::TargetPrefix(p) if *p == leases::TARGET_PREFIX => {
                format!("{}{}", leases::TARGET_PREFIX, call.operation)
            }
            _ => call.operation.clone(),
        };
        if action == "SubscribeToShard" {
            let state = Arc::clone(&self.state);
            return Box::pin(async move {
                let enc = call.encoding;
                match crate::subscribe::open(state, enc, call.body).await {
                    Ok(rx) => Reply::Stream {
                        content_type: freshet_protocol::eventstream::CONTENT_TYPE,
                        body: Box::pin(Chunks(rx)),
                    },
                    Err(e) => Reply::Error(e),
                }
            });
        }
        self.run(call, action)
    }

    fn render_metrics(&self, out: &mut String) {
        self.state.metrics.render(out);
        self.state.scaler.render(out);
        crate::metrics::render_syncs(&self.state.engine.sync_stats(), out);
    }

    fn shut_down(&self) {
        self.state.subscriptions.shut_down();
    }
}

/// An event stream's frames as a stream of chunks.
struct Chunks(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Chunks {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().0.poll_recv(cx)
    }
}
