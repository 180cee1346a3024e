//! A stream as a DataFusion table: one partition per shard, each read on a blocking
//! thread from where the filters let it start (the time index for an `arrival_time`
//! range) to the shard's end as the query began, decoded into batches.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use freshet_storage::{Engine, StartingPosition, MAX_READ_BYTES, MAX_READ_RECORDS};

use crate::catalog::TableDef;
use crate::decode::{rows, view_aggregated, view_rows, Decoder};
use crate::error::Error;
use crate::pushdown::{analyze, supported, Pushdown};
use crate::schema::table_schema;

tokio::task_local! {
    /// The session's scan limit (records; 0: none), set around each query.
    pub static SCAN_LIMIT: u64;
}

/// The scan limit of the running query: the session's, else `default`.
pub fn scan_limit(default: u64) -> u64 {
    SCAN_LIMIT.try_with(|l| *l).unwrap_or(default)
}

/// A stream table.
#[derive(Debug)]
pub struct StreamTable {
    engine: Engine,
    def: Arc<TableDef>,
    schema: SchemaRef,
    default_limit: u64,
}

impl StreamTable {
    /// The table of `def`; `default_limit` is the scan limit outside a session.
    pub fn new(engine: Engine, def: TableDef, default_limit: u64) -> StreamTable {
        let schema = table_schema(&def);
        StreamTable {
            engine,
            def: Arc::new(def),
            schema,
            default_limit,
        }
    }
}

/// One shard's part of a scan.
#[derive(Debug, Clone)]
pub struct ShardRange {
    /// The shard.
    pub shard_id: String,
    /// First offset to read.
    pub start: u64,
    /// Offset to stop before.
    pub end: u64,
}

/// Which shards a scan reads, and where, after the filters.
pub fn plan_ranges(engine: &Engine, stream: &str, p: &Pushdown) -> Result<Vec<ShardRange>, Error> {
    let d = engine.describe_stream(stream)?;
    let keys: Option<Vec<u128>> = p.partition_keys.as_ref().map(|ks| {
        ks.iter()
            .map(|k| freshet_protocol::hash_key::hash_key_of(k))
            .collect()
    });
    let mut out = Vec::new();
    for s in &d.shards {
        if let Some(only) = &p.shards {
            if !only.contains(&s.shard_id) {
                continue;
            }
        }
        if let Some(keys) = &keys {
            if !keys.iter().any(|&k| s.range.contains(k)) {
                continue;
            }
        }
        if let Some(to) = p.to_ms {
            if s.created_ms > to.saturating_add(1000) {
                continue;
            }
        }
        let state = engine.shard_state(stream, &s.shard_id)?;
        let start = match p.from_ms {
            Some(ms) => engine
                .start_offset(stream, &s.shard_id, StartingPosition::AtTimestamp(ms))
                .unwrap_or(state.start_offset),
            None => state.start_offset,
        };
        let end = state.next_offset;
        if start < end {
            out.push(ShardRange {
                shard_id: s.shard_id.clone(),
                start,
                end,
            });
        }
    }
    Ok(out)
}

#[async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if supported(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let p = analyze(filters);
        let ranges =
            plan_ranges(&self.engine, &self.def.stream, &p).map_err(Error::into_datafusion)?;
        let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        let max = scan_limit(self.default_limit);
        if max > 0 && total > max && limit.is_none_or(|l| l as u64 > max) {
            return Err(Error::ScanLimit(format!(
                "the query would scan {total} records of stream \"{}\", more than freshet.scan_limit ({max}); \
                 narrow it (a range on arrival_time, shard_id = '...', partition_key = '...', LIMIT) \
                 or raise the limit: SET freshet.scan_limit = 0 (no limit)",
                self.def.stream
            ))
            .into_datafusion());
        }
        let decoder = Decoder::new(Arc::clone(&self.def), projection.map(|p| p.as_slice()));
        let schema = decoder.schema();
        let parts: Vec<Arc<dyn PartitionStream>> = ranges
            .into_iter()
            .map(|range| {
                Arc::new(ShardPart {
                    engine: self.engine.clone(),
                    stream: self.def.stream.clone(),
                    range,
                    to_ms: p.to_ms,
                    limit,
                    decoder: decoder.clone(),
                    schema: Arc::clone(&schema),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = StreamingTableExec::try_new(schema, parts, None, Vec::new(), false, limit)?;
        Ok(Arc::new(exec))
    }
}

/// One shard's partition.
#[derive(Debug)]
struct ShardPart {
    engine: Engine,
    stream: String,
    range: ShardRange,
    to_ms: Option<i64>,
    limit: Option<usize>,
    decoder: Decoder,
    schema: SchemaRef,
}

impl PartitionStream for ShardPart {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let engine = self.engine.clone();
        let stream = self.stream.clone();
        let range = self.range.clone();
        let to_ms = self.to_ms;
        let limit = self.limit;
        let decoder = self.decoder.clone();
        tokio::task::spawn_blocking(move || {
            let mut offset = range.start;
            let mut sent = 0usize;
            while offset < range.end {
                let want = usize::try_from(range.end - offset)
                    .unwrap_or(usize::MAX)
                    .min(MAX_READ_RECORDS);
                let mut got = match engine.read_view(
                    &stream,
                    &range.shard_id,
                    offset,
                    want,
                    MAX_READ_BYTES,
                ) {
                    Ok(g) => g,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(Error::from(e).into_datafusion()));
                        return;
                    }
                };
                let log = &mut got.log;
                if log.records.is_empty() || log.next_offset <= offset {
                    return;
                }
                offset = log.next_offset;
                log.records.retain(|r| r.offset < range.end);
                let mut past_end = false;
                if let Some(to) = to_ms {
                    if let Some(cut) = log.records.iter().position(|r| r.arrival_ms > to) {
                        log.records.truncate(cut);
                        past_end = true;
                    }
                }
                // Plain records decode in place; aggregates are taken apart first.
                let batch = if view_aggregated(&got) {
                    let user = rows(&got.to_records());
                    sent += user.len();
                    decoder.decode(&range.shard_id, &user)
                } else {
                    let records = view_rows(&got);
                    sent += records.len();
                    decoder.decode(&range.shard_id, &records)
                }
                .map_err(Error::into_datafusion);
                if tx.blocking_send(batch).is_err() || past_end {
                    return;
                }
                if limit.is_some_and(|l| sent >= l) {
                    return;
                }
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}
