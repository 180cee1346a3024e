//! Event source mappings: a stream's records pushed into a function.
//!
//! [`Mappings`] runs every enabled mapping: a coordinator per mapping
//! ([`runner`]) that starts a worker per readable shard ([`shard`]), parents before
//! children; workers wake on the shard's watch when a put is acknowledged, so a batch
//! reaches the function within milliseconds, and a put never waits for a function.
//! Checkpoints ([`checkpoint`]) are written to the catalog after each batch is handled:
//! after a crash, processing resumes after the last one (at least once, as AWS).

pub mod checkpoint;
pub mod destinations;
pub mod event;
pub mod failure;
pub mod filter;
pub mod params;
pub(crate) mod runner;
pub(crate) mod shard;

use crate::lock;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use freshet_storage::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use self::params::{MappingConfig, MappingStatus};
use self::runner::{run_mapping, MappingStats, RunEnd, Shared};
use crate::catalog::{blocking, Catalog};
use crate::config::LambdaConfig;
use crate::error::LambdaResult;
use crate::runtime::Runtimes;
use crate::time_fmt::now_ms;

/// A mapping as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMapping {
    /// Its settings.
    pub config: MappingConfig,
    /// Its state.
    pub status: MappingStatus,
}

struct Running {
    stop: Arc<watch::Sender<bool>>,
    stats: Arc<MappingStats>,
    generation: u64,
    job: freshet_storage::JobId,
}

/// Every mapping that runs.
#[derive(Clone)]
pub struct Mappings {
    shared: Arc<Shared>,
    running: Arc<Mutex<HashMap<String, Running>>>,
    generations: Arc<std::sync::atomic::AtomicU64>,
}

impl Mappings {
    /// Mappings over `engine`'s streams, invoking through `runtimes`.
    pub fn new(
        engine: Engine,
        catalog: Catalog,
        runtimes: Runtimes,
        cfg: LambdaConfig,
    ) -> Mappings {
        Mappings {
            shared: Arc::new(Shared::new(engine, catalog, runtimes, cfg)),
            running: Arc::new(Mutex::new(HashMap::new())),
            generations: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Starts every enabled mapping in the catalog (at server start). Blocking.
    pub fn start_all(&self) -> LambdaResult<()> {
        let all: Vec<StoredMapping> = self.shared.catalog.mappings()?;
        for m in all {
            match m.status.state.as_str() {
                "Enabled" | "Enabling" | "Creating" | "Updating" if m.config.enabled => {
                    self.start(m.config)
                }
                "Deleting" => {
                    self.shared.catalog.delete_mapping(&m.config.uuid)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Starts (or restarts with new settings) a mapping, as a job of the engine's
    /// registry (`lambda-mapping-{uuid}`): listed while it runs, stopped and joined
    /// with the engine, so its last checkpoint is written before the catalog closes.
    pub fn start(&self, config: MappingConfig) {
        self.stop(&config.uuid);
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let stats = Arc::new(MappingStats::default());
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let shared = Arc::clone(&self.shared);
        let uuid = config.uuid.clone();
        let job_tx = Arc::clone(&tx);
        let job_stats = Arc::clone(&stats);
        let spawned = self.shared.engine.jobs().spawn_task(
            &format!("lambda-mapping-{uuid}"),
            move |ctx: freshet_storage::JobContext| async move {
                let uuid = config.uuid.clone();
                // Creating/Enabling/Updating become Enabled once the mapping runs.
                this.set_state(&uuid, "Enabled", None).await;
                let run = run_mapping(shared, Arc::new(config), rx, job_stats);
                tokio::pin!(run);
                let end = tokio::select! {
                    end = &mut run => end,
                    _ = ctx.stop_signal().stopped() => {
                        let _ = job_tx.send(true);
                        run.await
                    }
                };
                let current = lock(&this.running)
                    .get(&uuid)
                    .is_some_and(|r| r.generation == generation);
                if end == RunEnd::StreamGone && current {
                    lock(&this.running).remove(&uuid);
                    this.set_state(
                        &uuid,
                        "Disabled",
                        Some("PROBLEM: The event source stream was deleted."),
                    )
                    .await;
                }
                Ok::<(), String>(())
            },
        );
        match spawned {
            Ok(job) => {
                lock(&self.running).insert(
                    uuid,
                    Running {
                        stop: tx,
                        stats,
                        generation,
                        job,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(mapping = %uuid, error = %e, "cannot start an event source mapping")
            }
        }
    }

    /// Stops a mapping's run: its workers stop at their next checkpoint; the job
    /// leaves the registry once it has ended.
    pub fn stop(&self, uuid: &str) {
        if let Some(r) = lock(&self.running).remove(uuid) {
            let _ = r.stop.send(true);
            let jobs = self.shared.engine.jobs().clone();
            tokio::task::spawn_blocking(move || {
                jobs.stop(r.job, std::time::Duration::from_secs(60))
            });
        }
    }

    /// LastProcessingResult of a running mapping.
    pub fn last_result(&self, uuid: &str) -> Option<String> {
        lock(&self.running)
            .get(uuid)
            .and_then(|r| r.stats.last_result())
    }

    async fn set_state(&self, uuid: &str, state: &str, reason: Option<&str>) {
        let catalog = self.shared.catalog.clone();
        let (uuid, state, reason) = (
            uuid.to_string(),
            state.to_string(),
            reason.map(str::to_string),
        );
        let _ = blocking(move || {
            if let Some(mut m) = catalog.mapping::<StoredMapping>(&uuid)? {
                if m.status.state == "Deleting" {
                    return Ok(());
                }
                m.status.state = state;
                if let Some(r) = reason {
                    m.status.state_transition_reason = r.clone();
                    m.status.last_processing_result = r;
                    m.config.enabled = false;
                }
                m.status.last_modified_ms = now_ms();
                catalog.put_mapping(&uuid, &m)?;
            }
            Ok(())
        })
        .await;
    }

    /// Appends per-mapping metrics.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let running = lock(&self.running);
        let _ = writeln!(out, "# TYPE freshet_lambda_mapping_records_total counter");
        for (uuid, r) in running.iter() {
            let s = &r.stats;
            for (metric, counter) in [
                ("records_total", &s.records),
                ("invocations_total", &s.invocations),
                ("errors_total", &s.errors),
                ("discarded_records_total", &s.discarded),
                ("iterator_age_ms", &s.behind_ms),
            ] {
                let _ = writeln!(
                    out,
                    "freshet_lambda_mapping_{metric}{{uuid=\"{uuid}\"}} {}",
                    counter.load(Ordering::Relaxed)
                );
            }
        }
    }

    /// Stops every mapping.
    pub fn shut_down(&self) {
        for (_, r) in lock(&self.running).drain() {
            let _ = r.stop.send(true);
        }
    }
}
