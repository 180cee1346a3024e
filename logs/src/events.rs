//! PutLogEvents (AWS's rules), GetLogEvents (positions and tokens) and
//! FilterLogEvents (patterns, paging).
//!
//! Events come back in the order they were ingested (AWS orders by timestamp; the two
//! agree for a writer whose clock moves forward, as Lambda's and the SDKs' do).

use std::collections::BTreeMap;

use freshet_protocol::error::ApiError;
use serde_json::{json, Map, Value};

use crate::filter::Filter;
use crate::params::{check_stream_name, constraint, group_of, invalid, no_stream, Req};
use crate::store::{lock, now_ms, Store, StoredEvent};
use crate::token::{digits56, filter_token, parse_filter_token, Position};

/// Most events in one PutLogEvents call.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Most bytes in one PutLogEvents call (each message's UTF-8 bytes plus 26).
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What each event adds to the batch size.
pub const EVENT_OVERHEAD: usize = 26;
/// The longest span of timestamps in one call, ms.
pub const MAX_SPAN_MS: i64 = 24 * 3_600_000;
/// How far in the future an event may be, ms.
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;
/// How far in the past an event may be, ms.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3_600_000;
/// Most records one read looks at before it returns with a token to continue.
pub const SCAN_BUDGET: usize = 100_000;
/// Most bytes of messages one read returns.
const MAX_REPLY_BYTES: usize = 1_048_576;

/// Which events of a PutLogEvents call are accepted: `events[start..end]`, and the
/// `rejectedLogEventsInfo` for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The first accepted index.
    pub start: usize,
    /// One past the last accepted index.
    pub end: usize,
    /// `rejectedLogEventsInfo` members.
    pub rejected: BTreeMap<&'static str, usize>,
}

/// Applies AWS's rules to a call's timestamps and message sizes: order, size and span
/// are errors; too new, too old and expired events are rejected, the rest accepted.
pub fn check_batch(
    events: &[(i64, &str)],
    now: i64,
    retention_days: Option<u32>,
) -> Result<Accepted, ApiError> {
    if events.is_empty() {
        return Err(constraint(
            "[]",
            "logEvents",
            "Member must have length greater than or equal to 1",
        ));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(constraint(
            &format!("[{} events]", events.len()),
            "logEvents",
            "Member must have length less than or equal to 10000",
        ));
    }
    for (i, (_, m)) in events.iter().enumerate() {
        if m.is_empty() {
            return Err(constraint(
                "",
                &format!("logEvents.{}.member.message", i + 1),
                "Member must have length greater than or equal to 1",
            ));
        }
    }
    let size: usize = events.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum();
    if size > MAX_BATCH_BYTES {
        return Err(invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        if last.0 - first.0 > MAX_SPAN_MS {
            return Err(invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
    }
    let too_old = events
        .iter()
        .take_while(|(ts, _)| *ts < now - MAX_AGE_MS)
        .count();
    let expired = match retention_days {
        Some(days) => {
            let cutoff = now - i64::from(days) * 86_400_000;
            events.iter().take_while(|(ts, _)| *ts < cutoff).count()
        }
        None => 0,
    };
    let too_new_start = events
        .iter()
        .position(|(ts, _)| *ts > now + MAX_FUTURE_MS)
        .unwrap_or(events.len());
    let mut rejected = BTreeMap::new();
    if too_old > 0 {
        rejected.insert("tooOldLogEventEndIndex", too_old);
    }
    if expired > 0 {
        rejected.insert("expiredLogEventEndIndex", expired);
    }
    if too_new_start < events.len() {
        rejected.insert("tooNewLogEventStartIndex", too_new_start);
    }
    let start = too_old.max(expired).min(too_new_start);
    Ok(Accepted {
        start,
        end: too_new_start,
        rejected,
    })
}

/// PutLogEvents.
pub fn put_log_events(store: &Store, b: &Map<String, Value>) -> Result<Value, ApiError> {
    let r = Req(b);
    let group = group_of(&r)?;
    let stream = r.str("logStreamName")?;
    check_stream_name(stream, "logStreamName")?;
    let raw = match b.get("logEvents") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::serialization("logEvents must be a list")),
        None => {
            return Err(invalid(
                "1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must not be null",
            ))
        }
    };
    let mut events: Vec<(i64, &str)> = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let ts = e.get("timestamp").and_then(Value::as_i64).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value null at 'logEvents.{}.member.timestamp' failed to satisfy constraint: Member must not be null",
                i + 1
            ))
        })?;
        let msg = e.get("message").and_then(Value::as_str).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value null at 'logEvents.{}.member.message' failed to satisfy constraint: Member must not be null",
                i + 1
            ))
        })?;
        events.push((ts, msg));
    }
    let g = store.group(&group)?;
    let retention = lock(&g.inner).meta.retention_days;
    let accepted = check_batch(&events, now_ms(), retention)?;
    let slice = events.get(accepted.start..accepted.end).unwrap_or(&[]);
    store.put(&g, stream, slice, false)?;
    let end = lock(&g.inner)
        .streams
        .get(stream)
        .map_or(0, |s| s.end_offset);
    let mut out = json!({ "nextSequenceToken": digits56(end) });
    if !accepted.rejected.is_empty() {
        out["rejectedLogEventsInfo"] = json!(accepted.rejected);
    }
    Ok(out)
}

fn event_json(e: &StoredEvent) -> Value {
    json!({
        "timestamp": e.timestamp,
        "message": e.message,
        "ingestionTime": e.ingestion,
    })
}

/// Whether `ts` is within `[start, end)`.
fn in_time(ts: i64, start: Option<i64>, end: Option<i64>) -> bool {
    start.is_none_or(|s| ts >= s) && end.is_none_or(|e| ts < e)
}

/// GetLogEvents.
pub fn get_log_events(store: &Store, b: &Map<String, Value>) -> Result<Value, ApiError> {
    let r = Req(b);
    let group = group_of(&r)?;
    let stream = r.str("logStreamName")?;
    check_stream_name(stream, "logStreamName")?;
    let start_time = r.opt_i64("startTime")?;
    let end_time = r.opt_i64("endTime")?;
    let limit = r.limit(10_000, 10_000)?;
    let from_head = r.opt_bool("startFromHead")?.unwrap_or(false);
    let token = r.opt_str("nextToken")?.map(Position::parse).transpose()?;
    let g = store.group(&group)?;
    let (uid, id, lo, hi) = {
        let inner = lock(&g.inner);
        let s = inner.streams.get(stream).ok_or_else(no_stream)?;
        (
            inner.meta.uid,
            s.id,
            s.first_offset.unwrap_or(s.end_offset),
            s.end_offset,
        )
    };
    let wanted = |e: &StoredEvent| e.stream_id == id && in_time(e.timestamp, start_time, end_time);
    let position = match token {
        Some(p) => p,
        None if from_head => {
            let mut at = lo;
            if let Some(s) = start_time {
                at = at.max(store.offset_at(uid, s.saturating_sub(MAX_FUTURE_MS))?);
            }
            Position::Forward(at)
        }
        None => Position::Backward(hi),
    };
    let (events, forward, backward) = match position {
        Position::Forward(p) => {
            let mut found: Vec<StoredEvent> = Vec::new();
            let mut bytes = 0usize;
            let end = store.scan(uid, p.max(lo), hi, SCAN_BUDGET, |e| {
                if wanted(&e) {
                    bytes += e.message.len() + EVENT_OVERHEAD;
                    found.push(e);
                }
                found.len() < limit && bytes < MAX_REPLY_BYTES
            })?;
            match (found.first(), found.last()) {
                (Some(first), Some(last)) => {
                    let (f, b) = (last.offset + 1, first.offset);
                    (found, f, b)
                }
                // Nothing new: the same token back, unless the scan stopped on its
                // budget (then where it got to).
                _ if !end.finished => (found, end.next, p),
                _ => (found, p, p),
            }
        }
        Position::Backward(p) => {
            let mut found: Vec<StoredEvent> = Vec::new();
            let mut top = p.min(hi);
            let mut scanned = 0usize;
            while top > lo && found.len() < limit && scanned < SCAN_BUDGET {
                let bottom = top.saturating_sub(1_000).max(lo);
                let mut chunk = Vec::new();
                store.scan(uid, bottom, top, usize::MAX, |e| {
                    if wanted(&e) {
                        chunk.push(e);
                    }
                    true
                })?;
                scanned += (top - bottom) as usize;
                chunk.append(&mut found);
                found = chunk;
                top = bottom;
            }
            if found.len() > limit {
                found.drain(..found.len() - limit);
            }
            match (found.first(), found.last()) {
                (Some(first), Some(last)) => {
                    let (f, b) = (last.offset + 1, first.offset);
                    (found, f, b)
                }
                _ if top > lo => (found, p, top),
                _ => (found, p, p),
            }
        }
    };
    Ok(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "nextForwardToken": Position::Forward(forward).token(),
        "nextBackwardToken": Position::Backward(backward).token(),
    }))
}

/// FilterLogEvents.
pub fn filter_log_events(store: &Store, b: &Map<String, Value>) -> Result<Value, ApiError> {
    let r = Req(b);
    let group = group_of(&r)?;
    let names = r.opt_strings("logStreamNames")?;
    let prefix = r.opt_str("logStreamNamePrefix")?;
    if names.is_some() && prefix.is_some() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    if let Some(n) = &names {
        if n.is_empty() || n.len() > 100 {
            return Err(constraint(
                &format!("{n:?}"),
                "logStreamNames",
                "Member must have length between 1 and 100",
            ));
        }
    }
    let start_time = r.opt_i64("startTime")?;
    let end_time = r.opt_i64("endTime")?;
    let limit = r.limit(10_000, 10_000)?;
    let pattern = r.opt_str("filterPattern")?.unwrap_or("");
    if pattern.len() > 1024 {
        return Err(constraint(
            pattern,
            "filterPattern",
            "Member must have length less than or equal to 1024",
        ));
    }
    let filter =
        Filter::parse(pattern).map_err(|e| invalid(format!("Invalid filter pattern: {e}")))?;
    let g = store.group(&group)?;
    let (uid, ids, lo, hi) = {
        let inner = lock(&g.inner);
        let selected: Vec<_> = inner
            .streams
            .values()
            .filter(|s| names.as_ref().is_none_or(|n| n.contains(&s.name)))
            .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
            .collect();
        let whole = names.is_none() && prefix.is_none();
        let ids: BTreeMap<u64, String> = selected.iter().map(|s| (s.id, s.name.clone())).collect();
        let lo = if whole {
            0
        } else {
            selected
                .iter()
                .filter_map(|s| s.first_offset)
                .min()
                .unwrap_or(0)
        };
        let hi = if whole {
            inner.applied_end
        } else {
            selected.iter().map(|s| s.end_offset).max().unwrap_or(0)
        };
        (inner.meta.uid, ids, lo, hi)
    };
    let from = match r.opt_str("nextToken")? {
        Some(t) => parse_filter_token(uid, t)?,
        None => match start_time {
            Some(s) => lo.max(store.offset_at(uid, s.saturating_sub(MAX_FUTURE_MS))?),
            None => lo,
        },
    };
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let end = store.scan(uid, from, hi, SCAN_BUDGET, |e| {
        if let Some(name) = ids.get(&e.stream_id) {
            if in_time(e.timestamp, start_time, end_time) && filter.matches(&e.message) {
                bytes += e.message.len() + EVENT_OVERHEAD;
                out.push(json!({
                    "logStreamName": name,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion,
                    "eventId": digits56(e.offset),
                }));
            }
        }
        out.len() < limit && bytes < MAX_REPLY_BYTES
    })?;
    let mut reply = json!({
        "events": out,
        "searchedLogStreams": [],
    });
    if !end.finished {
        reply["nextToken"] = json!(filter_token(uid, end.next));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn put_rules_order_size_span() {
        assert!(check_batch(&[], NOW, None).is_err());
        let unordered = check_batch(&[(NOW, "a"), (NOW - 1, "b")], NOW, None);
        assert!(unordered.is_err_and(|e| e.message.contains("chronological")));
        let span = check_batch(&[(NOW - MAX_SPAN_MS - 1, "a"), (NOW, "b")], NOW, None);
        assert!(span.is_err_and(|e| e.message.contains("24 hours")));
        let big = "x".repeat(MAX_BATCH_BYTES);
        let too_big = check_batch(&[(NOW, big.as_str())], NOW, None);
        assert!(too_big.is_err_and(|e| e.message.starts_with("Upload too large")));
        let just = "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD);
        assert!(check_batch(&[(NOW, just.as_str())], NOW, None).is_ok());
        assert!(check_batch(&[(NOW, "")], NOW, None).is_err());
        let many: Vec<(i64, &str)> = (0..=MAX_BATCH_EVENTS).map(|_| (NOW, "m")).collect();
        assert!(check_batch(&many, NOW, None).is_err());
        assert!(check_batch(&many[..MAX_BATCH_EVENTS], NOW, None).is_ok());
    }

    #[test]
    fn put_rules_reject_too_old_expired_and_too_new() {
        let ok = check_batch(&[(NOW, "a"), (NOW + 1, "b")], NOW, None).ok();
        assert_eq!(
            ok,
            Some(Accepted {
                start: 0,
                end: 2,
                rejected: BTreeMap::new()
            })
        );
        let day = 86_400_000;
        let events = [(NOW - 14 * day - 10, "old"), (NOW - 14 * day + 10, "fine")];
        let a = check_batch(&events, NOW, None).ok();
        assert_eq!(a.as_ref().map(|a| (a.start, a.end)), Some((1, 2)));
        assert_eq!(
            a.and_then(|a| a.rejected.get("tooOldLogEventEndIndex").copied()),
            Some(1)
        );
        let events = [(NOW, "fine"), (NOW + MAX_FUTURE_MS + 1, "new")];
        let a = check_batch(&events, NOW, None).ok();
        assert_eq!(a.as_ref().map(|a| (a.start, a.end)), Some((0, 1)));
        assert_eq!(
            a.and_then(|a| a.rejected.get("tooNewLogEventStartIndex").copied()),
            Some(1)
        );
        let events = [(NOW - day - 10, "expired"), (NOW - 20, "fine")];
        let a = check_batch(&events, NOW, Some(1)).ok();
        assert_eq!(a.as_ref().map(|a| (a.start, a.end)), Some((1, 2)));
        assert_eq!(
            a.and_then(|a| a.rejected.get("expiredLogEventEndIndex").copied()),
            Some(1)
        );
    }
}
