//! The publisher and subscriber behind [`Flux::filter`](crate::Flux::filter).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

/// Keeps the items that satisfy a predicate. Built by [`Flux::filter`](crate::Flux::filter).
#[derive(Clone, Debug)]
pub struct Filter<P, F> {
    upstream: P,
    predicate: Arc<F>,
}

impl<P, F> Filter<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        Filter {
            upstream,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P, F> Publisher for Filter<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(FilterSubscriber {
            guarded: Guarded::new(subscriber, "filter"),
            predicate: self.predicate.clone(),
        })
    }
}

/// Catches a panic in the predicate (or downstream) itself ([`Guarded`]).
struct FilterSubscriber<S, F> {
    guarded: Guarded<S>,
    predicate: Arc<F>,
}

impl<T, S, F> Subscriber<T> for FilterSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let predicate = &*self.predicate;
        let discarded = self.guarded.run(|down| {
            let keep = predicate(&item);
            if keep {
                down.on_next(item)
            }
            !keep
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
        // Fused path: report the discard instead of requesting, and the source does not count it.
        let predicate = &*self.predicate;
        self.guarded
            .run(|down| predicate(&item) && down.try_on_next(item))
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let predicate = &*self.predicate;
        self.guarded
            .run(|down| down.on_next_iter(items.filter(|item| predicate(item))))
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // Demand passes straight through: the downstream's demand is the caller's.
        let predicate = &*self.predicate;
        self.guarded
            .run(|down| down.on_next_unbounded(items.filter(|item| predicate(item))))
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
