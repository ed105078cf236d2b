//! The publisher and subscriber behind [`Flux::filter_map`](crate::Flux::filter_map).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

/// Maps each item to an `Option` and keeps the `Some`s. Built by [`Flux::filter_map`](crate::Flux::filter_map).
#[derive(Clone, Debug)]
pub struct FilterMap<P, F> {
    upstream: P,
    f: Arc<F>,
}

impl<P, F> FilterMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        FilterMap {
            upstream,
            f: Arc::new(f),
        }
    }
}

impl<P, F, U> Publisher for FilterMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Option<U> + Send + Sync + 'static,
    U: 'static,
{
    type Item = U;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<U> + 'static,
    {
        self.upstream.subscribe(FilterMapSubscriber {
            guarded: Guarded::new(subscriber, "filter_map"),
            f: self.f.clone(),
        })
    }
}

/// Catches a panic in `f` (or downstream) itself ([`Guarded`]).
struct FilterMapSubscriber<S, F> {
    guarded: Guarded<S>,
    f: Arc<F>,
}

impl<T, U, S, F> Subscriber<T> for FilterMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Option<U> + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let f = &*self.f;
        let discarded = self.guarded.run(|down| match f(item) {
            Some(mapped) => {
                down.on_next(mapped);
                false
            }
            None => true,
        });
        if discarded {
            if let Some(upstream) = self.guarded.upstream() {
                // The discarded item used a credit the downstream never saw: replenish it (SEMANTICS §2).
                upstream.request(1)
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let f = &*self.f;
        self.guarded.run(|down| match f(item) {
            Some(mapped) => down.try_on_next(mapped),
            None => false,
        })
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        // Items mapped to `None` never reach the downstream, so they use no credit.
        let f = &*self.f;
        self.guarded
            .run(|down| down.on_next_iter(items.filter_map(f)))
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // Demand passes straight through: the downstream's demand is the caller's.
        let f = &*self.f;
        self.guarded
            .run(|down| down.on_next_unbounded(items.filter_map(f)))
    }

    #[inline]
    fn on_error(&mut self, error: Error) {
        self.guarded.on_error(error)
    }

    #[inline]
    fn on_complete(&mut self) {
        self.guarded.on_complete()
    }
}
