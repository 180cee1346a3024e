//! The one Kinesis API trait, implemented over HTTP by [`KinesisClient`] and
//! in-process by `EngineClient` (with the `engine` feature).
//!
//! [`KinesisClient`]: crate::KinesisClient

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::types::*;

/// The future every [`KinesisApi`] method returns (boxed, so the trait can be used as
/// `dyn KinesisApi`).
pub type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The Kinesis operations Freshet's producer, consumer and embedding programs use.
/// Errors are the same variants whichever implementation answers.
pub trait KinesisApi: Send + Sync {
    /// `CreateStream` with `shard_count` provisioned shards.
    fn create_stream<'a>(&'a self, stream: &'a str, shard_count: u32) -> ApiFuture<'a, ()>;
    /// `DeleteStream`.
    fn delete_stream<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, ()>;
    /// `DescribeStreamSummary`.
    fn describe_stream_summary<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, StreamSummary>;
    /// `ListStreams`, every page.
    fn list_streams(&self) -> ApiFuture<'_, Vec<String>>;
    /// `ListShards`, every page: open and closed retained shards.
    fn list_shards<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, Vec<Shard>>;
    /// `PutRecord`.
    fn put_record<'a>(
        &'a self,
        stream: &'a str,
        entry: PutRecordsEntry,
    ) -> ApiFuture<'a, PutRecordOutput>;
    /// `PutRecords` (1 to 500 entries); entries fail one by one.
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        entries: Vec<PutRecordsEntry>,
    ) -> ApiFuture<'a, PutRecordsOutput>;
    /// `GetShardIterator`.
    fn get_shard_iterator<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> ApiFuture<'a, String>;
    /// `GetRecords` (at most `limit` records, 10,000 when `None`).
    fn get_records<'a>(
        &'a self,
        shard_iterator: &'a str,
        limit: Option<u32>,
    ) -> ApiFuture<'a, GetRecordsOutput>;
    /// `SplitShard`.
    fn split_shard<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        new_starting_hash_key: u128,
    ) -> ApiFuture<'a, ()>;
    /// `MergeShards`.
    fn merge_shards<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        adjacent_shard_id: &'a str,
    ) -> ApiFuture<'a, ()>;
    /// `UpdateShardCount` (uniform scaling).
    fn update_shard_count<'a>(
        &'a self,
        stream: &'a str,
        target: u32,
    ) -> ApiFuture<'a, UpdateShardCountOutput>;
    /// `IncreaseStreamRetentionPeriod` or `DecreaseStreamRetentionPeriod`.
    fn set_retention_period<'a>(
        &'a self,
        stream: &'a str,
        hours: u32,
        increase: bool,
    ) -> ApiFuture<'a, ()>;
    /// `AddTagsToStream`.
    fn add_tags<'a>(&'a self, stream: &'a str, tags: BTreeMap<String, String>)
        -> ApiFuture<'a, ()>;
    /// `ListTagsForStream`, every page.
    fn list_tags<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, BTreeMap<String, String>>;
    /// `RemoveTagsFromStream`.
    fn remove_tags<'a>(&'a self, stream: &'a str, keys: Vec<String>) -> ApiFuture<'a, ()>;
}

/// Polls `DescribeStreamSummary` until the stream is `ACTIVE` or `timeout` passes.
pub async fn wait_for_active<A: KinesisApi + ?Sized>(
    api: &A,
    stream: &str,
    timeout: Duration,
) -> Result<StreamSummary> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api.describe_stream_summary(stream).await {
            Ok(s) if s.stream_status == StreamStatus::Active => return Ok(s),
            Ok(s) => Error::ResourceInUse(format!(
                "stream {stream} is {:?}, not ACTIVE",
                s.stream_status
            )),
            Err(Error::ResourceNotFound(m)) => Error::ResourceNotFound(m),
            Err(e) => return Err(e),
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
