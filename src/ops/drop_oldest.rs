//! The publisher behind [`Flux::drop_oldest`](crate::Flux::drop_oldest). The stage itself is shared
//! with `buffer`; it lives in `held.rs`.

use crate::ops::buffer::Overflow;
use crate::ops::held::Holding;
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, Subscriber};

/// Holds up to `capacity` items for a slower downstream, evicting the oldest held item on overflow.
/// Built by [`Flux::drop_oldest`](crate::Flux::drop_oldest) and [`Flux::latest`](crate::Flux::latest).
pub struct DropOldest<P: Publisher> {
    inner: Holding<P>,
}

impl<P: Publisher> DropOldest<P> {
    pub(crate) fn new(upstream: P, capacity: usize, name: &'static str) -> Self {
        DropOldest {
            inner: Holding::new(upstream, capacity, Overflow::DropOldest, name),
        }
    }
}

impl<P: Publisher + Clone> Clone for DropOldest<P> {
    fn clone(&self) -> Self {
        DropOldest {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for DropOldest<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<P: Publisher> Configurable for DropOldest<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.inner.options
    }
}

impl<P> Publisher for DropOldest<P>
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
