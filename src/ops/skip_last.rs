//! The publisher and subscriber behind [`Flux::skip_last`](crate::Flux::skip_last).

use std::collections::VecDeque;

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Passes every item except the last `n`. Built by [`Flux::skip_last`](crate::Flux::skip_last).
#[derive(Clone, Debug)]
pub struct SkipLast<P> {
    upstream: P,
    n: usize,
}

impl<P> SkipLast<P> {
    pub(crate) fn new(upstream: P, n: usize) -> Self {
        SkipLast { upstream, n }
    }
}

impl<P> Publisher for SkipLast<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(SkipLastSubscriber {
            downstream: subscriber,
            n: self.n,
            window: VecDeque::new(),
            subscribed: false,
        })
    }
}

struct SkipLastSubscriber<T, S> {
    downstream: S,
    n: usize,
    /// The last `n` items seen, any of which may turn out to be among the last.
    window: VecDeque<T>,
    subscribed: bool,
}

impl<T: Send, S: Subscriber<T>> Subscriber<T> for SkipLastSubscriber<T, S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        // Demand passes through; `n` more up front fill the window, after which each arrival
        // pushes the oldest held item out to the downstream, one for one.
        self.downstream.on_subscribe(subscription.clone());
        if self.n > 0 {
            subscription.request(self.n as u64);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.n == 0 {
            return self.downstream.on_next(item);
        }
        if self.window.capacity() == 0 {
            self.window.reserve_exact(self.n.min(1024));
        }
        self.window.push_back(item);
        if self.window.len() > self.n {
            let oldest = self.window.pop_front().expect("longer than n");
            self.downstream.on_next(oldest);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.window.clear();
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        // The window holds exactly the last n: they are skipped.
        self.window.clear();
        self.downstream.on_complete()
    }
}
