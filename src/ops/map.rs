//! The publisher and subscriber behind [`Flux::map`](crate::Flux::map).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Applies a function to each item. Built by [`Flux::map`](crate::Flux::map).
#[derive(Clone, Debug)]
pub struct Map<P, F> {
    upstream: P,
    f: Arc<F>,
}

impl<P, F> Map<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Map {
            upstream,
            f: Arc::new(f),
        }
    }
}

impl<P, F, U> Publisher for Map<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> U + Send + Sync + 'static,
    U: 'static,
{
    type Item = U;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<U> + 'static,
    {
        self.upstream.subscribe(MapSubscriber {
            downstream: subscriber,
            f: self.f.clone(),
        })
    }
}

struct MapSubscriber<S, F> {
    downstream: S,
    f: Arc<F>,
}

impl<T, U, S, F> Subscriber<T> for MapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> U + Send + Sync,
{
    #[inline]
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1: demand passes through unchanged, so the upstream handle is handed straight down.
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.downstream.on_next((self.f)(item))
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.downstream.try_on_next((self.f)(item))
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let f = &*self.f;
        self.downstream.on_next_iter(items.map(f))
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
