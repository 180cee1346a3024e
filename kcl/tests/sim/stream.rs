//! A simulated stream: shards with lineage, records, iterators; every future ready at
//! once.

use std::sync::{Arc, Mutex};

use freshet_client::{
    ChildShard, GetRecordsOutput, HashKeyRange, Record, Shard, ShardIteratorType,
};
use freshet_kcl::{compare_sequence, ShardSource, SourceFuture};

pub struct SimShard {
    pub id: String,
    pub parent: Option<String>,
    pub adjacent: Option<String>,
    pub range: HashKeyRange,
    pub records: Vec<Record>,
    pub closed: bool,
}

#[derive(Default)]
pub struct StreamState {
    pub shards: Vec<SimShard>,
    pub next_seq: u64,
    pub now_ms: i64,
}

#[derive(Clone, Default)]
pub struct SimStream {
    pub state: Arc<Mutex<StreamState>>,
}

fn shard_id(i: usize) -> String {
    format!("shardId-{i:012}")
}

impl SimStream {
    pub fn new(shards: usize) -> Self {
        let s = SimStream::default();
        {
            let mut st = s.state.lock().unwrap();
            let n = shards as u128;
            let step = u128::MAX / n;
            for i in 0..shards {
                let start = step * i as u128;
                let end = if i + 1 == shards {
                    u128::MAX
                } else {
                    step * (i as u128 + 1) - 1
                };
                st.shards.push(SimShard {
                    id: shard_id(i),
                    parent: None,
                    adjacent: None,
                    range: HashKeyRange { start, end },
                    records: Vec::new(),
                    closed: false,
                });
            }
        }
        s
    }

    /// Puts one record at `hash`; returns (shard, sequence).
    pub fn put(&self, hash: u128, now_ms: i64) -> (String, String) {
        let mut st = self.state.lock().unwrap();
        st.now_ms = now_ms;
        st.next_seq += 1;
        let seq = st.next_seq.to_string();
        let shard = st
            .shards
            .iter_mut()
            .find(|s| !s.closed && s.range.contains(hash))
            .expect("an open shard covers every hash key");
        shard.records.push(Record {
            sequence_number: seq.clone(),
            approximate_arrival_ms: Some(now_ms),
            partition_key: format!("{hash:x}"),
            data: bytes::Bytes::from(seq.clone()),
        });
        (shard.id.clone(), seq)
    }

    /// Splits the `pick`-th open shard in two. Returns false when nothing to split.
    pub fn split(&self, pick: usize) -> bool {
        let mut st = self.state.lock().unwrap();
        let open: Vec<usize> = (0..st.shards.len())
            .filter(|i| !st.shards[*i].closed)
            .collect();
        if open.is_empty() || open.len() >= 8 {
            return false;
        }
        let i = open[pick % open.len()];
        let r = st.shards[i].range;
        if r.end - r.start < 4 {
            return false;
        }
        let mid = r.start + (r.end - r.start) / 2;
        st.shards[i].closed = true;
        let parent = st.shards[i].id.clone();
        for range in [
            HashKeyRange {
                start: r.start,
                end: mid,
            },
            HashKeyRange {
                start: mid + 1,
                end: r.end,
            },
        ] {
            let id = shard_id(st.shards.len());
            st.shards.push(SimShard {
                id,
                parent: Some(parent.clone()),
                adjacent: None,
                range,
                records: Vec::new(),
                closed: false,
            });
        }
        true
    }

    /// Merges the `pick`-th pair of adjacent open shards.
    pub fn merge(&self, pick: usize) -> bool {
        let mut st = self.state.lock().unwrap();
        let mut open: Vec<usize> = (0..st.shards.len())
            .filter(|i| !st.shards[*i].closed)
            .collect();
        open.sort_by_key(|i| st.shards[*i].range.start);
        let pairs: Vec<(usize, usize)> = open
            .windows(2)
            .filter(|w| {
                st.shards[w[0]].range.end.checked_add(1) == Some(st.shards[w[1]].range.start)
            })
            .map(|w| (w[0], w[1]))
            .collect();
        if pairs.is_empty() {
            return false;
        }
        let (a, b) = pairs[pick % pairs.len()];
        st.shards[a].closed = true;
        st.shards[b].closed = true;
        let range = HashKeyRange {
            start: st.shards[a].range.start,
            end: st.shards[b].range.end,
        };
        let id = shard_id(st.shards.len());
        let (pa, pb) = (st.shards[a].id.clone(), st.shards[b].id.clone());
        st.shards.push(SimShard {
            id,
            parent: Some(pa),
            adjacent: Some(pb),
            range,
            records: Vec::new(),
            closed: false,
        });
        true
    }

    /// Parents of a shard.
    pub fn parents(&self, id: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.shards
            .iter()
            .find(|s| s.id == id)
            .map(|s| {
                [s.parent.clone(), s.adjacent.clone()]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn index(st: &StreamState, id: &str) -> Result<usize, freshet_client::Error> {
        st.shards
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| freshet_client::Error::ResourceNotFound(id.to_string()))
    }
}

fn ready<T: Send + 'static>(v: Result<T, freshet_client::Error>) -> SourceFuture<'static, T> {
    Box::pin(async move { v })
}

impl ShardSource for SimStream {
    fn list_shards(&self) -> SourceFuture<'_, Vec<Shard>> {
        let st = self.state.lock().unwrap();
        let shards = st
            .shards
            .iter()
            .map(|s| Shard {
                shard_id: s.id.clone(),
                parent_shard_id: s.parent.clone(),
                adjacent_parent_shard_id: s.adjacent.clone(),
                hash_key_range: s.range,
                starting_sequence_number: "0".into(),
                ending_sequence_number: s.closed.then(|| "9".repeat(30)),
            })
            .collect();
        ready(Ok(shards))
    }

    fn get_shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> SourceFuture<'a, String> {
        let st = self.state.lock().unwrap();
        let r = Self::index(&st, shard_id).map(|i| {
            let recs = &st.shards[i].records;
            let offset = match position {
                ShardIteratorType::TrimHorizon => 0,
                ShardIteratorType::Latest => recs.len(),
                ShardIteratorType::AtSequenceNumber(s) => recs
                    .iter()
                    .position(|r| compare_sequence(&r.sequence_number, &s).is_ge())
                    .unwrap_or(recs.len()),
                ShardIteratorType::AfterSequenceNumber(s) => recs
                    .iter()
                    .position(|r| compare_sequence(&r.sequence_number, &s).is_gt())
                    .unwrap_or(recs.len()),
                ShardIteratorType::AtTimestamp(ms) => recs
                    .iter()
                    .position(|r| r.approximate_arrival_ms.unwrap_or(0) >= ms)
                    .unwrap_or(recs.len()),
            };
            format!("{i}:{offset}")
        });
        ready(r)
    }

    fn get_records<'a>(
        &'a self,
        iterator: &'a str,
        limit: u32,
    ) -> SourceFuture<'a, GetRecordsOutput> {
        let st = self.state.lock().unwrap();
        let (i, offset) = iterator.split_once(':').expect("sim iterator");
        let (i, offset): (usize, usize) = (i.parse().unwrap(), offset.parse().unwrap());
        let shard = &st.shards[i];
        let end = (offset + limit as usize).min(shard.records.len());
        let records = shard.records[offset..end].to_vec();
        let done = shard.closed && end == shard.records.len();
        let children = done.then(|| {
            st.shards
                .iter()
                .filter(|c| {
                    c.parent.as_ref() == Some(&shard.id) || c.adjacent.as_ref() == Some(&shard.id)
                })
                .map(|c| ChildShard {
                    shard_id: c.id.clone(),
                    parent_shards: [c.parent.clone(), c.adjacent.clone()]
                        .into_iter()
                        .flatten()
                        .collect(),
                    hash_key_range: c.range,
                })
                .collect()
        });
        let last = shard.records.last().and_then(|r| r.approximate_arrival_ms);
        let behind = match (records.last().and_then(|r| r.approximate_arrival_ms), last) {
            (Some(a), Some(b)) => (b - a).max(0) as u64,
            _ => 0,
        };
        ready(Ok(GetRecordsOutput {
            records,
            next_shard_iterator: (!done).then(|| format!("{i}:{end}")),
            millis_behind_latest: Some(behind),
            child_shards: children,
        }))
    }
}
