//! What the stages of `source/` and `ops/` share, below both of them: the options of a buffering
//! or lossy stage ([`StageOptions`], re-exported as `backflow::ops::StageOptions`), the
//! [`Overflow`] policy, and [`start`], the subscribe protocol of a stage whose downstream lives in
//! a [`GateCell`].

use std::fmt;

use crate::demand::GateCell;
use crate::metrics::{DropReason, StageMetrics};
use crate::protocol::{catch, SharedSubscription, Subscriber};
use crate::sync::StdArc;
use crate::Error;

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

/// What a holding stage does when an item arrives and its buffer is full.
///
/// Akka's `OverflowStrategy`, Reactor's `BufferOverflowStrategy`, RxJava's
/// `BackpressureOverflowStrategy`. Used with [`Flux::buffer_with`](crate::Flux::buffer_with) and by
/// the push source [`emitter_with`](crate::source::emitter_with) (where `Backpressure` means the
/// producer is pushed back: `try_emit` hands the item back, `emit` blocks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Never full: the stage requests only what it can hold and replenishes as it drains, so the
    /// upstream slows down instead ([`Flux::buffer`](crate::Flux::buffer)). A publisher that sends
    /// more than requested anyway gets the `Error` treatment.
    #[default]
    Backpressure,
    /// Evict the oldest held item to make room (`DropReason::Evicted`)
    /// ([`Flux::drop_oldest`](crate::Flux::drop_oldest)).
    DropOldest,
    /// Refuse the incoming item (`DropReason::Overflow`) ([`Flux::drop_newest`](crate::Flux::drop_newest)).
    DropNewest,
    /// Refuse the incoming item (`DropReason::Overflow`), cancel upstream at once, and end the
    /// stream with an [`ErrorKind::Overflow`](crate::ErrorKind::Overflow) error after the held items.
    Error,
}

/// The subscribe protocol of a stage whose downstream lives in a [`GateCell`], written once: own
/// the gate while the downstream's `on_subscribe(handle)` runs (so that what it requests or
/// cancels there is only recorded, and served after it returns: rule 1.03), catch a panic in it,
/// then run `pass` until every signal is seen.
///
/// `downstream` finds the subscriber in the stage's state (`None`: nothing to subscribe); it may
/// also set up what the stage needs in place before the subscriber hears of it. A
/// panicking `on_subscribe` goes to `failed` with the state and the panic: the stage marks itself
/// cancelled, cancels its upstream, and hands the panic to the subscriber as `on_error` (rule
/// 2.13). Returns whether `on_subscribe` returned normally.
pub(crate) fn start<X, T, S>(
    cell: &GateCell<X>,
    handle: SharedSubscription,
    downstream: impl for<'a> FnOnce(&'a mut X) -> Option<&'a mut S>,
    failed: impl FnOnce(&mut X, Error),
    pass: impl FnMut(&mut X),
) -> bool
where
    S: Subscriber<T>,
{
    let started = cell.enter_with(
        |state| subscribe_owned(state, handle, downstream, failed),
        pass,
    );
    debug_assert!(
        started.is_some(),
        "a fresh stage has no other signaller yet"
    );
    started == Some(true)
}

/// The first step of [`start`], for a stage that does more while it owns the gate (a fan-in
/// subscribes its inputs after its downstream, inside [`GateCell::enter_with`]): calls the
/// downstream's `on_subscribe(handle)`, catching a panic (handed to `failed`). Returns whether
/// it returned normally.
pub(crate) fn subscribe_owned<X, T, S>(
    state: &mut X,
    handle: SharedSubscription,
    downstream: impl for<'a> FnOnce(&'a mut X) -> Option<&'a mut S>,
    failed: impl FnOnce(&mut X, Error),
) -> bool
where
    S: Subscriber<T>,
{
    let Some(subscriber) = downstream(state) else {
        return false;
    };
    match catch("on_subscribe", || subscriber.on_subscribe(handle)) {
        Ok(()) => true,
        Err(panic) => {
            failed(state, panic);
            false
        }
    }
}
