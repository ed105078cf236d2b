//! The publisher and subscriber behind [`Flux::ignore_elements`](crate::Flux::ignore_elements).

use crate::demand::UNBOUNDED;
use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, Ordering, StdArc};

/// Discards every item, passing only the terminal signal. Built by
/// [`Flux::ignore_elements`](crate::Flux::ignore_elements).
#[derive(Clone, Debug)]
pub struct IgnoreElements<P> {
    upstream: P,
}

impl<P> IgnoreElements<P> {
    pub(crate) fn new(upstream: P) -> Self {
        IgnoreElements { upstream }
    }
}

impl<P> Publisher for IgnoreElements<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(IgnoreSubscriber {
            downstream: subscriber,
            subscribed: false,
        })
    }
}

/// The downstream's handle: its demand is for items that never come, so only `cancel` (and the
/// rule 3.9 `request(0)`, which the upstream answers) go through.
struct IgnoreSubscription {
    upstream: SharedSubscription,
    /// Set by `cancel` (Release) so the unbounded request is not made after it (Acquire).
    cancelled: AtomicBool,
}

impl Subscription for IgnoreSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            self.upstream.request(0)
        }
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.upstream.cancel()
    }
}

struct IgnoreSubscriber<S> {
    downstream: S,
    subscribed: bool,
}

impl<T, S: Subscriber<T>> Subscriber<T> for IgnoreSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        let handle = StdArc::new(IgnoreSubscription {
            upstream: subscription.clone(),
            cancelled: AtomicBool::new(false),
        });
        self.downstream.on_subscribe(handle.clone());
        if !handle.cancelled.load(Ordering::Acquire) {
            subscription.request(UNBOUNDED);
        }
    }

    #[inline]
    fn on_next(&mut self, _item: T) {}

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        items.count() as u64
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
