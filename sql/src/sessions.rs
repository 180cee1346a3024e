//! Session windows of continuous queries: per key (the query's other GROUP BY
//! columns) a window opens at an event and stays open until `gap` passes without
//! another; an event that bridges two sessions of its key merges them (as Flink's
//! merging windows). A session spans [first event, last event + gap) and closes once
//! the watermark reaches its end; sessions ending together are emitted together.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};

/// One open session of one key.
#[derive(Debug)]
pub struct Session {
    /// Its first event's time, ms.
    pub start: i64,
    /// Its last event's time plus the gap, ms.
    pub end: i64,
    /// Its rows (the decoded columns, without window columns).
    pub batches: Vec<RecordBatch>,
    /// Offset of its oldest record, per shard.
    pub min_offset: BTreeMap<String, u64>,
    /// Rows of the batch being added.
    pending: Vec<u32>,
    pending_min: Option<u64>,
}

impl Session {
    fn absorb(&mut self, other: Session) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.batches.extend(other.batches);
        for (shard, o) in other.min_offset {
            let e = self.min_offset.entry(shard).or_insert(o);
            *e = (*e).min(o);
        }
        self.pending.extend(other.pending);
        self.pending_min = match (self.pending_min, other.pending_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The open sessions of a query.
#[derive(Debug)]
pub struct Sessions {
    gap: i64,
    /// The key columns, as indices into the decoded batches.
    key_cols: Vec<usize>,
    converter: RowConverter,
    /// Per key (its row-format bytes), its sessions, apart and ordered by start.
    open: HashMap<Vec<u8>, Vec<Session>>,
}

/// One event of a batch: its time, its row and its record's offset.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Event time, ms.
    pub ts: i64,
    /// Row in the batch.
    pub row: u32,
    /// The record's offset in its shard.
    pub offset: u64,
    /// Read again after a restart (never judged late).
    pub replayed: bool,
}

impl Sessions {
    /// Sessions `gap` ms long after their last event, keyed by `key_cols` of
    /// batches of `schema`.
    pub fn new(gap: i64, key_cols: Vec<usize>, schema: &Schema) -> Result<Sessions> {
        let fields = key_cols
            .iter()
            .map(|&c| {
                schema
                    .fields()
                    .get(c)
                    .map(|f| SortField::new(f.data_type().clone()))
                    .ok_or_else(|| Error::Invalid("session key column out of range".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sessions {
            gap: gap.max(1),
            key_cols,
            converter: RowConverter::new(fields)?,
            open: HashMap::new(),
        })
    }

    /// Adds `events` of `batch` (rows of shard `shard`); an event that starts no
    /// open session and would end at or before `closed_before` is late. Returns how
    /// many were late.
    pub fn add(
        &mut self,
        shard: &str,
        batch: &RecordBatch,
        events: &[Event],
        closed_before: i64,
    ) -> Result<u64> {
        let cols: Vec<ArrayRef> = self
            .key_cols
            .iter()
            .filter_map(|&c| batch.columns().get(c).cloned())
            .collect();
        let keys = self.converter.convert_columns(&cols)?;
        let mut per_key: HashMap<&[u8], Vec<Event>> = HashMap::new();
        for e in events {
            if (e.row as usize) < keys.num_rows() {
                per_key
                    .entry(keys.row(e.row as usize).data())
                    .or_default()
                    .push(*e);
            }
        }
        let mut late = 0;
        for (key, mut evs) in per_key {
            evs.sort_unstable_by_key(|e| (e.ts, e.row));
            let list = self.open.entry(key.to_vec()).or_default();
            for e in evs {
                let (s, end) = (e.ts, e.ts.saturating_add(self.gap));
                let first = list.partition_point(|x| x.end < s);
                let last = list.partition_point(|x| x.start <= end);
                if first >= last {
                    if end <= closed_before && !e.replayed {
                        late += 1;
                        continue;
                    }
                    list.insert(
                        first,
                        Session {
                            start: s,
                            end,
                            batches: Vec::new(),
                            min_offset: BTreeMap::new(),
                            pending: vec![e.row],
                            pending_min: Some(e.offset),
                        },
                    );
                    continue;
                }
                let mut merged: Vec<Session> = list.drain(first..last).collect();
                let mut head = merged.remove(0);
                for m in merged {
                    head.absorb(m);
                }
                head.start = head.start.min(s);
                head.end = head.end.max(end);
                head.pending.push(e.row);
                head.pending_min = Some(head.pending_min.map_or(e.offset, |m| m.min(e.offset)));
                list.insert(first, head);
            }
            for sess in list.iter_mut() {
                if sess.pending.is_empty() {
                    continue;
                }
                let idx = UInt32Array::from(std::mem::take(&mut sess.pending));
                sess.batches.push(take_record_batch(batch, &idx)?);
                if let Some(min) = sess.pending_min.take() {
                    let e = sess.min_offset.entry(shard.to_string()).or_insert(min);
                    *e = (*e).min(min);
                }
            }
        }
        self.open.retain(|_, l| !l.is_empty());
        Ok(late)
    }

    /// Takes out the sessions ending at or before `watermark`, grouped by end,
    /// earliest first.
    pub fn close(&mut self, watermark: i64) -> Vec<(i64, Vec<Session>)> {
        let mut out: BTreeMap<i64, Vec<Session>> = BTreeMap::new();
        for list in self.open.values_mut() {
            let n = list.partition_point(|x| x.end <= watermark);
            for s in list.drain(..n) {
                out.entry(s.end).or_default().push(s);
            }
        }
        self.open.retain(|_, l| !l.is_empty());
        out.into_iter().collect()
    }

    /// The open sessions.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.open.values().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    fn batch(keys: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("i", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int64Array::from_iter_values(0..keys.len() as i64)),
            ],
        )
        .unwrap()
    }

    fn events(ts: &[i64], first_offset: u64) -> Vec<Event> {
        ts.iter()
            .enumerate()
            .map(|(i, &ts)| Event {
                ts,
                row: i as u32,
                offset: first_offset + i as u64,
                replayed: false,
            })
            .collect()
    }

    #[test]
    fn sessions_per_key_merge_and_close_by_end() {
        let b = batch(&["a", "b", "a", "b"]);
        let mut s = Sessions::new(10, vec![0], &b.schema()).unwrap();
        // a: [0, 10] and [18, 28]; b: [3, 13] and [40, 50].
        let late = s
            .add("s0", &b, &events(&[0, 3, 18, 40], 100), i64::MIN)
            .unwrap();
        assert_eq!(late, 0);
        assert!(s.close(5).is_empty());
        // a at 9 bridges its two sessions.
        let b1 = batch(&["a"]);
        assert_eq!(s.add("s0", &b1, &events(&[9], 104), 5).unwrap(), 0);
        let closed = s.close(20);
        let ends: Vec<i64> = closed.iter().map(|(e, _)| *e).collect();
        assert_eq!(ends, vec![13]);
        let closed = s.close(100);
        let ends: Vec<i64> = closed.iter().map(|(e, _)| *e).collect();
        assert_eq!(ends, vec![28, 50]);
        let a = &closed[0].1[0];
        assert_eq!((a.start, a.end), (0, 28));
        assert_eq!(a.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        assert_eq!(a.min_offset.get("s0"), Some(&100));
        // Late: ends before what is closed, and no open session to join.
        let b2 = batch(&["a", "c"]);
        let late = s.add("s0", &b2, &events(&[1, 200], 105), 60).unwrap();
        assert_eq!(late, 1);
        assert_eq!(s.iter().count(), 1);
    }
}
