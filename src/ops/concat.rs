//! The publisher behind [`concat`](crate::concat), [`Flux::concat_with`](crate::Flux::concat_with)
//! and [`Flux::start_with`](crate::Flux::start_with).

use crate::error::Error;
use crate::ops::arbiter::Arbiter;
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::sync::{AtomicUsize, Ordering, StdArc, UnsafeCell};

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

/// What the active inner subscriber and the trampoline share.
struct State<P, S> {
    sources: StdArc<[P]>,
    arbiter: StdArc<Arbiter>,
    /// Trampoline for subscribing the next source: whoever moves it from 0 subscribes, so a long
    /// run of sources that complete synchronously does not recurse. AcqRel: the completing inner's
    /// writes to `owned` happen-before the next subscription.
    wip: AtomicUsize,
    /// Touched only by the active inner's signals or by the trampoline owner, never both at once:
    /// the trampoline touches it only between two subscriptions.
    owned: UnsafeCell<Owned<S>>,
}

struct Owned<S> {
    /// `None` once terminated or cancelled (the downstream subscriber is released).
    downstream: Option<S>,
    next: usize,
    produced: u64,
}

// SAFETY: `owned` is accessed only by one party at a time, ordered by `wip` and by the
// happens-before between an upstream's signals (rule 1.03); P and S are Send.
unsafe impl<P: Send + Sync, S: Send> Sync for State<P, S> {}
// SAFETY: as above.
unsafe impl<P: Send + Sync, S: Send> Send for State<P, S> {}

impl<P> Publisher for Concat<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let arbiter = StdArc::new(Arbiter::new());
        if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(arbiter.clone())) {
            arbiter.cancel();
            deliver_error(&mut subscriber, panic);
            return;
        }
        let state = StdArc::new(State {
            sources: self.sources.clone(),
            arbiter,
            wip: AtomicUsize::new(0),
            owned: UnsafeCell::new(Owned {
                downstream: Some(subscriber),
                next: 0,
                produced: 0,
            }),
        });
        subscribe_next(&state);
    }
}

fn subscribe_next<P, S>(state: &StdArc<State<P, S>>)
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
{
    if state.wip.fetch_add(1, Ordering::AcqRel) != 0 {
        return;
    }
    loop {
        let source = state.owned.with_mut(|owned| {
            // SAFETY: we own the trampoline and no inner subscription is active.
            let owned = unsafe { &mut *owned };
            let downstream = owned.downstream.as_mut()?;
            if state.arbiter.is_cancelled() {
                owned.downstream = None;
                return None;
            }
            if owned.next == state.sources.len() {
                let mut downstream = owned.downstream.take().expect("checked above");
                crate::protocol::deliver_complete(&mut downstream);
                return None;
            }
            let _ = downstream;
            owned.next += 1;
            Some(owned.next - 1)
        });
        if let Some(index) = source {
            state.sources[index].subscribe(Inner {
                state: state.clone(),
            });
        }
        if state.wip.fetch_sub(1, Ordering::AcqRel) == 1 {
            return;
        }
    }
}

struct Inner<P, S> {
    state: StdArc<State<P, S>>,
}

impl<P, S> Inner<P, S> {
    /// Runs `f` on the shared state. Called only from this inner's own signals.
    #[inline]
    fn owned<R>(&mut self, f: impl FnOnce(&mut Owned<S>) -> R) -> R {
        self.state.owned.with_mut(|owned| {
            // SAFETY: only the active inner signals, and the trampoline does not touch `owned`
            // while an inner is active.
            f(unsafe { &mut *owned })
        })
    }
}

impl<P, S> Subscriber<P::Item> for Inner<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.state.arbiter.switch_to(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: P::Item) {
        self.owned(|owned| {
            if let Some(downstream) = owned.downstream.as_mut() {
                owned.produced += 1;
                downstream.on_next(item);
            }
        })
    }

    fn on_error(&mut self, error: Error) {
        self.owned(|owned| {
            if let Some(mut downstream) = owned.downstream.take() {
                downstream.on_error(error);
            }
        })
    }

    fn on_complete(&mut self) {
        let produced = self.owned(|owned| std::mem::take(&mut owned.produced));
        self.state.arbiter.produced(produced);
        subscribe_next(&self.state);
    }
}
