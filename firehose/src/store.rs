//! Where delivered objects go: buckets as directories under the data directory (the
//! embedded default), behind the `object_store` crate so an S3 endpoint is one more
//! backend of the same interface.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::ObjectStore;

/// The object stores of the delivery streams.
#[derive(Debug, Clone)]
pub struct Buckets {
    local_root: PathBuf,
}

/// The bucket an S3 bucket ARN names (`arn:aws:s3:::NAME`), if it is one.
pub fn bucket_of(arn: &str) -> Option<&str> {
    let name = arn.strip_prefix("arn:")?.split_once(":s3:::")?.1;
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    ok.then_some(name)
}

impl Buckets {
    /// Local buckets under `root` (`<data dir>/buckets/<bucket>/<key>`).
    pub fn local(root: impl Into<PathBuf>) -> Buckets {
        Buckets {
            local_root: root.into(),
        }
    }

    /// The store of one bucket.
    pub fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let dir = self.local_root.join(bucket);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let fs = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| format!("cannot open the bucket directory {}: {e}", dir.display()))?;
        Ok(Arc::new(fs))
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_of;

    #[test]
    fn bucket_arns() {
        assert_eq!(bucket_of("arn:aws:s3:::my-bucket"), Some("my-bucket"));
        assert_eq!(bucket_of("arn:aws-cn:s3:::b.c-d"), Some("b.c-d"));
        assert_eq!(bucket_of("arn:aws:s3:::UPPER"), None);
        assert_eq!(bucket_of("arn:aws:kinesis:::x"), None);
        assert_eq!(bucket_of("my-bucket"), None);
    }
}
