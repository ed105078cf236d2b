//! The publisher and subscriber behind [`Flux::filter`](crate::Flux::filter).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

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
            downstream: subscriber,
            predicate: self.predicate.clone(),
            upstream: None,
        })
    }
}

struct FilterSubscriber<S, F> {
    downstream: S,
    predicate: Arc<F>,
    upstream: Option<SharedSubscription>,
}

impl<T, S, F> Subscriber<T> for FilterSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if (self.predicate)(&item) {
            self.downstream.on_next(item)
        } else if let Some(upstream) = &self.upstream {
            // The discarded item used a credit the downstream never saw: replenish it (SEMANTICS §2).
            upstream.request(1)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        // Fused path: report the discard instead of requesting, and the source does not count it.
        (self.predicate)(&item) && self.downstream.try_on_next(item)
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let predicate = &*self.predicate;
        self.downstream
            .on_next_iter(items.filter(|item| predicate(item)))
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
