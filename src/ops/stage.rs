//! What every buffering or lossy stage shares: its `on_drop` callback, its metrics, its error mode.
//!
//! A stage type that implements [`Configurable`] gets the fluent setters [`Flux::on_drop`](crate::Flux::on_drop),
//! [`Flux::metrics`](crate::Flux::metrics) and [`Flux::error_mode`](crate::Flux::error_mode), which configure the *last* stage of a chain.
//! They are defined below `ops/` and `source/` (both use them) and re-exported here.

pub use crate::stage::{Configurable, DropFn, ErrorMode, StageOptions};
