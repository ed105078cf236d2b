//! The publisher behind [`Flux::on_error_return`](crate::Flux::on_error_return): the resuming
//! machinery of [`on_error_resume`](super::on_error_resume) with a one-item fallback.

use crate::error::Error;
use crate::ops::on_error_resume::{Recover, ResumeSubscriber};
use crate::ops::timed::Serial;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::protocol::{deliver_complete, Subscription};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// Replaces an upstream error with one last item, then completes. Built by
/// [`Flux::on_error_return`](crate::Flux::on_error_return).
#[derive(Debug)]
pub struct OnErrorReturn<P, F> {
    upstream: P,
    f: StdArc<F>,
}

impl<P: Clone, F> Clone for OnErrorReturn<P, F> {
    fn clone(&self) -> Self {
        OnErrorReturn {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P, F> OnErrorReturn<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        OnErrorReturn {
            upstream,
            f: StdArc::new(f),
        }
    }
}

struct ReturnWith<F>(StdArc<F>);

impl<T, F> Recover<OneItem<T>> for ReturnWith<F>
where
    T: Send + 'static,
    F: Fn(Error) -> T + Send + Sync + 'static,
{
    const PLACE: &'static str = "on_error_return's function";
    fn recover(&self, error: Error) -> OneItem<T> {
        OneItem::new((self.0)(error))
    }
}

impl<P, F> Publisher for OnErrorReturn<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(Error) -> P::Item + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(ResumeSubscriber::new(
            subscriber,
            ReturnWith(self.f.clone()),
        ))
    }
}

/// A one-shot publisher of one item (the recovered one, or `default_if_empty`'s): it waits for a
/// request, delivers, completes. Subscribed once.
pub(crate) struct OneItem<T> {
    item: Mutex<Option<T>>,
}

impl<T> OneItem<T> {
    pub(crate) fn new(item: T) -> Self {
        OneItem {
            item: Mutex::new(Some(item)),
        }
    }
}

impl<T: Send + 'static> Publisher for OneItem<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let shared = StdArc::new(OneShot {
            serial: Serial::new(subscriber),
            item: Mutex::new(self.item.lock().take()),
            requested: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        let handle: SharedSubscription = shared.clone();
        shared
            .serial
            .start(handle, || shared.cancel_flag(), |slot| shared.pass(slot));
    }
}

struct OneShot<T, S> {
    serial: Serial<S>,
    item: Mutex<Option<T>>,
    /// Flags set by the subscription (Release) and read by the drain owner (Acquire).
    requested: AtomicBool,
    cancelled: AtomicBool,
    invalid: AtomicBool,
}

impl<T, S: Subscriber<T>> OneShot<T, S> {
    fn cancel_flag(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    fn pass(&self, slot: &mut Option<S>) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.cancelled.load(Ordering::Acquire) {
            drop(self.item.lock().take());
            *slot = None;
            return;
        }
        if self.invalid.load(Ordering::Acquire) {
            drop(self.item.lock().take());
            let mut downstream = slot.take().expect("checked above");
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        if !self.requested.load(Ordering::Acquire) {
            return;
        }
        let item = self.item.lock().take();
        if let Some(item) = item {
            if let Err(panic) = catch("on_error_return's downstream", || downstream.on_next(item)) {
                let mut downstream = slot.take().expect("checked above");
                return deliver_error(&mut downstream, panic);
            }
        }
        if let Some(mut downstream) = slot.take() {
            if !self.cancelled.load(Ordering::Acquire) {
                deliver_complete(&mut downstream);
            }
        }
    }
}

impl<T: Send, S: Subscriber<T>> Subscription for OneShot<T, S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.requested.store(true, Ordering::Release);
        }
        self.serial.drain(|slot| self.pass(slot));
    }

    fn cancel(&self) {
        self.cancel_flag();
        self.serial.drain(|slot| self.pass(slot));
    }
}
