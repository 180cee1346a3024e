//! Streams a service owns (a delivery stream's buffer): named `{owner}:{name}`, out of
//! `list_streams` and of the shard limit, durable like any stream, refused to plain
//! `create_stream`.

use freshet_storage::{CreateStream, Engine, EngineConfig, Error, PutRecordInput};

#[test]
fn owned_streams_are_apart_from_kinesis_streams_and_survive_reopen() -> freshet_storage::Result<()>
{
    let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    let mut cfg = EngineConfig::new(dir.path());
    cfg.shard_limit = 2;
    let full = Engine::owned_stream("firehose", "orders")?;
    assert_eq!(full, "firehose:orders");
    {
        let engine = Engine::open(cfg.clone())?;
        engine.create_stream(CreateStream::new("plain", 2))?;
        // The shard limit (2, used up) does not apply to owned streams.
        engine.create_owned_stream("firehose", CreateStream::new("orders", 1))?;
        assert!(matches!(
            engine.create_stream(CreateStream::new("firehose:orders2", 1)),
            Err(Error::InvalidStreamName { .. })
        ));
        assert!(matches!(
            engine.create_owned_stream("firehose", CreateStream::new("orders", 1)),
            Err(Error::StreamExists { .. })
        ));
        assert!(matches!(
            engine.create_owned_stream("Firehose", CreateStream::new("x", 1)),
            Err(Error::InvalidServiceName { .. })
        ));
        assert_eq!(engine.list_streams()?, vec!["plain".to_string()]);
        assert_eq!(
            engine.list_owned_streams("firehose")?,
            vec!["orders".to_string()]
        );
        assert_eq!(engine.open_shard_count()?, 2);
        engine.put_record(&full, PutRecordInput::new("k", b"v".to_vec()))?;
        engine.shutdown()?;
    }
    let engine = Engine::open(cfg)?;
    assert_eq!(engine.list_streams()?, vec!["plain".to_string()]);
    assert_eq!(
        engine.list_owned_streams("firehose")?,
        vec!["orders".to_string()]
    );
    let shard = engine.describe_stream(&full)?.shards[0].shard_id.clone();
    let read = engine.read(&full, &shard, 0, 10, 1 << 20)?;
    assert_eq!(read.records.len(), 1);
    assert_eq!(&read.records[0].data[..], b"v");
    engine.delete_stream(&full)?;
    assert!(engine.list_owned_streams("firehose")?.is_empty());
    Ok(())
}
