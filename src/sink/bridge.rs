//! Pull-side bridges: a [`Flux`](crate::Flux) consumed as a blocking [`Iterator`] or as a
//! `futures_core::Stream`.
//!
//! Both stand on one core: a subscriber that pushes into a bounded spsc ring (the prefetch), and a
//! consumer end that pops, tops demand up at 75% consumed, and waits when the ring is empty the
//! crate's one way ([`Parker`](crate::wait::Parker)): a short bounded spin on the ring, then it
//! announces that it parks, looks once more, and parks (a thread) or returns `Pending` (a task).
//! The producer side checks for a parked consumer once per run of items, behind a SeqCst fence,
//! so the steady state costs no lock and no wake-up.
//!
//! Pull fusion ([`Subscription::fuse_pull`](crate::Subscription)): when the upstream offers it
//! (an [`emitter`](crate::emitter), directly or behind pass-through stages), the consumer end runs
//! the upstream's drain itself whenever its ring is empty, counts "items held upstream that demand
//! lets it pull" as a reason not to park, and the upstream's producers only wake it
//! (`notify_after_seqcst_rmw`: their ring claim orders the look, no fence). Before each pull it
//! waits a moment (at most 2 µs) for a batch to be ready ([`Coalesce`]), so that a consumer that
//! drains faster than the producer fills does not chase it slot by slot on the same cache line;
//! while it spins it polls only lines it writes itself ([`Pull::looks_ready`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::demand::Replenish;
use crate::error::Error;
use crate::protocol::{Publisher, Pull, PullWaker, SharedSubscription, Subscriber};
use crate::queue::spsc;
use crate::sync::thread;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering, StdArc};
use crate::wait::{Coalesce, Parker, Spin};

/// State shared by the subscriber (producer side) and the consumer end.
struct Shared {
    /// The upstream subscription, once `on_subscribe` has arrived.
    subscription: Mutex<Option<SharedSubscription>>,
    /// Set by the consumer end when it is dropped (Release); read by `on_subscribe` (Acquire).
    dropped: AtomicBool,
    /// `Some` once the stream ended; written before `finished` is set.
    terminal: Mutex<Option<Result<(), Error>>>,
    /// Set (Release) after `terminal` is written; the consumer checks it (Acquire) after the
    /// ring is empty.
    finished: AtomicBool,
    /// Where the consumer end waits; the subscriber notifies it after each run and at the end.
    parker: Parker,
    /// The upstream accepted pull fusion ([`Subscription::fuse_pull`](crate::Subscription)):
    /// the consumer end runs the upstream's drain itself when its ring is empty, and upstream
    /// producers wake it through `parker`. Set once in `on_subscribe`; `fused` (Release, after
    /// `pull` is stored) tells the consumer end to look.
    pull: Mutex<Option<StdArc<dyn Pull>>>,
    fused: AtomicBool,
}

/// The waker a fused upstream calls after each push.
struct Wake(Arc<Shared>);

impl PullWaker for Wake {
    #[inline]
    fn wake(&self) {
        self.0.parker.notify_after_seqcst_rmw();
    }

    #[inline]
    fn wake_after_store(&self) {
        self.0.parker.notify();
    }
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            subscription: Mutex::new(None),
            dropped: AtomicBool::new(false),
            terminal: Mutex::new(None),
            finished: AtomicBool::new(false),
            parker: Parker::new(),
            pull: Mutex::new(None),
            fused: AtomicBool::new(false),
        })
    }

    /// Producer side, after publishing items or the terminal signal: one fence and one load
    /// unless the consumer parked.
    #[inline]
    fn notify(&self) {
        self.parker.notify();
    }

    fn finish(&self, end: Result<(), Error>) {
        *self.terminal.lock() = Some(end);
        self.finished.store(true, Ordering::Release);
        self.notify();
    }

    fn request(&self, n: u64) {
        let subscription = self.subscription.lock().clone();
        if let Some(subscription) = subscription {
            subscription.request(n);
        }
    }

    fn cancel(&self) {
        self.dropped.store(true, Ordering::Release);
        // The fused upstream holds our waker: let go of its handle, so the two never keep each
        // other alive.
        drop(self.pull.lock().take());
        let subscription = self.subscription.lock().take();
        if let Some(subscription) = subscription {
            subscription.cancel();
        }
    }
}

/// The subscriber end of a bridge.
struct BridgeSubscriber<T> {
    producer: spsc::Producer<T>,
    shared: Arc<Shared>,
    prefetch: u64,
    subscribed: bool,
    done: bool,
}

impl<T: Send> BridgeSubscriber<T> {
    #[inline]
    fn push(&mut self, item: T) -> bool {
        if self.producer.push(item).is_err() {
            // More than requested: never grow, fail the stream (missing backpressure).
            self.done = true;
            self.shared.cancel_upstream_only();
            self.shared
                .finish(Err(Error::overflow("into_iter / into_stream")));
            return false;
        }
        true
    }
}

impl Shared {
    fn cancel_upstream_only(&self) {
        let subscription = self.subscription.lock().take();
        if let Some(subscription) = subscription {
            subscription.cancel();
        }
    }
}

impl<T: Send> Subscriber<T> for BridgeSubscriber<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscribed {
            subscription.cancel(); // rule 2.05
            return;
        }
        self.subscribed = true;
        if let Some(pull) = subscription.fuse_pull(StdArc::new(Wake(self.shared.clone()))) {
            *self.shared.pull.lock() = Some(pull);
            self.shared.fused.store(true, Ordering::Release);
        }
        *self.shared.subscription.lock() = Some(subscription.clone());
        if self.shared.dropped.load(Ordering::Acquire) {
            self.shared.cancel_upstream_only();
            return;
        }
        subscription.request(self.prefetch);
    }

    fn on_next(&mut self, item: T) {
        if !self.done && self.push(item) {
            self.shared.notify();
        }
    }

    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let mut used = 0;
        for item in items {
            if self.done || !self.push(item) {
                break;
            }
            used += 1;
        }
        if used > 0 {
            self.shared.notify();
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.finish(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.finish(Ok(()));
        }
    }
}

/// The consumer end both bridges share.
struct ConsumerEnd<T> {
    consumer: spsc::Consumer<T>,
    shared: Arc<Shared>,
    replenish: Replenish,
    ended: bool,
    /// The fused upstream's drain, once `shared.fused` was seen.
    pull: Option<StdArc<dyn Pull>>,
    /// Batches the pulls ([`Coalesce`]).
    coalesce: Coalesce,
}

/// What [`ConsumerEnd::ready`] saw.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ready {
    Here,
    Upstream,
}

enum Next<T> {
    Item(T),
    End(Option<Error>),
    Empty,
}

impl<T: Send + 'static> ConsumerEnd<T> {
    fn subscribe<P>(publisher: &P, prefetch: usize) -> Self
    where
        P: Publisher<Item = T>,
    {
        assert!(prefetch > 0, "prefetch must be at least 1");
        let (producer, consumer) = spsc::channel(prefetch);
        let shared = Shared::new();
        let end = ConsumerEnd {
            consumer,
            shared: shared.clone(),
            replenish: Replenish::new(prefetch as u64),
            ended: false,
            pull: None,
            coalesce: Coalesce::default(),
        };
        publisher.subscribe(BridgeSubscriber {
            producer,
            shared,
            prefetch: prefetch as u64,
            subscribed: false,
            done: false,
        });
        end
    }

    /// The fused upstream's drain handle, if it accepted fusion.
    #[inline]
    fn pull(&mut self) -> Option<&StdArc<dyn Pull>> {
        if self.pull.is_none() && self.shared.fused.load(Ordering::Acquire) {
            self.pull = self.shared.pull.lock().clone();
        }
        self.pull.as_ref()
    }

    /// Pops an item; with a fused upstream and an empty ring, runs the upstream's drain here
    /// first (it delivers into the ring what demand allows).
    #[inline]
    fn pop(&mut self) -> Option<T> {
        if let Some(item) = self.consumer.pop() {
            return Some(item);
        }
        self.pull()?;
        let pull = self.pull.as_ref()?;
        self.coalesce
            .before_pull(|| pull.looks_ready(Coalesce::DEPTH));
        pull.pull();
        self.consumer.pop()
    }

    /// One non-blocking attempt.
    fn try_next(&mut self) -> Next<T> {
        if self.ended {
            return Next::End(None);
        }
        if let Some(item) = self.pop() {
            let top_up = self.replenish.consumed(1);
            if top_up > 0 {
                self.shared.request(top_up);
            }
            return Next::Item(item);
        }
        if self.shared.finished.load(Ordering::Acquire) {
            // The terminal signal was written after the last item: drain what raced in first.
            if let Some(item) = self.consumer.pop() {
                return Next::Item(item);
            }
            self.ended = true;
            let end = self.shared.terminal.lock().take();
            return Next::End(end.and_then(Result::err));
        }
        Next::Empty
    }

    /// Whether `try_next` has something to answer: an item or the end ([`Ready::Here`]), or
    /// (fused) items upstream that demand lets it pull ([`Ready::Upstream`]).
    fn ready(&self) -> Option<Ready> {
        if !self.consumer.is_empty() || self.shared.finished.load(Ordering::Acquire) {
            return Some(Ready::Here);
        }
        self.pull
            .as_ref()
            .is_some_and(|pull| pull.has_work())
            .then_some(Ready::Upstream)
    }

    /// [`ready`](Self::ready) for spinning: the upstream is asked only for its cheap guess
    /// ([`Pull::looks_ready`]), which reads no line its producers write per item.
    fn looks_ready(&self) -> Option<Ready> {
        if !self.consumer.is_empty() || self.shared.finished.load(Ordering::Acquire) {
            return Some(Ready::Here);
        }
        self.pull
            .as_ref()
            .is_some_and(|pull| pull.looks_ready(1))
            .then_some(Ready::Upstream)
    }
}

impl<T> Drop for ConsumerEnd<T> {
    fn drop(&mut self) {
        // Dropping the iterator or stream cancels the subscription; queued items drop with the ring.
        self.shared.cancel();
    }
}

/// A [`Flux`](crate::Flux) consumed as a blocking iterator. Made by
/// [`Flux::into_blocking_iter`](crate::Flux::into_blocking_iter).
///
/// Yields `Ok(item)` for each item and, if the stream fails, one final `Err(error)`. Dropping it
/// cancels the subscription.
pub struct BlockingIter<T> {
    end: ConsumerEnd<T>,
}

impl<T: Send + 'static> BlockingIter<T> {
    pub(crate) fn new<P: Publisher<Item = T>>(publisher: &P, prefetch: usize) -> Self {
        BlockingIter {
            end: ConsumerEnd::subscribe(publisher, prefetch),
        }
    }
}

impl<T: Send + 'static> Iterator for BlockingIter<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Result<T, Error>> {
        // Set after a wait that ended because items were held upstream: if the pull that follows
        // finds nothing, another thread is delivering them (it holds the upstream's drain) or
        // their producer is still writing one. Back off while it finishes, rather than spin hot.
        let mut stalled: Option<Spin> = None;
        loop {
            match self.end.try_next() {
                Next::Item(item) => return Some(Ok(item)),
                Next::End(error) => return error.map(Err),
                Next::Empty => {}
            }
            if let Some(spin) = stalled.as_mut() {
                if !spin.step() {
                    thread::yield_now();
                }
            }
            // Spin briefly, announce, look again, park (crate::wait).
            let end = &self.end;
            let ready = end
                .shared
                .parker
                .wait_hinted(|| end.looks_ready(), || end.ready(), None);
            if ready == Some(Ready::Upstream) {
                stalled.get_or_insert_with(Spin::new);
            } else {
                stalled = None;
            }
        }
    }
}

impl<T> std::fmt::Debug for BlockingIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingIter")
    }
}

/// A [`Flux`](crate::Flux) consumed as a `futures_core::Stream`. Made by
/// [`Flux::into_stream`](crate::Flux::into_stream).
///
/// Yields `Ok(item)` for each item and, if the flux fails, one final `Err(error)`. Works on any
/// executor: the task is woken only when an item or the end arrives. Dropping it cancels the
/// subscription.
pub struct FluxStream<T> {
    end: ConsumerEnd<T>,
}

impl<T: Send + 'static> FluxStream<T> {
    pub(crate) fn new<P: Publisher<Item = T>>(publisher: &P, prefetch: usize) -> Self {
        FluxStream {
            end: ConsumerEnd::subscribe(publisher, prefetch),
        }
    }
}

impl<T> Unpin for FluxStream<T> {}

impl<T: Send + 'static> Stream for FluxStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        let this = self.get_mut();
        let mut pulled = false;
        loop {
            match this.end.try_next() {
                Next::Item(item) => return Poll::Ready(Some(Ok(item))),
                Next::End(error) => return Poll::Ready(error.map(Err)),
                Next::Empty => {}
            }
            let end = &this.end;
            match end.shared.parker.register(cx.waker(), || end.ready()) {
                None => return Poll::Pending,
                // Items are held upstream and our pull already came back empty: another thread
                // holds the upstream's drain and delivers them, which wakes the waker just
                // registered. Yield the executor rather than spin inside `poll`.
                Some(Ready::Upstream) if pulled => return Poll::Pending,
                Some(Ready::Upstream) => pulled = true,
                Some(Ready::Here) => {}
            }
        }
    }
}

impl<T> std::fmt::Debug for FluxStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FluxStream")
    }
}
