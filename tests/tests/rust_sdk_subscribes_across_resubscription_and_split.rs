//! The AWS SDK for Rust's `subscribe_to_shard` (over HTTP/1.1) against a real `freshet`
//! process with a 1.5 s subscription lifetime: every record arrives once and in order
//! across re-subscriptions with ContinuationSequenceNumber and across a split; a second
//! subscription is refused, a later one takes over and the first ends with an
//! event-stream ResourceInUseException.

mod efo_common;

use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, SubscribeToShardEventStream};
use efo_common::{active_consumer, client, create_stream, follow, position, rt};
use freshet_tests::Server;

#[test]
fn rust_sdk_receives_every_record_in_order_across_resubscription() {
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    let endpoint = server.endpoint();
    rt().block_on(async move {
        let c = client(&endpoint);
        let stream_arn = create_stream(&c, "efo-rs", 1).await;
        let consumer = active_consumer(&c, &stream_arn, "rs").await;
        const N: usize = 400;
        let sent: Vec<Vec<u8>> = (0..N).map(|i| format!("r-{i:05}").into_bytes()).collect();
        let producer = {
            let c = client(&endpoint);
            let sent = sent.clone();
            tokio::spawn(async move {
                for (i, d) in sent.into_iter().enumerate() {
                    c.put_record()
                        .stream_name("efo-rs")
                        .partition_key("pk")
                        .data(Blob::new(d))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("put: {e:?}"));
                    if i % 20 == 0 {
                        // 20 pauses of 100 ms outlast the 1.5 s subscription lifetime.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        };
        let f = follow(
            &c,
            &consumer,
            "shardId-000000000000",
            N,
            Duration::from_secs(60),
        )
        .await;
        producer.await.unwrap_or_else(|e| panic!("producer: {e}"));
        let got: Vec<Vec<u8>> = f.records.iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(got, sent, "records out of order, lost or repeated");
        assert!(f.records.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            f.subscriptions >= 2,
            "expected a re-subscription, used {}",
            f.subscriptions
        );
    });
}

#[test]
fn rust_sdk_follows_a_split_to_the_children() {
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    let endpoint = server.endpoint();
    rt().block_on(async move {
        let c = client(&endpoint);
        let stream_arn = create_stream(&c, "efo-split", 1).await;
        let consumer = active_consumer(&c, &stream_arn, "splitter").await;
        let put = |data: String, key: String| {
            let c = c.clone();
            async move {
                c.put_record()
                    .stream_name("efo-split")
                    .partition_key(key)
                    .data(Blob::new(data.into_bytes()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put: {e:?}"))
            }
        };
        let mut before = Vec::new();
        for i in 0..60 {
            put(format!("b-{i}"), format!("k{i}")).await;
            before.push(format!("b-{i}").into_bytes());
        }
        c.split_shard()
            .stream_name("efo-split")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key((1u128 << 127).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("split: {e:?}"));
        let mut after: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..60 {
            let out = put(format!("a-{i}"), format!("k{i}")).await;
            after.push((out.shard_id().to_string(), format!("a-{i}").into_bytes()));
        }
        let parent = follow(
            &c,
            &consumer,
            "shardId-000000000000",
            usize::MAX,
            Duration::from_secs(30),
        )
        .await;
        let got: Vec<Vec<u8>> = parent.records.iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(got, before);
        let children = parent
            .children
            .unwrap_or_else(|| panic!("the parent's end carried no ChildShards"));
        assert_eq!(children.len(), 2);
        for child in &children {
            assert_eq!(child.parent_shards(), ["shardId-000000000000"]);
            let want: Vec<Vec<u8>> = after
                .iter()
                .filter(|(s, _)| s == child.shard_id())
                .map(|(_, d)| d.clone())
                .collect();
            let f = follow(
                &c,
                &consumer,
                child.shard_id(),
                want.len(),
                Duration::from_secs(30),
            )
            .await;
            let got: Vec<Vec<u8>> = f.records.iter().map(|(_, d)| d.clone()).collect();
            assert_eq!(got, want, "child {}", child.shard_id());
        }
    });
}

#[test]
fn a_second_subscription_is_refused_then_takes_over() {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    rt().block_on(async move {
        let c = client(&endpoint);
        let stream_arn = create_stream(&c, "efo-twice", 1).await;
        let consumer = active_consumer(&c, &stream_arn, "twice").await;
        let subscribe = || {
            c.subscribe_to_shard()
                .consumer_arn(&consumer)
                .shard_id("shardId-000000000000")
                .starting_position(position(ShardIteratorType::Latest, None))
                .send()
        };
        let mut first = subscribe()
            .await
            .unwrap_or_else(|e| panic!("first subscription: {e:?}"));
        let ev = first.event_stream.recv().await;
        assert!(
            matches!(
                ev,
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(_)))
            ),
            "{ev:?}"
        );
        let refused = subscribe().await;
        assert_eq!(
            refused.err().and_then(|e| e.code().map(str::to_string)),
            Some("ResourceInUseException".to_string())
        );
        // After 5 seconds a new subscription takes over and the first one ends.
        tokio::time::sleep(Duration::from_millis(5200)).await;
        let _second = subscribe()
            .await
            .unwrap_or_else(|e| panic!("takeover: {e:?}"));
        let mut ended_with = None;
        for _ in 0..10 {
            match tokio::time::timeout(Duration::from_secs(10), first.event_stream.recv()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) => {
                    ended_with = Some("end".to_string());
                    break;
                }
                Ok(Err(e)) => {
                    ended_with = Some(
                        e.as_service_error()
                            .and_then(|s| s.code().map(str::to_string))
                            .unwrap_or_else(|| format!("{e:?}")),
                    );
                    break;
                }
                Err(_) => break,
            }
        }
        assert_eq!(ended_with.as_deref(), Some("ResourceInUseException"));
    });
}
