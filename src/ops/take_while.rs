//! The publisher and subscriber behind [`Flux::take_while`](crate::Flux::take_while).

use std::sync::Arc;

use crate::error::{report_undeliverable, Error};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Passes items while a predicate holds, then completes. Built by
/// [`Flux::take_while`](crate::Flux::take_while).
#[derive(Clone, Debug)]
pub struct TakeWhile<P, F> {
    upstream: P,
    predicate: Arc<F>,
}

impl<P, F> TakeWhile<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        TakeWhile {
            upstream,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P, F> Publisher for TakeWhile<P, F>
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
        self.upstream.subscribe(TakeWhileSubscriber {
            downstream: Some(subscriber),
            predicate: self.predicate.clone(),
            upstream: None,
        })
    }
}

struct TakeWhileSubscriber<S, F> {
    /// `None` once a terminal signal went down: later upstream signals are ignored (rule 1.07) and
    /// the downstream subscriber is released (rule 3.13).
    downstream: Option<S>,
    predicate: Arc<F>,
    upstream: Option<SharedSubscription>,
}

impl<S, F> TakeWhileSubscriber<S, F> {
    #[cold]
    fn stop<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        if let Some(upstream) = self.upstream.take() {
            upstream.cancel();
        }
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_complete();
        }
    }
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // Demand passes through unchanged; a clone is kept to cancel upstream at the first miss.
        self.upstream = Some(subscription.clone());
        if let Some(downstream) = &mut self.downstream {
            downstream.on_subscribe(subscription)
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let Some(downstream) = &mut self.downstream else {
            return;
        };
        if (self.predicate)(&item) {
            downstream.on_next(item)
        } else {
            self.stop()
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let Some(downstream) = &mut self.downstream else {
            return false;
        };
        if (self.predicate)(&item) {
            downstream.try_on_next(item)
        } else {
            self.stop();
            true
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let Some(downstream) = &mut self.downstream else {
            return 0;
        };
        let (predicate, mut missed) = (&*self.predicate, false);
        let used = downstream.on_next_iter(items.take_while(|item| {
            missed = !predicate(item);
            !missed
        }));
        if missed {
            self.stop();
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        match self.downstream.take() {
            Some(mut downstream) => downstream.on_error(error),
            None => report_undeliverable(&error),
        }
        self.upstream = None;
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_complete()
        }
        self.upstream = None;
    }
}
