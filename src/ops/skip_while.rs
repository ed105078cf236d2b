//! The publisher and subscriber behind [`Flux::skip_while`](crate::Flux::skip_while).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

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
            downstream: subscriber,
            predicate: self.predicate.clone(),
            skipping: true,
            upstream: None,
        })
    }
}

struct SkipWhileSubscriber<S, F> {
    downstream: S,
    predicate: Arc<F>,
    /// True until the predicate first fails; never true again.
    skipping: bool,
    upstream: Option<SharedSubscription>,
}

impl<S, F> SkipWhileSubscriber<S, F> {
    #[inline]
    fn skips<T>(&mut self, item: &T) -> bool
    where
        F: Fn(&T) -> bool,
    {
        self.skipping = self.skipping && (self.predicate)(item);
        self.skipping
    }
}

impl<T, S, F> Subscriber<T> for SkipWhileSubscriber<S, F>
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
        if !self.skips(&item) {
            self.downstream.on_next(item)
        } else if let Some(upstream) = &self.upstream {
            // The skipped item used a credit the downstream never saw: replenish it (SEMANTICS §2).
            upstream.request(1)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        !self.skips(&item) && self.downstream.try_on_next(item)
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if !self.skipping {
            return self.downstream.on_next_iter(items);
        }
        let (skipping, predicate) = (&mut self.skipping, &*self.predicate);
        self.downstream.on_next_iter(items.filter(move |item| {
            *skipping = *skipping && predicate(item);
            !*skipping
        }))
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
