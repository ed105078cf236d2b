//! The publishers behind [`Flux::circuit_breaker`](crate::Flux::circuit_breaker) (one call per
//! subscription, resilience4j-reactor's semantics) and
//! [`Flux::circuit_breaker_map`](crate::Flux::circuit_breaker_map) (one call per item).

use crate::error::Error;
use crate::protocol::{reject, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::resilience::breaker::{BreakerPermit, CallError, CircuitBreaker};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// Guards a subscription with a circuit breaker. Built by
/// [`Flux::circuit_breaker`](crate::Flux::circuit_breaker).
#[derive(Clone, Debug)]
pub struct CircuitBreakerStage<P> {
    upstream: P,
    breaker: CircuitBreaker,
}

impl<P> CircuitBreakerStage<P> {
    pub(crate) fn new(upstream: P, breaker: &CircuitBreaker) -> Self {
        CircuitBreakerStage {
            upstream,
            breaker: breaker.clone(),
        }
    }
}

impl<P> Publisher for CircuitBreakerStage<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        match self.breaker.try_acquire() {
            Err(refused) => reject(&mut subscriber, refused.to_error()),
            Ok(permit) => self.upstream.subscribe(BreakerSubscriber {
                downstream: subscriber,
                call: StdArc::new(Call {
                    permit: Mutex::new(Some(permit)),
                    emitted: AtomicBool::new(false),
                    upstream: Mutex::new(None),
                }),
            }),
        }
    }
}

/// The one call a subscription makes: its permit, taken by whichever ends it first.
struct Call {
    /// Cold path: taken once, by the terminal signal or by cancel.
    permit: Mutex<Option<BreakerPermit>>,
    /// Whether an item went through (a cancel after items counts as a success).
    emitted: AtomicBool,
    upstream: Mutex<Option<SharedSubscription>>,
}

impl Call {
    fn finish(&self, ok: Option<bool>) {
        let permit = self.permit.lock().take();
        if let Some(permit) = permit {
            match ok {
                Some(ok) => permit.record(ok),
                None => drop(permit),
            }
        }
    }
}

impl Subscription for Call {
    fn request(&self, n: u64) {
        let upstream = self.upstream.lock().clone();
        if let Some(upstream) = upstream {
            upstream.request(n);
        }
    }

    fn cancel(&self) {
        let upstream = self.upstream.lock().take();
        if let Some(upstream) = upstream {
            upstream.cancel();
        }
        // resilience4j-reactor: a cancel after items is a success; before any, the call is
        // released unrecorded.
        let emitted = self.emitted.load(Ordering::Acquire);
        self.finish(emitted.then_some(true));
    }
}

struct BreakerSubscriber<S> {
    downstream: S,
    call: StdArc<Call>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for BreakerSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self.call.upstream.lock() = Some(subscription);
        self.downstream.on_subscribe(self.call.clone());
    }

    fn on_next(&mut self, item: T) {
        if !self.call.emitted.load(Ordering::Relaxed) {
            self.call.emitted.store(true, Ordering::Release);
        }
        self.downstream.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        self.call.finish(Some(false));
        self.call.upstream.lock().take();
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.call.finish(Some(true));
        self.call.upstream.lock().take();
        self.downstream.on_complete();
    }
}

/// Calls `f` on each item through a circuit breaker. Built by
/// [`Flux::circuit_breaker_map`](crate::Flux::circuit_breaker_map).
pub struct CircuitBreakerMap<P, F> {
    upstream: P,
    breaker: CircuitBreaker,
    f: StdArc<F>,
}

impl<P: Clone, F> Clone for CircuitBreakerMap<P, F> {
    fn clone(&self) -> Self {
        CircuitBreakerMap {
            upstream: self.upstream.clone(),
            breaker: self.breaker.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: std::fmt::Debug, F> std::fmt::Debug for CircuitBreakerMap<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerMap")
            .field("upstream", &self.upstream)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<P, F> CircuitBreakerMap<P, F> {
    pub(crate) fn new(upstream: P, breaker: &CircuitBreaker, f: F) -> Self {
        CircuitBreakerMap {
            upstream,
            breaker: breaker.clone(),
            f: StdArc::new(f),
        }
    }
}

impl<P, F, U, E> Publisher for CircuitBreakerMap<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(P::Item) -> Result<U, E> + Send + Sync + 'static,
{
    type Item = Result<U, CallError<E, P::Item>>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + 'static,
    {
        self.upstream.subscribe(MapSubscriber {
            downstream: subscriber,
            breaker: self.breaker.clone(),
            f: self.f.clone(),
        })
    }
}

struct MapSubscriber<S, F> {
    downstream: S,
    breaker: CircuitBreaker,
    f: StdArc<F>,
}

impl<T, U, E, S, F> Subscriber<T> for MapSubscriber<S, F>
where
    S: Subscriber<Result<U, CallError<E, T>>>,
    F: Fn(T) -> Result<U, E> + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.downstream.on_subscribe(subscription)
    }

    fn on_next(&mut self, item: T) {
        let out = self.breaker.call_with(item, &*self.f);
        self.downstream.on_next(out)
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
