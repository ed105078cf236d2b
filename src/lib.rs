//! # backflow
//!
//! An in-process reactive streams runtime with real backpressure.
//!
//! Fast producers overwhelm slow consumers: queues grow without bound, memory fills, latency
//! explodes. Backpressure is the cure: the consumer says how much it can take (`request(n)`), and
//! every stage in between passes that signal upstream. backflow brings the Reactive Streams model
//! (Reactor, RxJava, Akka Streams) to Rust:
//!
//! - [`Publisher`] / [`Subscriber`] / [`Subscription`] with demand counted in `request(n)` credits,
//!   following the Reactive Streams 1.0.4 rules ([`protocol`]);
//! - [`Flux`], the fluent wrapper: sources ([`range`], [`from_iter`], ...), operators through which
//!   demand flows upstream, and sinks;
//! - statically dispatched chains that compile to a tight loop, like `Iterator` adapters.
//!
//! ```
//! use backflow::prelude::*;
//!
//! // Demand flows up: the sink asks for batches, `filter` replenishes what it discards.
//! let total = backflow::range(0..1_000u64)
//!     .map(|x| x * 3)
//!     .filter(|x| x % 2 == 0)
//!     .fold(0, |acc, x| acc + x)
//!     .unwrap();
//! assert_eq!(total, (0..1_000u64).map(|x| x * 3).filter(|x| x % 2 == 0).sum::<u64>());
//! ```
//!
//! Errors and panics travel as signals: a panic in a user closure becomes an
//! [`ErrorKind::Panicked`] error downstream and a cancel upstream; nothing unwinds through another
//! stage's drain loop.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod demand;
pub mod error;
pub mod flux;
pub mod metrics;
// ecosystem: every stage's metrics reported to the `metrics` facade (feature `metrics`).
#[cfg(feature = "metrics")]
pub mod metrics_facade;
// ecosystem: the guided tour (docs only).
pub mod guide;
pub mod ops;
pub mod protocol;
pub mod queue;
pub mod resilience;
pub mod sched;
pub mod sink;
pub mod source;
mod stage;
mod sync;
// The wait strategy of every hand-off consumer (spin, announce, re-check, park); stands on sync.
#[cfg(feature = "tck")]
pub mod tck;
mod wait;

pub use error::{clear_error_hook, set_error_hook, Error, ErrorKind};
pub use flux::{Boxed, Flux};
pub use metrics::DropReason;
pub use protocol::{
    NoopSubscription, Processor, Publisher, SharedSubscription, Subscriber, Subscription,
};
pub use sink::{TestProbe, TestSubscriber};
pub use source::{concat, from_iter, from_stream, from_stream_with, range};
pub use source::{emitter, emitter_with, Emitter, SingleEmitter};
pub use source::{empty, error, generate, just, never};
pub use source::{interval, interval_with};
// ---- graphs (issue 5): fan-in ----
pub use flux::{combine_latest, merge, zip, zip_all, zip_with};

/// The names most programs need: `use backflow::prelude::*;`.
pub mod prelude {
    pub use crate::error::{Error, ErrorKind};
    pub use crate::flux::{Boxed, Flux};
    pub use crate::protocol::{Processor, Publisher, SharedSubscription, Subscriber, Subscription};
    pub use crate::sink::Request;
    // ---- more prelude names ----
    pub use crate::ops::Overflow;
    pub use crate::sink::Disposable;
    pub use crate::sink::{TestProbe, TestSubscriber};
}

/// The README's examples, compiled and run as doctests so the README stays true to the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
// ---- porter parity (issue 10) ----
pub use source::{defer, using};
