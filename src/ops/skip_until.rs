//! The publisher and subscriber behind [`Flux::skip_until`](crate::Flux::skip_until); the two
//! upstreams share [`take_until`](super::take_until)'s gate.

use crate::error::Error;
use crate::ops::take_until::{Trigger, Until};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};
use crate::sync::StdArc;

/// Discards items until another publisher emits, then passes the rest. Built by
/// [`Flux::skip_until`](crate::Flux::skip_until).
#[derive(Debug)]
pub struct SkipUntil<P, Q> {
    upstream: P,
    other: StdArc<Q>,
}

impl<P: Clone, Q> Clone for SkipUntil<P, Q> {
    fn clone(&self) -> Self {
        SkipUntil {
            upstream: self.upstream.clone(),
            other: self.other.clone(),
        }
    }
}

impl<P, Q> SkipUntil<P, Q> {
    pub(crate) fn new(upstream: P, other: Q) -> Self {
        SkipUntil {
            upstream,
            other: StdArc::new(other),
        }
    }
}

impl<P, Q> Publisher for SkipUntil<P, Q>
where
    P: Publisher,
    P::Item: 'static,
    Q: Publisher + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(SkipMain {
            until: StdArc::new(Until::new(subscriber)),
            other: self.other.clone(),
            subscribed: false,
        })
    }
}

struct SkipMain<T, S, Q> {
    until: StdArc<Until<T, S>>,
    other: StdArc<Q>,
    subscribed: bool,
}

impl<T, S, Q> Subscriber<T> for SkipMain<T, S, Q>
where
    T: 'static,
    S: Subscriber<T> + 'static,
    Q: Publisher + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        let trigger = Trigger {
            until: self.until.clone(),
            skip: true,
        };
        self.until.start(subscription, &*self.other, trigger);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.until.is_open() {
            self.until.with(|downstream| downstream.on_next(item));
        } else if let Some(main) = self.until.main() {
            // The skipped item used a credit the downstream never saw: replenish it.
            main.request(1);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.until.is_open()
            && self
                .until
                .with(|downstream| downstream.try_on_next(item))
                .unwrap_or(true)
    }

    fn on_error(&mut self, error: Error) {
        self.until.end(Some(Err(error)));
    }

    fn on_complete(&mut self) {
        self.until.end(Some(Ok(())));
    }
}
