//! A lease store in a DynamoDB table laid out as the AWS KCL (2.x and 3.x) lays out its
//! lease table, with the KCL's conditional writes, so a Freshet KCL application and an
//! AWS Java KCL application read and write one table the same way (one after the
//! other; running both kinds of worker on one table at once is not a goal: their
//! balancing differs).
//!
//! One item per lease, keyed by `leaseKey` (the shard id):
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `leaseKey` | S | the shard id; the table's hash key |
//! | `leaseOwner` | S | the worker holding the lease; absent when free |
//! | `leaseCounter` | N | the compare-and-set counter: 0 when created, +1 on every write |
//! | `checkpoint` | S | a sequence number, or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`, `SHARD_END` |
//! | `checkpointSubSequenceNumber` | N | the position inside a KPL aggregate (0 for the sentinels) |
//! | `pendingCheckpoint` | S | a prepared (two-phase) checkpoint; absent when none |
//! | `pendingCheckpointSubSequenceNumber` | N | its sub-sequence number |
//! | `ownerSwitchesSinceCheckpoint` | N | how many times the lease changed hands (Freshet counts since the lease was created) |
//! | `parentShardId` | SS | parent shards that have leases; absent when none |
//!
//! Attributes of the KCL that Freshet's lease has no field for (`childShardIds`,
//! `startingHashKey`, `endingHashKey`, `throughputKBps`, `pendingCheckpointState`) are
//! never written; an update leaves them as they are, except that `pendingCheckpointState`
//! is removed with the pending checkpoint it belongs to, and `checkpointOwner` (KCL 3.x's
//! graceful handoff, which Freshet does its own way) is removed by every write, as the
//! KCL's take and evict remove it.
//!
//! Freshet's own attributes, which the Java KCL ignores:
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `freshetHandoffTo` | S | the worker that asked the owner for the lease (graceful handoff) |
//! | `freshetHeartbeat` | N | bumped by every write of the owner but not by a handoff request: other workers measure expiry from its changes |
//! | `freshetWriteCounter` | N | the `leaseCounter` of Freshet's last write: when the item's counter differs, another KCL wrote since, and the heartbeat read is moved on by the difference so that its writes keep the lease alive |
//! | `freshetAtTimestampMs` | N | with `checkpoint = AT_TIMESTAMP`, the time (ms since the epoch); the KCL keeps it in its configuration instead, and a lease without it reads as time 0 (the oldest record) |
//!
//! Writes are the KCL's: creation is a PutItem on `attribute_not_exists(leaseKey)`;
//! every other write is an UpdateItem (attributes Freshet does not know survive) on
//! `attribute_exists(leaseKey) AND leaseCounter = :expected`, setting the counter to
//! `expected + 1`; deletion is conditional on the counter too. A failed condition
//! (`ConditionalCheckFailedException`) is [`Error::LeaseConflict`]; every other failure
//! (after the SDK's own retries) is [`Error::Store`]. [`LeaseStore::list`] is a
//! consistent-read Scan, paged through `LastEvaluatedKey`.
//!
//! [`DynamoDbLeaseStore::open`] creates the table when it is missing, as the KCL does:
//! `leaseKey` (S) as hash key, on-demand billing (PAY_PER_REQUEST), and waits until it
//! is ACTIVE.
//!
//! ```no_run
//! # async fn f() -> freshet_kcl::Result<()> {
//! use std::sync::Arc;
//! use freshet_kcl::store::dynamodb::sdk::{self, config::Credentials};
//! use freshet_kcl::{Config, DynamoDbLeaseStore, LeaseStore};
//!
//! let cfg = Config::new("my-app", "worker-1");
//! let conf = DynamoDbLeaseStore::config_builder("us-east-1", Some("http://127.0.0.1:8000"))
//!     .credentials_provider(Credentials::new("id", "secret", None, None, "static"))
//!     .build();
//! // The table is named after the application, as the KCL names it.
//! let client = sdk::Client::from_conf(conf);
//! let store: Arc<dyn LeaseStore> =
//!     Arc::new(DynamoDbLeaseStore::open(client, &cfg.application).await?);
//! // Scheduler::new(cfg, store, source, factory) ...
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region, SharedHttpClient};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use super::{Expect, LeaseStore, StoreFuture};
use crate::error::{Error, Result};
use crate::lease::{Checkpoint, ExtendedSequence, Lease, StoredLease};

/// The AWS SDK for DynamoDB this store is built on (for its client and config types).
pub use aws_sdk_dynamodb as sdk;

const LEASE_KEY: &str = "leaseKey";
const LEASE_OWNER: &str = "leaseOwner";
const LEASE_COUNTER: &str = "leaseCounter";
const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_SUB: &str = "checkpointSubSequenceNumber";
const PENDING: &str = "pendingCheckpoint";
const PENDING_SUB: &str = "pendingCheckpointSubSequenceNumber";
const PENDING_STATE: &str = "pendingCheckpointState";
const OWNER_SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
const PARENTS: &str = "parentShardId";
const CHECKPOINT_OWNER: &str = "checkpointOwner";
const HANDOFF_TO: &str = "freshetHandoffTo";
const HEARTBEAT: &str = "freshetHeartbeat";
const WRITE_COUNTER: &str = "freshetWriteCounter";
const AT_TIMESTAMP_MS: &str = "freshetAtTimestampMs";

const TRIM_HORIZON: &str = "TRIM_HORIZON";
const LATEST: &str = "LATEST";
const AT_TIMESTAMP: &str = "AT_TIMESTAMP";
const SHARD_END: &str = "SHARD_END";

/// How long [`DynamoDbLeaseStore::open`] waits for a new table to become ACTIVE.
pub const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// An application's lease table in DynamoDB, in the AWS KCL's layout (see the
/// [module docs](self)). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoDbLeaseStore {
    client: Client,
    table: String,
    page_limit: Option<i32>,
}

impl DynamoDbLeaseStore {
    /// The table `table` through `client`; nothing is checked or created (see
    /// [`DynamoDbLeaseStore::open`]). The KCL names the table after the application
    /// ([`Config::application`](crate::Config::application)).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbLeaseStore {
            client,
            table: table.into(),
            page_limit: None,
        }
    }

    /// [`DynamoDbLeaseStore::new`] with a client built from `conf`.
    pub fn from_conf(conf: aws_sdk_dynamodb::Config, table: impl Into<String>) -> Self {
        Self::new(Client::from_conf(conf), table)
    }

    /// The table `table` through `client`, created when missing (on-demand billing)
    /// and waited for until ACTIVE (at most [`TABLE_ACTIVE_TIMEOUT`]).
    pub async fn open(client: Client, table: impl Into<String>) -> Result<Self> {
        let store = Self::new(client, table);
        store.ensure_table(TABLE_ACTIVE_TIMEOUT).await?;
        Ok(store)
    }

    /// An SDK configuration for `region` (and `endpoint_url`, for a DynamoDB-compatible
    /// endpoint or a local one): the latest behaviour version, an HTTP client (HTTPS
    /// too with the `tls` feature), 5 s per attempt and 15 s per call. Add
    /// credentials (`credentials_provider`) and build it.
    pub fn config_builder(
        region: impl Into<String>,
        endpoint_url: Option<&str>,
    ) -> aws_sdk_dynamodb::config::Builder {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(15))
            .build();
        let mut builder = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.into()))
            .http_client(http_client())
            .timeout_config(timeouts);
        if let Some(url) = endpoint_url {
            builder = builder.endpoint_url(url);
        }
        builder
    }

    /// Lists in pages of at most `limit` items (DynamoDB's own limit, 1 MB a page,
    /// applies anyway).
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit.max(1));
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table when it is missing (`leaseKey` S as hash key, PAY_PER_REQUEST;
    /// a concurrent creation is fine) and waits until it is ACTIVE, at most `wait`. A
    /// table keyed otherwise is refused.
    pub async fn ensure_table(&self, wait: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        let mut created = false;
        loop {
            let status = match self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
            {
                Ok(out) => match out.table {
                    Some(table) => {
                        self.check_key_schema(table.key_schema())?;
                        table.table_status
                    }
                    None => None,
                },
                Err(e) if e.code() == Some("ResourceNotFoundException") && !created => {
                    self.create_table().await?;
                    created = true;
                    continue;
                }
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) => return Err(self.store_error("DescribeTable", e)),
            };
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::Store(format!(
                    "DynamoDB table {} is not ACTIVE after {:?} (status {status:?})",
                    self.table, wait
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    async fn create_table(&self) -> Result<()> {
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(LEASE_KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| Error::Store(format!("CreateTable: {e}")))?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(LEASE_KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| Error::Store(format!("CreateTable: {e}")))?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(table = %self.table, "created the DynamoDB lease table");
                Ok(())
            }
            // Another worker created it meanwhile.
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(self.store_error("CreateTable", e)),
        }
    }

    fn check_key_schema(&self, schema: &[KeySchemaElement]) -> Result<()> {
        match schema {
            [k] if k.attribute_name() == LEASE_KEY && *k.key_type() == KeyType::Hash => Ok(()),
            [] => Ok(()),
            other => Err(Error::Store(format!(
                "DynamoDB table {} is not a KCL lease table (key schema {other:?}, expected \
                 {LEASE_KEY} as hash key)",
                self.table
            ))),
        }
    }

    fn store_error<E, R>(&self, op: &str, e: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        Error::Store(format!(
            "DynamoDB {op} on table {}: {}",
            self.table,
            DisplayErrorContext(&e)
        ))
    }

    /// A conditional write's error: a failed condition is a conflict.
    fn write_error<E, R>(&self, op: &str, key: &str, e: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if e.code() == Some("ConditionalCheckFailedException") {
            Error::LeaseConflict {
                key: key.to_string(),
            }
        } else {
            self.store_error(op, e)
        }
    }

    async fn list_all(&self) -> Result<Vec<StoredLease>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.store_error("Scan", e))?;
            for item in page.items() {
                out.push(decode_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn create(&self, key: &str, lease: &Lease) -> Result<u64> {
        let counter = 0;
        let mut item: HashMap<String, AttributeValue> = HashMap::new();
        item.insert(LEASE_KEY.into(), AttributeValue::S(key.to_string()));
        item.insert(LEASE_COUNTER.into(), n(counter));
        for (name, value) in lease_attributes(lease, counter) {
            if let Some(v) = value {
                item.insert(name.to_string(), v);
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", LEASE_KEY)
            .send()
            .await
            .map_err(|e| self.write_error("PutItem", key, e))?;
        Ok(counter)
    }

    async fn update(&self, key: &str, expected: u64, lease: &Lease) -> Result<u64> {
        let next = expected.wrapping_add(1);
        let mut set = vec!["#counter = :next".to_string()];
        // KCL 3.x's graceful-handoff owner goes with every write, as with its take.
        let mut remove = vec!["#a0".to_string()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(LEASE_KEY, AttributeValue::S(key.to_string()))
            .expression_attribute_names("#key", LEASE_KEY)
            .expression_attribute_names("#counter", LEASE_COUNTER)
            .expression_attribute_names("#a0", CHECKPOINT_OWNER)
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":expected", n(expected));
        let mut i = 1;
        let mut removes_pending = false;
        for (name, value) in lease_attributes(lease, next) {
            let placeholder = format!("#a{i}");
            request = request.expression_attribute_names(&placeholder, name);
            match value {
                Some(v) => {
                    let value_name = format!(":v{i}");
                    set.push(format!("{placeholder} = {value_name}"));
                    request = request.expression_attribute_values(value_name, v);
                }
                None => {
                    removes_pending |= name == PENDING;
                    remove.push(placeholder);
                }
            }
            i += 1;
        }
        if removes_pending {
            let placeholder = format!("#a{i}");
            request = request.expression_attribute_names(&placeholder, PENDING_STATE);
            remove.push(placeholder);
        }
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        request
            .update_expression(expression)
            .condition_expression("attribute_exists(#key) AND #counter = :expected")
            .send()
            .await
            .map_err(|e| self.write_error("UpdateItem", key, e))?;
        Ok(next)
    }

    async fn delete(&self, key: &str, counter: u64) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(LEASE_KEY, AttributeValue::S(key.to_string()))
            .condition_expression("attribute_exists(#key) AND #counter = :expected")
            .expression_attribute_names("#key", LEASE_KEY)
            .expression_attribute_names("#counter", LEASE_COUNTER)
            .expression_attribute_values(":expected", n(counter))
            .send()
            .await
            .map_err(|e| self.write_error("DeleteItem", key, e))?;
        Ok(())
    }
}

#[cfg(feature = "tls")]
fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[cfg(not(feature = "tls"))]
fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Every attribute a lease write sets (`Some`) or removes (`None`), but the key and
/// the counter; `counter` is the `leaseCounter` the write leaves.
fn lease_attributes(lease: &Lease, counter: u64) -> Vec<(&'static str, Option<AttributeValue>)> {
    let s = |v: &str| Some(AttributeValue::S(v.to_string()));
    let (checkpoint, sub, at_ms) = match &lease.checkpoint {
        Checkpoint::TrimHorizon => (TRIM_HORIZON, 0, None),
        Checkpoint::Latest => (LATEST, 0, None),
        Checkpoint::AtTimestamp { ms } => (AT_TIMESTAMP, 0, Some(*ms)),
        Checkpoint::ShardEnd => (SHARD_END, 0, None),
        Checkpoint::Sequence(at) => (at.sequence.as_str(), at.sub_sequence, None),
    };
    let mut parents: Vec<String> = lease.parents.clone();
    parents.sort();
    parents.dedup();
    vec![
        (LEASE_OWNER, lease.owner.as_deref().and_then(s)),
        (CHECKPOINT, s(checkpoint)),
        (CHECKPOINT_SUB, Some(n(sub))),
        (AT_TIMESTAMP_MS, at_ms.map(n)),
        (
            PENDING,
            lease
                .pending_checkpoint
                .as_ref()
                .and_then(|p| s(&p.sequence)),
        ),
        (
            PENDING_SUB,
            lease.pending_checkpoint.as_ref().map(|p| n(p.sub_sequence)),
        ),
        (OWNER_SWITCHES, Some(n(lease.owner_switches))),
        (
            PARENTS,
            (!parents.is_empty()).then(|| AttributeValue::Ss(parents)),
        ),
        (HANDOFF_TO, lease.handoff_to.as_deref().and_then(s)),
        (HEARTBEAT, Some(n(lease.heartbeat))),
        (WRITE_COUNTER, Some(n(counter))),
    ]
}

/// Reads a lease item, whoever wrote it (Freshet or the Java KCL).
fn decode_item(item: &HashMap<String, AttributeValue>) -> Result<StoredLease> {
    let key = match item.get(LEASE_KEY) {
        Some(AttributeValue::S(k)) => k.clone(),
        _ => {
            return Err(Error::Decode {
                key: String::new(),
                message: format!("an item without a string {LEASE_KEY}"),
            })
        }
    };
    let bad = |message: String| Error::Decode {
        key: key.clone(),
        message,
    };
    let string = |name: &str| -> Result<Option<&str>> {
        match item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(other) => Err(bad(format!("{name} is not a string: {other:?}"))),
        }
    };
    let number = |name: &str| -> Result<Option<u64>> {
        match item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|e| bad(format!("{name} = {v}: {e}"))),
            Some(other) => Err(bad(format!("{name} is not a number: {other:?}"))),
        }
    };
    let counter = number(LEASE_COUNTER)?.ok_or_else(|| bad(format!("no {LEASE_COUNTER}")))?;
    let sub = number(CHECKPOINT_SUB)?.unwrap_or(0);
    let checkpoint = match string(CHECKPOINT)? {
        Some(TRIM_HORIZON) => Checkpoint::TrimHorizon,
        Some(LATEST) => Checkpoint::Latest,
        Some(SHARD_END) => Checkpoint::ShardEnd,
        Some(AT_TIMESTAMP) => Checkpoint::AtTimestamp {
            ms: match item.get(AT_TIMESTAMP_MS) {
                Some(AttributeValue::N(v)) => v
                    .parse()
                    .map_err(|e| bad(format!("{AT_TIMESTAMP_MS} = {v}: {e}")))?,
                _ => 0,
            },
        },
        Some(seq) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) => {
            Checkpoint::Sequence(ExtendedSequence::new(seq, sub))
        }
        Some(other) => return Err(bad(format!("unknown {CHECKPOINT} {other:?}"))),
        None => return Err(bad(format!("no {CHECKPOINT}"))),
    };
    let pending_checkpoint = match string(PENDING)? {
        Some(seq) if !seq.is_empty() => Some(ExtendedSequence::new(
            seq,
            number(PENDING_SUB)?.unwrap_or(0),
        )),
        _ => None,
    };
    let mut parents = match item.get(PARENTS) {
        None | Some(AttributeValue::Null(_)) => Vec::new(),
        Some(AttributeValue::Ss(v)) => v.clone(),
        Some(other) => return Err(bad(format!("{PARENTS} is not a string set: {other:?}"))),
    };
    parents.sort();
    // The owner's heartbeat; moved on by every write of another KCL since Freshet's.
    let heartbeat = match (number(HEARTBEAT)?, number(WRITE_COUNTER)?) {
        (Some(h), Some(w)) => h.wrapping_add(counter.wrapping_sub(w)),
        _ => counter,
    };
    Ok(StoredLease {
        counter,
        lease: Lease {
            owner: string(LEASE_OWNER)?.map(str::to_string),
            checkpoint,
            pending_checkpoint,
            parents,
            handoff_to: string(HANDOFF_TO)?.map(str::to_string),
            owner_switches: number(OWNER_SWITCHES)?.unwrap_or(0),
            heartbeat,
        },
        key,
    })
}

impl LeaseStore for DynamoDbLeaseStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        Box::pin(self.list_all())
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            match expect {
                Expect::Absent => self.create(key, lease).await,
                Expect::Counter(c) => self.update(key, c, lease).await,
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        Box::pin(self.delete(key, counter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(lease: &Lease, counter: u64) -> StoredLease {
        let mut item: HashMap<String, AttributeValue> = lease_attributes(lease, counter)
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        item.insert(LEASE_KEY.into(), AttributeValue::S("shardId-1".into()));
        item.insert(LEASE_COUNTER.into(), n(counter));
        decode_item(&item).unwrap_or_else(|e| panic!("decode: {e}"))
    }

    #[test]
    fn every_checkpoint_kind_round_trips() {
        for checkpoint in [
            Checkpoint::TrimHorizon,
            Checkpoint::Latest,
            Checkpoint::AtTimestamp {
                ms: 1_700_000_000_123,
            },
            Checkpoint::ShardEnd,
            Checkpoint::Sequence(ExtendedSequence::new(
                "49590338271490256608559692538361571095921575989136588898",
                7,
            )),
        ] {
            let mut lease = Lease::new(checkpoint, vec!["b".into(), "a".into()]);
            lease.owner = Some("w1".into());
            lease.pending_checkpoint = Some(ExtendedSequence::new("12", 3));
            lease.handoff_to = Some("w2".into());
            lease.owner_switches = 4;
            lease.heartbeat = 9;
            let back = roundtrip(&lease, 5);
            assert_eq!(back.counter, 5);
            lease.parents.sort();
            assert_eq!(back.lease, lease);
        }
    }

    #[test]
    fn config_builder_gives_a_client_for_an_endpoint() {
        let conf = DynamoDbLeaseStore::config_builder("eu-west-1", Some("http://127.0.0.1:1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "id", "secret", None, None, "test",
            ))
            .build();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(conf.http_client().is_some());
        let store = DynamoDbLeaseStore::from_conf(conf, "app");
        assert_eq!(store.table(), "app");
    }

    #[test]
    fn sentinels_are_the_kcl_strings() {
        let attrs = lease_attributes(&Lease::new(Checkpoint::ShardEnd, vec![]), 0);
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.clone())
        };
        assert_eq!(get(CHECKPOINT), Some(AttributeValue::S("SHARD_END".into())));
        assert_eq!(get(CHECKPOINT_SUB), Some(AttributeValue::N("0".into())));
        assert_eq!(get(PARENTS), None);
        assert_eq!(get(LEASE_OWNER), None);
    }

    #[test]
    fn a_java_kcl_item_reads_and_its_writes_move_the_heartbeat() {
        let mut item: HashMap<String, AttributeValue> = [
            (LEASE_KEY, AttributeValue::S("shardId-000000000003".into())),
            (LEASE_OWNER, AttributeValue::S("java-worker".into())),
            (LEASE_COUNTER, n(41)),
            (CHECKPOINT, AttributeValue::S("TRIM_HORIZON".into())),
            (CHECKPOINT_SUB, n(0)),
            (OWNER_SWITCHES, n(2)),
            (
                PARENTS,
                AttributeValue::Ss(vec!["shardId-000000000001".into()]),
            ),
            ("startingHashKey", AttributeValue::S("0".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let l = decode_item(&item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.counter, 41);
        assert_eq!(l.lease.owner.as_deref(), Some("java-worker"));
        assert_eq!(l.lease.parents, vec!["shardId-000000000001".to_string()]);
        assert_eq!(l.lease.heartbeat, 41);
        // Freshet wrote it last at counter 41 with heartbeat 7; the Java KCL renewed
        // twice since.
        item.insert(HEARTBEAT.into(), n(7));
        item.insert(WRITE_COUNTER.into(), n(41));
        let h1 = decode_item(&item).map(|l| l.lease.heartbeat).ok();
        item.insert(LEASE_COUNTER.into(), n(43));
        let h2 = decode_item(&item).map(|l| l.lease.heartbeat).ok();
        assert_eq!((h1, h2), (Some(7), Some(9)));
        item.insert(CHECKPOINT.into(), AttributeValue::S("bogus".into()));
        assert!(matches!(decode_item(&item), Err(Error::Decode { .. })));
    }
}
