#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The multi-process test (see `procs/mod.rs`) with the leases in the lease table of
//! the `freshet serve` that serves the stream.

mod procs;

use procs::Leases;

/// A worker process: runs until killed. A no-op unless the parent set the variables.
#[test]
fn kcl_worker_child() {
    procs::worker_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_survive_a_kill_and_resharding() {
    procs::three_worker_processes_survive_a_kill_and_resharding(Leases::Server).await;
}
