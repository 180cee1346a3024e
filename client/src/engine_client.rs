//! [`KinesisApi`] in-process over a [`freshet_storage::Engine`]: no network, the same
//! operations and errors as the HTTP client.

use std::collections::BTreeMap;

use freshet_storage::{
    CreateStream, Engine, PutRecordInput, SequenceNumber, ShardDescription, StartingPosition,
};

use crate::api::{ApiFuture, KinesisApi};
use crate::error::{Error, Result};
use crate::types::*;

/// Runs a blocking engine call on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, freshet_storage::Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("engine task failed: {e}")))?
        .map_err(Error::from)
}

/// An in-process client over an open engine. Its shard iterators are plain tokens
/// (`stream`, shard index, offset) that do not expire.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use freshet_client::{EngineClient, KinesisApi, PutRecordsEntry, ShardIteratorType};
/// let dir = tempfile::tempdir()?;
/// let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new(dir.path()))?;
/// let api = EngineClient::new(engine);
/// api.create_stream("s", 1).await?;
/// let put = api.put_record("s", PutRecordsEntry::new("k", "v")).await?;
/// let it = api.get_shard_iterator("s", &put.shard_id, ShardIteratorType::TrimHorizon).await?;
/// let got = api.get_records(&it, None).await?;
/// assert_eq!(&got.records[0].data[..], b"v");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EngineClient {
    engine: Engine,
    arn_prefix: String,
}

impl std::fmt::Debug for EngineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineClient").finish_non_exhaustive()
    }
}

impl EngineClient {
    /// A client over `engine`.
    pub fn new(engine: Engine) -> Self {
        EngineClient {
            engine,
            arn_prefix: "arn:aws:kinesis:us-east-1:000000000000:stream/".into(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The iterator token: `v1:<shard index>:<offset>:<stream>`.
fn encode_iterator(stream: &str, shard_index: u64, offset: u64) -> String {
    format!("v1:{shard_index}:{offset}:{stream}")
}

fn decode_iterator(it: &str) -> Result<(String, u64, u64)> {
    let bad = || Error::InvalidArgument(format!("Invalid ShardIterator: {it}"));
    let mut parts = it.splitn(4, ':');
    if parts.next() != Some("v1") {
        return Err(bad());
    }
    let shard = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let offset = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let stream = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    Ok((stream.to_string(), shard, offset))
}

fn shard_of(d: &ShardDescription) -> Shard {
    Shard {
        shard_id: d.shard_id.clone(),
        parent_shard_id: d.parent_shard_id.clone(),
        adjacent_parent_shard_id: d.adjacent_parent_shard_id.clone(),
        hash_key_range: d.range,
        starting_sequence_number: d.starting_sequence_number.to_string(),
        ending_sequence_number: d.ending_sequence_number.map(|s| s.to_string()),
    }
}

fn input_of(e: PutRecordsEntry) -> PutRecordInput {
    PutRecordInput {
        partition_key: e.partition_key.into(),
        explicit_hash_key: e.explicit_hash_key,
        data: e.data,
    }
}

fn parse_seq(s: &str) -> Result<SequenceNumber> {
    s.parse::<SequenceNumber>()
        .map_err(|_| Error::InvalidArgument(format!("Invalid StartingSequenceNumber: {s}")))
}

impl KinesisApi for EngineClient {
    fn create_stream<'a>(&'a self, stream: &'a str, shard_count: u32) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let req = CreateStream::new(stream, shard_count);
        Box::pin(async move { blocking(move || engine.create_stream(req).map(|_| ())).await })
    }

    fn delete_stream<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move { blocking(move || engine.delete_stream(&name)).await })
    }

    fn describe_stream_summary<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, StreamSummary> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move {
            let d = blocking(move || engine.describe_stream(&name)).await?;
            Ok(StreamSummary {
                stream_arn: format!("{}{}", self.arn_prefix, d.name),
                stream_name: d.name.clone(),
                stream_status: StreamStatus::parse(d.status.as_str()),
                retention_period_hours: d.retention_hours,
                open_shard_count: u32::try_from(d.open_shard_count()).unwrap_or(u32::MAX),
                creation_ms: d.created_ms,
                stream_mode: match d.mode {
                    freshet_storage::StreamMode::OnDemand => "ON_DEMAND".into(),
                    _ => "PROVISIONED".into(),
                },
                encryption_type: d
                    .encryption
                    .as_ref()
                    .map_or_else(|| "NONE".to_string(), |e| e.encryption_type.clone()),
            })
        })
    }

    fn list_streams(&self) -> ApiFuture<'_, Vec<String>> {
        let engine = self.engine.clone();
        Box::pin(async move { blocking(move || engine.list_streams()).await })
    }

    fn list_shards<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, Vec<Shard>> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move {
            let d = blocking(move || engine.describe_stream(&name)).await?;
            Ok(d.shards.iter().map(shard_of).collect())
        })
    }

    fn put_record<'a>(
        &'a self,
        stream: &'a str,
        entry: PutRecordsEntry,
    ) -> ApiFuture<'a, PutRecordOutput> {
        Box::pin(async move {
            let mut out = self.put_records(stream, vec![entry]).await?;
            match out.records.pop() {
                Some(Ok(o)) => Ok(o),
                Some(Err(e)) if e.is_throttling() => Err(Error::Throttled(e.error_message)),
                Some(Err(e)) => Err(Error::Internal(e.error_message)),
                None => Err(Error::Internal("no result".into())),
            }
        })
    }

    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        entries: Vec<PutRecordsEntry>,
    ) -> ApiFuture<'a, PutRecordsOutput> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move {
            let inputs: Vec<PutRecordInput> = entries.into_iter().map(input_of).collect();
            let results = blocking(move || engine.put_records(&name, inputs)).await?;
            let records: Vec<Result<PutRecordOutput, RecordError>> = results
                .into_iter()
                .map(|r| {
                    r.map(|o| PutRecordOutput {
                        shard_id: o.shard_id.to_string(),
                        sequence_number: o.sequence_number.to_string(),
                    })
                    .map_err(|f| RecordError {
                        error_code: f.error_code,
                        error_message: f.message,
                    })
                })
                .collect();
            Ok(PutRecordsOutput {
                failed_record_count: records.iter().filter(|r| r.is_err()).count(),
                records,
            })
        })
    }

    fn get_shard_iterator<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> ApiFuture<'a, String> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        let shard = shard_id.to_string();
        Box::pin(async move {
            let index = freshet_storage::parse_shard_id(&shard).ok_or_else(|| {
                Error::ResourceNotFound(format!("Shard {shard} in stream {name} not found"))
            })?;
            let pos = match position {
                ShardIteratorType::TrimHorizon => StartingPosition::TrimHorizon,
                ShardIteratorType::Latest => StartingPosition::Latest,
                ShardIteratorType::AtSequenceNumber(s) => {
                    StartingPosition::AtSequenceNumber(parse_seq(&s)?)
                }
                ShardIteratorType::AfterSequenceNumber(s) => {
                    StartingPosition::AfterSequenceNumber(parse_seq(&s)?)
                }
                ShardIteratorType::AtTimestamp(ms) => StartingPosition::AtTimestamp(ms),
            };
            let name2 = name.clone();
            let offset = blocking(move || engine.start_offset(&name2, &shard, pos)).await?;
            Ok(encode_iterator(&name, index, offset))
        })
    }

    fn get_records<'a>(
        &'a self,
        shard_iterator: &'a str,
        limit: Option<u32>,
    ) -> ApiFuture<'a, GetRecordsOutput> {
        let engine = self.engine.clone();
        Box::pin(async move {
            let (stream, index, offset) = decode_iterator(shard_iterator)?;
            let max = limit.map_or(freshet_storage::MAX_READ_RECORDS, |l| l as usize);
            let name = stream.clone();
            let got = blocking(move || {
                engine.read(
                    &name,
                    &freshet_storage::shard_id(index),
                    offset,
                    max,
                    freshet_storage::MAX_READ_BYTES,
                )
            })
            .await?;
            let next = match &got.child_shards {
                Some(_) => None,
                None => Some(encode_iterator(&stream, index, got.next_offset)),
            };
            Ok(GetRecordsOutput {
                records: got
                    .records
                    .into_iter()
                    .map(|r| Record {
                        sequence_number: r.sequence_number.to_string(),
                        approximate_arrival_ms: Some(r.arrival_ms),
                        partition_key: r.partition_key_str().to_string(),
                        data: r.data,
                    })
                    .collect(),
                next_shard_iterator: next,
                millis_behind_latest: Some(got.millis_behind_latest),
                child_shards: got.child_shards.map(|cs| {
                    cs.into_iter()
                        .map(|c| ChildShard {
                            shard_id: c.shard_id,
                            parent_shards: c.parent_shards,
                            hash_key_range: c.range,
                        })
                        .collect()
                }),
            })
        })
    }

    fn split_shard<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        new_starting_hash_key: u128,
    ) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let (name, shard) = (stream.to_string(), shard_id.to_string());
        Box::pin(async move {
            blocking(move || engine.split_shard(&name, &shard, new_starting_hash_key)).await
        })
    }

    fn merge_shards<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        adjacent_shard_id: &'a str,
    ) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let (name, a, b) = (
            stream.to_string(),
            shard_id.to_string(),
            adjacent_shard_id.to_string(),
        );
        Box::pin(async move { blocking(move || engine.merge_shards(&name, &a, &b)).await })
    }

    fn update_shard_count<'a>(
        &'a self,
        stream: &'a str,
        target: u32,
    ) -> ApiFuture<'a, UpdateShardCountOutput> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move {
            let u = blocking(move || engine.update_shard_count(&name, target)).await?;
            Ok(UpdateShardCountOutput {
                current_shard_count: u32::try_from(u.current).unwrap_or(u32::MAX),
                target_shard_count: u32::try_from(u.target).unwrap_or(u32::MAX),
            })
        })
    }

    fn set_retention_period<'a>(
        &'a self,
        stream: &'a str,
        hours: u32,
        increase: bool,
    ) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(
            async move { blocking(move || engine.set_retention(&name, hours, increase)).await },
        )
    }

    fn add_tags<'a>(
        &'a self,
        stream: &'a str,
        tags: BTreeMap<String, String>,
    ) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move { blocking(move || engine.add_tags(&name, tags)).await })
    }

    fn list_tags<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, BTreeMap<String, String>> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move { blocking(move || engine.list_tags(&name)).await })
    }

    fn remove_tags<'a>(&'a self, stream: &'a str, keys: Vec<String>) -> ApiFuture<'a, ()> {
        let engine = self.engine.clone();
        let name = stream.to_string();
        Box::pin(async move { blocking(move || engine.remove_tags(&name, &keys)).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterator_tokens_round_trip() {
        let t = encode_iterator("a.b-c_d", 7, 42);
        assert_eq!(decode_iterator(&t).unwrap(), ("a.b-c_d".into(), 7, 42));
        for bad in ["", "v1", "v1:x:1:s", "v2:1:1:s", "v1:1:1:", "v1:1:-1:s"] {
            assert!(decode_iterator(bad).is_err(), "{bad}");
        }
    }
}
