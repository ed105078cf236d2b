//! The publisher and subscriber behind [`Flux::inspect`](crate::Flux::inspect).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

/// Calls a function on a reference to each item, then passes the item on. Built by
/// [`Flux::inspect`](crate::Flux::inspect).
#[derive(Clone, Debug)]
pub struct Inspect<P, F> {
    upstream: P,
    f: Arc<F>,
}

impl<P, F> Inspect<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Inspect {
            upstream,
            f: Arc::new(f),
        }
    }
}

impl<P, F> Publisher for Inspect<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(InspectSubscriber {
            guarded: Guarded::new(subscriber, "inspect"),
            f: self.f.clone(),
        })
    }
}

/// Catches a panic in `f` (or downstream) itself ([`Guarded`]).
struct InspectSubscriber<S, F> {
    guarded: Guarded<S>,
    f: Arc<F>,
}

impl<T, S, F> Subscriber<T> for InspectSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) + Send + Sync,
{
    #[inline]
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let f = &*self.f;
        self.guarded.run(|down| {
            f(&item);
            down.on_next(item)
        })
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let f = &*self.f;
        self.guarded.run(|down| {
            f(&item);
            down.try_on_next(item)
        })
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let f = &*self.f;
        self.guarded
            .run(|down| down.on_next_iter(items.inspect(|item| f(item))))
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // 1:1 and demand passes straight through: the downstream's demand is the caller's.
        let f = &*self.f;
        self.guarded
            .run(|down| down.on_next_unbounded(items.inspect(|item| f(item))))
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
