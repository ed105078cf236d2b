//! The publisher and subscriber behind [`Flux::then`](crate::Flux::then): ignore the upstream's
//! items, then continue with another publisher once it completes.

use crate::demand::UNBOUNDED;
use crate::error::{report_undeliverable, Error};
use crate::ops::arbiter::Arbiter;
use crate::ops::on_error_resume::FallbackSubscriber;
use crate::protocol::Subscription;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sync::StdArc;

/// Runs the upstream to completion, discarding its items, then continues with another
/// publisher. Built by [`Flux::then`](crate::Flux::then).
#[derive(Debug)]
pub struct Then<P, Q> {
    upstream: P,
    next: StdArc<Q>,
}

impl<P: Clone, Q> Clone for Then<P, Q> {
    fn clone(&self) -> Self {
        Then {
            upstream: self.upstream.clone(),
            next: self.next.clone(),
        }
    }
}

impl<P, Q> Then<P, Q> {
    pub(crate) fn new(upstream: P, next: Q) -> Self {
        Then {
            upstream,
            next: StdArc::new(next),
        }
    }
}

impl<P, Q> Publisher for Then<P, Q>
where
    P: Publisher,
    P::Item: 'static,
    Q: Publisher + Send + Sync + 'static,
    Q::Item: 'static,
{
    type Item = Q::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Q::Item> + 'static,
    {
        self.upstream.subscribe(ThenSubscriber {
            downstream: Some(subscriber),
            next: self.next.clone(),
            arbiter: None,
        })
    }
}

/// The upstream as the arbiter sees it: downstream demand is not for its items, so only a cancel
/// (and a `request(0)`, which it answers with the rule 3.9 error) goes through.
struct CancelOnly(SharedSubscription);

impl Subscription for CancelOnly {
    fn request(&self, n: u64) {
        if n == 0 {
            self.0.request(0)
        }
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

struct ThenSubscriber<S, Q> {
    downstream: Option<S>,
    next: StdArc<Q>,
    arbiter: Option<StdArc<Arbiter>>,
}

impl<T, S, Q> Subscriber<T> for ThenSubscriber<S, Q>
where
    S: Subscriber<Q::Item> + 'static,
    Q: Publisher + Send + Sync + 'static,
    Q::Item: 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let (Some(downstream), None) = (&mut self.downstream, &self.arbiter) else {
            return subscription.cancel();
        };
        let arbiter = StdArc::new(Arbiter::new());
        self.arbiter = Some(arbiter.clone());
        let handle: SharedSubscription = arbiter.clone();
        if let Err(panic) = catch("on_subscribe", || downstream.on_subscribe(handle)) {
            subscription.cancel();
            arbiter.cancel();
            if let Some(mut downstream) = self.downstream.take() {
                deliver_error(&mut downstream, panic);
            }
            return;
        }
        arbiter.switch_to(StdArc::new(CancelOnly(subscription.clone())));
        if !arbiter.is_cancelled() {
            // Its items are discarded: ask for all of them (Reactor's `then`).
            subscription.request(UNBOUNDED);
        }
    }

    #[inline]
    fn on_next(&mut self, _item: T) {}

    fn on_error(&mut self, error: Error) {
        self.arbiter = None;
        match self.downstream.take() {
            Some(mut downstream) => deliver_error(&mut downstream, error),
            None => report_undeliverable(&error),
        }
    }

    fn on_complete(&mut self) {
        let (Some(downstream), Some(arbiter)) = (self.downstream.take(), self.arbiter.take())
        else {
            return;
        };
        if !arbiter.is_cancelled() {
            self.next
                .subscribe(FallbackSubscriber::new(downstream, arbiter));
        }
    }
}
