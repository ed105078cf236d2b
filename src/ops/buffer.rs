//! The publisher behind [`Flux::buffer`](crate::Flux::buffer) and
//! [`Flux::buffer_with`](crate::Flux::buffer_with), and the [`Overflow`] policy.
//!
//! The stage itself (ring, drain loop, demand) is shared with `drop_oldest` and `drop_newest`; it
//! lives in `held.rs`.

use crate::ops::held::{holding_stage, Holding};
use crate::protocol::Publisher;

pub use crate::stage::Overflow;

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
