//! The publisher behind [`Flux::reduce`](crate::Flux::reduce).

use std::sync::Arc;

use super::aggregate::{Aggregate, AggregateSubscriber};
use crate::protocol::{Publisher, Subscriber};

/// Folds all items into one with a binary function, emitted on completion. Built by
/// [`Flux::reduce`](crate::Flux::reduce).
#[derive(Clone, Debug)]
pub struct Reduce<P, F> {
    upstream: P,
    f: Arc<F>,
}

impl<P, F> Reduce<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        Reduce {
            upstream,
            f: Arc::new(f),
        }
    }
}

struct ReduceState<T, F> {
    acc: Option<T>,
    f: Arc<F>,
}

impl<T, F> Aggregate<T> for ReduceState<T, F>
where
    T: Send + 'static,
    F: Fn(T, T) -> T + Send + Sync + 'static,
{
    type Output = T;

    #[inline]
    fn push(&mut self, item: T) {
        self.acc = Some(match self.acc.take() {
            Some(acc) => (self.f)(acc, item),
            None => item,
        });
    }

    fn finish(self) -> Option<T> {
        self.acc
    }
}

impl<P, F> Publisher for Reduce<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item, P::Item) -> P::Item + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let state = ReduceState {
            acc: None,
            f: self.f.clone(),
        };
        self.upstream
            .subscribe(AggregateSubscriber::new(subscriber, state))
    }
}
