//! A consumer group under joins, leaves, crashes, long pauses and resharding, stepped
//! on the virtual clock, and the checks of its invariants: exclusion, liveness,
//! balance, stability, parents first, at-least-once delivery, monotonic checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use freshet_kcl::{Config, LeaseStore, StoredLease, Worker};

use super::processor::{Kind, Log, SharedLog, SimFactory};
use super::stream::SimStream;
use super::{Backend, CheckedStore, Exec};

pub const DT: u64 = 50;
pub const FAILOVER: u64 = 1_000;

#[derive(Debug, Clone)]
pub enum Op {
    Join,
    Leave(usize),
    Crash(usize),
    Pause(usize, u64),
    Split(usize),
    Merge(usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Join),
        2 => any::<usize>().prop_map(Op::Leave),
        3 => any::<usize>().prop_map(Op::Crash),
        2 => (any::<usize>(), (FAILOVER / DT + 2)..(3 * FAILOVER / DT)).prop_map(|(w, t)| Op::Pause(w, t)),
        2 => any::<usize>().prop_map(Op::Split),
        2 => any::<usize>().prop_map(Op::Merge),
    ]
}

pub struct SimWorker {
    pub id: String,
    pub worker: Worker<SimFactory>,
    pub paused_until: u64,
}

struct Liveness {
    dead: String,
    keys: Vec<String>,
    deadline: u64,
    valid: bool,
}

pub struct Sim {
    pub t: u64,
    rng: StdRng,
    pub stream: SimStream,
    pub store: CheckedStore,
    exec: Exec,
    log: SharedLog,
    episodes: Arc<AtomicU64>,
    pub workers: Vec<SimWorker>,
    next_id: usize,
    produced: BTreeMap<String, String>,
    monitors: Vec<Liveness>,
    failures: Vec<String>,
}

impl Sim {
    pub fn new(seed: u64, shards: usize, workers: usize, backend: Backend) -> Sim {
        let mut sim = Sim {
            t: 0,
            rng: StdRng::seed_from_u64(seed),
            stream: SimStream::new(shards),
            store: CheckedStore::new(backend.store),
            exec: backend.exec,
            log: Arc::new(Mutex::new(Log::default())),
            episodes: Arc::new(AtomicU64::new(0)),
            workers: Vec::new(),
            next_id: 0,
            produced: BTreeMap::new(),
            monitors: Vec::new(),
            failures: Vec::new(),
        };
        for _ in 0..workers {
            sim.join();
        }
        sim
    }

    /// Every lease in the store now.
    pub fn leases(&self) -> Vec<StoredLease> {
        self.exec
            .block(self.store.list())
            .unwrap_or_else(|e| panic!("listing the leases: {e}"))
    }

    /// Waits for a store future.
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.exec.block(f)
    }

    pub fn join(&mut self) {
        let id = format!("w{}", self.next_id);
        self.next_id += 1;
        let mut cfg = Config::new("sim", id.clone()).with_failover_ms(FAILOVER);
        cfg.idle_ms = DT;
        cfg.max_idle_ms = 4 * DT;
        cfg.max_records = 7;
        let factory = SimFactory {
            worker: id.clone(),
            log: self.log.clone(),
            episodes: self.episodes.clone(),
        };
        let worker = Worker::new(
            cfg,
            Arc::new(self.store.clone()),
            Arc::new(self.stream.clone()),
            factory,
        );
        self.workers.push(SimWorker {
            id,
            worker,
            paused_until: 0,
        });
    }

    pub fn apply(&mut self, op: &Op) {
        let n = self.workers.len();
        match op {
            Op::Join => self.join(),
            Op::Leave(i) if n > 1 => {
                let mut w = self.workers.remove(i % n);
                if w.paused_until <= self.t {
                    self.log.lock().unwrap().now = self.t;
                    self.exec.block(w.worker.shutdown(self.t));
                }
            }
            Op::Crash(i) if n > 1 => {
                let w = self.workers.remove(i % n);
                let keys: Vec<String> = self
                    .leases()
                    .into_iter()
                    .filter(|l| l.lease.owner.as_deref() == Some(w.id.as_str()))
                    .filter(|l| !l.lease.checkpoint.is_shard_end())
                    .map(|l| l.key)
                    .collect();
                let valid = self.workers.iter().all(|w| w.paused_until <= self.t);
                self.monitors.push(Liveness {
                    dead: w.id,
                    keys,
                    // The bound: failover time plus one taking period.
                    deadline: self.t + FAILOVER + FAILOVER / 5 + 2 * DT,
                    valid,
                });
            }
            Op::Pause(i, ticks) if n > 1 => {
                let until = self.t + ticks * DT;
                self.workers[i % n].paused_until = until;
                for m in &mut self.monitors {
                    m.valid = false;
                }
            }
            Op::Split(i) => {
                self.stream.split(*i);
            }
            Op::Merge(i) => {
                self.stream.merge(*i);
            }
            _ => {}
        }
    }

    pub fn step(&mut self, produce: bool) {
        self.t += DT;
        if produce {
            for _ in 0..self.rng.gen_range(0..3) {
                let hash: u128 = self.rng.gen();
                let (shard, seq) = self.stream.put(hash, self.t as i64);
                self.produced.insert(seq, shard);
            }
        }
        let mut order: Vec<usize> = (0..self.workers.len()).collect();
        order.shuffle(&mut self.rng);
        for i in order {
            let w = &mut self.workers[i];
            if w.paused_until > self.t {
                continue;
            }
            self.log.lock().unwrap().now = self.t;
            self.exec.block(w.worker.tick(self.t));
        }
        self.check_liveness();
    }

    /// Every monitored lease must be owned again by a live worker (or be finished) at
    /// some moment before its deadline.
    fn check_liveness(&mut self) {
        if self.monitors.is_empty() {
            return;
        }
        let t = self.t;
        let alive: BTreeSet<String> = self.workers.iter().map(|w| w.id.clone()).collect();
        let leases = self.leases();
        for m in &mut self.monitors {
            m.keys.retain(|key| {
                let Some(l) = leases.iter().find(|l| l.key == *key) else {
                    return false;
                };
                let ok = l.lease.checkpoint.is_shard_end()
                    || l.lease.owner.as_ref().is_some_and(|o| alive.contains(o));
                !ok
            });
            if m.deadline <= t && m.valid && !alive.is_empty() && !m.keys.is_empty() {
                self.failures.push(format!(
                    "liveness: {:?} of crashed {} not owned again by t={t}",
                    m.keys, m.dead
                ));
            }
        }
        self.monitors
            .retain(|m| m.deadline > t && !m.keys.is_empty());
    }

    /// The owner of every unfinished lease.
    pub fn owners(&self) -> BTreeMap<String, Option<String>> {
        self.leases()
            .into_iter()
            .filter(|l| !l.lease.checkpoint.is_shard_end())
            .map(|l| (l.key, l.lease.owner))
            .collect()
    }
}

/// Checks the event log: exclusion, parents first, delivery of every record.
pub fn check_log(sim: &Sim) -> Vec<String> {
    let log = sim.log.lock().unwrap();
    let mut out: Vec<String> = log.problems.clone();
    // Exclusion: per shard, each episode's active events form one contiguous block.
    let mut current: BTreeMap<&str, u64> = BTreeMap::new();
    let mut finished: BTreeSet<u64> = BTreeSet::new();
    for e in &log.events {
        if e.kind == Kind::LeaseLost {
            continue;
        }
        match current.get(e.shard.as_str()) {
            Some(ep) if *ep == e.episode => {}
            prev => {
                if finished.contains(&e.episode) {
                    out.push(format!(
                        "exclusion: episode {} of {} on {} resumed at t={} after another",
                        e.episode, e.worker, e.shard, e.t
                    ));
                }
                if let Some(p) = prev {
                    finished.insert(*p);
                }
                current.insert(&e.shard, e.episode);
            }
        }
    }
    // Parents first.
    let mut ended: BTreeSet<&str> = BTreeSet::new();
    let mut checked: BTreeSet<&str> = BTreeSet::new();
    for e in &log.events {
        match &e.kind {
            Kind::ShardEndCheckpointed => {
                ended.insert(&e.shard);
            }
            Kind::Records(_) if !checked.contains(e.shard.as_str()) => {
                checked.insert(&e.shard);
                for p in sim.stream.parents(&e.shard) {
                    if !ended.contains(p.as_str()) {
                        out.push(format!(
                            "parents first: {} delivered at t={} before parent {p} ended",
                            e.shard, e.t
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    // At-least-once.
    let delivered: BTreeSet<&str> = log
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::Records(s) => Some(s.iter().map(|x| x.sequence.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    let missing: Vec<&String> = sim
        .produced
        .keys()
        .filter(|s| !delivered.contains(s.as_str()))
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "at-least-once: {} of {} records never delivered, first {:?}",
            missing.len(),
            sim.produced.len(),
            missing.iter().take(5).collect::<Vec<_>>()
        ));
    }
    out.extend(sim.store.violations.lock().unwrap().iter().cloned());
    out
}

/// Runs `ops` (each after a gap of steps with records produced), then lets membership
/// settle and checks every invariant; returns the failures. The simulation is handed
/// back too, for checks of the store it ran over.
pub fn run_scenario_on(
    seed: u64,
    shards: usize,
    workers: usize,
    ops: &[(u64, Op)],
    backend: Backend,
) -> (Vec<String>, Sim) {
    let mut sim = Sim::new(seed, shards, workers, backend);
    for (gap, op) in ops {
        for _ in 0..*gap {
            sim.step(true);
        }
        sim.apply(op);
    }
    // Stable membership from here: let pauses end, produce a while, then drain.
    let settle = 3 * FAILOVER / DT + 1;
    for _ in 0..settle {
        sim.step(true);
    }
    let balance_rounds = 30 * FAILOVER / DT;
    for _ in 0..balance_rounds {
        sim.step(false);
    }
    let mut failures = std::mem::take(&mut sim.failures);
    // Balance: every unfinished lease owned by a live worker, counts within 1.
    let owners = sim.owners();
    let mut counts: BTreeMap<String, usize> =
        sim.workers.iter().map(|w| (w.id.clone(), 0)).collect();
    for (key, owner) in &owners {
        match owner.as_ref().and_then(|o| counts.get_mut(o)) {
            Some(c) => *c += 1,
            None => failures.push(format!(
                "balance: {key} owned by {owner:?}, not a live worker"
            )),
        }
    }
    let (min, max) = (
        counts.values().min().copied().unwrap_or(0),
        counts.values().max().copied().unwrap_or(0),
    );
    if max > min + 1 {
        failures.push(format!("balance: lease counts {counts:?}"));
    }
    // Stability: no lease moves any more.
    for _ in 0..(10 * FAILOVER / DT) {
        sim.step(false);
        if sim.owners() != owners {
            failures.push(format!(
                "stability: leases moved at t={} from {owners:?} to {:?}",
                sim.t,
                sim.owners()
            ));
            break;
        }
    }
    failures.extend(check_log(&sim));
    (failures, sim)
}

/// [`run_scenario_on`] over an in-memory store.
pub fn run_scenario(seed: u64, shards: usize, workers: usize, ops: &[(u64, Op)]) -> Vec<String> {
    run_scenario_on(seed, shards, workers, ops, Backend::memory()).0
}

/// Twelve shards, three workers: four leases each, every invariant kept.
pub fn three_workers_split_twelve_shards(backend: Backend) -> Sim {
    let mut sim = Sim::new(7, 12, 3, backend);
    for _ in 0..(20 * FAILOVER / DT) {
        sim.step(true);
    }
    for _ in 0..(2 * FAILOVER / DT) {
        sim.step(false);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for owner in sim.owners().into_values() {
        *counts.entry(owner.unwrap_or_default()).or_default() += 1;
    }
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        vec![4, 4, 4],
        "{counts:?}"
    );
    assert!(check_log(&sim).is_empty(), "{:?}", check_log(&sim));
    sim
}
