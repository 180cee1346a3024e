#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! Deterministic simulation of a consumer group under joins, leaves, crashes, long
//! pauses and resharding, driven by proptest, over the in-memory lease store. Asserts
//! exclusion, liveness, balance, parents first, at-least-once delivery and monotonic
//! checkpoints (`simulation_with_dynamodb_leases.rs` runs it over DynamoDB).

mod sim;

use proptest::prelude::*;

use freshet_kcl::LeaseStore;
use sim::scenario::{op, run_scenario, three_workers_split_twelve_shards, Op, Sim};
use sim::Backend;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn consumer_group_survives_joins_leaves_crashes_pauses_and_resharding(
        seed in any::<u64>(),
        shards in 1usize..6,
        workers in 1usize..4,
        ops in proptest::collection::vec((1u64..60, op()), 0..10),
    ) {
        let failures = run_scenario(seed, shards, workers, &ops);
        prop_assert!(failures.is_empty(), "{:#?}", failures);
    }
}

#[test]
fn three_workers_split_twelve_shards_four_each() {
    three_workers_split_twelve_shards(Backend::memory());
}

#[test]
fn crash_then_survivors_take_over_six_each() {
    let failures = run_scenario(11, 12, 3, &[(40, Op::Crash(0))]);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn metrics_count_records() {
    let mut sim = Sim::new(3, 2, 1, Backend::memory());
    for _ in 0..100 {
        sim.step(true);
    }
    let m = sim.workers[0].worker.metrics();
    assert_eq!(m.leases_held, 2);
    assert!(m.records_processed > 0);
    assert_eq!(sim.block(sim.store.list()).unwrap().len(), 2);
}
