//! The publisher and subscriber behind [`Flux::take_while`](crate::Flux::take_while).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

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
            guarded: Guarded::new(subscriber, "take_while"),
            predicate: self.predicate.clone(),
        })
    }
}

/// Catches a panic in the predicate (or downstream) itself ([`Guarded`]); the first miss ends the
/// stage as a completion.
struct TakeWhileSubscriber<S, F> {
    guarded: Guarded<S>,
    predicate: Arc<F>,
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // Demand passes through unchanged; a clone is kept to cancel upstream at the first miss.
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let predicate = &*self.predicate;
        let missed = self.guarded.run(|down| {
            let keep = predicate(&item);
            if keep {
                down.on_next(item)
            }
            !keep
        });
        if missed {
            self.guarded.finish(Ok(()));
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let predicate = &*self.predicate;
        let (used, missed) = self.guarded.run(|down| {
            if predicate(&item) {
                (down.try_on_next(item), false)
            } else {
                (true, true)
            }
        });
        if missed {
            self.guarded.finish(Ok(()));
        }
        used
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let (predicate, mut missed) = (&*self.predicate, false);
        let used = self.guarded.run(|down| {
            down.on_next_iter(items.take_while(|item| {
                missed = !predicate(item);
                !missed
            }))
        });
        if missed {
            self.guarded.finish(Ok(()));
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        self.guarded.on_error(error)
    }

    fn on_complete(&mut self) {
        self.guarded.on_complete()
    }
}
