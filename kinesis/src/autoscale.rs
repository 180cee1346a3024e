//! On-demand streams that scale themselves, as AWS's on-demand capacity mode does for
//! writers: a shard that sustains more than a shard's write limits (1 MiB/s or 1,000
//! records/s) for `split_after` is split; two adjacent shards that together stay under
//! half of one shard's limits for `merge_after` are merged, never below the on-demand
//! starting count. Every step is an ordinary SplitShard or MergeShards with lineage, so
//! consumers see it as any resharding.
//!
//! Rates come from the per-shard incoming counters ([`Metrics`](crate::metrics)),
//! sampled once per `interval`. A hot shard is split where its recent writes divide
//! evenly: at the weighted median of the hash keys of its newest records (read back from
//! the log, so the put path pays nothing), falling back to the middle of its range when
//! the records were placed by explicit hash keys the log does not keep. A shard hot
//! with a single key is left alone: no split can spread one key.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use freshet_storage::{hash_key_of, HashKeyRange, ShardDescription, StreamMode};

use crate::limits::{WRITE_BYTES_PER_SEC, WRITE_RECORDS_PER_SEC};
use crate::state::KinesisState;

/// Open shards an on-demand stream starts with and never merges below.
pub const ON_DEMAND_MIN_SHARDS: usize = 4;
/// Newest records read back to choose where a hot shard splits.
const SPLIT_SAMPLE_RECORDS: usize = 1000;

/// When on-demand streams scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingConfig {
    /// Whether on-demand streams scale at all.
    pub enabled: bool,
    /// How long a shard must stay over its write limits before it is split.
    pub split_after: Duration,
    /// How long two adjacent shards must stay cold before they are merged.
    pub merge_after: Duration,
    /// How often rates are sampled and decisions taken.
    pub interval: Duration,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        ScalingConfig {
            enabled: true,
            split_after: Duration::from_secs(60),
            merge_after: Duration::from_secs(3600),
            interval: Duration::from_secs(1),
        }
    }
}

/// One sample of a shard's cumulative incoming counters.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    records: u64,
    bytes: u64,
}

/// What the scaler remembers of a shard.
#[derive(Debug, Default)]
struct ShardWatch {
    /// Samples covering the last `split_after` (oldest first).
    samples: VecDeque<Sample>,
    /// Since when the shard has been cold, ms.
    cold_since: Option<i64>,
    /// Whether it was last seen over its limits.
    hot: bool,
    /// Whether a hot-key refusal was already logged (once per hot spell).
    hot_key_logged: bool,
}

/// A shard's write rate over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Rate {
    records_per_sec: f64,
    bytes_per_sec: f64,
}

impl Rate {
    fn over_limits(&self) -> bool {
        self.records_per_sec > WRITE_RECORDS_PER_SEC as f64
            || self.bytes_per_sec > WRITE_BYTES_PER_SEC as f64
    }

    /// Under half of one shard's limits: two such shards merged stay well inside one.
    fn cold_pair(&self, other: &Rate) -> bool {
        self.records_per_sec + other.records_per_sec <= WRITE_RECORDS_PER_SEC as f64 / 2.0
            && self.bytes_per_sec + other.bytes_per_sec <= WRITE_BYTES_PER_SEC as f64 / 2.0
    }
}

/// Counters of the scaler's decisions, per stream.
#[derive(Debug, Default, Clone)]
struct StreamCounters {
    splits: u64,
    merges: u64,
    hot_shards: u64,
    refused_hot_key: u64,
    refused_shard_limit: u64,
    failed: u64,
}

/// A per-stream series: name, type, help and how to read it.
type CounterSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&StreamCounters) -> u64,
);

/// The on-demand scaler's memory and its counters.
#[derive(Debug, Default)]
pub struct Scaler {
    watches: Mutex<HashMap<(String, u64), ShardWatch>>,
    counters: Mutex<BTreeMap<String, StreamCounters>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A decision for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Split {
        shard: String,
        at: u128,
        why: String,
    },
    Merge {
        shard: String,
        adjacent: String,
        why: String,
    },
}

impl Scaler {
    /// Starts the scaler as an engine job that samples every `cfg.interval`; it holds
    /// the state weakly and ends with it or with the engine's jobs.
    pub fn start(state: &std::sync::Arc<KinesisState>, cfg: ScalingConfig) {
        if !cfg.enabled {
            return;
        }
        let weak: Weak<KinesisState> = std::sync::Arc::downgrade(state);
        let started = state.engine.jobs().spawn_periodic(
            "on-demand-scaling",
            cfg.interval,
            move || match weak.upgrade() {
                Some(state) => {
                    state.scaler.pass(&state, &cfg);
                    Ok(())
                }
                None => Err("the Kinesis service is gone"),
            },
        );
        if let Err(e) = started {
            tracing::warn!(error = %e, "on-demand scaling not started");
        }
    }

    /// One pass over every on-demand stream: sample, decide, act.
    pub fn pass(&self, state: &KinesisState, cfg: &ScalingConfig) {
        let streams = match state.engine.list_streams() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "on-demand scaling: cannot list streams");
                return;
            }
        };
        let now = state.now_ms();
        let mut seen = Vec::new();
        for name in streams {
            let on_demand = state
                .engine
                .stream_summary(&name)
                .is_ok_and(|s| s.mode == StreamMode::OnDemand);
            if !on_demand {
                continue;
            }
            let Ok(d) = state.engine.describe_stream(&name) else {
                continue;
            };
            let open: Vec<&ShardDescription> = d.shards.iter().filter(|s| !s.is_closed()).collect();
            let totals = state.metrics.incoming_totals(&name);
            let rates = self.sample(&name, &open, &totals, now, cfg);
            seen.extend(open.iter().map(|s| (name.clone(), s.index)));
            if let Some(step) = self.decide(state, &name, &open, &rates, now, cfg) {
                self.act(state, &name, step);
            }
        }
        // Shards no longer open (or streams gone) are forgotten.
        let keep: std::collections::HashSet<(String, u64)> = seen.into_iter().collect();
        lock(&self.watches).retain(|k, _| keep.contains(k));
    }

    /// Records a sample for each open shard; returns each shard's rate over its window
    /// (`None` until the window spans `split_after`).
    fn sample(
        &self,
        stream: &str,
        open: &[&ShardDescription],
        totals: &HashMap<String, (u64, u64)>,
        now: i64,
        cfg: &ScalingConfig,
    ) -> Vec<Option<Rate>> {
        let window = i64::try_from(cfg.split_after.as_millis()).unwrap_or(i64::MAX);
        let mut watches = lock(&self.watches);
        open.iter()
            .map(|s| {
                let (records, bytes) = totals.get(&s.shard_id).copied().unwrap_or_default();
                let w = watches.entry((stream.to_string(), s.index)).or_default();
                w.samples.push_back(Sample {
                    at_ms: now,
                    records,
                    bytes,
                });
                // Keep the newest sample at least `window` old, and nothing older.
                while w.samples.len() > 2
                    && w.samples
                        .get(1)
                        .is_some_and(|second| now - second.at_ms >= window)
                {
                    w.samples.pop_front();
                }
                let first = *w.samples.front()?;
                let span = now - first.at_ms;
                if span < window || span <= 0 {
                    return None;
                }
                let secs = span as f64 / 1000.0;
                Some(Rate {
                    records_per_sec: records.saturating_sub(first.records) as f64 / secs,
                    bytes_per_sec: bytes.saturating_sub(first.bytes) as f64 / secs,
                })
            })
            .collect()
    }

    /// The step a stream needs now, if any: the hottest shard over its limits is split;
    /// else the longest-cold adjacent pair past `merge_after` is merged.
    fn decide(
        &self,
        state: &KinesisState,
        stream: &str,
        open: &[&ShardDescription],
        rates: &[Option<Rate>],
        now: i64,
        cfg: &ScalingConfig,
    ) -> Option<Step> {
        let mut watches = lock(&self.watches);
        let mut hottest: Option<(&ShardDescription, Rate)> = None;
        let mut hot_count = 0;
        for (s, rate) in open.iter().zip(rates) {
            let w = watches.entry((stream.to_string(), s.index)).or_default();
            let Some(rate) = rate else {
                w.hot = false;
                continue;
            };
            w.hot = rate.over_limits();
            if !w.hot {
                w.hot_key_logged = false;
                continue;
            }
            hot_count += 1;
            let load = |r: &Rate| {
                (r.records_per_sec / WRITE_RECORDS_PER_SEC as f64)
                    .max(r.bytes_per_sec / WRITE_BYTES_PER_SEC as f64)
            };
            if hottest.as_ref().is_none_or(|(_, h)| load(rate) > load(h)) {
                hottest = Some((s, *rate));
            }
        }
        lock(&self.counters)
            .entry(stream.to_string())
            .or_default()
            .hot_shards = hot_count;
        if let Some((shard, rate)) = hottest {
            let by_bytes = rate.bytes_per_sec > WRITE_BYTES_PER_SEC as f64;
            let why = format!(
                "{:.0} records/s and {:.0} bytes/s over {} s (limits {} records/s, {} bytes/s)",
                rate.records_per_sec,
                rate.bytes_per_sec,
                cfg.split_after.as_secs(),
                WRITE_RECORDS_PER_SEC,
                WRITE_BYTES_PER_SEC
            );
            drop(watches);
            return match split_point(state, stream, shard, by_bytes) {
                Some(at) => Some(Step::Split {
                    shard: shard.shard_id.clone(),
                    at,
                    why,
                }),
                None => {
                    let mut watches = lock(&self.watches);
                    let w = watches
                        .entry((stream.to_string(), shard.index))
                        .or_default();
                    if !w.hot_key_logged {
                        w.hot_key_logged = true;
                        lock(&self.counters)
                            .entry(stream.to_string())
                            .or_default()
                            .refused_hot_key += 1;
                        tracing::warn!(
                            stream,
                            shard = %shard.shard_id,
                            "on-demand scaling: shard is hot with a single hash key ({why}); a split cannot spread one key, so it is left as is"
                        );
                    }
                    None
                }
            };
        }
        // Cold: tracked per shard; a pair is merged once both have been cold (as a
        // pair) for `merge_after`, never below the on-demand start.
        if open.len() <= ON_DEMAND_MIN_SHARDS {
            for s in open {
                if let Some(w) = watches.get_mut(&(stream.to_string(), s.index)) {
                    w.cold_since = None;
                }
            }
            return None;
        }
        let mut by_start: Vec<(&ShardDescription, Option<Rate>)> =
            open.iter().copied().zip(rates.iter().copied()).collect();
        by_start.sort_by_key(|(s, _)| s.range.start);
        let merge_after = i64::try_from(cfg.merge_after.as_millis()).unwrap_or(i64::MAX);
        let mut best: Option<(i64, &ShardDescription, &ShardDescription)> = None;
        let mut cold_now = std::collections::HashSet::new();
        for pair in by_start.windows(2) {
            let [(a, Some(ra)), (b, Some(rb))] = pair else {
                continue;
            };
            if !ra.cold_pair(rb) || !a.range.is_followed_by(&b.range) {
                continue;
            }
            cold_now.insert(a.index);
            cold_now.insert(b.index);
            let since = |s: &ShardDescription, watches: &mut HashMap<(String, u64), ShardWatch>| {
                *watches
                    .entry((stream.to_string(), s.index))
                    .or_default()
                    .cold_since
                    .get_or_insert(now)
            };
            let cold_from = since(a, &mut watches).max(since(b, &mut watches));
            if now - cold_from >= merge_after
                && best.as_ref().is_none_or(|(t, _, _)| cold_from < *t)
            {
                best = Some((cold_from, a, b));
            }
        }
        for s in open {
            if !cold_now.contains(&s.index) {
                if let Some(w) = watches.get_mut(&(stream.to_string(), s.index)) {
                    w.cold_since = None;
                }
            }
        }
        best.map(|(since, a, b)| Step::Merge {
            shard: a.shard_id.clone(),
            adjacent: b.shard_id.clone(),
            why: format!(
                "together under half of one shard's write limits for {} s",
                (now - since) / 1000
            ),
        })
    }

    fn act(&self, state: &KinesisState, stream: &str, step: Step) {
        let result = match &step {
            Step::Split { shard, at, why } => {
                tracing::info!(stream, shard = %shard, new_starting_hash_key = %at, "on-demand scaling: splitting a hot shard: {why}");
                state.engine.split_shard(stream, shard, *at)
            }
            Step::Merge {
                shard,
                adjacent,
                why,
            } => {
                tracing::info!(stream, shard = %shard, adjacent = %adjacent, "on-demand scaling: merging cold shards: {why}");
                state.engine.merge_shards(stream, shard, adjacent)
            }
        };
        let mut counters = lock(&self.counters);
        let c = counters.entry(stream.to_string()).or_default();
        match result {
            Ok(()) => match step {
                Step::Split { .. } => c.splits += 1,
                Step::Merge { .. } => c.merges += 1,
            },
            Err(freshet_storage::Error::ShardLimitExceeded { open, limit, .. }) => {
                c.refused_shard_limit += 1;
                tracing::warn!(
                    stream,
                    open,
                    limit,
                    "on-demand scaling: the account shard limit stops a split"
                );
            }
            Err(e) => {
                c.failed += 1;
                tracing::warn!(stream, error = %e, "on-demand scaling: the step failed");
            }
        }
    }

    /// Forgets a deleted stream.
    pub fn forget_stream(&self, stream: &str) {
        lock(&self.counters).remove(stream);
        lock(&self.watches).retain(|(s, _), _| s != stream);
    }

    /// Appends the scaler's Prometheus series to `out`.
    pub fn render(&self, out: &mut String) {
        let counters = lock(&self.counters).clone();
        let series: [CounterSeries; 4] = [
            (
                "freshet_on_demand_splits_total",
                "counter",
                "Shards the on-demand scaler split.",
                |c| c.splits,
            ),
            (
                "freshet_on_demand_merges_total",
                "counter",
                "Shard pairs the on-demand scaler merged.",
                |c| c.merges,
            ),
            (
                "freshet_on_demand_hot_shards",
                "gauge",
                "Open shards over their write limits for the whole split window.",
                |c| c.hot_shards,
            ),
            (
                "freshet_on_demand_failed_total",
                "counter",
                "Scaling steps that failed.",
                |c| c.failed,
            ),
        ];
        for (name, kind, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (stream, c) in &counters {
                let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", esc(stream), get(c));
            }
        }
        let name = "freshet_on_demand_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Splits a hot shard needed but did not get, by reason.\n# TYPE {name} counter"
        );
        for (stream, c) in &counters {
            for (reason, n) in [
                ("hot_key", c.refused_hot_key),
                ("shard_limit", c.refused_shard_limit),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{stream=\"{}\",reason=\"{reason}\"}} {n}",
                    esc(stream)
                );
            }
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Where a hot shard should split: the weighted median of its newest records' hash
/// keys (by bytes when bytes are what is over, else by records), moved to the nearest
/// boundary between distinct keys; the middle of the range when the keys are not the
/// shard's (explicit hash keys); `None` when one key carries it all.
fn split_point(
    state: &KinesisState,
    stream: &str,
    shard: &ShardDescription,
    by_bytes: bool,
) -> Option<u128> {
    let range = shard.range;
    let sample = state
        .engine
        .shard_state(stream, &shard.shard_id)
        .ok()
        .and_then(|s| {
            let from = s
                .next_offset
                .saturating_sub(SPLIT_SAMPLE_RECORDS as u64)
                .max(s.start_offset);
            state
                .engine
                .read(stream, &shard.shard_id, from, SPLIT_SAMPLE_RECORDS, 8 << 20)
                .ok()
        });
    let mut keys: Vec<(u128, u64)> = sample
        .map(|got| {
            got.records
                .iter()
                .map(|r| {
                    let weight = if by_bytes {
                        (r.data.len() + r.partition_key.len()) as u64
                    } else {
                        1
                    };
                    (hash_key_of(r.partition_key_str()), weight.max(1))
                })
                .collect()
        })
        .unwrap_or_default();
    keys.retain(|(k, _)| range.contains(*k));
    choose_split(range, keys)
}

/// The split key for `range` given sampled `(hash key, weight)` pairs (all in range).
fn choose_split(range: HashKeyRange, mut keys: Vec<(u128, u64)>) -> Option<u128> {
    let valid = |k: u128| k > range.start.saturating_add(1) && k < range.end;
    let middle = range.start + (range.end - range.start) / 2 + 1;
    if keys.len() < 2 {
        return valid(middle).then_some(middle);
    }
    keys.sort_unstable();
    let total: u64 = keys.iter().map(|(_, w)| w).sum();
    // Candidate boundaries: each first occurrence of a distinct key after the first;
    // the split there puts every earlier key left. Pick the most even.
    let mut best: Option<(u64, u128)> = None;
    let mut left = 0u64;
    for pair in keys.windows(2) {
        let [(a, wa), (b, _)] = pair else { continue };
        left += wa;
        if a == b || !valid(*b) {
            continue;
        }
        let imbalance = left.abs_diff(total - left);
        if best.is_none_or(|(i, _)| imbalance < i) {
            best = Some((imbalance, *b));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u128, end: u128) -> HashKeyRange {
        HashKeyRange { start, end }
    }

    #[test]
    fn splits_at_the_weighted_median_between_distinct_keys() {
        let r = range(0, 1000);
        let keys = vec![(100, 1), (200, 1), (300, 1), (900, 1)];
        assert_eq!(choose_split(r, keys), Some(300));
        // Bytes weigh: the big record at 900 alone balances the rest.
        let keys = vec![(100, 1), (200, 1), (300, 1), (900, 10)];
        assert_eq!(choose_split(r, keys), Some(900));
    }

    #[test]
    fn one_hot_key_is_not_split() {
        let r = range(0, 1000);
        assert_eq!(choose_split(r, vec![(500, 1); 50]), None);
    }

    #[test]
    fn no_sample_splits_in_the_middle() {
        assert_eq!(choose_split(range(0, 1000), vec![]), Some(501));
        assert_eq!(choose_split(range(0, 2), vec![]), None);
    }

    #[test]
    fn rates_over_and_under_limits() {
        let hot = Rate {
            records_per_sec: 1001.0,
            bytes_per_sec: 10.0,
        };
        assert!(hot.over_limits());
        let cold = Rate {
            records_per_sec: 200.0,
            bytes_per_sec: 1000.0,
        };
        assert!(!cold.over_limits());
        assert!(cold.cold_pair(&cold));
        assert!(!cold.cold_pair(&Rate {
            records_per_sec: 400.0,
            bytes_per_sec: 0.0
        }));
    }
}
