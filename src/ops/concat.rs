//! The publisher behind [`concat`](crate::concat), [`Flux::concat_with`](crate::Flux::concat_with)
//! and [`Flux::start_with`](crate::Flux::start_with).
//!
//! `concat(sources)` is `concat_map` over the sources' indices: a tiny synchronous source of
//! `0..sources.len()` feeds [`ConcatMap`], whose mapper picks `sources[i]`. So concat shares
//! concat_map's whole inner hand-off rather than a copy of it: one inner active at a time (the
//! `active` flag the trampoline reads with Acquire), demand carried by the arbiter, a trampoline
//! that does not grow the stack over a run of sources that complete at once, a panicking
//! `subscribe` caught and delivered as `on_error(Panicked)` (rule 1.09 for source 0, no wedged
//! stream for later ones), an inner dropped without a terminal signal handing the stream on (its
//! `Drop` guard), and a second `on_subscribe` of an inner cancelled (rule 2.05).

use crate::demand::{Demand, DrainGate};
use crate::ops::concat_map::ConcatMap;
use crate::protocol::{Publisher, Subscriber, Subscription};
use crate::sync::{AtomicBool, Ordering, StdArc, UnsafeCell};

/// Subscribes to its sources one after another. Built by [`concat`](crate::concat).
#[derive(Debug)]
pub struct Concat<P> {
    sources: StdArc<[P]>,
}

impl<P> Clone for Concat<P> {
    fn clone(&self) -> Self {
        Concat {
            sources: self.sources.clone(),
        }
    }
}

impl<P> Concat<P> {
    pub(crate) fn new(sources: impl IntoIterator<Item = P>) -> Self {
        Concat {
            sources: sources.into_iter().collect(),
        }
    }
}

/// One of two publishers of the same item type, without boxing: lets `concat_with` and
/// `start_with` chain different source types.
#[derive(Clone, Debug)]
pub enum Either<A, B> {
    /// The first kind.
    Left(A),
    /// The second kind.
    Right(B),
}

impl<A, B> Publisher for Either<A, B>
where
    A: Publisher,
    B: Publisher<Item = A::Item>,
{
    type Item = A::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<A::Item> + 'static,
    {
        match self {
            Either::Left(a) => a.subscribe(subscriber),
            Either::Right(b) => b.subscribe(subscriber),
        }
    }
}

impl<P> Publisher for Concat<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let sources = self.sources.clone();
        let indices = Indices {
            len: self.sources.len(),
        };
        ConcatMap::new(indices, move |index| Indexed {
            sources: sources.clone(),
            index,
        })
        .subscribe(subscriber);
    }
}

/// `sources[index]`, as a publisher of its own (what the mapper hands to [`ConcatMap`]).
struct Indexed<P> {
    sources: StdArc<[P]>,
    index: usize,
}

impl<P: Publisher> Publisher for Indexed<P> {
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.sources[self.index].subscribe(subscriber);
    }
}

/// The source of `0..len`: emits synchronously against demand, completes without a request when
/// `len` is 0. Its only subscriber is concat_map's outer subscriber (crate code that neither panics
/// nor over-requests), which asks for two at a time.
struct Indices {
    len: usize,
}

impl Publisher for Indices {
    type Item = usize;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<usize> + 'static,
    {
        let state = StdArc::new(IndexState {
            len: self.len,
            demand: Demand::new(),
            gate: DrainGate::new(),
            cancelled: AtomicBool::new(false),
            owned: UnsafeCell::new(IndexOwned {
                subscriber: None,
                next: 0,
            }),
        });
        // Own the gate while subscribing, so a request made inside `on_subscribe` is served by the
        // pass below, after the subscriber is stored.
        let owner = state.gate.enter();
        debug_assert!(owner, "nobody else knows the gate yet");
        subscriber.on_subscribe(state.clone());
        state.owned.with_mut(|owned| {
            // SAFETY: we own the gate.
            unsafe { (*owned).subscriber = Some(subscriber) };
        });
        state.gate.run_owned(|| state.pass());
    }
}

/// What the drain-gate owner of an [`Indices`] subscription alone touches.
struct IndexOwned<S> {
    /// `None` once completed or cancelled.
    subscriber: Option<S>,
    next: usize,
}

struct IndexState<S> {
    len: usize,
    demand: Demand,
    gate: DrainGate,
    /// Set by `cancel` before it enters the gate (the gate's AcqRel orders it before the pass).
    cancelled: AtomicBool,
    owned: UnsafeCell<IndexOwned<S>>,
}

// SAFETY: `owned` is touched only by the owner of `gate` (AcqRel enter/leave order the owners);
// the rest are atomics. S is Send.
unsafe impl<S: Send> Sync for IndexState<S> {}
// SAFETY: as above.
unsafe impl<S: Send> Send for IndexState<S> {}

impl<S: Subscriber<usize>> IndexState<S> {
    /// One drain pass; the caller owns the gate.
    fn pass(&self) {
        self.owned.with_mut(|owned| {
            // SAFETY: the caller owns the gate.
            let owned = unsafe { &mut *owned };
            loop {
                if self.cancelled.load(Ordering::Acquire) {
                    owned.subscriber = None;
                    return;
                }
                let Some(subscriber) = owned.subscriber.as_mut() else {
                    return;
                };
                if owned.next == self.len {
                    let mut subscriber = owned.subscriber.take().expect("checked above");
                    crate::protocol::deliver_complete(&mut subscriber);
                    return;
                }
                if self.demand.get() == 0 {
                    return;
                }
                self.demand.produced(1);
                owned.next += 1;
                subscriber.on_next(owned.next - 1);
            }
        });
    }

    fn drain(&self) {
        if self.gate.enter() {
            self.gate.run_owned(|| self.pass());
        }
    }
}

impl<S: Subscriber<usize> + Send> Subscription for IndexState<S> {
    fn request(&self, n: u64) {
        // concat_map's outer subscriber never asks for 0 (it would be rule 3.9's error).
        debug_assert!(n > 0);
        self.demand.add(n);
        self.drain();
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.drain();
    }
}
