//! `freshet streams`, `create`, `delete` and `describe`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Args;
use freshet_client::{wait_for_active, KinesisApi, StreamStatus, StreamSummary};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::endpoint::{Connection, Remote};
use super::output::{self, Table};
use super::{Failure, Outcome};

/// How long `create` and `delete` wait for the stream to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The two samples of `/metrics` behind records/s.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Longest wait for one `/metrics` answer.
const METRICS_TIMEOUT: Duration = Duration::from_secs(2);
/// `DescribeStreamSummary` calls in flight at once.
const DESCRIBE_CONCURRENCY: usize = 8;

/// Options of `freshet streams`.
#[derive(Debug, Clone, Args)]
pub struct StreamsArgs {
    /// Do not sample the server's /metrics for records/s (answers at once).
    #[arg(long)]
    pub no_rate: bool,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet streams`.
pub const STREAMS_HELP: &str = help_with_exit_codes!(
    "Records/s is the rate of records written over about a second, from the server's \
     /metrics (\"-\" where the server has none, such as Amazon Kinesis).\n\n\
     Examples:\n  freshet streams\n  freshet streams --no-rate --endpoint http://10.0.0.5:4567"
);

/// Options of `freshet create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The stream's name.
    pub name: String,
    /// Provisioned shards.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    /// An on-demand stream (shards follow the load; `--shards` is ignored).
    #[arg(long)]
    pub on_demand: bool,
    /// Retention, hours (24 to 8760; the server's default when not given).
    #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u32).range(24..=8760))]
    pub retention_hours: Option<u32>,
    /// Return once the server accepted the request, without waiting for ACTIVE.
    #[arg(long)]
    pub no_wait: bool,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet create`.
pub const CREATE_HELP: &str = help_with_exit_codes!(
    "Examples:\n  freshet create events --shards 4\n  freshet create clicks --on-demand \
     --retention-hours 168"
);

/// Options of `freshet delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The stream's name.
    pub name: String,
    /// Delete it even when it has registered consumers (enhanced fan-out).
    #[arg(long)]
    pub force: bool,
    /// Return once the server accepted the request, without waiting for it to go.
    #[arg(long)]
    pub no_wait: bool,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet delete`.
pub const DELETE_HELP: &str = help_with_exit_codes!("Examples:\n  freshet delete events");

/// Options of `freshet describe`.
#[derive(Debug, Clone, Args)]
pub struct DescribeArgs {
    /// The stream's name.
    pub name: String,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet describe`.
pub const DESCRIBE_HELP: &str = help_with_exit_codes!(
    "Shows the stream's summary and its retained shards as a lineage tree: each child \
     under its parent (a merged child under its first parent, and named again under the \
     second), with its state, hash-key range and share of the key space.\n\n\
     Examples:\n  freshet describe events"
);

fn status(s: &StreamStatus) -> String {
    match s {
        StreamStatus::Creating => "CREATING".into(),
        StreamStatus::Active => "ACTIVE".into(),
        StreamStatus::Updating => "UPDATING".into(),
        StreamStatus::Deleting => "DELETING".into(),
        StreamStatus::Other(o) => o.clone(),
        other => format!("{other:?}").to_uppercase(),
    }
}

fn retention(hours: u32) -> String {
    if hours >= 48 && hours.is_multiple_of(24) {
        format!("{} d", hours / 24)
    } else {
        format!("{hours} h")
    }
}

/// `freshet streams`.
pub async fn list(args: StreamsArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let first = if args.no_rate {
        None
    } else {
        let endpoint = remote.endpoint.clone();
        Some(tokio::spawn(async move {
            let at = Instant::now();
            (at, incoming_records(&endpoint).await)
        }))
    };
    let names = remote
        .client
        .list_streams()
        .await
        .map_err(|e| remote.fail(e, "listing streams", None))?;
    let summaries = summaries(&remote, &names).await?;
    let rates = match first {
        None => None,
        Some(task) => match task.await {
            Ok((at, Some(before))) => {
                let wait = RATE_WINDOW.saturating_sub(at.elapsed());
                tokio::time::sleep(wait).await;
                incoming_records(&remote.endpoint).await.map(|after| {
                    let seconds = at.elapsed().as_secs_f64().max(0.001);
                    after
                        .into_iter()
                        .map(|(stream, n)| {
                            let was = before.get(&stream).copied().unwrap_or(0);
                            (stream, n.saturating_sub(was) as f64 / seconds)
                        })
                        .collect::<BTreeMap<String, f64>>()
                })
            }
            _ => None,
        },
    };
    if summaries.is_empty() {
        output::note(&format!("no streams at {}", remote.endpoint));
        return Ok(());
    }
    let mut table = Table::new(&[
        "NAME",
        "STATUS",
        "MODE",
        ">OPEN SHARDS",
        ">RETENTION",
        ">RECORDS/S",
    ]);
    for s in &summaries {
        let rate = match &rates {
            Some(r) => output::rate(r.get(&s.stream_name).copied().unwrap_or(0.0)),
            None => "-".into(),
        };
        table.row(vec![
            s.stream_name.clone(),
            status(&s.stream_status),
            s.stream_mode.clone(),
            s.open_shard_count.to_string(),
            retention(s.retention_period_hours),
            rate,
        ]);
    }
    output::write_stdout(table.render().as_bytes())
}

/// Each stream's summary, a few requests at a time, in name order; streams deleted
/// meanwhile are left out.
async fn summaries(remote: &Remote, names: &[String]) -> Result<Vec<StreamSummary>, Failure> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(DESCRIBE_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let client = remote.client.clone();
        let gate = gate.clone();
        let name = name.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire().await;
            let answer = client.describe_stream_summary(&name).await;
            (name, answer)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, answer) =
            joined.map_err(|e| Failure::failed(format!("describing streams failed: {e}")))?;
        match answer {
            Ok(s) => out.push(s),
            Err(freshet_client::Error::ResourceNotFound(_)) => {}
            Err(e) => return Err(remote.fail(e, &format!("describing stream {name:?}"), None)),
        }
    }
    out.sort_by(|a, b| a.stream_name.cmp(&b.stream_name));
    Ok(out)
}

/// The server's `freshet_incoming_records_total`, summed per stream; `None` when
/// `/metrics` is not there (another Kinesis, HTTPS, a timeout).
async fn incoming_records(endpoint: &str) -> Option<BTreeMap<String, u64>> {
    let uri: http::Uri = format!("{endpoint}/metrics").parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let fetch = async {
        let resp = client.get(uri).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        String::from_utf8(body.to_vec()).ok()
    };
    let text = tokio::time::timeout(METRICS_TIMEOUT, fetch).await.ok()??;
    Some(parse_incoming(&text))
}

/// Sums `freshet_incoming_records_total{stream="...",shard="..."} N` per stream.
fn parse_incoming(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("freshet_incoming_records_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let (Some(stream), Ok(n)) = (label(labels, "stream"), value.trim().parse::<f64>()) else {
            continue;
        };
        *out.entry(stream).or_insert(0) += n.max(0.0) as u64;
    }
    out
}

/// The value of label `name` in a Prometheus label set, unescaped.
fn label(labels: &str, name: &str) -> Option<String> {
    let mut rest = labels;
    loop {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end?;
        if key.trim_start_matches(',').trim() == name {
            return Some(value);
        }
        rest = after.get(end + 1..)?;
    }
}

/// `freshet create`.
pub async fn create(args: CreateArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let name = &args.name;
    let doing = format!("creating stream {name:?}");
    let body = if args.on_demand {
        json!({ "StreamName": name, "StreamModeDetails": { "StreamMode": "ON_DEMAND" } })
    } else {
        json!({ "StreamName": name, "ShardCount": args.shards })
    };
    match remote.client.call("CreateStream", &body).await {
        Ok(_) => {}
        Err(freshet_client::Error::ResourceInUse(_)) => {
            return Err(Failure::failed(format!(
                "stream {name:?} already exists at {}",
                remote.endpoint
            )))
        }
        Err(e) => return Err(remote.fail(e, &doing, None)),
    }
    if args.no_wait {
        return output::write_stdout(format!("creating stream {name:?}\n").as_bytes());
    }
    let summary = wait_for_active(remote.client.as_ref(), name, SETTLE_TIMEOUT)
        .await
        .map_err(|e| remote.fail(e, &format!("waiting for stream {name:?}"), Some(name)))?;
    if let Some(hours) = args.retention_hours {
        if hours != summary.retention_period_hours {
            let increase = hours > summary.retention_period_hours;
            remote
                .client
                .set_retention_period(name, hours, increase)
                .await
                .map_err(|e| {
                    remote.fail(e, &format!("setting the retention of {name:?}"), Some(name))
                })?;
            wait_for_active(remote.client.as_ref(), name, SETTLE_TIMEOUT)
                .await
                .map_err(|e| remote.fail(e, &format!("waiting for stream {name:?}"), Some(name)))?;
        }
    }
    let summary = remote.summary(name).await?;
    let shards = match summary.open_shard_count {
        1 => "1 shard".to_string(),
        n => format!("{n} shards"),
    };
    output::write_stdout(
        format!(
            "created stream {name:?}: {}, {shards}, {} retention, {}\n",
            summary.stream_mode,
            retention(summary.retention_period_hours),
            status(&summary.stream_status)
        )
        .as_bytes(),
    )
}

/// `freshet delete`.
pub async fn delete(args: DeleteArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let name = &args.name;
    let body = json!({ "StreamName": name, "EnforceConsumerDeletion": args.force });
    remote
        .client
        .call("DeleteStream", &body)
        .await
        .map_err(|e| match e {
            freshet_client::Error::ResourceInUse(m) => Failure::failed(format!(
                "cannot delete stream {name:?}: {m} (--force deletes its consumers too)"
            )),
            e => remote.fail(e, &format!("deleting stream {name:?}"), Some(name)),
        })?;
    if !args.no_wait {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            match remote.client.describe_stream_summary(name).await {
                Err(freshet_client::Error::ResourceNotFound(_)) => break,
                Err(e) => return Err(remote.fail(e, &format!("deleting stream {name:?}"), None)),
                Ok(_) if Instant::now() >= deadline => {
                    return Err(Failure::failed(format!(
                        "stream {name:?} is still being deleted after {} s",
                        SETTLE_TIMEOUT.as_secs()
                    )))
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    output::write_stdout(format!("deleted stream {name:?}\n").as_bytes())
}

/// `freshet describe`.
pub async fn describe(args: DescribeArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let name = &args.name;
    let s = remote.summary(name).await?;
    let shards = remote
        .client
        .list_shards(name)
        .await
        .map_err(|e| remote.fail(e, &format!("listing the shards of {name:?}"), Some(name)))?;
    let mut text = String::new();
    let created = if s.creation_ms > 0 {
        output::time_ms(s.creation_ms)
    } else {
        "-".into()
    };
    for (k, v) in [
        ("stream", s.stream_name.clone()),
        ("arn", s.stream_arn.clone()),
        ("status", status(&s.stream_status)),
        ("mode", s.stream_mode.clone()),
        ("open shards", s.open_shard_count.to_string()),
        ("retention", retention(s.retention_period_hours)),
        ("encryption", s.encryption_type.clone()),
        ("created", created),
    ] {
        text.push_str(&format!("{k:<12} {v}\n"));
    }
    text.push('\n');
    let by_id: BTreeMap<&str, &freshet_client::Shard> =
        shards.iter().map(|s| (s.shard_id.as_str(), s)).collect();
    let mut table = Table::new(&[
        "SHARD",
        "STATE",
        ">SHARE",
        ">STARTING HASH KEY",
        ">ENDING HASH KEY",
    ]);
    for line in output::lineage_tree(&shards) {
        let Some(shard) = by_id.get(line.shard_id.as_str()) else {
            continue;
        };
        let label = format!("{}{}", line.prefix, shard.shard_id);
        match &line.drawn_under {
            Some(under) => table.row_with_note(label, format!("(merged; shown under {under})")),
            None => table.row(vec![
                label,
                if shard.is_open() { "open" } else { "closed" }.to_string(),
                format!("{:.1}%", output::share(shard)),
                shard.hash_key_range.start.to_string(),
                shard.hash_key_range.end.to_string(),
            ]),
        }
    }
    text.push_str(&table.render());
    output::write_stdout(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_records_are_summed_per_stream() {
        let text = "# HELP freshet_incoming_records_total Records written to a shard.\n\
            # TYPE freshet_incoming_records_total counter\n\
            freshet_incoming_records_total{stream=\"a\",shard=\"shardId-000000000000\"} 5\n\
            freshet_incoming_records_total{stream=\"a\",shard=\"shardId-000000000001\"} 7\n\
            freshet_incoming_records_total{stream=\"q\\\"x\",shard=\"shardId-000000000000\"} 1\n\
            freshet_incoming_bytes_total{stream=\"a\",shard=\"shardId-000000000000\"} 99\n";
        let sums = parse_incoming(text);
        assert_eq!(sums.get("a"), Some(&12));
        assert_eq!(sums.get("q\"x"), Some(&1));
        assert_eq!(sums.len(), 2);
    }

    #[test]
    fn labels_are_found_by_name() {
        assert_eq!(
            label("stream=\"s\",shard=\"x\"", "shard").as_deref(),
            Some("x")
        );
        assert_eq!(
            label("stream=\"a,b=\\\"c\\\"\"", "stream").as_deref(),
            Some("a,b=\"c\"")
        );
        assert_eq!(label("stream=\"s\"", "shard"), None);
    }
}
