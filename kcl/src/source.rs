//! The narrow slice of the Kinesis API a worker reads with, so a simulation can stand
//! in for a stream; [`KinesisSource`] adapts any [`KinesisApi`] for polling
//! ([`ShardSource`]) and a [`KinesisClient`] for enhanced fan-out ([`SubscribeSource`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use freshet_client::{
    EventStream, GetRecordsOutput, KinesisApi, KinesisClient, Shard, ShardIteratorType,
    StartingPosition,
};

/// The future every [`ShardSource`] method returns.
pub type SourceFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, freshet_client::Error>> + Send + 'a>>;

/// One stream's shards, as a worker reads them.
pub trait ShardSource: Send + Sync {
    /// Every retained shard, open and closed, with lineage.
    fn list_shards(&self) -> SourceFuture<'_, Vec<Shard>>;
    /// An iterator at `position` in `shard_id`.
    fn get_shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> SourceFuture<'a, String>;
    /// At most `limit` records from `iterator`.
    fn get_records<'a>(
        &'a self,
        iterator: &'a str,
        limit: u32,
    ) -> SourceFuture<'a, GetRecordsOutput>;
}

/// A [`ShardSource`] over one stream of any [`KinesisApi`] (HTTP or in-process).
pub struct KinesisSource<A: ?Sized> {
    api: Arc<A>,
    stream: String,
}

impl<A: ?Sized> std::fmt::Debug for KinesisSource<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisSource")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl<A: KinesisApi + ?Sized> KinesisSource<A> {
    /// Stream `stream` through `api`.
    pub fn new(api: Arc<A>, stream: impl Into<String>) -> Self {
        KinesisSource {
            api,
            stream: stream.into(),
        }
    }
}

impl<A: KinesisApi + ?Sized> ShardSource for KinesisSource<A> {
    fn list_shards(&self) -> SourceFuture<'_, Vec<Shard>> {
        self.api.list_shards(&self.stream)
    }

    fn get_shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> SourceFuture<'a, String> {
        self.api
            .get_shard_iterator(&self.stream, shard_id, position)
    }

    fn get_records<'a>(
        &'a self,
        iterator: &'a str,
        limit: u32,
    ) -> SourceFuture<'a, GetRecordsOutput> {
        self.api.get_records(iterator, Some(limit))
    }
}

/// Enhanced fan-out reads of one stream: the stream consumer and its subscriptions.
pub trait SubscribeSource: Send + Sync {
    /// Registers the stream consumer `consumer_name` (or reuses it when it exists),
    /// waits until it is ACTIVE and returns its ARN.
    fn consumer_arn<'a>(&'a self, consumer_name: &'a str) -> SourceFuture<'a, String>;
    /// One SubscribeToShard subscription of `consumer_arn` to `shard_id`.
    fn subscribe<'a>(
        &'a self,
        consumer_arn: &'a str,
        shard_id: &'a str,
        position: StartingPosition,
    ) -> SourceFuture<'a, EventStream>;
}

/// How long [`SubscribeSource::consumer_arn`] waits for a consumer to become ACTIVE.
const CONSUMER_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

impl SubscribeSource for KinesisSource<KinesisClient> {
    fn consumer_arn<'a>(&'a self, consumer_name: &'a str) -> SourceFuture<'a, String> {
        Box::pin(async move {
            let summary = self.api.describe_stream_summary(&self.stream).await?;
            let c = self
                .api
                .ensure_consumer(&summary.stream_arn, consumer_name, CONSUMER_ACTIVE_TIMEOUT)
                .await?;
            Ok(c.consumer_arn)
        })
    }

    fn subscribe<'a>(
        &'a self,
        consumer_arn: &'a str,
        shard_id: &'a str,
        position: StartingPosition,
    ) -> SourceFuture<'a, EventStream> {
        Box::pin(
            self.api
                .subscribe_to_shard(consumer_arn, shard_id, position),
        )
    }
}
