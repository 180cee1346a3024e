//! Freshet's Kinesis Data Streams service: every Kinesis action over
//! [`freshet_storage::Engine`], enhanced fan-out (stream consumers and
//! SubscribeToShard) and Freshet's KCL lease actions, behind the front door's
//! [`Service`](freshet_protocol::service::Service) interface ([`KinesisService`]).
//!
//! Modules by concern: [`actions`] (one function per action, and the typed fast path
//! of PutRecords/GetRecords), [`iterator`] (sealed shard iterators), [`consumers`] (the
//! registry), [`subscribe`] (SubscribeToShard), [`limits`] (per-shard throughput),
//! [`metrics`], [`autoscale`] (on-demand streams that split and merge themselves),
//! [`error`] (AWS's wording of engine errors), [`state`] and [`service`].
//!
//! ```
//! use freshet_kinesis::{ApiConfig, KinesisService};
//! use freshet_protocol::service::Service;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new(dir.path())).unwrap();
//! let kinesis = KinesisService::open(engine.clone(), ApiConfig::default()).unwrap();
//! assert_eq!(kinesis.name(), "kinesis");
//! engine.shutdown().unwrap();
//! ```

pub mod actions;
pub mod autoscale;
pub mod consumers;
pub mod error;
pub mod iterator;
pub mod limits;
pub mod metrics;
pub mod service;
pub mod state;
pub mod subscribe;

pub use autoscale::ScalingConfig;
pub use service::{KinesisService, TARGET_PREFIX};
pub use state::{ApiConfig, KinesisState};
