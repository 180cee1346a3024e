//! Puts and reads.

use std::sync::Arc;

use super::{read, Engine, Shard, Stream};
use crate::error::{Error, Result};
use crate::hash_key::hash_keys_of;
use crate::log::frame::{RecordRef, FRAME_HEADER, RECORD_HEADER};
use crate::log::{LogView, ViewRecord};
use crate::sequence::SequenceNumber;
use crate::types::*;
use crate::validate;

/// How many times a put re-routes after meeting a shard closed by a concurrent reshard.
const REROUTE_ATTEMPTS: usize = 200;

impl Engine {
    fn writable_stream(&self, name: &str) -> Result<Arc<Stream>> {
        let stream = self.stream(name)?;
        if self.now_ms() < read(&stream.meta).active_at_ms {
            return Err(Error::StreamNotActive {
                stream: name.to_string(),
                status: StreamStatus::Creating,
            });
        }
        Ok(stream)
    }

    /// Appends one record; returns once it is acknowledged.
    pub fn put_record(&self, stream: &str, record: PutRecordInput) -> Result<PutOutcome> {
        match self.put_batch(stream, vec![record])?.pop() {
            Some(Ok(outcome)) => Ok(outcome),
            // One record: its error is not shared with another.
            Some(Err(e)) => Err(Arc::try_unwrap(e).unwrap_or_else(|shared| {
                Error::Internal(format!("a put's error was shared: {shared}"))
            })),
            None => Err(Error::Internal(
                "a put of one record returned no result".into(),
            )),
        }
    }

    /// Appends up to 500 records. Records for one shard form one batch on disk and keep
    /// their order; every shard's batch is written before any waits for its sync, so
    /// the syncs of different shards overlap. Returns one result per record, in order.
    pub fn put_records(
        &self,
        stream_name: &str,
        records: Vec<PutRecordInput>,
    ) -> Result<Vec<Result<PutOutcome, RecordFailure>>> {
        Ok(record_failures(self.put_batch(stream_name, records)?))
    }

    /// [`Engine::put_records`] for async callers: the batches are written on the
    /// calling thread (positional writes into the page cache), and the wait for their
    /// syncs holds no thread (flusher threads sync; the end of each sync wakes the
    /// task), so a runtime worker can take the whole request without a hand-off.
    pub async fn put_records_async(
        &self,
        stream_name: &str,
        records: Vec<PutRecordInput>,
    ) -> Result<Vec<Result<PutOutcome, RecordFailure>>> {
        let stream = self.writable_for_put(stream_name, &records)?;
        let mut results: Vec<Option<Result<PutOutcome, Arc<Error>>>> = vec![None; records.len()];
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut landed = Vec::new();
        for _ in 0..REROUTE_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            let mut append = || self.append_routed(&stream, &records, &pending, &mut results);
            // A batch that may fill a segment rolls it (syncs of files and the
            // directory): on a multi-threaded runtime, off the worker's queue.
            let (batches, retry) = if self.put_may_roll(&stream, &records)
                && tokio::runtime::Handle::try_current()
                    .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            {
                tokio::task::block_in_place(append)?
            } else {
                append()?
            };
            landed.extend(batches);
            pending = retry;
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        }
        for l in &landed {
            l.shard.log.request_sync(l.target);
        }
        for l in landed {
            let synced = l.shard.log.durable(l.target).await;
            l.settle(synced, &mut results);
        }
        Ok(record_outcomes(stream_name, results))
    }

    /// Whether `records` could fill the active segment of one of the stream's open
    /// shards (all of them in one shard's batch, the most any batch holds).
    fn put_may_roll(&self, stream: &Stream, records: &[PutRecordInput]) -> bool {
        let bytes: usize = FRAME_HEADER
            + records
                .iter()
                .map(|r| RECORD_HEADER + r.partition_key.len() + r.data.len())
                .sum::<usize>();
        read(&stream.routing)
            .open
            .iter()
            .any(|(_, shard)| shard.log.segment_room() < bytes as u64)
    }

    /// The stream, once the records pass the engine's checks and the disk has room.
    fn writable_for_put(
        &self,
        stream_name: &str,
        records: &[PutRecordInput],
    ) -> Result<Arc<Stream>> {
        if records.is_empty() || records.len() > MAX_PUT_RECORDS {
            return Err(Error::RecordCount {
                count: records.len(),
                max: MAX_PUT_RECORDS,
            });
        }
        for r in records {
            validate::partition_key(&r.partition_key)?;
            validate::data(&r.data)?;
        }
        let stream = self.writable_stream(stream_name)?;
        self.check_disk()?;
        Ok(stream)
    }

    /// `put_records` with the engine's own error for each failed record.
    fn put_batch(
        &self,
        stream_name: &str,
        records: Vec<PutRecordInput>,
    ) -> Result<Vec<Result<PutOutcome, Arc<Error>>>> {
        let stream = self.writable_for_put(stream_name, &records)?;
        let mut results: Vec<Option<Result<PutOutcome, Arc<Error>>>> = vec![None; records.len()];
        let mut pending: Vec<usize> = (0..records.len()).collect();
        for _ in 0..REROUTE_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            pending = self.put_routed(&stream, &records, &pending, &mut results)?;
            if !pending.is_empty() {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        Ok(finish_results(stream_name, results))
    }

    /// One routing pass, waiting for its syncs; returns the records that met a closed
    /// shard and must go again.
    fn put_routed(
        &self,
        stream: &Stream,
        records: &[PutRecordInput],
        pending: &[usize],
        results: &mut [Option<Result<PutOutcome, Arc<Error>>>],
    ) -> Result<Vec<usize>> {
        let (landed, retry) = self.append_routed(stream, records, pending, results)?;
        // Start every shard's sync but the last before waiting on any: they overlap.
        if let Some((_, rest)) = landed.split_last() {
            for l in rest {
                l.shard.log.request_sync(l.target);
            }
        }
        for l in landed {
            let synced = l.shard.log.wait_durable(l.target);
            l.settle(synced, results);
        }
        Ok(retry)
    }

    /// One routing pass without waiting: every shard's batch written; returns them and
    /// the records that met a closed shard and must go again (a failed write fails
    /// its records in `results`).
    fn append_routed(
        &self,
        stream: &Stream,
        records: &[PutRecordInput],
        pending: &[usize],
        results: &mut [Option<Result<PutOutcome, Arc<Error>>>],
    ) -> Result<(Vec<Landed>, Vec<usize>)> {
        let routing = Arc::clone(&read(&stream.routing));
        // Group by shard, keeping request order within each group.
        let mut groups: Vec<(Arc<Shard>, Vec<usize>)> = Vec::new();
        let only = match routing.open.as_slice() {
            [(_, shard)] => Some(shard),
            _ => None,
        };
        // With one open shard every key routes to it: no need to hash. Otherwise the
        // partition keys are hashed together, eight at a time (an explicit hash key
        // wins; its record's lane hashes the empty key).
        let mut hashed = Vec::new();
        if only.is_none() {
            let keys: Vec<&str> = pending
                .iter()
                .map(|&i| match records[i].explicit_hash_key {
                    Some(_) => "",
                    None => &records[i].partition_key,
                })
                .collect();
            hash_keys_of(&keys, &mut hashed);
        }
        for (n, &i) in pending.iter().enumerate() {
            let shard = match only {
                Some(shard) => shard,
                None => {
                    let key = records[i].explicit_hash_key.unwrap_or(hashed[n]);
                    routing.route(key).ok_or_else(|| {
                        Error::Internal(format!("no open shard owns hash key {key}"))
                    })?
                }
            };
            match groups.iter_mut().find(|(s, _)| Arc::ptr_eq(s, shard)) {
                Some((_, v)) => v.push(i),
                None => groups.push((Arc::clone(shard), vec![i])),
            }
        }
        let now = self.now_ms();
        let mut retry = Vec::new();
        let mut landed = Vec::with_capacity(groups.len());
        for (shard, idxs) in groups {
            let refs: Vec<RecordRef<'_>> = idxs
                .iter()
                .map(|&i| RecordRef {
                    partition_key: &records[i].partition_key,
                    data: &records[i].data,
                })
                .collect();
            match shard.log.append_unsynced(&refs, now) {
                Ok((appended, target)) => landed.push(Landed {
                    shard,
                    idxs,
                    base_offset: appended.base_offset,
                    target,
                }),
                Err(Error::ShardClosed { .. }) => retry.extend_from_slice(&idxs),
                Err(e) => fail_all(results, &idxs, e),
            }
        }
        retry.sort_unstable();
        Ok((landed, retry))
    }

    pub(crate) fn shard_of(
        &self,
        stream: &Stream,
        stream_name: &str,
        shard: &str,
    ) -> Result<Arc<Shard>> {
        parse_shard_id(shard)
            .and_then(|i| stream.shard(i))
            .ok_or_else(|| Error::ShardNotFound {
                stream: stream_name.to_string(),
                shard: shard.to_string(),
            })
    }

    /// Resolves a starting position to a log offset of the shard (what a shard iterator
    /// holds).
    pub fn start_offset(
        &self,
        stream_name: &str,
        shard: &str,
        position: StartingPosition,
    ) -> Result<u64> {
        let stream = self.writable_stream(stream_name)?;
        let shard = self.shard_of(&stream, stream_name, shard)?;
        let log = &shard.log;
        let check = |seq: SequenceNumber| -> Result<u64> {
            if seq.shard_index != shard.index {
                return Err(Error::SequenceNumberOfOtherShard {
                    shard: shard.id.clone(),
                    sequence_number: seq,
                });
            }
            if seq.offset > log.visible_next() {
                return Err(Error::SequenceNumberBeyondEnd {
                    stream: stream_name.to_string(),
                    shard: shard.id.clone(),
                    sequence_number: seq,
                });
            }
            Ok(seq.offset.max(log.start_offset()))
        };
        Ok(match position {
            StartingPosition::TrimHorizon => log.start_offset(),
            StartingPosition::Latest => log.visible_next(),
            StartingPosition::AtSequenceNumber(seq) => check(seq)?,
            StartingPosition::AfterSequenceNumber(seq) => check(seq)?
                .max(seq.offset.saturating_add(1))
                .min(log.visible_next()),
            StartingPosition::AtTimestamp(ts) => log.offset_at_time(ts)?,
        })
    }

    /// [`Engine::read`] for scans: the records share their frames' bytes (no reference
    /// count per record), without the lag and child shards a consumer is told.
    pub fn read_view(
        &self,
        stream_name: &str,
        shard: &str,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<RecordView> {
        let stream = self.writable_stream(stream_name)?;
        let shard = self.shard_of(&stream, stream_name, shard)?;
        Ok(RecordView {
            log: shard.log.read_view(
                offset,
                max_records.min(MAX_READ_RECORDS),
                max_bytes.min(MAX_READ_BYTES),
            )?,
            shard_index: shard.index,
        })
    }

    /// Reads up to `max_records` records and `max_bytes` bytes from `offset` of a shard
    /// (a start below the trim horizon starts there). A read that reaches the end of a
    /// closed shard reports its children.
    pub fn read(
        &self,
        stream_name: &str,
        shard: &str,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome> {
        self.read_records(stream_name, shard, offset, max_records, max_bytes, true)
    }

    /// [`Engine::read`]; without `keys`, the records' partition keys come empty.
    pub(crate) fn read_records(
        &self,
        stream_name: &str,
        shard: &str,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
        keys: bool,
    ) -> Result<ReadOutcome> {
        let stream = self.writable_stream(stream_name)?;
        let shard = self.shard_of(&stream, stream_name, shard)?;
        let index = shard.index;
        let (records, next_offset) = shard.log.read_with(
            offset,
            max_records.min(MAX_READ_RECORDS),
            max_bytes.min(MAX_READ_BYTES),
            keys,
            |offset, arrival_ms, partition_key, data| Record {
                sequence_number: SequenceNumber::new(index, offset),
                arrival_ms,
                partition_key,
                data,
            },
        )?;
        let newest = shard.log.visible_next();
        let millis_behind_latest = match records.last() {
            Some(last) if next_offset < newest => (self.now_ms() - last.arrival_ms).max(0) as u64,
            _ => 0,
        };
        let end = shard.record().end_offset;
        let child_shards = match end {
            Some(end) if next_offset >= end => Some(self.children_of(&stream, &shard)),
            _ => None,
        };
        Ok(ReadOutcome {
            records,
            next_offset,
            millis_behind_latest,
            child_shards,
        })
    }

    /// Watches a shard for new acknowledged records: the receiver holds the offset
    /// after the newest readable record and wakes when it advances or the shard closes.
    pub fn watch_shard(
        &self,
        stream_name: &str,
        shard: &str,
    ) -> Result<tokio::sync::watch::Receiver<u64>> {
        let stream = self.stream(stream_name)?;
        let shard = self.shard_of(&stream, stream_name, shard)?;
        Ok(shard.log.subscribe())
    }

    /// The retained children of a shard, from the children index: no scan of the
    /// stream's shards.
    pub(crate) fn children_of(&self, stream: &Stream, parent: &Shard) -> Vec<ChildShard> {
        parent
            .children()
            .iter()
            .filter_map(|&c| stream.shard(c))
            .map(|s| s.record())
            .map(|r| ChildShard {
                shard_id: shard_id(r.index),
                parent_shards: r
                    .parent
                    .into_iter()
                    .chain(r.adjacent_parent)
                    .map(shard_id)
                    .collect(),
                range: r.range,
            })
            .collect()
    }
}

/// One shard's batch of a put, written and waiting for its sync.
struct Landed {
    shard: Arc<Shard>,
    /// The records' indexes in the request, in the batch's order.
    idxs: Vec<usize>,
    base_offset: u64,
    /// The offset to wait for.
    target: u64,
}

impl Landed {
    /// The batch's records' results once its sync ended (`synced`).
    fn settle(self, synced: Result<()>, results: &mut [Option<Result<PutOutcome, Arc<Error>>>]) {
        match synced {
            Ok(()) => {
                // The batch's own copy of the id: its records' clones (and their drops
                // later) count on this task's copy, not on one every put on every
                // core contends for.
                let id: Arc<str> = Arc::from(&*self.shard.shared_id);
                for (k, &i) in self.idxs.iter().enumerate() {
                    results[i] = Some(Ok(PutOutcome {
                        shard_id: Arc::clone(&id),
                        sequence_number: SequenceNumber::new(
                            self.shard.index,
                            self.base_offset + k as u64,
                        ),
                    }));
                }
            }
            Err(e) => fail_all(results, &self.idxs, e),
        }
    }
}

/// Every record's result; those never written (re-routed too often) lost a race
/// with resharding.
fn finish_results(
    stream_name: &str,
    results: Vec<Option<Result<PutOutcome, Arc<Error>>>>,
) -> Vec<Result<PutOutcome, Arc<Error>>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Arc::new(Error::ReshardRace {
                    stream: stream_name.to_string(),
                }))
            })
        })
        .collect()
}

/// Engine errors of records as the API's per-record failures.
fn record_failures(
    results: Vec<Result<PutOutcome, Arc<Error>>>,
) -> Vec<Result<PutOutcome, RecordFailure>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| record_failure(&e)))
        .collect()
}

/// [`finish_results`] and [`record_failures`] in one pass.
fn record_outcomes(
    stream_name: &str,
    results: Vec<Option<Result<PutOutcome, Arc<Error>>>>,
) -> Vec<Result<PutOutcome, RecordFailure>> {
    results
        .into_iter()
        .map(|r| match r {
            Some(Ok(outcome)) => Ok(outcome),
            Some(Err(e)) => Err(record_failure(&e)),
            None => Err(record_failure(&Error::ReshardRace {
                stream: stream_name.to_string(),
            })),
        })
        .collect()
}

/// An engine error as a record's failure.
fn record_failure(e: &Error) -> RecordFailure {
    RecordFailure {
        error_code: "InternalFailure".into(),
        message: format!("Internal service failure: {e}"),
    }
}

fn fail_all(results: &mut [Option<Result<PutOutcome, Arc<Error>>>], idxs: &[usize], e: Error) {
    let e = Arc::new(e);
    for &i in idxs {
        results[i] = Some(Err(Arc::clone(&e)));
    }
}

/// Records of one shard read by [`Engine::read_view`].
#[derive(Debug, Clone, Default)]
pub struct RecordView {
    /// The records and the frames holding them.
    pub log: LogView,
    shard_index: u64,
}

impl RecordView {
    /// A record's sequence number.
    pub fn sequence_number(&self, r: &ViewRecord) -> SequenceNumber {
        SequenceNumber::new(self.shard_index, r.offset)
    }

    /// The records as owned [`Record`]s (one reference count each).
    pub fn to_records(&self) -> Vec<Record> {
        self.log
            .records
            .iter()
            .map(|r| {
                let frame = &self.log.frames[r.frame];
                let s = r.span;
                Record {
                    sequence_number: self.sequence_number(r),
                    arrival_ms: r.arrival_ms,
                    partition_key: frame.slice(s.key_start..s.key_start + s.key_len),
                    data: frame.slice(s.data_start..s.data_start + s.data_len),
                }
            })
            .collect()
    }
}
