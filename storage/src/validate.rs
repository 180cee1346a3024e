//! Input rules. Each refusal is a typed [`Error`] carrying what was wrong; the wording
//! of an API's messages is the business of the service that maps them.

use crate::error::{Error, Result, StreamNameRule};
use crate::types::{MAX_DATA_BYTES, MAX_PARTITION_KEY_CHARS};

/// Stream names: 1 to 128 characters of `[a-zA-Z0-9_.-]`.
pub fn stream_name(name: &str) -> Result<()> {
    let rule = if name.is_empty() || name.len() > 128 {
        StreamNameRule::Length
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        StreamNameRule::Characters
    } else {
        return Ok(());
    };
    Err(Error::InvalidStreamName {
        name: name.to_string(),
        rule,
    })
}

/// The separator of an owned stream's name, `{owner}:{name}`: a character no stream
/// name of the Kinesis API may hold, so no Kinesis client can name an owned stream.
pub const OWNED_SEPARATOR: char = ':';

/// The full name of a stream a service owns: `{owner}:{name}`, the owner
/// `[a-z0-9-]{1,64}` (a service's name) and the name a valid stream name.
pub fn owned_stream_name(owner: &str, name: &str) -> Result<String> {
    let owner_ok = !owner.is_empty()
        && owner.len() <= 64
        && owner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !owner_ok {
        return Err(Error::InvalidServiceName {
            name: owner.to_string(),
        });
    }
    stream_name(name)?;
    Ok(format!("{owner}{OWNED_SEPARATOR}{name}"))
}

/// Whether a stream's full name is an owned stream's.
pub fn is_owned(full_name: &str) -> bool {
    full_name.contains(OWNED_SEPARATOR)
}

/// Partition keys: 1 to 256 Unicode characters.
pub fn partition_key(key: &str) -> Result<()> {
    // Up to 256 bytes is at most 256 characters: count only longer keys.
    let too_long =
        key.len() > MAX_PARTITION_KEY_CHARS && key.chars().count() > MAX_PARTITION_KEY_CHARS;
    if key.is_empty() || too_long {
        return Err(Error::PartitionKeyLength {
            key: key.to_string(),
            chars: key.chars().count(),
        });
    }
    Ok(())
}

/// Data blobs: at most 1 MiB.
pub fn data(data: &[u8]) -> Result<()> {
    if data.len() > MAX_DATA_BYTES {
        return Err(Error::DataTooLarge {
            bytes: data.len(),
            max: MAX_DATA_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(stream_name("a.b-c_D9").is_ok());
        assert!(matches!(
            stream_name(""),
            Err(Error::InvalidStreamName {
                rule: StreamNameRule::Length,
                ..
            })
        ));
        assert!(stream_name(&"x".repeat(129)).is_err());
        assert!(matches!(
            stream_name("bad name"),
            Err(Error::InvalidStreamName {
                rule: StreamNameRule::Characters,
                ..
            })
        ));
        assert!(stream_name("ünï").is_err());
        assert_eq!(
            owned_stream_name("firehose", "d-1").ok().as_deref(),
            Some("firehose:d-1")
        );
        assert!(is_owned("firehose:d-1") && !is_owned("d-1"));
        assert!(owned_stream_name("Fire", "d").is_err());
        assert!(owned_stream_name("firehose", "a:b").is_err());
        assert!(stream_name("firehose:d").is_err());
        assert!(partition_key(&"é".repeat(256)).is_ok());
        assert!(matches!(
            partition_key(&"é".repeat(257)),
            Err(Error::PartitionKeyLength { chars: 257, .. })
        ));
        assert!(partition_key("").is_err());
        assert!(data(&vec![0; MAX_DATA_BYTES]).is_ok());
        assert!(matches!(
            data(&vec![0; MAX_DATA_BYTES + 1]),
            Err(Error::DataTooLarge { bytes, max }) if bytes == MAX_DATA_BYTES + 1 && max == MAX_DATA_BYTES
        ));
    }
}
