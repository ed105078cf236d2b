//! `flat_map`, `concat_map`, `switch_map`: outputs, the concurrency limit, outer and inner demand,
//! inners on other threads, errors, overflow, panics, cancel and release, and deep synchronous runs.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::Thread;

use backflow::metrics::DropReason;
use backflow::ops::ErrorMode;
use backflow::prelude::*;

// ---- probes ----

struct Log<T> {
    items: Vec<T>,
    completed: bool,
    error: Option<Error>,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log {
            items: Vec::new(),
            completed: false,
            error: None,
        }
    }
}

/// A downstream that only records; the test drives demand through the handle.
struct Manual<T> {
    log: Arc<Mutex<Log<T>>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: Arc<()>,
}

struct Probe<T> {
    log: Arc<Mutex<Log<T>>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

impl<T> Probe<T> {
    fn request(&self, n: u64) {
        let sub = self.sub.lock().unwrap().clone().expect("subscribed");
        sub.request(n);
    }
    fn cancel(&self) {
        let sub = self.sub.lock().unwrap().clone().expect("subscribed");
        sub.cancel();
    }
    fn items(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.log.lock().unwrap().items.clone()
    }
    fn completed(&self) -> bool {
        self.log.lock().unwrap().completed
    }
    fn error(&self) -> Option<Error> {
        self.log.lock().unwrap().error.clone()
    }
    fn released(&self) -> bool {
        self.alive.upgrade().is_none()
    }
}

fn manual<T>() -> (Manual<T>, Probe<T>) {
    let alive = Arc::new(());
    let probe = Probe {
        log: Default::default(),
        sub: Default::default(),
        alive: Arc::downgrade(&alive),
    };
    let m = Manual {
        log: probe.log.clone(),
        sub: probe.sub.clone(),
        _alive: alive,
    };
    (m, probe)
}

impl<T: Send> Subscriber<T> for Manual<T> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: T) {
        let mut log = self.log.lock().unwrap();
        assert!(!log.completed && log.error.is_none(), "item after terminal");
        log.items.push(x)
    }
    fn on_error(&mut self, e: Error) {
        let mut log = self.log.lock().unwrap();
        assert!(!log.completed && log.error.is_none(), "second terminal");
        log.error = Some(e)
    }
    fn on_complete(&mut self) {
        let mut log = self.log.lock().unwrap();
        assert!(!log.completed && log.error.is_none(), "second terminal");
        log.completed = true
    }
}

/// What a [`Spy`] saw of the subscriptions made through it.
#[derive(Default)]
struct SpyLog {
    requests: Mutex<Vec<u64>>,
    subscribed: AtomicUsize,
    /// Subscriptions neither terminated nor cancelled.
    live: AtomicUsize,
    max_live: AtomicUsize,
    /// Items requested and not yet delivered, over all subscriptions.
    outstanding: AtomicU64,
    max_outstanding: AtomicU64,
    cancelled: AtomicBool,
    delivered: AtomicU64,
}

impl SpyLog {
    fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Wraps a publisher and records requests, cancels, and how many subscriptions are live.
#[derive(Clone)]
struct Spy<P> {
    inner: P,
    log: Arc<SpyLog>,
}

fn spy<P>(inner: P, log: &Arc<SpyLog>) -> Flux<Spy<P>> {
    Flux::new(Spy {
        inner,
        log: log.clone(),
    })
}

struct SpySubscriber<S> {
    down: S,
    log: Arc<SpyLog>,
    ended: Arc<AtomicBool>,
}

struct SpySubscription {
    up: SharedSubscription,
    log: Arc<SpyLog>,
    ended: Arc<AtomicBool>,
}

fn end(log: &SpyLog, ended: &AtomicBool) {
    if !ended.swap(true, Ordering::SeqCst) {
        log.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        self.log.requests.lock().unwrap().push(n);
        let now = self.log.outstanding.fetch_add(n, Ordering::SeqCst) + n;
        self.log.max_outstanding.fetch_max(now, Ordering::SeqCst);
        self.up.request(n)
    }
    fn cancel(&self) {
        self.log.cancelled.store(true, Ordering::SeqCst);
        end(&self.log, &self.ended);
        self.up.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SpySubscriber<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.down.on_subscribe(Arc::new(SpySubscription {
            up: s,
            log: self.log.clone(),
            ended: self.ended.clone(),
        }))
    }
    fn on_next(&mut self, x: T) {
        self.log.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.log.delivered.fetch_add(1, Ordering::SeqCst);
        self.down.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        end(&self.log, &self.ended);
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        end(&self.log, &self.ended);
        self.down.on_complete()
    }
}

impl<P: Publisher> Publisher for Spy<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.log.subscribed.fetch_add(1, Ordering::SeqCst);
        let live = self.log.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.max_live.fetch_max(live, Ordering::SeqCst);
        self.inner.subscribe(SpySubscriber {
            down: subscriber,
            log: self.log.clone(),
            ended: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A cold source that runs each subscription on its own thread: emits `range` against demand in
/// runs, parking while there is none, then completes — or fails at `fail_at`.
#[derive(Clone)]
struct Threaded {
    range: Range<u64>,
    fail_at: Option<u64>,
}

fn threaded(range: Range<u64>) -> Flux<Threaded> {
    Flux::new(Threaded {
        range,
        fail_at: None,
    })
}

struct ThreadedSubscription {
    demand: AtomicU64,
    cancelled: AtomicBool,
    thread: Thread,
}

impl Subscription for ThreadedSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .demand
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                Some(d.saturating_add(n))
            });
        self.thread.unpark();
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Publisher for Threaded {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let Range { start, end } = self.range.clone();
        let fail_at = self.fail_at;
        std::thread::spawn(move || {
            let sub = Arc::new(ThreadedSubscription {
                demand: AtomicU64::new(0),
                cancelled: AtomicBool::new(false),
                thread: std::thread::current(),
            });
            subscriber.on_subscribe(sub.clone());
            let mut next = start;
            loop {
                if sub.cancelled.load(Ordering::Acquire) {
                    return;
                }
                if fail_at == Some(next) {
                    return subscriber.on_error(Error::msg("inner failed"));
                }
                if next == end {
                    return subscriber.on_complete();
                }
                let demand = sub.demand.load(Ordering::Acquire);
                if demand == 0 {
                    std::thread::park();
                    continue;
                }
                let stop = fail_at.unwrap_or(end).min(end);
                let n = demand.min(stop - next).min(256);
                subscriber.on_next_iter(next..next + n);
                next += n;
                if demand != u64::MAX {
                    sub.demand.fetch_sub(n, Ordering::AcqRel);
                }
            }
        });
    }
}

/// A hot source the test pushes into by hand; it ignores demand.
#[derive(Clone, Default)]
struct Hot {
    slot: Arc<Mutex<Option<Box<dyn Subscriber<u32>>>>>,
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicBool>,
}

struct HotSubscription {
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicBool>,
}

impl Subscription for HotSubscription {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n.min(1 << 40), Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Hot {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(HotSubscription {
            requested: self.requested.clone(),
            cancelled: self.cancelled.clone(),
        }));
        *self.slot.lock().unwrap() = Some(Box::new(s));
    }
}

impl Hot {
    fn with(&self, f: impl FnOnce(&mut dyn Subscriber<u32>)) {
        let mut s = self.slot.lock().unwrap().take().expect("subscribed");
        f(&mut *s);
        *self.slot.lock().unwrap() = Some(s);
    }
    fn next(&self, x: u32) {
        self.with(|s| s.on_next(x));
    }
    fn complete(&self) {
        self.with(|s| s.on_complete());
    }
    fn fail(&self) {
        self.with(|s| s.on_error(Error::msg("outer failed")));
    }
}

/// A publisher that sends `extra` more items than each request asks for.
#[derive(Clone)]
struct Greedy {
    extra: u64,
}

struct GreedySubscription<S> {
    down: Mutex<Option<S>>,
    requested: AtomicU64,
    extra: u64,
}

impl<S: Subscriber<u64>> GreedySubscription<S> {
    /// Serves what was requested, plus `extra`, if the subscriber is here (not inside a call).
    fn run(&self) {
        let taken = self.down.lock().unwrap().take();
        if let Some(mut down) = taken {
            let n = self.requested.swap(0, Ordering::SeqCst);
            if n > 0 {
                for i in 0..n.min(1000) + self.extra {
                    down.on_next(i);
                }
            }
            *self.down.lock().unwrap() = Some(down);
        }
    }
}

impl<S: Subscriber<u64>> Subscription for GreedySubscription<S> {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n.min(1000), Ordering::SeqCst);
        self.run();
    }
    fn cancel(&self) {
        self.down.lock().unwrap().take();
    }
}

impl Publisher for Greedy {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let sub = Arc::new(GreedySubscription {
            down: Mutex::new(None),
            requested: AtomicU64::new(0),
            extra: self.extra,
        });
        s.on_subscribe(sub.clone());
        *sub.down.lock().unwrap() = Some(s);
        sub.run();
    }
}

/// Waits (up to 10 s) for something another thread does after the stream ended.
fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

fn is_increasing(xs: &[u64]) -> bool {
    xs.windows(2).all(|w| w[0] < w[1])
}

// ---- flat_map: outputs ----

#[test]
fn synchronous_inners_in_order() {
    let out = backflow::range(1..5u32)
        .flat_map(|n| backflow::range(0..n).map(move |i| n * 10 + i))
        .collect()
        .unwrap();
    assert_eq!(out, vec![10, 20, 21, 30, 31, 32, 40, 41, 42, 43]);
}

#[test]
fn synchronous_inners_longer_than_the_prefetch() {
    let out = backflow::range(0..5u64)
        .flat_map_with(|i| backflow::range(i * 1000..i * 1000 + 300), 3, 8)
        .collect()
        .unwrap();
    let expected: Vec<u64> = (0..5).flat_map(|i| i * 1000..i * 1000 + 300).collect();
    assert_eq!(
        out, expected,
        "each synchronous inner drains before the next item"
    );
}

#[test]
fn empty_outer_and_empty_inners_complete() {
    let out = backflow::empty::<u32>()
        .flat_map(|_| backflow::range(0..3u32))
        .collect()
        .unwrap();
    assert!(out.is_empty());
    let out = backflow::range(0..1000u32)
        .flat_map(|_| backflow::empty::<u32>())
        .collect()
        .unwrap();
    assert!(out.is_empty());
}

#[test]
fn round_robin_across_queued_inners() {
    let (m, probe) = manual::<u64>();
    backflow::range(0..3u64)
        .flat_map_with(|i| backflow::range(i * 10..i * 10 + 4), 3, 2)
        .subscribe(m);
    assert!(probe.items().is_empty(), "no demand, nothing emitted");
    probe.request(3);
    // Each inner queued its prefetch of 2; the drain takes what each holds in turn.
    assert_eq!(probe.items(), vec![0, 1, 10]);
    probe.request(100);
    let items = probe.items();
    assert!(probe.completed());
    assert_eq!(items.len(), 12);
    for i in 0..3 {
        let inner: Vec<u64> = items.iter().copied().filter(|x| x / 10 == i).collect();
        assert_eq!(inner, (i * 10..i * 10 + 4).collect::<Vec<_>>());
    }
}

#[test]
fn filtering_downstream_keeps_its_credits() {
    let out = backflow::range(0..10u64)
        .flat_map_with(|i| backflow::range(i * 100..i * 100 + 50), 4, 8)
        .filter(|x| x % 7 == 0)
        .collect_with(Request::Batch(3))
        .unwrap();
    let expected: Vec<u64> = (0..10)
        .flat_map(|i| i * 100..i * 100 + 50)
        .filter(|x| x % 7 == 0)
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn take_downstream_cancels_everything() {
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let out = backflow::range(0..1_000_000u64)
        .flat_map_with(move |i| spy(backflow::range(i * 10..i * 10 + 10), &l), 4, 4)
        .take(25)
        .collect()
        .unwrap();
    assert_eq!(out, (0..25).collect::<Vec<_>>());
    assert_eq!(inners.live(), 0, "every live inner cancelled");
    assert!(inners.subscribed.load(Ordering::SeqCst) <= 4);
}

#[test]
fn unbounded_concurrency() {
    let outer = Arc::new(SpyLog::default());
    let out = spy(backflow::range(0..100u64), &outer)
        .flat_map_with(|i| backflow::range(0..i), usize::MAX, 16)
        .fold(0u64, |n, _| n + 1)
        .unwrap();
    assert_eq!(out, (0..100).sum::<u64>());
    assert_eq!(outer.requests(), vec![u64::MAX]);
}

#[test]
fn metrics_count_what_passed_and_what_was_dropped() {
    let registry = backflow::metrics::Registry::new();
    let stage = registry.stage("flat_map", 4 * 8);
    let out = backflow::range(0..10u64)
        .flat_map_with(|i| threaded(i * 100..i * 100 + 100), 4, 8)
        .metrics(stage.clone())
        .collect()
        .unwrap();
    assert_eq!(out.len(), 1000);
    let snapshot = stage.snapshot();
    assert_eq!((snapshot.received, snapshot.emitted), (1000, 1000));
    assert_eq!(snapshot.dropped.total(), 0);
    assert!(snapshot.requested >= 1000, "prefetch and top-ups");
}

// ---- flat_map: demand ----

#[test]
fn concurrency_limit_is_respected() {
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let (m, probe) = manual::<u64>();
    backflow::range(0..40u64)
        .flat_map_with(move |i| spy(backflow::range(0..i % 7 + 3), &l), 4, 2)
        .subscribe(m);
    // One item at a time: inners wait with their prefetch queued, so four stay live.
    for _ in 0..1000 {
        if probe.completed() {
            break;
        }
        probe.request(1);
    }
    assert!(probe.completed());
    let n = probe.items().len() as u64;
    assert_eq!(n, (0..40).map(|i| i % 7 + 3).sum::<u64>());
    assert_eq!(inners.subscribed.load(Ordering::SeqCst), 40);
    assert_eq!(
        inners.max_live.load(Ordering::SeqCst),
        4,
        "at most 4, and 4 reached"
    );
    assert_eq!(inners.live(), 0);
}

#[test]
fn concurrency_limit_with_inners_on_threads() {
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let n = backflow::range(0..24u64)
        .flat_map_with(move |i| spy(threaded(i * 100..i * 100 + 50), &l), 3, 4)
        .fold(0u64, |n, _| n + 1)
        .unwrap();
    assert_eq!(n, 24 * 50);
    assert!(inners.max_live.load(Ordering::SeqCst) <= 3);
}

#[test]
fn outer_demand_never_exceeds_free_slots() {
    let outer = Arc::new(SpyLog::default());
    let inners = Arc::new(SpyLog::default());
    let (o, l) = (outer.clone(), inners.clone());
    // Checked at every outer request and every inner subscription: requested-not-delivered outer
    // items plus live inners never exceed the concurrency.
    let check = Arc::new(AtomicUsize::new(0));
    let c = check.clone();
    let n = spy(backflow::range(0..30u64), &outer)
        .flat_map_with(
            move |i| {
                let busy = o.outstanding.load(Ordering::SeqCst) as usize + l.live();
                c.fetch_max(busy, Ordering::SeqCst);
                spy(backflow::range(0..i % 5 + 1), &l)
            },
            3,
            2,
        )
        .fold_with(Request::Batch(2), 0u64, |n, _| n + 1)
        .unwrap();
    assert_eq!(n, (0..30).map(|i| i % 5 + 1).sum::<u64>());
    let requests = outer.requests();
    assert_eq!(requests[0], 3, "concurrency up front");
    assert!(requests[1..].iter().all(|&r| r <= 3), "{requests:?}");
    assert!(outer.max_outstanding.load(Ordering::SeqCst) <= 3);
    assert!(check.load(Ordering::SeqCst) <= 3);
}

#[test]
fn per_inner_prefetch_then_75_percent_top_ups() {
    let logs: Arc<Vec<Arc<SpyLog>>> = Arc::new((0..3).map(|_| Default::default()).collect());
    let l = logs.clone();
    let n = backflow::range(0..3usize)
        .flat_map_with(move |i| spy(backflow::range(0..20u64), &l[i]), 3, 8)
        .fold_with(Request::Batch(1), 0u64, |n, _| n + 1)
        .unwrap();
    assert_eq!(n, 60);
    for log in logs.iter() {
        let requests = log.requests();
        assert_eq!(requests[0], 8, "prefetch up front: {requests:?}");
        assert!(
            requests[1..].iter().all(|&r| r == 6),
            "top-ups of 6 (75% of 8): {requests:?}"
        );
        assert!(requests.iter().sum::<u64>() >= 20);
        assert!(log.max_outstanding.load(Ordering::SeqCst) <= 8);
    }
}

#[test]
fn request_zero_is_an_error() {
    let (m, probe) = manual::<u32>();
    backflow::range(0..3u32)
        .flat_map(|i| backflow::range(0..i))
        .subscribe(m);
    probe.request(0);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
    assert!(probe.released());
}

// ---- flat_map: threads ----

#[test]
fn inners_on_threads_deliver_everything_once() {
    const N: u64 = 50_000;
    let out = backflow::range(0..4u64)
        .flat_map_with(|i| threaded(i * N..(i + 1) * N), 4, 64)
        .collect()
        .unwrap();
    assert_eq!(out.len() as u64, 4 * N);
    for i in 0..4 {
        let inner: Vec<u64> = out.iter().copied().filter(|x| x / N == i).collect();
        assert_eq!(inner.len() as u64, N);
        assert!(is_increasing(&inner), "inner {i} keeps its order");
    }
    assert_eq!(out.iter().sum::<u64>(), (0..4 * N).sum::<u64>());
}

#[test]
fn many_threaded_inners_with_a_batched_consumer() {
    let sum = backflow::range(0..32u64)
        .flat_map_with(|i| threaded(i * 1000..i * 1000 + 1000), 8, 16)
        .fold_with(Request::Batch(7), 0u64, |a, x| a + x)
        .unwrap();
    assert_eq!(sum, (0..32_000u64).sum::<u64>());
}

// ---- flat_map: errors ----

#[test]
fn an_inner_error_cancels_the_others() {
    let logs: Arc<Vec<Arc<SpyLog>>> = Arc::new((0..3).map(|_| Default::default()).collect());
    let l = logs.clone();
    let err = backflow::range(0..3usize)
        .flat_map(move |i| {
            let inner = if i == 1 {
                backflow::error::<u32>(Error::msg("inner failed")).boxed()
            } else {
                backflow::never().boxed()
            };
            spy(inner, &l[i])
        })
        .collect()
        .unwrap_err();
    assert_eq!(err.to_string(), "inner failed");
    assert!(logs[0].cancelled(), "the inner before it");
    assert_eq!(
        logs[2].subscribed.load(Ordering::SeqCst),
        0,
        "never subscribed: the outer was cancelled"
    );
}

#[test]
fn an_error_on_an_inner_thread_cancels_the_others() {
    let logs: Arc<Vec<Arc<SpyLog>>> = Arc::new((0..4).map(|_| Default::default()).collect());
    let l = logs.clone();
    let err = backflow::range(0..4usize)
        .flat_map_with(
            move |i| {
                let fail_at = (i == 2).then_some(500);
                let inner = Threaded {
                    range: 0..u64::MAX, // never completes: only a cancel stops it
                    fail_at,
                };
                spy(inner, &l[i])
            },
            4,
            32,
        )
        .fold(0u64, |n, _| n + 1)
        .unwrap_err();
    assert_eq!(err.to_string(), "inner failed");
    // An inner thread that has not called on_subscribe yet is cancelled when it does.
    for (i, log) in logs.iter().enumerate() {
        if i != 2 {
            assert!(eventually(|| log.cancelled()), "inner {i} cancelled");
        }
    }
}

#[test]
fn an_error_follows_the_queued_items_by_default() {
    let (m, probe) = manual::<u32>();
    backflow::range(0..2u32)
        .flat_map(|i| {
            if i == 0 {
                backflow::range(0..3u32).boxed()
            } else {
                backflow::error(Error::msg("late")).boxed()
            }
        })
        .subscribe(m);
    assert!(probe.error().is_none(), "three items are queued first");
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 1]);
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "late");
    assert!(probe.released());
}

#[test]
fn immediate_error_mode_drops_the_queued_items() {
    let (m, probe) = manual::<u32>();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    backflow::range(0..2u32)
        .flat_map(|i| {
            if i == 0 {
                backflow::range(0..3u32).boxed()
            } else {
                backflow::error(Error::msg("now")).boxed()
            }
        })
        .error_mode(ErrorMode::Immediate)
        .on_drop(move |x, why| d.lock().unwrap().push((x, why)))
        .subscribe(m);
    assert_eq!(probe.error().unwrap().to_string(), "now");
    assert!(probe.items().is_empty());
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![
            (0, DropReason::Cancelled),
            (1, DropReason::Cancelled),
            (2, DropReason::Cancelled)
        ]
    );
}

#[test]
fn an_outer_error_cancels_the_inners() {
    let hot = Hot::default();
    let inner = Arc::new(SpyLog::default());
    let l = inner.clone();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .flat_map(move |_| spy(backflow::never::<u32>(), &l))
        .subscribe(m);
    hot.next(1);
    hot.next(2);
    assert_eq!(inner.live(), 2);
    hot.fail();
    assert_eq!(probe.error().unwrap().to_string(), "outer failed");
    assert_eq!(inner.live(), 0);
    assert!(probe.released());
}

#[test]
fn a_panic_in_f_becomes_an_error() {
    let err = backflow::range(0..10u32)
        .flat_map(|i| {
            if i == 3 {
                panic!("mapper");
            }
            backflow::just(i)
        })
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn a_panic_downstream_becomes_an_error() {
    let err = backflow::range(0..4u64)
        .flat_map_with(|i| threaded(i * 100..i * 100 + 100), 4, 8)
        .for_each(|x| {
            if x == 250 {
                panic!("sink");
            }
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn an_inner_sending_more_than_requested_overflows() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (m, probe) = manual::<u64>();
    // No downstream demand: the ring of 4 fills, and the fifth item has no room.
    backflow::just(0u32)
        .flat_map_with(|_| Flux::new(Greedy { extra: 1 }), 2, 4)
        .on_drop(move |x, why| d.lock().unwrap().push((x, why)))
        .subscribe(m);
    assert_eq!(*dropped.lock().unwrap(), vec![(4, DropReason::Overflow)]);
    probe.request(10);
    assert_eq!(probe.items(), vec![0, 1, 2, 3], "the queued items first");
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
}

// ---- flat_map: cancel ----

#[test]
fn cancel_mid_stream_releases_everything() {
    let outer = Arc::new(SpyLog::default());
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (m, probe) = manual::<u64>();
    spy(
        backflow::range(0..3u64).concat_with(backflow::never()),
        &outer,
    )
    .flat_map_with(
        move |i| {
            spy(
                backflow::range(i * 10..i * 10 + 5).concat_with(backflow::never()),
                &l,
            )
        },
        8,
        4,
    )
    .on_drop(move |x, why| d.lock().unwrap().push((x, why)))
    .subscribe(m);
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 1]);
    assert_eq!(inners.live(), 3);
    probe.cancel();
    probe.request(10);
    assert_eq!(probe.items(), vec![0, 1], "nothing after cancel");
    assert!(!probe.completed() && probe.error().is_none());
    assert!(outer.cancelled());
    assert_eq!(inners.live(), 0, "every inner cancelled");
    assert!(probe.released(), "rule 3.13: the downstream is dropped");
    let mut dropped: Vec<u64> = dropped
        .lock()
        .unwrap()
        .iter()
        .map(|&(x, why)| {
            assert_eq!(why, DropReason::Cancelled);
            x
        })
        .collect();
    dropped.sort();
    // Queued at cancel: inner 0 had 4 (2 emitted, 2 left), inners 1 and 2 had 4 each.
    assert_eq!(dropped, vec![2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
}

#[test]
fn cancel_with_inners_on_threads_releases_the_downstream() {
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let (m, probe) = manual::<u64>();
    backflow::range(0..4u64)
        .flat_map_with(move |i| spy(threaded(i * 1000..i * 1000 + 1000), &l), 4, 16)
        .subscribe(m);
    probe.request(50);
    while probe.items().len() < 50 {
        std::thread::yield_now();
    }
    probe.cancel();
    // A producer thread may own the drain right now: it sees the cancel on its next pass.
    assert!(eventually(|| probe.released() && inners.live() == 0));
    assert!(probe.released(), "rule 3.13");
    assert_eq!(inners.live(), 0);
}

// ---- flat_map: depth ----

#[test]
fn a_long_run_of_synchronous_inners_does_not_grow_the_stack() {
    let n = backflow::range(0..100_000u64)
        .flat_map_with(backflow::just, 2, 1)
        .fold(0u64, |a, x| a + x)
        .unwrap();
    assert_eq!(n, (0..100_000u64).sum::<u64>());
}

// ---- concat_map ----

#[test]
fn concat_map_keeps_outer_order_with_inners_on_threads() {
    let out = backflow::range(0..20u64)
        .concat_map(|i| threaded(i * 100..i * 100 + 100))
        .collect_with(Request::Batch(16))
        .unwrap();
    assert_eq!(out, (0..2000).collect::<Vec<_>>());
}

#[test]
fn concat_map_carries_demand_across_inners() {
    let inners = Arc::new(SpyLog::default());
    let l = inners.clone();
    let (m, probe) = manual::<u32>();
    backflow::range(0..3u32)
        .concat_map(move |i| spy(backflow::range(i * 10..i * 10 + 3), &l))
        .subscribe(m);
    probe.request(4);
    assert_eq!(probe.items(), vec![0, 1, 2, 10]);
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 1, 2, 10, 11]);
    assert!(!probe.completed());
    probe.request(10);
    assert_eq!(probe.items(), vec![0, 1, 2, 10, 11, 12, 20, 21, 22]);
    assert!(probe.completed());
    // 4 to the first inner; what it still owed (1) carried to the second, then 1 and 10
    // forwarded to it; what it still owed (9) carried to the third: nothing delivered is asked
    // for again.
    assert_eq!(inners.requests(), vec![4, 1, 1, 10, 9]);
    assert!(probe.released());
}

#[test]
fn concat_map_prefetches_two_outer_items() {
    let outer = Arc::new(SpyLog::default());
    let out = spy(backflow::range(0..9u32), &outer)
        .concat_map(|i| backflow::range(0..i))
        .collect()
        .unwrap();
    assert_eq!(out.len(), (0..9).sum::<u32>() as usize);
    let requests = outer.requests();
    assert_eq!(requests[0], 2);
    assert!(requests.iter().all(|&r| r == 2), "{requests:?}");
    assert!(outer.max_outstanding.load(Ordering::SeqCst) <= 2);
}

#[test]
fn concat_map_of_100k_synchronous_inners_does_not_grow_the_stack() {
    let out = backflow::range(0..100_000u64)
        .concat_map(backflow::just)
        .collect()
        .unwrap();
    assert_eq!(out, (0..100_000).collect::<Vec<_>>());
    let n = backflow::range(0..100_000u64)
        .concat_map(|_| backflow::empty::<u64>())
        .fold(0u64, |n, _| n + 1)
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn concat_map_inner_error_ends_the_stream() {
    let later = Arc::new(AtomicBool::new(false));
    let l = later.clone();
    let outer = Arc::new(SpyLog::default());
    let err = spy(
        backflow::range(0..10u32).concat_with(backflow::never()),
        &outer,
    )
    .concat_map(move |i| {
        if i == 2 {
            backflow::error(Error::msg("inner failed")).boxed()
        } else {
            if i > 2 {
                l.store(true, Ordering::SeqCst);
            }
            backflow::just(i).boxed()
        }
    })
    .collect()
    .unwrap_err();
    assert_eq!(err.to_string(), "inner failed");
    assert!(
        !later.load(Ordering::SeqCst),
        "no inner after the failed one"
    );
    assert!(outer.cancelled());
}

#[test]
fn concat_map_outer_error_follows_the_received_items() {
    let hot = Hot::default();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .concat_map(|i| backflow::range(i * 10..i * 10 + 2))
        .subscribe(m);
    hot.next(1);
    hot.next(2);
    hot.fail();
    assert!(probe.error().is_none(), "the inners of 1 and 2 come first");
    probe.request(3);
    assert_eq!(probe.items(), vec![10, 11, 20]);
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.items(), vec![10, 11, 20, 21]);
    assert_eq!(probe.error().unwrap().to_string(), "outer failed");
    assert!(probe.released());
}

#[test]
fn concat_map_panic_in_f_is_an_error() {
    let err = backflow::range(0..5u32)
        .concat_map(|i| {
            assert!(i < 3, "mapper");
            backflow::just(i)
        })
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn concat_map_outer_overflow() {
    let (m, probe) = manual::<u64>();
    // No demand: the first inner stays active, the ring of 2 fills, the fourth item has no room.
    Flux::new(Greedy { extra: 2 })
        .concat_map(|i| backflow::range(i * 10..i * 10 + 2))
        .subscribe(m);
    assert!(
        probe.error().is_none(),
        "the error follows the received items"
    );
    probe.request(100);
    assert_eq!(probe.items(), vec![0, 1, 10, 11, 20, 21]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
}

#[test]
fn concat_map_cancel_releases_everything() {
    let inner = Arc::new(SpyLog::default());
    let outer = Arc::new(SpyLog::default());
    let l = inner.clone();
    let (m, probe) = manual::<u32>();
    spy(
        backflow::range(0..5u32).concat_with(backflow::never()),
        &outer,
    )
    .concat_map(move |i| spy(backflow::range(i * 10..i * 10 + 5), &l))
    .subscribe(m);
    probe.request(7);
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4, 10, 11]);
    probe.cancel();
    probe.request(5);
    assert_eq!(probe.items().len(), 7);
    assert!(inner.cancelled() && outer.cancelled());
    assert_eq!(inner.live(), 0);
    assert!(probe.released());
}

#[test]
fn concat_map_request_zero_is_an_error() {
    let (m, probe) = manual::<u32>();
    backflow::range(0..3u32)
        .concat_map(|i| backflow::range(0..i + 1))
        .subscribe(m);
    probe.request(0);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
}

#[test]
fn concat_map_request_zero_between_inners_is_an_error() {
    let hot = Hot::default();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .concat_map(backflow::just)
        .subscribe(m);
    probe.request(1);
    hot.next(7);
    assert_eq!(probe.items(), vec![7]);
    // The inner has completed and the next item has not come: the trampoline answers.
    probe.request(0);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
    assert!(hot.cancelled.load(Ordering::SeqCst));
    assert!(probe.released());
}

#[test]
fn concat_map_cancel_with_no_active_inner_releases_at_once() {
    let hot = Hot::default();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .concat_map(backflow::just)
        .subscribe(m);
    probe.cancel();
    assert!(hot.cancelled.load(Ordering::SeqCst));
    assert!(probe.released(), "rule 3.13");
}

// ---- switch_map ----

#[test]
fn switch_map_cancels_the_previous_inner() {
    let hot = Hot::default();
    let logs: Arc<Vec<Arc<SpyLog>>> = Arc::new((0..3).map(|_| Default::default()).collect());
    let l = logs.clone();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .switch_map(move |i: u32| {
            let items = backflow::range(i * 10..i * 10 + 2);
            let inner = if i < 2 {
                items.concat_with(backflow::never()).boxed()
            } else {
                items.boxed()
            };
            spy(inner, &l[i as usize])
        })
        .subscribe(m);
    assert_eq!(
        hot.requested.load(Ordering::SeqCst),
        1 << 40,
        "unbounded outer"
    );
    probe.request(100);
    hot.next(0);
    assert_eq!(probe.items(), vec![0, 1]);
    assert!(!logs[0].cancelled());
    hot.next(1);
    assert!(logs[0].cancelled(), "the old inner is cancelled");
    assert_eq!(probe.items(), vec![0, 1, 10, 11]);
    hot.next(2);
    assert!(logs[1].cancelled());
    assert_eq!(probe.items(), vec![0, 1, 10, 11, 20, 21]);
    assert!(!probe.completed(), "the outer is still open");
    hot.complete();
    assert!(probe.completed(), "outer and last inner completed");
    assert!(!logs[2].cancelled());
    assert!(probe.released());
}

#[test]
fn switch_map_drops_what_the_old_inner_queued_and_carries_demand() {
    let hot = Hot::default();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .switch_map(|i: u32| backflow::range(i * 10..i * 10 + 4).concat_with(backflow::never()))
        .on_drop(move |x, why| d.lock().unwrap().push((x, why)))
        .subscribe(m);
    probe.request(3);
    hot.next(0);
    assert_eq!(probe.items(), vec![0, 1, 2]);
    hot.next(1);
    assert_eq!(*dropped.lock().unwrap(), vec![(3, DropReason::Cancelled)]);
    assert_eq!(probe.items(), vec![0, 1, 2], "no demand left");
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 1, 2, 10, 11]);
    hot.next(2);
    let dropped = dropped.lock().unwrap().clone();
    assert_eq!(
        dropped,
        vec![
            (3, DropReason::Cancelled),
            (12, DropReason::Cancelled),
            (13, DropReason::Cancelled)
        ]
    );
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 1, 2, 10, 11, 20]);
}

#[test]
fn switch_map_synchronous_inners_are_not_switched_away() {
    let out = backflow::range(1..5u32)
        .switch_map(|n| backflow::range(0..n))
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 0, 1, 0, 1, 2, 0, 1, 2, 3]);
}

#[test]
fn switch_map_with_inners_on_threads_completes() {
    let n = backflow::range(0..50u64)
        .switch_map(|i| threaded(i * 1000..i * 1000 + 200))
        .fold(0u64, |n, _| n + 1)
        .unwrap();
    // Switched-away inners lose items, the last one delivers all of its own.
    assert!((200..=50 * 200).contains(&n), "{n}");
}

#[test]
fn switch_map_cancel_releases_everything() {
    let hot = Hot::default();
    let inner = Arc::new(SpyLog::default());
    let l = inner.clone();
    let (m, probe) = manual::<u32>();
    Flux::new(hot.clone())
        .switch_map(move |_| spy(backflow::never::<u32>(), &l))
        .subscribe(m);
    hot.next(0);
    hot.next(1);
    assert_eq!(inner.live(), 1);
    probe.cancel();
    assert_eq!(inner.live(), 0);
    assert!(hot.cancelled.load(Ordering::SeqCst));
    assert!(probe.released());
}
