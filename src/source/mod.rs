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
// ---- more sources (just, empty, error, never, generate) ----
