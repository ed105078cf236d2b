//! Pull-side bridges: a [`Flux`](crate::Flux) consumed as a blocking [`Iterator`] or as a
//! `futures_core::Stream`.
//!
//! Both stand on one core: a subscriber that pushes into a bounded spsc ring (the prefetch), and a
//! consumer end that pops, tops demand up at 75% consumed, and waits when the ring is empty the
//! crate's one way ([`Parker`](crate::wait::Parker)): a short bounded spin on the ring, then it
//! announces that it parks, looks once more, and parks (a thread) or returns `Pending` (a task).
//! The producer side checks for a parked consumer once per run of items, behind a SeqCst fence,
//! so the steady state costs no lock and no wake-up.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::demand::Replenish;
use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};
use crate::queue::spsc;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering};
use crate::wait::Parker;

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
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            subscription: Mutex::new(None),
            dropped: AtomicBool::new(false),
            terminal: Mutex::new(None),
            finished: AtomicBool::new(false),
            parker: Parker::new(),
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

    /// One non-blocking attempt.
    fn try_next(&mut self) -> Next<T> {
        if self.ended {
            return Next::End(None);
        }
        if let Some(item) = self.consumer.pop() {
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

    /// Whether `try_next` has something to answer: an item, or the end.
    fn ready(&self) -> Option<()> {
        (!self.consumer.is_empty() || self.shared.finished.load(Ordering::Acquire)).then_some(())
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
        loop {
            match self.end.try_next() {
                Next::Item(item) => return Some(Ok(item)),
                Next::End(error) => return error.map(Err),
                Next::Empty => {}
            }
            // Spin briefly, announce, look again, park (crate::wait).
            let end = &self.end;
            end.shared.parker.wait(|| end.ready(), None);
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
        loop {
            match this.end.try_next() {
                Next::Item(item) => return Poll::Ready(Some(Ok(item))),
                Next::End(error) => return Poll::Ready(error.map(Err)),
                Next::Empty => {}
            }
            let end = &this.end;
            if end
                .shared
                .parker
                .register(cx.waker(), || end.ready())
                .is_none()
            {
                return Poll::Pending;
            }
        }
    }
}

impl<T> std::fmt::Debug for FluxStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FluxStream")
    }
}
