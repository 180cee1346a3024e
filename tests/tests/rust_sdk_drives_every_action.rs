//! The AWS SDK for Rust (`aws-sdk-kinesis`), unchanged, against a real `freshet`
//! process: every action, every iterator type, the error types, resharding with reads
//! across parents and children, and eight concurrent writers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ScalingType, ShardFilter, ShardFilterType, ShardIteratorType,
    StreamMode, StreamModeDetails,
};
use aws_sdk_kinesis::Client;
use freshet_tests::Server;

mod efo_common;
use efo_common::client;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn code<T, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "success".into(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/";

/// Reads a shard from TRIM_HORIZON to its end or to an empty page (bounded).
async fn drain(
    c: &Client,
    stream: &str,
    shard: &str,
) -> (Vec<(String, Vec<u8>, String)>, Option<Vec<String>>) {
    let mut it = c
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_or_else(|e| panic!("iterator: {e:?}"))
        .shard_iterator
        .unwrap_or_default();
    let mut out = Vec::new();
    for _ in 0..1000 {
        let r = c
            .get_records()
            .shard_iterator(&it)
            .limit(1000)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get_records: {e:?}"));
        let n = r.records().len();
        for rec in r.records() {
            out.push((
                rec.sequence_number().to_string(),
                rec.data().as_ref().to_vec(),
                rec.partition_key().unwrap_or_default().to_string(),
            ));
        }
        match r.next_shard_iterator() {
            None => {
                let children = r
                    .child_shards()
                    .iter()
                    .map(|c| c.shard_id().to_string())
                    .collect();
                return (out, Some(children));
            }
            Some(next) if n == 0 => {
                let _ = next;
                return (out, None);
            }
            Some(next) => it = next.to_string(),
        }
    }
    panic!("shard {shard} did not drain in 1000 pages");
}

#[test]
fn rust_sdk_drives_every_action() {
    let server = Server::start(&[]);
    let c = client(&server.endpoint());
    rt().block_on(async {
        c.create_stream()
            .stream_name("rs")
            .shard_count(2)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            code(
                c.create_stream()
                    .stream_name("rs")
                    .shard_count(1)
                    .send()
                    .await
            ),
            "ResourceInUseException"
        );
        assert_eq!(
            code(c.describe_stream().stream_name("missing").send().await),
            "ResourceNotFoundException"
        );
        assert_eq!(
            code(
                c.create_stream()
                    .stream_name("bad/name")
                    .shard_count(1)
                    .send()
                    .await
            ),
            "ValidationException"
        );
        c.create_stream()
            .stream_name("od")
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::OnDemand)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));

        let d = c
            .describe_stream()
            .stream_name("rs")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let d = d
            .stream_description()
            .unwrap_or_else(|| panic!("no description"));
        assert_eq!(d.stream_status().as_str(), "ACTIVE");
        assert_eq!(d.shards().len(), 2);
        let sum = c
            .describe_stream_summary()
            .stream_arn(format!("{ARN}rs"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            sum.stream_description_summary()
                .map(|s| s.open_shard_count()),
            Some(Some(2)).flatten()
        );
        let ls = c
            .list_streams()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ls.stream_names(), ["od", "rs"]);
        assert_eq!(ls.stream_summaries().len(), 2);

        // Puts, every iterator type, and timestamps both ways.
        let before = DateTime::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
                - 1000,
        );
        let p1 = c
            .put_record()
            .stream_name("rs")
            .partition_key("k")
            .data(Blob::new(b"one".to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let p2 = c
            .put_record()
            .stream_name("rs")
            .partition_key("k")
            .data(Blob::new(b"two".to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(p2.sequence_number() > p1.sequence_number());
        let shard = p1.shard_id().to_string();
        let entries: Vec<PutRecordsRequestEntry> = (0..50)
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("p{i}"))
                    .data(Blob::new(vec![i as u8]))
                    .build()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let pr = c
            .put_records()
            .stream_name("rs")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(pr.failed_record_count(), Some(0));
        assert_eq!(pr.records().len(), 50);

        let iter = |ty: ShardIteratorType| {
            c.get_shard_iterator()
                .stream_name("rs")
                .shard_id(&shard)
                .shard_iterator_type(ty)
        };
        let first = |it: String| {
            let c = c.clone();
            async move {
                let r = c
                    .get_records()
                    .shard_iterator(it)
                    .limit(1)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e:?}"));
                r.records().first().map(|r| r.data().as_ref().to_vec())
            }
        };
        let th = iter(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            first(th.shard_iterator().unwrap_or_default().to_string()).await,
            Some(b"one".to_vec())
        );
        let at = iter(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(p2.sequence_number())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            first(at.shard_iterator().unwrap_or_default().to_string()).await,
            Some(b"two".to_vec())
        );
        let after = iter(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(p1.sequence_number())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            first(after.shard_iterator().unwrap_or_default().to_string()).await,
            Some(b"two".to_vec())
        );
        let ts = iter(ShardIteratorType::AtTimestamp)
            .timestamp(before)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            first(ts.shard_iterator().unwrap_or_default().to_string()).await,
            Some(b"one".to_vec())
        );
        let latest = iter(ShardIteratorType::Latest)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            first(latest.shard_iterator().unwrap_or_default().to_string()).await,
            None
        );
        let r = c
            .get_records()
            .shard_iterator(th.shard_iterator().unwrap_or_default())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let arrival = r.records()[0]
            .approximate_arrival_timestamp()
            .map(|t| t.to_millis().unwrap_or(0))
            .unwrap_or(0);
        assert!(
            arrival >= before.to_millis().unwrap_or(0),
            "arrival {arrival}"
        );
        assert_eq!(r.millis_behind_latest(), Some(0));
        assert_eq!(
            code(
                c.get_records()
                    .shard_iterator("bogus-iterator")
                    .send()
                    .await
            ),
            "InvalidArgumentException"
        );
        assert_eq!(
            code(iter(ShardIteratorType::AtSequenceNumber).send().await),
            "InvalidArgumentException"
        );
        assert_eq!(
            code(
                c.put_record()
                    .stream_name("rs")
                    .partition_key("k")
                    .data(Blob::new(b"x".to_vec()))
                    .explicit_hash_key("340282366920938463463374607431768211456")
                    .send()
                    .await
            ),
            "InvalidArgumentException"
        );

        // Shards, filters and resharding.
        let shards = c
            .list_shards()
            .stream_name("rs")
            .max_results(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(shards.shards().len(), 1);
        let rest = c
            .list_shards()
            .next_token(shards.next_token().unwrap_or_default())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(rest.shards().len(), 1);
        c.split_shard()
            .stream_name("rs")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key((1u128 << 126).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.merge_shards()
            .stream_name("rs")
            .shard_to_merge("shardId-000000000002")
            .adjacent_shard_to_merge("shardId-000000000003")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let filter = |t: ShardFilterType| {
            ShardFilter::builder()
                .r#type(t)
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let open = c
            .list_shards()
            .stream_name("rs")
            .shard_filter(filter(ShardFilterType::AtLatest))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ids: Vec<&str> = open.shards().iter().map(|s| s.shard_id()).collect();
        assert_eq!(ids, ["shardId-000000000001", "shardId-000000000004"]);
        let u = c
            .update_shard_count()
            .stream_name("rs")
            .target_shard_count(3)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (u.current_shard_count(), u.target_shard_count()),
            (Some(2), Some(3))
        );

        // Settings.
        c.increase_stream_retention_period()
            .stream_name("rs")
            .retention_period_hours(100)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.decrease_stream_retention_period()
            .stream_name("rs")
            .retention_period_hours(30)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            code(
                c.increase_stream_retention_period()
                    .stream_name("rs")
                    .retention_period_hours(10)
                    .send()
                    .await
            ),
            "InvalidArgumentException"
        );
        c.add_tags_to_stream()
            .stream_name("rs")
            .tags("a", "1")
            .tags("b", "2")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.remove_tags_from_stream()
            .stream_name("rs")
            .tag_keys("a")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let t = c
            .list_tags_for_stream()
            .stream_name("rs")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.tags().iter().map(|t| t.key()).collect::<Vec<_>>(), ["b"]);
        c.tag_resource()
            .resource_arn(format!("{ARN}rs"))
            .tags("c", "3")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.untag_resource()
            .resource_arn(format!("{ARN}rs"))
            .tag_keys("b")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let t = c
            .list_tags_for_resource()
            .resource_arn(format!("{ARN}rs"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.tags().iter().map(|t| t.key()).collect::<Vec<_>>(), ["c"]);
        c.update_stream_mode()
            .stream_arn(format!("{ARN}od"))
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::Provisioned)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.start_stream_encryption()
            .stream_name("rs")
            .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
            .key_id("k")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.stop_stream_encryption()
            .stream_name("rs")
            .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
            .key_id("k")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let m = c
            .enable_enhanced_monitoring()
            .stream_name("rs")
            .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m.desired_shard_level_metrics().len(), 7);
        c.disable_enhanced_monitoring()
            .stream_name("rs")
            .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::IncomingBytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let l = c
            .describe_limits()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(l.open_shard_count(), 7);
        let _ = c
            .describe_account_settings()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.delete_stream()
            .stream_name("od")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        c.delete_stream()
            .stream_arn(format!("{ARN}rs"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(c
            .list_streams()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .stream_names()
            .is_empty());
    });
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
}

#[test]
fn resharding_keeps_every_record_readable_across_parents_and_children() {
    let server = Server::start(&[]);
    let c = client(&server.endpoint());
    rt().block_on(async {
        c.create_stream()
            .stream_name("rs")
            .shard_count(2)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut acked: Vec<(String, String, Vec<u8>)> = Vec::new();
        let put_round = |round: usize| {
            let c = c.clone();
            async move {
                let mut out = Vec::new();
                for i in 0..40 {
                    let data = format!("r{round}-{i}").into_bytes();
                    let p = c
                        .put_record()
                        .stream_name("rs")
                        .partition_key(format!("key{}", i % 8))
                        .data(Blob::new(data.clone()))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{e:?}"));
                    out.push((
                        p.shard_id().to_string(),
                        p.sequence_number().to_string(),
                        data,
                    ));
                }
                out
            }
        };
        acked.extend(put_round(0).await);
        c.split_shard()
            .stream_name("rs")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key((1u128 << 126).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        acked.extend(put_round(1).await);
        c.merge_shards()
            .stream_name("rs")
            .shard_to_merge("shardId-000000000003")
            .adjacent_shard_to_merge("shardId-000000000001")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        acked.extend(put_round(2).await);
        c.update_shard_count()
            .stream_name("rs")
            .target_shard_count(4)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        acked.extend(put_round(3).await);

        // Walk the lineage from the shards open at the trim horizon, parents first.
        let roots = c
            .list_shards()
            .stream_name("rs")
            .shard_filter(
                ShardFilter::builder()
                    .r#type(ShardFilterType::AtTrimHorizon)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut queue: Vec<String> = roots
            .shards()
            .iter()
            .map(|s| s.shard_id().to_string())
            .collect();
        assert_eq!(queue, ["shardId-000000000000", "shardId-000000000001"]);
        let mut seen: HashMap<String, Vec<(String, Vec<u8>, String)>> = HashMap::new();
        let mut visited = 0;
        while let Some(shard) = queue.pop() {
            visited += 1;
            assert!(visited < 100, "lineage walk did not end");
            if seen.contains_key(&shard) {
                continue;
            }
            let (records, children) = drain(&c, "rs", &shard).await;
            seen.insert(shard.clone(), records);
            if let Some(children) = children {
                assert!(
                    !children.is_empty(),
                    "closed shard {shard} names its children"
                );
                queue.extend(children);
            }
        }
        let all = c
            .list_shards()
            .stream_name("rs")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            seen.len(),
            all.shards().len(),
            "the lineage walk reaches every shard"
        );
        for (shard, seq, data) in &acked {
            let records = seen
                .get(shard)
                .unwrap_or_else(|| panic!("shard {shard} not reached"));
            assert!(
                records.iter().any(|(s, d, _)| s == seq && d == data),
                "record {seq} missing from {shard}"
            );
        }
        // Every parent's sequence numbers are below its children's.
        let desc = all.shards();
        for s in desc {
            for parent in [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
            {
                let max_parent = seen
                    .get(parent)
                    .and_then(|r| r.iter().map(|x| x.0.clone()).max());
                let min_child = seen
                    .get(s.shard_id())
                    .and_then(|r| r.iter().map(|x| x.0.clone()).min());
                if let (Some(p), Some(ch)) = (max_parent, min_child) {
                    assert!(p < ch, "parent {parent} {p} >= child {} {ch}", s.shard_id());
                }
            }
        }
    });
}

#[test]
fn eight_concurrent_writers_lose_nothing_and_keep_order() {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    rt().block_on(async {
        client(&endpoint)
            .create_stream()
            .stream_name("conc")
            .shard_count(3)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    });
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let endpoint = endpoint.clone();
            std::thread::spawn(move || {
                let c = client(&endpoint);
                rt().block_on(async move {
                    let mut acked = Vec::new();
                    for batch in 0..10 {
                        let entries: Vec<PutRecordsRequestEntry> = (0..20)
                            .map(|i| {
                                PutRecordsRequestEntry::builder()
                                    .partition_key(format!("w{w}-{i}"))
                                    .data(Blob::new(format!("w{w}-b{batch}-{i}").into_bytes()))
                                    .build()
                                    .unwrap_or_else(|e| panic!("{e}"))
                            })
                            .collect();
                        let sent: Vec<Vec<u8>> =
                            entries.iter().map(|e| e.data().as_ref().to_vec()).collect();
                        let r = c
                            .put_records()
                            .stream_name("conc")
                            .set_records(Some(entries))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        for (rec, data) in r.records().iter().zip(sent) {
                            if let (Some(shard), Some(seq)) =
                                (rec.shard_id(), rec.sequence_number())
                            {
                                acked.push((shard.to_string(), seq.to_string(), data));
                            }
                        }
                        let p = c
                            .put_record()
                            .stream_name("conc")
                            .partition_key(format!("w{w}"))
                            .data(Blob::new(format!("w{w}-single-{batch}").into_bytes()))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{e:?}"));
                        acked.push((
                            p.shard_id().to_string(),
                            p.sequence_number().to_string(),
                            format!("w{w}-single-{batch}").into_bytes(),
                        ));
                    }
                    acked
                })
            })
        })
        .collect();
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.join().unwrap_or_else(|_| panic!("writer panicked")));
    }
    assert_eq!(acked.len(), 8 * 10 * 21, "every write acknowledged");
    let c = client(&endpoint);
    rt().block_on(async {
        let mut by_shard: BTreeMap<String, Vec<(String, Vec<u8>, String)>> = BTreeMap::new();
        for shard in [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
        ] {
            let (records, _) = drain(&c, "conc", shard).await;
            for w in records.windows(2) {
                assert!(w[0].0 < w[1].0, "sequence numbers increase within {shard}");
            }
            by_shard.insert(shard.to_string(), records);
        }
        let total: usize = by_shard.values().map(Vec::len).sum();
        assert_eq!(
            total,
            acked.len(),
            "exactly the acknowledged records are stored"
        );
        let mut unique = std::collections::HashSet::new();
        for (shard, seq, data) in &acked {
            assert!(
                unique.insert(seq.clone()),
                "sequence number {seq} given twice"
            );
            let records = &by_shard[shard];
            assert!(
                records.iter().any(|(s, d, _)| s == seq && d == data),
                "{seq} missing"
            );
        }
    });
    let _ = Duration::from_secs(0);
}
