//! The resilience toolkit (SEMANTICS §5): primitives that protect a service, usable on their own
//! and as stream operators.
//!
//! - [`limit`]: adaptive concurrency limits (AIMD, Gradient2, Vegas) and the [`Limiter`] that
//!   applies one, behind [`Flux::concurrent_map`](crate::Flux::concurrent_map).

pub mod limit;

pub use limit::{Limit, Limiter, Permit};
