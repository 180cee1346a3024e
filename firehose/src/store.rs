//! Where delivered objects go: buckets as directories under the data directory (the
//! embedded default), or the buckets of an S3 endpoint, both behind the `object_store`
//! crate's one interface.
//!
//! With an S3 endpoint configured ([`S3Settings`]), every bucket ARN names a bucket of
//! that endpoint, addressed path-style (`<endpoint>/<bucket>/<key>`), as S3-compatible
//! servers expect. One store is built per bucket and kept for every later upload.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

/// An S3 endpoint every bucket goes to, and how to sign for it.
///
/// Settings left `None` are taken as `object_store`'s `AmazonS3Builder::from_env`
/// takes them (the standard `AWS_*` variables; without keys, web identity, container
/// or instance credentials).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// The endpoint, e.g. `http://127.0.0.1:5000` or `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// The signing region.
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret or the token.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The S3 endpoint the environment names, as the AWS SDKs read it: `AWS_ENDPOINT_URL_S3`,
/// else `AWS_ENDPOINT_URL`; none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`.
pub fn s3_endpoint_from_env() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"))
}

/// How uploads are retried inside one attempt of the delivery job: briefly (a
/// throttled or dropped request), since the job retries a failed upload itself, with
/// its own backoff, for as long as the destination fails.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    S3(S3Settings),
}

/// The object stores of the delivery streams: one per bucket, built on first use.
#[derive(Debug, Clone)]
pub struct Buckets {
    backend: Backend,
    stores: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
    /// Local buckets: directories whose own entry in their parent is known durable (a
    /// sync of the parent followed their creation), so later objects under them sync
    /// only their own directory.
    durable_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

/// At most this many directories are remembered as durable (then the memory starts
/// over, and the next objects sync their ancestors again).
const MAX_DURABLE_DIRS: usize = 4096;

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
            backend: Backend::Local(root.into()),
            stores: Arc::default(),
            durable_dirs: Arc::default(),
        }
    }

    /// The buckets of the S3 endpoint `settings` names. Fails when the settings cannot
    /// make a client (a malformed endpoint, a secret without its key id, ...).
    pub fn s3(settings: S3Settings) -> Result<Buckets, String> {
        let endpoint = settings.endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "the S3 endpoint must be an http:// or https:// URL, not {:?}",
                settings.endpoint
            ));
        }
        let settings = S3Settings {
            endpoint,
            ..settings
        };
        // Check the settings once, up front, rather than at the first upload.
        s3_store(&settings, "freshet-settings-check")?;
        tracing::info!(endpoint = %settings.endpoint, region = ?settings.region, "Firehose buckets are S3 buckets");
        Ok(Buckets {
            backend: Backend::S3(settings),
            stores: Arc::default(),
            durable_dirs: Arc::default(),
        })
    }

    /// The S3 endpoint, when buckets are S3 buckets.
    pub fn s3_endpoint(&self) -> Option<&str> {
        match &self.backend {
            Backend::S3(s) => Some(&s.endpoint),
            Backend::Local(_) => None,
        }
    }

    /// Makes a written object durable where the store itself does not: in a local
    /// bucket, the object's file and its directory are synced, and each directory
    /// above it up to the bucket's whose entry is not known durable yet (prefixes
    /// create them), as an S3 PUT is durable once answered. The delivery's checkpoint
    /// moves past the object's records only after this. The object's pages then leave
    /// the page cache: nothing here reads a delivered object again.
    pub fn sync_object(&self, bucket: &str, key: &str) -> Result<(), String> {
        let Backend::Local(root) = &self.backend else {
            return Ok(());
        };
        let bucket_dir = root.join(bucket);
        let path = bucket_dir.join(key);
        let sync = |p: &std::path::Path| {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all().map(|()| f))
                .map_err(|e| format!("cannot sync {}: {e}", p.display()))
        };
        let file = sync(&path)?;
        // Advice only: a file system that keeps the pages loses nothing but memory.
        let _ = freshet_storage::fs::drop_cached(&file);
        let mut dirs = path.ancestors().skip(1);
        let Some(own) = dirs.next() else {
            return Ok(());
        };
        sync(own)?;
        if own == bucket_dir {
            return Ok(());
        }
        let mut known = self
            .durable_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut child = own;
        for parent in dirs {
            if known.contains(child) {
                break;
            }
            sync(parent)?;
            if known.len() >= MAX_DURABLE_DIRS {
                known.clear();
            }
            known.insert(child.to_path_buf());
            if parent == bucket_dir {
                break;
            }
            child = parent;
        }
        Ok(())
    }

    /// The store of one bucket (built on first use, then shared).
    pub fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let mut stores = self
            .stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = stores.get(bucket) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = match &self.backend {
            Backend::Local(root) => {
                let dir = root.join(bucket);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                    format!("cannot open the bucket directory {}: {e}", dir.display())
                })?;
                Arc::new(fs)
            }
            Backend::S3(settings) => Arc::new(s3_store(settings, bucket)?),
        };
        stores.insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }
}

/// A client of one bucket of the S3 endpoint: the standard `AWS_*` variables first,
/// then the explicit settings over them; path-style addressing.
fn s3_store(settings: &S3Settings, bucket: &str) -> Result<object_store::aws::AmazonS3, String> {
    let mut b = AmazonS3Builder::from_env()
        .with_endpoint(&settings.endpoint)
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(false)
        .with_allow_http(settings.endpoint.starts_with("http://"))
        .with_retry(retry_config());
    if let Some(region) = &settings.region {
        b = b.with_region(region);
    }
    if let Some(key) = &settings.access_key_id {
        b = b.with_access_key_id(key);
    }
    if let Some(secret) = &settings.secret_access_key {
        b = b.with_secret_access_key(secret);
    }
    if let Some(token) = &settings.session_token {
        b = b.with_token(token);
    }
    b.build()
        .map_err(|e| format!("cannot use the S3 endpoint {}: {e}", settings.endpoint))
}

#[cfg(test)]
mod tests {
    use super::{bucket_of, Buckets, S3Settings};

    #[test]
    fn bucket_arns() {
        assert_eq!(bucket_of("arn:aws:s3:::my-bucket"), Some("my-bucket"));
        assert_eq!(bucket_of("arn:aws-cn:s3:::b.c-d"), Some("b.c-d"));
        assert_eq!(bucket_of("arn:aws:s3:::UPPER"), None);
        assert_eq!(bucket_of("arn:aws:kinesis:::x"), None);
        assert_eq!(bucket_of("my-bucket"), None);
    }

    #[test]
    fn a_local_object_syncs_only_directories_not_yet_durable() {
        let root = tempfile::tempdir().unwrap();
        let b = Buckets::local(root.path());
        let dir = root.path().join("bkt/2026/12/01/08");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("one"), b"records").unwrap();
        b.sync_object("bkt", "2026/12/01/08/one").unwrap();
        let known = |p: &str| {
            b.durable_dirs
                .lock()
                .unwrap()
                .contains(&root.path().join(p))
        };
        for d in [
            "bkt/2026",
            "bkt/2026/12",
            "bkt/2026/12/01",
            "bkt/2026/12/01/08",
        ] {
            assert!(known(d), "{d}");
        }
        assert!(
            !known("bkt"),
            "the bucket's own entry is not the object's concern"
        );
        // A later hour: only its new directory is added.
        std::fs::create_dir_all(root.path().join("bkt/2026/12/01/09")).unwrap();
        std::fs::write(root.path().join("bkt/2026/12/01/09/two"), b"more").unwrap();
        b.sync_object("bkt", "2026/12/01/09/two").unwrap();
        assert!(known("bkt/2026/12/01/09"));
        assert_eq!(b.durable_dirs.lock().unwrap().len(), 5);
        // A key without a prefix syncs the bucket's directory alone.
        std::fs::write(root.path().join("bkt/flat"), b"x").unwrap();
        b.sync_object("bkt", "flat").unwrap();
    }

    fn s3(endpoint: &str) -> S3Settings {
        S3Settings {
            endpoint: endpoint.into(),
            region: Some("us-east-1".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("secret".into()),
            session_token: None,
        }
    }

    #[test]
    fn s3_buckets_are_built_once() {
        let b = Buckets::s3(s3("http://127.0.0.1:9/")).unwrap();
        assert_eq!(b.s3_endpoint(), Some("http://127.0.0.1:9"));
        let one = b.store("bucket-a").unwrap();
        let again = b.clone().store("bucket-a").unwrap();
        assert!(std::sync::Arc::ptr_eq(&one, &again));
        let other = b.store("bucket-b").unwrap();
        assert!(!std::sync::Arc::ptr_eq(&one, &other));
        assert!(format!("{one}").contains("bucket-a"), "{one}");
    }

    #[test]
    fn bad_s3_settings_are_refused() {
        assert!(Buckets::s3(s3("127.0.0.1:9")).is_err());
        let mut no_key = s3("https://s3.example.com");
        no_key.access_key_id = None;
        // A secret without its key id (unless the environment has one).
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            assert!(Buckets::s3(no_key).is_err());
        }
        let debug = format!("{:?}", s3("http://x"));
        assert!(!debug.contains("secret\""), "{debug}");
    }

    #[test]
    fn local_buckets_are_directories() {
        let root = tempfile::tempdir().unwrap();
        let b = Buckets::local(root.path());
        assert_eq!(b.s3_endpoint(), None);
        let one = b.store("bucket-a").unwrap();
        assert!(root.path().join("bucket-a").is_dir());
        assert!(std::sync::Arc::ptr_eq(&one, &b.store("bucket-a").unwrap()));
    }

    #[test]
    fn local_objects_are_synced_with_their_directories() {
        let root = tempfile::tempdir().unwrap();
        let b = Buckets::local(root.path());
        let dir = root.path().join("bucket-a/2026/11/30/23");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("d-1-x"), b"records").unwrap();
        b.sync_object("bucket-a", "2026/11/30/23/d-1-x").unwrap();
        let missing = b
            .sync_object("bucket-a", "2026/11/30/23/absent")
            .unwrap_err();
        assert!(missing.contains("absent"), "{missing}");
        assert!(missing.contains("cannot sync"), "{missing}");
        // S3 answers a PUT once the object is durable: nothing to do.
        let s3 = Buckets::s3(s3("http://127.0.0.1:9/")).unwrap();
        s3.sync_object("bucket-a", "absent").unwrap();
    }
}
