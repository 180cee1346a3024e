#![allow(dead_code)]
//! The multi-process test, shared by its variants: `freshet serve`, three worker
//! processes (the test binary, re-executed) consuming a 12-shard stream while a
//! producer writes; one worker is killed with SIGKILL, its leases spread 6/6 over the
//! two survivors; then two shards are split and two others merged. Every record is
//! processed at least once and, within each worker, in order per partition key. The
//! leases live in the server's lease table or, with the `dynamodb` feature, in a
//! DynamoDB table (moto).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freshet_client::{wait_for_active, KinesisApi, KinesisClient, PutRecordsEntry};
use freshet_kcl::{
    Checkpointer, Config, HttpLeaseStore, InitializationInput, KinesisSource, LeaseStore,
    ProcessRecordsInput, Scheduler, ShardRecordProcessor, ShardRecordProcessorFactory,
};
use freshet_tests::Server;

pub const STREAM: &str = "kcl-procs";
pub const APP: &str = "procs-app";

/// Where the workers keep their leases.
#[derive(Debug, Clone)]
pub enum Leases {
    /// The lease table hosted by the `freshet serve` that serves the stream.
    Server,
    /// A DynamoDB table named after the application, at this endpoint.
    DynamoDb {
        /// `http://host:port`.
        endpoint: String,
    },
}

impl Leases {
    fn to_env(&self) -> String {
        match self {
            Leases::Server => "server".into(),
            Leases::DynamoDb { endpoint } => format!("dynamodb {endpoint}"),
        }
    }

    fn from_env(v: &str) -> Leases {
        match v.split_once(' ') {
            Some(("dynamodb", endpoint)) => Leases::DynamoDb {
                endpoint: endpoint.to_string(),
            },
            _ => Leases::Server,
        }
    }

    /// The lease store a worker uses.
    pub async fn store(&self, kinesis_endpoint: &str) -> Arc<dyn LeaseStore> {
        match self {
            Leases::Server => {
                Arc::new(HttpLeaseStore::new(kinesis_endpoint, STREAM, APP).expect("lease store"))
            }
            #[cfg(feature = "dynamodb")]
            Leases::DynamoDb { endpoint } => Arc::new(
                freshet_kcl::DynamoDbLeaseStore::open(dynamodb_client(endpoint), APP)
                    .await
                    .expect("DynamoDB lease store"),
            ),
            #[cfg(not(feature = "dynamodb"))]
            Leases::DynamoDb { .. } => panic!("DynamoDB leases need the dynamodb feature"),
        }
    }
}

/// A DynamoDB client for moto (static test credentials).
#[cfg(feature = "dynamodb")]
pub fn dynamodb_client(endpoint: &str) -> freshet_kcl::store::dynamodb::sdk::Client {
    use freshet_kcl::store::dynamodb::sdk;
    let conf = freshet_kcl::DynamoDbLeaseStore::config_builder("us-east-1", Some(endpoint))
        .credentials_provider(sdk::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .build();
    sdk::Client::from_conf(conf)
}

struct Printer {
    shard: String,
}

impl ShardRecordProcessor for Printer {
    async fn initialize(&mut self, _input: InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        {
            let out = std::io::stdout();
            let mut out = out.lock();
            for r in &input.records {
                let n = String::from_utf8_lossy(&r.data);
                writeln!(out, "REC {} {} {n}", self.shard, r.partition_key).expect("stdout");
            }
            out.flush().expect("flush");
        }
        let _ = cp.checkpoint().await;
    }

    async fn shard_ended(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }

    async fn shutdown_requested(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }
}

struct Factory;

impl ShardRecordProcessorFactory for Factory {
    type Processor = Printer;
    fn create(&self, shard_id: &str) -> Printer {
        Printer {
            shard: shard_id.to_string(),
        }
    }
}

/// The body of the `kcl_worker_child` test: a worker process that runs until killed.
/// A no-op unless the parent set the variables.
pub fn worker_child() {
    let (Ok(endpoint), Ok(id), Ok(leases)) = (
        std::env::var("FRESHET_KCL_ENDPOINT"),
        std::env::var("FRESHET_KCL_WORKER"),
        std::env::var("FRESHET_KCL_LEASES"),
    ) else {
        return;
    };
    let leases = Leases::from_env(&leases);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let api = Arc::new(KinesisClient::new(endpoint.clone()).expect("client"));
        let store = leases.store(&endpoint).await;
        let source = Arc::new(KinesisSource::new(api, STREAM));
        let mut cfg = Config::new(APP, id).with_failover_ms(1_500);
        cfg.idle_ms = 20;
        cfg.max_idle_ms = 200;
        let (scheduler, handle) = Scheduler::new(cfg, store, source, Factory);
        tokio::spawn(scheduler.run());
        loop {
            println!("HELD {}", handle.metrics().leases_held);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

#[derive(Default)]
struct Seen {
    /// Per worker: (partition key, n) in delivery order.
    records: BTreeMap<String, Vec<(String, u64)>>,
    /// Per worker: leases held, as last reported.
    held: BTreeMap<String, usize>,
}

fn spawn_worker(endpoint: &str, leases: &Leases, id: &str, seen: &Arc<Mutex<Seen>>) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kcl_worker_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FRESHET_KCL_ENDPOINT", endpoint)
        .env("FRESHET_KCL_WORKER", id)
        .env("FRESHET_KCL_LEASES", leases.to_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    let stdout = child.stdout.take().expect("pipe");
    let seen = Arc::clone(seen);
    let id = id.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parts: Vec<&str> = line.split(' ').collect();
            let mut s = seen.lock().unwrap();
            match parts[..] {
                ["HELD", n] => {
                    s.held.insert(id.clone(), n.parse().unwrap_or(0));
                }
                ["REC", _shard, pk, n] => {
                    if let Ok(n) = n.parse() {
                        s.records
                            .entry(id.clone())
                            .or_default()
                            .push((pk.to_string(), n));
                    }
                }
                _ => {}
            }
        }
    });
    child
}

async fn wait_until(seen: &Arc<Mutex<Seen>>, secs: u64, what: &str, ok: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok(&seen.lock().unwrap()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: held {:?}",
            seen.lock().unwrap().held
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delivered(s: &Seen) -> BTreeSet<u64> {
    s.records.values().flatten().map(|r| r.1).collect()
}

/// The whole scenario, with the leases in `leases`.
pub async fn three_worker_processes_survive_a_kill_and_resharding(leases: Leases) {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    let api = Arc::new(KinesisClient::new(endpoint.clone()).unwrap());
    api.create_stream(STREAM, 12).await.unwrap();
    wait_for_active(api.as_ref(), STREAM, Duration::from_secs(30))
        .await
        .unwrap();

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut children: BTreeMap<&str, Child> = ["w1", "w2", "w3"]
        .into_iter()
        .map(|id| (id, spawn_worker(&endpoint, &leases, id, &seen)))
        .collect();

    // A producer writes all along: 40 partition keys, numbered records.
    let produced = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (api, produced, stop) = (Arc::clone(&api), Arc::clone(&produced), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut next = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Acquire) && next < 200_000 {
                let batch: Vec<_> = (next..next + 50)
                    .map(|i| PutRecordsEntry::new(format!("pk-{}", i % 40), i.to_string()))
                    .collect();
                let out = api.put_records(STREAM, batch).await.expect("put");
                assert_eq!(out.failed_record_count, 0);
                next += 50;
                *produced.lock().unwrap() = next;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    wait_until(&seen, 60, "4/4/4", |s| {
        let mut h: Vec<_> = s.held.values().copied().collect();
        h.sort_unstable();
        h == [4, 4, 4]
    })
    .await;

    // Kill one worker outright; the two survivors end up with 6 leases each.
    let mut victim = children.remove("w3").expect("w3");
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reap");
    seen.lock().unwrap().held.remove("w3");
    wait_until(&seen, 60, "6/6 over the survivors", |s| {
        s.held.get("w1") == Some(&6) && s.held.get("w2") == Some(&6)
    })
    .await;

    // Split two shards and merge two others while the producer goes on.
    let mut open = api.list_shards(STREAM).await.unwrap();
    open.retain(|s| s.ending_sequence_number.is_none());
    open.sort_by_key(|s| s.hash_key_range.start);
    for s in &open[..2] {
        let mid = s.hash_key_range.start + (s.hash_key_range.end - s.hash_key_range.start) / 2;
        api.split_shard(STREAM, &s.shard_id, mid).await.unwrap();
    }
    api.merge_shards(STREAM, &open[4].shard_id, &open[5].shard_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    producer.await.unwrap();
    let total = *produced.lock().unwrap();
    assert!(total > 0);

    wait_until(&seen, 90, "every produced record", |s| {
        delivered(s).len() as u64 >= total
    })
    .await;
    for (_, mut c) in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let s = seen.lock().unwrap();
    let got = delivered(&s);
    assert_eq!(
        got,
        (0..total).collect::<BTreeSet<_>>(),
        "every record processed at least once"
    );
    // Within each worker, each partition key's records arrive in production order.
    for (worker, recs) in &s.records {
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for (pk, n) in recs {
            if let Some(prev) = last.insert(pk, *n) {
                assert!(prev < *n, "worker {worker}: {pk} {n} after {prev}");
            }
        }
    }
    let per_worker: BTreeMap<_, _> = s
        .records
        .iter()
        .map(|(w, r)| (w.clone(), r.len()))
        .collect();
    eprintln!("{total} records produced, all processed; deliveries per worker {per_worker:?}");
    drop(server);
}
