//! The publisher behind [`Flux::drop_newest`](crate::Flux::drop_newest). The stage itself is shared
//! with `buffer`; it lives in `held.rs`.

use crate::ops::buffer::Overflow;
use crate::ops::held::{holding_stage, Holding};
use crate::protocol::Publisher;

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

holding_stage!(DropNewest);
