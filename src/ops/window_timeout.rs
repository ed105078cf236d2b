//! The publisher behind [`Flux::window_timeout`](crate::Flux::window_timeout): the windows are
//! [`chunks_timeout`](super::ChunksTimeout)'s chunks, each handed downstream as a stream of its
//! own ([`TimedWindow`]) once it closes.

use std::collections::VecDeque;
use std::time::Duration;

use crate::demand::Demand;
use crate::error::Error;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{Serial, SharedScheduler, Timed};
use crate::ops::ChunksTimeout;
use crate::protocol::Flux;
use crate::protocol::Subscription;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// Splits a stream into windows of at most `size` items, each closed `timeout` after its first
/// item. Built by [`Flux::window_timeout`](crate::Flux::window_timeout).
pub struct WindowTimeout<P: Publisher> {
    chunks: ChunksTimeout<P>,
}

impl<P: Publisher + Clone> Clone for WindowTimeout<P> {
    fn clone(&self) -> Self {
        WindowTimeout {
            chunks: self.chunks.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for WindowTimeout<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WindowTimeout").field(&self.chunks).finish()
    }
}

impl<P: Publisher> WindowTimeout<P> {
    pub(crate) fn new(upstream: P, size: usize, timeout: Duration) -> Self {
        WindowTimeout {
            chunks: ChunksTimeout::new(upstream, size, timeout),
        }
    }
}

impl<P: Publisher> Timed for WindowTimeout<P> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.chunks.set_scheduler(scheduler);
    }
}

impl<P: Publisher> Configurable for WindowTimeout<P> {
    type Dropped = Vec<P::Item>;
    fn options_mut(&mut self) -> &mut StageOptions<Vec<P::Item>> {
        self.chunks.options_mut()
    }
}

impl<P> Publisher for WindowTimeout<P>
where
    P: Publisher,
    P::Item: Clone + Send + Sync + 'static,
{
    type Item = Flux<TimedWindow<P::Item>>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Flux<TimedWindow<P::Item>>> + 'static,
    {
        self.chunks.subscribe(ToWindows(subscriber))
    }
}

/// Hands each closed chunk downstream as a window.
struct ToWindows<S>(S);

impl<T, S: Subscriber<Flux<TimedWindow<T>>>> Subscriber<Vec<T>> for ToWindows<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.0.on_subscribe(subscription)
    }
    fn on_next(&mut self, chunk: Vec<T>) {
        self.0.on_next(Flux::new(TimedWindow {
            items: StdArc::new(chunk),
        }))
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

/// One closed window of [`Flux::window_timeout`](crate::Flux::window_timeout): a cold stream of
/// its items (each subscriber gets clones of them, as the downstream asks).
pub struct TimedWindow<T> {
    items: StdArc<Vec<T>>,
}

impl<T> Clone for TimedWindow<T> {
    fn clone(&self) -> Self {
        TimedWindow {
            items: self.items.clone(),
        }
    }
}

impl<T> std::fmt::Debug for TimedWindow<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedWindow")
            .field("len", &self.items.len())
            .finish()
    }
}

impl<T> TimedWindow<T> {
    /// How many items the window holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the window is empty (never: a window has at least one item).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T: Clone + Send + Sync + 'static> Publisher for TimedWindow<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let run = StdArc::new(WindowRun {
            serial: Serial::new(subscriber),
            items: Mutex::new(self.items.iter().cloned().collect()),
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        let handle: SharedSubscription = run.clone();
        run.serial.start(
            handle,
            || run.cancelled.store(true, Ordering::Release),
            |slot| run.pass(slot),
        );
    }
}

struct WindowRun<T, S> {
    serial: Serial<S>,
    items: Mutex<VecDeque<T>>,
    demand: Demand,
    cancelled: AtomicBool,
    invalid: AtomicBool,
}

impl<T: Send, S: Subscriber<T>> WindowRun<T, S> {
    fn pass(&self, slot: &mut Option<S>) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.cancelled.load(Ordering::Acquire) {
            *slot = None;
            return;
        }
        if self.invalid.load(Ordering::Acquire) {
            let mut downstream = slot.take().expect("checked above");
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        let stopped =
            || self.cancelled.load(Ordering::Acquire) || self.invalid.load(Ordering::Acquire);
        while self.demand.get() > 0 && !stopped() {
            let Some(item) = self.items.lock().pop_front() else {
                break;
            };
            if let Err(panic) = catch("a window's subscriber", || downstream.on_next(item)) {
                let mut downstream = slot.take().expect("checked above");
                return deliver_error(&mut downstream, panic);
            }
            self.demand.produced(1);
        }
        if !stopped() && self.items.lock().is_empty() {
            let mut downstream = slot.take().expect("checked above");
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}

impl<T: Send, S: Subscriber<T>> Subscription for WindowRun<T, S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.serial.drain(|slot| self.pass(slot));
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.serial.drain(|slot| self.pass(slot));
    }
}
