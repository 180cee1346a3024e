#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The consumer-group simulation (`sim/scenario.rs`) with its leases in DynamoDB
//! (moto's server on 127.0.0.1) instead of memory: the same invariants (exclusion,
//! liveness, balance, stability, parents first, at-least-once, monotonic checkpoints)
//! hold over the real conditional writes and scans. Fewer schedules than the in-memory
//! run, as every lease operation is a request (the 12-shard, three-worker split runs
//! over DynamoDB in `worker_processes_survive_kill_9_with_dynamodb_leases.rs`); each
//! scenario has a table of its own.

mod ddb;
mod sim;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use freshet_kcl::DynamoDbLeaseStore;
use freshet_tests::moto::Moto;
use sim::scenario::{op, run_scenario_on, Op, Sim};
use sim::{Backend, Exec};

/// moto, a client, and a runtime that every scenario of one test shares.
struct Dynamo {
    moto: Moto,
    client: ddb::sdk::Client,
    exec: Exec,
    tables: AtomicUsize,
}

impl Dynamo {
    fn start() -> Dynamo {
        let moto = Moto::start_serial();
        let client = ddb::client(&moto.dynamodb_endpoint());
        Dynamo {
            moto,
            client,
            exec: Exec::runtime(),
            tables: AtomicUsize::new(0),
        }
    }

    /// A fresh lease table (created by the store, as a KCL application's first worker
    /// does).
    fn backend(&self) -> (Backend, String) {
        let table = format!("sim-{}", self.tables.fetch_add(1, Ordering::Relaxed));
        let store = self
            .exec
            .block(DynamoDbLeaseStore::open(self.client.clone(), table.clone()))
            .unwrap();
        let backend = Backend {
            store: Arc::new(store),
            exec: self.exec.clone(),
        };
        (backend, table)
    }

    /// Asserts every item of `table` has the KCL's layout.
    fn check_layout(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, ddb::sdk::types::AttributeValue>> {
        let items = self.exec.block(ddb::scan(&self.client, table));
        assert!(!items.is_empty());
        for i in &items {
            assert_eq!(ddb::layout_problems(i), Vec::<String>::new());
        }
        items
    }
}

fn assert_no_failures(failures: Vec<String>, sim: &Sim) {
    assert!(failures.is_empty(), "{failures:#?} (after t={} ms)", sim.t);
}

#[test]
fn a_crash_a_pause_and_resharding_with_dynamodb_leases() {
    let dynamo = Dynamo::start();
    let (backend, table) = dynamo.backend();
    let ops = [
        (20, Op::Split(0)),
        (10, Op::Crash(1)),
        (30, Op::Merge(0)),
        (5, Op::Pause(0, 25)),
        (10, Op::Join),
    ];
    let (failures, sim) = run_scenario_on(5, 4, 3, &ops, backend);
    assert_no_failures(failures, &sim);
    assert!(
        dynamo.moto.log().contains("POST"),
        "the leases went through moto"
    );
    // Parents at SHARD_END, children naming them, in the KCL's attributes.
    let items = dynamo.check_layout(&table);
    assert!(items
        .iter()
        .any(|i| ddb::s(i, "checkpoint") == Some("SHARD_END")));
    assert!(items.iter().any(|i| i.contains_key("parentShardId")));
}

#[test]
fn random_schedules_with_dynamodb_leases() {
    let dynamo = Dynamo::start();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 2,
        max_shrink_iters: 8,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let strategy = (
        any::<u64>(),
        1usize..5,
        1usize..4,
        proptest::collection::vec((1u64..40, op()), 0..4),
    );
    runner
        .run(&strategy, |(seed, shards, workers, ops)| {
            let (backend, table) = dynamo.backend();
            let (failures, sim) = run_scenario_on(seed, shards, workers, &ops, backend);
            dynamo.check_layout(&table);
            if failures.is_empty() {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!(
                    "{failures:#?} (after t={} ms)",
                    sim.t
                )))
            }
        })
        .unwrap();
}
