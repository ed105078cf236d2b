//! [`from_stream`]: a `futures_core::Stream` as a publisher, polled only while there is demand.

use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use crate::demand::{Demand, DrainGate, UNBOUNDED};
use crate::error::{Error, ErrorKind};
use crate::protocol::Flux;
use crate::protocol::Publisher;
use crate::protocol::{catch, deliver_error, reject, SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc, UnsafeCell};

/// The publisher behind [`from_stream`]: one-shot, it hands its stream to the first subscriber.
pub struct FromStream<St> {
    stream: Mutex<Option<St>>,
}

impl<St> std::fmt::Debug for FromStream<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromStream")
    }
}

/// The publisher behind [`from_stream_with`]: cold, a fresh stream per subscriber.
pub struct FromStreamWith<F> {
    make: StdArc<F>,
}

impl<F> Clone for FromStreamWith<F> {
    fn clone(&self) -> Self {
        FromStreamWith {
            make: self.make.clone(),
        }
    }
}

impl<F> std::fmt::Debug for FromStreamWith<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromStreamWith")
    }
}

/// Bridges a `futures_core::Stream` into a [`Flux`], polling it only while there is demand.
///
/// A `Stream` is pull-based and a request is a pull: the stream is polled on the thread that
/// requests (or on the thread that wakes it after it returned `Pending`), never ahead of demand and
/// never concurrently. No executor is needed; any waker-driven stream works.
///
/// The stream can be consumed once: a second subscriber is rejected (`on_subscribe`, then an
/// [`ErrorKind::Closed`] error). Use [`from_stream_with`] for a cold source that makes a fresh
/// stream per subscriber.
///
/// # Demand
///
/// One `poll_next` per credit; `Pending` parks the stream until its waker fires.
///
/// ```
/// use backflow::prelude::*;
/// let stream = futures::stream::iter(vec![1, 2, 3]);
/// assert_eq!(backflow::from_stream(stream).map(|x| x * 2).collect().unwrap(), vec![2, 4, 6]);
/// ```
///
/// # Completion of an empty stream: a deliberate deviation
///
/// SEMANTICS 1.05 asks an empty source to complete without any request. A `Stream` cannot say it
/// is empty without being polled, and `poll_next` is user code (it may read a socket or take from a
/// channel), so this bridge never polls ahead of demand: an empty stream completes on the *first
/// request*, as [`generate`](crate::generate) does. The conformance verifier reports it as a
/// declared deviation (`deviates[Spec1_05Empty]` in `tests/tck_sources.rs`). Polling once at
/// subscribe would take an item before anyone asked for it, and hold it, which is the one thing a
/// pull bridge promises not to do.
///
/// ```
/// use backflow::prelude::*;
/// use backflow::TestSubscriber;
/// let (recorder, probe) = TestSubscriber::<u32>::new(0);
/// backflow::from_stream(futures::stream::iter(Vec::<u32>::new())).subscribe(recorder);
/// assert!(probe.terminal().is_none(), "not polled before a request");
/// probe.request(1);
/// assert!(probe.is_complete());
/// ```
pub fn from_stream<St>(stream: St) -> Flux<FromStream<St>>
where
    St: Stream + Send + 'static,
    St::Item: Send,
{
    Flux::new(FromStream {
        stream: Mutex::new(Some(stream)),
    })
}

/// A cold [`from_stream`]: each subscriber gets the stream `make()` returns.
///
/// ```
/// use backflow::prelude::*;
/// let flux = backflow::from_stream_with(|| futures::stream::iter(0..3));
/// assert_eq!(flux.clone().collect().unwrap(), vec![0, 1, 2]);
/// assert_eq!(flux.collect().unwrap(), vec![0, 1, 2]);
/// ```
pub fn from_stream_with<F, St>(make: F) -> Flux<FromStreamWith<F>>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream + Send + 'static,
    St::Item: Send,
{
    Flux::new(FromStreamWith {
        make: StdArc::new(make),
    })
}

impl<St> Publisher for FromStream<St>
where
    St: Stream + Send + 'static,
    St::Item: Send,
{
    type Item = St::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<St::Item> + 'static,
    {
        let taken = self.stream.lock().take();
        match taken {
            Some(stream) => subscribe_stream(stream, subscriber),
            None => reject(
                &mut subscriber,
                Error::new(
                    ErrorKind::Closed,
                    "from_stream: the stream was already consumed by an earlier subscriber",
                ),
            ),
        }
    }
}

impl<F, St> Publisher for FromStreamWith<F>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream + Send + 'static,
    St::Item: Send,
{
    type Item = St::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<St::Item> + 'static,
    {
        match catch("from_stream_with's factory", || (self.make)()) {
            Ok(stream) => subscribe_stream(stream, subscriber),
            Err(e) => reject(&mut subscriber, e),
        }
    }
}

struct Active<St, S> {
    stream: Pin<Box<St>>,
    subscriber: S,
}

struct StreamSubscription<St, S> {
    demand: Demand,
    gate: DrainGate,
    /// Set by `cancel` (Release); read by the drain owner (Acquire).
    cancelled: AtomicBool,
    /// Set by `request(0)` (Release, before `cancelled`); answered by the drain owner (Acquire)
    /// with the rule 3.9 error.
    invalid: AtomicBool,
    /// The waker handed to the stream: re-enters the drain. Holds a `Weak`, so the stream keeping
    /// its waker does not keep the subscription (and the subscriber) alive.
    waker: Waker,
    /// Only the owner of `gate` touches it; `None` after terminal or cancel (subscriber dropped).
    active: UnsafeCell<Option<Active<St, S>>>,
}

// SAFETY: `active` is accessed solely by the thread that owns `gate` (enter returned true, until
// leave returns 0), and the gate's AcqRel RMWs order those accesses; St and S are Send.
unsafe impl<St: Send, S: Send> Sync for StreamSubscription<St, S> {}
// SAFETY: every field is Send when St and S are.
unsafe impl<St: Send, S: Send> Send for StreamSubscription<St, S> {}

struct DrainWaker<St, S>(Weak<StreamSubscription<St, S>>);

impl<St, S> Wake for DrainWaker<St, S>
where
    St: Stream + Send + 'static,
    St::Item: Send,
    S: Subscriber<St::Item> + 'static,
{
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        if let Some(subscription) = self.0.upgrade() {
            subscription.drain();
        }
    }
}

fn subscribe_stream<St, S>(stream: St, subscriber: S)
where
    St: Stream + Send + 'static,
    St::Item: Send,
    S: Subscriber<St::Item> + 'static,
{
    let subscription =
        StdArc::new_cyclic(
            |weak: &Weak<StreamSubscription<St, S>>| StreamSubscription {
                demand: Demand::new(),
                gate: DrainGate::new(),
                cancelled: AtomicBool::new(false),
                invalid: AtomicBool::new(false),
                waker: Waker::from(StdArc::new(DrainWaker(weak.clone()))),
                active: UnsafeCell::new(Some(Active {
                    stream: Box::pin(stream),
                    subscriber,
                })),
            },
        );
    // Own the gate during on_subscribe: requests made inside it are recorded, served afterwards.
    let owned = subscription.gate.enter();
    debug_assert!(owned);
    let handle: SharedSubscription = subscription.clone();
    subscription.active.with_mut(|slot| {
        // SAFETY: we own the gate (entered above, not yet left).
        let slot = unsafe { &mut *slot };
        let active = slot.as_mut().expect("fresh subscription");
        if let Err(panic) = catch("on_subscribe", || active.subscriber.on_subscribe(handle)) {
            subscription.cancelled.store(true, Ordering::Release);
            let mut active = slot.take().expect("fresh subscription");
            deliver_error(&mut active.subscriber, panic);
        }
    });
    subscription.drain_owned();
}

enum Pass {
    Idle,
    Done(Result<(), Error>),
}

impl<St, S> StreamSubscription<St, S>
where
    St: Stream + Send + 'static,
    St::Item: Send,
    S: Subscriber<St::Item> + 'static,
{
    fn drain(&self) {
        if self.gate.enter() {
            self.drain_owned();
        }
    }

    fn drain_owned(&self) {
        self.gate.run_owned(|| {
            self.active.with_mut(|slot| {
                // SAFETY: the caller owns the gate, so no other thread touches `active`.
                self.pass(unsafe { &mut *slot })
            });
        });
    }

    fn pass(&self, slot: &mut Option<Active<St, S>>) {
        let Some(active) = slot.as_mut() else { return };
        // Before `cancelled`: `request(0)` raises both, and must end in on_error, not a silent stop.
        if self.invalid.load(Ordering::Acquire) {
            let mut active = slot.take().expect("checked above");
            deliver_error(&mut active.subscriber, Error::invalid_demand());
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            *slot = None;
            return;
        }
        let outcome = catch("a stream stage", || self.emit(active));
        let end = match outcome {
            Ok(Pass::Idle) => return,
            Ok(Pass::Done(end)) => end,
            Err(panic) => Err(panic),
        };
        let mut active = slot.take().expect("checked above");
        if self.cancelled.swap(true, Ordering::AcqRel) {
            // Cancelled while the last item was delivered: no terminal signal follows a cancel.
            if let Err(e) = end {
                crate::error::report_undeliverable(&e);
            }
            // Unless it was a `request(0)` (rule 3.9): that ends in on_error, not in silence.
            if self.invalid.load(Ordering::Acquire) {
                deliver_error(&mut active.subscriber, Error::invalid_demand());
            }
            return;
        }
        crate::protocol::deliver_terminal(&mut active.subscriber, end);
    }

    fn emit(&self, active: &mut Active<St, S>) -> Pass {
        let mut cx = Context::from_waker(&self.waker);
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        while requested != 0 {
            if self.cancelled.load(Ordering::Relaxed) {
                return Pass::Idle;
            }
            match active.stream.as_mut().poll_next(&mut cx) {
                Poll::Ready(Some(item)) => {
                    active.subscriber.on_next(item);
                    if requested != UNBOUNDED {
                        emitted += 1;
                        if emitted == requested {
                            requested = self.demand.produced(emitted);
                            emitted = 0;
                        }
                    }
                }
                Poll::Ready(None) => return Pass::Done(Ok(())),
                Poll::Pending => break,
            }
        }
        if emitted > 0 {
            self.demand.produced(emitted);
        }
        Pass::Idle
    }
}

impl<St, S> Subscription for StreamSubscription<St, S>
where
    St: Stream + Send + 'static,
    St::Item: Send,
    S: Subscriber<St::Item> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            // Rule 3.9, unless already cancelled (3.6: then a no-op). The emit loop watches only
            // `cancelled`, so raise it too: a running drain stops at the next item instead of
            // serving all of its demand first (forever, if demand is unbounded).
            if !self.cancelled.load(Ordering::Acquire) {
                self.invalid.store(true, Ordering::Release);
                self.cancelled.store(true, Ordering::Release);
            }
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.drain();
        }
    }
}
