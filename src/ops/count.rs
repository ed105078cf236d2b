//! The publisher behind [`Flux::count`](crate::Flux::count).

use super::aggregate::{Aggregate, AggregateSubscriber};
use crate::protocol::{Publisher, Subscriber};

/// Counts the items, emitting the count on completion. Built by [`Flux::count`](crate::Flux::count).
#[derive(Clone, Debug)]
pub struct Count<P> {
    upstream: P,
}

impl<P> Count<P> {
    pub(crate) fn new(upstream: P) -> Self {
        Count { upstream }
    }
}

struct Counter {
    seen: u64,
}

impl<T> Aggregate<T> for Counter {
    type Output = u64;

    #[inline]
    fn push(&mut self, _item: T) {
        self.seen += 1;
    }

    #[inline]
    fn push_iter<I: Iterator<Item = T>>(&mut self, items: I) -> u64 {
        let n = items.count() as u64;
        self.seen += n;
        n
    }

    fn finish(self) -> Option<u64> {
        Some(self.seen)
    }
}

impl<P> Publisher for Count<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = u64;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<u64> + 'static,
    {
        let counter = Counter { seen: 0 };
        self.upstream
            .subscribe(AggregateSubscriber::new(subscriber, counter))
    }
}
