//! The publisher and subscriber behind [`Flux::try_map`](crate::Flux::try_map).

use std::sync::Arc;

use crate::error::{report_undeliverable, Error};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

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
            downstream: Some(subscriber),
            f: self.f.clone(),
            upstream: None,
        })
    }
}

struct TryMapSubscriber<S, F> {
    /// `None` once a terminal signal went down: later upstream signals are ignored (rule 1.07) and
    /// the downstream subscriber is released (rule 3.13).
    downstream: Option<S>,
    f: Arc<F>,
    upstream: Option<SharedSubscription>,
}

impl<S, F> TryMapSubscriber<S, F> {
    #[cold]
    fn fail<U>(&mut self, error: Error)
    where
        S: Subscriber<U>,
    {
        if let Some(upstream) = self.upstream.take() {
            upstream.cancel();
        }
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_error(error);
        }
    }
}

impl<T, U, S, F> Subscriber<T> for TryMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Result<U, Error> + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1: demand passes through unchanged, so the upstream handle is handed straight down; a
        // clone is kept to cancel upstream when `f` fails.
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
        match (self.f)(item) {
            Ok(mapped) => downstream.on_next(mapped),
            Err(error) => self.fail(error),
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let Some(downstream) = &mut self.downstream else {
            return false;
        };
        match (self.f)(item) {
            Ok(mapped) => downstream.try_on_next(mapped),
            Err(error) => {
                self.fail(error);
                true
            }
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
        // Stop pulling at the first `Err`: the items after it are not this stream's any more.
        let (f, mut failure) = (&*self.f, None);
        let used = downstream.on_next_iter(items.map_while(|item| match f(item) {
            Ok(mapped) => Some(mapped),
            Err(error) => {
                failure = Some(error);
                None
            }
        }));
        if let Some(error) = failure {
            self.fail(error);
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        match self.downstream.take() {
            Some(mut downstream) => downstream.on_error(error),
            // An upstream error racing our own: not swallowed silently (rule 2.13).
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
