//! The publisher and subscriber behind [`Flux::on_error_map`](crate::Flux::on_error_map).

use crate::error::{report_undeliverable, Error};
use crate::ops::on_error_resume::{downstream_panicked, passes_recovery};
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};
use crate::sync::StdArc;

/// Transforms the upstream's error. Built by [`Flux::on_error_map`](crate::Flux::on_error_map).
#[derive(Debug)]
pub struct OnErrorMap<P, F> {
    upstream: P,
    f: StdArc<F>,
}

impl<P: Clone, F> Clone for OnErrorMap<P, F> {
    fn clone(&self) -> Self {
        OnErrorMap {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P, F> OnErrorMap<P, F> {
    pub(crate) fn new(upstream: P, f: F) -> Self {
        OnErrorMap {
            upstream,
            f: StdArc::new(f),
        }
    }
}

impl<P, F> Publisher for OnErrorMap<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(Error) -> Error + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(OnErrorMapSubscriber {
            downstream: Some(subscriber),
            upstream: None,
            f: self.f.clone(),
        })
    }
}

struct OnErrorMapSubscriber<S, F> {
    /// `None` after the terminal signal.
    downstream: Option<S>,
    upstream: Option<SharedSubscription>,
    f: StdArc<F>,
}

impl<T, S, F> Subscriber<T> for OnErrorMapSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(Error) -> Error + Send + Sync,
{
    #[inline]
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        match &mut self.downstream {
            // 1:1: demand passes through unchanged; the handle is kept to cancel upstream if the
            // downstream panics.
            Some(downstream) if self.upstream.is_none() => {
                self.upstream = Some(subscription.clone());
                downstream.on_subscribe(subscription)
            }
            _ => subscription.cancel(),
        }
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
        // The downstream's own panic must not come back from the upstream as an error that
        // this stage would recover from: it is caught here, upstream is cancelled.
        match catch("on_error_map's downstream", || downstream.try_on_next(item)) {
            Ok(used) => used,
            Err(panic) => {
                if let Some(upstream) = self.upstream.take() {
                    upstream.cancel();
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
        self.upstream = None;
        if passes_recovery(&error) {
            return deliver_error(&mut downstream, error);
        }
        let f = &self.f;
        // A panicking mapper still ends the stream with an error: the panic, not the original.
        let mapped = catch("on_error_map's function", || f(error)).unwrap_or_else(|panic| panic);
        deliver_error(&mut downstream, mapped);
    }

    fn on_complete(&mut self) {
        self.upstream = None;
        if let Some(mut downstream) = self.downstream.take() {
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}
