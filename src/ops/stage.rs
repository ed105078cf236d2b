//! What every buffering or lossy stage shares: its `on_drop` callback, its metrics, its error mode.
//!
//! A stage type that implements [`Configurable`] gets the fluent setters [`Flux::on_drop`](crate::Flux::on_drop),
//! [`Flux::metrics`](crate::Flux::metrics) and [`Flux::error_mode`](crate::Flux::error_mode), which configure the *last* stage of a chain.

use std::fmt;

use crate::metrics::{DropReason, StageMetrics};
use crate::sync::StdArc;

/// The callback that receives every discarded item by value, with the reason.
pub type DropFn<T> = StdArc<dyn Fn(T, DropReason) + Send + Sync>;

/// When a buffering stage delivers a terminal error relative to the items it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Deliver the held items first (as demand allows), then the error. Reactor's choice; the default.
    #[default]
    AfterDrain,
    /// Deliver the error at once; held items are dropped with [`DropReason::Cancelled`]
    /// (RxJava's `observeOn` without `delayError`, Akka's default).
    Immediate,
}

/// The options of one buffering or lossy stage.
pub struct StageOptions<T> {
    pub(crate) on_drop: Option<DropFn<T>>,
    pub(crate) metrics: Option<StdArc<StageMetrics>>,
    pub(crate) error_mode: ErrorMode,
}

impl<T> Default for StageOptions<T> {
    fn default() -> Self {
        StageOptions {
            on_drop: None,
            metrics: None,
            error_mode: ErrorMode::default(),
        }
    }
}

impl<T> Clone for StageOptions<T> {
    fn clone(&self) -> Self {
        StageOptions {
            on_drop: self.on_drop.clone(),
            metrics: self.metrics.clone(),
            error_mode: self.error_mode,
        }
    }
}

impl<T> fmt::Debug for StageOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageOptions")
            .field("on_drop", &self.on_drop.is_some())
            .field(
                "metrics",
                &self.metrics.as_ref().map(|m| m.name().to_string()),
            )
            .field("error_mode", &self.error_mode)
            .finish()
    }
}

impl<T> StageOptions<T> {
    /// Discards `item` for `reason`: counts it, then hands it to `on_drop` (or drops it).
    ///
    /// A panicking `on_drop` is reported to the error hook and does not unwind into the stage.
    pub(crate) fn discard(&self, item: T, reason: DropReason) {
        if let Some(metrics) = &self.metrics {
            metrics.record_dropped(reason, 1);
        }
        match &self.on_drop {
            Some(on_drop) => {
                if let Err(panic) = crate::protocol::catch("on_drop", || on_drop(item, reason)) {
                    crate::error::report_undeliverable(&panic);
                }
            }
            None => drop(item),
        }
    }

    /// The stage's metrics, if any.
    #[inline]
    pub(crate) fn metrics(&self) -> Option<&StageMetrics> {
        self.metrics.as_deref()
    }
}

/// A stage with [`StageOptions`]: implemented by every buffering or lossy operator.
pub trait Configurable {
    /// The type of the items the stage may drop.
    type Dropped;
    /// The stage's options, to configure before it is subscribed.
    fn options_mut(&mut self) -> &mut StageOptions<Self::Dropped>;
}
