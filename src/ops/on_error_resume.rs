//! The publisher and subscribers behind [`Flux::on_error_resume`](crate::Flux::on_error_resume),
//! and the resuming machinery [`Flux::on_error_return`](crate::Flux::on_error_return) shares.
//!
//! The downstream holds one [`Arbiter`] for the whole run: it forwards demand to the upstream, and
//! when the upstream fails it asks the fallback for whatever the upstream still owed (Reactor's
//! `FluxOnErrorResume` on a `MultiSubscriptionSubscriber`). The downstream subscriber itself moves
//! from the upstream-side subscriber into the fallback-side one inside `on_error`, so the two never
//! touch it at once (rule 1.03 holds by construction).

use std::marker::PhantomData;

use crate::error::{report_undeliverable, Error, ErrorKind};
use crate::ops::arbiter::Arbiter;
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::sync::StdArc;

/// Switches to a fallback publisher when the upstream fails. Built by
/// [`Flux::on_error_resume`](crate::Flux::on_error_resume).
#[derive(Debug)]
pub struct OnErrorResume<P, F> {
    upstream: P,
    f: StdArc<F>,
}

impl<P: Clone, F> Clone for OnErrorResume<P, F> {
    fn clone(&self) -> Self {
        OnErrorResume {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P, F> OnErrorResume<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        OnErrorResume {
            upstream,
            f: StdArc::new(f),
        }
    }
}

/// Whether `error` is a protocol error that no recovery operator may swallow: the rule 3.9 answer
/// to the downstream's own `request(0)` is the downstream's bug, not the stream's failure.
pub(crate) fn passes_recovery(error: &Error) -> bool {
    error.kind() == ErrorKind::InvalidDemand
}

/// How a resuming stage turns the upstream's error into the publisher it continues with.
pub(crate) trait Recover<Q>: Send + Sync + 'static {
    /// Names the user code in a panic message.
    const PLACE: &'static str;
    /// The fallback for `error` (user code: may panic; the caller catches it).
    fn recover(&self, error: Error) -> Q;
}

/// [`Recover`] by a user closure that returns the fallback publisher.
pub(crate) struct ResumeWith<F>(pub(crate) StdArc<F>);

impl<F, Q> Recover<Q> for ResumeWith<F>
where
    F: Fn(Error) -> Q + Send + Sync + 'static,
{
    const PLACE: &'static str = "on_error_resume's fallback function";
    fn recover(&self, error: Error) -> Q {
        (self.0)(error)
    }
}

impl<P, F, Q> Publisher for OnErrorResume<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(Error) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = P::Item> + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(ResumeSubscriber::new(
            subscriber,
            ResumeWith(self.f.clone()),
        ))
    }
}

/// The upstream-side subscriber of a resuming stage: passes items through, counts them, and on
/// the upstream's error hands the downstream to the fallback.
pub(crate) struct ResumeSubscriber<S, R, Q> {
    /// `None` once terminated (or moved to the fallback): later signals are ignored (rule 1.07).
    downstream: Option<S>,
    recover: R,
    /// Created at the first `on_subscribe`; the downstream's one subscription for the whole run.
    arbiter: Option<StdArc<Arbiter>>,
    /// Items delivered from the upstream, reported to the arbiter at the switch so the fallback is
    /// asked only for what is still owed.
    produced: u64,
    _fallback: PhantomData<fn() -> Q>,
}

impl<S, R, Q> ResumeSubscriber<S, R, Q> {
    pub(crate) fn new(downstream: S, recover: R) -> Self {
        ResumeSubscriber {
            downstream: Some(downstream),
            recover,
            arbiter: None,
            produced: 0,
            _fallback: PhantomData,
        }
    }
}

impl<T, S, R, Q> Subscriber<T> for ResumeSubscriber<S, R, Q>
where
    T: 'static,
    S: Subscriber<T> + 'static,
    R: Recover<Q>,
    Q: Publisher<Item = T>,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let (Some(downstream), None) = (&mut self.downstream, &self.arbiter) else {
            // Rule 2.05 (already subscribed) or already terminated.
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
        // Demand the downstream asked for inside `on_subscribe` goes up now.
        arbiter.switch_to(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.try_on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let Some(downstream) = &mut self.downstream else {
            return false;
        };
        // The downstream's own panic must not reach the upstream, which would report it back as
        // an error that this stage would then recover from.
        match catch(DOWNSTREAM, || downstream.try_on_next(item)) {
            Ok(used) => {
                self.produced += used as u64;
                used
            }
            Err(panic) => {
                if let Some(arbiter) = &self.arbiter {
                    arbiter.cancel();
                }
                downstream_panicked(&mut self.downstream, panic);
                true
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        let Some(mut downstream) = self.downstream.take() else {
            return report_undeliverable(&error);
        };
        if passes_recovery(&error) {
            return deliver_error(&mut downstream, error);
        }
        let Some(arbiter) = self.arbiter.take() else {
            // An error before `on_subscribe` breaks rule 1.09; pass it on rather than resume.
            return deliver_error(&mut downstream, error);
        };
        if arbiter.is_cancelled() {
            // The downstream is gone: nobody wants the fallback (Reactor does not resume either).
            return;
        }
        let fallback = match catch(R::PLACE, || self.recover.recover(error)) {
            Ok(fallback) => fallback,
            // The upstream has ended already: there is nothing to cancel.
            Err(panic) => return deliver_error(&mut downstream, panic),
        };
        arbiter.produced(std::mem::take(&mut self.produced));
        fallback.subscribe(FallbackSubscriber::new(downstream, arbiter));
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            crate::protocol::deliver_complete(&mut downstream);
        }
        self.arbiter = None;
    }
}

/// The fallback-side subscriber: passes everything through; its subscription joins the arbiter,
/// which asks it for the demand the failed upstream still owed.
pub(crate) struct FallbackSubscriber<S> {
    downstream: Option<S>,
    arbiter: StdArc<Arbiter>,
    subscribed: bool,
}

impl<S> FallbackSubscriber<S> {
    /// Delivers to `downstream` what the next publisher sends; its subscription joins `arbiter`.
    pub(crate) fn new(downstream: S, arbiter: StdArc<Arbiter>) -> Self {
        FallbackSubscriber {
            downstream: Some(downstream),
            arbiter,
            subscribed: false,
        }
    }
}

/// Names the downstream of a resuming stage in panic messages.
const DOWNSTREAM: &str = "a recovering stage's downstream";

/// Ends the stream for a downstream that panicked: it gets the panic as `on_error` (rule 2.13)
/// and is released.
pub(crate) fn downstream_panicked<T, S: Subscriber<T>>(slot: &mut Option<S>, panic: Error) {
    if let Some(mut downstream) = slot.take() {
        deliver_error(&mut downstream, panic);
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for FallbackSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            return subscription.cancel();
        }
        self.arbiter.switch_to(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.try_on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let Some(downstream) = &mut self.downstream else {
            return false;
        };
        match catch(DOWNSTREAM, || downstream.try_on_next(item)) {
            Ok(used) => used,
            Err(panic) => {
                self.arbiter.cancel();
                downstream_panicked(&mut self.downstream, panic);
                true
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        match self.downstream.take() {
            Some(mut downstream) => deliver_error(&mut downstream, error),
            None => report_undeliverable(&error),
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}
