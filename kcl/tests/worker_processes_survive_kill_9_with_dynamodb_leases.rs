#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The multi-process test (see `procs/mod.rs`) with the leases in DynamoDB (moto's
//! server) while the records come from `freshet serve`; afterwards the lease table
//! holds the AWS KCL's layout: closed parents at SHARD_END, children naming their
//! parents.

mod ddb;
mod procs;

use freshet_tests::moto::Moto;
use procs::Leases;

/// A worker process: runs until killed. A no-op unless the parent set the variables.
#[test]
fn kcl_worker_child() {
    procs::worker_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_survive_a_kill_and_resharding_with_dynamodb_leases() {
    let moto = Moto::start_serial();
    let endpoint = moto.dynamodb_endpoint();
    let client = ddb::client(&endpoint);
    procs::three_worker_processes_survive_a_kill_and_resharding(Leases::DynamoDb {
        endpoint: endpoint.clone(),
    })
    .await;

    // 12 shards, two split and two merged: 17 leases in the KCL's layout.
    let items = ddb::scan(&client, procs::APP).await;
    assert_eq!(items.len(), 17, "{items:#?}");
    for i in &items {
        assert_eq!(ddb::layout_problems(i), Vec::<String>::new());
    }
    let ended = items
        .iter()
        .filter(|i| ddb::s(i, "checkpoint") == Some("SHARD_END"))
        .count();
    let with_parents: Vec<usize> = items
        .iter()
        .filter_map(|i| match i.get("parentShardId") {
            Some(ddb::sdk::types::AttributeValue::Ss(p)) => Some(p.len()),
            _ => None,
        })
        .collect();
    assert_eq!(ended, 4, "the split and merged parents reached SHARD_END");
    let mut with_parents = with_parents;
    with_parents.sort_unstable();
    assert_eq!(
        with_parents,
        [1, 1, 1, 1, 2],
        "four split children, one merge child"
    );
    assert!(moto.log().contains("POST"), "the leases went through moto");
}
