//! Freshet Firehose: a delivery service in the manner of Amazon Data Firehose (formerly
//! Kinesis Data Firehose), writing the records of a stream to S3-style object storage.
//!
//! This crate holds the pure building blocks shared by the service:
//!
//! - [`naming`]: the S3 object keys exactly as Firehose forms them
//!   (`<evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`),
//!   the evaluation of `!{timestamp:…}`, `!{firehose:…}` and `!{partitionKeyFrom…:…}`
//!   expressions, and the validation of `Prefix` and `ErrorOutputPrefix` by AWS's rules;
//! - [`compress`]: Firehose's compression formats (`UNCOMPRESSED`, `GZIP`, `ZIP`,
//!   `Snappy`, `HADOOP_SNAPPY`) with their file extensions;
//! - [`params`]: the parameters of a delivery stream.

pub mod compress;
pub mod naming;
pub mod params;
