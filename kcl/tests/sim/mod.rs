//! Deterministic simulation of a KCL application: virtual clock, seeded interleaving,
//! in-memory lease store and stream.

pub mod processor;
pub mod stream;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use freshet_kcl::store::{Expect, StoreFuture};
use freshet_kcl::{InMemoryLeaseStore, Lease, LeaseStore, StoredLease};

/// Polls a future that must be ready at once (every simulated call is).
pub fn run_now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a simulated future was not ready"),
    }
}

/// An in-memory store that asserts stored checkpoints never go back.
#[derive(Clone, Default)]
pub struct CheckedStore {
    pub inner: InMemoryLeaseStore,
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl LeaseStore for CheckedStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        self.inner.list()
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        if let Some(old) = self.inner.snapshot().into_iter().find(|l| l.key == key) {
            if Expect::Counter(old.counter) == expect {
                let ord = lease.checkpoint.progress_cmp(&old.lease.checkpoint);
                if ord.is_none_or(|o| o.is_lt()) {
                    self.violations.lock().unwrap().push(format!(
                        "{key}: checkpoint went from {:?} to {:?}",
                        old.lease.checkpoint, lease.checkpoint
                    ));
                }
            }
        }
        self.inner.put(key, expect, lease)
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        self.inner.remove(key, counter)
    }
}
