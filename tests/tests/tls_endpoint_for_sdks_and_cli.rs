#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The same clients against HTTPS: `freshet serve --tls-cert/--tls-key` with a CA and a
//! certificate for 127.0.0.1 made here (rcgen).
//!
//! - boto3 and the AWS CLI trust the CA the ways users say so (`verify=`,
//!   `AWS_CA_BUNDLE`, `--ca-bundle`, a profile's `ca_bundle`) and refuse the server
//!   without it (`tests/python/tls_boto3_and_awscli.py`);
//! - the Rust client (`tls`) and the KCL reach it through `AWS_CA_BUNDLE`; the client
//!   speaks HTTP/2 there (ALPN), so a SubscribeToShard stream and a put share one
//!   connection of a server that allows one;
//! - a client that stalls in the handshake loses its connection slot;
//! - credentials come from the SDK's chain: profile files (`AWS_PROFILE`), the
//!   container endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), session tokens passed
//!   through, all checked by `--auth`; with nothing configured a loopback endpoint gets
//!   the placeholder at once (no instance-metadata wait);
//! - bad certificate and key files stop `serve` with a message naming them.
//!
//! Scenarios that need their own environment variables run in a child process (this
//! test binary again, `child_scenario`), so no test changes the environment of others.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freshet_client::{
    wait_for_active, ClientConfig, Error, KinesisApi, KinesisClient, PutRecordsEntry,
    ShardIteratorType, StartingPosition,
};
use freshet_kcl::{
    Checkpointer, Config, HttpLeaseStore, InitializationInput, KinesisSource, LeaseStore,
    ProcessRecordsInput, Scheduler, ShardRecordProcessor, ShardRecordProcessorFactory,
};
use freshet_tests::{python, Server};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Environment of a child scenario: which one, and where the server is.
const MODE: &str = "FRESHET_TLS_TEST_MODE";
const ENDPOINT: &str = "FRESHET_TLS_TEST_ENDPOINT";

/// A test CA, and a certificate and key for `127.0.0.1` and `localhost` that it signed.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Freshet test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
        let write = |name: &str, text: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca_path = write("ca.pem", ca.pem());
        // The chain as servers usually hold it: the leaf, then the CA.
        let cert = write("cert.pem", format!("{}{}", leaf.pem(), ca.pem()));
        let key = write("key.pem", leaf_key.serialize_pem());
        Pki {
            ca: ca_path,
            cert,
            key,
            dir,
        }
    }

    /// `--tls-cert CERT --tls-key KEY` and `extra`.
    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client of `endpoint` trusting `ca` through [`ClientConfig::ca_bundle`].
fn client_trusting(endpoint: &str, ca: &Path) -> KinesisClient {
    let mut cfg = ClientConfig::new(endpoint);
    cfg.ca_bundle = Some(ca.to_path_buf());
    cfg.timeout = Duration::from_secs(10);
    KinesisClient::with_config(cfg).unwrap()
}

/// Runs `child_scenario` in `mode` in a child process whose environment has no `AWS_*`
/// variable but `env`, and `HOME` in a temporary directory (no `~/.aws`); returns its
/// output, asserting it passed.
fn run_child(mode: &str, endpoint: &str, env: &[(&str, String)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_scenario",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home.path())
        .env(MODE, mode)
        .env(ENDPOINT, endpoint)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child scenario {mode} failed:\n{text}"
    );
    eprintln!("child scenario {mode}:\n{text}");
    text
}

#[test]
fn boto3_and_the_aws_cli_trust_the_test_ca_and_refuse_without_it() {
    let started = Instant::now();
    let pki = Pki::new();
    let server = Server::start(&pki.args(&[]));
    assert!(server.is_tls(), "{}", server.endpoint());
    assert!(server.endpoint().starts_with("https://127.0.0.1:"));
    let aws = python::venv().join("bin").join("aws");
    let work = tempfile::tempdir().unwrap();
    let out = python::run_script(
        &server,
        "tls_boto3_and_awscli.py",
        &[
            server.endpoint(),
            pki.ca.display().to_string(),
            aws.display().to_string(),
            work.path().display().to_string(),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
    eprintln!(
        "boto3 and the AWS CLI over https took {:.1?}",
        started.elapsed()
    );
}

#[test]
fn rust_client_and_kcl_reach_https_through_aws_ca_bundle() {
    let started = Instant::now();
    let pki = Pki::new();
    let server = Server::start(&pki.args(&[]));
    // Not trusted without the CA: the webpki roots (and the machine's own
    // AWS_CA_BUNDLE, if any) do not know it.
    rt().block_on(async {
        let mut cfg = ClientConfig::new(server.endpoint());
        cfg.retry = freshet_client::RetryPolicy::none();
        let api = KinesisClient::with_config(cfg).unwrap();
        match api.list_streams().await {
            Err(Error::Transport(e)) => assert!(
                e.contains("UnknownIssuer") || e.to_lowercase().contains("certificate"),
                "{e}"
            ),
            other => panic!("trusted without the CA: {other:?}"),
        }
        // A CA bundle that is not a PEM file is refused at construction, named.
        let junk = pki.path("junk.pem");
        std::fs::write(&junk, "nothing here\n").unwrap();
        let mut cfg = ClientConfig::new(server.endpoint());
        cfg.ca_bundle = Some(junk);
        let e = KinesisClient::with_config(cfg).unwrap_err().to_string();
        assert!(e.contains("junk.pem"), "{e}");
    });
    run_child(
        "client-and-kcl",
        &server.endpoint(),
        &[("AWS_CA_BUNDLE", pki.ca.display().to_string())],
    );
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
    eprintln!(
        "Rust client and KCL over https took {:.1?}",
        started.elapsed()
    );
}

#[test]
fn subscribe_to_shard_over_http2_and_a_stalled_handshake_loses_its_slot() {
    let started = Instant::now();
    let pki = Pki::new();
    // One connection at a time: HTTP/1.1 would need a second one for the put made while
    // the subscription streams; HTTP/2 carries both.
    let server = Server::start(&pki.args(&[
        "--max-connections",
        "1",
        "--admission-wait-ms",
        "200",
        "--header-read-timeout-ms",
        "1500",
    ]));

    // A client that sends one byte of a ClientHello and stalls holds the only slot until
    // the handshake times out, then is closed.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.write_all(&[0x16]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    let n = stalled.read(&mut buf).unwrap_or(0);
    let held = t0.elapsed();
    assert_eq!(n, 0, "the stalled handshake got bytes: {:?}", &buf[..n]);
    assert!(
        held >= Duration::from_millis(1000) && held < Duration::from_secs(8),
        "closed after {held:?}"
    );

    // curl (when it has HTTP/2) negotiates h2 through ALPN.
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(["-o", "/dev/null", "-w", "%{http_version}"])
        .arg(format!("{}/health", server.endpoint()))
        .output();
    match curl {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).to_string();
            let has_h2 = Command::new("curl")
                .arg("--version")
                .output()
                .map(|v| String::from_utf8_lossy(&v.stdout).contains("HTTP2"))
                .unwrap_or(false);
            if has_h2 {
                assert_eq!(version, "2", "curl spoke HTTP/{version}");
            }
        }
        Ok(out) => panic!("curl failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => eprintln!("curl not installed: ALPN check skipped"),
    }

    rt().block_on(async {
        let api = client_trusting(&server.endpoint(), &pki.ca);
        api.create_stream("h2-tls", 1).await.unwrap();
        wait_for_active(&api, "h2-tls", Duration::from_secs(30))
            .await
            .unwrap();
        let summary = api.describe_stream_summary("h2-tls").await.unwrap();
        let consumer = api
            .ensure_consumer(&summary.stream_arn, "h2", Duration::from_secs(30))
            .await
            .unwrap();
        let mut events = api
            .subscribe_to_shard(
                &consumer.consumer_arn,
                "shardId-000000000000",
                StartingPosition::Latest,
            )
            .await
            .unwrap();
        // The subscription is open on the connection; the put goes over it too.
        let put = api
            .put_record("h2-tls", PutRecordsEntry::new("pk", "while-subscribed"))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while seen.is_empty() {
            assert!(Instant::now() < deadline, "no event in 20 s");
            let ev = tokio::time::timeout(Duration::from_secs(20), events.recv())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .expect("an event, not an error");
            seen.extend(ev.records.into_iter().map(|r| (r.sequence_number, r.data)));
        }
        assert_eq!(
            seen,
            vec![(put.sequence_number, bytes::Bytes::from("while-subscribed"))]
        );
    });
    eprintln!("HTTP/2 over TLS took {:.1?}", started.elapsed());
}

/// Serves `body` as the container credentials endpoint for every request on 127.0.0.1,
/// recording the `Authorization` header of each; stops after `max` requests.
fn container_endpoint(body: String, max: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/creds", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            let head = read_head(&mut stream);
            let auth = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("authorization")
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default();
            log.lock().unwrap().push(auth);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, seen)
}

/// A fake instance metadata service (IMDSv2) on 127.0.0.1: a token, a region, a role
/// and its credentials; records each request line. Stops after 50 requests.
fn instance_metadata(expiration: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let head = read_head(&mut stream);
            let line = head.lines().next().unwrap_or_default().to_string();
            log.lock().unwrap().push(line.clone());
            let path = line.split(' ').nth(1).unwrap_or_default();
            let body = match (line.split(' ').next().unwrap_or_default(), path) {
                ("PUT", "/latest/api/token") => Some("imds-token".to_string()),
                ("GET", "/latest/meta-data/placement/region") => Some("eu-north-1".into()),
                ("GET", "/latest/meta-data/iam/security-credentials/") => Some("role-x".into()),
                ("GET", "/latest/meta-data/iam/security-credentials/role-x") => Some(
                    serde_json::json!({
                        "Code": "Success",
                        "LastUpdated": "2026-01-01T00:00:00Z",
                        "Type": "AWS-HMAC",
                        "AccessKeyId": "ASIAIMDS",
                        "SecretAccessKey": "imds-secret",
                        "Token": "imds-session-token",
                        "Expiration": expiration,
                    })
                    .to_string(),
                ),
                _ => None,
            };
            let reply = match body {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                    b.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, seen)
}

/// The request head (bounded read).
fn read_head(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

#[test]
fn credentials_from_profiles_and_the_container_endpoint_pass_auth() {
    let started = Instant::now();
    let pki = Pki::new();
    let server = Server::start(&pki.args(&[
        "--auth",
        "--access-key",
        "AKIDPROFILE:profile/secret+1",
        "--access-key",
        "ASIATEMP:temp-secret",
        "--access-key",
        "ASIAECS:ecs-secret",
    ]));
    let credentials = pki.path("credentials");
    std::fs::write(
        &credentials,
        "[good]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile/secret+1\n\n\
         [wrong]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = not-the-secret\n\n\
         [temp]\naws_access_key_id = ASIATEMP\naws_secret_access_key = temp-secret\n\
         aws_session_token = the-session-token\n",
    )
    .unwrap();
    let config = pki.path("config");
    std::fs::write(
        &config,
        format!(
            "[profile good]\nregion = eu-west-3\n\n[profile temp]\nregion = ap-south-1\nca_bundle = {}\n",
            pki.ca.display()
        ),
    )
    .unwrap();
    let ca = ("AWS_CA_BUNDLE", pki.ca.display().to_string());
    let files = [
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials.display().to_string(),
        ),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let endpoint = server.endpoint();

    // Profile keys and the profile's region.
    let env = [
        ca.clone(),
        files[0].clone(),
        files[1].clone(),
        ("AWS_PROFILE", "good".to_string()),
    ];
    run_child("profile-good", &endpoint, &env);
    // A profile whose secret is wrong: refused by --auth.
    let env = [
        ca.clone(),
        files[0].clone(),
        files[1].clone(),
        ("AWS_PROFILE", "wrong".to_string()),
    ];
    run_child("refused", &endpoint, &env);
    // Temporary credentials: the session token goes out with the request; the CA comes
    // from the profile's ca_bundle (no AWS_CA_BUNDLE).
    let env = [
        files[0].clone(),
        files[1].clone(),
        ("AWS_PROFILE", "temp".to_string()),
    ];
    run_child("profile-session", &endpoint, &env);

    // The container endpoint (ECS, EKS Pod Identity), fetched once and cached.
    let expiry = std::time::SystemTime::now() + Duration::from_secs(3600);
    let body = serde_json::json!({
        "AccessKeyId": "ASIAECS",
        "SecretAccessKey": "ecs-secret",
        "Token": "ecs-session-token",
        "Expiration": rfc3339(expiry),
    })
    .to_string();
    let (url, requests) = container_endpoint(body, 10);
    let env = [
        ca.clone(),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth".into()),
    ];
    run_child("container", &endpoint, &env);
    assert_eq!(
        *requests.lock().unwrap(),
        vec!["container-auth".to_string()],
        "one fetch for all the calls, with the authorization token"
    );

    // Instance metadata, for endpoints that are not loopback ones.
    let (imds, imds_requests) = instance_metadata(rfc3339(expiry));
    let env = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)];
    run_child(
        "instance-metadata",
        "https://kinesis.us-west-2.amazonaws.com",
        &env,
    );
    let paths = imds_requests.lock().unwrap().clone();
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.starts_with("GET /latest/meta-data/iam/security-credentials/role-x"))
            .count(),
        1,
        "{paths:?}"
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let env = [(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        format!("http://{closed}"),
    )];
    run_child(
        "no-instance-metadata",
        "https://kinesis.us-west-2.amazonaws.com",
        &env,
    );

    // Nothing configured: the placeholder at once (refused here, where --auth knows no
    // such key), no wait on instance metadata for a loopback endpoint.
    run_child("nothing-configured", &endpoint, std::slice::from_ref(&ca));
    eprintln!("credential chain scenarios took {:.1?}", started.elapsed());
}

/// `2026-11-30T12:00:00Z`, as the container and instance credential endpoints write it.
fn rfc3339(t: std::time::SystemTime) -> String {
    use aws_sdk_kinesis::primitives::{DateTime, DateTimeFormat};
    DateTime::from(t).fmt(DateTimeFormat::DateTime).unwrap()
}

#[test]
fn serve_refuses_bad_certificate_and_key_files() {
    let pki = Pki::new();
    let junk = pki.path("junk.pem");
    std::fs::write(&junk, "-----BEGIN NOTHING-----\nnope\n").unwrap();
    let other_key = pki.path("other-key.pem");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let missing = pki.path("missing-cert.pem");
    let s = |p: &Path| p.display().to_string();
    /// Arguments, environment, what the message must say.
    type Case<'a> = (Vec<String>, Vec<(&'a str, String)>, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            vec![
                "--tls-cert".into(),
                s(&missing),
                "--tls-key".into(),
                s(&pki.key),
            ],
            vec![],
            vec!["--tls-cert".into(), s(&missing)],
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&pki.cert),
                "--tls-key".into(),
                s(&junk),
            ],
            vec![],
            vec!["--tls-key".into(), s(&junk)],
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&junk),
                "--tls-key".into(),
                s(&pki.key),
            ],
            vec![],
            vec!["--tls-cert".into(), s(&junk)],
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&pki.cert),
                "--tls-key".into(),
                s(&other_key),
            ],
            vec![],
            vec!["does not go with".into(), s(&other_key)],
        ),
        (
            vec!["--tls-cert".into(), s(&pki.cert)],
            vec![],
            vec!["needs --tls-key".into()],
        ),
        (
            vec![],
            vec![("FRESHET_TLS_KEY", s(&pki.key))],
            vec!["needs --tls-cert".into()],
        ),
    ];
    for (i, (args, env, want)) in cases.iter().enumerate() {
        let data = pki.path(&format!("data-{i}"));
        let mut child = Command::new(freshet_tests::server::binary())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .env_remove("FRESHET_TLS_CERT")
            .env_remove("FRESHET_TLS_KEY")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve {args:?} kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "serve {args:?} exited 0");
        for w in want {
            assert!(
                stderr.contains(w.as_str()),
                "{args:?}: {w:?} not in {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!data.exists(), "serve {args:?} opened its data directory");
    }

    // Keys in the other PEM encodings start: SEC1 (`EC PRIVATE KEY`), when openssl is
    // there to convert one.
    let sec1 = pki.path("sec1.pem");
    let converted = Command::new("openssl")
        .args(["ec", "-in"])
        .arg(&pki.key)
        .arg("-out")
        .arg(&sec1)
        .stderr(Stdio::null())
        .status();
    if matches!(converted, Ok(s) if s.success()) {
        assert!(std::fs::read_to_string(&sec1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY"));
        let cert = s(&pki.cert);
        let key = s(&sec1);
        let server = Server::start(&["--tls-cert", &cert, "--tls-key", &key]);
        rt().block_on(async {
            let api = client_trusting(&server.endpoint(), &pki.ca);
            assert!(api.list_streams().await.unwrap().is_empty());
        });
    } else {
        eprintln!("openssl not installed: SEC1 key check skipped");
    }
}

// ---- scenarios run in a child process with their own environment ----

#[test]
#[ignore = "a scenario run by the other tests in a child process with its own environment"]
fn child_scenario() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let endpoint = std::env::var(ENDPOINT).unwrap();
    rt().block_on(async move {
        match mode.as_str() {
            "client-and-kcl" => client_and_kcl(&endpoint).await,
            "profile-good" => {
                let api = KinesisClient::new(endpoint).unwrap();
                assert_eq!(api.signing_region().await, "eu-west-3");
                api.list_streams().await.unwrap();
            }
            "refused" => {
                let mut cfg = ClientConfig::new(endpoint);
                cfg.retry = freshet_client::RetryPolicy::none();
                let api = KinesisClient::with_config(cfg).unwrap();
                let e = api.list_streams().await.unwrap_err();
                assert!(e.to_string().to_lowercase().contains("signature"), "{e}");
            }
            "profile-session" => {
                let api = KinesisClient::new(endpoint).unwrap();
                assert_eq!(api.signing_region().await, "ap-south-1");
                api.list_streams().await.unwrap();
                // What goes on the wire: the token, signed for the key.
                let head = capture_one_request().await;
                assert!(
                    head.contains("x-amz-security-token: the-session-token"),
                    "{head}"
                );
                assert!(head.contains("Credential=ASIATEMP/"), "{head}");
                assert!(
                    head.contains("x-amz-security-token;"),
                    "token not signed: {head}"
                );
            }
            "container" => {
                let api = KinesisClient::new(endpoint).unwrap();
                for _ in 0..5 {
                    api.list_streams().await.unwrap();
                }
                // A clone shares the cache.
                api.clone().list_streams().await.unwrap();
            }
            "nothing-configured" => {
                let mut cfg = ClientConfig::new(endpoint);
                cfg.retry = freshet_client::RetryPolicy::none();
                let api = KinesisClient::with_config(cfg).unwrap();
                let t0 = Instant::now();
                assert_eq!(api.signing_region().await, "us-east-1");
                let e = api.list_streams().await.unwrap_err();
                let took = t0.elapsed();
                assert!(
                    e.to_string().contains("UnrecognizedClient"),
                    "not the placeholder's refusal: {e}"
                );
                assert!(took < Duration::from_millis(500), "took {took:?}");
                eprintln!("chain with nothing configured, and one call: {took:?}");
            }
            "instance-metadata" => {
                // Not a loopback endpoint: instance metadata is in the chain (a fake one
                // on 127.0.0.1, AWS_EC2_METADATA_SERVICE_ENDPOINT); nothing is sent to
                // the endpoint itself.
                let api = KinesisClient::new(endpoint).unwrap();
                assert_eq!(api.signing_region().await, "eu-north-1");
                let c = api.signing_credentials().await.unwrap();
                assert_eq!(c.access_key_id(), "ASIAIMDS");
                assert_eq!(c.session_token(), Some("imds-session-token"));
                // Cached: no second fetch (the parent counts the requests).
                api.signing_credentials().await.unwrap();
            }
            "no-instance-metadata" => {
                // Not a loopback endpoint and nothing found: an error, no placeholder;
                // the region from the endpoint's name.
                let api = KinesisClient::new(endpoint).unwrap();
                let t0 = Instant::now();
                assert_eq!(api.signing_region().await, "us-west-2");
                let e = api.signing_credentials().await.unwrap_err().to_string();
                assert!(e.contains("no AWS credentials"), "{e}");
                eprintln!(
                    "chain without instance metadata, not loopback: {:?}",
                    t0.elapsed()
                );
                assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
            }
            other => panic!("unknown scenario {other}"),
        }
    });
}

/// Sends one ListStreams of a default-chain client to a listener here and returns the
/// request head it sent.
async fn capture_one_request() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let head = read_head(&mut stream);
        let body = r#"{"StreamNames":[],"HasMoreStreams":false}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
        head
    });
    let api = KinesisClient::new(format!("http://{addr}")).unwrap();
    api.list_streams().await.unwrap();
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap()
}

struct Collect(Arc<Mutex<BTreeSet<String>>>);

impl ShardRecordProcessor for Collect {
    async fn initialize(&mut self, _input: InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        self.0.lock().unwrap().extend(
            input
                .records
                .iter()
                .map(|r| String::from_utf8_lossy(&r.data).to_string()),
        );
        cp.checkpoint().await.expect("checkpoint over https");
    }

    async fn shard_ended(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }

    async fn shutdown_requested(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }
}

struct CollectFactory(Arc<Mutex<BTreeSet<String>>>);

impl ShardRecordProcessorFactory for CollectFactory {
    type Processor = Collect;
    fn create(&self, _shard_id: &str) -> Collect {
        Collect(Arc::clone(&self.0))
    }
}

/// The client with `AWS_CA_BUNDLE` (from the environment): put and get; then the KCL
/// (lease table on the server, records through the client) consumes a few records.
async fn client_and_kcl(endpoint: &str) {
    let api = Arc::new(KinesisClient::new(endpoint).unwrap());
    api.create_stream("tls-rust", 2).await.unwrap();
    wait_for_active(api.as_ref(), "tls-rust", Duration::from_secs(30))
        .await
        .unwrap();
    let entries: Vec<PutRecordsEntry> = (0..20)
        .map(|i| PutRecordsEntry::new(format!("pk-{i}"), format!("r{i}")))
        .collect();
    let out = api.put_records("tls-rust", entries).await.unwrap();
    assert_eq!(out.failed_record_count, 0);
    let mut got = BTreeSet::new();
    for shard in api.list_shards("tls-rust").await.unwrap() {
        let it = api
            .get_shard_iterator("tls-rust", &shard.shard_id, ShardIteratorType::TrimHorizon)
            .await
            .unwrap();
        let records = api.get_records(&it, None).await.unwrap().records;
        got.extend(
            records
                .iter()
                .map(|r| String::from_utf8_lossy(&r.data).to_string()),
        );
    }
    let want: BTreeSet<String> = (0..20).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want);

    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let store = Arc::new(HttpLeaseStore::new(endpoint, "tls-rust", "tls-app").unwrap());
    let source = Arc::new(KinesisSource::new(Arc::clone(&api), "tls-rust"));
    let mut cfg = Config::new("tls-app", "worker-1");
    cfg.idle_ms = 20;
    cfg.max_idle_ms = 200;
    let (scheduler, handle) = Scheduler::new(cfg, store, source, CollectFactory(Arc::clone(&seen)));
    let task = tokio::spawn(scheduler.run());
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "the KCL consumed {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the worker stops")
        .expect("the worker task");
    assert_eq!(*seen.lock().unwrap(), want);
    // The checkpoints are in the server's lease table, reached over https.
    let leases = HttpLeaseStore::new(endpoint, "tls-rust", "tls-app")
        .unwrap()
        .list()
        .await
        .unwrap();
    assert_eq!(leases.len(), 2, "{leases:?}");
    eprintln!("client and KCL over https: {} records", want.len());
}
