//! The publisher and subscriber behind [`Flux::switch_if_empty`](crate::Flux::switch_if_empty),
//! and the switching machinery [`Flux::default_if_empty`](crate::Flux::default_if_empty) shares:
//! the downstream holds one [`Arbiter`]; if the upstream completes without an item, the alternative
//! is subscribed and asked for the whole outstanding demand.

use crate::error::{report_undeliverable, Error};
use crate::ops::arbiter::Arbiter;
use crate::ops::on_error_resume::FallbackSubscriber;
use crate::protocol::Subscription;
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sync::StdArc;

/// Continues with another publisher if the upstream completes empty. Built by
/// [`Flux::switch_if_empty`](crate::Flux::switch_if_empty).
#[derive(Debug)]
pub struct SwitchIfEmpty<P, Q> {
    upstream: P,
    alternative: StdArc<Q>,
}

impl<P: Clone, Q> Clone for SwitchIfEmpty<P, Q> {
    fn clone(&self) -> Self {
        SwitchIfEmpty {
            upstream: self.upstream.clone(),
            alternative: self.alternative.clone(),
        }
    }
}

impl<P, Q> SwitchIfEmpty<P, Q> {
    pub(crate) fn new(upstream: P, alternative: Q) -> Self {
        SwitchIfEmpty {
            upstream,
            alternative: StdArc::new(alternative),
        }
    }
}

/// What an empty upstream switches to: subscribes `subscriber` to it.
pub(crate) trait Alternative<T>: Send + 'static {
    fn subscribe_to<S: Subscriber<T> + 'static>(&self, subscriber: S);
}

impl<Q: Publisher + Send + Sync + 'static> Alternative<Q::Item> for StdArc<Q> {
    fn subscribe_to<S: Subscriber<Q::Item> + 'static>(&self, subscriber: S) {
        self.subscribe(subscriber)
    }
}

impl<P, Q> Publisher for SwitchIfEmpty<P, Q>
where
    P: Publisher,
    P::Item: 'static,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream
            .subscribe(EmptySwitch::new(subscriber, self.alternative.clone()))
    }
}

/// The upstream-side subscriber: passes items through; on an empty completion hands the
/// downstream to the alternative.
pub(crate) struct EmptySwitch<S, A> {
    /// `None` once terminated or handed over.
    downstream: Option<S>,
    alternative: A,
    arbiter: Option<StdArc<Arbiter>>,
    /// Whether the upstream delivered anything (then there is no switch).
    seen: bool,
}

impl<S, A> EmptySwitch<S, A> {
    pub(crate) fn new(downstream: S, alternative: A) -> Self {
        EmptySwitch {
            downstream: Some(downstream),
            alternative,
            arbiter: None,
            seen: false,
        }
    }
}

impl<T, S, A> Subscriber<T> for EmptySwitch<S, A>
where
    T: 'static,
    S: Subscriber<T> + 'static,
    A: Alternative<T>,
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
        arbiter.switch_to(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = &mut self.downstream {
            self.seen = true;
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match &mut self.downstream {
            Some(downstream) => {
                self.seen = true;
                downstream.try_on_next(item)
            }
            None => false,
        }
    }

    fn on_error(&mut self, error: Error) {
        self.arbiter = None;
        match self.downstream.take() {
            Some(mut downstream) => deliver_error(&mut downstream, error),
            None => report_undeliverable(&error),
        }
    }

    fn on_complete(&mut self) {
        let Some(mut downstream) = self.downstream.take() else {
            return;
        };
        match self.arbiter.take() {
            // Nothing came and the downstream still listens: the alternative gets all the demand.
            Some(arbiter) if !self.seen && !arbiter.is_cancelled() => self
                .alternative
                .subscribe_to(FallbackSubscriber::new(downstream, arbiter)),
            Some(arbiter) if arbiter.is_cancelled() => {}
            _ => crate::protocol::deliver_complete(&mut downstream),
        }
    }
}
