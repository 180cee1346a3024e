#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! An on-demand stream scaling under a KCL application, against a real `freshet
//! serve`: a skewed producer ramps one shard over its write limits, the server splits
//! it by itself, and three workers (sharing the server-hosted lease table) take the new
//! shards and rebalance. Nothing is lost; no record is processed twice except across a
//! lease handoff; a child's records come after its parent's; per partition key, first
//! deliveries stay in order. The decision shows in /metrics and the server log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_client::{KinesisApi, KinesisClient, PutRecordsEntry, Shard};
use freshet_kcl::{HttpLeaseStore, LeaseStore};
use freshet_protocol::hash_key::hash_key_of;
use freshet_tests::Server;
use recording::{delivered, held, start_worker, Delivery, Seen};

mod recording;

const STREAM: &str = "od-kcl";
const APP: &str = "od-app";

async fn wait_until<F: Fn() -> bool>(what: &str, limit: Duration, f: F) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn metrics(server: &Server) -> String {
    let reply = freshet_tests::http::raw(
        server.addr,
        format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .as_bytes(),
    )
    .expect("GET /metrics");
    String::from_utf8_lossy(&reply.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_producer_splits_the_stream_and_three_workers_take_the_new_shards() {
    let server = Server::start(&[
        "--on-demand-split-after-secs",
        "3",
        "--on-demand-interval-ms",
        "250",
    ]);
    let endpoint = server.endpoint();
    let created = freshet_tests::http::call_json(
        server.addr,
        "CreateStream",
        &serde_json::json!({"StreamName": STREAM, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    );
    assert_eq!(created.status, 200, "{created:?}");
    let api = Arc::new(KinesisClient::new(endpoint.clone()).unwrap());
    freshet_client::wait_for_active(api.as_ref(), STREAM, Duration::from_secs(30))
        .await
        .unwrap();
    let shards: Vec<Shard> = api.list_shards(STREAM).await.unwrap();
    assert_eq!(
        shards.len(),
        4,
        "an on-demand stream starts with four shards"
    );
    let hot = shards[0].clone();

    let seen: Seen = Arc::default();
    let workers: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| start_worker(&endpoint, &api, STREAM, APP, id, &seen))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while held(&workers) != vec![1, 1, 2] {
        assert!(
            Instant::now() < deadline,
            "4 leases not balanced over 3 workers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The producer: 64 keys of the first shard, a few of the others; it ramps from
    // 200 to 1,500 records/s, 1,350 of them to the first shard (its limit is 1,000,
    // each child's share stays under it), and stops a little after the split.
    let hot_keys: Vec<String> = (0u64..)
        .map(|i| format!("hot-{i}"))
        .filter(|k| hot.hash_key_range.contains(hash_key_of(k)))
        .take(64)
        .collect();
    let produced = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (api, produced, stop) = (api.clone(), produced.clone(), stop.clone());
        let hot_keys = hot_keys.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0u64;
            let mut pace = tokio::time::interval(Duration::from_millis(100));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(90) {
                pace.tick().await;
                let batch = if started.elapsed() < Duration::from_secs(2) {
                    20
                } else {
                    150
                };
                let entries: Vec<PutRecordsEntry> = (n..n + batch)
                    .map(|i| {
                        let key = if i % 10 == 9 {
                            format!("cold-{}", i % 7)
                        } else {
                            hot_keys[(i % 64) as usize].clone()
                        };
                        PutRecordsEntry::new(key, i.to_string())
                    })
                    .collect();
                let out = api.put_records(STREAM, entries).await.unwrap();
                assert_eq!(out.failed_record_count, 0);
                n += batch;
                produced.store(n, Ordering::SeqCst);
            }
        })
    };

    // The server splits the hot shard by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    let children: Vec<Shard> = loop {
        let shards = api.list_shards(STREAM).await.unwrap();
        let children: Vec<Shard> = shards
            .into_iter()
            .filter(|s| s.parent_shard_id.as_deref() == Some(hot.shard_id.as_str()))
            .collect();
        if !children.is_empty() {
            break children;
        }
        assert!(
            Instant::now() < deadline,
            "no split after 60 s:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(children.len(), 2, "{children:?}");
    // Both children got part of the hot keys: the split followed the keys.
    let left = hot_keys
        .iter()
        .filter(|k| children[0].hash_key_range.contains(hash_key_of(k)))
        .count();
    assert!(
        (16..=48).contains(&left),
        "{left} of 64 hot keys left of the split"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    producer.await.unwrap();
    let total = produced.load(Ordering::SeqCst);

    // Everything is processed; the five open shards spread 2/2/1 over the workers.
    wait_until("every record processed", Duration::from_secs(60), || {
        let s = seen.lock().unwrap();
        delivered(&s).len() as u64 == total
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while held(&workers) != vec![1, 2, 2] {
        assert!(
            Instant::now() < deadline,
            "5 leases not balanced over 3 workers: {:?}",
            held(&workers)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = HttpLeaseStore::new(&endpoint, STREAM, APP).unwrap();
    let leases = store.list().await.unwrap();
    for child in &children {
        let lease = leases
            .iter()
            .find(|l| l.key == child.shard_id)
            .unwrap_or_else(|| panic!("no lease for {}: {leases:?}", child.shard_id));
        assert!(lease.lease.owner.is_some(), "{lease:?}");
    }

    for (h, _) in &workers {
        h.shutdown();
    }
    for (_, task) in workers {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("worker stops")
            .expect("worker task");
    }

    let s = seen.lock().unwrap();
    // Twice only across a handoff: never twice by one worker, and a record seen by two
    // workers is on a shard whose lease changed hands.
    let mut by: BTreeMap<u64, Vec<&Delivery>> = BTreeMap::new();
    for d in s.iter() {
        by.entry(d.3).or_default().push(d);
    }
    let mut owners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in s.iter() {
        owners.entry(&d.1).or_default().insert(&d.0);
    }
    let mut across_handoffs = 0;
    for (n, ds) in &by {
        if ds.len() < 2 {
            continue;
        }
        let workers: BTreeSet<&str> = ds.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            workers.len(),
            ds.len(),
            "record {n} processed twice by one worker: {ds:?}"
        );
        assert!(
            owners[ds[0].1.as_str()].len() > 1,
            "record {n} twice without a handoff: {ds:?}"
        );
        across_handoffs += 1;
    }
    println!("{total} records, {across_handoffs} processed again across a lease handoff");
    // Parents first: the hot shard's last delivery precedes its children's first.
    let last_parent = s
        .iter()
        .rposition(|d| d.1 == hot.shard_id)
        .expect("parent records");
    for child in &children {
        if let Some(first) = s.iter().position(|d| d.1 == child.shard_id) {
            assert!(
                first > last_parent,
                "{} read before its parent ended",
                child.shard_id
            );
        }
    }
    // Per partition key, first deliveries in order.
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let mut firsts = BTreeSet::new();
    for (_, _, pk, n) in s.iter() {
        if firsts.insert(*n) {
            if let Some(prev) = last.insert(pk, *n) {
                assert!(prev < *n, "{pk}: {n} after {prev}");
            }
        }
    }
    drop(s);

    let m = metrics(&server);
    assert!(
        m.contains(&format!(
            "freshet_on_demand_splits_total{{stream=\"{STREAM}\"}} 1"
        )),
        "{m}"
    );
    let log = server.log();
    assert!(
        log.contains("on-demand scaling: splitting a hot shard"),
        "{log}"
    );
}
