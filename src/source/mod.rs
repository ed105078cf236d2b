//! Where streams start: cold sources that replay to each subscriber, and push sources.
//!
//! Every source here is *cold* (unicast): each `subscribe` starts its own run from the beginning, and
//! items are produced only against demand.
//!
//! ```
//! use backflow::prelude::*;
//! let total: u64 = backflow::range(1..101u64).fold(0, |acc, x| acc + x).unwrap();
//! assert_eq!(total, 5050);
//! ```

pub(crate) mod pull;

mod iter;
mod range;
mod stream;

pub use iter::{from_iter, Iter};
pub use range::{range, Range, RangeInt};
pub use stream::{from_stream, from_stream_with, FromStream, FromStreamWith};
/// Subscribes to each source in turn, emitting all of one before the next.
///
/// Reactor's `Flux.concat`, RxJava's `Flowable.concat`. All sources have one type; use
/// [`Flux::boxed`](crate::Flux::boxed) to mix differently built streams.
///
/// # Demand
///
/// Downstream demand goes to the active source; what it still owed when it completes is asked of
/// the next one. A long run of sources that complete at once does not grow the stack.
///
/// ```
/// let parts = vec![backflow::range(0..2u32), backflow::range(10..12u32)];
/// assert_eq!(backflow::concat(parts).collect().unwrap(), vec![0, 1, 10, 11]);
/// ```
pub fn concat<I>(sources: I) -> crate::protocol::Flux<crate::ops::Concat<I::Item>>
where
    I: IntoIterator,
    I::Item: crate::Publisher + Send + Sync + 'static,
    <I::Item as crate::Publisher>::Item: 'static,
{
    crate::protocol::Flux::new(crate::ops::Concat::new(sources))
}
// ---- more sources (just, empty, error, never, generate) ----
mod empty;
mod error;
mod generate;
mod just;
mod never;

pub use self::error::{error, Fail};
pub use empty::{empty, Empty};
pub use generate::{generate, Generate};
pub use just::{just, Just};
pub use never::{never, Never};
mod interval;
pub use interval::{interval, interval_with, Interval};
// ---- push sources (issue 4) ----
mod emitter;

pub use emitter::{emitter, emitter_with, Emitter, EmitterBuilder, EmitterSource, SingleEmitter};
// ---- porter parity (issue 10) ----
mod defer;
mod using;
pub use defer::{defer, Defer};
pub use using::{using, Using};
