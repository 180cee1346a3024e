//! `freshet tail`: prints a stream's records as kcat does, KPL aggregates taken apart.
//!
//! Without `--shard` it reads every shard and follows lineage as the KCL does: a child
//! shard is read only after each of its parents being read has been drained to its
//! end, so the records of a partition key come out in order across splits and merges.
//! Shards are read concurrently (each shard's records in order; shards interleave).
//! Without `--follow` an open shard is done once a read returns nothing at the tip
//! (MillisBehindLatest 0), a closed one at its end; with it, empty reads back off up to
//! a second and throttling backs off up to five.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::{Args, ValueEnum};
use freshet_client::aggregation::{deaggregate_in_range, UserRecord};
use freshet_client::{Error, KinesisApi, Shard, ShardIteratorType};
use freshet_kcl::compare_sequence;
use tokio::sync::mpsc;

use super::endpoint::{Connection, Remote};
use super::output::{self, Format};
use super::{Failure, Outcome};

/// Records asked of one GetRecords.
const GET_LIMIT: u32 = 10_000;
/// Back-off after an empty read while following: first and longest wait.
const IDLE_MIN: Duration = Duration::from_millis(100);
const IDLE_MAX: Duration = Duration::from_secs(1);
/// Back-off after ProvisionedThroughputExceeded: first and longest wait.
const THROTTLE_MIN: Duration = Duration::from_millis(200);
const THROTTLE_MAX: Duration = Duration::from_secs(5);

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// The oldest retained record.
    TrimHorizon,
    /// After the newest record: only records put from now on.
    Latest,
    /// The first record that arrived at or after `--at` (RFC 3339 time or epoch
    /// seconds).
    Timestamp,
    /// The record with sequence number `--at` (its shard is found unless `--shard`
    /// names it), then that shard's descendants.
    Sequence,
}

/// Options of `freshet tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// The stream.
    pub stream: String,
    /// Where to start.
    #[arg(long = "from", value_enum, default_value = "trim-horizon")]
    pub from: StartAt,
    /// The time (`2026-11-30T12:00:00Z`, or seconds since the epoch) of `--from
    /// timestamp`, or the sequence number of `--from sequence`.
    #[arg(long, value_name = "TIME|SEQUENCE")]
    pub at: Option<String>,
    /// Keep reading as records arrive (follows splits and merges), until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Read only this shard (`shardId-000000000001`, or `1`), not its children.
    #[arg(long, value_name = "ID")]
    pub shard: Option<String>,
    /// How each record is printed.
    #[arg(long, value_enum, default_value = "raw")]
    pub format: Format,
    /// Stop after this many records.
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet tail`.
pub const TAIL_HELP: &str = help_with_exit_codes!(
    "Records are printed as they are read, KPL aggregates taken apart (json shows each \
     record's subSequence). Without --shard every shard is read, parents before children, \
     so each partition key's records come in order across splits and merges. Without \
     --follow it stops once every open shard is caught up. A closed pipe (| head) ends it \
     quietly.\n\n\
     Examples:\n  \
     freshet tail events\n  \
     freshet tail events --follow --format json | jq .data\n  \
     freshet tail events --from timestamp --at 2026-11-30T12:00:00Z --limit 10\n  \
     freshet tail events --shard 1 --from latest -f --format hex"
);

/// The starting position, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    TrimHorizon,
    Latest,
    Timestamp(i64),
    Sequence(String),
}

impl Position {
    fn of(args: &TailArgs) -> Result<Position, Failure> {
        let at = args.at.as_deref().map(str::trim);
        match (args.from, at) {
            (StartAt::TrimHorizon, None) => Ok(Position::TrimHorizon),
            (StartAt::Latest, None) => Ok(Position::Latest),
            (StartAt::TrimHorizon | StartAt::Latest, Some(_)) => Err(Failure::usage(
                "--at goes with --from timestamp or --from sequence",
            )),
            (StartAt::Timestamp, Some(t)) => parse_time(t).map(Position::Timestamp).ok_or_else(|| {
                Failure::usage(format!(
                    "--at {t:?} is not a time: give RFC 3339 (2026-11-30T12:00:00Z) or seconds since the epoch"
                ))
            }),
            (StartAt::Sequence, Some(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Position::Sequence(s.to_string()))
            }
            (StartAt::Sequence, Some(s)) => Err(Failure::usage(format!(
                "--at {s:?} is not a sequence number (decimal digits)"
            ))),
            (StartAt::Timestamp | StartAt::Sequence, None) => Err(Failure::usage(
                "--from timestamp and --from sequence need --at",
            )),
        }
    }

    /// The iterator position of a shard read from the start.
    fn first(&self) -> ShardIteratorType {
        match self {
            Position::TrimHorizon => ShardIteratorType::TrimHorizon,
            Position::Latest => ShardIteratorType::Latest,
            Position::Timestamp(ms) => ShardIteratorType::AtTimestamp(*ms),
            Position::Sequence(s) => ShardIteratorType::AtSequenceNumber(s.clone()),
        }
    }

    /// The iterator position of a child shard, read once its parents are drained.
    fn child(&self) -> ShardIteratorType {
        match self {
            Position::Timestamp(ms) => ShardIteratorType::AtTimestamp(*ms),
            _ => ShardIteratorType::TrimHorizon,
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (a time without an offset is
/// UTC; a date alone is its midnight UTC) or of seconds since the epoch.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// `1` as `shardId-000000000001`; anything else as given.
fn shard_id(given: &str) -> String {
    match given.parse::<u64>() {
        Ok(n) if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) => {
            format!("shardId-{n:012}")
        }
        _ => given.to_string(),
    }
}

/// What a shard reader tells the coordinator.
enum Event {
    /// Records of a shard, in order.
    Records {
        shard: String,
        records: Vec<UserRecord>,
    },
    /// A closed shard was read to its end.
    Ended { shard: String },
    /// An open shard is caught up (without `--follow`).
    CaughtUp { shard: String },
    /// Reading failed.
    Failed(Failure),
}

/// How far a tracked shard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Reading,
    Done,
}

#[derive(Debug)]
struct Tracked {
    shard: Shard,
    /// Parents that are tracked too (a child waits for them).
    parents: Vec<String>,
    start: ShardIteratorType,
    state: State,
}

/// The shards being read and the order they may be read in.
#[derive(Debug, Default)]
struct Lineage {
    shards: BTreeMap<String, Tracked>,
}

impl Lineage {
    fn add(&mut self, shard: Shard, start: ShardIteratorType) {
        let parents = [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
            .filter(|p| self.shards.contains_key(*p))
            .cloned()
            .collect();
        self.shards.insert(
            shard.shard_id.clone(),
            Tracked {
                shard,
                parents,
                start,
                state: State::Waiting,
            },
        );
    }

    /// Adds every shard of `all` (in lineage order: parents first).
    fn add_all(&mut self, mut all: Vec<Shard>, start: impl Fn(&Shard) -> ShardIteratorType) {
        // Parents first: repeatedly take the shards whose parents are not waiting in
        // the list (bounded by the list's length).
        for _ in 0..=all.len() {
            if all.is_empty() {
                break;
            }
            let pending: std::collections::BTreeSet<String> =
                all.iter().map(|s| s.shard_id.clone()).collect();
            let (ready, rest): (Vec<Shard>, Vec<Shard>) = all.into_iter().partition(|s| {
                [&s.parent_shard_id, &s.adjacent_parent_shard_id]
                    .into_iter()
                    .flatten()
                    .all(|p| !pending.contains(p))
            });
            for s in ready {
                let position = start(&s);
                self.add(s, position);
            }
            all = rest;
        }
        // A cycle in a bad answer: add the rest without waiting.
        for s in all {
            let position = start(&s);
            self.add(s, position);
        }
    }

    /// Shards whose tracked parents are all done and that are not started yet; marks
    /// them reading.
    fn take_ready(&mut self) -> Vec<(Shard, ShardIteratorType)> {
        let done: std::collections::BTreeSet<String> = self
            .shards
            .iter()
            .filter(|(_, t)| t.state == State::Done)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for t in self.shards.values_mut() {
            if t.state == State::Waiting && t.parents.iter().all(|p| done.contains(p)) {
                t.state = State::Reading;
                out.push((t.shard.clone(), t.start.clone()));
            }
        }
        out
    }

    fn finish(&mut self, shard: &str) {
        if let Some(t) = self.shards.get_mut(shard) {
            t.state = State::Done;
        }
    }

    fn reading(&self) -> usize {
        self.shards
            .values()
            .filter(|t| t.state == State::Reading)
            .count()
    }
}

/// Writes records to stdout in a format, up to a limit.
struct Printer {
    format: Format,
    limit: Option<u64>,
    printed: u64,
    buf: Vec<u8>,
}

impl Printer {
    /// Prints records; `Ok(false)` once there is nothing more to print (the limit is
    /// reached or stdout is closed).
    fn print(&mut self, shard: &str, records: &[UserRecord]) -> Result<bool, Failure> {
        self.buf.clear();
        for r in records {
            if self.limit.is_some_and(|l| self.printed >= l) {
                break;
            }
            output::format_record(self.format, shard, r, &mut self.buf);
            self.printed += 1;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&self.buf).and_then(|()| out.flush()) {
            output::stdout_error(e)?;
            return Ok(false);
        }
        Ok(self.limit.is_none_or(|l| self.printed < l))
    }
}

/// `freshet tail`.
pub async fn run(args: TailArgs) -> Outcome {
    let position = Position::of(&args)?;
    let remote = Remote::connect(&args.conn).await?;
    let stream = args.stream.clone();
    remote.summary(&stream).await?;
    let shards = list_shards(&remote, &stream).await?;
    let mut lineage = Lineage::default();
    // Whether children are followed when a shard ends.
    let mut follow_children = true;
    match (&args.shard, &position) {
        (Some(given), _) => {
            let id = shard_id(given);
            let shard = shards
                .iter()
                .find(|s| s.shard_id == id)
                .cloned()
                .ok_or_else(|| {
                    Failure::not_found(format!(
                        "shard {id:?} not found in stream {stream:?} at {}",
                        remote.endpoint
                    ))
                })?;
            lineage.add(shard, position.first());
            follow_children = false;
        }
        (None, Position::Sequence(seq)) => {
            let shard = shard_holding(&remote, &stream, &shards, seq).await?;
            lineage.add(shard, position.first());
        }
        (None, Position::Latest) => {
            let open: Vec<Shard> = shards.into_iter().filter(Shard::is_open).collect();
            lineage.add_all(open, |_| ShardIteratorType::Latest);
        }
        (None, _) => lineage.add_all(shards, |_| position.first()),
    }

    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut readers = tokio::task::JoinSet::new();
    let mut printer = Printer {
        format: args.format,
        limit: args.limit,
        printed: 0,
        buf: Vec::new(),
    };
    loop {
        for (shard, start) in lineage.take_ready() {
            readers.spawn(read_shard(
                remote.clone(),
                stream.clone(),
                shard,
                start,
                args.follow,
                tx.clone(),
            ));
        }
        if lineage.reading() == 0 {
            return Ok(());
        }
        let Some(event) = rx.recv().await else {
            return Ok(());
        };
        match event {
            Event::Records { shard, records } => {
                if !printer.print(&shard, &records)? {
                    return Ok(());
                }
            }
            Event::CaughtUp { shard } => lineage.finish(&shard),
            Event::Ended { shard } => {
                lineage.finish(&shard);
                if follow_children {
                    let now = list_shards(&remote, &stream).await?;
                    let children: Vec<Shard> = now
                        .into_iter()
                        .filter(|s| !lineage.shards.contains_key(&s.shard_id))
                        .filter(|s| {
                            s.parent_shard_id.as_deref() == Some(&shard)
                                || s.adjacent_parent_shard_id.as_deref() == Some(&shard)
                        })
                        .collect();
                    lineage.add_all(children, |_| position.child());
                }
            }
            Event::Failed(f) => return Err(f),
        }
    }
}

async fn list_shards(remote: &Remote, stream: &str) -> Result<Vec<Shard>, Failure> {
    remote.client.list_shards(stream).await.map_err(|e| {
        remote.fail(
            e,
            &format!("listing the shards of {stream:?}"),
            Some(stream),
        )
    })
}

/// The shard that holds sequence number `seq`: the first whose sequence range covers
/// it and that accepts an iterator at it.
async fn shard_holding(
    remote: &Remote,
    stream: &str,
    shards: &[Shard],
    seq: &str,
) -> Result<Shard, Failure> {
    use std::cmp::Ordering::Greater;
    for s in shards {
        let after_start =
            compare_sequence(seq, &s.starting_sequence_number) != std::cmp::Ordering::Less;
        let before_end = s
            .ending_sequence_number
            .as_deref()
            .is_none_or(|end| compare_sequence(seq, end) != Greater);
        if !(after_start && before_end) {
            continue;
        }
        let at = ShardIteratorType::AtSequenceNumber(seq.to_string());
        match remote
            .client
            .get_shard_iterator(stream, &s.shard_id, at)
            .await
        {
            Ok(_) => return Ok(s.clone()),
            Err(Error::InvalidArgument(_) | Error::ResourceNotFound(_)) => continue,
            Err(e) => {
                return Err(remote.fail(e, &format!("finding sequence number {seq}"), Some(stream)))
            }
        }
    }
    Err(Failure::not_found(format!(
        "no shard of stream {stream:?} holds sequence number {seq} (expired, or from another stream?)"
    )))
}

/// A shard iterator, waiting out throttling.
async fn iterator_at(
    remote: &Remote,
    stream: &str,
    shard: &str,
    at: ShardIteratorType,
) -> Result<String, Failure> {
    let mut wait = THROTTLE_MIN;
    loop {
        match remote
            .client
            .get_shard_iterator(stream, shard, at.clone())
            .await
        {
            Ok(it) => return Ok(it),
            Err(Error::Throttled(_)) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(THROTTLE_MAX);
            }
            Err(Error::InvalidArgument(m)) => {
                return Err(Failure::failed(format!(
                    "cannot start reading shard {shard} of {stream:?} there: {m}"
                )))
            }
            Err(e) => {
                return Err(remote.fail(
                    e,
                    &format!("starting to read shard {shard} of {stream:?}"),
                    Some(stream),
                ))
            }
        }
    }
}

/// Reads one shard and tells the coordinator how it ended.
async fn read_shard(
    remote: Remote,
    stream: String,
    shard: Shard,
    start: ShardIteratorType,
    follow: bool,
    tx: mpsc::Sender<Event>,
) {
    let last = match read_loop(&remote, &stream, &shard, start, follow, &tx).await {
        Ok(Some(event)) => event,
        Ok(None) => return,
        Err(f) => Event::Failed(f),
    };
    let _ = tx.send(last).await;
}

/// The read loop of one shard: `Ok(None)` when the coordinator is gone.
async fn read_loop(
    remote: &Remote,
    stream: &str,
    shard: &Shard,
    start: ShardIteratorType,
    follow: bool,
    tx: &mpsc::Sender<Event>,
) -> Result<Option<Event>, Failure> {
    let id = shard.shard_id.as_str();
    let mut iterator = iterator_at(remote, stream, id, start.clone()).await?;
    let mut last: Option<String> = None;
    let mut idle = IDLE_MIN;
    let mut throttle = THROTTLE_MIN;
    loop {
        let out = match remote.client.get_records(&iterator, Some(GET_LIMIT)).await {
            Ok(out) => {
                throttle = THROTTLE_MIN;
                out
            }
            Err(Error::Throttled(_)) => {
                tokio::time::sleep(throttle).await;
                throttle = (throttle * 2).min(THROTTLE_MAX);
                continue;
            }
            Err(Error::ExpiredIterator(_)) => {
                let at = match &last {
                    Some(seq) => ShardIteratorType::AfterSequenceNumber(seq.clone()),
                    None => start.clone(),
                };
                iterator = iterator_at(remote, stream, id, at).await?;
                continue;
            }
            Err(e) => {
                return Err(remote.fail(
                    e,
                    &format!("reading shard {id} of {stream:?}"),
                    Some(stream),
                ))
            }
        };
        let got = !out.records.is_empty();
        if let Some(r) = out.records.last() {
            last = Some(r.sequence_number.clone());
        }
        let records: Vec<UserRecord> = out
            .records
            .iter()
            .flat_map(|r| deaggregate_in_range(r, &shard.hash_key_range))
            .collect();
        if !records.is_empty() {
            let event = Event::Records {
                shard: id.to_string(),
                records,
            };
            if tx.send(event).await.is_err() {
                return Ok(None);
            }
        }
        match out.next_shard_iterator {
            None => {
                return Ok(Some(Event::Ended {
                    shard: id.to_string(),
                }))
            }
            Some(next) => iterator = next,
        }
        if got {
            idle = IDLE_MIN;
            continue;
        }
        let caught_up = out.millis_behind_latest.is_none_or(|ms| ms == 0);
        if caught_up && !follow && shard.is_open() {
            return Ok(Some(Event::CaughtUp {
                shard: id.to_string(),
            }));
        }
        tokio::time::sleep(idle).await;
        idle = (idle * 2).min(IDLE_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_client::HashKeyRange;

    fn shard(id: &str, parents: &[&str]) -> Shard {
        Shard {
            shard_id: id.into(),
            parent_shard_id: parents.first().map(|p| p.to_string()),
            adjacent_parent_shard_id: parents.get(1).map(|p| p.to_string()),
            hash_key_range: HashKeyRange::FULL,
            starting_sequence_number: "1".into(),
            ending_sequence_number: None,
        }
    }

    #[test]
    fn times_parse_as_rfc3339_or_epoch_seconds() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_time("1970-01-01 00:00:01.5"), Some(1500));
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time("1.25"), Some(1250));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn shard_numbers_are_shard_ids() {
        assert_eq!(shard_id("1"), "shardId-000000000001");
        assert_eq!(shard_id("shardId-000000000007"), "shardId-000000000007");
    }

    #[test]
    fn children_wait_for_every_parent() {
        let mut l = Lineage::default();
        // Children listed before their parents still wait for them.
        l.add_all(
            vec![
                shard("merged", &["left", "right"]),
                shard("left", &["root"]),
                shard("right", &["root"]),
                shard("root", &[]),
            ],
            |_| ShardIteratorType::TrimHorizon,
        );
        let ids = |v: Vec<(Shard, ShardIteratorType)>| -> Vec<String> {
            v.into_iter().map(|(s, _)| s.shard_id).collect()
        };
        assert_eq!(ids(l.take_ready()), ["root"]);
        assert!(l.take_ready().is_empty());
        l.finish("root");
        assert_eq!(ids(l.take_ready()), ["left", "right"]);
        l.finish("left");
        assert!(l.take_ready().is_empty());
        l.finish("right");
        assert_eq!(ids(l.take_ready()), ["merged"]);
    }

    #[test]
    fn positions_need_at_only_where_it_means_something() {
        let args = |from: StartAt, at: Option<&str>| TailArgs {
            stream: "s".into(),
            from,
            at: at.map(str::to_string),
            follow: false,
            shard: None,
            format: Format::Raw,
            limit: None,
            conn: Connection::default(),
        };
        assert_eq!(
            Position::of(&args(StartAt::TrimHorizon, None)),
            Ok(Position::TrimHorizon)
        );
        assert_eq!(
            Position::of(&args(StartAt::Sequence, Some("42"))),
            Ok(Position::Sequence("42".into()))
        );
        for bad in [
            args(StartAt::Latest, Some("1")),
            args(StartAt::Timestamp, None),
            args(StartAt::Timestamp, Some("soon")),
            args(StartAt::Sequence, Some("4x")),
        ] {
            assert_eq!(Position::of(&bad).map_err(|f| f.code()), Err(2));
        }
    }
}
