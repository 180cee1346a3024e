//! The destinations a processed buffer goes to: S3-style objects (exactly once, through
//! the intent protocol of [`crate::delivery`]), a PostgreSQL-protocol database (the
//! position commits with the rows) and an HTTP endpoint (at least once, as Firehose).
//! Whatever fails goes to the error output in the S3 bucket, as AWS writes it.

use crate::pipeline::now_ms;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::{CursorPositions, ServiceState, StateChange, StopSignal};
use object_store::path::Path as ObjectPath;
use object_store::PutPayload;

use crate::compress::{try_compress, try_compress_chunks, Compression, DEFAULT_ZIP_ENTRY_NAME};
use crate::convert::Conversion;
use crate::delivery::{checkpoint_key, intent_key, DeliveryStats, Intent, ObjectRef};
use crate::http_endpoint::{HttpEndpoint, HttpOutcome};
use crate::naming::{error_output_type, ObjectKey};
use crate::params::{DeliveryStreamConfig, S3Destination, Target};
use crate::pipeline::{error_line, ErrorRecord, Item, Processed};
use crate::postgres::{PgError, PgSink, PgTarget};
use crate::store::{bucket_of, Buckets};

/// First retry delay of a failing destination; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `!{firehose:error-output-type}` of rows a database refused.
pub const REDSHIFT_FAILED: &str = "redshift-failed";

/// Where a delivery stream's records go.
pub enum Sink {
    /// Objects in the destination bucket.
    S3 {
        /// Record format conversion, when enabled.
        conversion: Option<Arc<Conversion>>,
    },
    /// An HTTP endpoint.
    Http {
        /// The endpoint.
        endpoint: Arc<HttpEndpoint>,
        /// The client.
        client: reqwest::Client,
    },
    /// A PostgreSQL-protocol database.
    Postgres {
        /// Where.
        target: PgTarget,
        /// The open connection.
        conn: Option<Box<PgSink>>,
    },
}

/// What a delivery hands the sink with a buffer.
pub struct Flush<'a> {
    /// The delivery stream.
    pub config: &'a DeliveryStreamConfig,
    /// The service's catalog namespace.
    pub state: &'a ServiceState,
    /// The buckets.
    pub buckets: &'a Buckets,
    /// Counters.
    pub stats: &'a DeliveryStats,
    /// Stops retries.
    pub stop: &'a StopSignal,
}

/// An object to write.
struct Object {
    bucket: String,
    key: String,
    /// The body's chunks, written in order (cheap to clone for a retry).
    body: PutPayload,
}

impl Sink {
    /// The sink of a delivery stream's settings.
    pub fn of(config: &DeliveryStreamConfig, stream_arn: &str) -> Result<Sink, String> {
        Ok(match &config.target {
            None => Sink::S3 {
                conversion: match &config.destination.format_conversion {
                    Some(c) => Conversion::from_config(c)?.map(Arc::new),
                    None => None,
                },
            },
            Some(Target::HttpEndpoint(j)) => Sink::Http {
                endpoint: Arc::new(
                    HttpEndpoint::from_config(j)?.with_source_arn(stream_arn.to_string()),
                ),
                client: crate::http_endpoint::new_client()?,
            },
            Some(Target::Redshift(j)) => Sink::Postgres {
                target: PgTarget::from_config(j)?,
                conn: None,
            },
        })
    }

    /// The buffering hints that apply: the HTTP endpoint's own, else the S3
    /// destination's (a database load buffers as its S3 stage would).
    pub fn buffering(&self, config: &DeliveryStreamConfig) -> (u32, u32) {
        match self {
            Sink::Http { endpoint, .. } => (endpoint.size_in_mbs(), endpoint.interval_in_seconds()),
            _ => (
                config.destination.size_in_mbs,
                config.destination.interval_in_seconds,
            ),
        }
    }

    /// Whether a buffer's source records are written to a backup besides the
    /// destination (`S3BackupMode` `Enabled` of an S3 destination, `AllData` of an HTTP
    /// endpoint).
    pub fn backs_up_source(&self, config: &DeliveryStreamConfig) -> bool {
        match self {
            Sink::S3 { .. } => config.destination.s3_backup_mode == "Enabled",
            Sink::Http { .. } => config.destination.s3_backup_mode == "AllData",
            Sink::Postgres { .. } => config.destination.s3_backup_mode == "Enabled",
        }
    }

    /// The most records one buffer may hold (an HTTP endpoint's request), if any.
    pub fn max_records(&self) -> usize {
        match self {
            Sink::Http { .. } => crate::http_endpoint::MAX_RECORDS_PER_REQUEST,
            _ => usize::MAX,
        }
    }

    /// The position a destination keeps itself (PostgreSQL's), waiting for it to be
    /// reachable; `Err` when stopped first.
    pub async fn position(
        &mut self,
        name: &str,
        stop: &StopSignal,
    ) -> Result<Option<CursorPositions>, ()> {
        let Sink::Postgres { target, conn } = self else {
            return Ok(None);
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            if conn.is_none() {
                match PgSink::connect(target).await {
                    Ok(c) => *conn = Some(Box::new(c)),
                    Err(e) => {
                        tracing::warn!(delivery_stream = %name, target = %target.describe(), error = %pg_message(&e), "cannot connect; retrying");
                    }
                }
            }
            if let Some(c) = conn.as_mut() {
                match c.position(name).await {
                    Ok(None) => return Ok(None),
                    Ok(Some(bytes)) => return Ok(serde_json::from_slice(&bytes).ok()),
                    Err(e) => {
                        tracing::warn!(delivery_stream = %name, error = %pg_message(&e), "cannot read the position; retrying");
                        *conn = None;
                    }
                }
            }
            if stop.sleep(backoff).await {
                return Err(());
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Delivers a processed buffer and commits its checkpoint; `false` when stopped
    /// first.
    pub async fn deliver(
        &mut self,
        f: &Flush<'_>,
        intent: Intent,
        raw: &[Item],
        processed: Processed,
    ) -> bool {
        match self {
            Sink::S3 { conversion } => {
                deliver_s3(f, intent, raw, processed, conversion.as_deref()).await
            }
            Sink::Http { endpoint, client } => {
                deliver_http(f, intent, raw, processed, endpoint, client).await
            }
            Sink::Postgres { target, conn } => {
                deliver_postgres(f, intent, raw, processed, target, conn).await
            }
        }
    }
}

/// Delivers a batch unless the database already committed it (a first attempt whose
/// COMMIT went through before a crash or a broken connection): the records it refused
/// then come from the database's record of that commit.
async fn deliver_once(
    c: &mut PgSink,
    name: &str,
    records: &[Bytes],
    position: &[u8],
) -> Result<Vec<crate::postgres::Refused>, PgError> {
    if let Some((committed, refused)) = c.committed(name).await? {
        if committed == position {
            return Ok(refused);
        }
    }
    c.deliver(name, records, position).await
}

fn pg_message(e: &PgError) -> &str {
    match e {
        PgError::Transient(m) | PgError::Permanent(m) => m,
    }
}

/// A version-4-shaped UUID derived from `seed` and `salt`: the same arguments give the
/// same string, so an object redone after a crash gets the key it had.
fn derived_uuid(seed: &str, salt: &str) -> String {
    let mut hi: u64 = 0xcbf2_9ce4_8422_2325;
    let mut lo: u64 = 0x6c62_272e_07bb_0142;
    for b in seed.bytes().chain([0u8]).chain(salt.bytes()) {
        hi = (hi ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        lo = (lo ^ u64::from(b))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    let v = (u128::from(hi) << 64 | u128::from(lo)) & !(0xf << 76) | (0x4 << 76);
    let v = v & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn compression_of(d: &S3Destination) -> Compression {
    Compression::parse(&d.compression).unwrap_or(Compression::Uncompressed)
}

/// The objects of the error output, one per error type, in the destination's bucket.
fn error_objects(
    config: &DeliveryStreamConfig,
    seed: &str,
    errors: Vec<ErrorRecord>,
) -> Result<Vec<Object>, String> {
    let d = &config.destination;
    let bucket = bucket_of(&d.bucket_arn)
        .ok_or_else(|| format!("{} is not an S3 bucket ARN", d.bucket_arn))?
        .to_string();
    let mut by_type: BTreeMap<&str, (i64, Vec<Bytes>)> = BTreeMap::new();
    for e in errors {
        let entry = by_type
            .entry(e.output_type)
            .or_insert((i64::MAX, Vec::new()));
        entry.0 = entry.0.min(e.arrival_ms);
        entry.1.push(Bytes::from(e.line));
    }
    let compression = compression_of(d);
    let mut out = Vec::new();
    for (kind, (oldest, lines)) in by_type {
        let k = ObjectKey::new(
            &config.name,
            config.version_id,
            oldest,
            &derived_uuid(seed, &format!("error/{kind}")),
            compression.extension(),
        );
        let key = k
            .try_error_key(d.error_output_prefix.as_deref(), d.prefix.as_deref(), kind)
            .unwrap_or_else(|_| k.error_key(None, None, kind));
        let body = try_compress(compression, &lines, DEFAULT_ZIP_ENTRY_NAME)
            .map_err(|e| format!("cannot compress the error output: {e}"))?;
        out.push(Object {
            bucket: bucket.clone(),
            key,
            body: PutPayload::from(body),
        });
    }
    Ok(out)
}

/// An object of the source records in a backup bucket (`S3BackupMode` Enabled /
/// AllData).
fn backup_object(
    config: &DeliveryStreamConfig,
    seed: &str,
    raw: &[Item],
    to_destination_bucket: bool,
) -> Result<Option<Object>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let d = &config.destination;
    let (bucket_arn, prefix, compression) = if to_destination_bucket {
        (&d.bucket_arn, d.prefix.as_deref(), compression_of(d))
    } else {
        let Some(b) = &d.backup else { return Ok(None) };
        (
            &b.bucket_arn,
            b.prefix.as_deref(),
            Compression::parse(&b.compression).unwrap_or(Compression::Uncompressed),
        )
    };
    let bucket = bucket_of(bucket_arn)
        .ok_or_else(|| format!("{bucket_arn} is not an S3 bucket ARN"))?
        .to_string();
    let oldest = raw.iter().map(|i| i.arrival_ms).min().unwrap_or(0);
    let key = ObjectKey::new(
        &config.name,
        config.version_id,
        oldest,
        &derived_uuid(seed, "backup"),
        compression.extension(),
    )
    .key(prefix);
    let datas: Vec<Bytes> = raw.iter().map(|i| i.data.clone()).collect();
    let body = try_compress(compression, &datas, DEFAULT_ZIP_ENTRY_NAME)
        .map_err(|e| format!("cannot compress the backup: {e}"))?;
    Ok(Some(Object {
        bucket,
        key,
        body: PutPayload::from(body),
    }))
}

/// Builds the objects of an S3 destination: one per partition, then the error output
/// and the backup.
fn s3_objects(
    config: &DeliveryStreamConfig,
    seed: &str,
    raw: &[Item],
    processed: Processed,
    conversion: Option<&Conversion>,
) -> Result<Vec<Object>, String> {
    let d = &config.destination;
    let bucket = bucket_of(&d.bucket_arn)
        .ok_or_else(|| format!("{} is not an S3 bucket ARN", d.bucket_arn))?
        .to_string();
    let compression = compression_of(d);
    let mut errors = processed.errors;
    let mut objects = Vec::new();
    for (n, p) in processed.partitions.into_iter().enumerate() {
        if n >= crate::partition::MAX_ACTIVE_PARTITIONS {
            for r in &p.records {
                errors.push(ErrorRecord {
                    output_type: crate::partition::ACTIVE_PARTITION_EXCEEDED,
                    line: error_line(
                        crate::partition::ACTIVE_PARTITIONS_LIMIT_EXCEEDED,
                        &format!(
                            "The delivery stream has more than {} active partitions.",
                            crate::partition::MAX_ACTIVE_PARTITIONS
                        ),
                        r,
                        p.oldest_ms,
                        1,
                    ),
                    arrival_ms: p.oldest_ms,
                });
            }
            continue;
        }
        let (body, extension) = match conversion {
            Some(c) => {
                let converted = c.convert(&p.records)?;
                for (i, message) in &converted.failed {
                    if let Some(r) = p.records.get(*i) {
                        errors.push(ErrorRecord {
                            output_type: error_output_type::FORMAT_CONVERSION_FAILED,
                            line: error_line(
                                "DataFormatConversion.MalformedData",
                                message,
                                r,
                                p.oldest_ms,
                                1,
                            ),
                            arrival_ms: p.oldest_ms,
                        });
                    }
                }
                if converted.rows == 0 {
                    continue;
                }
                (
                    PutPayload::from(converted.parquet),
                    c.extension().to_string(),
                )
            }
            None => (
                try_compress_chunks(compression, &p.records, DEFAULT_ZIP_ENTRY_NAME)
                    .map_err(|e| format!("compression failed: {e}"))?
                    .into_iter()
                    .collect(),
                compression.extension().to_string(),
            ),
        };
        let extension = d.file_extension.clone().unwrap_or(extension);
        let salt: String = p
            .query_keys
            .iter()
            .chain(&p.lambda_keys)
            .map(|(k, v)| format!("{k}={v};"))
            .collect();
        let mut key = ObjectKey::new(
            &config.name,
            config.version_id,
            p.oldest_ms,
            &derived_uuid(seed, &format!("data/{salt}")),
            &extension,
        );
        for (k, v) in &p.query_keys {
            key = key.with_partition_key_from_query(k, v);
        }
        for (k, v) in &p.lambda_keys {
            key = key.with_partition_key_from_lambda(k, v);
        }
        match key.try_key(d.prefix.as_deref()) {
            Ok(key) => objects.push(Object {
                bucket: bucket.clone(),
                key,
                body,
            }),
            Err(message) => {
                for r in &p.records {
                    errors.push(ErrorRecord {
                        output_type: error_output_type::PROCESSING_FAILED,
                        line: error_line(
                            "DynamicPartitioning.PartitionKeyMissing",
                            &message,
                            r,
                            p.oldest_ms,
                            1,
                        ),
                        arrival_ms: p.oldest_ms,
                    });
                }
            }
        }
    }
    objects.extend(error_objects(config, seed, errors)?);
    if d.s3_backup_mode == "Enabled" {
        objects.extend(backup_object(config, seed, raw, false)?);
    }
    Ok(objects)
}

/// Puts an object, retrying with backoff while the store fails; `false` when stopped.
async fn put(f: &Flush<'_>, o: &Object) -> bool {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let uploaded = match f.buckets.store(&o.bucket) {
            Ok(store) => match store
                .put(&ObjectPath::from(o.key.as_str()), o.body.clone())
                .await
            {
                // Durable before the checkpoint moves past its records.
                Ok(_) => {
                    let (buckets, bucket, key) =
                        (f.buckets.clone(), o.bucket.clone(), o.key.clone());
                    tokio::task::spawn_blocking(move || buckets.sync_object(&bucket, &key))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        match uploaded {
            Ok(()) => {
                f.stats.objects.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e) => {
                f.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(delivery_stream = %f.config.name, key = %o.key, error = %e, "upload failed; retrying");
                if f.stop.sleep(backoff).await {
                    return false;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Puts objects in order; `false` when stopped first.
async fn put_all(f: &Flush<'_>, objects: &[Object]) -> bool {
    for o in objects {
        if !put(f, o).await {
            return false;
        }
    }
    true
}

/// Deletes an object a first attempt wrote that the redo did not write again.
async fn delete(f: &Flush<'_>, o: &ObjectRef) -> bool {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let deleted = match f.buckets.store(&o.bucket) {
            Ok(store) => match store.delete(&ObjectPath::from(o.key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        match deleted {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(delivery_stream = %f.config.name, key = %o.key, error = %e, "delete failed; retrying");
                if f.stop.sleep(backoff).await {
                    return false;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn blocking(f: &Flush<'_>, changes: Vec<StateChange>) -> Result<(), String> {
    let state = f.state.clone();
    tokio::task::spawn_blocking(move || state.write(changes))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Moves the checkpoint (and removes the intent) in one catalog write.
async fn commit(f: &Flush<'_>, positions: &CursorPositions) -> bool {
    let Ok(bytes) = serde_json::to_vec(positions) else {
        return false;
    };
    blocking(
        f,
        vec![
            StateChange::Put(checkpoint_key(&f.config.name), bytes),
            StateChange::Delete(intent_key(&f.config.name)),
        ],
    )
    .await
    .is_ok()
}

fn count_errors(f: &Flush<'_>, n: usize) {
    if n > 0 {
        f.stats.errors.fetch_add(n as u64, Ordering::Relaxed);
        tracing::warn!(delivery_stream = %f.config.name, records = n, "records went to the error output");
    }
}

async fn deliver_s3(
    f: &Flush<'_>,
    mut intent: Intent,
    raw: &[Item],
    processed: Processed,
    conversion: Option<&Conversion>,
) -> bool {
    let earlier = intent.all_objects();
    if intent.seed.is_empty() {
        // An intent from before seeds: its one key seeds the redo.
        intent.seed = intent.key.clone();
    }
    count_errors(f, processed.errors.len());
    let objects = match s3_objects(f.config, &intent.seed, raw, processed, conversion) {
        Ok(o) => o,
        Err(e) => {
            f.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(delivery_stream = %f.config.name, error = %e, "cannot build the objects");
            return false;
        }
    };
    intent.objects = objects
        .iter()
        .map(|o| ObjectRef {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
        })
        .chain(earlier.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    intent.bucket.clear();
    intent.key.clear();
    let Ok(bytes) = serde_json::to_vec(&intent) else {
        return false;
    };
    if blocking(f, vec![StateChange::Put(intent_key(&f.config.name), bytes)])
        .await
        .is_err()
    {
        return false;
    }
    if !put_all(f, &objects).await {
        return false;
    }
    for stale in earlier.iter().filter(|e| {
        !objects
            .iter()
            .any(|o| o.bucket == e.bucket && o.key == e.key)
    }) {
        if !delete(f, stale).await {
            return false;
        }
    }
    commit(f, &intent.positions_after).await
}

/// The records of a processed buffer, in order, with their partitions' oldest arrival.
fn flatten(processed: &mut Processed) -> (Vec<Bytes>, i64) {
    let oldest = processed
        .partitions
        .iter()
        .map(|p| p.oldest_ms)
        .min()
        .unwrap_or(0);
    let records = processed
        .partitions
        .drain(..)
        .flat_map(|p| p.records)
        .collect();
    (records, oldest)
}

/// The records of a request the endpoint did not take, as error output.
#[allow(clippy::too_many_arguments)]
fn fail_http(
    f: &Flush<'_>,
    endpoint: &HttpEndpoint,
    records: &[Bytes],
    oldest: i64,
    attempts: u32,
    error_code: &str,
    message: &str,
    errors: &mut Vec<ErrorRecord>,
) {
    f.stats
        .failures
        .fetch_add(u64::from(attempts), Ordering::Relaxed);
    tracing::warn!(delivery_stream = %f.config.name, url = %endpoint.url(), error = %message, "the endpoint did not take the records; they go to the error output");
    let ended = now_ms();
    for r in records {
        errors.push(ErrorRecord {
            output_type: error_output_type::HTTP_ENDPOINT_FAILED,
            line: crate::http_endpoint::failed_line(
                r, oldest, attempts, error_code, message, ended, None,
            ),
            arrival_ms: oldest,
        });
    }
}

async fn deliver_http(
    f: &Flush<'_>,
    intent: Intent,
    raw: &[Item],
    mut processed: Processed,
    endpoint: &HttpEndpoint,
    client: &reqwest::Client,
) -> bool {
    let (records, oldest) = flatten(&mut processed);
    let mut errors = std::mem::take(&mut processed.errors);
    if !records.is_empty() {
        match endpoint.deliver(client, &records, f.stop).await {
            HttpOutcome::Delivered { .. } => {}
            HttpOutcome::Stopped => return false,
            HttpOutcome::PayloadTooLarge { attempts, message } => {
                // Permanent: not retried; the records still go to the error output
                // rather than nowhere.
                fail_http(
                    f,
                    endpoint,
                    &records,
                    oldest,
                    attempts,
                    crate::http_endpoint::error_code::DESTINATION_EXCEPTION,
                    &message,
                    &mut errors,
                );
            }
            HttpOutcome::Failed {
                attempts,
                error_code,
                message,
            } => {
                fail_http(
                    f,
                    endpoint,
                    &records,
                    oldest,
                    attempts,
                    error_code,
                    &message,
                    &mut errors,
                );
            }
        }
    }
    count_errors(f, errors.len());

    let mut objects = match error_objects(f.config, &intent.seed, errors) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(delivery_stream = %f.config.name, error = %e, "cannot build the error output");
            return false;
        }
    };
    if f.config.destination.s3_backup_mode == "AllData" {
        match backup_object(f.config, &intent.seed, raw, true) {
            Ok(o) => objects.extend(o),
            Err(e) => {
                tracing::error!(delivery_stream = %f.config.name, error = %e, "cannot build the backup");
                return false;
            }
        }
    }
    if !put_all(f, &objects).await {
        return false;
    }
    commit(f, &intent.positions_after).await
}

async fn deliver_postgres(
    f: &Flush<'_>,
    intent: Intent,
    raw: &[Item],
    mut processed: Processed,
    target: &PgTarget,
    conn: &mut Option<Box<PgSink>>,
) -> bool {
    let (records, oldest) = flatten(&mut processed);
    let mut errors = std::mem::take(&mut processed.errors);
    let Ok(position) = serde_json::to_vec(&intent.positions_after) else {
        return false;
    };
    // The intent (ranges, positions, seed) first: after a crash the batch is rebuilt
    // and the database's committed position says whether it went in.
    let Ok(bytes) = serde_json::to_vec(&intent) else {
        return false;
    };
    if blocking(f, vec![StateChange::Put(intent_key(&f.config.name), bytes)])
        .await
        .is_err()
    {
        return false;
    }
    let started = Instant::now();
    let budget = target.retry_duration();
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    let name = f.config.name.clone();
    loop {
        attempts += 1;
        let result = match conn.as_mut() {
            Some(c) => deliver_once(c, &name, &records, &position).await,
            None => match PgSink::connect(target).await {
                Ok(c) => deliver_once(conn.insert(Box::new(c)), &name, &records, &position).await,
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(refused) => {
                let ended = now_ms();
                for r in refused {
                    if let Some(data) = records.get(r.index) {
                        errors.push(ErrorRecord {
                            output_type: REDSHIFT_FAILED,
                            line: crate::postgres::failed_line(data, &r, attempts, oldest, ended),
                            arrival_ms: oldest,
                        });
                    }
                }
                break;
            }
            Err(e) => {
                f.stats.failures.fetch_add(1, Ordering::Relaxed);
                if matches!(e, PgError::Transient(_)) {
                    *conn = None;
                }
                tracing::warn!(delivery_stream = %name, target = %target.describe(), error = %pg_message(&e), "delivery failed; retrying");
                if started.elapsed() >= budget {
                    // Past the retry duration: the buffer goes to the error output
                    // (the database's position does not move; the catalog's does).
                    let message = pg_message(&e).to_string();
                    for r in &records {
                        errors.push(ErrorRecord {
                            output_type: REDSHIFT_FAILED,
                            line: error_line(
                                "Redshift.DeliveryFailed",
                                &message,
                                r,
                                oldest,
                                attempts,
                            ),
                            arrival_ms: oldest,
                        });
                    }
                    break;
                }
                if f.stop.sleep(backoff).await {
                    return false;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    count_errors(f, errors.len());
    let mut objects = match error_objects(f.config, &intent.seed, errors) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(delivery_stream = %name, error = %e, "cannot build the error output");
            return false;
        }
    };
    if f.config.destination.s3_backup_mode == "Enabled" {
        match backup_object(f.config, &intent.seed, raw, false) {
            Ok(o) => objects.extend(o),
            Err(e) => {
                tracing::error!(delivery_stream = %name, error = %e, "cannot build the backup");
                return false;
            }
        }
    }
    if !put_all(f, &objects).await {
        return false;
    }
    f.stats.objects.fetch_add(1, Ordering::Relaxed);
    commit(f, &intent.positions_after).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_uuids_are_stable_and_shaped() {
        let a = derived_uuid("seed", "data/");
        assert_eq!(a, derived_uuid("seed", "data/"));
        assert_ne!(a, derived_uuid("seed", "data/k=v;"));
        assert_ne!(a, derived_uuid("other", "data/"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn naming_keys_use_derived_randoms() {
        let k = ObjectKey::new("s", 1, 0, &derived_uuid("x", "y"), "").key(None);
        assert!(
            k.starts_with("1970/01/01/00/s-1-1970-01-01-00-00-00-"),
            "{k}"
        );
    }
}
