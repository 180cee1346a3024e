//! A tailing cursor over every shard of a stream, for in-process readers (delivery
//! streams, functions, SQL, video): it follows resharding as the KCL does (a child is
//! read only once each of its parents has been read to its end, so records of one
//! partition key arrive in order), reports per-shard positions to checkpoint, and waits
//! for new records on the shards' watch channels, never in a sleep loop.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Engine;
use crate::error::{Error, Result};
use crate::types::*;

/// Where a [`StreamCursor`] starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailFrom {
    /// Every retained record: the oldest retained shards from their trim horizons,
    /// then their children.
    TrimHorizon,
    /// Only records put after the cursor is made: the open shards from their ends.
    Latest,
    /// Records that arrived at or after a time (ms since the epoch), oldest shards first.
    AtTimestamp(i64),
    /// Where an earlier cursor stood ([`StreamCursor::positions`]): resuming after a
    /// checkpoint. Retained shards the positions do not name start at their trim
    /// horizon when they have no retained parent, else once their parents are read.
    Positions(CursorPositions),
}

impl TryFrom<StartingPosition> for TailFrom {
    type Error = Error;

    /// A stream-wide start: sequence numbers name one shard, so they are refused.
    fn try_from(p: StartingPosition) -> Result<TailFrom> {
        match p {
            StartingPosition::TrimHorizon => Ok(TailFrom::TrimHorizon),
            StartingPosition::Latest => Ok(TailFrom::Latest),
            StartingPosition::AtTimestamp(ts) => Ok(TailFrom::AtTimestamp(ts)),
            StartingPosition::AtSequenceNumber(_) | StartingPosition::AfterSequenceNumber(_) => {
                Err(Error::InvalidCursorStart { position: p })
            }
        }
    }
}

/// A shard's place in a cursor, as checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardPosition {
    /// Every record before this offset was delivered; the next read starts here.
    Next(u64),
    /// A closed shard read to its end.
    Finished,
}

/// Per-shard positions of a cursor, by shard id.
pub type CursorPositions = BTreeMap<String, ShardPosition>;

/// Records of one shard in a [`StreamBatch`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBatch {
    /// The shard.
    pub shard_id: Arc<str>,
    /// Its records, in sequence order.
    pub records: Vec<Record>,
    /// Where the shard's next read starts (its position once these are processed).
    pub next_offset: u64,
    /// How far behind the shard's newest record this read is, ms.
    pub millis_behind_latest: u64,
}

/// Records a cursor could not deliver because retention deleted them first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// The shard.
    pub shard_id: String,
    /// The offset the cursor stood at.
    pub from: u64,
    /// Where reading went on (the trim horizon); `None` when the whole (closed) shard
    /// expired, and the cursor went on to its children.
    pub resumed_at: Option<u64>,
}

/// What one call of [`StreamCursor::next`] delivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamBatch {
    /// Records by shard (only shards that had some).
    pub shards: Vec<ShardBatch>,
    /// Shards whose position fell below the trim horizon.
    pub trimmed: Vec<Trimmed>,
    /// Closed shards read to their end by this call (their position is now
    /// [`ShardPosition::Finished`]).
    pub finished: Vec<String>,
    /// Shards that became readable (children whose parents are finished).
    pub started: Vec<String>,
}

impl StreamBatch {
    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.shards.iter().map(|s| s.records.len()).sum()
    }

    /// Whether it holds no records and reports nothing.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty() && self.trimmed.is_empty() && self.finished.is_empty()
    }

    /// Every record with its shard, shard by shard.
    pub fn records(&self) -> impl Iterator<Item = (&str, &Record)> {
        self.shards
            .iter()
            .flat_map(|s| s.records.iter().map(move |r| (&*s.shard_id, r)))
    }
}

#[derive(Debug)]
enum Phase {
    /// Waiting for these parents to finish.
    Pending {
        parents: Vec<u64>,
    },
    Reading {
        offset: u64,
        watch: watch::Receiver<u64>,
    },
    Finished,
}

#[derive(Debug)]
struct Tracked {
    id: Arc<str>,
    phase: Phase,
}

/// Reads every shard of a stream as it grows, in the KCL's order across reshards. Made
/// by [`Engine::tail_stream`]. Reads are served from the log's maps in the calling task
/// (no blocking pool); waits are on the shards' watch channels.
#[derive(Debug)]
pub struct StreamCursor {
    engine: Engine,
    stream: String,
    uid: u64,
    /// Children start at this time instead of their first record.
    at_timestamp: Option<i64>,
    shards: BTreeMap<u64, Tracked>,
    /// Rotates the shard read first, so no shard starves the others of a batch.
    turn: usize,
    /// Records come with their partition keys (see [`StreamCursor::without_keys`]).
    keys: bool,
}

impl Engine {
    /// A cursor over every shard of a stream (see [`StreamCursor`]).
    pub fn tail_stream(&self, name: &str, from: TailFrom) -> Result<StreamCursor> {
        let d = self.describe_stream(name)?;
        if d.status == StreamStatus::Creating {
            return Err(Error::StreamNotActive {
                stream: name.to_string(),
                status: d.status,
            });
        }
        let mut cursor = StreamCursor {
            engine: self.clone(),
            stream: name.to_string(),
            uid: d.uid,
            at_timestamp: match from {
                TailFrom::AtTimestamp(ts) => Some(ts),
                _ => None,
            },
            shards: BTreeMap::new(),
            turn: 0,
            keys: true,
        };
        let retained: BTreeSet<u64> = d.shards.iter().map(|s| s.index).collect();
        for s in &d.shards {
            let parents = retained_parents(s, &retained);
            let phase = match &from {
                TailFrom::Latest if s.is_closed() => Phase::Finished,
                TailFrom::Latest => cursor.reading_from(&s.shard_id, StartingPosition::Latest)?,
                TailFrom::TrimHorizon if parents.is_empty() => {
                    cursor.reading_from(&s.shard_id, StartingPosition::TrimHorizon)?
                }
                TailFrom::AtTimestamp(ts) if parents.is_empty() => {
                    cursor.reading_from(&s.shard_id, StartingPosition::AtTimestamp(*ts))?
                }
                TailFrom::Positions(p) => match p.get(&s.shard_id) {
                    Some(ShardPosition::Finished) => Phase::Finished,
                    Some(ShardPosition::Next(offset)) => cursor.reading_at(&s.shard_id, *offset)?,
                    None if parents.is_empty() => {
                        cursor.reading_from(&s.shard_id, StartingPosition::TrimHorizon)?
                    }
                    None => Phase::Pending { parents },
                },
                _ => Phase::Pending { parents },
            };
            cursor.shards.insert(
                s.index,
                Tracked {
                    id: Arc::from(s.shard_id.as_str()),
                    phase,
                },
            );
        }
        cursor.promote()?;
        Ok(cursor)
    }
}

/// The parents of `s` that the stream still retains.
fn retained_parents(s: &ShardDescription, retained: &BTreeSet<u64>) -> Vec<u64> {
    [&s.parent_shard_id, &s.adjacent_parent_shard_id]
        .into_iter()
        .flatten()
        .filter_map(|p| parse_shard_id(p))
        .filter(|p| retained.contains(p))
        .collect()
}

impl StreamCursor {
    /// Records come with empty partition keys: for a reader that never looks at them
    /// (a delivery stream's own buffer), one reference count less per record.
    pub fn without_keys(mut self) -> StreamCursor {
        self.keys = false;
        self
    }

    /// The stream read.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Where the cursor stands in each shard it has started (shards still waiting for
    /// their parents are not named): what to checkpoint, and to resume from with
    /// [`TailFrom::Positions`].
    pub fn positions(&self) -> CursorPositions {
        self.shards
            .values()
            .filter_map(|t| match &t.phase {
                Phase::Reading { offset, .. } => {
                    Some((t.id.to_string(), ShardPosition::Next(*offset)))
                }
                Phase::Finished => Some((t.id.to_string(), ShardPosition::Finished)),
                Phase::Pending { .. } => None,
            })
            .collect()
    }

    /// The shards being read now (not waiting for parents, not finished).
    pub fn shards_reading(&self) -> Vec<String> {
        self.shards
            .values()
            .filter(|t| matches!(t.phase, Phase::Reading { .. }))
            .map(|t| t.id.to_string())
            .collect()
    }

    /// Waits until records are available (or a shard finished or was trimmed) and
    /// returns up to `max_records` records and about `max_bytes` bytes of them (at least
    /// one record when any is available). Fails with [`Error::StreamDeleted`] once the
    /// stream is deleted, [`Error::ShutDown`] once the engine is. Cancel-safe: a call
    /// dropped while it waits loses nothing.
    pub async fn next(&mut self, max_records: usize, max_bytes: usize) -> Result<StreamBatch> {
        loop {
            let batch = self.read_now(max_records, max_bytes)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            self.wait().await?;
        }
    }

    /// [`StreamCursor::next`], waiting at most `wait`: an empty batch when nothing came.
    pub async fn next_within(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        wait: Duration,
    ) -> Result<StreamBatch> {
        match tokio::time::timeout(wait, self.next(max_records, max_bytes)).await {
            Ok(result) => result,
            Err(_) => Ok(StreamBatch::default()),
        }
    }

    /// Reads what is available now, without waiting (the batch may be empty).
    pub fn read_now(&mut self, max_records: usize, max_bytes: usize) -> Result<StreamBatch> {
        self.check_stream()?;
        let mut batch = StreamBatch::default();
        let mut records_left = max_records.max(1);
        let mut bytes_left = max_bytes.max(1);
        let mut order: Vec<u64> = self
            .shards
            .iter()
            .filter(|(_, t)| matches!(t.phase, Phase::Reading { .. }))
            .map(|(&i, _)| i)
            .collect();
        if !order.is_empty() {
            let by = self.turn % order.len();
            order.rotate_left(by);
        }
        self.turn = self.turn.wrapping_add(1);
        let mut lost = false;
        for index in order {
            if records_left == 0 || bytes_left == 0 {
                break;
            }
            let Some(t) = self.shards.get_mut(&index) else {
                continue;
            };
            let Phase::Reading { offset, watch } = &mut t.phase else {
                continue;
            };
            // Seen now: a record published after this read wakes the wait.
            watch.borrow_and_update();
            let from = *offset;
            let got = match self.engine.read_records(
                &self.stream,
                &t.id,
                from,
                records_left,
                bytes_left,
                self.keys,
            ) {
                Ok(got) => got,
                Err(Error::ShardNotFound { .. }) => {
                    // A closed shard whose records all expired left the stream.
                    batch.trimmed.push(Trimmed {
                        shard_id: t.id.to_string(),
                        from,
                        resumed_at: None,
                    });
                    batch.finished.push(t.id.to_string());
                    t.phase = Phase::Finished;
                    lost = true;
                    continue;
                }
                Err(e) => return Err(self.deleted_or(e)),
            };
            let first = got
                .records
                .first()
                .map_or(got.next_offset, |r| r.sequence_number.offset);
            if first > from {
                batch.trimmed.push(Trimmed {
                    shard_id: t.id.to_string(),
                    from,
                    resumed_at: Some(first),
                });
            }
            *offset = got.next_offset;
            let bytes: usize = got
                .records
                .iter()
                .map(|r| r.partition_key.len() + r.data.len())
                .sum();
            records_left = records_left.saturating_sub(got.records.len());
            bytes_left = bytes_left.saturating_sub(bytes);
            if !got.records.is_empty() {
                batch.shards.push(ShardBatch {
                    shard_id: Arc::clone(&t.id),
                    records: got.records,
                    next_offset: got.next_offset,
                    millis_behind_latest: got.millis_behind_latest,
                });
            }
            if let Some(children) = got.child_shards {
                batch.finished.push(t.id.to_string());
                t.phase = Phase::Finished;
                for c in children {
                    let Some(ci) = parse_shard_id(&c.shard_id) else {
                        continue;
                    };
                    let parents = c
                        .parent_shards
                        .iter()
                        .filter_map(|p| parse_shard_id(p))
                        .collect();
                    self.shards.entry(ci).or_insert_with(|| Tracked {
                        id: Arc::from(c.shard_id.as_str()),
                        phase: Phase::Pending { parents },
                    });
                }
            }
        }
        if lost {
            self.discover()?;
        }
        batch.started = self.promote()?;
        Ok(batch)
    }

    /// Fails when the stream was deleted (or replaced by another incarnation).
    fn check_stream(&self) -> Result<()> {
        match self.engine.stream_summary(&self.stream) {
            Ok(s) if s.uid == self.uid => Ok(()),
            Ok(_) | Err(Error::StreamNotFound { .. }) => Err(Error::StreamDeleted {
                stream: self.stream.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// `e`, or [`Error::StreamDeleted`] when the stream is gone.
    fn deleted_or(&self, e: Error) -> Error {
        match self.check_stream() {
            Err(deleted @ Error::StreamDeleted { .. }) => deleted,
            _ => e,
        }
    }

    /// A shard's reading phase from a starting position.
    fn reading_from(&self, shard: &str, from: StartingPosition) -> Result<Phase> {
        Ok(Phase::Reading {
            offset: self.engine.start_offset(&self.stream, shard, from)?,
            watch: self.engine.watch_shard(&self.stream, shard)?,
        })
    }

    /// A shard's reading phase from an offset.
    fn reading_at(&self, shard: &str, offset: u64) -> Result<Phase> {
        Ok(Phase::Reading {
            offset,
            watch: self.engine.watch_shard(&self.stream, shard)?,
        })
    }

    /// Starts every pending shard whose parents are finished (or no longer tracked);
    /// returns their ids.
    fn promote(&mut self) -> Result<Vec<String>> {
        let ready: Vec<u64> = self
            .shards
            .iter()
            .filter(|(_, t)| match &t.phase {
                Phase::Pending { parents } => parents.iter().all(|p| {
                    self.shards
                        .get(p)
                        .is_none_or(|pt| matches!(pt.phase, Phase::Finished))
                }),
                _ => false,
            })
            .map(|(&i, _)| i)
            .collect();
        let mut started = Vec::new();
        for index in ready {
            let Some(id) = self.shards.get(&index).map(|t| Arc::clone(&t.id)) else {
                continue;
            };
            // A child is read from its first record (records retention deleted before
            // the cursor got there are then reported), or from the cursor's timestamp.
            let phase = match self.at_timestamp {
                Some(ts) => self.reading_from(&id, StartingPosition::AtTimestamp(ts)),
                None => self.reading_at(&id, 0),
            };
            let phase = match phase {
                Ok(phase) => phase,
                Err(Error::ShardNotFound { .. }) => Phase::Finished,
                Err(e) => return Err(self.deleted_or(e)),
            };
            if let Some(t) = self.shards.get_mut(&index) {
                t.phase = phase;
            }
            started.push(id.to_string());
        }
        Ok(started)
    }

    /// Tracks retained shards the cursor does not know yet (children of a shard that
    /// expired before the cursor read its end), and forgets finished shards the stream
    /// no longer retains. Lists every shard: only after such a loss.
    fn discover(&mut self) -> Result<()> {
        let d = self
            .engine
            .describe_stream(&self.stream)
            .map_err(|e| self.deleted_or(e))?;
        let set: BTreeSet<u64> = d.shards.iter().map(|s| s.index).collect();
        self.shards
            .retain(|i, t| set.contains(i) || !matches!(t.phase, Phase::Finished));
        for s in &d.shards {
            self.shards.entry(s.index).or_insert_with(|| Tracked {
                id: Arc::from(s.shard_id.as_str()),
                phase: Phase::Pending {
                    parents: retained_parents(s, &set),
                },
            });
        }
        Ok(())
    }

    /// Waits until a shard being read has new records (or closes, or its stream or the
    /// engine goes away).
    async fn wait(&mut self) -> Result<()> {
        let mut changes: Vec<Pin<Box<dyn Future<Output = bool> + Send + '_>>> = self
            .shards
            .values_mut()
            .filter_map(|t| match &mut t.phase {
                Phase::Reading { watch, .. } => {
                    let f: Pin<Box<dyn Future<Output = bool> + Send + '_>> =
                        Box::pin(async move { watch.changed().await.is_ok() });
                    Some(f)
                }
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            // Nothing to read until a reshard that this cursor cannot see: none can
            // happen without an open shard, so this waits for deletion or shutdown.
            std::future::pending::<()>().await;
        }
        let alive = poll_fn(|cx| {
            for f in changes.iter_mut() {
                if let Poll::Ready(alive) = f.as_mut().poll(cx) {
                    return Poll::Ready(alive);
                }
            }
            Poll::Pending
        })
        .await;
        drop(changes);
        if !alive {
            // The shard's log is gone: its stream was deleted.
            self.check_stream()?;
            return Err(Error::StreamDeleted {
                stream: self.stream.clone(),
            });
        }
        Ok(())
    }
}
