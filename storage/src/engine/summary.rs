//! Hot-path lookups whose cost does not depend on how many shards a stream retains:
//! a stream's summary, one shard's state (with its children from the children index)
//! and key routing.

use super::{read, Engine};
use crate::catalog::StreamRecord;
use crate::error::{Error, Result};
use crate::sequence::SequenceNumber;
use crate::types::*;

/// A stream's status at `now_ms`.
pub(crate) fn status_of(meta: &StreamRecord, now_ms: i64) -> StreamStatus {
    if now_ms < meta.active_at_ms {
        StreamStatus::Creating
    } else {
        StreamStatus::Active
    }
}

impl Engine {
    /// A stream's settings, status and open shard count, without its shard list: the
    /// cost does not grow with the shards it retains (use it where
    /// [`describe_stream`](Engine::describe_stream) would be called for a field or two).
    pub fn stream_summary(&self, name: &str) -> Result<StreamSummary> {
        let stream = self.stream(name)?;
        let open_shard_count = read(&stream.routing).open.len();
        let meta = read(&stream.meta);
        Ok(StreamSummary {
            name: meta.name.clone(),
            uid: meta.uid,
            status: status_of(&meta, self.now_ms()),
            created_ms: meta.created_ms,
            retention_hours: meta.retention_hours,
            mode: meta.mode,
            encryption: meta.encryption.clone(),
            shard_level_metrics: meta.shard_level_metrics.clone(),
            open_shard_count,
        })
    }

    /// One retained shard's state: open or closed, its end, its children, its trim
    /// horizon and newest record. Looks up only that shard and its children.
    pub fn shard_state(&self, name: &str, shard: &str) -> Result<ShardState> {
        let stream = self.stream(name)?;
        let s = parse_shard_id(shard)
            .and_then(|i| stream.shard(i))
            .ok_or_else(|| Error::ShardNotFound {
                stream: name.to_string(),
                shard: shard.to_string(),
            })?;
        let rec = s.record();
        let newest = s.log.newest_arrival_ms();
        Ok(ShardState {
            shard_id: s.id.clone(),
            index: s.index,
            range: rec.range,
            parent_shard_id: rec.parent.map(shard_id),
            adjacent_parent_shard_id: rec.adjacent_parent.map(shard_id),
            end_offset: rec.end_offset,
            ending_sequence_number: rec
                .end_offset
                .map(|end| SequenceNumber::new(rec.index, end.max(1) - 1)),
            closed_ms: rec.closed_ms,
            children: self.children_of(&stream, &s),
            start_offset: s.log.start_offset(),
            next_offset: s.log.visible_next(),
            newest_arrival_ms: (newest != i64::MIN).then_some(newest),
        })
    }

    /// The index of the open shard that owns `hash_key` (what a put of that key would
    /// be routed to): a binary search over the open shards.
    pub fn route(&self, name: &str, hash_key: u128) -> Result<u64> {
        let stream = self.stream(name)?;
        let routing = std::sync::Arc::clone(&read(&stream.routing));
        routing
            .route(hash_key)
            .map(|s| s.index)
            .ok_or_else(|| Error::Internal(format!("no open shard owns hash key {hash_key}")))
    }
}
