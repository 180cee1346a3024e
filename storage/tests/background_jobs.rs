//! One registry of background jobs: the engine's sweeps are listed there beside the
//! services' thread and task jobs, with their state and last error; shutdown signals
//! them all, joins them within the bound and reports how each ended.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use freshet_storage::*;

fn engine(dir: &std::path::Path, stop_bound: Duration) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.retention_interval = Some(Duration::from_millis(20));
    cfg.jobs_stop_timeout = stop_bound;
    Engine::open(cfg).expect("open")
}

fn state_of(engine: &Engine, name: &str) -> JobInfo {
    engine
        .jobs()
        .list()
        .into_iter()
        .find(|j| j.name == name)
        .unwrap_or_else(|| panic!("job {name} listed"))
}

/// Waits (bounded) until `check` holds for the job named `name`.
fn wait_for(engine: &Engine, name: &str, check: impl Fn(&JobInfo) -> bool) -> JobInfo {
    for _ in 0..2000 {
        let j = state_of(engine, name);
        if check(&j) {
            return j;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "job {name} never reached the expected state: {:?}",
        state_of(engine, name)
    );
}

#[test]
fn thread_jobs_are_listed_report_errors_and_stop_with_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Duration::from_secs(20));
    let names: Vec<String> = engine.jobs().list().into_iter().map(|j| j.name).collect();
    assert_eq!(
        names,
        ["retention", "map-release"],
        "the engine's own sweeps"
    );

    // A delivery loop that runs until told to stop.
    let passes = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&passes);
    engine
        .jobs()
        .spawn_thread("delivery", move |ctx: JobContext| {
            while !ctx.stop_signal().wait_timeout(Duration::from_millis(5)) {
                p.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        })
        .expect("spawn");
    // A poller whose passes fail: it goes on, with the error listed.
    engine
        .jobs()
        .spawn_periodic("poller", Duration::from_millis(5), || {
            Err::<(), _>("destination unreachable")
        })
        .expect("spawn");
    // A job that ends with an error, and one that panics.
    engine
        .jobs()
        .spawn_thread("broken", |_ctx: JobContext| {
            Err::<(), _>("bad configuration")
        })
        .expect("spawn");
    engine
        .jobs()
        .spawn_thread("buggy", |_ctx: JobContext| -> Result<(), String> {
            panic!("index out of range")
        })
        .expect("spawn");

    let poller = wait_for(&engine, "poller", |j| j.errors >= 2);
    assert_eq!(poller.state, JobState::Running);
    assert_eq!(
        poller.last_error.as_deref(),
        Some("destination unreachable")
    );
    let broken = wait_for(&engine, "broken", |j| j.state.is_finished());
    assert_eq!(broken.state, JobState::Failed);
    assert_eq!(broken.last_error.as_deref(), Some("bad configuration"));
    let buggy = wait_for(&engine, "buggy", |j| j.state.is_finished());
    assert_eq!(buggy.state, JobState::Panicked);
    assert!(
        buggy.last_error.unwrap().contains("index out of range"),
        "the panic message is kept"
    );
    wait_for(&engine, "delivery", |_| passes.load(Ordering::Relaxed) > 0);
    assert_eq!(state_of(&engine, "delivery").kind, JobKind::Thread);

    engine.shutdown().expect("shutdown");
    let report = engine.jobs().shutdown_report();
    let by_name = |n: &str| report.iter().find(|j| j.name == n).unwrap().clone();
    for n in ["retention", "map-release", "delivery", "poller"] {
        assert_eq!(by_name(n).state, JobState::Stopped, "{n}");
    }
    assert_eq!(by_name("broken").state, JobState::Failed);
    assert_eq!(by_name("buggy").state, JobState::Panicked);
    assert!(engine.jobs().list().is_empty());
    // After shutdown no job starts.
    assert!(matches!(
        engine
            .jobs()
            .spawn_thread("late", |_ctx: JobContext| Ok::<(), String>(())),
        Err(Error::ShutDown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_jobs_stop_on_their_signal_and_one_job_can_be_stopped_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Duration::from_secs(20));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ticker = engine
        .jobs()
        .spawn_task("ticker", move |ctx: JobContext| async move {
            let mut n = 0u64;
            while !ctx.stop_signal().sleep(Duration::from_millis(5)).await {
                n += 1;
                let _ = tx.send(n);
            }
            Ok::<(), String>(())
        })
        .expect("spawn");
    engine
        .jobs()
        .spawn_task("waiter", |ctx: JobContext| async move {
            ctx.stop_signal().stopped().await;
            Ok::<(), String>(())
        })
        .expect("spawn");
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("ticks within the bound");
    assert_eq!(first, Some(1));
    assert_eq!(
        engine.jobs().get(ticker).map(|j| (j.kind, j.state)),
        Some((JobKind::Task, JobState::Running))
    );

    // One job stops alone (a delivery stream deleted); the others run on.
    let jobs = engine.jobs().clone();
    let ended = tokio::task::spawn_blocking(move || jobs.stop(ticker, Duration::from_secs(20)))
        .await
        .expect("join")
        .expect("listed");
    assert_eq!(ended.state, JobState::Stopped);
    assert!(engine.jobs().get(ticker).is_none());
    assert_eq!(state_of(&engine, "waiter").state, JobState::Running);

    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.shutdown())
        .await
        .expect("join")
        .expect("shutdown");
    let report = engine.jobs().shutdown_report();
    assert!(
        report.iter().all(|j| j.state == JobState::Stopped),
        "{report:?}"
    );
    assert_eq!(
        report.len(),
        3,
        "retention, map-release and waiter: {report:?}"
    );
}

#[test]
fn a_job_that_ignores_its_signal_is_reported_and_shutdown_does_not_wait_past_the_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Duration::from_millis(100));
    let (release, held) = mpsc::channel::<()>();
    engine
        .jobs()
        .spawn_thread("stuck", move |_ctx: JobContext| {
            // Ignores the stop signal; the test lets it go after shutdown returned.
            let _ = held.recv_timeout(Duration::from_secs(60));
            Ok::<(), String>(())
        })
        .expect("spawn");
    engine.shutdown().expect("shutdown");
    let report = engine.jobs().shutdown_report();
    let stuck = report.iter().find(|j| j.name == "stuck").unwrap();
    assert_eq!(stuck.state, JobState::Unresponsive);
    assert!(report
        .iter()
        .filter(|j| j.name != "stuck")
        .all(|j| j.state == JobState::Stopped));
    release.send(()).expect("release the stuck job");
}

#[test]
fn task_jobs_need_a_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), Duration::from_secs(1));
    let spawned = engine
        .jobs()
        .spawn_task("no-runtime", |_ctx: JobContext| async {
            Ok::<(), String>(())
        });
    assert!(matches!(spawned, Err(Error::NoRuntime { job }) if job == "no-runtime"));
}
