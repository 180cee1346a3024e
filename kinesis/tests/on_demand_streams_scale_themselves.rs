//! The on-demand scaler's decisions, driven pass by pass on a manual clock (no
//! sleeps, no timing): a shard over its write limits for the split window is split
//! where its keys divide evenly; its children under the limits are left alone; a shard
//! hot with one key is not split; cold adjacent shards are merged after the merge
//! window, never below four; the account shard limit stops a split; provisioned
//! streams are never touched. Every decision shows in /metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_kinesis::actions::dispatch;
use freshet_kinesis::{ApiConfig, KinesisState, ScalingConfig};
use freshet_protocol::value::{decode, Encoding};
use freshet_storage::{
    hash_key_of, CreateStream, Durability, Engine, EngineConfig, ManualClock, ShardDescription,
    StreamMode,
};

const SPLIT_AFTER: Duration = Duration::from_secs(10);
const MERGE_AFTER: Duration = Duration::from_secs(30);

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    clock: Arc<ManualClock>,
    state: Arc<KinesisState>,
    cfg: ScalingConfig,
}

fn fixture(shard_limit: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let mut cfg = EngineConfig::new(dir.path());
    cfg.clock = clock.clone();
    cfg.durability = Durability::Buffered;
    cfg.shard_limit = shard_limit;
    let engine = Engine::open(cfg).unwrap_or_else(|e| panic!("{e}"));
    let scaling = ScalingConfig {
        enabled: true,
        split_after: SPLIT_AFTER,
        merge_after: MERGE_AFTER,
        interval: Duration::from_secs(1),
    };
    let state = KinesisState::new(
        engine.clone(),
        ApiConfig {
            scaling,
            ..ApiConfig::default()
        },
    );
    Fixture {
        _dir: dir,
        engine,
        clock,
        state,
        cfg: scaling,
    }
}

impl Fixture {
    fn create(&self, name: &str, mode: StreamMode) {
        let mut req = CreateStream::new(name, 4);
        req.mode = mode;
        self.engine
            .create_stream(req)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn open_shards(&self, name: &str) -> Vec<ShardDescription> {
        let d = self
            .engine
            .describe_stream(name)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut open: Vec<ShardDescription> =
            d.shards.into_iter().filter(|s| !s.is_closed()).collect();
        open.sort_by_key(|s| s.range.start);
        open
    }

    /// Puts `keys` (one record of `size` bytes each) through the Kinesis API.
    fn put(&self, name: &str, keys: &[String], size: usize) {
        let data = "x".repeat(size);
        let data = base64_of(data.as_bytes());
        for chunk in keys.chunks(500) {
            let records: Vec<String> = chunk
                .iter()
                .map(|k| format!(r#"{{"Data":"{data}","PartitionKey":"{k}"}}"#))
                .collect();
            let body = format!(
                r#"{{"StreamName":"{name}","Records":[{}]}}"#,
                records.join(",")
            );
            let doc = decode(Encoding::Json, body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
            let deadline = Instant::now() + Duration::from_secs(60);
            dispatch(&self.state, "PutRecords", &doc, deadline).unwrap_or_else(|e| panic!("{e:?}"));
        }
    }

    /// One second passes; the scaler samples and decides.
    fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
        self.state.scaler.pass(&self.state, &self.cfg);
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        self.state.scaler.render(&mut out);
        out
    }
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `n` distinct partition keys whose hash keys fall in `shard`'s range.
fn keys_in(shard: &ShardDescription, n: usize) -> Vec<String> {
    (0u64..)
        .map(|i| format!("key-{i}"))
        .filter(|k| shard.range.contains(hash_key_of(k)))
        .take(n)
        .collect()
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[test]
fn a_hot_shard_splits_where_its_keys_divide_and_cold_shards_merge_back() {
    let f = fixture(500);
    f.create("od", StreamMode::OnDemand);
    f.create("prov", StreamMode::Provisioned);
    let first = f.open_shards("od")[0].clone();
    let keys = keys_in(&first, 300);
    let prov_first = f.open_shards("prov")[0].clone();

    // 1,500 records/s into the first shard: over its 1,000 records/s. No split before
    // the window has passed.
    for second in 0..SPLIT_AFTER.as_secs() {
        f.put(
            "od",
            &keys.iter().cycle().take(1500).cloned().collect::<Vec<_>>(),
            10,
        );
        f.put("prov", &keys_in(&prov_first, 1500), 10);
        assert_eq!(
            f.open_shards("od").len(),
            4,
            "split early, at second {second}"
        );
        f.tick();
    }
    f.put(
        "od",
        &keys.iter().cycle().take(1500).cloned().collect::<Vec<_>>(),
        10,
    );
    f.tick();
    let open = f.open_shards("od");
    assert_eq!(open.len(), 5, "the hot shard split: {open:#?}");
    assert_eq!(
        f.open_shards("prov").len(),
        4,
        "a provisioned stream never scales"
    );
    let children: Vec<&ShardDescription> = open
        .iter()
        .filter(|s| s.parent_shard_id.as_deref() == Some(first.shard_id.as_str()))
        .collect();
    assert_eq!(children.len(), 2, "{open:#?}");
    // Split where the keys divide: each child owns 40%..60% of them.
    let left = keys
        .iter()
        .filter(|k| children[0].range.contains(hash_key_of(k)))
        .count();
    assert!(
        (120..=180).contains(&left),
        "{left} of 300 keys went left of the split"
    );
    let m = f.metrics();
    assert_eq!(
        metric(&m, "freshet_on_demand_splits_total{stream=\"od\"}"),
        1,
        "{m}"
    );

    // The children get ~750 records/s each: under the limit, no more splits.
    for _ in 0..2 * SPLIT_AFTER.as_secs() {
        f.put(
            "od",
            &keys.iter().cycle().take(1500).cloned().collect::<Vec<_>>(),
            10,
        );
        f.tick();
    }
    assert_eq!(
        f.open_shards("od").len(),
        5,
        "children under their limits split"
    );

    // Quiet: after the merge window, one cold adjacent pair is merged; never below 4.
    for _ in 0..MERGE_AFTER.as_secs() + SPLIT_AFTER.as_secs() {
        f.tick();
    }
    assert_eq!(
        f.open_shards("od").len(),
        4,
        "cold shards merged back to four"
    );
    for _ in 0..2 * MERGE_AFTER.as_secs() {
        f.tick();
    }
    assert_eq!(
        f.open_shards("od").len(),
        4,
        "merged below the on-demand start"
    );
    let m = f.metrics();
    assert_eq!(
        metric(&m, "freshet_on_demand_merges_total{stream=\"od\"}"),
        1,
        "{m}"
    );
    f.engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bytes_over_the_limit_split_too() {
    let f = fixture(500);
    f.create("od", StreamMode::OnDemand);
    let first = f.open_shards("od")[0].clone();
    let keys = keys_in(&first, 40);
    // 40 records of 40 KiB a second: 1.6 MiB/s, far under 1,000 records/s.
    for _ in 0..=SPLIT_AFTER.as_secs() {
        f.put("od", &keys, 40 * 1024);
        f.tick();
    }
    assert_eq!(f.open_shards("od").len(), 5);
    f.engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn one_hot_key_is_not_split_and_the_shard_limit_stops_splits() {
    // The account may hold only the stream's four shards.
    let f = fixture(4);
    f.create("od", StreamMode::OnDemand);
    let open = f.open_shards("od");
    let one_key = keys_in(&open[0], 1);
    let spread = keys_in(&open[1], 300);
    for _ in 0..=SPLIT_AFTER.as_secs() {
        f.put("od", &vec![one_key[0].clone(); 1500], 10);
        f.tick();
    }
    assert_eq!(f.open_shards("od").len(), 4, "a single hot key was split");
    let m = f.metrics();
    assert_eq!(
        metric(
            &m,
            "freshet_on_demand_refused_total{stream=\"od\",reason=\"hot_key\"}"
        ),
        1,
        "{m}"
    );
    assert_eq!(
        metric(&m, "freshet_on_demand_hot_shards{stream=\"od\"}"),
        1,
        "{m}"
    );

    // Spread keys on another shard: a split is due, but the limit has no room.
    for _ in 0..=SPLIT_AFTER.as_secs() {
        f.put(
            "od",
            &spread
                .iter()
                .cycle()
                .take(1500)
                .cloned()
                .collect::<Vec<_>>(),
            10,
        );
        f.tick();
    }
    assert_eq!(f.open_shards("od").len(), 4);
    let m = f.metrics();
    assert!(
        metric(
            &m,
            "freshet_on_demand_refused_total{stream=\"od\",reason=\"shard_limit\"}"
        ) >= 1,
        "{m}"
    );
    f.engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}
