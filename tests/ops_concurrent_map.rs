//! `concurrent_map` / `concurrent_map_ordered`: calls under a shared `Limiter`, demand following
//! the limit, on virtual time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow::resilience::limit::{Aimd, Fixed, Limiter};
use backflow::sched::{Scheduler, VirtualTime};
use backflow::{DropReason, ErrorKind};

/// A call that answers `value` `delay` after it is asked, on `clock`, then completes.
struct Delayed<T> {
    clock: VirtualTime,
    delay: Duration,
    value: Mutex<Option<T>>,
}

fn delayed<T: Send + 'static>(clock: &VirtualTime, delay: Duration, value: T) -> Delayed<T> {
    Delayed {
        clock: clock.clone(),
        delay,
        value: Mutex::new(Some(value)),
    }
}

/// The answer and whom to give it to, until the call answers or is cancelled.
type Pending<T> = Mutex<Option<(T, Box<dyn Subscriber<T>>)>>;

struct DelayedSub<T> {
    state: Pending<T>,
    clock: VirtualTime,
    delay: Duration,
}

struct DelayedHandle<T>(Arc<DelayedSub<T>>);

impl<T: Send + 'static> Subscription for DelayedHandle<T> {
    fn request(&self, _n: u64) {
        let me = self.0.clone();
        self.0.clock.schedule_after(self.0.delay, move || {
            if let Some((value, mut s)) = me.state.lock().unwrap().take() {
                s.on_next(value);
                s.on_complete();
            }
        });
    }
    fn cancel(&self) {
        self.0.state.lock().unwrap().take();
    }
}

impl<T: Send + 'static> Publisher for Delayed<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        let value = self.value.lock().unwrap().take().expect("subscribed once");
        let mut boxed: Box<dyn Subscriber<T>> = Box::new(subscriber);
        let sub = Arc::new(DelayedSub {
            state: Mutex::new(None),
            clock: self.clock.clone(),
            delay: self.delay,
        });
        let handle: SharedSubscription = Arc::new(DelayedHandle(sub.clone()));
        boxed.on_subscribe(handle);
        *sub.state.lock().unwrap() = Some((value, boxed));
    }
}

/// An upstream that records every request it gets.
fn recorded(n: u64) -> (impl Publisher<Item = u64> + Clone, Arc<Mutex<Vec<u64>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (
        backflow::range(0..n).do_on_request_for_test(move |k| l.lock().unwrap().push(k)),
        log,
    )
}

trait RequestLog: Publisher + Sized {
    fn do_on_request_for_test(self, f: impl Fn(u64) + Send + Sync + 'static) -> OnRequest<Self>;
}
impl<P: Publisher> RequestLog for P {
    fn do_on_request_for_test(self, f: impl Fn(u64) + Send + Sync + 'static) -> OnRequest<Self> {
        OnRequest(self, Arc::new(f))
    }
}
#[derive(Clone)]
struct OnRequest<P>(P, Arc<dyn Fn(u64) + Send + Sync>);
struct OnRequestSub<S>(S, Arc<dyn Fn(u64) + Send + Sync>);
struct LoggedSubscription(SharedSubscription, Arc<dyn Fn(u64) + Send + Sync>);
impl Subscription for LoggedSubscription {
    fn request(&self, n: u64) {
        (self.1)(n);
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}
impl<P: Publisher> Publisher for OnRequest<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, s: S) {
        self.0.subscribe(OnRequestSub(s, self.1.clone()))
    }
}
impl<T, S: Subscriber<T>> Subscriber<T> for OnRequestSub<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.0
            .on_subscribe(Arc::new(LoggedSubscription(s, self.1.clone())))
    }
    fn on_next(&mut self, x: T) {
        self.0.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.0.on_error(e)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

fn ok<T>(x: T) -> Result<T, String> {
    Ok(x)
}

#[test]
fn smoke_unordered_and_ordered() {
    let limiter = Limiter::new(Fixed::new(4));
    let mut out: Vec<u64> = backflow::range(0..1000u64)
        .concurrent_map(limiter.clone(), |x| backflow::just(ok(x)))
        .map(Result::unwrap)
        .collect()
        .unwrap();
    out.sort();
    assert_eq!(out, (0..1000).collect::<Vec<_>>());
    let stats = limiter.stats();
    assert_eq!(
        (stats.admitted, stats.succeeded, stats.inflight),
        (1000, 1000, 0)
    );
}

#[test]
fn demand_follows_the_limit_and_results_complete_out_of_order() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Fixed::new(3), clock.clone());
    let (upstream, requests) = recorded(6);
    let c = clock.clone();
    // Later items answer sooner: 60, 50, 40, ... ms.
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    Flux::new(upstream)
        .concurrent_map(limiter.clone(), move |x| {
            delayed(&c, Duration::from_millis(60 - 10 * x), ok(x))
        })
        .subscribe(sub);
    assert_eq!(
        *requests.lock().unwrap(),
        [3],
        "asks for the limit up front"
    );
    assert_eq!(limiter.inflight(), 3);
    clock.advance_by(Duration::from_millis(40)); // item 2 (40 ms) answers
    assert_eq!(probe.values(), [Ok(2)]);
    assert_eq!(
        *requests.lock().unwrap(),
        [3, 1],
        "one slot freed, one more item"
    );
    clock.advance_by(Duration::from_secs(1));
    assert_eq!(probe.values().len(), 6);
    assert!(probe.is_complete());
    let mut order: Vec<u64> = probe.values().into_iter().map(Result::unwrap).collect();
    assert_ne!(
        order,
        [0, 1, 2, 3, 4, 5],
        "completion order, not arrival order"
    );
    order.sort();
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    assert_eq!(limiter.inflight(), 0);
}

#[test]
fn ordered_keeps_arrival_order() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Fixed::new(4), clock.clone());
    let c = clock.clone();
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..8u64)
        .concurrent_map_ordered(limiter, move |x| {
            delayed(&c, Duration::from_millis(80 - 10 * x), ok(x))
        })
        .subscribe(sub);
    clock.advance_by(Duration::from_secs(1));
    assert!(probe.is_complete());
    assert_eq!(probe.values(), (0..8).map(ok).collect::<Vec<_>>());
}

#[test]
fn slow_downstream_holds_at_most_limit_results() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Fixed::new(5), clock.clone());
    let (upstream, requests) = recorded(1_000);
    let c = clock.clone();
    let (sub, probe) = TestSubscriber::new(0);
    Flux::new(upstream)
        .concurrent_map(limiter.clone(), move |x| {
            delayed(&c, Duration::from_millis(1), ok(x))
        })
        .subscribe(sub);
    clock.advance_by(Duration::from_secs(1));
    // Five calls answered; their results wait for demand and keep their slots.
    assert_eq!(probe.values().len(), 0);
    assert_eq!(requests.lock().unwrap().iter().sum::<u64>(), 5);
    probe.request(2);
    clock.advance_by(Duration::from_secs(1));
    assert_eq!(probe.values().len(), 2);
    assert_eq!(requests.lock().unwrap().iter().sum::<u64>(), 7);
    probe.request(u64::MAX);
    clock.advance_by(Duration::from_secs(10));
    assert!(probe.is_complete());
    assert_eq!(probe.values().len(), 1_000);
}

#[test]
fn err_items_are_drops_for_the_limit_not_for_the_stream() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Aimd::new(10).min_limit(2), clock.clone());
    let c = clock.clone();
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..20u64)
        .concurrent_map(limiter.clone(), move |x| {
            let r = if x % 2 == 0 {
                Ok(x)
            } else {
                Err(format!("overloaded {x}"))
            };
            delayed(&c, Duration::from_millis(5), r)
        })
        .subscribe(sub);
    clock.advance_by(Duration::from_secs(1));
    assert!(probe.is_complete());
    assert_eq!(probe.values().len(), 20);
    let stats = limiter.stats();
    assert_eq!((stats.succeeded, stats.dropped), (10, 10));
    assert!(
        limiter.limit() < 10,
        "drops backed the limit off: {}",
        limiter.limit()
    );
}

#[test]
fn a_failing_call_ends_the_stream_after_held_results() {
    let limiter = Limiter::new(Fixed::new(2));
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..10u64)
        .concurrent_map(limiter.clone(), |x| {
            if x == 3 {
                backflow::error(Error::msg("call failed"))
                    .map(ok::<u64>)
                    .boxed()
            } else {
                backflow::just(ok(x)).boxed()
            }
        })
        .subscribe(sub);
    let e = probe.await_error(Duration::from_secs(5)).unwrap();
    assert_eq!(e.to_string(), Error::msg("call failed").to_string());
    assert_eq!(probe.values(), [Ok(0), Ok(1), Ok(2)]);
    assert_eq!(limiter.inflight(), 0);
    assert_eq!(limiter.stats().dropped, 1);
}

#[test]
fn a_panicking_mapper_is_an_error_and_cancels_upstream() {
    let limiter = Limiter::new(Fixed::new(2));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    let c = cancelled.clone();
    Flux::new(backflow::range(0..10u64).do_on_cancel_for_test(move || {
        c.fetch_add(1, Ordering::SeqCst);
    }))
    .concurrent_map(limiter.clone(), |x| {
        assert!(x != 4, "boom");
        backflow::just(ok(x))
    })
    .subscribe(sub);
    let e = probe.await_error(Duration::from_secs(5)).unwrap();
    assert_eq!(e.kind(), ErrorKind::Panicked);
    assert_eq!(cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(limiter.inflight(), 0);
}

#[test]
fn cancel_drops_held_results_through_on_drop() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Fixed::new(3), clock.clone());
    let dropped = Arc::new(AtomicU64::new(0));
    let d = dropped.clone();
    let c = clock.clone();
    let (sub, probe) = TestSubscriber::new(0);
    backflow::range(0..100u64)
        .concurrent_map(limiter.clone(), move |x| {
            delayed(&c, Duration::from_millis(1), ok(x))
        })
        .on_drop(move |_, reason| {
            assert_eq!(reason, DropReason::Cancelled);
            d.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe(sub);
    clock.advance_by(Duration::from_millis(10));
    probe.cancel();
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    assert_eq!(limiter.inflight(), 0);
    clock.advance_by(Duration::from_secs(1));
    assert_eq!(probe.values().len(), 0);
}

#[test]
fn two_streams_share_one_limit() {
    let clock = VirtualTime::new();
    let limiter = Limiter::with_clock(Fixed::new(4), clock.clone());
    let peak = Arc::new(AtomicUsize::new(0));
    let mut probes = Vec::new();
    for _ in 0..2 {
        let c = clock.clone();
        let l = limiter.clone();
        let p = peak.clone();
        let (sub, probe) = TestSubscriber::new(u64::MAX);
        backflow::range(0..50u64)
            .concurrent_map(limiter.clone(), move |x| {
                p.fetch_max(l.inflight(), Ordering::SeqCst);
                delayed(&c, Duration::from_millis(3), ok(x))
            })
            .subscribe(sub);
        probes.push(probe);
    }
    clock.advance_by(Duration::from_secs(10));
    for p in &probes {
        assert!(p.is_complete());
        assert_eq!(p.values().len(), 50);
    }
    // One limit for both: at most 4 in flight, plus the one call a stream with nothing in flight
    // may always start (so neither starves while the other holds every permit).
    assert!(
        peak.load(Ordering::SeqCst) <= 4 + 1,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(limiter.inflight(), 0);
}

#[test]
fn across_threads_on_a_pool() {
    let limiter = Limiter::new(Fixed::new(8));
    let pool = backflow::sched::pool(2);
    let total = backflow::range(0..2_000u64)
        .concurrent_map(limiter.clone(), move |x| {
            backflow::just(ok(x)).subscribe_on(pool.clone())
        })
        .fold(0u64, |acc, r| acc + r.unwrap())
        .unwrap();
    assert_eq!(total, (0..2_000u64).sum());
    assert_eq!(limiter.inflight(), 0);
}

trait CancelLog: Publisher + Sized {
    fn do_on_cancel_for_test(self, f: impl Fn() + Send + Sync + 'static) -> OnCancel<Self>;
}
impl<P: Publisher> CancelLog for P {
    fn do_on_cancel_for_test(self, f: impl Fn() + Send + Sync + 'static) -> OnCancel<Self> {
        OnCancel(self, Arc::new(f))
    }
}
struct OnCancel<P>(P, Arc<dyn Fn() + Send + Sync>);
struct OnCancelSub<S>(S, Arc<dyn Fn() + Send + Sync>);
struct CancelSubscription(SharedSubscription, Arc<dyn Fn() + Send + Sync>);
impl Subscription for CancelSubscription {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        (self.1)();
        self.0.cancel()
    }
}
impl<P: Publisher> Publisher for OnCancel<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, s: S) {
        self.0.subscribe(OnCancelSub(s, self.1.clone()))
    }
}
impl<T, S: Subscriber<T>> Subscriber<T> for OnCancelSub<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.0
            .on_subscribe(Arc::new(CancelSubscription(s, self.1.clone())))
    }
    fn on_next(&mut self, x: T) {
        self.0.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.0.on_error(e)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

#[test]
fn request_from_on_subscribe() {
    let (sub, probe) = TestSubscriber::new(1);
    backflow::range(0..3u64)
        .concurrent_map(Limiter::new(Fixed::new(4)), |x| backflow::just(ok(x)))
        .subscribe(sub);
    assert_eq!(probe.values().len(), 1, "{:?}", probe.values());
}

#[test]
fn request_after_the_upstream_completed() {
    // The upstream (a synchronous range) is done and gone before the first request: the
    // subscription must still reach the stage.
    request_after_upstream_completed_body()
}

fn request_after_upstream_completed_body() {
    let (sub, probe) = TestSubscriber::new(0);
    backflow::range(0..4u64)
        .concurrent_map(Limiter::new(Fixed::new(4)), |x| backflow::just(ok(x)))
        .subscribe(sub);
    probe.request(1);
    assert_eq!(probe.values().len(), 1, "{:?}", probe.values());
}
