//! `freshet lag`: a KCL application's leases in the server-hosted lease table (owner,
//! checkpoint) and how far each shard is behind: the user records (KPL aggregates taken
//! apart) after the checkpoint, counted by reading them, and the age of the oldest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clap::Args;
use freshet_client::aggregation::deaggregate_in_range;
use freshet_client::{Error, KinesisApi, Shard, ShardIteratorType};
use freshet_kcl::{compare_sequence, Checkpoint, HttpLeaseStore, LeaseStore, StoredLease};

use super::endpoint::{Connection, Remote};
use super::output::{self, thousands, Table};
use super::{Failure, Outcome};

/// Records asked of one GetRecords while counting.
const GET_LIMIT: u32 = 10_000;
/// Longest time spent counting one shard.
const COUNT_TIME: Duration = Duration::from_secs(30);
/// Throttled reads tried again, and the wait before each.
const THROTTLE_RETRIES: u32 = 10;
const THROTTLE_WAIT: Duration = Duration::from_millis(250);

/// Options of `freshet lag`.
#[derive(Debug, Clone, Args)]
pub struct LagArgs {
    /// The KCL application (the name of its lease table).
    pub application: String,
    /// The stream it consumes (else every stream with a lease table of that name).
    #[arg(long, value_name = "NAME")]
    pub stream: Option<String>,
    /// Most records counted per shard; beyond it the count shows as N+.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_count: u64,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet lag`.
pub const LAG_HELP: &str = help_with_exit_codes!(
    "Reads the application's lease table on the server (Freshet's ListLeases; Amazon \
     Kinesis has none) and shows per shard: the worker owning the lease, the checkpoint, \
     the records after it (user records, aggregates taken apart, counted by reading them) \
     and the age of the oldest of them in milliseconds. Shards not leased yet whose \
     parents are leased show as such.\n\n\
     Examples:\n  freshet lag my-app\n  freshet lag my-app --stream events"
);

/// How far one shard is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Behind {
    records: u64,
    /// Counting stopped at `--max-count` or the time limit.
    capped: bool,
    /// Age of the oldest record not processed, ms (0 when none).
    ms: u64,
}

impl Behind {
    const NONE: Behind = Behind {
        records: 0,
        capped: false,
        ms: 0,
    };
}

/// `freshet lag`.
pub async fn run(args: LagArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let app = &args.application;
    let tables: Vec<(String, Vec<StoredLease>)> = match &args.stream {
        Some(stream) => {
            remote.summary(stream).await?;
            let leases = leases(&remote, stream, app).await?;
            if leases.is_empty() {
                return Err(Failure::not_found(format!(
                    "application {app:?} has no leases on stream {stream:?} at {}",
                    remote.endpoint
                )));
            }
            vec![(stream.clone(), leases)]
        }
        None => {
            let streams = remote
                .client
                .list_streams()
                .await
                .map_err(|e| remote.fail(e, "listing streams", None))?;
            let mut found = Vec::new();
            for stream in streams {
                let leases = match leases(&remote, &stream, app).await {
                    Ok(l) => l,
                    // Deleted meanwhile.
                    Err(f) if f.code() == super::EXIT_NOT_FOUND => continue,
                    Err(f) => return Err(f),
                };
                if !leases.is_empty() {
                    found.push((stream, leases));
                }
            }
            if found.is_empty() {
                return Err(Failure::not_found(format!(
                    "no stream at {} has leases of application {app:?}",
                    remote.endpoint
                )));
            }
            found
        }
    };
    let mut text = String::new();
    for (i, (stream, leases)) in tables.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&report(&remote, stream, app, leases, args.max_count).await?);
    }
    output::write_stdout(text.as_bytes())
}

/// The leases of `app` on `stream`.
async fn leases(remote: &Remote, stream: &str, app: &str) -> Result<Vec<StoredLease>, Failure> {
    let store = HttpLeaseStore::with_client((*remote.client).clone(), stream, app);
    store.list().await.map_err(|e| {
        let text = e.to_string();
        if text.contains("ResourceNotFound") {
            remote.stream_not_found(stream)
        } else if text.contains("transport error") || text.contains("timed out") {
            remote.unreachable(&text)
        } else if text.contains("UnknownOperation") {
            Failure::failed(format!(
                "the server at {} keeps no KCL lease tables (it does not know Freshet's \
                 ListLeases): {text}",
                remote.endpoint
            ))
        } else {
            Failure::failed(format!(
                "reading the leases of {app:?} on {stream:?} failed: {text}"
            ))
        }
    })
}

fn checkpoint_text(c: &Checkpoint) -> String {
    match c {
        Checkpoint::TrimHorizon => "TRIM_HORIZON".into(),
        Checkpoint::Latest => "LATEST".into(),
        Checkpoint::AtTimestamp { ms } => format!("AT_TIMESTAMP {}", output::time_ms(*ms)),
        Checkpoint::Sequence(s) if s.sub_sequence > 0 => {
            format!("{}:{}", s.sequence, s.sub_sequence)
        }
        Checkpoint::Sequence(s) => s.sequence.clone(),
        Checkpoint::ShardEnd => "SHARD_END".into(),
        other => format!("{other:?}"),
    }
}

/// One stream's table of leases.
async fn report(
    remote: &Remote,
    stream: &str,
    app: &str,
    leases: &[StoredLease],
    max_count: u64,
) -> Result<String, Failure> {
    let shards: BTreeMap<String, Shard> = remote
        .client
        .list_shards(stream)
        .await
        .map_err(|e| {
            remote.fail(
                e,
                &format!("listing the shards of {stream:?}"),
                Some(stream),
            )
        })?
        .into_iter()
        .map(|s| (s.shard_id.clone(), s))
        .collect();
    // (shard, owner, checkpoint to count from)
    let mut rows: Vec<(String, String, Checkpoint)> = Vec::new();
    let leased: BTreeSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    for l in leases {
        let owner = match (&l.lease.owner, &l.lease.handoff_to) {
            (Some(o), Some(h)) if o != h => format!("{o} (handing over to {h})"),
            (Some(o), _) => o.clone(),
            (None, _) => "-".into(),
        };
        rows.push((l.key.clone(), owner, l.lease.checkpoint.clone()));
    }
    // Children the workers have not leased yet: read from their start once the
    // parents end, so their records are behind too.
    let mut unleased = BTreeSet::new();
    for s in shards.values() {
        let parent_leased = [&s.parent_shard_id, &s.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
            .any(|p| leased.contains(p.as_str()));
        if !leased.contains(s.shard_id.as_str()) && parent_leased {
            unleased.insert(s.shard_id.clone());
            rows.push((s.shard_id.clone(), "-".into(), Checkpoint::TrimHorizon));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));

    let mut tasks = tokio::task::JoinSet::new();
    for (i, (shard, _, checkpoint)) in rows.iter().enumerate() {
        let remote = remote.clone();
        let stream = stream.to_string();
        let shard = shards.get(shard).cloned();
        let checkpoint = checkpoint.clone();
        tasks.spawn(async move {
            let behind = behind(&remote, &stream, shard.as_ref(), &checkpoint, max_count).await;
            (i, behind)
        });
    }
    let mut counted: BTreeMap<usize, Option<Behind>> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, behind) =
            joined.map_err(|e| Failure::failed(format!("counting records failed: {e}")))?;
        counted.insert(i, behind?);
    }

    let owners: BTreeSet<&str> = leases
        .iter()
        .filter_map(|l| l.lease.owner.as_deref())
        .collect();
    let mut total = 0u64;
    let mut total_capped = false;
    let mut table = Table::new(&[
        "SHARD",
        "OWNER",
        "CHECKPOINT",
        ">RECORDS BEHIND",
        ">MS BEHIND",
    ]);
    for (i, (shard, owner, checkpoint)) in rows.iter().enumerate() {
        let behind = counted.get(&i).copied().flatten();
        let checkpoint = if unleased.contains(shard) {
            "(not leased yet)".to_string()
        } else {
            checkpoint_text(checkpoint)
        };
        let (records, ms) = match behind {
            Some(b) => {
                total += b.records;
                total_capped |= b.capped;
                (
                    format!(
                        "{}{}",
                        thousands(b.records),
                        if b.capped { "+" } else { "" }
                    ),
                    thousands(b.ms),
                )
            }
            None => ("-".into(), "-".into()),
        };
        table.row(vec![shard.clone(), owner.clone(), checkpoint, records, ms]);
    }
    let workers = match owners.len() {
        1 => "1 worker".to_string(),
        n => format!("{n} workers"),
    };
    let leases_n = match leases.len() {
        1 => "1 lease".to_string(),
        n => format!("{n} leases"),
    };
    Ok(format!(
        "application {app:?} on stream {stream:?}: {leases_n}, {workers}, {}{} records behind\n{}",
        thousands(total),
        if total_capped { "+" } else { "" },
        table.render()
    ))
}

/// How far the shard is behind `checkpoint`; `None` when it cannot be told (the shard
/// is no longer retained).
async fn behind(
    remote: &Remote,
    stream: &str,
    shard: Option<&Shard>,
    checkpoint: &Checkpoint,
    max_count: u64,
) -> Result<Option<Behind>, Failure> {
    let (start, after) = match checkpoint {
        Checkpoint::ShardEnd | Checkpoint::Latest => return Ok(Some(Behind::NONE)),
        Checkpoint::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
        Checkpoint::AtTimestamp { ms } => (ShardIteratorType::AtTimestamp(*ms), None),
        Checkpoint::Sequence(s) => (
            ShardIteratorType::AtSequenceNumber(s.sequence.clone()),
            Some(s.clone()),
        ),
        _ => return Ok(None),
    };
    let Some(shard) = shard else {
        return Ok(None);
    };
    let doing = format!(
        "counting the records of shard {} of {stream:?}",
        shard.shard_id
    );
    let mut iterator = match with_throttle_retries(|| {
        remote
            .client
            .get_shard_iterator(stream, &shard.shard_id, start.clone())
    })
    .await
    {
        Ok(it) => it,
        // Trimmed meanwhile, or a checkpoint the shard no longer holds.
        Err(Error::ResourceNotFound(_) | Error::InvalidArgument(_)) => return Ok(None),
        Err(e) => return Err(remote.fail(e, &doing, Some(stream))),
    };
    let deadline = Instant::now() + COUNT_TIME;
    let mut count = 0u64;
    let mut oldest: Option<i64> = None;
    loop {
        let out =
            match with_throttle_retries(|| remote.client.get_records(&iterator, Some(GET_LIMIT)))
                .await
            {
                Ok(out) => out,
                Err(e) => return Err(remote.fail(e, &doing, Some(stream))),
            };
        for r in &out.records {
            for u in deaggregate_in_range(r, &shard.hash_key_range) {
                let processed = after.as_ref().is_some_and(|a| {
                    compare_sequence(&u.sequence_number, &a.sequence)
                        .then(u.sub_sequence_number.cmp(&a.sub_sequence))
                        .is_le()
                });
                if processed {
                    continue;
                }
                count += 1;
                if oldest.is_none() {
                    oldest = u.approximate_arrival_ms;
                }
            }
        }
        let capped = count >= max_count || Instant::now() >= deadline;
        let at_tip = out.records.is_empty() && out.millis_behind_latest.is_none_or(|m| m == 0);
        match out.next_shard_iterator {
            Some(next) if !capped && !at_tip => iterator = next,
            _ => {
                let now = chrono::Utc::now().timestamp_millis();
                let ms = oldest.map(|a| u64::try_from(now - a).unwrap_or(0));
                return Ok(Some(Behind {
                    records: count.min(max_count),
                    capped,
                    ms: ms.unwrap_or(0),
                }));
            }
        }
    }
}

/// Runs a call, trying a throttled one again after a pause (a few times).
async fn with_throttle_retries<T, F, Fut>(mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(Error::Throttled(_)) if tries < THROTTLE_RETRIES => {
                tries += 1;
                tokio::time::sleep(THROTTLE_WAIT).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_kcl::ExtendedSequence;

    #[test]
    fn checkpoints_read_as_the_kcl_names_them() {
        assert_eq!(checkpoint_text(&Checkpoint::TrimHorizon), "TRIM_HORIZON");
        assert_eq!(checkpoint_text(&Checkpoint::ShardEnd), "SHARD_END");
        assert_eq!(
            checkpoint_text(&Checkpoint::Sequence(ExtendedSequence::new("42", 0))),
            "42"
        );
        assert_eq!(
            checkpoint_text(&Checkpoint::Sequence(ExtendedSequence::new("42", 3))),
            "42:3"
        );
    }
}
