#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! `DynamoDbLeaseStore` against a real DynamoDB API (moto's server on 127.0.0.1): the
//! table it creates, the items it writes (the AWS KCL's attribute names and types),
//! items the Java KCL wrote, conditional writes racing, paged listing, errors.

mod ddb;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ddb::sdk;
use freshet_kcl::{
    Checkpoint, DynamoDbLeaseStore, Error, ExtendedSequence, Lease, LeaseStore, StoredLease,
};
use freshet_tests::moto::Moto;
use sdk::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";

async fn open(moto: &Moto, table: &str) -> DynamoDbLeaseStore {
    DynamoDbLeaseStore::open(ddb::client(&moto.dynamodb_endpoint()), table)
        .await
        .unwrap()
}

async fn item(store: &DynamoDbLeaseStore, key: &str) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("leaseKey", AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no item {key}"))
}

async fn lease(store: &DynamoDbLeaseStore, key: &str) -> StoredLease {
    store
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.key == key)
        .unwrap_or_else(|| panic!("no lease {key}"))
}

fn names(item: &HashMap<String, AttributeValue>) -> BTreeSet<&str> {
    item.keys().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_the_kcl_table_on_demand_once_even_when_raced() {
    let moto = Moto::start_serial();
    let endpoint = moto.dynamodb_endpoint();
    // Four workers start at once: one creates the table, the others find it.
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = ddb::client(&endpoint);
        opens.spawn(async move { DynamoDbLeaseStore::open(client, "race-app").await });
    }
    while let Some(r) = opens.join_next().await {
        r.unwrap().unwrap();
    }
    let client = ddb::client(&endpoint);
    let table = client
        .describe_table()
        .table_name("race-app")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(keys, [("leaseKey", &KeyType::Hash)]);
    let defs: Vec<(&str, &ScalarAttributeType)> = table
        .attribute_definitions()
        .iter()
        .map(|d| (d.attribute_name(), d.attribute_type()))
        .collect();
    assert_eq!(defs, [("leaseKey", &ScalarAttributeType::S)]);
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    assert_eq!(table.table_status(), Some(&sdk::types::TableStatus::Active));
    // Opening an existing table is fine; one keyed otherwise is refused.
    open(&moto, "race-app").await;
    client
        .create_table()
        .table_name("not-leases")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let err = DynamoDbLeaseStore::open(client, "not-leases")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Store(m) if m.contains("not a KCL lease table")),
        "{err}"
    );
}

#[tokio::test]
async fn lease_items_have_the_kcl_attribute_names_and_types() {
    let moto = Moto::start_serial();
    let store = open(&moto, "layout-app").await;
    let parent = "shardId-000000000000";
    let other = "shardId-000000000001";
    let child = "shardId-000000000002";

    // Created free at TRIM_HORIZON, leaseCounter 0 (as the KCL creates leases).
    let created = store
        .create_if_absent(parent, Lease::new(Checkpoint::TrimHorizon, vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.counter, 0);
    let i = item(&store, parent).await;
    assert_eq!(
        names(&i),
        BTreeSet::from([
            "leaseKey",
            "leaseCounter",
            "checkpoint",
            "checkpointSubSequenceNumber",
            "ownerSwitchesSinceCheckpoint",
            "freshetHeartbeat",
            "freshetWriteCounter",
        ])
    );
    assert_eq!(i["leaseKey"], AttributeValue::S(parent.into()));
    assert_eq!(i["leaseCounter"], AttributeValue::N("0".into()));
    assert_eq!(i["checkpoint"], AttributeValue::S("TRIM_HORIZON".into()));
    assert_eq!(
        i["checkpointSubSequenceNumber"],
        AttributeValue::N("0".into())
    );
    assert_eq!(
        i["ownerSwitchesSinceCheckpoint"],
        AttributeValue::N("0".into())
    );

    // Taken, then a prepared checkpoint over a checkpoint inside an aggregate.
    let taken = store.take(&created, "w1").await.unwrap();
    assert_eq!(taken.counter, 1);
    let cp = store
        .update_checkpoint(
            &taken,
            Checkpoint::Sequence(ExtendedSequence::new(SEQ, 3)),
            Some(ExtendedSequence::new(SEQ, 9)),
        )
        .await
        .unwrap();
    let i = item(&store, parent).await;
    assert_eq!(i["leaseOwner"], AttributeValue::S("w1".into()));
    assert_eq!(i["leaseCounter"], AttributeValue::N("2".into()));
    assert_eq!(i["checkpoint"], AttributeValue::S(SEQ.into()));
    assert_eq!(
        i["checkpointSubSequenceNumber"],
        AttributeValue::N("3".into())
    );
    assert_eq!(i["pendingCheckpoint"], AttributeValue::S(SEQ.into()));
    assert_eq!(
        i["pendingCheckpointSubSequenceNumber"],
        AttributeValue::N("9".into())
    );
    // As the KCL counts: a take from nobody is no switch, a checkpoint resets it.
    assert_eq!(
        i["ownerSwitchesSinceCheckpoint"],
        AttributeValue::N("0".into())
    );
    assert_eq!(ddb::layout_problems(&i), Vec::<String>::new());

    // SHARD_END: the pending checkpoint goes; released: the owner goes.
    let ended = store
        .update_checkpoint(&cp, Checkpoint::ShardEnd, None)
        .await
        .unwrap();
    store.release(&ended).await.unwrap();
    let i = item(&store, parent).await;
    assert_eq!(i["checkpoint"], AttributeValue::S("SHARD_END".into()));
    assert_eq!(
        i["checkpointSubSequenceNumber"],
        AttributeValue::N("0".into())
    );
    assert_eq!(i["leaseCounter"], AttributeValue::N("4".into()));
    for gone in [
        "leaseOwner",
        "pendingCheckpoint",
        "pendingCheckpointSubSequenceNumber",
    ] {
        assert!(!i.contains_key(gone), "{gone} stayed: {i:?}");
    }

    // A child of a merge: its parents as a string set; a handoff request is Freshet's
    // own attribute; a lease at a timestamp keeps its time beside AT_TIMESTAMP.
    let c = store
        .create_if_absent(
            child,
            Lease::new(Checkpoint::TrimHorizon, vec![parent.into(), other.into()]),
        )
        .await
        .unwrap()
        .unwrap();
    let c = store.take(&c, "w2").await.unwrap();
    store.request_handoff(&c, "w1").await.unwrap();
    let i = item(&store, child).await;
    let AttributeValue::Ss(parents) = &i["parentShardId"] else {
        panic!("parentShardId is {:?}", i["parentShardId"]);
    };
    assert_eq!(
        parents.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([parent, other])
    );
    assert_eq!(i["freshetHandoffTo"], AttributeValue::S("w1".into()));
    assert_eq!(i["leaseOwner"], AttributeValue::S("w2".into()));
    assert_eq!(
        i["ownerSwitchesSinceCheckpoint"],
        AttributeValue::N("0".into())
    );
    store
        .create_if_absent(
            other,
            Lease::new(
                Checkpoint::AtTimestamp {
                    ms: 1_700_000_000_000,
                },
                vec![],
            ),
        )
        .await
        .unwrap()
        .unwrap();
    let i = item(&store, other).await;
    assert_eq!(i["checkpoint"], AttributeValue::S("AT_TIMESTAMP".into()));
    assert_eq!(
        i["freshetAtTimestampMs"],
        AttributeValue::N("1700000000000".into())
    );

    // Every item has the layout; what was written reads back.
    for i in ddb::scan(store.client(), store.table()).await {
        assert_eq!(ddb::layout_problems(&i), Vec::<String>::new());
    }
    let back = lease(&store, child).await;
    assert_eq!(
        back.lease.parents,
        vec![parent.to_string(), other.to_string()]
    );
    assert_eq!(back.lease.handoff_to.as_deref(), Some("w1"));
    assert_eq!(
        lease(&store, other).await.lease.checkpoint,
        Checkpoint::AtTimestamp {
            ms: 1_700_000_000_000
        }
    );

    // Taken from w2 by w3: one switch since the checkpoint.
    let c = lease(&store, child).await;
    let c = store.take(&c, "w3").await.unwrap();
    assert_eq!(c.lease.owner_switches, 1);
    let i = item(&store, child).await;
    assert_eq!(
        i["ownerSwitchesSinceCheckpoint"],
        AttributeValue::N("1".into())
    );
}

/// Runs `a` and `b` at once; exactly one must succeed, the other must conflict on `key`.
async fn one_wins(
    key: &str,
    a: impl std::future::Future<Output = freshet_kcl::Result<StoredLease>>,
    b: impl std::future::Future<Output = freshet_kcl::Result<StoredLease>>,
) -> StoredLease {
    let (a, b) = tokio::join!(a, b);
    match (a, b) {
        (Ok(w), Err(Error::LeaseConflict { key: k }))
        | (Err(Error::LeaseConflict { key: k }), Ok(w)) => {
            assert_eq!(k, key);
            w
        }
        other => panic!("expected one winner and one LeaseConflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_one_wins_the_other_gets_lease_conflict() {
    let moto = Moto::start_serial();
    // Two workers, each with its own client and connections.
    let a = Arc::new(open(&moto, "race-writes").await);
    let b = Arc::new(open(&moto, "race-writes").await);
    let key = "shardId-000000000007";

    for round in 0..10 {
        let key = format!("{key}-{round}");
        let (x, y) = tokio::join!(
            a.create_if_absent(&key, Lease::new(Checkpoint::TrimHorizon, vec![])),
            b.create_if_absent(&key, Lease::new(Checkpoint::TrimHorizon, vec![])),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(
            x.is_some() != y.is_some(),
            "both or neither created: {x:?} {y:?}"
        );
    }

    let mut current = a
        .create_if_absent(key, Lease::new(Checkpoint::TrimHorizon, vec![]))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..15 {
        // Both see the lease free (or expired) and take it at once.
        let seen = lease(&b, key).await;
        assert_eq!(seen, current);
        let won = one_wins(key, a.take(&seen, "wa"), b.take(&seen, "wb")).await;
        let stored = lease(&a, key).await;
        assert_eq!(stored, won);
        // The owner renews while the other, thinking it expired, takes it.
        let (owner, thief, thief_id) = if won.lease.owner.as_deref() == Some("wa") {
            (&a, &b, "wb")
        } else {
            (&b, &a, "wa")
        };
        current = one_wins(key, owner.renew(&won), thief.take(&won, thief_id)).await;
        assert_eq!(lease(&a, key).await, current);
    }

    // Stale counters conflict; so do writes to a lease that is gone.
    let stale = StoredLease {
        counter: current.counter - 1,
        ..current.clone()
    };
    assert!(matches!(
        b.renew(&stale).await,
        Err(Error::LeaseConflict { .. })
    ));
    assert!(matches!(
        b.delete(&stale).await,
        Err(Error::LeaseConflict { .. })
    ));
    a.delete(&current).await.unwrap();
    assert!(matches!(
        b.renew(&current).await,
        Err(Error::LeaseConflict { .. })
    ));
    assert!(matches!(
        b.delete(&current).await,
        Err(Error::LeaseConflict { .. })
    ));
    assert!(ddb::scan(a.client(), a.table())
        .await
        .iter()
        .all(|i| ddb::s(i, "leaseKey") != Some(key)));
}

#[tokio::test]
async fn list_pages_through_the_scan() {
    let moto = Moto::start_serial();
    let store = open(&moto, "paged-app").await.with_page_limit(3);
    let keys: Vec<String> = (0..20).map(|i| format!("shardId-{i:012}")).collect();
    for k in keys.iter().rev() {
        store
            .create_if_absent(k, Lease::new(Checkpoint::Latest, vec![]))
            .await
            .unwrap()
            .unwrap();
    }
    // The table does page at 3 items.
    let first = store
        .client()
        .scan()
        .table_name(store.table())
        .limit(3)
        .send()
        .await
        .unwrap();
    assert_eq!(first.items().len(), 3);
    assert!(first.last_evaluated_key.is_some_and(|k| !k.is_empty()));
    let listed = store.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.key.clone()).collect::<Vec<_>>(),
        keys,
        "every lease, by key"
    );
    assert!(listed
        .iter()
        .all(|l| l.lease.checkpoint == Checkpoint::Latest));
}

#[tokio::test]
async fn items_written_by_the_java_kcl_are_read_and_their_attributes_kept() {
    let moto = Moto::start_serial();
    let store = open(&moto, "java-app").await;
    let key = "shardId-000000000004";
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: u64| AttributeValue::N(v.to_string());
    // As the Java KCL 3.x writes a lease in the middle of a graceful handoff.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("leaseKey", s(key))
        .item("leaseOwner", s("java-new"))
        .item("checkpointOwner", s("java-old"))
        .item("leaseCounter", n(7))
        .item("checkpoint", s(SEQ))
        .item("checkpointSubSequenceNumber", n(2))
        .item("ownerSwitchesSinceCheckpoint", n(3))
        .item(
            "parentShardId",
            AttributeValue::Ss(vec!["shardId-000000000001".into()]),
        )
        .item(
            "childShardIds",
            AttributeValue::Ss(vec!["shardId-000000000009".into()]),
        )
        .item("startingHashKey", s("0"))
        .item(
            "endingHashKey",
            s("170141183460469231731687303715884105727"),
        )
        .item("throughputKBps", AttributeValue::N("12.5".into()))
        .send()
        .await
        .unwrap();
    let read = lease(&store, key).await;
    assert_eq!(read.counter, 7);
    assert_eq!(read.lease.owner.as_deref(), Some("java-new"));
    assert_eq!(
        read.lease.checkpoint,
        Checkpoint::Sequence(ExtendedSequence::new(SEQ, 2))
    );
    assert_eq!(read.lease.parents, vec!["shardId-000000000001".to_string()]);
    assert_eq!(read.lease.owner_switches, 3);
    assert_eq!(read.lease.heartbeat, 7);

    // Freshet takes it: KCL's counter step, the attributes it does not know survive,
    // KCL 3.x's handoff owner goes (as KCL's own take removes it).
    let taken = store.take(&read, "freshet-w").await.unwrap();
    assert_eq!(taken.counter, 8);
    let i = item(&store, key).await;
    assert_eq!(ddb::s(&i, "leaseOwner"), Some("freshet-w"));
    assert_eq!(ddb::n(&i, "leaseCounter"), Some("8"));
    assert_eq!(ddb::n(&i, "ownerSwitchesSinceCheckpoint"), Some("4"));
    assert!(!i.contains_key("checkpointOwner"));
    assert_eq!(ddb::s(&i, "startingHashKey"), Some("0"));
    assert!(i.contains_key("childShardIds"));
    assert!(i.contains_key("endingHashKey"));
    assert_eq!(ddb::n(&i, "throughputKBps"), Some("12.5"));
    assert_eq!(ddb::layout_problems(&i), Vec::<String>::new());
    let heartbeat = lease(&store, key).await.lease.heartbeat;

    // A Java worker renews it (leaseCounter + 1, nothing else): Freshet's workers see
    // the heartbeat move, so the lease is not taken as expired.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("leaseKey", s(key))
        .update_expression("SET leaseCounter = :n")
        .condition_expression("leaseCounter = :e")
        .expression_attribute_values(":n", n(9))
        .expression_attribute_values(":e", n(8))
        .send()
        .await
        .unwrap();
    let renewed = lease(&store, key).await;
    assert_eq!(renewed.counter, 9);
    assert_ne!(renewed.lease.heartbeat, heartbeat);
}

#[tokio::test]
async fn a_missing_table_or_a_dead_endpoint_is_a_store_error() {
    let moto = Moto::start_serial();
    let client = ddb::client(&moto.dynamodb_endpoint());
    let store = DynamoDbLeaseStore::new(client, "never-created");
    let lease = Lease::new(Checkpoint::TrimHorizon, vec![]);
    assert!(matches!(store.list().await, Err(Error::Store(m)) if m.contains("Scan")));
    assert!(matches!(
        store.create_if_absent("shardId-1", lease.clone()).await,
        Err(Error::Store(m)) if m.contains("ResourceNotFound")
    ));
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let store = DynamoDbLeaseStore::new(ddb::client(&dead), "app");
    assert!(matches!(store.list().await, Err(Error::Store(_))));
}
