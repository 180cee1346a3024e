#![allow(dead_code)]
//! Deterministic simulation of a KCL application: virtual clock, seeded interleaving,
//! a simulated stream, and a lease store (in memory, or a real one such as DynamoDB).

pub mod processor;
pub mod scenario;
pub mod stream;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use freshet_kcl::store::{Expect, StoreFuture};
use freshet_kcl::{Checkpoint, InMemoryLeaseStore, Lease, LeaseStore, StoredLease};

/// Polls a future that must be ready at once (every simulated call is).
pub fn run_now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a simulated future was not ready"),
    }
}

/// How the simulation waits for a store's futures: at once (in memory), or on a
/// runtime (a store over the network). Either way the workers step on the virtual
/// clock one after the other.
#[derive(Clone)]
pub enum Exec {
    /// Every future is ready at once.
    Now,
    /// A runtime blocks on them.
    Runtime(Arc<tokio::runtime::Runtime>),
}

impl Exec {
    /// A current-thread runtime.
    pub fn runtime() -> Exec {
        Exec::Runtime(Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        ))
    }

    pub fn block<F: Future>(&self, f: F) -> F::Output {
        match self {
            Exec::Now => run_now(f),
            Exec::Runtime(rt) => rt.block_on(f),
        }
    }
}

/// The lease store a simulation runs over, and how to wait for it.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn LeaseStore>,
    pub exec: Exec,
}

impl Backend {
    /// An [`InMemoryLeaseStore`], polled at once.
    pub fn memory() -> Backend {
        Backend {
            store: Arc::new(InMemoryLeaseStore::new()),
            exec: Exec::Now,
        }
    }
}

/// A store wrapper that asserts stored checkpoints never go back. Every write of the
/// simulation goes through it, so it knows each lease's counter and checkpoint
/// without reading the store.
#[derive(Clone)]
pub struct CheckedStore {
    pub inner: Arc<dyn LeaseStore>,
    written: Arc<Mutex<BTreeMap<String, (u64, Checkpoint)>>>,
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl CheckedStore {
    pub fn new(inner: Arc<dyn LeaseStore>) -> Self {
        CheckedStore {
            inner,
            written: Arc::default(),
            violations: Arc::default(),
        }
    }
}

impl LeaseStore for CheckedStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        self.inner.list()
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let old = self.written.lock().unwrap().get(key).cloned();
            if let Some((counter, checkpoint)) = old {
                if Expect::Counter(counter) == expect {
                    let ord = lease.checkpoint.progress_cmp(&checkpoint);
                    if ord.is_none_or(|o| o.is_lt()) {
                        self.violations.lock().unwrap().push(format!(
                            "{key}: checkpoint went from {checkpoint:?} to {:?}",
                            lease.checkpoint
                        ));
                    }
                }
            }
            let counter = self.inner.put(key, expect, lease).await?;
            self.written
                .lock()
                .unwrap()
                .insert(key.to_string(), (counter, lease.checkpoint.clone()));
            Ok(counter)
        })
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.remove(key, counter).await?;
            self.written.lock().unwrap().remove(key);
            Ok(())
        })
    }
}
