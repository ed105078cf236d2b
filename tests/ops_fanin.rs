//! Fan-in operators: `merge`, `zip`, `combine_latest`. Exact outputs for synchronous inputs, the
//! demand each input sees, fairness, inputs on other threads, error / cancel / overflow paths, and
//! the release of the downstream subscriber (rule 3.13).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use backflow::metrics::{DropReason, Registry};
use backflow::ops::ErrorMode;
use backflow::prelude::*;

// ---- helpers ----

#[derive(Debug)]
struct Log<T> {
    items: Vec<T>,
    completed: usize,
    error: Option<Error>,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log {
            items: Vec::new(),
            completed: 0,
            error: None,
        }
    }
}

/// A subscriber that only records; the test drives demand through the returned handle.
struct Manual<T> {
    log: Arc<Mutex<Log<T>>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    /// Panics on the item with this index.
    panic_at: Option<usize>,
    _alive: Arc<()>,
}

struct Probe<T> {
    log: Arc<Mutex<Log<T>>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

impl<T> Probe<T> {
    fn request(&self, n: u64) {
        let s = self.sub.lock().unwrap().clone().expect("subscribed");
        s.request(n);
    }
    fn cancel(&self) {
        let s = self.sub.lock().unwrap().clone().expect("subscribed");
        s.cancel();
    }
    fn items(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.log.lock().unwrap().items.clone()
    }
    fn completed(&self) -> usize {
        self.log.lock().unwrap().completed
    }
    fn error(&self) -> Option<Error> {
        self.log.lock().unwrap().error.clone()
    }
    fn released(&self) -> bool {
        // Drop our copy of the handle first: it is the downstream's subscription, which holds
        // the downstream while the stream is live.
        self.sub.lock().unwrap().take();
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
        panic_at: None,
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
        if self.panic_at == Some(log.items.len()) {
            drop(log);
            panic!("downstream boom");
        }
        log.items.push(x)
    }
    fn on_error(&mut self, e: Error) {
        self.log.lock().unwrap().error = Some(e)
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().completed += 1
    }
}

/// What a spied-on input saw: each `request(n)`, the items it delivered, and cancel.
#[derive(Default)]
struct SpyLog {
    requests: Mutex<Vec<u64>>,
    delivered: AtomicU64,
    /// The most the input ever had outstanding (requested, not yet delivered).
    max_outstanding: AtomicU64,
    cancelled: AtomicBool,
}

impl SpyLog {
    fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Wraps a publisher and records what its subscriber asks of it.
#[derive(Clone)]
struct Spied<P> {
    inner: P,
    log: Arc<SpyLog>,
}

fn spied<P>(inner: P) -> (Spied<P>, Arc<SpyLog>) {
    let log = Arc::new(SpyLog::default());
    (
        Spied {
            inner,
            log: log.clone(),
        },
        log,
    )
}

struct SpySubscriber<S> {
    down: S,
    log: Arc<SpyLog>,
}

struct SpySubscription {
    up: SharedSubscription,
    log: Arc<SpyLog>,
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        let total: u64 = {
            let mut requests = self.log.requests.lock().unwrap();
            requests.push(n);
            requests.iter().fold(0u64, |a, r| a.saturating_add(*r))
        };
        let outstanding = total.saturating_sub(self.log.delivered.load(Ordering::SeqCst));
        self.log
            .max_outstanding
            .fetch_max(outstanding, Ordering::SeqCst);
        self.up.request(n)
    }
    fn cancel(&self) {
        self.log.cancelled.store(true, Ordering::SeqCst);
        self.up.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SpySubscriber<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.down.on_subscribe(Arc::new(SpySubscription {
            up: s,
            log: self.log.clone(),
        }))
    }
    fn on_next(&mut self, x: T) {
        self.log.delivered.fetch_add(1, Ordering::SeqCst);
        self.down.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl<P: Publisher> Publisher for Spied<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, s: S) {
        self.inner.subscribe(SpySubscriber {
            down: s,
            log: self.log.clone(),
        })
    }
}

/// A hot publisher the test drives by hand: `emit` calls `on_next` on the test's thread whether
/// or not there is demand (to play a non-compliant source too).
#[derive(Clone, Default)]
struct Hot {
    subscriber: Arc<Mutex<Option<Box<dyn Subscriber<u32>>>>>,
    state: Arc<HotState>,
}

#[derive(Default)]
struct HotState {
    requested: AtomicU64,
    cancelled: AtomicBool,
}

struct HotSubscription(Arc<HotState>);

impl Subscription for HotSubscription {
    fn request(&self, n: u64) {
        self.0.requested.fetch_add(n.min(1 << 40), Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Hot {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(HotSubscription(self.state.clone())));
        *self.subscriber.lock().unwrap() = Some(Box::new(s));
    }
}

impl Hot {
    fn emit(&self, x: u32) {
        let mut slot = self.subscriber.lock().unwrap();
        slot.as_mut().expect("subscribed").on_next(x);
    }
    fn complete(&self) {
        let mut slot = self.subscriber.lock().unwrap();
        slot.take().expect("subscribed").on_complete();
    }
    fn fail(&self, e: Error) {
        let mut slot = self.subscriber.lock().unwrap();
        slot.take().expect("subscribed").on_error(e);
    }
    fn requested(&self) -> u64 {
        self.state.requested.load(Ordering::SeqCst)
    }
    fn cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }
    /// Drops the stored subscriber (a cancelled source eventually lets go of it).
    fn release(&self) {
        self.subscriber.lock().unwrap().take();
    }
}

/// A publisher that runs each subscription on its own new thread, emitting `items` against
/// demand (waiting by yielding), then completing or failing.
#[derive(Clone)]
struct Threaded {
    items: std::ops::Range<u64>,
    fail_at_end: bool,
    /// Yield this many times before each item (a slow producer).
    pause: u32,
    /// Called with each item just after `on_next` returned.
    after_emit: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

fn threaded(items: std::ops::Range<u64>) -> Threaded {
    Threaded {
        items,
        fail_at_end: false,
        pause: 0,
        after_emit: None,
        threads: Default::default(),
    }
}

impl Threaded {
    fn join(&self) {
        let handles: Vec<_> = self.threads.lock().unwrap().drain(..).collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[derive(Default)]
struct ThreadedSubscription {
    demand: AtomicU64,
    cancelled: AtomicBool,
}

impl Subscription for ThreadedSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .demand
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_add(n))
            });
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Threaded {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let this = self.clone();
        let handle = std::thread::spawn(move || {
            let sub = Arc::new(ThreadedSubscription::default());
            s.on_subscribe(sub.clone());
            for x in this.items.clone() {
                for _ in 0..this.pause {
                    std::thread::yield_now();
                }
                loop {
                    if sub.cancelled.load(Ordering::SeqCst) {
                        return;
                    }
                    if sub.demand.load(Ordering::SeqCst) > 0 {
                        break;
                    }
                    std::thread::yield_now();
                }
                sub.demand.fetch_sub(1, Ordering::SeqCst);
                s.on_next(x);
                if let Some(f) = &this.after_emit {
                    f(x);
                }
            }
            if this.fail_at_end {
                s.on_error(Error::msg("threaded failure"));
            } else {
                s.on_complete();
            }
        });
        self.threads.lock().unwrap().push(handle);
    }
}

/// An item that counts its live copies, to check each is dropped exactly once.
#[derive(Debug)]
struct Counted(Arc<AtomicU64>, #[allow(dead_code)] u32);

impl Counted {
    fn new(live: &Arc<AtomicU64>, id: u32) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(live.clone(), id)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert!(self.0.fetch_sub(1, Ordering::SeqCst) > 0, "dropped twice");
    }
}

// ---- merge ----

#[test]
fn merge_synchronous_inputs_exact_output() {
    let (m, probe) = manual();
    Flux::new(
        backflow::merge(vec![backflow::range(0..4u32), backflow::range(10..14)])
            .into_inner()
            .prefetch(2),
    )
    .subscribe(m);
    assert!(probe.items().is_empty(), "nothing before a request");
    probe.request(3);
    // Lane 0's whole queue (2), then what the credits allow of lane 1.
    assert_eq!(probe.items(), vec![0, 1, 10]);
    probe.request(10);
    assert_eq!(probe.items(), vec![0, 1, 10, 2, 3, 11, 12, 13]);
    assert_eq!(probe.completed(), 1);
    assert!(probe.released(), "rule 3.13 after completion");
}

#[test]
fn merge_keeps_each_inputs_order_and_loses_nothing() {
    let sources: Vec<_> = (0..5u64)
        .map(|i| backflow::range(i * 1000..i * 1000 + 777))
        .collect();
    let out = backflow::merge(sources).collect().unwrap();
    assert_eq!(out.len(), 5 * 777);
    for i in 0..5u64 {
        let mine: Vec<u64> = out.iter().copied().filter(|x| x / 1000 == i).collect();
        assert_eq!(mine, (i * 1000..i * 1000 + 777).collect::<Vec<_>>());
    }
}

#[test]
fn merge_demand_per_input_never_exceeds_prefetch() {
    let (a, log_a) = spied(backflow::range(0..1000u32));
    let (b, log_b) = spied(backflow::range(0..1000u32));
    let out = backflow::merge(vec![a, b])
        .prefetch(16)
        .fold_with(Request::Batch(7), 0usize, |n, _| n + 1)
        .unwrap();
    assert_eq!(out, 2000);
    for log in [log_a, log_b] {
        let requests = log.requests();
        assert_eq!(requests[0], 16, "prefetch up front");
        // A top-up is asked once 75% (12) was taken, for everything taken since the last one.
        assert!(
            requests[1..].iter().all(|&r| (12..=16).contains(&r)),
            "top-ups: {requests:?}"
        );
        assert!(log.max_outstanding.load(Ordering::SeqCst) <= 16);
    }
}

#[test]
fn merge_is_fair_to_a_finite_input_next_to_an_infinite_one() {
    // Both synchronous: the infinite input refills at once whenever it is asked.
    let prefetch = 4;
    let out = Flux::new(
        backflow::merge(vec![
            backflow::range(0..u64::MAX).boxed(),
            backflow::range(1u64 << 63..(1 << 63) + 20).boxed(),
        ])
        .into_inner()
        .prefetch(prefetch),
    )
    .take(200)
    .collect()
    .unwrap();
    let slow: Vec<usize> = (0..out.len()).filter(|&i| out[i] >= 1 << 63).collect();
    assert_eq!(slow.len(), 20, "every item of the finite input arrives");
    // Round-robin: at most `prefetch` items of the busy input between two of the other's runs.
    assert!(*slow.last().unwrap() < 2 * 20 + 2 * prefetch);
    assert!(slow.windows(2).any(|w| w[1] - w[0] > 1), "interleaved");
}

#[test]
fn merge_is_fair_across_threads() {
    // The test thread drains an infinite synchronous input forever (unbounded demand); a slow
    // producer thread's items must each get through within a bounded number of the busy input's
    // items once they are in the merge's queue.
    const SLOW: usize = 30;
    let prefetch = 8u64;
    let fast_seen = Arc::new(AtomicU64::new(0));
    // The busy input's count when each slow item was surely queued (its `on_next` returned),
    // and when it was delivered.
    let queued_at = Arc::new(Mutex::new(vec![u64::MAX; SLOW]));
    let delivered_at = Arc::new(Mutex::new(vec![0u64; SLOW]));
    let mut slow = threaded(0..SLOW as u64);
    slow.pause = 1;
    let (seen, at) = (fast_seen.clone(), queued_at.clone());
    slow.after_emit = Some(Arc::new(move |x| {
        at.lock().unwrap()[x as usize] = seen.load(Ordering::SeqCst)
    }));
    let fast = backflow::range(1u64 << 32..u64::MAX).boxed();
    struct Until {
        fast_seen: Arc<AtomicU64>,
        delivered_at: Arc<Mutex<Vec<u64>>>,
        slow_seen: usize,
        sub: Option<SharedSubscription>,
    }
    impl Subscriber<u64> for Until {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(u64::MAX);
            self.sub = Some(s);
        }
        fn on_next(&mut self, x: u64) {
            if x >= 1 << 32 {
                self.fast_seen.fetch_add(1, Ordering::SeqCst);
                return;
            }
            self.delivered_at.lock().unwrap()[x as usize] = self.fast_seen.load(Ordering::SeqCst);
            self.slow_seen += 1;
            if self.slow_seen == SLOW {
                self.sub.take().unwrap().cancel();
            }
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {}
    }
    Flux::new(
        backflow::merge(vec![fast, Flux::new(slow.clone()).boxed()])
            .into_inner()
            .prefetch(prefetch as usize),
    )
    .subscribe(Until {
        fast_seen,
        delivered_at: delivered_at.clone(),
        slow_seen: 0,
        sub: None,
    });
    slow.join();
    let (queued, delivered) = (queued_at.lock().unwrap(), delivered_at.lock().unwrap());
    let lags: Vec<u64> = (0..SLOW)
        .map(|i| delivered[i].saturating_sub(queued[i]))
        .collect();
    // Queued while the drain served the busy lane: at most the rest of that run, one more run
    // of it, then the slow lane's turn.
    assert!(lags.iter().all(|&lag| lag <= 2 * prefetch), "{lags:?}");
}

#[test]
fn merge_inputs_on_different_threads() {
    let sources: Vec<Threaded> = (0..4u64)
        .map(|i| threaded(i * 100_000..i * 100_000 + 20_000))
        .collect();
    let out = backflow::merge(sources.clone())
        .prefetch(32)
        .collect()
        .unwrap();
    for s in &sources {
        s.join();
    }
    assert_eq!(out.len(), 80_000);
    for i in 0..4u64 {
        let mine: Vec<u64> = out.iter().copied().filter(|x| x / 100_000 == i).collect();
        assert_eq!(
            mine,
            (i * 100_000..i * 100_000 + 20_000).collect::<Vec<_>>()
        );
    }
}

#[test]
fn merge_error_after_the_held_items_cancels_the_others() {
    let (never, never_log) = spied(backflow::never::<u32>());
    let (m, probe) = manual();
    backflow::merge(vec![
        backflow::range(0..3u32).boxed(),
        Flux::new(never).boxed(),
        backflow::error(Error::msg("boom")).boxed(),
    ])
    .subscribe(m);
    assert!(
        never_log.cancelled(),
        "the error cancels the other inputs at once"
    );
    assert_eq!(
        probe.error().map(|e| e.to_string()),
        None,
        "held items first"
    );
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 1]);
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "boom");
    assert_eq!(probe.completed(), 0);
    assert!(probe.released());
}

#[test]
fn merge_immediate_error_drops_the_held_items() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (m, probe) = manual();
    backflow::merge(vec![
        backflow::range(0..3u32).boxed(),
        backflow::error(Error::msg("boom")).boxed(),
    ])
    .error_mode(ErrorMode::Immediate)
    .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
    .subscribe(m);
    assert_eq!(probe.error().unwrap().to_string(), "boom");
    assert!(probe.items().is_empty());
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![
            (0, DropReason::Cancelled),
            (1, DropReason::Cancelled),
            (2, DropReason::Cancelled)
        ]
    );
    assert!(probe.released());
}

#[test]
fn merge_input_that_sends_more_than_requested_overflows() {
    let (bad, good) = (Hot::default(), Hot::default());
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (m, probe) = manual();
    Flux::new(
        backflow::merge(vec![bad.clone(), good.clone()])
            .into_inner()
            .prefetch(2),
    )
    .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
    .subscribe(m);
    assert_eq!(bad.requested(), 2);
    bad.emit(1);
    bad.emit(2);
    bad.emit(3); // one more than requested
    assert!(bad.cancelled() && good.cancelled(), "cancel all at once");
    assert_eq!(*dropped.lock().unwrap(), vec![(3, DropReason::Overflow)]);
    assert!(
        probe.error().is_none(),
        "items 1 and 2 are held and not asked for yet"
    );
    probe.request(5);
    assert_eq!(probe.items(), vec![1, 2]);
    let err = probe.error().expect("overflow");
    assert_eq!(err.kind(), ErrorKind::Overflow);
    assert!(err.to_string().contains("merge"), "{err}");
    bad.release();
    good.release();
    assert!(probe.released());
}

#[test]
fn merge_cancel_cancels_every_input_drops_held_items_once_and_releases() {
    let live = Arc::new(AtomicU64::new(0));
    let (a, b) = (Hot::default(), Hot::default());
    let dropped = Arc::new(AtomicU64::new(0));
    let d = dropped.clone();
    let (m, probe) = manual::<Counted>();
    struct Wrap(Hot, Arc<AtomicU64>);
    impl Publisher for Wrap {
        type Item = Counted;
        fn subscribe<S: Subscriber<Counted> + 'static>(&self, s: S) {
            let live = self.1.clone();
            Flux::new(self.0.clone())
                .map(move |x| Counted::new(&live, x))
                .subscribe(s)
        }
    }
    backflow::merge(vec![
        Wrap(a.clone(), live.clone()),
        Wrap(b.clone(), live.clone()),
    ])
    .on_drop(move |_, reason| {
        assert_eq!(reason, DropReason::Cancelled);
        d.fetch_add(1, Ordering::SeqCst);
    })
    .subscribe(m);
    for i in 0..5 {
        a.emit(i);
        b.emit(100 + i);
    }
    probe.request(3);
    assert_eq!(probe.log.lock().unwrap().items.len(), 3);
    assert_eq!(live.load(Ordering::SeqCst), 10);
    probe.cancel();
    assert!(a.cancelled() && b.cancelled());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        7,
        "the held items, each once"
    );
    // In flight after the cancel: refused, also once.
    a.emit(99);
    assert_eq!(dropped.load(Ordering::SeqCst), 8);
    probe.request(10);
    assert_eq!(
        probe.log.lock().unwrap().items.len(),
        3,
        "nothing after cancel"
    );
    assert_eq!(probe.completed(), 0);
    assert!(probe.error().is_none());
    drop(probe.log.lock().unwrap().items.drain(..));
    a.release();
    b.release();
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every item dropped exactly once"
    );
    assert!(probe.released(), "rule 3.13");
}

#[test]
fn merge_panic_in_downstream_becomes_an_error_and_cancels_the_inputs() {
    let (never, never_log) = spied(backflow::never::<u32>());
    let (mut m, probe) = manual();
    m.panic_at = Some(1);
    backflow::merge(vec![
        backflow::range(0..10u32).boxed(),
        Flux::new(never).boxed(),
    ])
    .subscribe(m);
    probe.request(5);
    assert_eq!(probe.items(), vec![0]);
    let err = probe.error().expect("panic reported downstream");
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("downstream boom"), "{err}");
    assert!(never_log.cancelled());
    assert!(probe.released());
}

#[test]
fn merge_request_zero_is_rule_3_9() {
    let (never, never_log) = spied(backflow::never::<u32>());
    let (m, probe) = manual::<u32>();
    backflow::merge(vec![never]).subscribe(m);
    probe.request(0);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
    assert!(never_log.cancelled());
    assert!(probe.released());
}

#[test]
fn merge_of_nothing_completes_and_empty_inputs_complete() {
    let none: Vec<backflow::flux::Boxed<u8>> = Vec::new();
    assert_eq!(backflow::merge(none).collect().unwrap(), Vec::<u8>::new());
    let out = backflow::merge(vec![backflow::empty::<u8>(), backflow::empty()])
        .collect()
        .unwrap();
    assert!(out.is_empty());
}

#[test]
fn merge_metrics_count_received_emitted_requested() {
    let registry = Registry::new();
    let stage = registry.stage("merged", 8);
    let out = Flux::new(
        backflow::merge(vec![backflow::range(0..50u32), backflow::range(0..50)])
            .into_inner()
            .prefetch(8),
    )
    .metrics(stage.clone())
    .collect()
    .unwrap();
    assert_eq!(out.len(), 100);
    let snap = stage.snapshot();
    assert_eq!((snap.received, snap.emitted), (100, 100));
    assert!(snap.requested >= 100 && snap.requested <= 100 + 2 * 8);
}

#[test]
fn merge_with_two_types_and_a_cancelling_downstream() {
    let out = backflow::range(0..u32::MAX)
        .merge_with(backflow::from_iter(vec![7u32; 3]))
        .take(10)
        .collect()
        .unwrap();
    assert_eq!(out.len(), 10);
}

// ---- zip ----

#[test]
fn zip_synchronous_inputs_exact_output_and_stops_at_the_shorter() {
    let (a, log_a) = spied(backflow::range(0..1_000_000u32));
    let out = backflow::zip(a, backflow::from_iter(vec!["x", "y", "z"]))
        .collect()
        .unwrap();
    assert_eq!(out, vec![(0, "x"), (1, "y"), (2, "z")]);
    assert!(log_a.cancelled(), "the longer input is cancelled");
    assert_eq!(log_a.requests(), vec![32]);
}

#[test]
fn zip_requests_only_what_it_can_pair() {
    let (a, log_a) = spied(backflow::range(0..100u32));
    let (b, log_b) = spied(backflow::range(0..100u32));
    let (m, probe) = manual();
    backflow::zip(a, b).prefetch(4).subscribe(m);
    assert_eq!((log_a.requests(), log_b.requests()), (vec![4], vec![4]));
    probe.request(2);
    assert_eq!(probe.items(), vec![(0, 0), (1, 1)]);
    assert_eq!(log_a.requests(), vec![4], "no top-up before 3 pairs");
    probe.request(1);
    assert_eq!(log_a.requests(), vec![4, 3]);
    assert_eq!(log_b.requests(), vec![4, 3]);
    probe.request(1000);
    assert_eq!(probe.items().len(), 100);
    assert_eq!(probe.completed(), 1);
    for log in [log_a, log_b] {
        assert!(log.max_outstanding.load(Ordering::SeqCst) <= 4);
    }
}

#[test]
fn zip_of_a_long_and_a_short_branch_with_a_tiny_prefetch_completes() {
    // The long branch fills its queue and waits; the short one ends; the zip must not wait for
    // room in the long branch's queue.
    let zipped = backflow::zip(backflow::range(0..10_000_000u64), backflow::range(0..5u64))
        .into_inner()
        .prefetch(1);
    assert_eq!(Flux::new(zipped).collect().unwrap().len(), 5);
    // The same across threads: both branches on their own producer threads.
    let long = threaded(0..1_000_000);
    let short = threaded(0..50);
    let zipped = backflow::zip(long.clone(), short.clone())
        .into_inner()
        .prefetch(2);
    let out = Flux::new(zipped).collect().unwrap();
    assert_eq!(out, (0..50).map(|i| (i, i)).collect::<Vec<_>>());
    long.join();
    short.join();
}

#[test]
fn zip_inputs_on_different_threads() {
    let a = threaded(0..30_000);
    let b = threaded(100_000..130_000);
    let out = backflow::zip_with(a.clone(), b.clone(), |x, y| y - x)
        .collect()
        .unwrap();
    a.join();
    b.join();
    assert_eq!(out, vec![100_000; 30_000]);
}

#[test]
fn zip_error_after_the_pairs_that_can_still_be_made() {
    let (a, b) = (Hot::default(), Hot::default());
    let (m, probe) = manual();
    backflow::zip(a.clone(), b.clone()).subscribe(m);
    a.emit(1);
    a.emit(2);
    b.emit(10);
    b.emit(20);
    b.emit(30);
    a.fail(Error::msg("a failed"));
    assert!(b.cancelled());
    assert!(probe.error().is_none(), "two pairs are still held");
    probe.request(1);
    assert_eq!(probe.items(), vec![(1, 10)]);
    probe.request(5);
    assert_eq!(probe.items(), vec![(1, 10), (2, 20)]);
    assert_eq!(probe.error().unwrap().to_string(), "a failed");
    b.release();
    assert!(probe.released());
}

#[test]
fn zip_error_on_the_side_with_more_items() {
    // The failing side still holds items, the other side is empty and cancelled: nothing more
    // can be paired, so the error comes at once (no hang waiting for the cancelled side).
    let (a, b) = (Hot::default(), Hot::default());
    let (m, probe) = manual::<(u32, u32)>();
    backflow::zip(a.clone(), b.clone()).subscribe(m);
    a.emit(1);
    a.emit(2);
    a.fail(Error::msg("a failed"));
    assert_eq!(probe.error().unwrap().to_string(), "a failed");
}

#[test]
fn zip_with_panicking_function_cancels_both() {
    let (a, log_a) = spied(backflow::range(0..10u32));
    let (b, log_b) = spied(backflow::range(0..10u32));
    let (m, probe) = manual::<u32>();
    backflow::zip_with(a, b, |x, _| {
        if x == 1 {
            panic!("zipper boom")
        }
        x
    })
    .subscribe(m);
    probe.request(10);
    assert_eq!(probe.items(), vec![0]);
    let err = probe.error().unwrap();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("zipper boom"), "{err}");
    assert!(log_a.cancelled() && log_b.cancelled());
    assert!(probe.released());
}

#[test]
fn zip_cancel_releases_and_cancels_both() {
    let (a, b) = (Hot::default(), Hot::default());
    let (m, probe) = manual::<(u32, u32)>();
    backflow::zip(a.clone(), b.clone()).subscribe(m);
    a.emit(1);
    probe.cancel();
    assert!(a.cancelled() && b.cancelled());
    a.release();
    b.release();
    assert!(probe.released());
}

#[test]
fn zip_all_rows_and_empty() {
    let rows = backflow::zip_all((0..4u32).map(|i| backflow::range(i * 10..i * 10 + 3)))
        .collect()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![0, 10, 20, 30],
            vec![1, 11, 21, 31],
            vec![2, 12, 22, 32]
        ]
    );
    let none: Vec<backflow::flux::Boxed<u8>> = Vec::new();
    assert!(backflow::zip_all(none).collect().unwrap().is_empty());
    let with_empty = backflow::zip_all(vec![
        backflow::range(0..3u8).boxed(),
        backflow::empty().boxed(),
    ]);
    assert!(with_empty.collect().unwrap().is_empty());
}

// ---- combine_latest ----

#[test]
fn combine_latest_in_arrival_order_even_when_demand_comes_late() {
    let (a, b) = (Hot::default(), Hot::default());
    let (m, probe) = manual();
    backflow::combine_latest(a.clone(), b.clone(), |x, y| (*x, *y)).subscribe(m);
    a.emit(1);
    a.emit(2); // superseded before b's first item: never combined
    b.emit(10);
    a.emit(3);
    b.emit(20);
    b.emit(30);
    a.emit(4);
    assert!(probe.items().is_empty(), "no demand yet");
    probe.request(2);
    assert_eq!(probe.items(), vec![(2, 10), (3, 10)]);
    probe.request(10);
    assert_eq!(
        probe.items(),
        vec![(2, 10), (3, 10), (3, 20), (3, 30), (4, 30)]
    );
    a.complete();
    b.emit(40);
    assert_eq!(probe.items().last(), Some(&(4, 40)), "a's last value stays");
    assert_eq!(probe.completed(), 0);
    b.complete();
    assert_eq!(probe.completed(), 1);
    assert!(probe.released());
}

#[test]
fn combine_latest_synchronous_inputs() {
    let out = backflow::combine_latest(
        backflow::from_iter(vec![1u32, 2]),
        backflow::range(10..13u32),
        |a, b| a * 100 + b,
    )
    .collect()
    .unwrap();
    assert_eq!(out, vec![210, 211, 212]);
}

#[test]
fn combine_latest_completes_at_once_when_a_source_completes_empty() {
    let (never, log) = spied(backflow::never::<u32>());
    let out = backflow::combine_latest(never, backflow::empty::<u32>(), |a, b| a + b)
        .collect()
        .unwrap();
    assert!(out.is_empty());
    assert!(log.cancelled());
}

#[test]
fn combine_latest_demand_is_bounded_by_the_prefetch() {
    let (a, log_a) = spied(backflow::range(0..1000u32));
    let (b, log_b) = spied(backflow::range(0..1000u32));
    let (m, probe) = manual();
    Flux::new(
        backflow::combine_latest(a, b, |x, y| x + y)
            .into_inner()
            .prefetch(8),
    )
    .subscribe(m);
    // a was subscribed first and sent its prefetch (0..8); those only replace the latest value
    // (b has none yet), so they are taken without demand. b's items each need a credit: none
    // is taken, and b is not asked for more than its prefetch.
    assert_eq!(log_b.requests(), vec![8]);
    probe.request(3);
    assert_eq!(probe.items(), vec![7, 8, 9]);
    probe.request(u64::MAX);
    // Every item but a's first 8 yields one output.
    assert_eq!(probe.items().len(), 2000 - 8);
    assert_eq!(probe.completed(), 1);
    for log in [log_a, log_b] {
        assert!(log.max_outstanding.load(Ordering::SeqCst) <= 8);
    }
}

#[test]
fn combine_latest_error_after_the_held_items() {
    let (a, b) = (Hot::default(), Hot::default());
    let (m, probe) = manual();
    backflow::combine_latest(a.clone(), b.clone(), |x, y| x + y).subscribe(m);
    a.emit(1);
    b.emit(10);
    b.fail(Error::msg("b failed"));
    assert!(a.cancelled());
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.items(), vec![11]);
    assert_eq!(probe.error().unwrap().to_string(), "b failed");
}

#[test]
fn combine_latest_inputs_on_different_threads() {
    let a = threaded(0..20_000);
    let b = threaded(0..20_000);
    let out = Flux::new(a.clone())
        .combine_latest_with(b.clone(), |x, y| (*x, *y))
        .collect()
        .unwrap();
    a.join();
    b.join();
    assert_eq!(out.last(), Some(&(19_999, 19_999)));
    assert!(out.len() < 40_000 && out.len() >= 20_000);
    // Every item after the first output yields exactly one output, in arrival order: one side
    // moves forward by exactly one from each output to the next.
    assert!(out
        .windows(2)
        .all(|w| (w[1].0 - w[0].0) + (w[1].1 - w[0].1) == 1));
    // And every item of the side that started second is combined.
    let first = out[0];
    assert_eq!(
        out.len() as u64,
        (19_999 - first.0) + (19_999 - first.1) + 1
    );
}
