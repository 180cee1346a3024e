//! Hash keys: the Kinesis data model's MD5 routing, defined in `freshet-protocol` and
//! re-exported here so the engine's API names them as before.

pub use freshet_protocol::hash_key::*;
