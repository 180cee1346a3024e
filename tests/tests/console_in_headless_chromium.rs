//! The web console (`/console`) of a real `freshet serve`, in a real headless Chromium:
//! `tests/python/console_browser.py` drives Debian's `chromium` through its
//! `chromedriver` with Selenium (both installed by `scripts/prereqs.sh`) and checks the
//! page against what boto3 reads from the same API: no console errors, the stream list
//! and shard counts, graphs that move while a producer writes, a split in the lineage
//! tree, records just put in the record browser (text, JSON, hex, KPL aggregates taken
//! apart), enhanced fan-out subscriptions, KCL leases and lag, functions and delivery
//! streams; with `--auth`, the page asks for keys, signs with them and refuses wrong
//! ones. A screenshot of each page is kept in `<target dir>/test-artifacts/console/`.
//!
//! Where the console is served is checked over plain HTTP: on a loopback `--addr`, not
//! on another address unless `--console-addr` opens a listener for it (which answers the
//! whole API as well), never with `--console false`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use freshet_tests::lambda::venv_python;
use freshet_tests::{call, python, Server};

/// One browser at a time: each test starts a Chromium and a server, on two cores.
static BROWSER: Mutex<()> = Mutex::new(());

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where the screenshots go (created; printed).
fn artifacts() -> PathBuf {
    let dir = python::target_dir().join("test-artifacts").join("console");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    eprintln!("console screenshots: {}", dir.display());
    dir
}

/// The venv, with Selenium and aws-kinesis-agg (`scripts/python-venv.sh` installs
/// them; the venv the other tests make may predate them).
fn venv_with_selenium() -> PathBuf {
    let venv = python::venv();
    let python = venv.join("bin").join("python");
    let has = |venv: &Path| {
        Command::new(venv.join("bin").join("python"))
            .args(["-c", "import selenium, aws_kinesis_agg"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&venv) {
        let script = freshet_tests::manifest_dir().join("../scripts/python-venv.sh");
        let ok = Command::new("bash")
            .arg(script)
            .env("FRESHET_PY_VENV", &venv)
            .env("CARGO_TARGET_DIR", python::target_dir())
            .status();
        assert!(
            matches!(ok, Ok(s) if s.success()),
            "scripts/python-venv.sh failed: {ok:?}"
        );
        assert!(has(&venv), "{} cannot import selenium", python.display());
    }
    venv
}

fn require_chromium() {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: run scripts/prereqs.sh (Debian's chromium and chromium-driver)"
        );
    }
}

fn run_browser_script(server: &Server, args: &[String]) {
    require_chromium();
    let venv = venv_with_selenium();
    let started = Instant::now();
    let out = Command::new(venv.join("bin").join("python"))
        .arg(python::scripts_dir().join("console_browser.py"))
        .args(args)
        .env("SE_OFFLINE", "true")
        .env("FRESHET_CHROMIUM", CHROMIUM)
        .env("FRESHET_CHROMEDRIVER", CHROMEDRIVER)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("passed, 0 failed"),
        "console_browser.py {} failed:\n{stdout}\n{}\nserver log:\n{}",
        args.first().map_or("", String::as_str),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
    eprintln!("console_browser.py took {:.1?}", started.elapsed());
}

#[test]
fn the_console_shows_what_the_api_says_and_moves_with_it() {
    let _one = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let python_bin = venv_python();
    let server = Server::start(&[
        "--lambda-python",
        &python_bin.to_string_lossy(),
        "--lambda-idle-secs",
        "30",
    ]);
    let dir = artifacts();
    run_browser_script(
        &server,
        &[
            "main".into(),
            server.endpoint(),
            dir.to_string_lossy().into_owned(),
        ],
    );
}

#[test]
fn with_auth_the_console_asks_for_keys_and_signs_with_them() {
    let _one = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let server = Server::start(&["--auth", "--access-key", "AKIDCONSOLE:console-secret"]);
    let dir = artifacts();
    run_browser_script(
        &server,
        &[
            "auth".into(),
            server.endpoint(),
            dir.to_string_lossy().into_owned(),
            "AKIDCONSOLE".into(),
            "console-secret".into(),
        ],
    );
}

/// A `freshet serve` started with exactly `args` (the harness always passes a
/// loopback `--addr`), with the addresses its start lines name.
struct Bare {
    child: std::process::Child,
    api: SocketAddr,
    consoles: Vec<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bare(args: &[&str]) -> Bare {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut child = Command::new(freshet_tests::server::binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("freshet: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut api = None;
    let mut consoles = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The console's lines come right after the listening line.
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let addr = |rest: &str| -> SocketAddr {
            let a = rest
                .trim_start_matches("http://")
                .trim_end_matches("/console/");
            a.parse().unwrap_or_else(|e| panic!("{a}: {e}"))
        };
        if let Some(rest) = line.strip_prefix("freshet listening on ") {
            api = Some(addr(rest));
            // Anything more is printed at once; wait a moment for it.
            while let Ok(more) = rx.recv_timeout(Duration::from_millis(500)) {
                if let Some(rest) = more.strip_prefix("freshet console on ") {
                    consoles.push(addr(rest));
                }
            }
            break;
        }
    }
    let api = api.unwrap_or_else(|| panic!("freshet {args:?} did not start"));
    Bare {
        child,
        api,
        consoles,
        _dir: dir,
    }
}

/// A loopback address for a server listening on `addr` (maybe a wildcard).
fn reach(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// `GET path`: the status and the head (read only up to the end of the head: the live
/// endpoint's body never ends).
fn get_head(addr: SocketAddr, path: &str) -> (u16, String) {
    let addr = reach(addr);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn get(addr: SocketAddr, path: &str) -> u16 {
    get_head(addr, path).0
}

fn list_streams(addr: SocketAddr) -> u16 {
    call(
        reach(addr),
        "ListStreams",
        "application/x-amz-json-1.1",
        b"{}",
    )
    .unwrap_or_else(|e| panic!("ListStreams: {e}"))
    .status
}

#[test]
fn the_console_is_served_on_loopback_or_where_console_addr_says() {
    // Loopback --addr: served there.
    let s = bare(&["--addr", "127.0.0.1:0"]);
    assert_eq!(s.consoles, vec![s.api]);
    assert_eq!(get(s.api, "/console/"), 200);
    assert_eq!(get(s.api, "/console"), 200);
    assert_eq!(get(s.api, "/console/app.js"), 200);
    assert_eq!(get(s.api, "/console/config.json"), 200);
    assert_eq!(get(s.api, "/console/missing.js"), 404);
    drop(s);

    // Turned off.
    let s = bare(&["--addr", "127.0.0.1:0", "--console", "false"]);
    assert!(s.consoles.is_empty());
    assert_eq!(get(s.api, "/console/"), 404);
    assert_eq!(get(s.api, "/console/live"), 404);
    assert_eq!(list_streams(s.api), 200);
    drop(s);

    // A wildcard --addr: not served there, even to a loopback client.
    let s = bare(&["--addr", "0.0.0.0:0"]);
    assert!(s.consoles.is_empty(), "{:?}", s.consoles);
    assert_eq!(get(s.api, "/console/"), 404);
    assert_eq!(get(s.api, "/console/live"), 404);
    assert_eq!(get(s.api, "/console/config.json"), 404);
    assert_eq!(list_streams(s.api), 200);
    drop(s);

    // ... unless --console-addr opens a listener for it, which serves the API too.
    let s = bare(&["--addr", "0.0.0.0:0", "--console-addr", "127.0.0.1:0"]);
    let [console] = s.consoles[..] else {
        panic!("one console address: {:?}", s.consoles)
    };
    assert_ne!(console.port(), s.api.port());
    assert_eq!(get(s.api, "/console/"), 404);
    assert_eq!(get(console, "/console/"), 200);
    assert_eq!(list_streams(console), 200);
    assert_eq!(list_streams(s.api), 200);
    let (status, head) = get_head(console, "/console/live");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
}

/// Runs `scripts/prereqs.sh ARGS` with `PATH` = `path` only: (exit code, stdout, stderr).
fn prereqs(path: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let script = freshet_tests::manifest_dir().join("../scripts/prereqs.sh");
    let out = Command::new(path.join("bash"))
        .arg(script)
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("prereqs.sh: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// `scripts/prereqs.sh` finds chromium and chromedriver by their binaries, and names
/// Debian's packages when they are absent: run with a PATH holding every program of
/// this machine but those two (and an `id` that says "not root", so that it prints the
/// command instead of installing), then with stand-ins for them.
#[test]
fn prereqs_name_chromium_and_its_driver_when_their_binaries_are_missing() {
    let bin = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = bin.path().join(&name);
            if ["chromium", "chromedriver", "id"].contains(&name.to_string_lossy().as_ref())
                || link.symlink_metadata().is_ok()
            {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), link);
        }
    }
    let stand_in = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.path().join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    };
    stand_in("id", "#!/bin/sh\necho 1000\n");

    let (code, out, err) = prereqs(bin.path(), &["--list-missing"]);
    assert_eq!(code, Some(0), "{err}");
    let missing = words(&out);
    assert!(
        missing.contains(&"chromium") && missing.contains(&"chromium-driver"),
        "{out}"
    );

    // Not root: the exact command is printed, nothing is installed, the check fails.
    let (code, _, err) = prereqs(bin.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    let command = err
        .lines()
        .find(|l| l.contains("apt-get install -y"))
        .unwrap_or_else(|| panic!("no install command in: {err}"));
    assert!(
        words(command).contains(&"chromium") && words(command).contains(&"chromium-driver"),
        "{command}"
    );

    stand_in("chromium", "#!/bin/sh\nexit 0\n");
    stand_in("chromedriver", "#!/bin/sh\nexit 0\n");
    let (code, out, err) = prereqs(bin.path(), &["--list-missing"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !words(&out).iter().any(|w| w.starts_with("chromium")),
        "{out}"
    );
}
