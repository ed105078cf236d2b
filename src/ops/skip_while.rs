//! The publisher and subscriber behind [`Flux::skip_while`](crate::Flux::skip_while).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

/// Discards items while a predicate holds, then passes everything. Built by
/// [`Flux::skip_while`](crate::Flux::skip_while).
#[derive(Clone, Debug)]
pub struct SkipWhile<P, F> {
    upstream: P,
    predicate: Arc<F>,
}

impl<P, F> SkipWhile<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        SkipWhile {
            upstream,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P, F> Publisher for SkipWhile<P, F>
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
        self.upstream.subscribe(SkipWhileSubscriber {
            guarded: Guarded::new(subscriber, "skip_while"),
            predicate: self.predicate.clone(),
            skipping: true,
        })
    }
}

/// Catches a panic in the predicate (or downstream) itself ([`Guarded`]).
struct SkipWhileSubscriber<S, F> {
    guarded: Guarded<S>,
    predicate: Arc<F>,
    /// True until the predicate first fails; never true again.
    skipping: bool,
}

impl<T, S, F> Subscriber<T> for SkipWhileSubscriber<S, F>
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
        let (skipping, predicate) = (&mut self.skipping, &*self.predicate);
        let skipped = self.guarded.run(|down| {
            *skipping = *skipping && predicate(&item);
            if !*skipping {
                down.on_next(item)
            }
            *skipping
        });
        if skipped {
            if let Some(upstream) = self.guarded.upstream() {
                // The skipped item used a credit the downstream never saw: replenish it (SEMANTICS §2).
                upstream.request(1)
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let (skipping, predicate) = (&mut self.skipping, &*self.predicate);
        self.guarded.run(|down| {
            *skipping = *skipping && predicate(&item);
            !*skipping && down.try_on_next(item)
        })
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if !self.skipping {
            return self.guarded.run(|down| down.on_next_iter(items));
        }
        let (skipping, predicate) = (&mut self.skipping, &*self.predicate);
        self.guarded.run(|down| {
            down.on_next_iter(items.filter(move |item| {
                *skipping = *skipping && predicate(item);
                !*skipping
            }))
        })
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
