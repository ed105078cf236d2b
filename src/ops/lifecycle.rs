//! What the lifecycle hooks share (`do_on_subscribe`, `do_on_request`, `do_on_cancel`,
//! `do_on_error`, `do_on_complete`, `do_finally`): [`Hooked`], a pass-through stage that calls a
//! [`Hooks`] implementation at each signal. Each hook's own file defines its `Hooks` and names the
//! stage type.
//!
//! Items pass straight through (1:1, demand unchanged); the stage wraps the subscription only to see
//! `request` and `cancel`. Panics in a hook are caught where the hook runs: in `on_subscribe`,
//! `on_error` and `on_complete` they become the downstream's `on_error`
//! ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)); in `request` they cancel upstream and go
//! to the [error hook](crate::set_error_hook) (a `request` may come from any thread, and must not
//! signal the downstream); in `cancel` and `do_finally` there is nobody left to tell, so they go to
//! the error hook.

use std::sync::OnceLock;

use crate::error::{report_undeliverable, Error};
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription};
use crate::protocol::{Subscriber, Subscription};
use crate::sync::{AtomicBool, Ordering, StdArc};

/// How a stream ended, as [`Flux::do_finally`](crate::Flux::do_finally) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalType {
    /// The upstream completed (`on_complete` went downstream).
    Complete,
    /// The stream failed (`on_error` went downstream).
    Error,
    /// The downstream cancelled.
    Cancel,
}

/// The callbacks of one lifecycle stage; each defaults to nothing. They run on the thread of the
/// signal they watch, and may panic (the stage catches it).
pub(crate) trait Hooks: Send + Sync + 'static {
    /// Names the hook in panic messages.
    const PLACE: &'static str;
    fn subscribed(&self, _subscription: &SharedSubscription) {}
    fn requested(&self, _n: u64) {}
    fn cancelled(&self) {}
    fn failed(&self, _error: &Error) {}
    fn completed(&self) {}
    fn finally(&self, _signal: SignalType) {}
}

/// A pass-through stage that calls `H` at each signal. Built by the `Flux::do_*` methods.
#[derive(Debug)]
pub struct Hooked<P, H> {
    upstream: P,
    hooks: StdArc<H>,
}

impl<P: Clone, H> Clone for Hooked<P, H> {
    fn clone(&self) -> Self {
        Hooked {
            upstream: self.upstream.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<P, H> Hooked<P, H> {
    pub(crate) fn new(upstream: P, hooks: H) -> Self {
        Hooked {
            upstream,
            hooks: StdArc::new(hooks),
        }
    }
}

#[allow(private_bounds)]
impl<P, H> Publisher for Hooked<P, H>
where
    P: Publisher,
    P::Item: 'static,
    H: Hooks,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(HookedSubscriber {
            downstream: Some(subscriber),
            shared: StdArc::new(Shared {
                hooks: self.hooks.clone(),
                upstream: OnceLock::new(),
                cancelled: AtomicBool::new(false),
                finished: AtomicBool::new(false),
            }),
            subscribed: false,
        })
    }
}

/// The downstream's subscription (it sees `request` and `cancel`), and the once-only `finally`.
struct Shared<H> {
    hooks: StdArc<H>,
    /// Set once in `on_subscribe`, before the downstream gets the handle that reads it.
    upstream: OnceLock<SharedSubscription>,
    /// Set by the first `cancel` (AcqRel swap): the cancel hook runs once (rule 3.07).
    cancelled: AtomicBool,
    /// Set by whoever ends the stream first: terminal signal or cancel, from any thread (AcqRel
    /// swap); the winner alone runs `finally`, so it runs exactly once.
    finished: AtomicBool,
}

impl<H: Hooks> Shared<H> {
    fn finish(&self, signal: SignalType) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            if let Err(panic) = catch(H::PLACE, || self.hooks.finally(signal)) {
                report_undeliverable(&panic);
            }
        }
    }

    fn cancel_upstream(&self) {
        if let Some(upstream) = self.upstream.get() {
            upstream.cancel();
        }
    }
}

impl<H: Hooks> Subscription for Shared<H> {
    fn request(&self, n: u64) {
        if self.cancelled.load(Ordering::Acquire) {
            return;
        }
        if let Err(panic) = catch(H::PLACE, || self.hooks.requested(n)) {
            // Not the downstream's thread to signal on: cancel, and report.
            self.cancelled.store(true, Ordering::Release);
            self.cancel_upstream();
            report_undeliverable(&panic);
            return self.finish(SignalType::Cancel);
        }
        if let Some(upstream) = self.upstream.get() {
            upstream.request(n);
        }
    }

    fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(panic) = catch(H::PLACE, || self.hooks.cancelled()) {
            report_undeliverable(&panic);
        }
        self.cancel_upstream();
        self.finish(SignalType::Cancel);
    }
}

struct HookedSubscriber<S, H> {
    /// `None` after the terminal signal.
    downstream: Option<S>,
    shared: StdArc<Shared<H>>,
    subscribed: bool,
}

impl<T, S, H> Subscriber<T> for HookedSubscriber<S, H>
where
    S: Subscriber<T>,
    H: Hooks,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            return subscription.cancel();
        }
        let shared = &self.shared;
        let _ = shared.upstream.set(subscription.clone());
        if let Err(panic) = catch(H::PLACE, || shared.hooks.subscribed(&subscription)) {
            subscription.cancel();
            let mut downstream = self.downstream.take().expect("checked above");
            crate::protocol::reject(&mut downstream, panic);
            return shared.finish(SignalType::Error);
        }
        let handle: SharedSubscription = shared.clone();
        if let Some(downstream) = &mut self.downstream {
            downstream.on_subscribe(handle);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = &mut self.downstream {
            downstream.on_next(item)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match &mut self.downstream {
            Some(downstream) => downstream.try_on_next(item),
            None => false,
        }
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        match &mut self.downstream {
            Some(downstream) => downstream.on_next_iter(items),
            None => 0,
        }
    }

    fn on_error(&mut self, error: Error) {
        let Some(mut downstream) = self.downstream.take() else {
            return report_undeliverable(&error);
        };
        let hooks = &self.shared.hooks;
        match catch(H::PLACE, || hooks.failed(&error)) {
            Ok(()) => deliver_error(&mut downstream, error),
            Err(panic) => deliver_error(&mut downstream, panic),
        }
        drop(downstream);
        self.shared.finish(SignalType::Error);
    }

    fn on_complete(&mut self) {
        let Some(mut downstream) = self.downstream.take() else {
            return;
        };
        let hooks = &self.shared.hooks;
        let signal = match catch(H::PLACE, || hooks.completed()) {
            Ok(()) => {
                crate::protocol::deliver_complete(&mut downstream);
                SignalType::Complete
            }
            // Reactor's rule: a failing completion hook fails the stream.
            Err(panic) => {
                deliver_error(&mut downstream, panic);
                SignalType::Error
            }
        };
        drop(downstream);
        self.shared.finish(signal);
    }
}
