//! The publisher behind [`Flux::delay_subscription`](crate::Flux::delay_subscription).

use std::time::Duration;

use crate::ops::arbiter::Arbiter;
use crate::ops::on_error_resume::FallbackSubscriber;
use crate::ops::timed::{scheduler_or_default, SharedScheduler, Timed};
use crate::protocol::Subscription;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sched::{Scheduler, TaskHandle};
use crate::sync::{Mutex, StdArc};

/// Subscribes to the upstream only after a delay. Built by
/// [`Flux::delay_subscription`](crate::Flux::delay_subscription).
pub struct DelaySubscription<P> {
    upstream: StdArc<P>,
    by: Duration,
    scheduler: Option<SharedScheduler>,
}

impl<P> Clone for DelaySubscription<P> {
    fn clone(&self) -> Self {
        DelaySubscription {
            upstream: self.upstream.clone(),
            by: self.by,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for DelaySubscription<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelaySubscription")
            .field("upstream", &self.upstream)
            .field("by", &self.by)
            .finish_non_exhaustive()
    }
}

impl<P> DelaySubscription<P> {
    pub(crate) fn new(upstream: P, by: Duration) -> Self {
        DelaySubscription {
            upstream: StdArc::new(upstream),
            by,
            scheduler: None,
        }
    }
}

impl<P> Timed for DelaySubscription<P> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

/// The downstream's handle from the start: demand waits in the arbiter until the upstream is
/// subscribed; a cancel before then also cancels the pending subscription.
struct Pending {
    arbiter: StdArc<Arbiter>,
    task: Mutex<Option<TaskHandle>>,
}

impl Subscription for Pending {
    fn request(&self, n: u64) {
        self.arbiter.request(n)
    }

    fn cancel(&self) {
        self.arbiter.cancel();
        // Outside the lock: cancelling drops the task and the downstream it holds (rule 3.13).
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.cancel();
        }
    }
}

impl<P> Publisher for DelaySubscription<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let arbiter = StdArc::new(Arbiter::new());
        let pending = StdArc::new(Pending {
            arbiter: arbiter.clone(),
            task: Mutex::new(None),
        });
        let handle: SharedSubscription = pending.clone();
        if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(handle)) {
            return deliver_error(&mut subscriber, panic);
        }
        if arbiter.is_cancelled() {
            return;
        }
        let upstream = self.upstream.clone();
        let worker = scheduler_or_default(&self.scheduler).worker();
        let task = worker.schedule_after(self.by, move || {
            if !arbiter.is_cancelled() {
                upstream.subscribe(FallbackSubscriber::new(subscriber, arbiter));
            }
        });
        *pending.task.lock() = Some(task.clone());
        if pending.arbiter.is_cancelled() {
            // Cancelled while scheduling: make sure the task goes too.
            task.cancel();
        }
    }
}
