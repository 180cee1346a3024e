#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Enhanced fan-out through a real `freshet serve` child process: the consumer
//! actions with their typed errors, and `subscribe_to_shard` / `follow_shard`
//! receiving every record once and in order across re-subscriptions (a 1.5 s
//! subscription lifetime) and across a split.

mod support;

use std::time::{Duration, Instant};

use freshet_client::{
    wait_for_active, ConsumerStatus, Error, KinesisApi, KinesisClient, PutRecordsEntry,
    StartingPosition,
};
use support::Server;

const SHARD0: &str = "shardId-000000000000";

async fn stream(api: &KinesisClient, name: &str, shards: u32) -> String {
    api.create_stream(name, shards).await.unwrap();
    wait_for_active(api, name, Duration::from_secs(30))
        .await
        .unwrap()
        .stream_arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_actions_and_typed_subscription_errors() {
    let server = Server::start(&[]);
    let api = KinesisClient::new(&server.endpoint).unwrap();
    let arn = stream(&api, "efo-actions", 1).await;

    let c = api.register_stream_consumer(&arn, "app").await.unwrap();
    assert_eq!(c.consumer_name, "app");
    assert_eq!(c.stream_arn, arn);
    assert!(c.consumer_arn.contains(":stream/efo-actions/consumer/app:"));
    assert!(matches!(
        api.register_stream_consumer(&arn, "app").await,
        Err(Error::ResourceInUse(_))
    ));
    let listed = api.list_stream_consumers(&arn).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].consumer_arn, c.consumer_arn);
    let d = api.describe_stream_consumer(&c.consumer_arn).await.unwrap();
    assert_eq!(d.stream_arn, arn);
    assert_eq!(d.consumer_status, ConsumerStatus::Active);
    let by_name = api
        .describe_stream_consumer_by_name(&arn, "app")
        .await
        .unwrap();
    assert_eq!(by_name.consumer_arn, c.consumer_arn);
    // ensure_consumer reuses the existing one.
    let again = api
        .ensure_consumer(&arn, "app", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(again.consumer_arn, c.consumer_arn);

    assert!(matches!(
        api.subscribe_to_shard(
            &c.consumer_arn,
            "shardId-000000000099",
            StartingPosition::Latest
        )
        .await,
        Err(Error::ResourceNotFound(_))
    ));
    let mut first = api
        .subscribe_to_shard(&c.consumer_arn, SHARD0, StartingPosition::Latest)
        .await
        .unwrap();
    let ev = first.recv().await.unwrap().unwrap();
    assert!(ev.records.is_empty());
    assert!(!ev.continuation_sequence_number.is_empty());
    assert!(matches!(
        api.subscribe_to_shard(&c.consumer_arn, SHARD0, StartingPosition::Latest)
            .await,
        Err(Error::ResourceInUse(_))
    ));
    drop(first);

    api.deregister_stream_consumer(&c.consumer_arn)
        .await
        .unwrap();
    assert!(matches!(
        api.describe_stream_consumer(&c.consumer_arn).await,
        Err(Error::ResourceNotFound(_))
    ));
    assert!(api.list_stream_consumers(&arn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_shard_receives_every_record_in_order_across_resubscription() {
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    let api = KinesisClient::new(&server.endpoint).unwrap();
    let arn = stream(&api, "efo-follow", 1).await;
    let consumer = api
        .ensure_consumer(&arn, "follower", Duration::from_secs(10))
        .await
        .unwrap();
    const N: usize = 300;
    let sent: Vec<String> = (0..N).map(|i| format!("r-{i:05}")).collect();
    let producer = {
        let api = api.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            for (i, chunk) in sent.chunks(10).enumerate() {
                let entries = chunk
                    .iter()
                    .map(|d| PutRecordsEntry::new("pk", d.clone()))
                    .collect();
                let out = api.put_records("efo-follow", entries).await.unwrap();
                assert_eq!(out.failed_record_count, 0);
                // 30 batches paced over at least 3 s: twice the subscription lifetime.
                let due = started + Duration::from_millis(100 * (i as u64 + 1));
                tokio::time::sleep_until(due.into()).await;
            }
        })
    };
    let mut follow = api.follow_shard(
        &consumer.consumer_arn,
        SHARD0,
        StartingPosition::TrimHorizon,
    );
    let mut got: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < N {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, follow.recv())
            .await
            .expect("records within 60 s")
            .expect("the open shard's stream does not end")
            .expect("no error");
        for r in ev.records {
            got.push((
                r.sequence_number,
                String::from_utf8(r.data.to_vec()).unwrap(),
            ));
        }
    }
    producer.await.unwrap();
    let datas: Vec<&str> = got.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(datas, sent, "records lost, repeated or out of order");
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(
        follow.subscriptions() >= 2,
        "expected a re-subscription, used {}",
        follow.subscriptions()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_shard_follows_a_split_to_the_children() {
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    let api = KinesisClient::new(&server.endpoint).unwrap();
    let arn = stream(&api, "efo-split", 1).await;
    let consumer = api
        .ensure_consumer(&arn, "splitter", Duration::from_secs(10))
        .await
        .unwrap()
        .consumer_arn;
    let mut before = Vec::new();
    for i in 0..60 {
        let d = format!("b-{i}");
        api.put_record(
            "efo-split",
            PutRecordsEntry::new(format!("k{i}"), d.clone()),
        )
        .await
        .unwrap();
        before.push(d);
    }
    api.split_shard("efo-split", SHARD0, 1u128 << 127)
        .await
        .unwrap();
    wait_for_active(&api, "efo-split", Duration::from_secs(30))
        .await
        .unwrap();
    let mut after: Vec<(String, String)> = Vec::new();
    for i in 0..60 {
        let d = format!("a-{i}");
        let out = api
            .put_record(
                "efo-split",
                PutRecordsEntry::new(format!("k{i}"), d.clone()),
            )
            .await
            .unwrap();
        after.push((out.shard_id, d));
    }

    // The parent, to its end.
    let mut parent = api.follow_shard(&consumer, SHARD0, StartingPosition::TrimHorizon);
    let mut got = Vec::new();
    let mut children = None;
    for _ in 0..1_000 {
        let item = tokio::time::timeout(Duration::from_secs(30), parent.recv())
            .await
            .expect("an event within 30 s");
        let Some(ev) = item else { break };
        let ev = ev.unwrap();
        got.extend(
            ev.records
                .iter()
                .map(|r| String::from_utf8(r.data.to_vec()).unwrap()),
        );
        if ev.child_shards.is_some() {
            children = ev.child_shards;
        }
    }
    assert_eq!(got, before);
    let children = children.expect("the parent's end carries ChildShards");
    assert_eq!(children.len(), 2);

    // Each child, from its start.
    for child in &children {
        assert_eq!(child.parent_shards, [SHARD0]);
        let want: Vec<&str> = after
            .iter()
            .filter(|(s, _)| *s == child.shard_id)
            .map(|(_, d)| d.as_str())
            .collect();
        let mut f = api.follow_shard(&consumer, &child.shard_id, StartingPosition::TrimHorizon);
        let mut got: Vec<String> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = tokio::time::timeout(left, f.recv())
                .await
                .expect("child records within 30 s")
                .expect("open child stream")
                .expect("no error");
            got.extend(
                ev.records
                    .iter()
                    .map(|r| String::from_utf8(r.data.to_vec()).unwrap()),
            );
        }
        assert_eq!(got, want, "child {}", child.shard_id);
    }
}
