//! Operators: one file per operator, each holding its publisher type, its subscriber, its
//! subscription and its drain loop. The user-facing docs and examples live on the [`Flux`](crate::Flux)
//! methods that build them.

mod filter;
mod map;
pub mod stage;

pub use filter::Filter;
pub use map::Map;
pub use stage::{Configurable, DropFn, ErrorMode, StageOptions};

// ---- synchronous operators (issue 2) ----

// ---- thread boundary (issue 3) ----

// ---- backpressure operators (issue 4) ----
mod debounce;
mod sample;
mod throttle;
mod throttle_first;
pub(crate) mod timed;
mod timeout;
pub(crate) mod token_bucket;
pub use debounce::Debounce;
pub use sample::Sample;
pub use throttle::{Throttle, ThrottleMode};
pub use throttle_first::ThrottleFirst;
pub use timed::{SharedScheduler, Timed};
pub use timeout::Timeout;
mod chunks;
mod drop;
pub use chunks::Chunks;
pub use drop::DropNoDemand;

// ---- graphs (issue 5) ----
pub(crate) mod arbiter;
mod concat;
pub use concat::{Concat, Either};
