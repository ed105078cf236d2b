//! Blocking sinks: run a stream to its end on the calling thread and return its result.

use crate::demand::Replenish;
use crate::error::{Error, ErrorKind};
use crate::protocol::{SharedSubscription, Subscriber};
use crate::sync::{Arc, Condvar, Mutex};

/// Where a blocking sink's result lands; the caller waits on it.
pub(crate) struct Latch<R> {
    result: Mutex<Option<Result<R, Error>>>,
    done: Condvar,
}

impl<R> Latch<R> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Latch {
            result: Mutex::new(None),
            done: Condvar::new(),
        })
    }

    /// Stores the first result; later ones are ignored.
    pub(crate) fn set(&self, result: Result<R, Error>) {
        let mut slot = self.result.lock();
        if slot.is_none() {
            *slot = Some(result);
            self.done.notify_all();
        }
    }

    /// Blocks until a result is set.
    pub(crate) fn wait(&self) -> Result<R, Error> {
        let mut slot = self.result.lock();
        loop {
            if let Some(result) = slot.take() {
                return result;
            }
            slot = self.done.wait(slot);
        }
    }
}

/// The subscriber behind the blocking sinks: folds items into an accumulator and hands it to a latch.
pub struct Fold<A, F> {
    acc: Option<A>,
    f: F,
    replenish: Replenish,
    upstream: Option<SharedSubscription>,
    latch: Option<Arc<Latch<A>>>,
}

impl<A, F> Fold<A, F> {
    pub(crate) fn new(init: A, f: F, replenish: Replenish, latch: Arc<Latch<A>>) -> Self {
        Fold {
            acc: Some(init),
            f,
            replenish,
            upstream: None,
            latch: Some(latch),
        }
    }
}

impl<T, A, F> Subscriber<T> for Fold<A, F>
where
    A: Send,
    F: FnMut(A, T) -> A + Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.upstream.is_some() {
            // Rule 2.05: already subscribed.
            subscription.cancel();
            return;
        }
        subscription.request(self.replenish.initial());
        self.upstream = Some(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(acc) = self.acc.take() {
            self.acc = Some((self.f)(acc, item));
        }
        let top_up = self.replenish.consumed(1);
        if top_up > 0 {
            if let Some(upstream) = &self.upstream {
                upstream.request(top_up);
            }
        }
    }

    // Always inlined: this is the loop of a fused run, and the run's state (the stages' counters
    // and accumulators) stays in registers only inside one function (`source::pull` calls each
    // run as one function).
    #[inline(always)]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let used;
        if let Some(acc) = self.acc.take() {
            let f = &mut self.f;
            // The count rides in the fold's state, so it stays in a register next to `acc`.
            let (acc, n) = items.fold((acc, 0u64), |(acc, n), item| (f(acc, item), n + 1));
            self.acc = Some(acc);
            used = n;
        } else {
            used = items.count() as u64;
        }
        let top_up = self.replenish.consumed(used);
        if top_up > 0 {
            if let Some(upstream) = &self.upstream {
                upstream.request(top_up);
            }
        }
        used
    }

    #[inline(always)]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        if !self.replenish.is_unbounded() {
            // Not our demand (a stage between us and the caller requests more than we do): keep
            // the count for our own top-ups.
            self.on_next_iter(items);
            return;
        }
        // Nothing to count or top up: the bare fold, accumulator in a register.
        if let Some(acc) = self.acc.take() {
            self.acc = Some(items.fold(acc, &mut self.f));
        } else {
            items.for_each(drop);
        }
    }

    fn on_error(&mut self, error: Error) {
        if let Some(latch) = self.latch.take() {
            latch.set(Err(error));
        }
        self.upstream = None;
    }

    fn on_complete(&mut self) {
        if let Some(latch) = self.latch.take() {
            match self.acc.take() {
                Some(acc) => latch.set(Ok(acc)),
                None => latch.set(Err(Error::new(
                    ErrorKind::Panicked,
                    "the fold function panicked",
                ))),
            }
        }
        self.upstream = None;
    }
}

impl<A, F> Drop for Fold<A, F> {
    fn drop(&mut self) {
        // A publisher that drops us without a terminal signal must not leave the caller blocked.
        if let Some(latch) = self.latch.take() {
            latch.set(Err(Error::new(
                ErrorKind::Closed,
                "the publisher dropped the subscriber without a terminal signal",
            )));
        }
    }
}
