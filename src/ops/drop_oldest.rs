//! The publisher behind [`Flux::drop_oldest`](crate::Flux::drop_oldest). The stage itself is shared
//! with `buffer`; it lives in `held.rs`.

use crate::ops::buffer::Overflow;
use crate::ops::held::{holding_stage, Holding};
use crate::protocol::Publisher;

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

holding_stage!(DropOldest);
