//! The publisher behind [`Flux::default_if_empty`](crate::Flux::default_if_empty): the switching
//! machinery of [`switch_if_empty`](super::switch_if_empty) with a one-item alternative.

use crate::ops::on_error_return::OneItem;
use crate::ops::switch_if_empty::{Alternative, EmptySwitch};
use crate::protocol::{Publisher, Subscriber};
use crate::sync::StdArc;

/// Emits a default item if the upstream completes empty. Built by
/// [`Flux::default_if_empty`](crate::Flux::default_if_empty).
#[derive(Debug)]
pub struct DefaultIfEmpty<P, T> {
    upstream: P,
    item: StdArc<T>,
}

impl<P: Clone, T> Clone for DefaultIfEmpty<P, T> {
    fn clone(&self) -> Self {
        DefaultIfEmpty {
            upstream: self.upstream.clone(),
            item: self.item.clone(),
        }
    }
}

impl<P, T> DefaultIfEmpty<P, T> {
    pub(crate) fn new(upstream: P, item: T) -> Self {
        DefaultIfEmpty {
            upstream,
            item: StdArc::new(item),
        }
    }
}

struct DefaultItem<T>(StdArc<T>);

impl<T: Clone + Send + Sync + 'static> Alternative<T> for DefaultItem<T> {
    fn subscribe_to<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        OneItem::new((*self.0).clone()).subscribe(subscriber)
    }
}

impl<P> Publisher for DefaultIfEmpty<P, P::Item>
where
    P: Publisher,
    P::Item: Clone + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream
            .subscribe(EmptySwitch::new(subscriber, DefaultItem(self.item.clone())))
    }
}
