//! The narrow slice of the Kinesis API a worker reads with, so a simulation can stand
//! in for a stream; [`KinesisSource`] adapts any [`KinesisApi`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use freshet_client::{GetRecordsOutput, KinesisApi, Shard, ShardIteratorType};

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
