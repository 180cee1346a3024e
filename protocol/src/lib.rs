//! Freshet's wire code, shared by the client, the front door, every service and the
//! fuzz targets. Pure: no tokio, no RocksDB, no I/O.
//!
//! - [`value`]: the AWS JSON 1.1 and CBOR 1.1 document codec; [`validate`]: AWS's request
//!   validation, declared per action; [`request`]: typed member access; [`writer`]: reply
//!   documents written once for both a tree and straight JSON; [`error`]: AWS error
//!   replies.
//! - [`sigv4`]: SigV4 verification; [`eventstream`]: `application/vnd.amazon.eventstream`
//!   framing.
//! - [`kinesis`]: Kinesis request and reply types; [`hash_key`]: MD5 hash-key routing;
//!   [`kpl`]: the KPL aggregation format.
//! - [`service`]: the interface every service implements and the front door routes to.
//!
//! ```
//! use freshet_protocol::value::{decode, encode, map, Encoding, Value};
//!
//! let doc = map([("StreamName", Value::str("orders"))]);
//! let body = encode(Encoding::Json, &doc);
//! assert_eq!(decode(Encoding::Json, &body).unwrap(), doc);
//! ```

pub mod error;
pub mod eventstream;
pub mod hash_key;
pub mod kinesis;
pub mod kpl;
pub mod request;
pub mod service;
pub mod sigv4;
pub mod validate;
pub mod value;
pub mod writer;

pub use error::{ApiError, ApiResult};
