//! Stream consumers through the Rust SDK against a real `freshet` process: register,
//! describe (by ARN and by stream and name), list with pagination, the 20-consumer
//! limit, CREATING -> ACTIVE and DELETING with a creation delay, the AWS errors, and
//! consumers surviving a restart and vanishing with their stream.

mod efo_common;

use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::types::{ConsumerStatus, ShardIteratorType};
use efo_common::{client, create_stream, position, rt};
use freshet_tests::Server;

fn code<T, E: ProvideErrorMetadata>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "success".into(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

#[test]
fn consumers_register_list_limit_and_deregister() {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    rt().block_on(async move {
        let c = client(&endpoint);
        let arn = create_stream(&c, "consumers", 1).await;
        let reg = c
            .register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("c00")
            .send()
            .await
            .unwrap_or_else(|e| panic!("register: {e:?}"));
        let first = reg
            .consumer()
            .unwrap_or_else(|| panic!("no consumer"))
            .clone();
        assert_eq!(first.consumer_name(), "c00");
        assert!(
            first
                .consumer_arn()
                .starts_with(&format!("{arn}/consumer/c00:")),
            "{}",
            first.consumer_arn()
        );
        assert_eq!(*first.consumer_status(), ConsumerStatus::Active);

        let dup = c
            .register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("c00")
            .send()
            .await;
        assert_eq!(code(dup), "ResourceInUseException");
        for i in 1..20 {
            c.register_stream_consumer()
                .stream_arn(&arn)
                .consumer_name(format!("c{i:02}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("register {i}: {e:?}"));
        }
        let over = c
            .register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("c20")
            .send()
            .await;
        assert_eq!(code(over), "LimitExceededException");

        // Pages of 7: 7 + 7 + 6, in name order, then no NextToken.
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10 {
            let page = c
                .list_stream_consumers()
                .stream_arn(&arn)
                .max_results(7)
                .set_next_token(token.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("list: {e:?}"));
            names.extend(
                page.consumers()
                    .iter()
                    .map(|c| c.consumer_name().to_string()),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let want: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
        assert_eq!(names, want);

        let by_arn = c
            .describe_stream_consumer()
            .consumer_arn(first.consumer_arn())
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe: {e:?}"));
        let d = by_arn
            .consumer_description()
            .unwrap_or_else(|| panic!("no description"));
        assert_eq!(d.stream_arn(), arn);
        assert_eq!(d.consumer_arn(), first.consumer_arn());
        let by_name = c
            .describe_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("c05")
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe by name: {e:?}"));
        assert_eq!(
            by_name.consumer_description().map(|d| d.consumer_name()),
            Some("c05")
        );
        assert_eq!(
            code(c.describe_stream_consumer().send().await),
            "InvalidArgumentException"
        );
        assert_eq!(
            code(
                c.describe_stream_consumer()
                    .stream_arn(&arn)
                    .consumer_name("nobody")
                    .send()
                    .await
            ),
            "ResourceNotFoundException"
        );
        assert_eq!(
            code(
                c.describe_stream_consumer()
                    .consumer_arn("not-an-arn")
                    .send()
                    .await
            ),
            "ValidationException"
        );
        assert_eq!(
            code(
                c.register_stream_consumer()
                    .stream_arn(&arn)
                    .consumer_name("bad name")
                    .send()
                    .await
            ),
            "ValidationException"
        );
        assert_eq!(
            code(
                c.register_stream_consumer()
                    .stream_arn(format!("{arn}-missing"))
                    .consumer_name("x")
                    .send()
                    .await
            ),
            "ResourceNotFoundException"
        );

        c.deregister_stream_consumer()
            .consumer_arn(first.consumer_arn())
            .send()
            .await
            .unwrap_or_else(|e| panic!("deregister: {e:?}"));
        assert_eq!(
            code(
                c.describe_stream_consumer()
                    .consumer_arn(first.consumer_arn())
                    .send()
                    .await
            ),
            "ResourceNotFoundException"
        );
        // A slot is free again.
        c.register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("c20")
            .send()
            .await
            .unwrap_or_else(|e| panic!("register after deregister: {e:?}"));
        let sub = c
            .subscribe_to_shard()
            .consumer_arn(first.consumer_arn())
            .shard_id("shardId-000000000000")
            .starting_position(position(ShardIteratorType::Latest, None))
            .send()
            .await;
        assert_eq!(code(sub), "ResourceNotFoundException");
    });
}

#[test]
fn consumers_pass_through_creating_and_deleting_with_a_delay() {
    let server = Server::start(&["--create-delay-ms", "400"]);
    let endpoint = server.endpoint();
    rt().block_on(async move {
        let c = client(&endpoint);
        let arn = create_stream(&c, "slow", 1).await;
        let reg = c
            .register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("slow")
            .send()
            .await
            .unwrap_or_else(|e| panic!("register: {e:?}"));
        let consumer = reg
            .consumer()
            .unwrap_or_else(|| panic!("no consumer"))
            .clone();
        assert_eq!(*consumer.consumer_status(), ConsumerStatus::Creating);
        let early = c
            .subscribe_to_shard()
            .consumer_arn(consumer.consumer_arn())
            .shard_id("shardId-000000000000")
            .starting_position(position(ShardIteratorType::Latest, None))
            .send()
            .await;
        assert_eq!(code(early), "ResourceInUseException");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = |c: aws_sdk_kinesis::Client, arn: String| async move {
            c.describe_stream_consumer()
                .consumer_arn(arn)
                .send()
                .await
                .map(|d| {
                    d.consumer_description()
                        .map(|d| d.consumer_status().clone())
                })
        };
        assert_eq!(
            status(c.clone(), consumer.consumer_arn().to_string())
                .await
                .ok()
                .flatten(),
            Some(ConsumerStatus::Active)
        );
        c.deregister_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("slow")
            .send()
            .await
            .unwrap_or_else(|e| panic!("deregister: {e:?}"));
        assert_eq!(
            status(c.clone(), consumer.consumer_arn().to_string())
                .await
                .ok()
                .flatten(),
            Some(ConsumerStatus::Deleting)
        );
        assert_eq!(
            code(
                c.register_stream_consumer()
                    .stream_arn(&arn)
                    .consumer_name("slow")
                    .send()
                    .await
            ),
            "ResourceInUseException"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            code(status(c.clone(), consumer.consumer_arn().to_string()).await),
            "ResourceNotFoundException"
        );
    });
}

#[test]
fn consumers_survive_a_restart_and_vanish_with_their_stream() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = dir.path().join("data");
    let mut server = Server::start_in(&data, &[]);
    let consumer_arn = rt().block_on({
        let endpoint = server.endpoint();
        async move {
            let c = client(&endpoint);
            let arn = create_stream(&c, "durable", 1).await;
            let reg = c
                .register_stream_consumer()
                .stream_arn(&arn)
                .consumer_name("keeper")
                .send()
                .await
                .unwrap_or_else(|e| panic!("register: {e:?}"));
            reg.consumer()
                .map(|c| c.consumer_arn().to_string())
                .unwrap_or_default()
        }
    });
    assert!(server.stop(), "server did not stop cleanly");
    let server = Server::start_in(&data, &[]);
    rt().block_on({
        let endpoint = server.endpoint();
        async move {
            let c = client(&endpoint);
            let d = c
                .describe_stream_consumer()
                .consumer_arn(&consumer_arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("describe after restart: {e:?}"));
            assert_eq!(
                d.consumer_description().map(|d| d.consumer_name()),
                Some("keeper")
            );
            // Subscribing works after the restart.
            let mut sub = c
                .subscribe_to_shard()
                .consumer_arn(&consumer_arn)
                .shard_id("shardId-000000000000")
                .starting_position(position(ShardIteratorType::TrimHorizon, None))
                .send()
                .await
                .unwrap_or_else(|e| panic!("subscribe after restart: {e:?}"));
            assert!(matches!(sub.event_stream.recv().await, Ok(Some(_))));
            drop(sub);
            c.delete_stream()
                .stream_name("durable")
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete: {e:?}"));
            let arn = create_stream(&c, "durable", 1).await;
            let listed = c
                .list_stream_consumers()
                .stream_arn(&arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("list: {e:?}"));
            assert!(listed.consumers().is_empty(), "{listed:?}");
            assert_eq!(
                code(
                    c.describe_stream_consumer()
                        .consumer_arn(&consumer_arn)
                        .send()
                        .await
                ),
                "ResourceNotFoundException"
            );
        }
    });
}
