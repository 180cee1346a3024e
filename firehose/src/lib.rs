//! Freshet Firehose: a delivery service in the manner of Amazon Data Firehose (formerly
//! Kinesis Data Firehose), writing the records of a stream to S3-style object storage.
//!
//! The service ([`service`]) answers Firehose's API on the front door's port; a
//! DirectPut delivery stream's records are acknowledged once durable in a stream it
//! owns (`firehose:NAME`), and a job per delivery stream ([`delivery`]) reads that
//! stream (or a Kinesis source) through the engine's tailing cursor and writes each
//! buffer as one object, exactly once, into a bucket ([`store`]).
//!
//! The pure building blocks:
//!
//! - [`naming`]: the S3 object keys exactly as Firehose forms them
//!   (`<evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`),
//!   the evaluation of `!{timestamp:…}`, `!{firehose:…}` and `!{partitionKeyFrom…:…}`
//!   expressions, and the validation of `Prefix` and `ErrorOutputPrefix` by AWS's rules;
//! - [`compress`]: Firehose's compression formats (`UNCOMPRESSED`, `GZIP`, `ZIP`,
//!   `Snappy`, `HADOOP_SNAPPY`) with their file extensions;
//! - [`params`]: the parameters of a delivery stream.

mod api;
pub mod compress;
pub mod convert;
pub mod delivery;
pub mod fast;
pub mod http_endpoint;
pub mod naming;
pub mod params;
pub mod partition;
pub mod pipeline;

pub mod postgres;
pub mod processors;
pub mod service;
pub mod sink;

pub mod store;
pub mod transform;

pub use service::{FirehoseConfig, FirehoseService};
