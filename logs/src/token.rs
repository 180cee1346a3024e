//! Paging tokens.
//!
//! - GetLogEvents: `f/{offset}` and `b/{offset}` (56 digits, as AWS's look): a
//!   position in the group's log, forward from it or backward before it. A read that
//!   finds nothing new returns the token it was given, which is how `aws logs tail`
//!   and boto3's paginator know they are caught up.
//! - FilterLogEvents: the group's uid and the position to continue from, in hex.
//! - Sequence tokens and event ids: 56 digits.

use freshet_protocol::error::ApiError;

use crate::params::invalid;

/// A GetLogEvents position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Events at or after this offset.
    Forward(u64),
    /// Events before this offset.
    Backward(u64),
}

fn bad_token() -> ApiError {
    invalid("The specified nextToken is invalid.")
}

impl Position {
    /// Its token.
    pub fn token(self) -> String {
        match self {
            Position::Forward(o) => format!("f/{o:056}"),
            Position::Backward(o) => format!("b/{o:056}"),
        }
    }

    /// Reads a token.
    pub fn parse(token: &str) -> Result<Position, ApiError> {
        let (kind, digits) = token.split_once('/').ok_or_else(bad_token)?;
        if digits.is_empty() || digits.len() > 56 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_token());
        }
        let n: u128 = digits.parse().map_err(|_| bad_token())?;
        let n = u64::try_from(n).map_err(|_| bad_token())?;
        match kind {
            "f" => Ok(Position::Forward(n)),
            "b" => Ok(Position::Backward(n)),
            _ => Err(bad_token()),
        }
    }
}

/// A FilterLogEvents token for group `uid` at `offset`.
pub fn filter_token(uid: u64, offset: u64) -> String {
    format!("{uid:016x}{offset:016x}")
}

/// Reads a FilterLogEvents token of group `uid`.
pub fn parse_filter_token(uid: u64, token: &str) -> Result<u64, ApiError> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_token());
    }
    let of = u64::from_str_radix(&token[..16], 16).map_err(|_| bad_token())?;
    if of != uid {
        return Err(bad_token());
    }
    u64::from_str_radix(&token[16..], 16).map_err(|_| bad_token())
}

/// 56 digits: an event id, a sequence token.
pub fn digits56(n: u64) -> String {
    format!("{n:056}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        for p in [Position::Forward(0), Position::Backward(12345)] {
            let t = p.token();
            assert_eq!(t.len(), 58);
            assert_eq!(Position::parse(&t).ok(), Some(p));
        }
        assert!(Position::parse("x/1").is_err());
        assert!(Position::parse("f/").is_err());
        assert!(Position::parse("f/12a").is_err());
        assert!(Position::parse("nonsense").is_err());
        let t = filter_token(7, 99);
        assert_eq!(parse_filter_token(7, &t).ok(), Some(99));
        assert!(parse_filter_token(8, &t).is_err());
        assert!(parse_filter_token(7, "zz").is_err());
    }
}
