//! The publisher behind [`Flux::timeout_with`](crate::Flux::timeout_with): the timer of
//! [`timeout`](super::Timeout), and on its error the resuming machinery of
//! [`on_error_resume`](super::on_error_resume) with a fixed fallback.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::ops::concat::Either;
use crate::ops::on_error_resume::{Recover, ResumeSubscriber};
use crate::ops::timed::{SharedScheduler, Timed};
use crate::ops::Timeout;
use crate::protocol::{reject, Publisher, Subscriber};
use crate::sync::{Mutex, StdArc};

/// Switches to a fallback publisher if no item comes within a limit. Built by
/// [`Flux::timeout_with`](crate::Flux::timeout_with).
pub struct TimeoutWith<P, Q> {
    timeout: Timeout<P>,
    fallback: StdArc<Q>,
}

impl<P: Clone, Q> Clone for TimeoutWith<P, Q> {
    fn clone(&self) -> Self {
        TimeoutWith {
            timeout: self.timeout.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<P: std::fmt::Debug, Q> std::fmt::Debug for TimeoutWith<P, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutWith")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<P, Q> TimeoutWith<P, Q> {
    pub(crate) fn new(upstream: P, limit: Duration, fallback: Q) -> Self {
        TimeoutWith {
            timeout: Timeout::new(upstream, limit),
            fallback: StdArc::new(fallback),
        }
    }
}

impl<P, Q> Timed for TimeoutWith<P, Q> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.timeout.set_scheduler(scheduler);
    }
}

/// A publisher that fails with a given error: how a non-timeout error goes on unchanged.
pub(crate) struct Rethrow<T> {
    error: Mutex<Option<Error>>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> Publisher for Rethrow<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, mut subscriber: S) {
        let error = self
            .error
            .lock()
            .take()
            .unwrap_or_else(|| Error::msg("timeout_with: the error was already delivered"));
        reject(&mut subscriber, error)
    }
}

struct OnTimeout<Q>(StdArc<Q>);

impl<Q, T> Recover<Either<StdArc<Q>, Rethrow<T>>> for OnTimeout<Q>
where
    Q: Publisher<Item = T> + Send + Sync + 'static,
    T: 'static,
{
    const PLACE: &'static str = "timeout_with";
    fn recover(&self, error: Error) -> Either<StdArc<Q>, Rethrow<T>> {
        if error.kind() == ErrorKind::Timeout {
            Either::Left(self.0.clone())
        } else {
            Either::Right(Rethrow {
                error: Mutex::new(Some(error)),
                _item: std::marker::PhantomData,
            })
        }
    }
}

impl<P, Q> Publisher for TimeoutWith<P, Q>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.timeout.subscribe(ResumeSubscriber::new(
            subscriber,
            OnTimeout(self.fallback.clone()),
        ))
    }
}
