//! The publisher and subscriber behind [`Flux::try_map`](crate::Flux::try_map).

use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

/// Applies a fallible function to each item. Built by [`Flux::try_map`](crate::Flux::try_map).
#[derive(Clone, Debug)]
pub struct TryMap<P, F> {
    upstream: P,
    f: Arc<F>,
}

impl<P, F> TryMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        TryMap {
            upstream,
            f: Arc::new(f),
        }
    }
}

impl<P, F, U> Publisher for TryMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Result<U, Error> + Send + Sync + 'static,
    U: 'static,
{
    type Item = U;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<U> + 'static,
    {
        self.upstream.subscribe(TryMapSubscriber {
            guarded: Guarded::new(subscriber, "try_map"),
            f: self.f.clone(),
        })
    }
}

/// Catches a panic in `f` (or downstream) itself ([`Guarded`]); an `Err` from `f` ends the stage
/// the same way, as that error.
struct TryMapSubscriber<S, F> {
    guarded: Guarded<S>,
    f: Arc<F>,
}

impl<T, U, S, F> Subscriber<T> for TryMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Result<U, Error> + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1: demand passes through unchanged, so the upstream handle is handed straight down; a
        // clone is kept to cancel upstream when `f` fails.
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let f = &*self.f;
        let failure = self.guarded.run(|down| match f(item) {
            Ok(mapped) => {
                down.on_next(mapped);
                None
            }
            Err(error) => Some(error),
        });
        if let Some(error) = failure {
            self.guarded.fail_with(error);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let f = &*self.f;
        let (used, failure) = self.guarded.run(|down| match f(item) {
            Ok(mapped) => (down.try_on_next(mapped), None),
            Err(error) => (true, Some(error)),
        });
        if let Some(error) = failure {
            self.guarded.fail_with(error);
        }
        used
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        // Stop pulling at the first `Err`: the items after it are not this stream's any more.
        let (f, mut failure) = (&*self.f, None);
        let used = self.guarded.run(|down| {
            down.on_next_iter(items.map_while(|item| match f(item) {
                Ok(mapped) => Some(mapped),
                Err(error) => {
                    failure = Some(error);
                    None
                }
            }))
        });
        if let Some(error) = failure {
            self.guarded.fail_with(error);
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
