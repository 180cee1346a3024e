//! Enhanced fan-out helpers shared by the Rust SDK tests (included with `mod efo_common;`):
//! a client, a consumer that is ACTIVE, and a subscriber that follows a shard across
//! re-subscriptions.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::{
    ChildShard, ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;

/// An SDK client for a local endpoint over HTTP/1.1, without retries.
pub fn client(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .http_client(http)
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// A single-threaded runtime.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Creates a stream of `shards` shards and waits (bounded) until it is ACTIVE; returns
/// its ARN.
pub async fn create_stream(c: &Client, name: &str, shards: i32) -> String {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    for _ in 0..200 {
        let d = c
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe {name}: {e:?}"));
        if let Some(s) = d.stream_description_summary() {
            if s.stream_status().as_str() == "ACTIVE" {
                return s.stream_arn().to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("stream {name} never became ACTIVE")
}

/// Registers a consumer and waits (bounded) until it is ACTIVE; returns its ARN.
pub async fn active_consumer(c: &Client, stream_arn: &str, name: &str) -> String {
    let out = c
        .register_stream_consumer()
        .stream_arn(stream_arn)
        .consumer_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("register {name}: {e:?}"));
    let arn = out
        .consumer()
        .map(|c| c.consumer_arn().to_string())
        .unwrap_or_else(|| panic!("no consumer in the reply"));
    for _ in 0..200 {
        let d = c
            .describe_stream_consumer()
            .consumer_arn(&arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe consumer: {e:?}"));
        if d.consumer_description()
            .is_some_and(|d| *d.consumer_status() == ConsumerStatus::Active)
        {
            return arn;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("consumer {name} never became ACTIVE")
}

/// A StartingPosition.
pub fn position(ty: ShardIteratorType, seq: Option<&str>) -> StartingPosition {
    StartingPosition::builder()
        .r#type(ty)
        .set_sequence_number(seq.map(str::to_string))
        .build()
        .unwrap_or_else(|e| panic!("position: {e}"))
}

/// What following a shard produced.
#[derive(Debug, Default)]
pub struct Followed {
    /// (sequence number, data) in arrival order.
    pub records: Vec<(String, Vec<u8>)>,
    /// Subscriptions used.
    pub subscriptions: usize,
    /// Events received.
    pub events: usize,
    /// The shard's children, when its end was reached.
    pub children: Option<Vec<ChildShard>>,
}

/// Follows a shard from TRIM_HORIZON, re-subscribing with AFTER_SEQUENCE_NUMBER and the
/// last ContinuationSequenceNumber whenever a subscription ends, until `want` records,
/// the shard's end, or `timeout`.
pub async fn follow(
    c: &Client,
    consumer_arn: &str,
    shard: &str,
    want: usize,
    timeout: Duration,
) -> Followed {
    let deadline = Instant::now() + timeout;
    let mut f = Followed::default();
    let mut pos = position(ShardIteratorType::TrimHorizon, None);
    while Instant::now() < deadline {
        f.subscriptions += 1;
        let mut out = c
            .subscribe_to_shard()
            .consumer_arn(consumer_arn)
            .shard_id(shard)
            .starting_position(pos.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("subscribe_to_shard: {e:?}"));
        let mut cont = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = match tokio::time::timeout(left, out.event_stream.recv()).await {
                Ok(Ok(Some(ev))) => ev,
                Ok(Ok(None)) | Err(_) => break,
                Ok(Err(e)) => panic!("event stream: {e:?}"),
            };
            let SubscribeToShardEventStream::SubscribeToShardEvent(e) = ev else {
                panic!("unexpected event {ev:?}");
            };
            f.events += 1;
            assert!(!e.continuation_sequence_number().is_empty());
            cont = Some(e.continuation_sequence_number().to_string());
            for r in e.records() {
                f.records
                    .push((r.sequence_number().to_string(), r.data().as_ref().to_vec()));
            }
            if !e.child_shards().is_empty() {
                f.children = Some(e.child_shards().to_vec());
            }
        }
        if f.children.is_some() || f.records.len() >= want {
            break;
        }
        let cont = cont.unwrap_or_else(|| panic!("a subscription ended without events"));
        pos = position(ShardIteratorType::AfterSequenceNumber, Some(&cont));
    }
    f
}
