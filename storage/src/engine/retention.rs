//! Retention: whole segments whose newest record is older than the stream's retention
//! are deleted (catalog first, then unlink, then a directory sync); closed shards whose
//! data has all expired leave the listings.

use std::sync::Arc;

use super::{lock, read, shard_dir, write, Engine, Shard, Stream};
use crate::catalog::{shard_key, Batch};
use crate::error::Result;
use crate::log::segment::Segment;
use crate::types::RetentionReport;

impl Engine {
    /// Releases the maps of sealed segments not read since the previous call (the
    /// background thread calls it with each retention pass); returns how many.
    pub fn release_idle_maps(&self) -> Result<usize> {
        self.check_open()?;
        let streams: Vec<_> = read(&self.inner.streams).values().cloned().collect();
        Ok(streams
            .iter()
            .flat_map(|s| read(&s.shards).values().cloned().collect::<Vec<_>>())
            .map(|shard| shard.log.release_idle_maps())
            .sum())
    }

    /// Deletes the sealed segments of one shard whose records all lie below
    /// `next_offset`, as retention deletes expired ones (catalog first, then unlink,
    /// then a directory sync): for a service that owns the stream and has delivered
    /// those records (a Firehose buffer), so disk and page cache hold only what is
    /// still to deliver. The active segment of an open shard stays. Returns how many
    /// segments went.
    pub fn trim_below(&self, stream_name: &str, shard_id: &str, next_offset: u64) -> Result<usize> {
        let stream = self.stream(stream_name)?;
        let shard = self.shard_of(&stream, stream_name, shard_id)?;
        let closed = read(&shard.rec).end_offset.is_some();
        // Most calls have nothing to trim: they leave without the admin lock.
        if shard.log.prefix_below(next_offset, closed).0.is_empty() {
            return Ok(0);
        }
        let _admin = lock(&self.inner.admin);
        if !self.still_listed(&stream) {
            return Ok(0); // deleted meanwhile
        }
        // Again under the lock: a concurrent trim or retention pass may have run.
        let (below, horizon) = shard.log.prefix_below(next_offset, closed);
        if !below.is_empty() {
            self.drop_prefix(&stream, &shard, &below, horizon)?;
        }
        Ok(below.len())
    }

    /// Whether `stream` is still the stream listed under its name (not deleted, nor
    /// deleted and created again).
    fn still_listed(&self, stream: &Arc<Stream>) -> bool {
        let name = read(&stream.meta).name.clone();
        read(&self.inner.streams)
            .get(&name)
            .is_some_and(|s| Arc::ptr_eq(s, stream))
    }

    /// Moves a shard's trim horizon to `horizon` in the catalog, then unlinks the
    /// segments before it. The caller holds the admin lock.
    fn drop_prefix(
        &self,
        stream: &Stream,
        shard: &Shard,
        segments: &[Arc<Segment>],
        horizon: u64,
    ) -> Result<()> {
        let mut rec = shard.record();
        rec.start_offset = horizon;
        let mut batch = Batch::default();
        batch.put(&shard_key(read(&stream.meta).uid, rec.index), &rec)?;
        self.inner.catalog.write(batch)?;
        *write(&shard.rec) = rec;
        shard.log.drop_segments(segments, horizon)
    }

    /// Runs one retention pass over every stream (the background thread calls it at
    /// the configured interval).
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.check_open()?;
        let mut report = RetentionReport::default();
        let streams: Vec<_> = read(&self.inner.streams).values().cloned().collect();
        let now = self.now_ms();
        for stream in streams {
            let _admin = lock(&self.inner.admin);
            if !self.still_listed(&stream) {
                continue; // deleted meanwhile
            }
            let meta = read(&stream.meta).clone();
            let cutoff = now - i64::from(meta.retention_hours) * 3_600_000;
            let shards: Vec<_> = read(&stream.shards).values().cloned().collect();
            for shard in shards {
                let rec = shard.record();
                let closed = rec.end_offset.is_some();
                if closed
                    && rec.closed_ms.unwrap_or(i64::MAX) < cutoff
                    && shard.log.newest_arrival_ms() < cutoff
                {
                    let mut batch = Batch::default();
                    batch.delete(&shard_key(meta.uid, rec.index));
                    self.inner.catalog.write(batch)?;
                    write(&stream.shards).remove(rec.index);
                    let dir = shard_dir(&stream.dir, rec.index);
                    if let Err(e) = self.inner.cfg.fs.remove_dir_all(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not remove an expired shard's files");
                    }
                    report.shards_expired += 1;
                    continue;
                }
                if !closed {
                    shard.log.roll_if_expired(cutoff)?;
                }
                let (expired, horizon) = shard.log.expired_prefix(cutoff, closed);
                if expired.is_empty() {
                    continue;
                }
                self.drop_prefix(&stream, &shard, &expired, horizon)?;
                report.segments_deleted += expired.len();
            }
        }
        Ok(report)
    }
}
