//! The Kinesis service's Prometheus metrics: per-shard traffic, put and get latency
//! histograms, throttles and iterator age.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 14],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            if let Some(c) = self.counts.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, labels: &str, out: &mut String) {
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(self.counts.iter()) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let trimmed = labels.trim_end_matches(',');
        let braces = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{{{trimmed}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// A per-shard series: name, type, help and how to read it.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardTraffic) -> u64,
);

#[derive(Debug, Default, Clone, Copy)]
struct ShardTraffic {
    incoming_records: u64,
    incoming_bytes: u64,
    outgoing_records: u64,
    outgoing_bytes: u64,
    iterator_age_ms: u64,
    write_throttles: u64,
    read_throttles: u64,
}

/// One shard's counters as [`Metrics::shard_counters`] copies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCounters {
    /// Stream name.
    pub stream: String,
    /// Shard id.
    pub shard: String,
    /// Records written, since the server started.
    pub incoming_records: u64,
    /// Data bytes written.
    pub incoming_bytes: u64,
    /// Records returned by GetRecords and SubscribeToShard.
    pub outgoing_records: u64,
    /// Data bytes returned.
    pub outgoing_bytes: u64,
    /// MillisBehindLatest of the last read.
    pub iterator_age_ms: u64,
}

/// Every metric the Kinesis service keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    shards: Mutex<BTreeMap<(String, String), ShardTraffic>>,
    /// PutRecord/PutRecords latency.
    pub put_latency: Histogram,
    /// GetRecords latency.
    pub get_latency: Histogram,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn shard(&self, stream: &str, shard: &str, f: impl FnOnce(&mut ShardTraffic)) {
        let mut m = lock(&self.shards);
        f(m.entry((stream.to_string(), shard.to_string()))
            .or_default());
    }

    /// Counts records written to a shard.
    pub fn incoming(&self, stream: &str, shard: &str, records: u64, bytes: u64) {
        self.shard(stream, shard, |t| {
            t.incoming_records += records;
            t.incoming_bytes += bytes;
        });
    }

    /// Counts records read from a shard and the reader's lag.
    pub fn outgoing(&self, stream: &str, shard: &str, records: u64, bytes: u64, age_ms: u64) {
        self.shard(stream, shard, |t| {
            t.outgoing_records += records;
            t.outgoing_bytes += bytes;
            t.iterator_age_ms = age_ms;
        });
    }

    /// Counts a throttled write (`write`) or read.
    pub fn throttled(&self, stream: &str, shard: &str, write: bool) {
        self.shard(stream, shard, |t| {
            if write {
                t.write_throttles += 1
            } else {
                t.read_throttles += 1
            }
        });
    }

    /// Each shard's cumulative incoming (records, bytes) of a stream, by shard id.
    pub fn incoming_totals(&self, stream: &str) -> std::collections::HashMap<String, (u64, u64)> {
        lock(&self.shards)
            .iter()
            .filter(|((s, _), _)| s == stream)
            .map(|((_, shard), t)| (shard.clone(), (t.incoming_records, t.incoming_bytes)))
            .collect()
    }

    /// Every shard's cumulative counters and last iterator age, for a console that
    /// turns them into rates (one lock, one copy; the put path is not touched).
    pub fn shard_counters(&self) -> Vec<ShardCounters> {
        lock(&self.shards)
            .iter()
            .map(|((stream, shard), t)| ShardCounters {
                stream: stream.clone(),
                shard: shard.clone(),
                incoming_records: t.incoming_records,
                incoming_bytes: t.incoming_bytes,
                outgoing_records: t.outgoing_records,
                outgoing_bytes: t.outgoing_bytes,
                iterator_age_ms: t.iterator_age_ms,
            })
            .collect()
    }

    /// Forgets a deleted stream's shards.
    pub fn forget_stream(&self, stream: &str) {
        lock(&self.shards).retain(|(s, _), _| s != stream);
    }

    /// Appends the Prometheus text exposition to `out`.
    pub fn render(&self, out: &mut String) {
        let shards = lock(&self.shards).clone();
        let series: [Series; 7] = [
            (
                "freshet_incoming_records_total",
                "counter",
                "Records written to a shard.",
                |t| t.incoming_records,
            ),
            (
                "freshet_incoming_bytes_total",
                "counter",
                "Data bytes written to a shard.",
                |t| t.incoming_bytes,
            ),
            (
                "freshet_outgoing_records_total",
                "counter",
                "Records returned by GetRecords from a shard.",
                |t| t.outgoing_records,
            ),
            (
                "freshet_outgoing_bytes_total",
                "counter",
                "Data bytes returned by GetRecords from a shard.",
                |t| t.outgoing_bytes,
            ),
            (
                "freshet_iterator_age_milliseconds",
                "gauge",
                "MillisBehindLatest of the last GetRecords on a shard.",
                |t| t.iterator_age_ms,
            ),
            (
                "freshet_write_throttled_total",
                "counter",
                "Writes refused with ProvisionedThroughputExceededException.",
                |t| t.write_throttles,
            ),
            (
                "freshet_read_throttled_total",
                "counter",
                "Reads refused with ProvisionedThroughputExceededException.",
                |t| t.read_throttles,
            ),
        ];
        for (name, kind, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((stream, shard), t) in &shards {
                let _ = writeln!(
                    out,
                    "{name}{{stream=\"{}\",shard=\"{}\"}} {}",
                    esc(stream),
                    esc(shard),
                    get(t)
                );
            }
        }
        for (name, help, h) in [
            (
                "freshet_put_latency_seconds",
                "PutRecord and PutRecords latency.",
                &self.put_latency,
            ),
            (
                "freshet_get_latency_seconds",
                "GetRecords latency.",
                &self.get_latency,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(name, "", out);
        }
    }
}

/// The engine's group-commit syncs (every shard log's, whichever service owns it) as a
/// Prometheus histogram: the engine's bucket `i` holds syncs under 2^i µs, its last
/// the longer ones.
pub fn render_syncs(s: &freshet_storage::SyncSnapshot, out: &mut String) {
    let name = "freshet_storage_sync_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Duration of group-commit fdatasyncs of shard logs.\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (i, c) in s
        .buckets
        .iter()
        .enumerate()
        .take(s.buckets.len().saturating_sub(1))
    {
        cumulative += c;
        let le = (1u64 << i) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", s.syncs);
    let _ = writeln!(out, "{name}_sum {}", s.total_micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", s.syncs);
}
