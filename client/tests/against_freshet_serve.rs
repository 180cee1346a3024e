#![allow(clippy::expect_used, clippy::unwrap_used)]
//! End to end through a real `freshet serve` child process: the typed client over
//! every covered action, and the producer with aggregation, a split during the run and
//! server-enforced throughput limits.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_client::aggregation::deaggregate_in_range;
use freshet_client::{
    wait_for_active, Error, KinesisApi, KinesisClient, Producer, ProducerConfig, PutRecordsEntry,
    ShardIteratorType, StreamStatus,
};
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drives_the_api() {
    let server = Server::start(&[]);
    let api = KinesisClient::new(&server.endpoint).unwrap();
    api.create_stream("orders", 2).await.unwrap();
    let summary = wait_for_active(&api, "orders", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(summary.stream_status, StreamStatus::Active);
    assert_eq!(summary.open_shard_count, 2);
    assert!(
        summary.stream_arn.ends_with(":stream/orders"),
        "{summary:?}"
    );
    assert!(api
        .list_streams()
        .await
        .unwrap()
        .contains(&"orders".to_string()));
    assert!(matches!(
        api.create_stream("orders", 1).await,
        Err(Error::ResourceInUse(_))
    ));
    assert!(matches!(
        api.describe_stream_summary("missing").await,
        Err(Error::ResourceNotFound(_))
    ));

    let one = api
        .put_record("orders", PutRecordsEntry::new("k", "first"))
        .await
        .unwrap();
    let batch = api
        .put_records(
            "orders",
            vec![
                PutRecordsEntry::new("k", "second"),
                PutRecordsEntry::new("other", vec![0u8, 255, 7]).with_explicit_hash_key(0),
            ],
        )
        .await
        .unwrap();
    assert_eq!(batch.failed_record_count, 0);
    let second = batch.records[0].clone().unwrap();
    assert_eq!(second.shard_id, one.shard_id);
    assert!(second.sequence_number > one.sequence_number);
    let third = batch.records[1].clone().unwrap();
    assert_eq!(third.shard_id, "shardId-000000000000");

    let it = api
        .get_shard_iterator("orders", &one.shard_id, ShardIteratorType::TrimHorizon)
        .await
        .unwrap();
    let got = api.get_records(&it, Some(100)).await.unwrap();
    let datas: Vec<&[u8]> = got.records.iter().map(|r| &r.data[..]).collect();
    assert!(datas.contains(&&b"first"[..]) && datas.contains(&&b"second"[..]));
    assert!(got.records[0].approximate_arrival_ms.unwrap() > 1_600_000_000_000);
    let after = api
        .get_shard_iterator(
            "orders",
            &one.shard_id,
            ShardIteratorType::AfterSequenceNumber(one.sequence_number.clone()),
        )
        .await
        .unwrap();
    let got = api.get_records(&after, None).await.unwrap();
    assert_eq!(&got.records[0].data[..], b"second");
    let at = api
        .get_shard_iterator(
            "orders",
            &one.shard_id,
            ShardIteratorType::AtSequenceNumber(one.sequence_number.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        &api.get_records(&at, Some(1)).await.unwrap().records[0].data[..],
        b"first"
    );
    let ts = api
        .get_shard_iterator("orders", &one.shard_id, ShardIteratorType::AtTimestamp(0))
        .await
        .unwrap();
    assert!(!api.get_records(&ts, None).await.unwrap().records.is_empty());
    let latest = api
        .get_shard_iterator("orders", &one.shard_id, ShardIteratorType::Latest)
        .await
        .unwrap();
    assert!(api
        .get_records(&latest, None)
        .await
        .unwrap()
        .records
        .is_empty());
    assert!(matches!(
        api.get_records("garbage", None).await,
        Err(Error::InvalidArgument(_)) | Err(Error::ExpiredIterator(_))
    ));

    // Resharding: split shard 0, read the parent to its end, merge the children back.
    let shards = api.list_shards("orders").await.unwrap();
    let s0 = shards[0].clone();
    let mid = s0.hash_key_range.end / 2;
    api.split_shard("orders", &s0.shard_id, mid).await.unwrap();
    wait_for_active(&api, "orders", Duration::from_secs(10))
        .await
        .unwrap();
    let shards = api.list_shards("orders").await.unwrap();
    assert_eq!(shards.len(), 4);
    assert!(!shards[0].is_open());
    let it = api
        .get_shard_iterator("orders", &s0.shard_id, ShardIteratorType::TrimHorizon)
        .await
        .unwrap();
    let mut it = Some(it);
    let mut children = None;
    for _ in 0..10 {
        let Some(cur) = it.take() else { break };
        let got = api.get_records(&cur, None).await.unwrap();
        children = got.child_shards.or(children);
        it = got.next_shard_iterator;
    }
    let children = children.expect("child shards reported at the parent's end");
    assert_eq!(children.len(), 2);
    api.merge_shards("orders", &children[0].shard_id, &children[1].shard_id)
        .await
        .unwrap();
    wait_for_active(&api, "orders", Duration::from_secs(10))
        .await
        .unwrap();
    let open = api
        .list_shards("orders")
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.is_open())
        .count();
    assert_eq!(open, 2);
    let u = api.update_shard_count("orders", 4).await.unwrap();
    assert_eq!((u.current_shard_count, u.target_shard_count), (2, 4));
    wait_for_active(&api, "orders", Duration::from_secs(10))
        .await
        .unwrap();

    // Tags and retention.
    let tags = BTreeMap::from([("team".to_string(), "data".to_string())]);
    api.add_tags("orders", tags.clone()).await.unwrap();
    assert_eq!(api.list_tags("orders").await.unwrap(), tags);
    api.remove_tags("orders", vec!["team".into()])
        .await
        .unwrap();
    assert!(api.list_tags("orders").await.unwrap().is_empty());
    api.set_retention_period("orders", 48, true).await.unwrap();
    assert_eq!(
        api.describe_stream_summary("orders")
            .await
            .unwrap()
            .retention_period_hours,
        48
    );
    assert!(matches!(
        api.set_retention_period("orders", 10, false).await,
        Err(Error::InvalidArgument(_))
    ));

    api.delete_stream("orders").await.unwrap();
    let gone = Instant::now();
    loop {
        match api.describe_stream_summary("orders").await {
            Err(Error::ResourceNotFound(_)) => break,
            _ if gone.elapsed() > Duration::from_secs(10) => panic!("stream not deleted"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_a_transport_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = freshet_client::ClientConfig::new(format!("http://{addr}"));
    cfg.retry.max_attempts = 3;
    cfg.retry.base_delay = Duration::from_millis(1);
    let api = KinesisClient::with_config(cfg).unwrap();
    let started = Instant::now();
    assert!(matches!(api.list_streams().await, Err(Error::Transport(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// (pk, data) -> where it was read: [(shard, sequence, sub-sequence)].
type ReadBack = HashMap<(String, Bytes), Vec<(String, String, u64)>>;

async fn read_all(api: &KinesisClient, stream: &str) -> ReadBack {
    let mut out = ReadBack::new();
    for shard in api.list_shards(stream).await.unwrap() {
        let mut it = api
            .get_shard_iterator(stream, &shard.shard_id, ShardIteratorType::TrimHorizon)
            .await
            .unwrap();
        for _ in 0..1_000_000 {
            let got = api.get_records(&it, Some(10_000)).await.unwrap();
            let empty = got.records.is_empty();
            for r in &got.records {
                for u in deaggregate_in_range(r, &shard.hash_key_range) {
                    out.entry((u.partition_key, u.data)).or_default().push((
                        shard.shard_id.clone(),
                        u.sequence_number,
                        u.sub_sequence_number,
                    ));
                }
            }
            match got.next_shard_iterator {
                Some(next) if !(empty && shard.is_open()) => it = next,
                _ => break,
            }
        }
    }
    out
}

/// Puts `tasks * per_task` 100-byte user records through the producer, optionally
/// splitting a shard during the run; checks each is read back at its receipt; returns
/// user records per second.
async fn produce_and_verify(
    server: &Server,
    shard_count: u32,
    cfg: ProducerConfig,
    tasks: usize,
    per_task: usize,
    split: bool,
    allow_duplicates: bool,
) -> (f64, freshet_client::producer::MetricsSnapshot) {
    let api = Arc::new(KinesisClient::new(&server.endpoint).unwrap());
    api.create_stream("e2e", shard_count).await.unwrap();
    wait_for_active(api.as_ref(), "e2e", Duration::from_secs(10))
        .await
        .unwrap();
    let producer = Producer::new(api.clone(), cfg);
    let started = Instant::now();
    let total = (tasks * per_task) as u64;
    let splitter = split.then(|| {
        let api = api.clone();
        let producer = producer.clone();
        tokio::spawn(async move {
            // Split once a fifth of the records are in, so it lands mid-run.
            let deadline = Instant::now() + Duration::from_secs(120);
            while producer.metrics().user_records_put < total / 5 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let shards = api.list_shards("e2e").await.unwrap();
            let s = &shards[1];
            let mid = s.hash_key_range.start + (s.hash_key_range.end - s.hash_key_range.start) / 2;
            api.split_shard("e2e", &s.shard_id, mid).await.unwrap();
        })
    });
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = producer.clone();
        handles.push(tokio::spawn(async move {
            let mut pending = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let pk = format!("t{t}-{}", i % 1000);
                let mut data = format!("task {t} record {i} ").into_bytes();
                data.resize(100, b'.');
                let data = Bytes::from(data);
                let fut = p
                    .submit("e2e", pk.clone(), data.clone(), None)
                    .await
                    .unwrap();
                pending.push((pk, data, fut));
            }
            let mut out = Vec::with_capacity(per_task);
            for (pk, data, fut) in pending {
                out.push((pk, data, fut.await.unwrap()));
            }
            out
        }));
    }
    let mut receipts = Vec::new();
    for h in handles {
        receipts.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed();
    if let Some(s) = splitter {
        s.await.unwrap();
    }
    producer.shutdown().await.unwrap();
    let rate = receipts.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} user records in {elapsed:?} ({rate:.0}/s); {:?}",
        receipts.len(),
        producer.metrics()
    );
    let read = read_all(&api, "e2e").await;
    assert_eq!(
        read.len(),
        receipts.len(),
        "distinct user records read back"
    );
    for (pk, data, r) in &receipts {
        let found = read.get(&(pk.clone(), data.clone())).expect("record lost");
        assert!(
            found.contains(&(
                r.shard_id.to_string(),
                r.sequence_number.to_string(),
                r.sub_sequence_number
            )),
            "{pk}: receipt {r:?} vs {found:?}"
        );
        if !allow_duplicates {
            assert_eq!(found.len(), 1, "{pk} duplicated: {found:?}");
        }
    }
    if split {
        let shards = api.list_shards("e2e").await.unwrap();
        assert_eq!(shards.len(), shard_count as usize + 2);
        let children: Vec<&str> = shards
            .iter()
            .filter(|s| s.parent_shard_id.is_some())
            .map(|s| s.shard_id.as_str())
            .collect();
        let on_children = receipts
            .iter()
            .filter(|(_, _, r)| children.contains(&&*r.shard_id))
            .count();
        assert!(on_children > 0, "no record reached the children");
    }
    (rate, producer.metrics())
}

fn e2e_records() -> usize {
    std::env::var("FRESHET_E2E_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            200_000
        } else {
            1_000_000
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_eight_tasks_with_a_split_loses_nothing() {
    let server = Server::start(&["--durability", "sync-data"]);
    let cfg = ProducerConfig {
        rate_limit_percent: None,
        ..ProducerConfig::default()
    };
    let per_task = e2e_records() / 8;
    let (_, m) = produce_and_verify(&server, 4, cfg, 8, per_task, true, false).await;
    assert!(m.user_records_per_kinesis_record() > 50.0, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_under_enforced_limits_loses_and_duplicates_nothing() {
    let server = Server::start(&["--enforce-limits"]);
    // 300% of the per-shard limits: the server throttles, the producer retries.
    let cfg = ProducerConfig {
        rate_limit_percent: Some(300),
        aggregation_max_bytes: 4_096,
        retry_base_delay: Duration::from_millis(20),
        ..ProducerConfig::default()
    };
    let (_, m) = produce_and_verify(&server, 1, cfg, 4, 5_000, false, false).await;
    assert!(
        m.kinesis_records_failed > 0,
        "the server never throttled: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_admin_actions() {
    let server = Server::start(&[]);
    let api = KinesisClient::new(&server.endpoint).unwrap();
    api.create_stream("adm", 3).await.unwrap();
    let summary = wait_for_active(&api, "adm", Duration::from_secs(10))
        .await
        .unwrap();
    let (d, shards) = api.describe_stream("adm").await.unwrap();
    assert_eq!(d.stream_name, "adm");
    assert_eq!(shards.len(), 3);
    let limits = api.describe_limits().await.unwrap();
    assert!(limits.open_shard_count >= 3 && limits.shard_limit >= limits.open_shard_count);
    let on = api
        .set_enhanced_monitoring("adm", &["IncomingBytes"], true)
        .await
        .unwrap();
    assert_eq!(on, vec!["IncomingBytes".to_string()]);
    api.set_stream_encryption("adm", "alias/aws/kinesis", true)
        .await
        .unwrap();
    wait_for_active(&api, "adm", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        api.describe_stream_summary("adm")
            .await
            .unwrap()
            .encryption_type,
        "KMS"
    );
    let tags = BTreeMap::from([("k".to_string(), "v".to_string())]);
    api.tag_resource(&summary.stream_arn, &tags).await.unwrap();
    assert_eq!(
        api.list_tags_for_resource(&summary.stream_arn)
            .await
            .unwrap(),
        tags
    );
    api.untag_resource(&summary.stream_arn, &["k".to_string()])
        .await
        .unwrap();
    assert!(api
        .list_tags_for_resource(&summary.stream_arn)
        .await
        .unwrap()
        .is_empty());
    api.update_stream_mode(&summary.stream_arn, "ON_DEMAND")
        .await
        .unwrap();
    wait_for_active(&api, "adm", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        api.describe_stream_summary("adm")
            .await
            .unwrap()
            .stream_mode,
        "ON_DEMAND"
    );
}
