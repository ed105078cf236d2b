//! [`using`]: a resource per subscription, cleaned up exactly once however the stream ends.

use crate::error::{report_undeliverable, Error};
use crate::protocol::Flux;
use crate::protocol::{catch, deliver_error, reject, Publisher, SharedSubscription};
use crate::protocol::{Subscriber, Subscription};
use crate::sync::{Mutex, StdArc};

/// The publisher behind [`using`].
#[derive(Debug)]
pub struct Using<M, F, C> {
    make: StdArc<M>,
    build: StdArc<F>,
    cleanup: StdArc<C>,
}

impl<M, F, C> Clone for Using<M, F, C> {
    fn clone(&self) -> Self {
        Using {
            make: self.make.clone(),
            build: self.build.clone(),
            cleanup: self.cleanup.clone(),
        }
    }
}

/// The resource of one subscription; whoever takes it first (terminal signal, cancel, or the last
/// reference going away) runs the cleanup, so it runs exactly once.
struct Guard<R, C: Fn(R)> {
    resource: Mutex<Option<R>>,
    cleanup: StdArc<C>,
}

impl<R, C: Fn(R)> Guard<R, C> {
    /// Cleans up now, unless done already; a panic in the cleanup comes back as the error.
    fn release(&self) -> Result<(), Error> {
        let resource = self.resource.lock().take();
        match resource {
            Some(resource) => catch("using's cleanup", || (self.cleanup)(resource)),
            None => Ok(()),
        }
    }
}

impl<R, C: Fn(R)> Drop for Guard<R, C> {
    fn drop(&mut self) {
        // A publisher that let go of its subscriber without ending still cleans up.
        if let Err(panic) = self.release() {
            report_undeliverable(&panic);
        }
    }
}

impl<M, F, C, R, Q> Publisher for Using<M, F, C>
where
    M: Fn() -> R + Send + Sync + 'static,
    F: Fn(&R) -> Q + Send + Sync + 'static,
    C: Fn(R) + Send + Sync + 'static,
    R: Send + 'static,
    Q: Publisher,
    Q::Item: 'static,
{
    type Item = Q::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<Q::Item> + 'static,
    {
        let resource = match catch("using's resource factory", || (self.make)()) {
            Ok(resource) => resource,
            Err(panic) => return reject(&mut subscriber, panic),
        };
        let publisher = match catch("using's publisher factory", || (self.build)(&resource)) {
            Ok(publisher) => publisher,
            Err(panic) => {
                if let Err(second) = catch("using's cleanup", || (self.cleanup)(resource)) {
                    report_undeliverable(&second);
                }
                return reject(&mut subscriber, panic);
            }
        };
        let guard = StdArc::new(Guard {
            resource: Mutex::new(Some(resource)),
            cleanup: self.cleanup.clone(),
        });
        publisher.subscribe(UsingSubscriber {
            downstream: Some(subscriber),
            guard,
            subscribed: false,
        })
    }
}

/// The downstream's subscription: a cancel cleans up once the upstream is cancelled.
struct UsingSubscription<R, C: Fn(R)> {
    upstream: SharedSubscription,
    guard: StdArc<Guard<R, C>>,
}

impl<R: Send, C: Fn(R) + Send + Sync> Subscription for UsingSubscription<R, C> {
    fn request(&self, n: u64) {
        self.upstream.request(n)
    }

    fn cancel(&self) {
        self.upstream.cancel();
        if let Err(panic) = self.guard.release() {
            report_undeliverable(&panic);
        }
    }
}

struct UsingSubscriber<S, R, C: Fn(R)> {
    /// `None` after the terminal signal.
    downstream: Option<S>,
    guard: StdArc<Guard<R, C>>,
    subscribed: bool,
}

impl<T, S, R, C> Subscriber<T> for UsingSubscriber<S, R, C>
where
    S: Subscriber<T>,
    R: Send + 'static,
    C: Fn(R) + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(downstream) = &mut self.downstream else {
            return subscription.cancel();
        };
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        downstream.on_subscribe(StdArc::new(UsingSubscription {
            upstream: subscription,
            guard: self.guard.clone(),
        }))
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = &mut self.downstream {
            downstream.on_next(item)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match &mut self.downstream {
            Some(downstream) => downstream.try_on_next(item),
            None => false,
        }
    }

    fn on_error(&mut self, error: Error) {
        // Eager, Reactor's default: the resource is released before the terminal signal goes on.
        let cleaned = self.guard.release();
        match self.downstream.take() {
            Some(mut downstream) => {
                if let Err(panic) = cleaned {
                    report_undeliverable(&panic);
                }
                deliver_error(&mut downstream, error)
            }
            None => report_undeliverable(&error),
        }
    }

    fn on_complete(&mut self) {
        let cleaned = self.guard.release();
        if let Some(mut downstream) = self.downstream.take() {
            match cleaned {
                Ok(()) => crate::protocol::deliver_complete(&mut downstream),
                // A failing cleanup fails the stream (Reactor, eager mode).
                Err(panic) => deliver_error(&mut downstream, panic),
            }
        }
    }
}

/// A source with a resource of its own per subscription: `make` opens it, `build` makes the
/// stream from it, and `cleanup` gets it back **exactly once** when the stream ends, whichever way:
/// completion, error, cancel, a panic while building, or the upstream letting go of the subscriber.
///
/// Reactor: `Flux.using(resourceSupplier, sourceSupplier, resourceCleanup)` (eager: the cleanup
/// runs before the terminal signal goes downstream); RxJava: `Flowable.using`; Akka:
/// `Source.unfoldResource`.
///
/// # Demand
///
/// That of the publisher `build` returns; `using` adds nothing.
///
/// # Drops
///
/// Nothing. A panic in `make` or `build` rejects the subscriber (`on_subscribe`, then `on_error`
/// with [`ErrorKind::Panicked`](crate::ErrorKind::Panicked); the resource, if made, is cleaned up
/// first). A panic in `cleanup` fails a completing stream instead; at an error or a cancel it goes
/// to the [error hook](crate::set_error_hook).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let closed = Arc::new(Mutex::new(Vec::new()));
/// let c = closed.clone();
/// let lines = backflow::using(
///     || String::from("connection-1"),
///     |conn| backflow::from_iter(vec![format!("{conn}: a"), format!("{conn}: b")]),
///     move |conn| c.lock().unwrap().push(conn),
/// );
/// assert_eq!(lines.collect().unwrap(), vec!["connection-1: a", "connection-1: b"]);
/// assert_eq!(*closed.lock().unwrap(), vec!["connection-1"]);
/// ```
#[doc(alias = "unfoldResource")]
pub fn using<M, F, C, R, Q>(make: M, build: F, cleanup: C) -> Flux<Using<M, F, C>>
where
    M: Fn() -> R + Send + Sync + 'static,
    F: Fn(&R) -> Q + Send + Sync + 'static,
    C: Fn(R) + Send + Sync + 'static,
    R: Send + 'static,
    Q: Publisher,
{
    Flux::new(Using {
        make: StdArc::new(make),
        build: StdArc::new(build),
        cleanup: StdArc::new(cleanup),
    })
}
