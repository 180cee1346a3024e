//! One registry of background jobs: the engine's own sweeps (retention, releasing idle
//! maps) and the services' deliveries and pollers are started here, listed with their
//! state and last error, and stopped together with the engine: signalled, then joined
//! with a bounded wait, and reported.
//!
//! A job is a blocking thread ([`Jobs::spawn_thread`], [`Jobs::spawn_periodic`]) or a
//! tokio task ([`Jobs::spawn_task`]); either gets a [`JobContext`] whose [`StopSignal`]
//! tells it to stop (a condition variable for threads, a watch channel for tasks: no
//! polling either way) and through which it reports errors it survives.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Job bookkeeping is plain data left consistent by every critical section.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tells a job to stop. Cheap to clone; every clone sees the same signal.
#[derive(Debug, Clone)]
pub struct StopSignal {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    stopped: Mutex<bool>,
    cv: Condvar,
    watch: tokio::sync::watch::Sender<bool>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            inner: Arc::new(StopInner {
                stopped: Mutex::new(false),
                cv: Condvar::new(),
                watch: tokio::sync::watch::Sender::new(false),
            }),
        }
    }
}

impl StopSignal {
    /// A signal not yet given.
    pub fn new() -> Self {
        StopSignal::default()
    }

    /// Gives the signal (idempotent).
    pub fn stop(&self) {
        *lock(&self.inner.stopped) = true;
        self.inner.cv.notify_all();
        self.inner.watch.send_replace(true);
    }

    /// Whether the signal was given.
    pub fn is_stopped(&self) -> bool {
        *lock(&self.inner.stopped)
    }

    /// Blocks the calling thread until the signal is given or `timeout` passes;
    /// returns whether it was given. The pause of a periodic blocking job.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut stopped = lock(&self.inner.stopped);
        while !*stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .inner
                .cv
                .wait_timeout(stopped, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }

    /// Resolves once the signal is given: for `tokio::select!` in a task job.
    pub async fn stopped(&self) {
        let mut rx = self.inner.watch.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Sleeps `d` unless the signal comes first; returns whether it was given.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.stopped() => true,
            _ = tokio::time::sleep(d) => self.is_stopped(),
        }
    }
}

/// Identifies a job in its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

/// How a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// On its own thread (blocking work: the engine's sweeps, file deliveries).
    Thread,
    /// As a task on a tokio runtime.
    Task,
}

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Running (the last error, if any, is one it survived).
    Running,
    /// Told to stop and not finished yet.
    Stopping,
    /// Finished without error.
    Stopped,
    /// Finished with an error (see the last error).
    Failed,
    /// Panicked (the last error holds the message).
    Panicked,
    /// Did not finish within the bound after being told to stop; left running
    /// detached (a task is aborted).
    Unresponsive,
}

impl JobState {
    /// Whether the job has finished, one way or another.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Stopped | JobState::Failed | JobState::Panicked
        )
    }
}

/// A job as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// The name it was started with.
    pub name: String,
    /// Thread or task.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// The last error it reported or ended with.
    pub last_error: Option<String>,
    /// Errors reported over its life.
    pub errors: u64,
}

#[derive(Debug)]
struct Status {
    state: Mutex<(JobState, Option<String>, u64)>,
    done: Condvar,
}

impl Status {
    fn set_error(&self, e: String) {
        let mut s = lock(&self.state);
        s.1 = Some(e);
        s.2 += 1;
    }

    fn finish(&self, state: JobState, error: Option<String>) {
        let mut s = lock(&self.state);
        s.0 = state;
        if let Some(e) = error {
            s.1 = Some(e);
            s.2 += 1;
        }
        self.done.notify_all();
    }

    fn is_finished(&self) -> bool {
        lock(&self.state).0.is_finished()
    }

    /// Waits until the job finished or `deadline` passed; returns whether it finished.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut s = lock(&self.state);
        while !s.0.is_finished() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .done
                .wait_timeout(s, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }
}

/// What a running job gets: its stop signal and a way to report errors it survives.
#[derive(Debug, Clone)]
pub struct JobContext {
    stop: StopSignal,
    status: Arc<Status>,
    name: Arc<str>,
}

impl JobContext {
    /// The job's stop signal.
    pub fn stop_signal(&self) -> &StopSignal {
        &self.stop
    }

    /// Whether the job was told to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Records an error the job survived (listed as its last error).
    pub fn report_error(&self, error: impl std::fmt::Display) {
        let e = error.to_string();
        tracing::warn!(job = %self.name, error = %e, "background job error");
        self.status.set_error(e);
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

enum Handle {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

struct Entry {
    name: String,
    kind: JobKind,
    stop: StopSignal,
    status: Arc<Status>,
    handle: Option<Handle>,
}

impl Entry {
    fn info(&self, id: JobId) -> JobInfo {
        let s = lock(&self.status.state);
        JobInfo {
            id,
            name: self.name.clone(),
            kind: self.kind,
            state: s.0.clone(),
            last_error: s.1.clone(),
            errors: s.2,
        }
    }

    /// Whether the job runs on the calling thread or task (it cannot wait for itself).
    fn is_current(&self) -> bool {
        match &self.handle {
            Some(Handle::Thread(h)) => h.thread().id() == std::thread::current().id(),
            Some(Handle::Task(h)) => tokio::task::try_id() == Some(h.id()),
            None => false,
        }
    }
}

/// The registry of background jobs. Cheap to clone; clones share the registry.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

#[derive(Default)]
struct JobsInner {
    jobs: Mutex<BTreeMap<JobId, Entry>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// How each job ended at [`Jobs::stop_all`].
    report: Mutex<Vec<JobInfo>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("jobs", &self.list())
            .finish_non_exhaustive()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn outcome<E: std::fmt::Display>(
    result: std::result::Result<std::result::Result<(), E>, String>,
) -> (JobState, Option<String>) {
    match result {
        Ok(Ok(())) => (JobState::Stopped, None),
        Ok(Err(e)) => (JobState::Failed, Some(e.to_string())),
        Err(panic) => (JobState::Panicked, Some(panic)),
    }
}

impl Jobs {
    /// An empty registry.
    pub fn new() -> Self {
        Jobs::default()
    }

    fn register(&self, name: &str, kind: JobKind) -> Result<(JobId, JobContext)> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        let id = JobId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let ctx = JobContext {
            stop: StopSignal::new(),
            status: Arc::new(Status {
                state: Mutex::new((JobState::Running, None, 0)),
                done: Condvar::new(),
            }),
            name: Arc::from(name),
        };
        lock(&self.inner.jobs).insert(
            id,
            Entry {
                name: name.to_string(),
                kind,
                stop: ctx.stop.clone(),
                status: Arc::clone(&ctx.status),
                handle: None,
            },
        );
        Ok((id, ctx))
    }

    fn attach(&self, id: JobId, handle: Handle) {
        if let Some(e) = lock(&self.inner.jobs).get_mut(&id) {
            e.handle = Some(handle);
        }
    }

    /// Starts a job on its own thread. It should return soon after its stop signal is
    /// given; an `Err` it returns, or a panic, is listed as its last error.
    pub fn spawn_thread<F, E>(&self, name: &str, job: F) -> Result<JobId>
    where
        F: FnOnce(JobContext) -> std::result::Result<(), E> + Send + 'static,
        E: std::fmt::Display,
    {
        let (id, ctx) = self.register(name, JobKind::Thread)?;
        let status = Arc::clone(&ctx.status);
        let spawned = std::thread::Builder::new()
            .name(format!("freshet-job-{name}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(ctx)))
                    .map_err(|p| panic_message(p.as_ref()));
                let (state, error) = outcome(result);
                status.finish(state, error);
            });
        match spawned {
            Ok(h) => {
                self.attach(id, Handle::Thread(h));
                Ok(id)
            }
            Err(e) => {
                lock(&self.inner.jobs).remove(&id);
                Err(Error::io(format!("thread of job {name}"), e))
            }
        }
    }

    /// Starts a blocking job that runs `pass` every `interval` until it is stopped; an
    /// `Err` from a pass is reported and the job goes on.
    pub fn spawn_periodic<F, E>(&self, name: &str, interval: Duration, mut pass: F) -> Result<JobId>
    where
        F: FnMut() -> std::result::Result<(), E> + Send + 'static,
        E: std::fmt::Display,
    {
        self.spawn_thread(name, move |ctx: JobContext| {
            while !ctx.stop_signal().wait_timeout(interval) {
                if let Err(e) = pass() {
                    ctx.report_error(e);
                }
            }
            Ok::<(), E>(())
        })
    }

    /// Starts a job as a task on the current tokio runtime (an error outside one).
    pub fn spawn_task<F, Fut, E>(&self, name: &str, job: F) -> Result<JobId>
    where
        F: FnOnce(JobContext) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime {
            job: name.to_string(),
        })?;
        let (id, ctx) = self.register(name, JobKind::Task)?;
        let status = Arc::clone(&ctx.status);
        let fut = job(ctx);
        let handle = runtime.spawn(async move {
            let result = CatchUnwind(Box::pin(fut)).await;
            let (state, error) = outcome(result);
            status.finish(state, error);
        });
        self.attach(id, Handle::Task(handle));
        Ok(id)
    }

    /// Every job, by id.
    pub fn list(&self) -> Vec<JobInfo> {
        lock(&self.inner.jobs)
            .iter()
            .map(|(&id, e)| e.info(id))
            .collect()
    }

    /// One job.
    pub fn get(&self, id: JobId) -> Option<JobInfo> {
        lock(&self.inner.jobs).get(&id).map(|e| e.info(id))
    }

    /// Stops one job and waits up to `bound` for it; returns how it ended (`None`: no
    /// such job). It leaves the registry.
    pub fn stop(&self, id: JobId, bound: Duration) -> Option<JobInfo> {
        let entry = lock(&self.inner.jobs).remove(&id)?;
        Self::stop_entries(vec![(id, entry)], bound)
            .into_iter()
            .next()
    }

    /// Stops every job: all are signalled at once, then each is joined, the whole
    /// within `bound`. Returns how each ended; later spawns fail with
    /// [`Error::ShutDown`]. Jobs that outlive the bound are reported
    /// [`JobState::Unresponsive`] (a task is aborted, a thread left detached).
    pub fn stop_all(&self, bound: Duration) -> Vec<JobInfo> {
        self.inner.closed.store(true, Ordering::Release);
        let entries: Vec<_> = std::mem::take(&mut *lock(&self.inner.jobs))
            .into_iter()
            .collect();
        let report = Self::stop_entries(entries, bound);
        for job in &report {
            match job.state {
                JobState::Stopped => tracing::debug!(job = %job.name, "job stopped"),
                _ => {
                    tracing::warn!(job = %job.name, state = ?job.state, error = ?job.last_error, "job did not stop cleanly")
                }
            }
        }
        lock(&self.inner.report).extend(report.iter().cloned());
        report
    }

    /// How each job ended when the registry was stopped ([`Jobs::stop_all`], which the
    /// engine's shutdown calls); empty before.
    pub fn shutdown_report(&self) -> Vec<JobInfo> {
        lock(&self.inner.report).clone()
    }

    fn stop_entries(entries: Vec<(JobId, Entry)>, bound: Duration) -> Vec<JobInfo> {
        let deadline = Instant::now() + bound;
        for (_, e) in &entries {
            if !e.status.is_finished() {
                let mut s = lock(&e.status.state);
                if s.0 == JobState::Running {
                    s.0 = JobState::Stopping;
                }
            }
            e.stop.stop();
        }
        let mut report = Vec::with_capacity(entries.len());
        for (id, mut e) in entries {
            // A job stopping the registry from inside itself cannot wait for itself.
            let finished = !e.is_current() && e.status.wait_until(deadline);
            match (finished, e.handle.take()) {
                (true, Some(Handle::Thread(h))) => {
                    let _ = h.join();
                }
                (false, Some(Handle::Task(h))) if !e.is_current_task(&h) => {
                    h.abort();
                    e.mark_unresponsive();
                }
                (false, Some(Handle::Thread(_))) => e.mark_unresponsive(),
                _ => {}
            }
            report.push(e.info(id));
        }
        report
    }
}

impl Entry {
    fn is_current_task(&self, h: &tokio::task::JoinHandle<()>) -> bool {
        tokio::task::try_id() == Some(h.id())
    }

    fn mark_unresponsive(&self) {
        let mut s = lock(&self.status.state);
        if !s.0.is_finished() {
            s.0 = JobState::Unresponsive;
        }
    }
}

/// Catches a panic of a task job's future, as `catch_unwind` does for a thread's.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(panic_message(p.as_ref()))),
        }
    }
}
