//! A record processor that logs every call with the virtual time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use freshet_kcl::{
    Checkpoint, Checkpointer, ExtendedSequence, InitializationInput, ProcessRecordsInput,
    ShardRecordProcessor, ShardRecordProcessorFactory,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Init(Checkpoint),
    Records(Vec<ExtendedSequence>),
    ShardEndCheckpointed,
    ShutdownRequested,
    LeaseLost,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub t: u64,
    pub worker: String,
    pub shard: String,
    pub episode: u64,
    pub kind: Kind,
}

#[derive(Default)]
pub struct Log {
    pub now: u64,
    pub events: Vec<Event>,
    pub problems: Vec<String>,
}

pub type SharedLog = Arc<Mutex<Log>>;

pub struct SimProcessor {
    worker: String,
    shard: String,
    episode: u64,
    log: SharedLog,
    resume_after: Option<ExtendedSequence>,
    batches: u64,
}

impl SimProcessor {
    fn record(&self, kind: Kind) {
        let mut log = self.log.lock().unwrap();
        let t = log.now;
        log.events.push(Event {
            t,
            worker: self.worker.clone(),
            shard: self.shard.clone(),
            episode: self.episode,
            kind,
        });
    }
}

impl ShardRecordProcessor for SimProcessor {
    async fn initialize(&mut self, input: InitializationInput) {
        self.resume_after = input.checkpoint.sequence().cloned();
        self.record(Kind::Init(input.checkpoint));
    }

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        let seqs: Vec<ExtendedSequence> = input
            .records
            .iter()
            .map(|r| ExtendedSequence::new(r.sequence_number.clone(), r.sub_sequence_number))
            .collect();
        if let Some(after) = &self.resume_after {
            if let Some(bad) = seqs.iter().find(|s| *s <= after) {
                self.log.lock().unwrap().problems.push(format!(
                    "{} redelivered {bad:?} at or before its checkpoint {after:?}",
                    self.shard
                ));
            }
        }
        self.record(Kind::Records(seqs));
        self.batches += 1;
        // Checkpoint two batches in three: some work is redone after a failover.
        if !self.batches.is_multiple_of(3) {
            let _ = cp.checkpoint().await;
        }
    }

    async fn lease_lost(&mut self) {
        self.record(Kind::LeaseLost);
    }

    async fn shard_ended(&mut self, cp: &mut Checkpointer) {
        if cp.checkpoint().await.is_ok() {
            self.record(Kind::ShardEndCheckpointed);
        }
    }

    async fn shutdown_requested(&mut self, cp: &mut Checkpointer) {
        self.record(Kind::ShutdownRequested);
        let _ = cp.checkpoint().await;
    }
}

pub struct SimFactory {
    pub worker: String,
    pub log: SharedLog,
    pub episodes: Arc<AtomicU64>,
}

impl ShardRecordProcessorFactory for SimFactory {
    type Processor = SimProcessor;

    fn create(&self, shard_id: &str) -> SimProcessor {
        SimProcessor {
            worker: self.worker.clone(),
            shard: shard_id.to_string(),
            episode: self.episodes.fetch_add(1, Ordering::Relaxed),
            log: self.log.clone(),
            resume_after: None,
            batches: 0,
        }
    }
}
