//! Where streams end: blocking sinks (`for_each`, `fold`, `collect`), callback subscription with a
//! cancel handle (`subscribe_with`), and the [`TestSubscriber`] probe.
//!
//! Sinks request in batches by default ([`Request::Batch`] of [`DEFAULT_BATCH`], topped up when 75% is
//! consumed); [`Request::Unbounded`] asks for everything at once, which lets synchronous sources run
//! a loop with no demand accounting at all.
//!
//! ```
//! use backflow::prelude::*;
//! let squares = backflow::range(1..5u32).map(|x| x * x).collect().unwrap();
//! assert_eq!(squares, vec![1, 4, 9, 16]);
//! ```

pub(crate) mod block;
mod bridge;

pub use block::Fold;
pub use bridge::{BlockingIter, FluxStream};

/// The batch size sinks request by default.
pub const DEFAULT_BATCH: u64 = 256;

/// How a sink requests from its upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `request(u64::MAX)` once: no further accounting.
    Unbounded,
    /// `request(n)` up front, topped up by `n - n/4` each time that many items are consumed.
    Batch(u64),
}

impl Default for Request {
    fn default() -> Self {
        Request::Batch(DEFAULT_BATCH)
    }
}

impl Request {
    pub(crate) fn replenish(self) -> crate::demand::Replenish {
        match self {
            Request::Unbounded => crate::demand::Replenish::new(crate::demand::UNBOUNDED),
            Request::Batch(n) => crate::demand::Replenish::new(n.max(1)),
        }
    }
}
// ---- more sinks (subscribe_with, TestSubscriber, blocking iterator, stream) ----
pub(crate) mod lambda;

pub use lambda::Disposable;
mod test_subscriber;
pub use test_subscriber::{
    Liveness, ProbeError, ProbeErrorKind, Signal, Terminal, TestProbe, TestSubscriber,
    TestSubscriberBuilder,
};
