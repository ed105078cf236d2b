//! The publisher behind [`Flux::buffer`](crate::Flux::buffer) and
//! [`Flux::buffer_with`](crate::Flux::buffer_with), and the [`Overflow`] policy.
//!
//! The stage itself (ring, drain loop, demand) is shared with `drop_oldest` and `drop_newest`; it
//! lives in `held.rs`.

use crate::ops::held::Holding;
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, Subscriber};

/// What a holding stage does when an item arrives and its buffer is full.
///
/// Akka's `OverflowStrategy`, Reactor's `BufferOverflowStrategy`, RxJava's
/// `BackpressureOverflowStrategy`. Used with [`Flux::buffer_with`](crate::Flux::buffer_with) and by
/// the push source [`emitter_with`](crate::source::emitter_with) (where `Backpressure` means the
/// producer is pushed back: `try_emit` hands the item back, `emit` blocks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Never full: the stage requests only what it can hold and replenishes as it drains, so the
    /// upstream slows down instead ([`Flux::buffer`](crate::Flux::buffer)). A publisher that sends
    /// more than requested anyway gets the `Error` treatment.
    #[default]
    Backpressure,
    /// Evict the oldest held item to make room (`DropReason::Evicted`)
    /// ([`Flux::drop_oldest`](crate::Flux::drop_oldest)).
    DropOldest,
    /// Refuse the incoming item (`DropReason::Overflow`) ([`Flux::drop_newest`](crate::Flux::drop_newest)).
    DropNewest,
    /// Refuse the incoming item (`DropReason::Overflow`), cancel upstream at once, and end the
    /// stream with an [`ErrorKind::Overflow`](crate::ErrorKind::Overflow) error after the held items.
    Error,
}

/// A bounded buffer between a producer and a slower consumer.
/// Built by [`Flux::buffer`](crate::Flux::buffer) and [`Flux::buffer_with`](crate::Flux::buffer_with).
pub struct Buffer<P: Publisher> {
    inner: Holding<P>,
}

impl<P: Publisher> Buffer<P> {
    pub(crate) fn new(upstream: P, capacity: usize, overflow: Overflow) -> Self {
        let name = match overflow {
            Overflow::Backpressure => "buffer",
            _ => "buffer_with",
        };
        Buffer {
            inner: Holding::new(upstream, capacity, overflow, name),
        }
    }
}

impl<P: Publisher + Clone> Clone for Buffer<P> {
    fn clone(&self) -> Self {
        Buffer {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Buffer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<P: Publisher> Configurable for Buffer<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.inner.options
    }
}

impl<P> Publisher for Buffer<P>
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
