//! The publisher, subscriber and subscription behind [`Flux::subscribe_on`](crate::Flux::subscribe_on).

use std::fmt;

use crate::demand::{Demand, DrainGate, UNBOUNDED};
use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sched::{Runnable, Scheduler, Task, Worker};
use crate::sync::{AtomicBool, Ordering, StdArc};

/// Subscribes to the upstream, and requests from it, on a scheduler.
/// Built by [`Flux::subscribe_on`](crate::Flux::subscribe_on).
pub struct SubscribeOn<P, Sc> {
    upstream: StdArc<P>,
    scheduler: Sc,
}

impl<P, Sc> SubscribeOn<P, Sc> {
    pub(crate) fn new(upstream: P, scheduler: Sc) -> Self {
        SubscribeOn {
            upstream: StdArc::new(upstream),
            scheduler,
        }
    }
}

impl<P, Sc: Clone> Clone for SubscribeOn<P, Sc> {
    fn clone(&self) -> Self {
        SubscribeOn {
            upstream: self.upstream.clone(),
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, Sc> fmt::Debug for SubscribeOn<P, Sc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeOn")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<P, Sc> Publisher for SubscribeOn<P, Sc>
where
    P: Publisher + Send + Sync + 'static,
    Sc: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let worker = self.scheduler.worker();
        let upstream = self.upstream.clone();
        let requests_on = worker.clone();
        worker.schedule(move || {
            upstream.subscribe(SubscribeOnSubscriber {
                downstream: subscriber,
                worker: Some(requests_on),
            })
        });
    }
}

/// Passes every signal straight down (1:1), wrapping the subscription so requests hop threads.
struct SubscribeOnSubscriber<S> {
    downstream: S,
    /// Handed to the subscription in `on_subscribe`.
    worker: Option<Worker>,
}

impl<T, S> Subscriber<T> for SubscribeOnSubscriber<S>
where
    S: Subscriber<T>,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(worker) = self.worker.take() else {
            // Rule 2.05: already subscribed.
            return subscription.cancel();
        };
        self.downstream
            .on_subscribe(StdArc::new(SubscribeOnSubscription {
                forwarder: StdArc::new(Forwarder {
                    upstream: subscription,
                    worker,
                    pending: Demand::new(),
                    invalid: AtomicBool::new(false),
                    cancelled: AtomicBool::new(false),
                    unbounded_sent: AtomicBool::new(false),
                    gate: DrainGate::new(),
                }),
            }))
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.downstream.on_next(item)
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.downstream.try_on_next(item)
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        self.downstream.on_next_iter(items)
    }

    #[inline]
    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    #[inline]
    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}

/// The downstream's handle: `request` is forwarded on the worker, `cancel` at once.
struct SubscribeOnSubscription {
    forwarder: StdArc<Forwarder>,
}

impl Subscription for SubscribeOnSubscription {
    fn request(&self, n: u64) {
        let forwarder = &self.forwarder;
        if forwarder.cancelled.load(Ordering::Relaxed) {
            return;
        }
        if n != 0 && forwarder.unbounded_sent.load(Ordering::Relaxed) {
            // The upstream already owes us everything: nothing to add, no task to schedule.
            return;
        }
        if n == 0 {
            forwarder.invalid.store(true, Ordering::Release);
        } else {
            forwarder.pending.add(n);
        }
        // Requests that pile up while a forwarding task is queued ride along with it: one task
        // per batch of requests, and no allocation (the forwarder is the task).
        if forwarder.gate.enter() {
            forwarder
                .worker
                .schedule_task(Task::from_runnable(forwarder.clone()));
        }
    }

    fn cancel(&self) {
        // Directly, not through the worker: a cancel must not wait behind the work it stops.
        if !self.forwarder.cancelled.swap(true, Ordering::AcqRel) {
            self.forwarder.upstream.cancel();
        }
    }
}

/// Forwards accumulated requests to the upstream, on the worker.
struct Forwarder {
    upstream: SharedSubscription,
    worker: Worker,
    /// Requested and not yet forwarded; taken (AcqRel) by the forwarding task.
    pending: Demand,
    /// `request(0)` was called; forwarded as such so the upstream signals rule 3.9.
    /// Release by `request`, swapped (AcqRel) by the forwarding task.
    invalid: AtomicBool,
    /// Set by `cancel`; later requests are dropped (rule 3.6). Relaxed reads: a late request
    /// after a cancel is a no-op upstream anyway.
    cancelled: AtomicBool,
    /// `request(u64::MAX)` went upstream: from then on `pending` stays unbounded (it is sticky) and
    /// must not be forwarded again. Written by the forwarding task (the gate owner) alone; read
    /// Relaxed by `request` as a shortcut (a stale `false` costs one task that forwards nothing).
    unbounded_sent: AtomicBool,
    /// Whoever moves it from 0 schedules the forwarding task; it loops until it saw every request.
    gate: DrainGate,
}

impl Runnable for Forwarder {
    fn run(self: StdArc<Self>) {
        self.gate.run_owned(|| {
            if !self.cancelled.load(Ordering::Relaxed) {
                if self.invalid.swap(false, Ordering::AcqRel) {
                    self.upstream.request(0);
                }
                let n = self.pending.take();
                if n == UNBOUNDED {
                    // `take` leaves unbounded demand in place: forward it once only.
                    if !self.unbounded_sent.load(Ordering::Relaxed) {
                        self.unbounded_sent.store(true, Ordering::Relaxed);
                        self.upstream.request(n);
                    }
                } else if n > 0 {
                    self.upstream.request(n);
                }
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Mutex;

    /// Records every request it receives.
    #[derive(Default)]
    struct Requests(Mutex<Vec<u64>>);

    impl Subscription for Requests {
        fn request(&self, n: u64) {
            self.0.lock().push(n);
        }
        fn cancel(&self) {}
    }

    /// A publisher that only hands out its recording subscription.
    struct Recording(StdArc<Requests>);

    impl Publisher for Recording {
        type Item = u32;
        fn subscribe<S: Subscriber<u32> + 'static>(&self, mut subscriber: S) {
            subscriber.on_subscribe(self.0.clone());
        }
    }

    /// Captures the downstream's subscription.
    struct Capture(StdArc<Mutex<Option<SharedSubscription>>>);

    impl Subscriber<u32> for Capture {
        fn on_subscribe(&mut self, subscription: SharedSubscription) {
            *self.0.lock() = Some(subscription);
        }
        fn on_next(&mut self, _: u32) {}
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {}
    }

    #[test]
    fn unbounded_demand_is_forwarded_once() {
        let requests = StdArc::new(Requests::default());
        let slot = StdArc::new(Mutex::new(None));
        SubscribeOn::new(Recording(requests.clone()), crate::sched::immediate())
            .subscribe(Capture(slot.clone()));
        let subscription = slot.lock().clone().expect("subscribed inline");
        subscription.request(3);
        subscription.request(u64::MAX);
        for _ in 0..5 {
            subscription.request(1);
        }
        subscription.request(u64::MAX);
        assert_eq!(*requests.0.lock(), vec![3, u64::MAX]);
        // request(0) is still forwarded (rule 3.9 is the upstream's to signal).
        subscription.request(0);
        assert_eq!(*requests.0.lock(), vec![3, u64::MAX, 0]);
    }
}
