//! The publisher and subscriber behind
//! [`Flux::distinct_until_changed`](crate::Flux::distinct_until_changed).

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

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
            guarded: Guarded::new(subscriber, "distinct_until_changed"),
            last: None,
        })
    }
}

/// Catches a panic in the item's `PartialEq` / `Clone` (or downstream) itself ([`Guarded`]).
struct DistinctSubscriber<S, T> {
    guarded: Guarded<S>,
    /// The last item passed on (a clone of it): the next one is compared with it.
    last: Option<T>,
}

/// Whether `item` repeats `last`; remembers it in `last` if not.
#[inline]
fn repeats<T: PartialEq + Clone>(last: &mut Option<T>, item: &T) -> bool {
    if last.as_ref() == Some(item) {
        return true;
    }
    *last = Some(item.clone());
    false
}

impl<T, S> Subscriber<T> for DistinctSubscriber<S, T>
where
    S: Subscriber<T>,
    T: PartialEq + Clone + Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let last = &mut self.last;
        let repeated = self.guarded.run(|down| {
            let repeated = repeats(last, &item);
            if !repeated {
                down.on_next(item)
            }
            repeated
        });
        if repeated {
            if let Some(upstream) = self.guarded.upstream() {
                // The repeat used a credit the downstream never saw: replenish it (SEMANTICS §2).
                upstream.request(1)
            }
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let last = &mut self.last;
        self.guarded
            .run(|down| !repeats(last, &item) && down.try_on_next(item))
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let last = &mut self.last;
        self.guarded
            .run(|down| down.on_next_iter(items.filter(move |item| !repeats(last, item))))
    }

    #[inline]
    fn on_error(&mut self, error: Error) {
        self.last = None;
        self.guarded.on_error(error)
    }

    #[inline]
    fn on_complete(&mut self) {
        self.last = None;
        self.guarded.on_complete()
    }
}
