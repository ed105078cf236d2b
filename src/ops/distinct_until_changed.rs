//! The publisher and subscriber behind
//! [`Flux::distinct_until_changed`](crate::Flux::distinct_until_changed).

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Discards items equal to the one before. Built by
/// [`Flux::distinct_until_changed`](crate::Flux::distinct_until_changed).
#[derive(Clone, Debug)]
pub struct DistinctUntilChanged<P> {
    upstream: P,
}

impl<P> DistinctUntilChanged<P> {
    pub(crate) fn new(upstream: P) -> Self {
        DistinctUntilChanged { upstream }
    }
}

impl<P> Publisher for DistinctUntilChanged<P>
where
    P: Publisher,
    P::Item: PartialEq + Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(DistinctSubscriber {
            downstream: subscriber,
            last: None,
            upstream: None,
        })
    }
}

struct DistinctSubscriber<S, T> {
    downstream: S,
    /// The last item passed on (a clone of it): the next one is compared with it.
    last: Option<T>,
    upstream: Option<SharedSubscription>,
}

impl<S, T: PartialEq + Clone> DistinctSubscriber<S, T> {
    /// Whether `item` repeats the previous item; remembers it if not.
    #[inline]
    fn repeats(&mut self, item: &T) -> bool {
        if self.last.as_ref() == Some(item) {
            return true;
        }
        self.last = Some(item.clone());
        false
    }
}

impl<T, S> Subscriber<T> for DistinctSubscriber<S, T>
where
    S: Subscriber<T>,
    T: PartialEq + Clone + Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.repeats(&item) {
            self.downstream.on_next(item)
        } else if let Some(upstream) = &self.upstream {
            // The repeat used a credit the downstream never saw: replenish it (SEMANTICS §2).
            upstream.request(1)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        !self.repeats(&item) && self.downstream.try_on_next(item)
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let last = &mut self.last;
        self.downstream.on_next_iter(items.filter(move |item| {
            if last.as_ref() == Some(item) {
                return false;
            }
            *last = Some(item.clone());
            true
        }))
    }

    #[inline]
    fn on_error(&mut self, error: Error) {
        self.last = None;
        self.downstream.on_error(error)
    }

    #[inline]
    fn on_complete(&mut self) {
        self.last = None;
        self.downstream.on_complete()
    }
}
