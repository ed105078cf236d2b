//! [`Flux::subscribe_with`](crate::Flux::subscribe_with): callbacks plus a [`Disposable`] handle.

use std::fmt;

use crate::demand::Replenish;
use crate::error::{report_undeliverable, Error};
use crate::protocol::{SharedSubscription, Subscriber};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// The handle returned by [`Flux::subscribe_with`](crate::Flux::subscribe_with): cancels the
/// subscription and says whether it is over.
///
/// Cheap to clone; every clone controls the same subscription. Dropping it does **not** cancel
/// (Reactor's `Disposable`): a stream subscribed with callbacks runs to its end unless cancelled.
#[derive(Clone)]
pub struct Disposable {
    state: StdArc<DisposeState>,
}

struct DisposeState {
    /// Cancelled, or terminated. Swapped (AcqRel) by `cancel` and by the terminal handlers, so only
    /// one of them acts; read under `subscription`'s lock by `on_subscribe`.
    disposed: AtomicBool,
    /// The upstream handle once `on_subscribe` delivered it; taken by `cancel` and on terminal
    /// (never held across a call into the subscription).
    subscription: Mutex<Option<SharedSubscription>>,
}

impl Disposable {
    /// Cancels the subscription: upstream is asked to stop, and no callback starts afterwards
    /// except one already running on another thread. Idempotent; a no-op after the stream ended.
    ///
    /// Safe to call before the publisher delivered `on_subscribe` (an asynchronous source): the
    /// subscription is cancelled as soon as it arrives.
    pub fn cancel(&self) {
        if !self.state.disposed.swap(true, Ordering::AcqRel) {
            let subscription = self.state.subscription.lock().take();
            if let Some(subscription) = subscription {
                subscription.cancel();
            }
        }
    }

    /// Whether the subscription was cancelled or the stream terminated.
    pub fn is_disposed(&self) -> bool {
        self.state.disposed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Disposable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disposable")
            .field("disposed", &self.is_disposed())
            .finish()
    }
}

/// The subscriber behind [`Flux::subscribe_with`](crate::Flux::subscribe_with).
pub(crate) struct Lambda<N, E, C> {
    on_next: N,
    on_error: Option<E>,
    on_complete: Option<C>,
    replenish: Replenish,
    upstream: Option<SharedSubscription>,
    state: StdArc<DisposeState>,
}

impl<N, E, C> Lambda<N, E, C> {
    pub(crate) fn new(
        on_next: N,
        on_error: E,
        on_complete: C,
        replenish: Replenish,
    ) -> (Self, Disposable) {
        let state = StdArc::new(DisposeState {
            disposed: AtomicBool::new(false),
            subscription: Mutex::new(None),
        });
        let lambda = Lambda {
            on_next,
            on_error: Some(on_error),
            on_complete: Some(on_complete),
            replenish,
            upstream: None,
            state: state.clone(),
        };
        (lambda, Disposable { state })
    }

    /// Marks the stream over; false if it already was (the handle cancelled it).
    fn finish(&mut self) -> bool {
        self.upstream = None;
        let first = !self.state.disposed.swap(true, Ordering::AcqRel);
        drop(self.state.subscription.lock().take());
        first
    }
}

impl<T, N, E, C> Subscriber<T> for Lambda<N, E, C>
where
    N: FnMut(T) + Send,
    E: FnOnce(Error) + Send,
    C: FnOnce() + Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.upstream.is_some() {
            // Rule 2.05: already subscribed.
            return subscription.cancel();
        }
        {
            let mut slot = self.state.subscription.lock();
            if self.state.disposed.load(Ordering::Acquire) {
                // Cancelled before the subscription arrived.
                drop(slot);
                return subscription.cancel();
            }
            *slot = Some(subscription.clone());
        }
        subscription.request(self.replenish.initial());
        self.upstream = Some(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.state.disposed.load(Ordering::Relaxed) {
            // In flight after a cancel (rule 2.08): not the user's any more.
            return;
        }
        (self.on_next)(item);
        let top_up = self.replenish.consumed(1);
        if top_up > 0 {
            if let Some(upstream) = &self.upstream {
                upstream.request(top_up);
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if !self.finish() {
            // After a cancel the user no longer listens, but an error is never swallowed.
            return report_undeliverable(&error);
        }
        if let Some(on_error) = self.on_error.take() {
            on_error(error)
        }
    }

    fn on_complete(&mut self) {
        if self.finish() {
            if let Some(on_complete) = self.on_complete.take() {
                on_complete()
            }
        }
    }
}
