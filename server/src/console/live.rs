//! `GET /console/live`: the console's live figures as server-sent events, one JSON
//! document per [`TICK`].
//!
//! One ticker builds the document for every subscriber: it runs only while at least one
//! console is connected, turns the Kinesis service's cumulative counters into per-shard
//! rates (records and bytes per second, in and out), adds each retained shard's next
//! offset and newest arrival (for KCL lag), the last MillisBehindLatest of each shard,
//! the live SubscribeToShard subscriptions, the KCL lease tables in use and the
//! delivery streams' figures, serializes it once and publishes it through a
//! `tokio::sync::watch` channel. Each subscriber's task only copies the latest
//! document into its connection (skipping a tick when the client has not taken the
//! previous one), so N consoles cost one computation and N small writes a second.
//!
//! The document:
//!
//! ```text
//! {"at": ms, "intervalMs": 1000,
//!  "streams": {NAME: {"inRps", "inBps", "outRps", "outBps",
//!                     "shards": {SHARD: {"inRps", "inBps", "outRps", "outBps",
//!                                        "ageMs", "next", "newestMs"}}}},
//!  "efo": [{"consumer": ARN, "shard": SHARD, "forMs": ms}],
//!  "kcl": [{"stream", "table", "seenMs"}],
//!  "delivery": {NAME: {"freshnessMs", "records", "bytes", "objects", "failures"}}}
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_kinesis::metrics::ShardCounters;
use freshet_kinesis::KinesisState;
use freshet_protocol::service::{ChunkStream, Service};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

use super::LeaseTables;

/// How often the figures are computed and sent.
pub const TICK: Duration = Duration::from_secs(1);
/// Documents buffered per subscriber; past it a tick is skipped for that one.
const BUFFERED: usize = 2;
/// Sent first: how long a browser's `EventSource` waits before reconnecting.
const RETRY: &[u8] = b"retry: 2000\n\n";

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The latest document and when it was made.
#[derive(Debug, Clone)]
struct Latest {
    made: Option<Instant>,
    event: Bytes,
}

/// The shared ticker and its subscribers.
pub struct Live {
    kinesis: Arc<KinesisState>,
    services: Vec<Arc<dyn Service>>,
    leases: Arc<LeaseTables>,
    interval: Duration,
    latest: watch::Sender<Latest>,
    running: AtomicBool,
    ticks: AtomicU64,
    tick_micros: AtomicU64,
    subscribed: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("interval", &self.interval)
            .field("subscribers", &self.subscribers())
            .field("ticks", &self.ticks.load(Ordering::Relaxed))
            .finish()
    }
}

/// The counters of the previous tick, to turn the next ones into rates.
#[derive(Debug, Default)]
struct Previous {
    at: Option<Instant>,
    counters: HashMap<(String, String), ShardCounters>,
}

impl Live {
    /// The live figures of `kinesis` (and of the delivery streams among `services`),
    /// computed every `interval` while someone listens.
    pub fn new(
        kinesis: Arc<KinesisState>,
        services: Vec<Arc<dyn Service>>,
        leases: Arc<LeaseTables>,
        interval: Duration,
    ) -> Arc<Live> {
        Arc::new(Live {
            kinesis,
            services,
            leases,
            interval,
            latest: watch::channel(Latest {
                made: None,
                event: Bytes::new(),
            })
            .0,
            running: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            tick_micros: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
        })
    }

    /// Connected consoles.
    pub fn subscribers(&self) -> usize {
        self.latest.receiver_count()
    }

    /// Ends every subscription (server shutdown).
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// A new subscription: the event stream of one console.
    pub fn subscribe(self: &Arc<Self>) -> ChunkStream {
        let mut rx = self.latest.subscribe();
        self.subscribed.fetch_add(1, Ordering::Relaxed);
        // A document from the last tick is sent at once; an older one is not.
        let fresh = rx
            .borrow()
            .made
            .is_some_and(|m| m.elapsed() < self.interval * 2);
        if fresh {
            rx.mark_changed();
        }
        self.ensure_ticker();
        let (tx, out) = mpsc::channel::<Bytes>(BUFFERED);
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            if tx.send(Bytes::from_static(RETRY)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let event = rx.borrow_and_update().event.clone();
                        match tx.try_send(event) {
                            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tx.closed() => break,
                }
            }
        });
        Box::pin(Events(out))
    }

    /// Starts the ticker unless it runs. It stops by itself when the last subscriber
    /// leaves.
    fn ensure_ticker(self: &Arc<Self>) {
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let live = Arc::clone(self);
        tokio::spawn(async move {
            let mut previous = Previous::default();
            let mut ticker = tokio::time::interval(live.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if live.subscribers() == 0 || *live.shutdown.borrow() {
                    break;
                }
                let l = Arc::clone(&live);
                let started = Instant::now();
                let Ok((event, next)) =
                    tokio::task::spawn_blocking(move || l.document(previous)).await
                else {
                    tracing::warn!("console: computing the live figures failed");
                    break;
                };
                previous = next;
                live.tick_micros.fetch_add(
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                live.ticks.fetch_add(1, Ordering::Relaxed);
                live.latest.send_replace(Latest {
                    made: Some(Instant::now()),
                    event,
                });
            }
            live.running.store(false, Ordering::SeqCst);
            // A subscriber that came between the count and the store found the ticker
            // running: start again for it.
            if live.subscribers() > 0 && !*live.shutdown.borrow() {
                live.ensure_ticker();
            }
        });
    }

    /// One tick's document, as a server-sent event, and the counters for the next.
    fn document(&self, previous: Previous) -> (Bytes, Previous) {
        let now = Instant::now();
        let counters = self.kinesis.metrics.shard_counters();
        let seconds = previous
            .at
            .map(|at| now.duration_since(at).as_secs_f64())
            .filter(|s| *s > 0.0);
        let mut streams = Map::new();
        let engine = &self.kinesis.engine;
        let names = engine.list_streams().unwrap_or_default();
        let by_shard: HashMap<(&str, &str), &ShardCounters> = counters
            .iter()
            .map(|c| ((c.stream.as_str(), c.shard.as_str()), c))
            .collect();
        for name in &names {
            let Ok(description) = engine.describe_stream(name) else {
                continue;
            };
            let mut shards = Map::new();
            let mut total = Rates::default();
            for shard in &description.shards {
                let id = shard.shard_id.as_str();
                let rates = match (by_shard.get(&(name.as_str(), id)), seconds) {
                    (Some(c), Some(s)) => previous
                        .counters
                        .get(&(name.clone(), id.to_string()))
                        .map(|p| Rates::between(p, c, s))
                        .unwrap_or_default(),
                    _ => Rates::default(),
                };
                total.add(&rates);
                let mut figures = rates.json();
                let age = by_shard
                    .get(&(name.as_str(), id))
                    .map_or(0, |c| c.iterator_age_ms);
                figures.insert("ageMs".into(), json!(age));
                if let Ok(state) = engine.shard_state(name, id) {
                    figures.insert("next".into(), json!(state.next_offset));
                    figures.insert("newestMs".into(), json!(state.newest_arrival_ms));
                }
                shards.insert(id.to_string(), Value::Object(figures));
            }
            let mut stream = total.json();
            stream.insert("shards".into(), Value::Object(shards));
            streams.insert(name.clone(), Value::Object(stream));
        }
        let efo: Vec<Value> = self
            .kinesis
            .subscriptions
            .active()
            .into_iter()
            .map(|(consumer, shard, for_ms)| {
                json!({"consumer": consumer, "shard": shard, "forMs": for_ms})
            })
            .collect();
        let kcl: Vec<Value> = self
            .leases
            .list()
            .into_iter()
            .filter(|(stream, _, _)| names.contains(stream))
            .map(|(stream, table, seen)| json!({"stream": stream, "table": table, "seenMs": seen}))
            .collect();
        let doc = json!({
            "at": now_ms(),
            "intervalMs": u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            "streams": streams,
            "efo": efo,
            "kcl": kcl,
            "delivery": self.delivery(),
        });
        let mut event = Vec::with_capacity(1024);
        event.extend_from_slice(b"data: ");
        // serde_json writes one line: no newline can end the event early.
        if serde_json::to_writer(&mut event, &doc).is_err() {
            event.truncate(6);
            event.extend_from_slice(b"{}");
        }
        event.extend_from_slice(b"\n\n");
        let next = Previous {
            at: Some(now),
            counters: counters
                .into_iter()
                .map(|c| ((c.stream.clone(), c.shard.clone()), c))
                .collect(),
        };
        (Bytes::from(event), next)
    }

    /// The delivery streams' figures, from the Firehose service's own metrics
    /// (`freshet_firehose_*{delivery_stream="NAME"} VALUE`).
    fn delivery(&self) -> Value {
        let mut text = String::new();
        for s in self.services.iter().filter(|s| s.name() == "firehose") {
            s.render_metrics(&mut text);
        }
        let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for line in text.lines() {
            let Some((metric, rest)) = line
                .strip_prefix("freshet_firehose_")
                .and_then(|l| l.split_once("{delivery_stream=\""))
            else {
                continue;
            };
            let Some((name, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let key = match metric {
                "data_freshness_ms" => "freshnessMs",
                "records_delivered_total" => "records",
                "bytes_delivered_total" => "bytes",
                "objects_written_total" => "objects",
                "upload_failures_total" => "failures",
                _ => continue,
            };
            if let Ok(v) = value.trim().parse::<u64>() {
                out.entry(name.to_string())
                    .or_default()
                    .insert(key.into(), json!(v));
            }
        }
        json!(out)
    }

    /// Appends the console's own series to `out`.
    pub fn render_metrics(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP freshet_console_live_subscribers Consoles connected to /console/live.\n# TYPE freshet_console_live_subscribers gauge\nfreshet_console_live_subscribers {}",
            self.subscribers()
        );
        let _ = writeln!(
            out,
            "# HELP freshet_console_live_ticks_total Live documents computed (one per second while a console is connected).\n# TYPE freshet_console_live_ticks_total counter\nfreshet_console_live_ticks_total {}",
            self.ticks.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP freshet_console_live_tick_seconds_total Time spent computing them.\n# TYPE freshet_console_live_tick_seconds_total counter\nfreshet_console_live_tick_seconds_total {}",
            self.tick_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP freshet_console_live_subscriptions_total Subscriptions to /console/live.\n# TYPE freshet_console_live_subscriptions_total counter\nfreshet_console_live_subscriptions_total {}",
            self.subscribed.load(Ordering::Relaxed)
        );
    }
}

/// Per-second rates of one shard (or a sum).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Rates {
    in_records: f64,
    in_bytes: f64,
    out_records: f64,
    out_bytes: f64,
}

impl Rates {
    /// Rates from two readings `seconds` apart; a counter that went back (a stream
    /// deleted and made again) counts as none.
    fn between(before: &ShardCounters, after: &ShardCounters, seconds: f64) -> Rates {
        let per_second = |a: u64, b: u64| b.checked_sub(a).map_or(0.0, |d| d as f64 / seconds);
        Rates {
            in_records: per_second(before.incoming_records, after.incoming_records),
            in_bytes: per_second(before.incoming_bytes, after.incoming_bytes),
            out_records: per_second(before.outgoing_records, after.outgoing_records),
            out_bytes: per_second(before.outgoing_bytes, after.outgoing_bytes),
        }
    }

    fn add(&mut self, other: &Rates) {
        self.in_records += other.in_records;
        self.in_bytes += other.in_bytes;
        self.out_records += other.out_records;
        self.out_bytes += other.out_bytes;
    }

    fn json(&self) -> Map<String, Value> {
        let round = |v: f64| (v * 10.0).round() / 10.0;
        let mut m = Map::new();
        m.insert("inRps".into(), json!(round(self.in_records)));
        m.insert("inBps".into(), json!(round(self.in_bytes)));
        m.insert("outRps".into(), json!(round(self.out_records)));
        m.insert("outBps".into(), json!(round(self.out_bytes)));
        m
    }
}

/// A subscriber's documents as a stream of body chunks.
struct Events(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Events {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(records: u64, bytes: u64) -> ShardCounters {
        ShardCounters {
            stream: "s".into(),
            shard: "shardId-000000000000".into(),
            incoming_records: records,
            incoming_bytes: bytes,
            outgoing_records: records / 2,
            outgoing_bytes: bytes / 2,
            iterator_age_ms: 0,
        }
    }

    #[test]
    fn rates_are_deltas_per_second_and_never_negative() {
        let r = Rates::between(&counters(100, 1000), &counters(300, 5000), 2.0);
        assert_eq!(r.in_records, 100.0);
        assert_eq!(r.in_bytes, 2000.0);
        assert_eq!(r.out_records, 50.0);
        let back = Rates::between(&counters(300, 5000), &counters(10, 10), 1.0);
        assert_eq!(back, Rates::default());
    }

    #[tokio::test]
    async fn one_ticker_feeds_every_subscriber_and_stops_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = freshet_storage::EngineConfig::new(dir.path());
        cfg.retention_interval = None;
        let engine = freshet_storage::Engine::open(cfg).unwrap();
        engine
            .create_stream(freshet_storage::CreateStream::new("s", 2))
            .unwrap();
        let state = KinesisState::new(engine.clone(), freshet_kinesis::ApiConfig::default());
        let live = Live::new(
            state,
            Vec::new(),
            Arc::new(LeaseTables::default()),
            Duration::from_millis(20),
        );
        let mut streams: Vec<ChunkStream> = (0..3).map(|_| live.subscribe()).collect();
        for s in &mut streams {
            let mut seen = Vec::new();
            while seen.len() < 3 {
                let next = std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await;
                seen.push(next.unwrap());
            }
            assert_eq!(&seen[0][..], RETRY);
            let text = std::str::from_utf8(&seen[1]).unwrap();
            let json: Value =
                serde_json::from_str(text.strip_prefix("data: ").unwrap().trim()).unwrap();
            assert_eq!(
                json["streams"]["s"]["shards"].as_object().map(|m| m.len()),
                Some(2)
            );
        }
        let ticks = live.ticks.load(Ordering::Relaxed);
        // Three subscribers, one document per tick.
        assert!(ticks < 10, "{ticks}");
        drop(streams);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(live.subscribers(), 0);
        assert!(!live.running.load(Ordering::SeqCst));
        live.shut_down();
        engine.shutdown().unwrap();
    }
}
