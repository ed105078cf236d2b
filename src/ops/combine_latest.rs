//! The publisher behind [`combine_latest`](crate::combine_latest) and
//! [`Flux::combine_latest_with`](crate::Flux::combine_latest_with).

use std::fmt;
use std::marker::PhantomData;

use crate::demand::Replenish;
use crate::error::Error;
use crate::ops::fanin::{Cx, Drain, FanIn, Inputs, Slotting};
use crate::protocol::{Publisher, Subscriber};
use crate::queue::spsc::{self, Consumer};
use crate::sync::{AtomicU64, Ordering, StdArc};

/// Items each input of a `combine_latest` is asked for ahead, unless set with
/// [`CombineLatest::prefetch`].
pub const COMBINE_LATEST_PREFETCH: usize = 32;

/// Combines the latest item of each of two sources whenever either emits. Built by
/// [`combine_latest`](crate::combine_latest) and [`Flux::combine_latest_with`](crate::Flux::combine_latest_with).
pub struct CombineLatest<A, B, F> {
    a: A,
    b: B,
    f: StdArc<F>,
    prefetch: usize,
}

impl<A: Clone, B: Clone, F> Clone for CombineLatest<A, B, F> {
    fn clone(&self) -> Self {
        CombineLatest {
            a: self.a.clone(),
            b: self.b.clone(),
            f: self.f.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl<A: fmt::Debug, B: fmt::Debug, F> fmt::Debug for CombineLatest<A, B, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CombineLatest")
            .field("a", &self.a)
            .field("b", &self.b)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<A, B, F> CombineLatest<A, B, F> {
    pub(crate) fn new(a: A, b: B, f: F) -> Self {
        CombineLatest {
            a,
            b,
            f: StdArc::new(f),
            prefetch: COMBINE_LATEST_PREFETCH,
        }
    }

    /// Sets how many items each source is asked for ahead ([`COMBINE_LATEST_PREFETCH`] by
    /// default); each source's queue holds exactly that many, allocated at subscription.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        assert!(prefetch > 0, "combine_latest: prefetch must be at least 1");
        self.prefetch = prefetch;
        self
    }
}

impl<A, B, F, O> Publisher for CombineLatest<A, B, F>
where
    A: Publisher + Send + Sync + 'static,
    B: Publisher + Send + Sync + 'static,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    F: Fn(&A::Item, &B::Item) -> O + Send + Sync + 'static,
    O: 'static,
{
    type Item = O;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<O> + 'static,
    {
        let (to_a, from_a) = spsc::channel(self.prefetch);
        let (to_b, from_b) = spsc::channel(self.prefetch);
        let drain = CombineDrain {
            a: from_a,
            b: from_b,
            latest_a: None,
            latest_b: None,
            replenish: [Replenish::new(self.prefetch as u64); 2],
            _combine: PhantomData,
        };
        let shared = Shared {
            next_ticket: AtomicU64::new(0),
            f: self.f.clone(),
        };
        FanIn::start(
            Inputs::new(2, self.prefetch),
            shared,
            drain,
            subscriber,
            |core| {
                core.subscribe_input::<A, Ticketed>(&self.a, 0, to_a);
                core.subscribe_input::<B, Ticketed>(&self.b, 1, to_b);
            },
        );
    }
}

/// What the inputs and the drain share.
struct Shared<F> {
    /// The arrival order across both inputs. Relaxed is enough: an input's tickets grow (its
    /// signals are serialised), and if one arrival happens-before another, coherence orders their
    /// tickets the same way; concurrent arrivals may be ordered either way.
    next_ticket: AtomicU64,
    f: StdArc<F>,
}

/// Each item goes into its ring with its arrival ticket.
struct Ticketed;

impl<T: Send + 'static, F: Send + Sync + 'static> Slotting<T, Shared<F>> for Ticketed {
    type Slot = (u64, T);

    #[inline]
    fn slot(shared: &Shared<F>, item: T) -> (u64, T) {
        (shared.next_ticket.fetch_add(1, Ordering::Relaxed), item)
    }

    #[inline]
    fn unslot((_, item): (u64, T)) -> T {
        item
    }
}

/// `combine_latest`'s part of the drain loop: take items in ticket order, combine when both
/// sides have a value.
struct CombineDrain<X, Y, F, O> {
    a: Consumer<(u64, X)>,
    b: Consumer<(u64, Y)>,
    latest_a: Option<X>,
    latest_b: Option<Y>,
    replenish: [Replenish; 2],
    _combine: PhantomData<fn(F) -> O>,
}

impl<X, Y, F, O> Drain for CombineDrain<X, Y, F, O>
where
    X: Send + 'static,
    Y: Send + 'static,
    O: 'static,
    F: Fn(&X, &Y) -> O + Send + Sync + 'static,
    Shared<F>: Send + Sync,
{
    type Out = O;
    type Shared = Shared<F>;
    const STAGE: &'static str = "combine_latest";

    fn emit<S: Subscriber<O>>(
        &mut self,
        cx: &Cx<'_, Shared<F>>,
        downstream: &mut S,
    ) -> Option<Result<(), Error>> {
        let mut credits = cx.credits();
        while !cx.is_cancelled() {
            let from_a = match (self.a.peek(), self.b.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((ticket_a, _)), Some((ticket_b, _))) => ticket_a < ticket_b,
            };
            let combines = if from_a {
                self.latest_b.is_some()
            } else {
                self.latest_a.is_some()
            };
            if combines && credits.available() == 0 {
                break;
            }
            let lane = if from_a {
                self.latest_a = self.a.pop().map(|(_, x)| x);
                0
            } else {
                self.latest_b = self.b.pop().map(|(_, y)| y);
                1
            };
            if let (true, Some(x), Some(y)) = (combines, &self.latest_a, &self.latest_b) {
                let used = downstream.try_on_next((cx.shared.f)(x, y));
                credits.spend(used as u64);
            }
            let top_up = self.replenish[lane].consumed(1);
            if top_up > 0 {
                cx.inputs.request(lane, top_up);
            }
        }
        drop(credits);
        self.end(cx)
    }

    fn discard_held(&mut self, _shared: &Shared<F>) {
        while self.a.pop().is_some() {}
        while self.b.pop().is_some() {}
    }
}

impl<X, Y, F, O> CombineDrain<X, Y, F, O> {
    /// The terminal signal, if the stream is over.
    fn end<Sh>(&self, cx: &Cx<'_, Sh>) -> Option<Result<(), Error>> {
        if cx.inputs.failed() {
            // Both inputs are cancelled: combine what they left, then the error.
            return (self.a.is_empty() && self.b.is_empty()).then(|| Err(cx.inputs.take_error()));
        }
        // `is_done` first: its Acquire makes every item the input pushed visible.
        let a_over = cx.inputs.is_done(0) && self.a.is_empty();
        let b_over = cx.inputs.is_done(1) && self.b.is_empty();
        let never_combines =
            (a_over && self.latest_a.is_none()) || (b_over && self.latest_b.is_none());
        (never_combines || (a_over && b_over)).then_some(Ok(()))
    }
}
