//! Shard iterators: opaque, tamper-evident tokens. Each one carries the stream name, the
//! stream's incarnation id, the shard index, the log offset and the issue time, sealed
//! with an HMAC-SHA256 under a random key kept in the catalog (the Kinesis service's
//! `iterator-key`, created once), so a forged, altered or foreign iterator is refused, one older than
//! five minutes expires, and iterators handed out before a restart stay valid after it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use freshet_protocol::{ApiError, ApiResult};

/// How long an iterator stays valid, ms.
pub const ITERATOR_TTL_MS: i64 = 300_000;
const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const FIXED: usize = 1 + 8 + 8 + 8 + 8;

/// What an iterator points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IteratorState {
    /// Stream name.
    pub stream: String,
    /// Stream incarnation.
    pub uid: u64,
    /// Shard index.
    pub shard_index: u64,
    /// Log offset of the next record.
    pub offset: u64,
    /// When it was issued, epoch ms.
    pub issued_ms: i64,
}

/// The catalog key (in the Kinesis service's namespace) of the iterator key.
const KEY_NAME: &str = "iterator-key";

/// Seals and opens iterators with a per-process key.
#[derive(Clone)]
pub struct IteratorCodec {
    key: [u8; 32],
    ttl_ms: i64,
}

impl std::fmt::Debug for IteratorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IteratorCodec")
    }
}

impl Default for IteratorCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl IteratorCodec {
    /// A codec with a fresh random key.
    pub fn new() -> Self {
        Self::with_ttl(ITERATOR_TTL_MS)
    }

    /// A codec with a fresh random key whose iterators expire after `ttl_ms` (tests
    /// shorten it; Kinesis uses five minutes).
    pub fn with_ttl(ttl_ms: i64) -> Self {
        IteratorCodec {
            key: rand::random(),
            ttl_ms,
        }
    }

    /// A codec whose key is kept in the service's catalog namespace (`iterator-key`),
    /// drawn at random the first time, so iterators handed out before a restart stay
    /// valid after it. A key file left by an older version (`legacy`, the data
    /// directory's `iterator.key`) is moved into the catalog first.
    pub fn stored(
        store: &freshet_storage::ServiceState,
        legacy: &std::path::Path,
        ttl_ms: i64,
    ) -> Result<Self, String> {
        let as_key = |bytes: &[u8], from: &str| -> Result<[u8; 32], String> {
            bytes
                .try_into()
                .map_err(|_| format!("{from} does not hold a 32-byte key"))
        };
        if let Some(bytes) = store.get(KEY_NAME).map_err(|e| e.to_string())? {
            return Ok(IteratorCodec {
                key: as_key(&bytes, "the catalog's iterator-key")?,
                ttl_ms,
            });
        }
        let key = match std::fs::read(legacy) {
            Ok(bytes) => as_key(&bytes, &legacy.display().to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => rand::random(),
            Err(e) => return Err(format!("cannot read {}: {e}", legacy.display())),
        };
        store.put(KEY_NAME, &key).map_err(|e| e.to_string())?;
        if legacy.exists() {
            std::fs::remove_file(legacy)
                .map_err(|e| format!("cannot remove {}: {e}", legacy.display()))?;
        }
        Ok(IteratorCodec { key, ttl_ms })
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(body);
        mac
    }

    /// Encodes an iterator.
    pub fn seal(&self, it: &IteratorState) -> String {
        let mut body = Vec::with_capacity(FIXED + it.stream.len() + MAC_LEN);
        body.push(VERSION);
        body.extend_from_slice(&it.uid.to_be_bytes());
        body.extend_from_slice(&it.shard_index.to_be_bytes());
        body.extend_from_slice(&it.offset.to_be_bytes());
        body.extend_from_slice(&it.issued_ms.to_be_bytes());
        body.extend_from_slice(it.stream.as_bytes());
        let tag = self.mac(&body).finalize().into_bytes();
        body.extend_from_slice(&tag[..MAC_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
    }

    /// Decodes and checks an iterator: `InvalidArgumentException` when it is not one
    /// of ours, `ExpiredIteratorException` when it is older than five minutes.
    pub fn open(&self, token: &str, now_ms: i64) -> ApiResult<IteratorState> {
        let invalid = || ApiError::invalid("Invalid ShardIterator.");
        if token.is_empty() || token.len() > 1024 {
            return Err(invalid());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| invalid())?;
        if raw.len() < FIXED + MAC_LEN || raw.first() != Some(&VERSION) {
            return Err(invalid());
        }
        let (body, tag) = raw.split_at(raw.len() - MAC_LEN);
        self.mac(body)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        let word = |at: usize| -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(body.get(at..at + 8).unwrap_or(&[0; 8]));
            u64::from_be_bytes(b)
        };
        let stream = String::from_utf8(body.get(FIXED..).unwrap_or_default().to_vec())
            .map_err(|_| invalid())?;
        let it = IteratorState {
            stream,
            uid: word(1),
            shard_index: word(9),
            offset: word(17),
            issued_ms: word(25) as i64,
        };
        if now_ms - it.issued_ms > self.ttl_ms {
            return Err(ApiError::expired_iterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {} milliseconds.",
                fmt_time(it.issued_ms),
                fmt_time(now_ms),
                self.ttl_ms
            )));
        }
        Ok(it)
    }
}

/// A time as AWS's messages print it (Java's `Date.toString` in UTC):
/// `Wed Jan 01 00:00:00 UTC 2025`.
fn fmt_time(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS.get(days.rem_euclid(7) as usize).unwrap_or(&"Thu"),
        MONTHS.get((month - 1) as usize).unwrap_or(&"Jan"),
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IteratorState {
        IteratorState {
            stream: "s".into(),
            uid: 3,
            shard_index: 4,
            offset: 5,
            issued_ms: 1_000,
        }
    }

    #[test]
    fn times_read_as_java_dates() {
        assert_eq!(fmt_time(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(fmt_time(1_735_689_600_000), "Wed Jan 01 00:00:00 UTC 2025");
        assert_eq!(
            fmt_time(951_782_400_000 + 3_723_000),
            "Tue Feb 29 01:02:03 UTC 2000"
        );
        assert_eq!(fmt_time(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn round_trip_and_tamper() {
        let c = IteratorCodec::new();
        let t = c.seal(&sample());
        assert_eq!(c.open(&t, 2_000), Ok(sample()));
        let mut bad = t.clone().into_bytes();
        bad[5] = if bad[5] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap_or_default();
        assert_eq!(
            c.open(&bad, 2_000).map_err(|e| e.kind),
            Err("InvalidArgumentException")
        );
        assert_eq!(
            IteratorCodec::new().open(&t, 2_000).map_err(|e| e.kind),
            Err("InvalidArgumentException")
        );
        assert_eq!(
            c.open(&t, 1_000 + ITERATOR_TTL_MS + 1).map_err(|e| e.kind),
            Err("ExpiredIteratorException")
        );
        assert_eq!(
            c.open("garbage!!", 0).map_err(|e| e.kind),
            Err("InvalidArgumentException")
        );
    }
}
