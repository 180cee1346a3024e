//! What every Kinesis action shares: the engine, the settings, the iterator key,
//! metrics, throughput limits, stream consumers and live subscriptions.

use std::sync::Arc;

use freshet_storage::{Engine, StreamDescription};

use crate::autoscale::{Scaler, ScalingConfig};
use crate::consumers::Consumers;
use crate::iterator::IteratorCodec;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::subscribe::Subscriptions;
use freshet_protocol::{ApiError, ApiResult};

/// The Kinesis service's namespace in the catalog.
pub const SERVICE_NAMESPACE: &str = "kinesis";

/// Settings of the Kinesis service that shape its replies.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Region named in ARNs.
    pub region: String,
    /// Account id named in ARNs and messages.
    pub account_id: String,
    /// How long a new stream stays CREATING, ms.
    pub create_delay_ms: i64,
    /// Whether per-shard throughput limits are enforced.
    pub enforce_limits: bool,
    /// Open shards allowed across the account (DescribeLimits' ShardLimit).
    pub shard_limit: u32,
    /// On-demand streams allowed.
    pub on_demand_stream_limit: u32,
    /// How long shard iterators stay valid, ms (Kinesis: 300000).
    pub iterator_ttl_ms: i64,
    /// How long a SubscribeToShard subscription lasts, ms (Kinesis: 300000).
    pub subscription_ttl_ms: i64,
    /// When on-demand streams split and merge themselves.
    pub scaling: ScalingConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            create_delay_ms: 0,
            enforce_limits: false,
            shard_limit: 500,
            on_demand_stream_limit: 50,
            iterator_ttl_ms: crate::iterator::ITERATOR_TTL_MS,
            subscription_ttl_ms: crate::subscribe::SUBSCRIPTION_TTL_MS,
            scaling: ScalingConfig::default(),
        }
    }
}

/// Shared handler state.
#[derive(Debug)]
pub struct KinesisState {
    /// The storage engine.
    pub engine: Engine,
    /// Settings.
    pub cfg: ApiConfig,
    /// Iterator sealing.
    pub iterators: IteratorCodec,
    /// Metrics.
    pub metrics: Metrics,
    /// Throughput limits.
    pub limiter: Limiter,
    /// Registered stream consumers (enhanced fan-out).
    pub consumers: Consumers,
    /// Live SubscribeToShard subscriptions.
    pub subscriptions: Subscriptions,
    /// The on-demand scaler's memory and decisions.
    pub scaler: Scaler,
}

impl KinesisState {
    /// Builds the state around an open engine, with consumers kept in memory only.
    pub fn new(engine: Engine, cfg: ApiConfig) -> Arc<Self> {
        Self::with_consumers(engine, cfg, Consumers::in_memory())
    }

    /// Builds the state around an open engine and a consumer registry (see
    /// [`Consumers::open`] for one persisted in the data directory).
    pub fn with_consumers(engine: Engine, cfg: ApiConfig, consumers: Consumers) -> Arc<Self> {
        let legacy = engine.config().data_dir.join("iterator.key");
        let iterators = engine
            .service_state(SERVICE_NAMESPACE)
            .map_err(|e| e.to_string())
            .and_then(|store| IteratorCodec::stored(&store, &legacy, cfg.iterator_ttl_ms))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "iterator key not persisted: iterators will not survive a restart");
                IteratorCodec::with_ttl(cfg.iterator_ttl_ms)
            });
        Arc::new(KinesisState {
            engine,
            consumers,
            subscriptions: Subscriptions::default(),
            limiter: Limiter::new(cfg.enforce_limits),
            iterators,
            cfg,
            metrics: Metrics::default(),
            scaler: Scaler::default(),
        })
    }

    /// Current time, epoch ms: the engine's clock (the system clock unless the
    /// engine was opened with another, as tests do), so iterators, limits and records
    /// share one time.
    pub fn now_ms(&self) -> i64 {
        self.engine.config().clock.now_ms()
    }

    /// The ARN of a stream.
    pub fn stream_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{name}",
            self.cfg.region, self.cfg.account_id
        )
    }

    /// Maps an engine error. The engine's account shard-limit refusal (a race two
    /// concurrent requests can lose after the action's own check passed) is reworded as
    /// AWS words it.
    pub fn err(&self, e: freshet_storage::Error) -> ApiError {
        if let freshet_storage::Error::ShardLimitExceeded {
            open,
            requested,
            limit,
        } = &e
        {
            return ApiError::limit(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {open}. Limit: {limit}. Number of additional shards that would have resulted from this request: {requested}. {}",
                self.cfg.account_id,
                self.cfg.region,
                crate::error::LIMITS_PAGE
            ));
        }
        crate::error::from_storage(e, &self.cfg.account_id)
    }

    /// The LimitExceededException of a request that would pass the account shard
    /// limit, in AWS's words.
    pub fn shard_limit_error(&self, open: u64, additional: u64) -> ApiError {
        ApiError::limit(format!(
            "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {open}. Limit: {}. Number of additional shards that would have resulted from this request: {additional}. {}",
            self.cfg.account_id,
            self.cfg.region,
            self.cfg.shard_limit,
            crate::error::LIMITS_PAGE
        ))
    }

    /// Describes a stream.
    pub fn describe(&self, name: &str) -> ApiResult<StreamDescription> {
        self.engine.describe_stream(name).map_err(|e| self.err(e))
    }
}
