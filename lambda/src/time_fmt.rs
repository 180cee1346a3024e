//! Lambda's timestamp text: `2024-01-31T12:34:56.789+0000`.

use time::OffsetDateTime;

/// Milliseconds since the epoch now.
pub(crate) fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` as Lambda writes `LastModified`.
pub(crate) fn lambda_timestamp(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_as_lambda_does() {
        assert_eq!(
            super::lambda_timestamp(1_700_000_000_123),
            "2023-11-14T22:13:20.123+0000"
        );
    }
}
