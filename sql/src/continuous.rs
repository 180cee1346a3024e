//! Continuous queries: a runner reads a stream through the engine's tailing cursor,
//! decodes only the columns the query uses, puts each record into its windows (or
//! its key's session, [`crate::sessions`]), and when the watermark passes a window's
//! end runs the query over that window's rows (once, over two partitions) and emits
//! the result: into a stream (a `CREATE STREAM` job, an engine job that survives
//! restarts) or to a client (a push query).
//!
//! Exactly once across a crash: a job checkpoints, per shard, the offset of the
//! oldest record any open window holds (so a restart reads every open window's
//! records again), its watermark and the last window it emitted; every output record
//! carries `_job` and `_window_end`, and on start the job reads its output stream's
//! tail so a window emitted after the last checkpoint is not emitted again. A window's
//! rows are written 500 at a time; when the output's last window (past the checkpoint)
//! holds a multiple of 500 rows, a crash may have cut it short: the restarted job
//! emits it again and writes only the rows the output lacks (compared by their JSON
//! text, counted with their repeats). Sessions ending at
//! the same time are one such window; records read again after a restart (before
//! where the checkpointed cursor stood) are never judged late, so a session open at
//! the checkpoint is rebuilt whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use datafusion::arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use freshet_storage::{
    CreateStream, CursorPositions, Engine, JobContext, PutRecordInput, ShardPosition, StreamMode,
    TailFrom,
};
use serde::{Deserialize, Serialize};

use crate::catalog::{JobDef, TableDef};
use crate::command::Command;
use crate::decode::{any_aggregated, rows, Decoder, RowLike};
use crate::error::{Error, Result};
use crate::schema::{table_schema, timestamp_type};
use crate::sessions::{Event, Sessions};
use crate::window::{parse, WindowKind, WindowQuery};
use crate::SqlService;

/// Default watermark delay of arrival-time windows, ms.
pub const ARRIVAL_DELAY_MS: i64 = 50;

/// Counters of one job.
#[derive(Debug, Default)]
pub struct JobStats {
    /// Records read.
    pub records_in: AtomicU64,
    /// Windows emitted.
    pub windows_out: AtomicU64,
    /// Records dropped as late.
    pub late: AtomicU64,
    /// The watermark, ms.
    pub watermark: AtomicI64,
}

/// The running jobs.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Mutex<HashMap<String, (freshet_storage::JobId, Arc<JobStats>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A job's checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where to read again from: the oldest record of an open window, per shard.
    pub positions: CursorPositions,
    /// The watermark, ms.
    pub watermark: i64,
    /// The end of the last window emitted, ms.
    pub emitted_end: i64,
    /// Records dropped as late so far.
    pub late: u64,
    /// Where the cursor stood: records before it are read again after a restart.
    #[serde(default)]
    pub read_to: CursorPositions,
}

/// The rows of one open window.
#[derive(Debug, Default)]
struct WindowBuf {
    batches: Vec<RecordBatch>,
    /// Offset of its oldest record, per shard.
    min_offset: BTreeMap<String, u64>,
}

/// Where results go.
enum Sink {
    /// Into a stream, as JSON records.
    Stream { output: String, job: String },
    /// To a client.
    Client(tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>),
}

/// One continuous query running.
struct Runner {
    engine: Engine,
    def: Arc<TableDef>,
    query: WindowQuery,
    decoder: Decoder,
    ctx: SessionContext,
    input_schema: SchemaRef,
    /// Index of the event-time column in the table schema (None: arrival time).
    time_col: Option<usize>,
    delay_ms: i64,
    watermark: i64,
    max_ts: i64,
    emitted_end: i64,
    /// The output's last window when the job started, and the rows of it found there
    /// (by their JSON): a crash between the `put_records` calls of a window of more
    /// than 500 rows left the rest unwritten, and emitting it again writes only those.
    partly_written: Option<(i64, HashMap<Vec<u8>, usize>)>,
    windows: BTreeMap<(i64, i64), WindowBuf>,
    /// The open sessions of a session-window query.
    sessions: Option<Sessions>,
    /// Per shard, the offset before which records are read again after a restart.
    replay_until: BTreeMap<String, u64>,
    stats: Arc<JobStats>,
    sink: Sink,
}

fn with_window_columns(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("window_start", timestamp_type(), false));
    fields.push(Field::new("window_end", timestamp_type(), false));
    Arc::new(Schema::new(fields))
}

impl Runner {
    async fn new(svc: &SqlService, sql: &str, sink: Sink, stats: Arc<JobStats>) -> Result<Runner> {
        let query = parse(sql)?;
        let def = definition_of(svc, &query.table).ok_or_else(|| Error::NotFound {
            kind: "table",
            name: query.table.clone(),
        })?;
        let full = table_schema(&def);
        let (time_name, delay_ms) = match &def.watermark {
            Some(w) if w.column != "arrival_time" => (Some(w.column.clone()), w.delay_ms),
            Some(w) => (None, w.delay_ms),
            None => (None, ARRIVAL_DELAY_MS),
        };
        let ctx = SessionContext::new();
        let full_input = if query.kind.is_some() {
            with_window_columns(&full)
        } else {
            Arc::clone(&full)
        };
        // Decode only what the query reads, the event time and the session key.
        let mut cols: Vec<usize> = match used_columns(&ctx, &query, &full_input).await? {
            Some(used) => used
                .into_iter()
                .filter(|&i| i < full.fields().len())
                .collect(),
            None => (0..full.fields().len()).collect(),
        };
        let mut extra = |name: &str| -> Result<()> {
            let i = full
                .index_of(name)
                .map_err(|_| Error::Invalid(format!("no column \"{name}\" in {}", query.table)))?;
            if !cols.contains(&i) {
                cols.push(i);
            }
            Ok(())
        };
        if let Some(t) = &time_name {
            extra(t)?;
        }
        if let Some(WindowKind::Session { .. }) = query.kind {
            for k in &query.keys {
                extra(k)?;
            }
        }
        cols.sort_unstable();
        let def = Arc::new(def);
        let decoder = Decoder::new(Arc::clone(&def), Some(&cols));
        let decoded = decoder.schema();
        let time_col = match &time_name {
            Some(t) => Some(decoded.index_of(t)?),
            None => None,
        };
        let sessions = match query.kind {
            Some(WindowKind::Session { gap }) => {
                let keys = query
                    .keys
                    .iter()
                    .map(|k| decoded.index_of(k))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Some(Sessions::new(gap, keys, &decoded)?)
            }
            _ => None,
        };
        let input_schema = if query.kind.is_some() {
            with_window_columns(&decoded)
        } else {
            decoded
        };
        Ok(Runner {
            engine: svc.inner.engine.clone(),
            def,
            query,
            decoder,
            ctx,
            input_schema,
            time_col,
            delay_ms,
            watermark: i64::MIN,
            max_ts: i64::MIN,
            emitted_end: i64::MIN,
            partly_written: None,
            windows: BTreeMap::new(),
            sessions,
            replay_until: BTreeMap::new(),
            stats,
            sink,
        })
    }

    /// Runs the query over `batches`; its output schema when `batches` is empty.
    async fn run_query(&self, batches: Vec<RecordBatch>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        // Two partitions, so a big window's aggregation uses both cores.
        let mut parts = vec![Vec::new(), Vec::new()];
        for (i, b) in batches.into_iter().enumerate() {
            if let Some(p) = parts.get_mut(i % 2) {
                p.push(b);
            }
        }
        let table = MemTable::try_new(Arc::clone(&self.input_schema), parts)?;
        let _ = self.ctx.deregister_table(self.query.table.as_str());
        self.ctx.register_table(
            datafusion::common::TableReference::bare(self.query.table.clone()),
            Arc::new(table),
        )?;
        let df = self.ctx.sql(&self.query.sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let out = df.collect().await?;
        Ok((schema, out))
    }

    /// Takes in one read of the cursor.
    async fn ingest(&mut self, batch: &freshet_storage::StreamBatch) -> Result<()> {
        for sb in &batch.shards {
            if any_aggregated(&sb.records) {
                self.ingest_rows(&sb.shard_id, &rows(&sb.records)).await?;
            } else {
                self.ingest_rows(&sb.shard_id, &sb.records).await?;
            }
        }
        Ok(())
    }

    /// Takes in the user records of one shard's read.
    async fn ingest_rows<R: RowLike>(&mut self, shard_id: &str, user: &[R]) -> Result<()> {
        if user.is_empty() {
            return Ok(());
        }
        self.stats
            .records_in
            .fetch_add(user.len() as u64, Ordering::Relaxed);
        let decoded = self.decoder.decode(shard_id, user)?;
        let times: Vec<Option<i64>> = match self.time_col {
            Some(c) => {
                let col = decoded
                    .column(c)
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .ok_or_else(|| Error::Invalid("event time column is not a timestamp".into()))?;
                (0..col.len())
                    .map(|i| col.is_valid(i).then(|| col.value(i)))
                    .collect()
            }
            None => user.iter().map(|r| Some(r.arrival_ms())).collect(),
        };
        let Some(kind) = self.query.kind else {
            // A push query of single records: every record goes out now.
            let (_, out) = self.run_query(vec![decoded]).await?;
            return self.emit_window(0, out).await;
        };
        let closed_before = self.watermark.max(self.emitted_end);
        if let Some(sessions) = &mut self.sessions {
            let replay_until = self.replay_until.get(shard_id).copied().unwrap_or(0);
            let mut events = Vec::with_capacity(user.len());
            let mut late = 0;
            for ((i, t), r) in times.iter().enumerate().zip(user) {
                let Some(ts) = *t else {
                    late += 1;
                    continue;
                };
                self.max_ts = self.max_ts.max(ts);
                let offset = r.sequence_number().offset;
                events.push(Event {
                    ts,
                    row: i as u32,
                    offset,
                    replayed: offset < replay_until,
                });
            }
            late += sessions.add(shard_id, &decoded, &events, closed_before)?;
            self.stats.late.fetch_add(late, Ordering::Relaxed);
            return Ok(());
        }
        let mut assign = Vec::new();
        let mut per_window: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
        let mut late = 0;
        for (i, t) in times.iter().enumerate() {
            let Some(ts) = *t else {
                late += 1;
                continue;
            };
            self.max_ts = self.max_ts.max(ts);
            kind.assign(ts, &mut assign);
            let mut kept = false;
            for &w in &assign {
                if w.1 > closed_before {
                    per_window.entry(w).or_default().push(i as u32);
                    kept = true;
                }
            }
            if !kept {
                late += 1;
            }
        }
        self.stats.late.fetch_add(late, Ordering::Relaxed);
        for ((start, end), idx) in per_window {
            // Every row in one window (the usual case of a tumble): no copy.
            let mut cols: Vec<ArrayRef> = if idx.len() == decoded.num_rows() {
                decoded.columns().to_vec()
            } else {
                let idx = UInt32Array::from(idx.clone());
                decoded
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &idx, None))
                    .collect::<std::result::Result<_, _>>()?
            };
            let n = idx.len();
            cols.push(window_column(start, n));
            cols.push(window_column(end, n));
            let b = RecordBatch::try_new_with_options(
                Arc::clone(&self.input_schema),
                cols,
                &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
            )?;
            let min = idx
                .iter()
                .filter_map(|&i| user.get(i as usize))
                .map(|r| r.sequence_number().offset)
                .min();
            let buf = self.windows.entry((end, start)).or_default();
            buf.batches.push(b);
            if let Some(min) = min {
                let e = buf.min_offset.entry(shard_id.to_string()).or_insert(min);
                *e = (*e).min(min);
            }
        }
        Ok(())
    }

    /// Advances the watermark and emits the windows it closed; returns how many.
    async fn advance(&mut self, caught_up: bool) -> Result<usize> {
        if self.query.kind.is_none() {
            return Ok(0);
        }
        let mut wm = self.max_ts.saturating_sub(self.delay_ms);
        if self.time_col.is_none() && caught_up {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            wm = wm.max(now - self.delay_ms);
        }
        self.watermark = self.watermark.max(wm);
        self.stats
            .watermark
            .store(self.watermark, Ordering::Relaxed);
        let mut emitted = 0;
        let closed = match &mut self.sessions {
            Some(s) => s.close(self.watermark),
            None => Vec::new(),
        };
        for (end, group) in closed {
            if end <= self.emitted_end {
                continue;
            }
            let mut batches = Vec::new();
            for sess in group {
                for b in sess.batches {
                    batches.push(with_window(&self.input_schema, b, sess.start, sess.end)?);
                }
            }
            let (_, out) = self.run_query(batches).await?;
            self.emit_window(end, out).await?;
            self.emitted_end = end;
            self.stats.windows_out.fetch_add(1, Ordering::Relaxed);
            emitted += 1;
        }
        while let Some(entry) = self.windows.first_entry() {
            let (end, _) = *entry.key();
            if end > self.watermark {
                break;
            }
            let buf = entry.remove();
            if end <= self.emitted_end {
                continue;
            }
            let (_, out) = self.run_query(buf.batches).await?;
            self.emit_window(end, out).await?;
            self.emitted_end = self.emitted_end.max(end);
            self.stats.windows_out.fetch_add(1, Ordering::Relaxed);
            emitted += 1;
        }
        Ok(emitted)
    }

    async fn emit_window(&mut self, end: i64, out: Vec<RecordBatch>) -> Result<()> {
        match &self.sink {
            Sink::Client(tx) => {
                for b in out {
                    if b.num_rows() > 0 && tx.send(Ok(b)).await.is_err() {
                        return Err(Error::Invalid("client gone".into()));
                    }
                }
                Ok(())
            }
            Sink::Stream { output, job } => {
                let mut records = Vec::new();
                for b in &out {
                    for mut v in to_json_rows(b)? {
                        if let serde_json::Value::Object(m) = &mut v {
                            m.insert("_job".into(), job.clone().into());
                            m.insert("_window_end".into(), end.into());
                        }
                        records.push(PutRecordInput::new(job.clone(), serde_json::to_vec(&v)?));
                    }
                }
                if let Some((_, mut written)) = self.partly_written.take_if(|(e, _)| *e == end) {
                    // Rows already in the output, as many times as they are there.
                    records.retain(|r| match written.get_mut(r.data.as_ref()) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            false
                        }
                        _ => true,
                    });
                }
                for chunk in records.chunks(OUTPUT_BATCH) {
                    put_all(&self.engine, output, chunk.to_vec()).await?;
                }
                Ok(())
            }
        }
    }

    /// Per shard, where a restart must read from: the oldest record an open window
    /// holds, else where the cursor stands.
    fn positions(&self, cursor: &CursorPositions) -> CursorPositions {
        let mut out = cursor.clone();
        let sessions = self
            .sessions
            .iter()
            .flat_map(|s| s.iter())
            .map(|s| &s.min_offset);
        for min_offset in self.windows.values().map(|b| &b.min_offset).chain(sessions) {
            for (shard, &min) in min_offset {
                let e = out.entry(shard.clone()).or_insert(ShardPosition::Next(min));
                *e = match *e {
                    ShardPosition::Next(o) => ShardPosition::Next(o.min(min)),
                    ShardPosition::Finished => ShardPosition::Next(min),
                };
            }
        }
        out
    }
}

/// A window bound column of `n` rows.
fn window_column(ms: i64, n: usize) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_value(ms, n).with_timezone("UTC"))
}

/// A session's rows with its `window_start` and `window_end` columns.
fn with_window(schema: &SchemaRef, b: RecordBatch, start: i64, end: i64) -> Result<RecordBatch> {
    let n = b.num_rows();
    let mut cols = b.columns().to_vec();
    cols.push(window_column(start, n));
    cols.push(window_column(end, n));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        cols,
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    )?)
}

/// The columns of `schema` the query reads (`None`: cannot tell, all of them).
async fn used_columns(
    ctx: &SessionContext,
    query: &WindowQuery,
    schema: &SchemaRef,
) -> Result<Option<Vec<usize>>> {
    let table = MemTable::try_new(Arc::clone(schema), vec![Vec::new()])?;
    let name = datafusion::common::TableReference::bare(query.table.clone());
    ctx.register_table(name.clone(), Arc::new(table))?;
    let plan = ctx.sql(&query.sql).await?.into_optimized_plan();
    ctx.deregister_table(name)?;
    let mut scans = Vec::new();
    plan?.apply(|p| {
        if let LogicalPlan::TableScan(s) = p {
            scans.push(s.projection.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(match scans.as_slice() {
        [one] => one.clone(),
        _ => None,
    })
}

/// Puts records, retrying failed ones (bounded) so none is lost.
async fn put_all(engine: &Engine, stream: &str, records: Vec<PutRecordInput>) -> Result<()> {
    let engine = engine.clone();
    let stream = stream.to_string();
    tokio::task::spawn_blocking(move || {
        let mut left = records;
        for _ in 0..20 {
            let res = engine.put_records(&stream, left.clone())?;
            let failed: Vec<PutRecordInput> = left
                .into_iter()
                .zip(res)
                .filter_map(|(r, o)| o.is_err().then_some(r))
                .collect();
            if failed.is_empty() {
                return Ok(());
            }
            left = failed;
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::Invalid(format!(
            "cannot write results into {stream}"
        )))
    })
    .await
    .map_err(|e| Error::Invalid(e.to_string()))?
}

/// Rows of a batch as JSON objects (timestamps as RFC 3339 strings).
fn to_json_rows(b: &RecordBatch) -> Result<Vec<serde_json::Value>> {
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write(b)?;
    w.finish()?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// Output records per `put_records` call (Kinesis' most).
const OUTPUT_BATCH: usize = 500;

/// The last window a job emitted, from its output stream's tail: its end and its rows
/// there (JSON text -> count); `i64::MIN` and none when the output holds none.
fn emitted_in_output(
    engine: &Engine,
    output: &str,
    job: &str,
) -> Result<(i64, HashMap<Vec<u8>, usize>)> {
    // Per shard, the window ends of the job's records and their data, oldest first.
    let mut best = i64::MIN;
    let mut found: Vec<(i64, Bytes)> = Vec::new();
    let d = engine.describe_stream(output)?;
    for s in &d.shards {
        let st = engine.shard_state(output, &s.shard_id)?;
        // Back from the end until the oldest record read is of an earlier window (the
        // last window's rows are then all in view) or the shard's start is reached.
        let mut back = 2000u64;
        loop {
            let from = st.next_offset.saturating_sub(back).max(st.start_offset);
            let mut shard_found = Vec::new();
            let mut at = from;
            while at < st.next_offset {
                let got = engine.read(output, &s.shard_id, at, 10_000, 10 << 20)?;
                if got.records.is_empty() || got.next_offset <= at {
                    break;
                }
                at = got.next_offset;
                for r in got.records {
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.data) else {
                        continue;
                    };
                    if v.get("_job").and_then(|j| j.as_str()) == Some(job) {
                        if let Some(e) = v.get("_window_end").and_then(|e| e.as_i64()) {
                            shard_found.push((e, r.data));
                        }
                    }
                }
            }
            let last = shard_found.iter().map(|f| f.0).max().unwrap_or(i64::MIN);
            let complete = shard_found.first().is_none_or(|f| f.0 < last);
            if complete || from == st.start_offset {
                best = best.max(last);
                found.extend(shard_found);
                break;
            }
            back = back.saturating_mul(4);
        }
    }
    let mut rows: HashMap<Vec<u8>, usize> = HashMap::new();
    for (e, data) in found {
        if e == best {
            *rows.entry(data.to_vec()).or_default() += 1;
        }
    }
    Ok((best, rows))
}

/// Runs a job until it is stopped.
async fn run_job(
    svc: SqlService,
    def: JobDef,
    stats: Arc<JobStats>,
    ctx: JobContext,
) -> Result<()> {
    let catalog = svc.inner.catalog.clone();
    let engine = svc.inner.engine.clone();
    let sink = Sink::Stream {
        output: def.output.clone(),
        job: def.name.clone(),
    };
    let mut r = Runner::new(&svc, &def.query, sink, Arc::clone(&stats)).await?;
    let ckpt: Option<Checkpoint> = catalog.checkpoint(&def.name)?;
    let from = match &ckpt {
        Some(c) => {
            r.watermark = c.watermark;
            stats.late.store(c.late, Ordering::Relaxed);
            r.emitted_end = c.emitted_end;
            r.replay_until = c
                .read_to
                .iter()
                .filter_map(|(s, p)| match p {
                    ShardPosition::Next(o) => Some((s.clone(), *o)),
                    ShardPosition::Finished => None,
                })
                .collect();
            TailFrom::Positions(c.positions.clone())
        }
        None => TailFrom::TrimHorizon,
    };
    let (last_out, rows) = emitted_in_output(&engine, &def.output, &def.name)?;
    let rows_out: usize = rows.values().sum();
    if last_out > r.emitted_end && rows_out.is_multiple_of(OUTPUT_BATCH) {
        // Emitted after the last checkpoint and a whole number of put_records calls:
        // maybe cut short. Every record of that window is read again (the checkpoint
        // holds it open or has not reached it), so it is emitted again, less the rows
        // already out.
        r.emitted_end = last_out - 1;
        r.partly_written = Some((last_out, rows));
    } else {
        // Complete (its last call was not full), or checkpointed.
        r.emitted_end = r.emitted_end.max(last_out);
    }
    let mut cursor = engine.tail_stream(&r.def.stream, from)?;
    let mut last_ckpt = Instant::now();
    while !ctx.is_stopped() {
        let batch = cursor
            .next_within(20_000, 16 << 20, Duration::from_millis(20))
            .await?;
        r.ingest(&batch).await?;
        let caught_up = batch.shards.iter().all(|s| s.millis_behind_latest == 0);
        let emitted = r.advance(caught_up).await?;
        if emitted > 0 || last_ckpt.elapsed() >= Duration::from_secs(1) {
            let read_to = cursor.positions();
            let c = Checkpoint {
                positions: r.positions(&read_to),
                watermark: r.watermark,
                emitted_end: r.emitted_end,
                late: stats.late.load(Ordering::Relaxed),
                read_to,
            };
            catalog.put_checkpoint(&def.name, &c)?;
            last_ckpt = Instant::now();
        }
    }
    Ok(())
}

/// A declared table or a stream's own table.
fn definition_of(svc: &SqlService, name: &str) -> Option<TableDef> {
    if let Ok(Some(def)) = svc.inner.catalog.table(name) {
        return Some(def);
    }
    svc.inner
        .engine
        .stream_summary(name)
        .ok()
        .map(|_| TableDef::raw(name))
}

/// Starts a job's engine job.
pub fn start_job(svc: &SqlService, def: &JobDef) -> Result<()> {
    let stats = Arc::new(JobStats::default());
    let s = svc.clone();
    let d = def.clone();
    let st = Arc::clone(&stats);
    let id = svc
        .inner
        .engine
        .jobs()
        .spawn_task(&format!("sql:{}", def.name), move |ctx| async move {
            run_job(s, d, st, ctx).await.map_err(|e| e.to_string())
        })?;
    lock(&svc.inner.jobs.running).insert(def.name.clone(), (id, stats));
    Ok(())
}

fn stop_running(svc: &SqlService, name: &str) {
    let entry = lock(&svc.inner.jobs.running).remove(name);
    if let Some((id, _)) = entry {
        svc.inner.engine.jobs().stop(id, Duration::from_secs(10));
    }
}

/// `CREATE STREAM name AS query`.
pub async fn create_job(svc: &SqlService, name: &str, shards: u32, query: &str) -> Result<()> {
    if svc.inner.catalog.job(name)?.is_some() {
        return Err(Error::Invalid(format!("job \"{name}\" already exists")));
    }
    let r = Runner::new(
        svc,
        query,
        Sink::Stream {
            output: name.into(),
            job: name.into(),
        },
        Arc::default(),
    )
    .await?;
    if r.query.kind.is_none() {
        return Err(Error::Invalid(
            "CREATE STREAM needs a windowed query: GROUP BY tumble(INTERVAL ...), hop(...) or session(...)"
                .into(),
        ));
    }
    if svc.inner.engine.stream_summary(name).is_ok() {
        return Err(Error::Invalid(format!(
            "stream \"{name}\" already exists: CREATE STREAM creates its output stream"
        )));
    }
    svc.inner.engine.create_stream(CreateStream {
        name: name.to_string(),
        shard_count: shards,
        mode: StreamMode::Provisioned,
        tags: BTreeMap::new(),
        activation_delay_ms: 0,
    })?;
    let def = JobDef {
        name: name.to_string(),
        output: name.to_string(),
        query: query.to_string(),
        running: true,
        created_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    svc.inner.catalog.put_job(&def)?;
    start_job(svc, &def)
}

/// `STOP JOB` / `START JOB`.
pub fn set_running(svc: &SqlService, name: &str, running: bool) -> Result<()> {
    let mut def = svc
        .inner
        .catalog
        .job(name)?
        .ok_or_else(|| Error::NotFound {
            kind: "job",
            name: name.to_string(),
        })?;
    def.running = running;
    svc.inner.catalog.put_job(&def)?;
    stop_running(svc, name);
    if running {
        start_job(svc, &def)?;
    }
    Ok(())
}

/// `DROP JOB`.
pub fn drop_job(svc: &SqlService, name: &str) -> Result<()> {
    if svc.inner.catalog.job(name)?.is_none() {
        return Err(Error::NotFound {
            kind: "job",
            name: name.to_string(),
        });
    }
    stop_running(svc, name);
    svc.inner.catalog.drop_job(name)
}

fn jobs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("output_stream", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("records_in", DataType::UInt64, false),
        Field::new("windows_emitted", DataType::UInt64, false),
        Field::new("late_dropped", DataType::UInt64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, false),
    ]))
}

/// The columns of `SHOW JOBS`, filled row by row.
#[derive(Default)]
struct JobColumns(
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<u64>,
    Vec<u64>,
    Vec<u64>,
    Vec<Option<String>>,
    Vec<String>,
);

/// `SHOW JOBS`.
pub fn show_jobs(svc: &SqlService) -> Result<RecordBatch> {
    let defs = svc.inner.catalog.jobs()?;
    let running = lock(&svc.inner.jobs.running);
    let mut cols = JobColumns::default();
    for d in &defs {
        let (state, stats, err) = match running.get(&d.name) {
            Some((id, st)) => {
                let info = svc.inner.engine.jobs().get(*id);
                let state = info
                    .as_ref()
                    .map(|i| format!("{:?}", i.state).to_lowercase())
                    .unwrap_or_else(|| "running".into());
                (state, Some(Arc::clone(st)), info.and_then(|i| i.last_error))
            }
            None => ("stopped".to_string(), None, None),
        };
        cols.0.push(d.name.clone());
        cols.1.push(d.output.clone());
        cols.2.push(state);
        cols.3.push(
            stats
                .as_ref()
                .map_or(0, |s| s.records_in.load(Ordering::Relaxed)),
        );
        cols.4.push(
            stats
                .as_ref()
                .map_or(0, |s| s.windows_out.load(Ordering::Relaxed)),
        );
        cols.5
            .push(stats.as_ref().map_or(0, |s| s.late.load(Ordering::Relaxed)));
        cols.6.push(err);
        cols.7.push(d.query.clone());
    }
    Ok(RecordBatch::try_new(
        jobs_schema(),
        vec![
            Arc::new(StringArray::from(cols.0)),
            Arc::new(StringArray::from(cols.1)),
            Arc::new(StringArray::from(cols.2)),
            Arc::new(UInt64Array::from(cols.3)),
            Arc::new(UInt64Array::from(cols.4)),
            Arc::new(UInt64Array::from(cols.5)),
            Arc::new(StringArray::from(cols.6)),
            Arc::new(StringArray::from(cols.7)),
        ],
    )?)
}

/// A push query: rows as windows close (or as records come, without a window), from
/// records put after it starts, until the client goes.
pub async fn subscribe(
    svc: &SqlService,
    sql: &str,
) -> Result<(SchemaRef, SendableRecordBatchStream)> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut r = Runner::new(svc, sql, Sink::Client(tx), Arc::default()).await?;
    let (schema, _) = r.run_query(Vec::new()).await?;
    let mut cursor = svc
        .inner
        .engine
        .tail_stream(&r.def.stream, TailFrom::Latest)?;
    tokio::spawn(async move {
        loop {
            let step = async {
                let batch = cursor
                    .next_within(20_000, 16 << 20, Duration::from_millis(20))
                    .await?;
                r.ingest(&batch).await?;
                let caught_up = batch.shards.iter().all(|s| s.millis_behind_latest == 0);
                r.advance(caught_up).await?;
                Ok::<(), Error>(())
            };
            if let Err(e) = step.await {
                if let Sink::Client(tx) = &r.sink {
                    let _ = tx.send(Err(e.into_datafusion())).await;
                }
                return;
            }
            if let Sink::Client(tx) = &r.sink {
                if tx.is_closed() {
                    return;
                }
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    Ok((
        Arc::clone(&schema),
        Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
    ))
}

/// The columns a statement answers with (for the extended protocol's Describe).
pub async fn result_schema(svc: &SqlService, cmd: &Command) -> Result<SchemaRef> {
    Ok(match cmd {
        Command::ShowJobs => jobs_schema(),
        Command::ShowScanLimit => Arc::new(Schema::new(vec![Field::new(
            "freshet.scan_limit",
            DataType::Utf8,
            false,
        )])),
        Command::Continuous { query } => {
            let r = Runner::new(
                svc,
                query,
                Sink::Stream {
                    output: String::new(),
                    job: String::new(),
                },
                Arc::default(),
            )
            .await?;
            let (schema, _) = r.run_query(Vec::new()).await?;
            schema
        }
        _ => Arc::new(Schema::empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_storage::{CreateStream, EngineConfig};

    fn row(job: &str, end: i64, k: usize) -> PutRecordInput {
        let v = serde_json::json!({ "k": k, "_job": job, "_window_end": end });
        PutRecordInput::new(job.to_string(), serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn the_outputs_last_window_is_read_whole_however_long() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(dir.path())).unwrap();
        engine.create_stream(CreateStream::new("out", 1)).unwrap();
        assert_eq!(emitted_in_output(&engine, "out", "j").unwrap().0, i64::MIN);
        // An earlier window, then 3,000 rows of the last (more than the first look
        // back of 2,000 records), one of them twice, and another job's row.
        let mut recs: Vec<_> = (0..300).map(|k| row("j", 10, k)).collect();
        recs.extend((0..3000).map(|k| row("j", 20, k)));
        recs.push(row("j", 20, 7));
        recs.push(row("other", 30, 0));
        for chunk in recs.chunks(500) {
            engine.put_records("out", chunk.to_vec()).unwrap();
        }
        let (end, rows) = emitted_in_output(&engine, "out", "j").unwrap();
        assert_eq!(end, 20);
        assert_eq!(rows.values().sum::<usize>(), 3001);
        let seven =
            serde_json::to_vec(&serde_json::json!({"k": 7, "_job": "j", "_window_end": 20}));
        assert_eq!(rows.get(&seven.unwrap()), Some(&2));
    }
}
