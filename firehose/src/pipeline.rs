//! What a buffer of records goes through before it is delivered, in Firehose's order:
//! the built-in processors that come first (record deaggregation, decompression), the
//! Lambda transform, partition keys (MetadataExtraction's JQ query, or the transform's
//! `metadata.partitionKeys`), then the processors that come last (a delimiter
//! appended). Records are grouped by partition; each record that fails a step becomes a
//! line of error output (`processing-failed`), never dropped silently.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_protocol::service::Functions;
use serde_json::json;

use crate::naming::error_output_type;
use crate::params::Processing;
use crate::partition::KeyQuery;
use crate::processors::{Builtin, Stage};
use crate::transform::{
    self, KinesisMetadata, LambdaProcessor, Outcome, ProcessingFailure, TransformInput,
};

/// One record on its way through.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its data.
    pub data: Bytes,
    /// When it arrived (ms).
    pub arrival_ms: i64,
    /// Where it came from, for a Kinesis source.
    pub kinesis: Option<KinesisMetadata>,
}

/// Records sharing partition keys (all of them, without dynamic partitioning).
#[derive(Debug, Clone, Default)]
pub struct Partition {
    /// `!{partitionKeyFromQuery:…}` values.
    pub query_keys: BTreeMap<String, String>,
    /// `!{partitionKeyFromLambda:…}` values.
    pub lambda_keys: BTreeMap<String, String>,
    /// The records' data, in order.
    pub records: Vec<Bytes>,
    /// Arrival of its oldest record (ms).
    pub oldest_ms: i64,
}

/// A record that failed, as a line of error output.
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    /// `!{firehose:error-output-type}` (`processing-failed`, ...).
    pub output_type: &'static str,
    /// The JSON line (newline-terminated).
    pub line: Vec<u8>,
    /// When the record arrived (ms).
    pub arrival_ms: i64,
}

/// A buffer after processing.
#[derive(Debug, Default)]
pub struct Processed {
    /// The partitions, in the order their first record came.
    pub partitions: Vec<Partition>,
    /// What failed.
    pub errors: Vec<ErrorRecord>,
    /// Records the transform dropped (`Dropped`).
    pub dropped: u64,
}

impl Processed {
    /// Records that pass as they are, in one partition: (data, arrival ms).
    pub fn whole(records: impl Iterator<Item = (Bytes, i64)>, count: usize) -> Processed {
        let mut datas = Vec::with_capacity(count);
        let mut oldest_ms = i64::MAX;
        for (data, at) in records {
            oldest_ms = oldest_ms.min(at);
            datas.push(data);
        }
        let partitions = if datas.is_empty() {
            Vec::new()
        } else {
            vec![Partition {
                records: datas,
                oldest_ms,
                ..Partition::default()
            }]
        };
        Processed {
            partitions,
            ..Processed::default()
        }
    }
}

/// An error-output line in Firehose's shape.
pub fn error_line(
    code: &str,
    message: &str,
    raw: &[u8],
    arrival_ms: i64,
    attempts: u32,
) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({
        "attemptsMade": attempts,
        "arrivalTimestamp": arrival_ms,
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": now_ms(),
        "rawData": base64_simd::STANDARD.encode_to_string(raw),
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// Milliseconds since the epoch (error records' timestamps).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The processors of a delivery stream, compiled.
pub struct Pipeline {
    before: Vec<Builtin>,
    lambda: Option<LambdaProcessor>,
    query: Option<KeyQuery>,
    after: Vec<Builtin>,
    dynamic: bool,
    functions: Option<Arc<dyn Functions>>,
    stream_arn: String,
    source_arn: Option<String>,
    region: String,
}

/// Where the pipeline's transform calls go and what it says about itself.
pub struct PipelineContext {
    /// The functions service (`None`: a Lambda processor fails every record).
    pub functions: Option<Arc<dyn Functions>>,
    /// The delivery stream's ARN.
    pub stream_arn: String,
    /// The Kinesis source's ARN.
    pub source_arn: Option<String>,
    /// The region.
    pub region: String,
}

impl Pipeline {
    /// Compiles a ProcessingConfiguration (`None` or disabled: records pass as they
    /// are); `dynamic` is whether dynamic partitioning is on.
    pub fn new(
        processing: Option<&Processing>,
        dynamic: bool,
        cx: PipelineContext,
    ) -> Result<Pipeline, String> {
        let mut p = Pipeline {
            before: Vec::new(),
            lambda: None,
            query: None,
            after: Vec::new(),
            dynamic,
            functions: cx.functions,
            stream_arn: cx.stream_arn,
            source_arn: cx.source_arn,
            region: cx.region,
        };
        let Some(processing) = processing.filter(|p| p.is_enabled()) else {
            return Ok(p);
        };
        let mut processors: Vec<_> = processing.processors.iter().collect();
        // Firehose applies them in its own order, whatever the configuration's.
        processors.sort_by_key(|p| Stage::of(&p.kind));
        for proc in processors {
            match proc.kind.as_str() {
                "Lambda" => p.lambda = Some(LambdaProcessor::from_parameters(&proc.parameters)?),
                "MetadataExtraction" => {
                    p.query = Some(KeyQuery::from_parameters(&proc.parameters)?)
                }
                kind => match Builtin::from_processor(kind, &proc.parameters)? {
                    Some(b) if b.stage() < Stage::Lambda => p.before.push(b),
                    Some(b) => p.after.push(b),
                    None => return Err(format!("processor type {kind} is not supported")),
                },
            }
        }
        Ok(p)
    }

    /// Whether records pass unchanged (no processor, no partitioning).
    pub fn is_identity(&self) -> bool {
        self.before.is_empty()
            && self.lambda.is_none()
            && self.query.is_none()
            && self.after.is_empty()
            && !self.dynamic
    }

    /// Runs the records through. `stop` ends transform retries early (the buffer is
    /// then redone).
    pub async fn run(&self, items: Vec<Item>) -> Processed {
        let mut out = Processed::default();
        if self.is_identity() {
            let oldest_ms = items.iter().map(|i| i.arrival_ms).min().unwrap_or(0);
            if !items.is_empty() {
                out.partitions.push(Partition {
                    records: items.into_iter().map(|i| i.data).collect(),
                    oldest_ms,
                    ..Partition::default()
                });
            }
            return out;
        }
        let mut items = self.apply_builtins(&self.before, items, &mut out);
        let mut lambda_keys: Vec<Vec<(String, String)>> = vec![Vec::new(); items.len()];
        if let Some(l) = &self.lambda {
            let (kept, keys) = self.transform(l, items, &mut out).await;
            items = kept;
            lambda_keys = keys;
        }
        // (query keys, transform keys) -> index of the partition.
        type Keys = Vec<(String, String)>;
        let mut groups: BTreeMap<(Keys, Keys), usize> = BTreeMap::new();
        for (item, lkeys) in items.into_iter().zip(lambda_keys) {
            let qkeys = match &self.query {
                Some(q) if self.dynamic => match q.keys(&item.data) {
                    Ok(k) => k,
                    Err(e) => {
                        out.errors.push(ErrorRecord {
                            output_type: error_output_type::PROCESSING_FAILED,
                            line: error_line(
                                crate::partition::METADATA_EXTRACTION_FAILED,
                                &e,
                                &item.data,
                                item.arrival_ms,
                                1,
                            ),
                            arrival_ms: item.arrival_ms,
                        });
                        continue;
                    }
                },
                _ => Vec::new(),
            };
            let lkeys = if self.dynamic { lkeys } else { Vec::new() };
            let datas = match self.after.is_empty() {
                true => vec![item.data.clone()],
                false => match apply_all(&self.after, item.data.clone()) {
                    Ok(d) => d,
                    Err((kind, e)) => {
                        out.errors.push(failed(&item, kind, &e));
                        continue;
                    }
                },
            };
            let next = out.partitions.len();
            let key = (qkeys, lkeys);
            let at = *groups.entry(key.clone()).or_insert(next);
            if at == next {
                out.partitions.push(Partition {
                    query_keys: key.0.into_iter().collect(),
                    lambda_keys: key.1.into_iter().collect(),
                    records: Vec::new(),
                    oldest_ms: item.arrival_ms,
                });
            }
            if let Some(p) = out.partitions.get_mut(at) {
                p.oldest_ms = p.oldest_ms.min(item.arrival_ms);
                p.records.extend(datas);
            }
        }
        out
    }

    fn apply_builtins(
        &self,
        builtins: &[Builtin],
        items: Vec<Item>,
        out: &mut Processed,
    ) -> Vec<Item> {
        if builtins.is_empty() {
            return items;
        }
        let mut next = Vec::with_capacity(items.len());
        for item in items {
            match apply_all(builtins, item.data.clone()) {
                Ok(datas) => next.extend(datas.into_iter().map(|data| Item {
                    data,
                    arrival_ms: item.arrival_ms,
                    kinesis: item.kinesis.clone(),
                })),
                Err((kind, e)) => out.errors.push(failed(&item, kind, &e)),
            }
        }
        next
    }

    /// Runs the Lambda transform over the items, batch by batch (batches in parallel),
    /// with its retries: what it kept (in order) and each kept record's partition keys.
    async fn transform(
        &self,
        l: &LambdaProcessor,
        items: Vec<Item>,
        out: &mut Processed,
    ) -> (Vec<Item>, Vec<Vec<(String, String)>>) {
        let sizes: Vec<usize> = items.iter().map(|i| i.data.len()).collect();
        let batches = transform::batches(&sizes, l.buffer_bytes);
        let mut tasks = tokio::task::JoinSet::new();
        for (n, range) in batches.iter().enumerate() {
            let ids: Vec<String> = range.clone().map(|i| format!("{i:010}")).collect();
            let inputs: Vec<TransformInput<'_>> = range
                .clone()
                .zip(&ids)
                .filter_map(|(i, id)| {
                    items.get(i).map(|it| TransformInput {
                        record_id: id.clone(),
                        arrival_ms: it.arrival_ms,
                        data: &it.data,
                        kinesis: it.kinesis.clone(),
                    })
                })
                .collect();
            let event = Bytes::from(transform::event(
                &uuid::Uuid::new_v4().to_string(),
                &self.stream_arn,
                self.source_arn.as_deref(),
                &self.region,
                &inputs,
            ));
            let functions = self.functions.clone();
            let function = l.function.clone();
            let attempts = l.retries + 1;
            tasks.spawn(async move {
                let mut last = String::new();
                let mut code = transform::RESOURCE_NOT_FOUND;
                for attempt in 1..=attempts {
                    if attempt > 1 {
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                    let Some(f) = &functions else {
                        last = "the functions service is not available".into();
                        break;
                    };
                    match f.invoke(&function, event.clone()).await {
                        Ok(inv) if inv.function_error.is_some() => {
                            code = transform::FUNCTION_ERROR;
                            last = format!(
                                "{} {}",
                                transform::FUNCTION_ERROR_MESSAGE,
                                String::from_utf8_lossy(&inv.payload)
                            );
                        }
                        // A reply is final, readable or not (Firehose retries failed
                        // invocations, not replies).
                        Ok(inv) => {
                            let settled = transform::parse_reply_records(&inv.payload, &ids)
                                .map_err(|e| (e.code, e.message));
                            return (n, settled, attempt);
                        }
                        Err(e) => {
                            code = transform::RESOURCE_NOT_FOUND;
                            last = e;
                        }
                    }
                }
                (n, Err((code, last)), attempts)
            });
        }
        type Settled =
            Result<Vec<Result<Outcome, transform::TransformError>>, (&'static str, String)>;
        let mut results: Vec<Option<(Settled, u32)>> = vec![None; batches.len()];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((n, r, attempts)) = joined {
                if let Some(slot) = results.get_mut(n) {
                    *slot = Some((r, attempts));
                }
            }
        }
        let mut kept = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        let function = l.function.clone();
        for (range, result) in batches.into_iter().zip(results) {
            let (outcomes, attempts) = match result {
                Some((Ok(o), a)) => (Ok(o), a),
                Some((Err(e), a)) => (Err(e), a),
                None => (
                    Err((
                        transform::RESOURCE_NOT_FOUND,
                        "the invocation did not finish".to_string(),
                    )),
                    1,
                ),
            };
            match outcomes {
                Ok(outcomes) => {
                    for (i, outcome) in range.zip(outcomes) {
                        let Some(item) = items.get(i) else { continue };
                        match outcome {
                            Ok(Outcome::Ok {
                                data,
                                partition_keys,
                            }) => {
                                kept.push(Item {
                                    data,
                                    arrival_ms: item.arrival_ms,
                                    kinesis: item.kinesis.clone(),
                                });
                                keys.push(partition_keys);
                            }
                            Ok(Outcome::Dropped) => out.dropped += 1,
                            Err(e) => out.errors.push(ErrorRecord {
                                output_type: error_output_type::PROCESSING_FAILED,
                                line: transform::processing_failed_line(&ProcessingFailure {
                                    attempts_made: attempts,
                                    arrival_ms: item.arrival_ms,
                                    error_code: e.code,
                                    error_message: &e.message,
                                    attempt_ending_ms: now_ms(),
                                    raw_data: &item.data,
                                    lambda_arn: &function,
                                }),
                                arrival_ms: item.arrival_ms,
                            }),
                            Ok(Outcome::ProcessingFailed) => out.errors.push(ErrorRecord {
                                output_type: error_output_type::PROCESSING_FAILED,
                                line: transform::processing_failed_line(&ProcessingFailure {
                                    attempts_made: attempts,
                                    arrival_ms: item.arrival_ms,
                                    error_code: transform::PROCESSING_FAILED_STATUS,
                                    error_message: transform::PROCESSING_FAILED_STATUS_MESSAGE,
                                    attempt_ending_ms: now_ms(),
                                    raw_data: &item.data,
                                    lambda_arn: &function,
                                }),
                                arrival_ms: item.arrival_ms,
                            }),
                        }
                    }
                }
                Err((code, message)) => {
                    for i in range {
                        let Some(item) = items.get(i) else { continue };
                        out.errors.push(ErrorRecord {
                            output_type: error_output_type::PROCESSING_FAILED,
                            line: transform::processing_failed_line(&ProcessingFailure {
                                attempts_made: attempts,
                                arrival_ms: item.arrival_ms,
                                error_code: code,
                                error_message: &message,
                                attempt_ending_ms: now_ms(),
                                raw_data: &item.data,
                                lambda_arn: &function,
                            }),
                            arrival_ms: item.arrival_ms,
                        });
                    }
                }
            }
        }
        (kept, keys)
    }
}

fn failed(item: &Item, output_type: &'static str, message: &str) -> ErrorRecord {
    let code = match output_type {
        crate::processors::DECOMPRESSION_FAILED => "Decompression.Failed",
        _ => "Processor.Failed",
    };
    ErrorRecord {
        output_type,
        line: error_line(code, message, &item.data, item.arrival_ms, 1),
        arrival_ms: item.arrival_ms,
    }
}

/// Applies processors in order to one record.
fn apply_all(builtins: &[Builtin], data: Bytes) -> Result<Vec<Bytes>, (&'static str, String)> {
    let mut datas = vec![data];
    for b in builtins {
        let mut next = Vec::with_capacity(datas.len());
        for d in &datas {
            next.extend(b.apply(d).map_err(|e| (b.error_output_type(), e))?);
        }
        datas = next;
    }
    Ok(datas)
}
