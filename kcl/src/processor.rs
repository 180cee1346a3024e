//! What an application implements: a [`ShardRecordProcessor`] per shard, made by a
//! [`ShardRecordProcessorFactory`].

use std::future::Future;

use freshet_client::aggregation::UserRecord;

use crate::checkpointer::Checkpointer;
use crate::lease::{Checkpoint, ExtendedSequence};

/// Where a processor starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitializationInput {
    /// The shard.
    pub shard_id: String,
    /// The checkpoint it resumes after (or the initial position).
    pub checkpoint: Checkpoint,
    /// A prepared checkpoint a previous owner did not commit.
    pub pending_checkpoint: Option<ExtendedSequence>,
}

/// One batch of user records (KPL aggregates already taken apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecordsInput {
    /// The shard.
    pub shard_id: String,
    /// Records, in order.
    pub records: Vec<UserRecord>,
    /// How far behind the newest record of the shard this batch is.
    pub millis_behind_latest: Option<u64>,
}

/// Processes the records of one shard. The scheduler calls it from one task, one call
/// at a time; a processor is never called after `lease_lost`, `shard_ended` or
/// `shutdown_requested`.
pub trait ShardRecordProcessor: Send + 'static {
    /// Called once before the first batch.
    fn initialize(&mut self, input: InitializationInput) -> impl Future<Output = ()> + Send;

    /// A batch of records; checkpoint through `checkpointer` when they are durable
    /// downstream.
    fn process_records(
        &mut self,
        input: ProcessRecordsInput,
        checkpointer: &mut Checkpointer,
    ) -> impl Future<Output = ()> + Send;

    /// Another worker took the lease: stop; checkpointing is no longer possible.
    fn lease_lost(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The shard is closed and every record of it was delivered: the processor must
    /// call [`Checkpointer::checkpoint`] (which writes SHARD_END), or the scheduler
    /// calls this again later and the children of the shard wait.
    fn shard_ended(&mut self, checkpointer: &mut Checkpointer) -> impl Future<Output = ()> + Send;

    /// The worker shuts down or hands the lease to another worker: checkpoint what is
    /// done; the lease is released afterwards.
    fn shutdown_requested(
        &mut self,
        checkpointer: &mut Checkpointer,
    ) -> impl Future<Output = ()> + Send {
        let _ = checkpointer;
        async {}
    }
}

/// Makes one processor per shard lease a worker starts processing.
pub trait ShardRecordProcessorFactory: Send + Sync + 'static {
    /// The processor type.
    type Processor: ShardRecordProcessor;
    /// A processor for `shard_id`.
    fn create(&self, shard_id: &str) -> Self::Processor;
}
