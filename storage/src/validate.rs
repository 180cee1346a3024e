//! Input rules, with AWS's wording for the messages.

use crate::error::{Error, Result};
use crate::types::{MAX_DATA_BYTES, MAX_PARTITION_KEY_CHARS};

/// Stream names: 1 to 128 characters of `[a-zA-Z0-9_.-]`.
pub fn stream_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 {
        return Err(Error::invalid(format!(
            "1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length between 1 and 128"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(Error::invalid(format!(
            "1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

/// Partition keys: 1 to 256 Unicode characters.
pub fn partition_key(key: &str) -> Result<()> {
    // Up to 256 bytes is at most 256 characters: count only longer keys.
    let too_long =
        key.len() > MAX_PARTITION_KEY_CHARS && key.chars().count() > MAX_PARTITION_KEY_CHARS;
    if key.is_empty() || too_long {
        return Err(Error::invalid(format!(
            "1 validation error detected: Value '{key}' at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256"
        )));
    }
    Ok(())
}

/// Data blobs: at most 1 MiB.
pub fn data(data: &[u8]) -> Result<()> {
    if data.len() > MAX_DATA_BYTES {
        return Err(Error::invalid(format!(
            "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to {MAX_DATA_BYTES}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(stream_name("a.b-c_D9").is_ok());
        assert!(stream_name("").is_err());
        assert!(stream_name(&"x".repeat(129)).is_err());
        assert!(stream_name("bad name").is_err());
        assert!(stream_name("ünï").is_err());
        assert!(partition_key(&"é".repeat(256)).is_ok());
        assert!(partition_key(&"é".repeat(257)).is_err());
        assert!(partition_key("").is_err());
        assert!(data(&vec![0; MAX_DATA_BYTES]).is_ok());
        assert!(data(&vec![0; MAX_DATA_BYTES + 1]).is_err());
    }
}
