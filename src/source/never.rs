//! [`never`]: subscribes and then stays silent until cancelled.

use std::fmt;
use std::marker::PhantomData;

use crate::error::Error;
use crate::protocol::Flux;
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// The publisher behind [`never()`].
pub struct Never<T> {
    item: PhantomData<fn() -> T>,
}

impl<T> Clone for Never<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Never<T> {}

impl<T> fmt::Debug for Never<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Never")
    }
}

/// Holds the subscriber until `cancel` (or `request(0)`) releases it.
struct NeverSubscription<T, S> {
    /// Set by `cancel`; read under `subscriber`'s lock when `subscribe` parks the subscriber.
    cancelled: AtomicBool,
    /// Set by `request(0)`; read under `subscriber`'s lock like `cancelled`.
    invalid: AtomicBool,
    /// The parked subscriber. Empty while `on_subscribe` runs and after release. The lock is never
    /// held across a call into the subscriber.
    subscriber: Mutex<Option<S>>,
    item: PhantomData<fn() -> T>,
}

impl<T, S> NeverSubscription<T, S> {
    fn release(&self) -> Option<S> {
        self.subscriber.lock().take()
    }
}

impl<T, S> Subscription for NeverSubscription<T, S>
where
    S: Subscriber<T> + Send,
{
    fn request(&self, n: u64) {
        if n == 0 && !self.invalid.swap(true, Ordering::AcqRel) {
            if let Some(mut subscriber) = self.release() {
                deliver_error(&mut subscriber, Error::invalid_demand());
            }
        }
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            drop(self.release());
        }
    }
}

impl<T: 'static> Publisher for Never<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let mut subscriber = subscriber;
        let state = StdArc::new(NeverSubscription {
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            subscriber: Mutex::new(None),
            item: PhantomData::<fn() -> T>,
        });
        let shared: SharedSubscription = state.clone();
        // Called before the subscriber is parked, so a `cancel` or `request(0)` from inside
        // `on_subscribe` only sets its flag (and finds no subscriber to release yet).
        if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(shared)) {
            state.cancelled.store(true, Ordering::Release);
            deliver_error(&mut subscriber, panic);
            return;
        }
        let mut slot = state.subscriber.lock();
        if state.cancelled.load(Ordering::Acquire) {
            drop(slot);
            drop(subscriber);
        } else if state.invalid.load(Ordering::Acquire) {
            drop(slot);
            deliver_error(&mut subscriber, Error::invalid_demand());
        } else {
            *slot = Some(subscriber);
        }
    }
}

/// A source that never signals anything after `on_subscribe`: no item, no completion.
///
/// It holds the subscriber until `cancel`, which releases it (rule 3.13). `request(n)` is accepted and
/// ignored, except `request(0)`, which fails the stream (rule 3.9). Useful in tests and as the
/// neutral element of `merge`/`amb`. Reactor: `Flux.never()`; RxJava: `Flowable.never()`; Akka:
/// `Source.never`.
///
/// ```
/// use backflow::prelude::*;
/// use std::sync::{Arc, Mutex};
///
/// struct Hold(Arc<Mutex<Option<SharedSubscription>>>);
/// impl Subscriber<u8> for Hold {
///     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(10); *self.0.lock().unwrap() = Some(s); }
///     fn on_next(&mut self, _: u8) { unreachable!() }
///     fn on_error(&mut self, e: Error) { panic!("{e}") }
///     fn on_complete(&mut self) { unreachable!() }
/// }
/// let slot = Arc::new(Mutex::new(None));
/// backflow::never::<u8>().subscribe(Hold(slot.clone()));
/// slot.lock().unwrap().take().unwrap().cancel(); // releases the subscriber
/// assert_eq!(Arc::strong_count(&slot), 1);
/// ```
pub fn never<T>() -> Flux<Never<T>> {
    Flux::new(Never { item: PhantomData })
}
