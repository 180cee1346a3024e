//! Resharding: split, merge and uniform scaling, with persisted lineage.
//!
//! Each operation closes its parents (every acknowledged record of a parent stays
//! readable; its end offset is fixed), creates the children with new, higher shard
//! indexes (so their sequence numbers exceed the parents'), and records both in one
//! catalog batch. Puts that meet a parent closed mid-flight re-route to the children.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{lock, read, shard_dir, write, Engine, Shard, Stream};
use crate::catalog::{shard_key, stream_key, Batch, ShardRecord};
use crate::error::{Error, Result};
use crate::hash_key::{even_ranges, HashKeyRange};
use crate::types::*;

/// A rolling day, ms: the window of UpdateShardCount's scaling-operation limit.
const DAY_MS: i64 = 24 * 3_600_000;

/// What UpdateShardCount did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardCountUpdate {
    /// Open shards before.
    pub current: usize,
    /// Open shards after.
    pub target: usize,
}

impl Engine {
    fn open_shard(&self, stream: &Stream, name: &str, id: &str) -> Result<Arc<Shard>> {
        let shard = parse_shard_id(id)
            .and_then(|i| stream.shard(i))
            .ok_or_else(|| Error::ShardNotFound {
                stream: name.to_string(),
                shard: id.to_string(),
            })?;
        if shard.record().end_offset.is_some() {
            return Err(Error::ShardClosed {
                stream: name.to_string(),
                shard: id.to_string(),
            });
        }
        Ok(shard)
    }

    /// Splits an open shard: the child `[start, key - 1]` and the child `[key, end]`.
    pub fn split_shard(&self, name: &str, shard: &str, new_starting_hash_key: u128) -> Result<()> {
        let stream = self.stream(name)?;
        let _admin = lock(&self.inner.admin);
        let parent = self.open_shard(&stream, name, shard)?;
        let range = parent.record().range;
        if new_starting_hash_key <= range.start.saturating_add(1)
            || new_starting_hash_key >= range.end
        {
            return Err(Error::InvalidSplitKey {
                stream: name.to_string(),
                shard: shard.to_string(),
                key: new_starting_hash_key,
                start: range.start,
                end: range.end,
            });
        }
        self.check_shard_limit(1)?;
        let left = HashKeyRange {
            start: range.start,
            end: new_starting_hash_key - 1,
        };
        let right = HashKeyRange {
            start: new_starting_hash_key,
            end: range.end,
        };
        self.reshard(&stream, &[parent], &[left, right])
    }

    /// Merges two adjacent open shards into one child.
    pub fn merge_shards(&self, name: &str, shard: &str, adjacent: &str) -> Result<()> {
        let stream = self.stream(name)?;
        let _admin = lock(&self.inner.admin);
        let a = self.open_shard(&stream, name, shard)?;
        let b = self.open_shard(&stream, name, adjacent)?;
        let (ra, rb) = (a.record().range, b.record().range);
        let merged = if ra.is_followed_by(&rb) {
            HashKeyRange {
                start: ra.start,
                end: rb.end,
            }
        } else if rb.is_followed_by(&ra) {
            HashKeyRange {
                start: rb.start,
                end: ra.end,
            }
        } else {
            return Err(Error::ShardsNotAdjacent {
                stream: name.to_string(),
                shard: shard.to_string(),
                adjacent: adjacent.to_string(),
            });
        };
        self.reshard(&stream, &[a, b], &[merged])
    }

    /// Scales to `target` open shards of even hash-key ranges by splitting at the new
    /// boundaries and merging the pieces of each new range, as Kinesis's uniform
    /// scaling does (each child has at most two parents).
    ///
    /// AWS's default rules apply, each refused before anything changes: the target may
    /// not exceed double the current open shard count nor fall below half of it
    /// ([`Error::ScalingBeyondRange`]); the account shard limit holds
    /// ([`Error::ShardLimitExceeded`]); and a stream accepts at most
    /// [`EngineConfig::max_scaling_ops_per_day`](crate::EngineConfig) calls per rolling
    /// 24 hours ([`Error::ScalingRateExceeded`]; each accepted call counts once, however
    /// many splits and merges it takes).
    pub fn update_shard_count(&self, name: &str, target: u32) -> Result<ShardCountUpdate> {
        let stream = self.stream(name)?;
        let _admin = lock(&self.inner.admin);
        let current = read(&stream.routing).open.len();
        let t = target as usize;
        if t > current.saturating_mul(2) || t == 0 || t.saturating_mul(2) < current {
            return Err(Error::ScalingBeyondRange {
                stream: name.to_string(),
                current,
                target,
            });
        }
        let now = self.now_ms();
        let day_ago = now - DAY_MS;
        let max_ops = self.inner.cfg.max_scaling_ops_per_day;
        let recent = read(&stream.meta)
            .scaling_ops_ms
            .iter()
            .filter(|&&ms| ms > day_ago)
            .count();
        if recent >= max_ops {
            return Err(Error::ScalingRateExceeded {
                stream: name.to_string(),
                recent,
                max_per_day: max_ops,
            });
        }
        self.check_shard_limit(t.saturating_sub(current))?;
        let result = self.scale_uniformly(&stream, target);
        // The call counts once whether or not every step succeeded: some may have.
        self.record_scaling_op(&stream, now)?;
        result?;
        let after = read(&stream.routing).open.len();
        Ok(ShardCountUpdate {
            current,
            target: after,
        })
    }

    /// Records one UpdateShardCount call at `now_ms` in the stream's catalog entry,
    /// forgetting calls older than 24 hours. Called with the admin lock held.
    fn record_scaling_op(&self, stream: &Stream, now_ms: i64) -> Result<()> {
        let mut meta = read(&stream.meta).clone();
        meta.scaling_ops_ms.retain(|&t| t > now_ms - DAY_MS);
        meta.scaling_ops_ms.push(now_ms);
        let mut batch = Batch::default();
        batch.put(&stream_key(&meta.name), &meta)?;
        self.inner.catalog.write(batch)?;
        *write(&stream.meta) = meta;
        Ok(())
    }

    /// The splits and merges of uniform scaling to `target` shards. Called with the
    /// admin lock held, after the limits were checked.
    fn scale_uniformly(&self, stream: &Stream, target: u32) -> Result<()> {
        let goal = even_ranges(target);
        // 1. Split so that every goal boundary is a shard boundary.
        for g in goal.iter().skip(1) {
            let routing = Arc::clone(&read(&stream.routing));
            let Some(shard) = routing.route(g.start) else {
                continue;
            };
            let range = shard.record().range;
            if range.start != g.start {
                let left = HashKeyRange {
                    start: range.start,
                    end: g.start - 1,
                };
                let right = HashKeyRange {
                    start: g.start,
                    end: range.end,
                };
                self.reshard(stream, &[Arc::clone(shard)], &[left, right])?;
            }
        }
        // 2. Merge the pieces inside each goal range, left to right.
        for g in &goal {
            loop {
                let routing = Arc::clone(&read(&stream.routing));
                let pieces: Vec<_> = routing
                    .open
                    .iter()
                    .filter(|(r, _)| r.start >= g.start && r.end <= g.end)
                    .collect();
                if pieces.len() < 2 {
                    break;
                }
                let (ra, a) = pieces[0];
                let (rb, b) = pieces[1];
                self.reshard(
                    stream,
                    &[Arc::clone(a), Arc::clone(b)],
                    &[HashKeyRange {
                        start: ra.start,
                        end: rb.end,
                    }],
                )?;
            }
        }
        Ok(())
    }

    /// Closes `parents`, creates children over `ranges`, records both atomically.
    /// Called with the admin lock held.
    fn reshard(
        &self,
        stream: &Stream,
        parents: &[Arc<Shard>],
        ranges: &[HashKeyRange],
    ) -> Result<()> {
        let now = self.now_ms();
        let mut meta = read(&stream.meta).clone();
        let name = meta.name.clone();
        let parent = parents.first().map(|p| p.index);
        let adjacent = parents.get(1).map(|p| p.index);
        let mut children = Vec::new();
        for range in ranges {
            let rec = ShardRecord {
                index: meta.next_shard_index,
                range: *range,
                parent,
                adjacent_parent: adjacent,
                created_ms: now,
                end_offset: None,
                closed_ms: None,
                start_offset: 0,
            };
            meta.next_shard_index += 1;
            match self.open_shard_log(stream, &name, &rec) {
                Ok(log) => children.push(Arc::new(Shard::new(rec, log))),
                Err(e) => {
                    remove_dirs(self.inner.cfg.fs.as_ref(), stream, &children);
                    return Err(e);
                }
            }
        }
        let mut closed = Vec::new();
        for p in parents {
            match p.log.close() {
                Ok(end) => closed.push((p, end)),
                Err(e) => {
                    for (q, _) in &closed {
                        q.log.reopen();
                    }
                    remove_dirs(self.inner.cfg.fs.as_ref(), stream, &children);
                    return Err(e);
                }
            }
        }
        let mut batch = Batch::default();
        let mut parent_recs = Vec::new();
        for (p, end) in &closed {
            let mut rec = p.record();
            rec.end_offset = Some(*end);
            rec.closed_ms = Some(now);
            batch.put(&shard_key(meta.uid, rec.index), &rec)?;
            parent_recs.push((Arc::clone(p), rec));
        }
        for c in &children {
            batch.put(&shard_key(meta.uid, c.index), &c.record())?;
        }
        batch.put(&stream_key(&name), &meta)?;
        if let Err(e) = self.inner.catalog.write(batch) {
            for (q, _) in &closed {
                q.log.reopen();
            }
            remove_dirs(self.inner.cfg.fs.as_ref(), stream, &children);
            return Err(e);
        }
        // Children first, so a reader that sees a parent closed finds its children.
        {
            let mut shards = write(&stream.shards);
            for c in &children {
                shards.insert(c.index, Arc::clone(c));
            }
        }
        let child_indexes: Vec<u64> = children.iter().map(|c| c.index).collect();
        for p in parents {
            let _ = p.children.set(child_indexes.clone());
        }
        for (p, rec) in &parent_recs {
            *write(&p.rec) = rec.clone();
        }
        *write(&stream.meta) = meta;
        stream.reroute(parents, &children);
        for (p, _) in &parent_recs {
            p.log.notify_subscribers();
        }
        Ok(())
    }

    /// Lineage of every retained shard: index to (parent, adjacent parent).
    pub fn lineage(&self, name: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let stream = self.stream(name)?;
        let shards = read(&stream.shards);
        Ok(shards
            .values()
            .map(|s| {
                let r = s.record();
                (
                    s.id.clone(),
                    r.parent
                        .into_iter()
                        .chain(r.adjacent_parent)
                        .map(shard_id)
                        .collect(),
                )
            })
            .collect())
    }
}

fn remove_dirs(fs: &dyn crate::fs::Fs, stream: &Stream, children: &[Arc<Shard>]) {
    for c in children {
        let _ = fs.remove_dir_all(&shard_dir(&stream.dir, c.index));
    }
}
