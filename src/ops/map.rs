//! The publisher and subscriber behind [`Flux::map`](crate::Flux::map).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

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
            guarded: Guarded::new(subscriber, "map"),
            f: self.f.clone(),
        })
    }
}

/// Catches a panic in `f` (or downstream) itself: `on_error(Panicked)` down, `cancel` up
/// ([`Guarded`]), whatever the upstream.
struct MapSubscriber<S, F> {
    guarded: Guarded<S>,
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
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let f = &*self.f;
        self.guarded.run(|down| down.on_next(f(item)))
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let f = &*self.f;
        self.guarded.run(|down| down.try_on_next(f(item)))
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let f = &*self.f;
        self.guarded.run(|down| down.on_next_iter(items.map(f)))
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // 1:1 and demand passes straight through: the downstream's demand is the caller's.
        let f = &*self.f;
        self.guarded
            .run(|down| down.on_next_unbounded(items.map(f)))
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
