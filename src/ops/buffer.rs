//! The publisher behind [`Flux::buffer`](crate::Flux::buffer) and
//! [`Flux::buffer_with`](crate::Flux::buffer_with), and the [`Overflow`] policy.
//!
//! The stage itself (ring, drain loop, demand) is shared with `drop_oldest` and `drop_newest`; it
//! lives in `held.rs`.

use crate::ops::held::{holding_stage, Holding};
use crate::protocol::Publisher;

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

holding_stage!(Buffer);
