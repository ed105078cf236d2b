//! The publisher behind [`Flux::drop_newest`](crate::Flux::drop_newest). The stage itself is shared
//! with `buffer`; it lives in `held.rs`.

use crate::ops::buffer::Overflow;
use crate::ops::held::Holding;
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, Subscriber};

/// Holds up to `capacity` items for a slower downstream, refusing the incoming item on overflow.
/// Built by [`Flux::drop_newest`](crate::Flux::drop_newest).
pub struct DropNewest<P: Publisher> {
    inner: Holding<P>,
}

impl<P: Publisher> DropNewest<P> {
    pub(crate) fn new(upstream: P, capacity: usize, name: &'static str) -> Self {
        DropNewest {
            inner: Holding::new(upstream, capacity, Overflow::DropNewest, name),
        }
    }
}

impl<P: Publisher + Clone> Clone for DropNewest<P> {
    fn clone(&self) -> Self {
        DropNewest {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for DropNewest<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<P: Publisher> Configurable for DropNewest<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.inner.options
    }
}

impl<P> Publisher for DropNewest<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.inner.subscribe(subscriber)
    }
}
