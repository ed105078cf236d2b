//! The publisher and subscriber behind [`Flux::skip`](crate::Flux::skip).

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Discards the first `n` items. Built by [`Flux::skip`](crate::Flux::skip).
#[derive(Clone, Debug)]
pub struct Skip<P> {
    upstream: P,
    n: u64,
}

impl<P> Skip<P> {
    pub(crate) fn new(upstream: P, n: u64) -> Self {
        Skip { upstream, n }
    }
}

impl<P> Publisher for Skip<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(SkipSubscriber {
            downstream: subscriber,
            to_skip: self.n,
            upstream: None,
        })
    }
}

struct SkipSubscriber<S> {
    downstream: S,
    /// Items still to discard; counts down to 0 and stays there.
    to_skip: u64,
    upstream: Option<SharedSubscription>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for SkipSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.to_skip == 0 {
            self.downstream.on_next(item)
        } else {
            self.to_skip -= 1;
            // Replenish the credit the skipped item used (SEMANTICS §2), one per item, so `skip`
            // never asks for more than the downstream does.
            if let Some(upstream) = &self.upstream {
                upstream.request(1)
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.to_skip == 0 {
            self.downstream.try_on_next(item)
        } else {
            self.to_skip -= 1;
            false
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if self.to_skip == 0 {
            return self.downstream.on_next_iter(items);
        }
        let to_skip = &mut self.to_skip;
        self.downstream.on_next_iter(items.filter(move |_| {
            let skipped = *to_skip > 0;
            *to_skip -= skipped as u64;
            !skipped
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
