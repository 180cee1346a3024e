//! A put whose request deadline has passed (the front door has answered, or is about
//! to answer, 503 to the client) is refused before it reaches the engine: the client's
//! retry must not find its records written twice. Both the generic path and the typed
//! JSON fast path check the deadline.

use std::time::{Duration, Instant};

use freshet_kinesis::actions::{dispatch, fast};
use freshet_kinesis::{ApiConfig, KinesisState};
use freshet_protocol::value::{decode, Encoding};
use freshet_storage::{CreateStream, Engine, EngineConfig, StartingPosition};

fn records_in(engine: &Engine) -> usize {
    let mut n = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let from = engine
            .start_offset("s", shard, StartingPosition::TrimHorizon)
            .unwrap_or_else(|e| panic!("{e}"));
        n += engine
            .read("s", shard, from, 10_000, 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"))
            .records
            .len();
    }
    n
}

#[test]
fn puts_past_their_deadline_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::open(EngineConfig::new(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    engine
        .create_stream(CreateStream::new("s", 2))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = KinesisState::new(engine.clone(), ApiConfig::default());
    let past = Instant::now()
        .checked_sub(Duration::from_millis(1))
        .unwrap_or_else(Instant::now);
    let future = Instant::now() + Duration::from_secs(60);

    let put_records = br#"{"StreamName":"s","Records":[{"Data":"aGk=","PartitionKey":"a"},{"Data":"aGk=","PartitionKey":"b"}]}"#;
    let put_record = br#"{"StreamName":"s","Data":"aGk=","PartitionKey":"a"}"#;

    // The typed fast path.
    let fast_reply = fast::try_dispatch(&state, "PutRecords", put_records, past)
        .unwrap_or_else(|| panic!("a plain PutRecords takes the fast path"));
    let e = fast_reply
        .err()
        .unwrap_or_else(|| panic!("accepted past its deadline"));
    assert_eq!((e.kind, e.status), ("ServiceUnavailable", 503));
    // The generic path, both put actions.
    for (action, body) in [
        ("PutRecords", &put_records[..]),
        ("PutRecord", &put_record[..]),
    ] {
        let doc = decode(Encoding::Json, body).unwrap_or_else(|e| panic!("{e:?}"));
        let e = dispatch(&state, action, &doc, past)
            .err()
            .unwrap_or_else(|| panic!("{action} accepted past its deadline"));
        assert_eq!((e.kind, e.status), ("ServiceUnavailable", 503), "{action}");
    }
    assert_eq!(records_in(&engine), 0, "nothing was written");

    // Before the deadline the same requests are written.
    assert!(
        fast::try_dispatch(&state, "PutRecords", put_records, future)
            .unwrap_or_else(|| panic!("fast path"))
            .is_ok()
    );
    let doc = decode(Encoding::Json, put_record).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(dispatch(&state, "PutRecord", &doc, future).is_ok());
    assert_eq!(records_in(&engine), 3);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}
