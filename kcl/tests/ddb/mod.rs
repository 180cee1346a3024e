#![allow(dead_code)]
//! DynamoDB (moto) for the tests of `DynamoDbLeaseStore`: a client, raw scans, and the
//! check that items have the AWS KCL's lease-table layout.

use std::collections::HashMap;

pub use freshet_kcl::store::dynamodb::sdk;
use sdk::types::AttributeValue;

/// A client for `endpoint` (moto) with static test credentials.
pub fn client(endpoint: &str) -> sdk::Client {
    let conf = freshet_kcl::DynamoDbLeaseStore::config_builder("us-east-1", Some(endpoint))
        .credentials_provider(sdk::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .build();
    sdk::Client::from_conf(conf)
}

/// Every item of `table`, through the raw SDK (consistent, paged).
pub async fn scan(client: &sdk::Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// The DynamoDB type of a value: `S`, `N`, `SS`, `B`, ...
pub fn type_of(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::B(_) => "B",
        AttributeValue::Bs(_) => "BS",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::Null(_) => "NULL",
        _ => "?",
    }
}

/// The attributes a lease item may have, with their types: the AWS KCL's
/// (`DynamoDBLeaseSerializer`) and Freshet's own.
pub const LAYOUT: &[(&str, &str)] = &[
    ("leaseKey", "S"),
    ("leaseOwner", "S"),
    ("leaseCounter", "N"),
    ("checkpoint", "S"),
    ("checkpointSubSequenceNumber", "N"),
    ("pendingCheckpoint", "S"),
    ("pendingCheckpointSubSequenceNumber", "N"),
    ("pendingCheckpointState", "B"),
    ("ownerSwitchesSinceCheckpoint", "N"),
    ("parentShardId", "SS"),
    ("childShardIds", "SS"),
    ("startingHashKey", "S"),
    ("endingHashKey", "S"),
    ("throughputKBps", "N"),
    ("checkpointOwner", "S"),
    ("freshetHandoffTo", "S"),
    ("freshetHeartbeat", "N"),
    ("freshetWriteCounter", "N"),
    ("freshetAtTimestampMs", "N"),
];

/// The attributes every lease item has.
pub const REQUIRED: &[&str] = &[
    "leaseKey",
    "leaseCounter",
    "checkpoint",
    "checkpointSubSequenceNumber",
    "ownerSwitchesSinceCheckpoint",
];

/// What in `item` strays from the KCL's layout (empty when nothing does).
pub fn layout_problems(item: &HashMap<String, AttributeValue>) -> Vec<String> {
    let key = match item.get("leaseKey") {
        Some(AttributeValue::S(k)) => k.clone(),
        other => return vec![format!("leaseKey is {other:?}")],
    };
    let mut out = Vec::new();
    for (name, value) in item {
        match LAYOUT.iter().find(|(n, _)| n == name) {
            Some((_, t)) if *t == type_of(value) => {}
            Some((_, t)) => out.push(format!("{key}: {name} is {}, not {t}", type_of(value))),
            None => out.push(format!("{key}: unknown attribute {name}")),
        }
    }
    for name in REQUIRED {
        if !item.contains_key(*name) {
            out.push(format!("{key}: no {name}"));
        }
    }
    if let Some(AttributeValue::S(c)) = item.get("checkpoint") {
        let sentinel =
            ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END"].contains(&c.as_str());
        if !sentinel && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit())) {
            out.push(format!(
                "{key}: checkpoint {c:?} is neither a sequence number nor a sentinel"
            ));
        }
    }
    if item.contains_key("pendingCheckpoint")
        != item.contains_key("pendingCheckpointSubSequenceNumber")
    {
        out.push(format!(
            "{key}: pendingCheckpoint without its sub-sequence number, or the reverse"
        ));
    }
    out
}

/// A string attribute.
pub fn s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// A number attribute, as DynamoDB holds it (a decimal string).
pub fn n<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => Some(v),
        _ => None,
    }
}
