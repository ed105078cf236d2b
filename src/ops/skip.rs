//! The publisher and subscriber behind [`Flux::skip`](crate::Flux::skip).

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

use super::run::{Counted, Deliver, Local, Uncounted};

/// Discards the first `n` items. Built by [`Flux::skip`](crate::Flux::skip).
#[derive(Clone, Debug)]
pub struct Skip<P> {
    upstream: P,
    n: u64,
}

impl<P> Skip<P> {
    pub(crate) fn new(upstream: P, n: u64) -> Self {
        Skip { upstream, n }
    }
}

impl<P> Publisher for Skip<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(SkipSubscriber {
            downstream: subscriber,
            to_skip: self.n,
            upstream: None,
        })
    }
}

struct SkipSubscriber<S> {
    downstream: S,
    /// Items still to discard; counts down to 0 and stays there.
    to_skip: u64,
    upstream: Option<SharedSubscription>,
}

impl<S> SkipSubscriber<S> {
    /// Discards what is left to skip from the front of the run, then hands the rest on. The count
    /// stays in a register while it runs and goes back to its field once, even if an upstream
    /// stage panics while the run is being pulled.
    #[inline(always)]
    fn run<D: Deliver, I: Iterator>(&mut self, mut items: I) -> D::Out
    where
        S: Subscriber<I::Item>,
    {
        if self.to_skip != 0 {
            let mut to_skip = Local::take(&mut self.to_skip);
            while to_skip.value != 0 {
                if items.next().is_none() {
                    return D::Out::default();
                }
                to_skip.value -= 1;
            }
        }
        D::deliver(&mut self.downstream, items)
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SkipSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.to_skip == 0 {
            self.downstream.on_next(item)
        } else {
            self.to_skip -= 1;
            // Replenish the credit the skipped item used (SEMANTICS §2), one per item, so `skip`
            // never asks for more than the downstream does.
            if let Some(upstream) = &self.upstream {
                upstream.request(1)
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.to_skip == 0 {
            self.downstream.try_on_next(item)
        } else {
            self.to_skip -= 1;
            false
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        self.run::<Counted, I>(items)
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // Demand passes straight through (the upstream's handle went down), and skipped items
        // use no credit: the downstream's demand is the caller's.
        self.run::<Uncounted, I>(items)
    }

    #[inline]
    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    #[inline]
    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
