//! The publisher and subscriber behind
//! [`Flux::on_error_complete`](crate::Flux::on_error_complete).

use crate::error::{report_undeliverable, Error};
use crate::ops::on_error_resume::{downstream_panicked, passes_recovery};
use crate::protocol::{catch, deliver_error, Publisher, SharedSubscription, Subscriber};

/// Turns an upstream error into completion. Built by
/// [`Flux::on_error_complete`](crate::Flux::on_error_complete).
#[derive(Clone, Debug)]
pub struct OnErrorComplete<P> {
    upstream: P,
}

impl<P> OnErrorComplete<P> {
    pub(crate) fn new(upstream: P) -> Self {
        OnErrorComplete { upstream }
    }
}

impl<P> Publisher for OnErrorComplete<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(OnErrorCompleteSubscriber {
            downstream: Some(subscriber),
            upstream: None,
        })
    }
}

struct OnErrorCompleteSubscriber<S> {
    /// `None` after the terminal signal.
    downstream: Option<S>,
    upstream: Option<SharedSubscription>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for OnErrorCompleteSubscriber<S> {
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
        match catch("on_error_complete's downstream", || {
            downstream.try_on_next(item)
        }) {
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
        self.upstream = None;
        let Some(mut downstream) = self.downstream.take() else {
            return report_undeliverable(&error);
        };
        if passes_recovery(&error) {
            return deliver_error(&mut downstream, error);
        }
        // The error is the point of this operator: it is swallowed, as in Reactor.
        crate::protocol::deliver_complete(&mut downstream);
    }

    fn on_complete(&mut self) {
        self.upstream = None;
        if let Some(mut downstream) = self.downstream.take() {
            crate::protocol::deliver_complete(&mut downstream);
        }
    }
}
