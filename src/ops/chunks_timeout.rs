//! The publisher and logic behind [`Flux::chunks_timeout`](crate::Flux::chunks_timeout); the drain
//! loop is the timed stages' shared [`Core`](super::timed).
//!
//! The stage holds one open chunk at a time (at most `size` items) and keeps what it holds plus what
//! it is owed by the upstream at exactly `size`: a full chunk that waits for demand stops the
//! upstream, instead of overflowing (Reactor) or growing.

use std::time::Duration;

use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{scheduler_or_default, Core, Logic, Setup, SharedScheduler, Step};
use crate::ops::timed::{Timed, TimedSubscriber};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};
use crate::sched::{Instant, Scheduler};

/// Collects items into `Vec`s of at most `size`, each emitted when full or `timeout` after its
/// first item. Built by [`Flux::chunks_timeout`](crate::Flux::chunks_timeout).
pub struct ChunksTimeout<P: Publisher> {
    upstream: P,
    size: usize,
    timeout: Duration,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<Vec<P::Item>>,
}

impl<P: Publisher + Clone> Clone for ChunksTimeout<P> {
    fn clone(&self) -> Self {
        ChunksTimeout {
            upstream: self.upstream.clone(),
            size: self.size,
            timeout: self.timeout,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for ChunksTimeout<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunksTimeout")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> ChunksTimeout<P> {
    pub(crate) fn new(upstream: P, size: usize, timeout: Duration) -> Self {
        assert!(
            size > 0,
            "chunks_timeout(0, _): a chunk must hold at least one item"
        );
        ChunksTimeout {
            upstream,
            size,
            timeout,
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

crate::ops::timed::timed_stage!(ChunksTimeout, Vec<P::Item>);

impl<P> Publisher for ChunksTimeout<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Vec<P::Item>> + 'static,
    {
        self.upstream.subscribe(ChunksTimeoutSubscriber {
            inner: TimedSubscriber::new(Setup {
                downstream: subscriber,
                worker: scheduler_or_default(&self.scheduler).worker(),
                options: self.options.clone(),
                logic: ChunkLogic {
                    size: self.size,
                    timeout: self.timeout,
                    chunk: Vec::new(),
                    due: None,
                    overdue: false,
                    outstanding: 0,
                },
            }),
        })
    }
}

/// Takes the upstream's single items and adds them to the core's open chunk.
struct ChunksTimeoutSubscriber<T: Send + 'static, S> {
    inner: TimedSubscriber<ChunkLogic<T>, S>,
}

impl<T, S> Subscriber<T> for ChunksTimeoutSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.inner.on_subscribe(subscription)
    }

    fn on_next(&mut self, item: T) {
        if let Some(core) = self.inner.core() {
            ChunkLogic::push(core, item);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.inner.on_error(error)
    }

    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

struct ChunkLogic<T> {
    size: usize,
    timeout: Duration,
    /// The open chunk: `0..=size` items.
    chunk: Vec<T>,
    /// When the open chunk is due: `timeout` after its first item; `None` while it is empty.
    due: Option<Instant>,
    /// The open chunk's time is up; it goes at the first demand, still taking items up to `size`.
    overdue: bool,
    /// Items requested upstream and not yet received. Invariant: `chunk.len() + outstanding <= size`.
    outstanding: u64,
}

impl<T: Send + 'static> ChunkLogic<T> {
    fn push<S: Subscriber<Vec<T>> + 'static>(core: &Core<Self, S>, item: T) {
        if let Some(m) = core.options().metrics() {
            m.record_received(1);
        }
        let now = core.now();
        let mut held = core.lock();
        if !held.accepting() {
            drop(held);
            return core.options().discard(vec![item], DropReason::Cancelled);
        }
        let logic = &mut held.logic;
        if logic.outstanding == 0 {
            // More than requested: refuse to grow, fail (RxJava's MissingBackpressureException).
            drop(held);
            core.options().discard(vec![item], DropReason::Overflow);
            return core.fail(Error::overflow("chunks_timeout"));
        }
        logic.outstanding -= 1;
        if logic.chunk.capacity() == 0 {
            logic.chunk.reserve_exact(logic.size);
        }
        logic.chunk.push(item);
        let first = logic.chunk.len() == 1;
        let full = logic.chunk.len() == logic.size;
        let due = now + logic.timeout;
        if first {
            logic.due = Some(due);
        }
        drop(held);
        if first {
            // One timer per stage: a pending one (for an earlier chunk) re-arms for this due time.
            core.arm(due);
        }
        if full {
            core.drain();
        }
    }
}

impl<T: Send + 'static> Logic for ChunkLogic<T> {
    type Item = Vec<T>;
    const DOWNSTREAM: &'static str = "chunks_timeout's downstream";

    fn start(&mut self, _now: Instant) -> (Option<Instant>, u64) {
        // One chunk's worth up front; topped up as chunks leave.
        self.outstanding = self.size as u64;
        (None, self.outstanding)
    }

    fn on_next<S: Subscriber<Vec<T>> + 'static>(core: &Core<Self, S>, items: Vec<T>) {
        // Items arrive one by one through `ChunksTimeoutSubscriber`; a pre-chunked run is the same.
        for item in items {
            Self::push(core, item);
        }
    }

    fn on_timer(&mut self, _deadline: Instant, now: Instant, _ending: bool) -> Option<Instant> {
        match self.due {
            Some(due) if now >= due => {
                self.overdue = true;
                None
            }
            // The chunk this timer was for left already; the open one is due later.
            Some(due) if !self.overdue => Some(due),
            _ => None,
        }
    }

    fn step(&mut self, demand: u64, now: Instant, ending: bool) -> Step<Vec<T>> {
        let ready = !self.chunk.is_empty()
            && (self.chunk.len() == self.size
                || self.overdue
                || ending
                || self.due.is_some_and(|due| now >= due));
        if ready && demand > 0 {
            self.due = None;
            self.overdue = false;
            let full = std::mem::take(&mut self.chunk);
            return Step::Emit(full);
        }
        // Keep held + owed at `size`: after a chunk left, ask for the room it freed.
        let request = if ending {
            0
        } else {
            let room = (self.size - self.chunk.len()) as u64;
            let request = room.saturating_sub(self.outstanding);
            self.outstanding += request;
            request
        };
        Step::Wait {
            wake_at: if self.overdue { None } else { self.due },
            request,
            empty: self.chunk.is_empty(),
        }
    }

    fn take_all(&mut self) -> Vec<Vec<T>> {
        self.due = None;
        self.overdue = false;
        let chunk = std::mem::take(&mut self.chunk);
        if chunk.is_empty() {
            Vec::new()
        } else {
            vec![chunk]
        }
    }
}
