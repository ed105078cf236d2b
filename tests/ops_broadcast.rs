//! `broadcast` / `share`: min-demand pacing, lossless and lossy delivery, late subscribers,
//! cancel, ref counting and reconnects, terminal replay, panics, threads, release of subscribers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use backflow::metrics::{DropReason, StageMetrics};
use backflow::ops::{ErrorMode, Lane};
use backflow::prelude::*;

// ---- a recording subscriber, driven from the test through its `Handle` ----

#[derive(Default)]
struct Seen {
    items: Vec<u64>,
    completed: u32,
    errors: Vec<Error>,
}

struct Probe {
    seen: Arc<Mutex<Seen>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    initial: u64,
    panic_at: Option<u64>,
    /// Runs first thing in `on_subscribe` (a subscriber slow to subscribe).
    on_subscribe: Option<Box<dyn FnOnce() + Send>>,
    _token: Arc<()>,
}

#[derive(Clone)]
struct Handle {
    seen: Arc<Mutex<Seen>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
}

/// A subscriber that requests `initial` in `on_subscribe` (0: nothing) and records every signal.
fn probe(initial: u64) -> (Probe, Handle, Weak<()>) {
    let token = Arc::new(());
    let weak = Arc::downgrade(&token);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let subscription = Arc::new(Mutex::new(None));
    let handle = Handle {
        seen: seen.clone(),
        subscription: subscription.clone(),
    };
    let probe = Probe {
        seen,
        subscription,
        initial,
        panic_at: None,
        on_subscribe: None,
        _token: token,
    };
    (probe, handle, weak)
}

impl Subscriber<u64> for Probe {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        if let Some(hook) = self.on_subscribe.take() {
            hook();
        }
        *self.subscription.lock().unwrap() = Some(s.clone());
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, x: u64) {
        self.seen.lock().unwrap().items.push(x);
        if self.panic_at == Some(x) {
            panic!("probe panics at {x}");
        }
    }
    fn on_error(&mut self, e: Error) {
        self.seen.lock().unwrap().errors.push(e);
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().completed += 1;
    }
}

impl Handle {
    fn subscription(&self) -> SharedSubscription {
        // Cloned out, so no lock is held while the hub delivers inside `request`.
        let s = self.subscription.lock().unwrap().clone();
        s.expect("subscribed")
    }
    fn request(&self, n: u64) {
        self.subscription().request(n)
    }
    fn cancel(&self) {
        self.subscription().cancel()
    }
    fn items(&self) -> Vec<u64> {
        self.seen.lock().unwrap().items.clone()
    }
    fn len(&self) -> usize {
        self.seen.lock().unwrap().items.len()
    }
    fn completed(&self) -> bool {
        let seen = self.seen.lock().unwrap();
        assert!(seen.completed <= 1, "on_complete twice");
        seen.completed == 1
    }
    fn error(&self) -> Option<ErrorKind> {
        let seen = self.seen.lock().unwrap();
        assert!(seen.errors.len() <= 1, "on_error twice");
        seen.errors.first().map(|e| e.kind())
    }
    fn terminated(&self) -> bool {
        self.completed() || self.error().is_some()
    }
}

// ---- a spy on an upstream: its requests, subscriptions and cancels ----

#[derive(Default)]
struct Log {
    requests: Mutex<Vec<u64>>,
    subscriptions: AtomicUsize,
    cancels: AtomicUsize,
}

impl Log {
    fn requested(&self) -> u64 {
        self.requests.lock().unwrap().iter().sum()
    }
    fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Spy<P> {
    inner: P,
    log: Arc<Log>,
}

fn spy<P>(inner: P) -> (Flux<Spy<P>>, Arc<Log>) {
    let log = Arc::new(Log::default());
    (
        Flux::new(Spy {
            inner,
            log: log.clone(),
        }),
        log,
    )
}

struct SpySubscriber<S> {
    down: S,
    log: Arc<Log>,
}

struct SpySubscription {
    up: SharedSubscription,
    log: Arc<Log>,
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        self.log.requests.lock().unwrap().push(n);
        self.up.request(n)
    }
    fn cancel(&self) {
        self.log.cancels.fetch_add(1, Ordering::SeqCst);
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
        self.down.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl<P: Publisher> Publisher for Spy<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.log.subscriptions.fetch_add(1, Ordering::SeqCst);
        self.inner.subscribe(SpySubscriber {
            down: subscriber,
            log: self.log.clone(),
        })
    }
}

// ---- a hot source the test pushes into, honouring demand ----

#[derive(Clone, Default)]
struct Hot {
    inner: Arc<HotInner>,
}

#[derive(Default)]
struct HotInner {
    subscriber: Mutex<Option<Box<dyn Subscriber<u64>>>>,
    requested: AtomicU64,
    emitted: AtomicU64,
    cancelled: AtomicBool,
    subscriptions: AtomicUsize,
}

struct HotSubscription(Arc<HotInner>);

impl Subscription for HotSubscription {
    fn request(&self, n: u64) {
        self.0.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Hot {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        self.inner.subscriptions.fetch_add(1, Ordering::SeqCst);
        self.inner.cancelled.store(false, Ordering::SeqCst);
        self.inner.requested.store(0, Ordering::SeqCst);
        self.inner.emitted.store(0, Ordering::SeqCst);
        let mut boxed: Box<dyn Subscriber<u64>> = Box::new(subscriber);
        boxed.on_subscribe(Arc::new(HotSubscription(self.inner.clone())));
        *self.inner.subscriber.lock().unwrap() = Some(boxed);
    }
}

impl Hot {
    /// Emits `x` if there is demand; returns whether it did.
    fn emit(&self, x: u64) -> bool {
        let inner = &self.inner;
        if inner.cancelled.load(Ordering::SeqCst)
            || inner.emitted.load(Ordering::SeqCst) >= inner.requested.load(Ordering::SeqCst)
        {
            return false;
        }
        inner.emitted.fetch_add(1, Ordering::SeqCst);
        let mut subscriber = inner.subscriber.lock().unwrap();
        subscriber.as_mut().expect("subscribed").on_next(x);
        true
    }
    fn emit_all(&self, items: impl IntoIterator<Item = u64>) {
        for x in items {
            assert!(self.emit(x), "no demand for {x}");
        }
    }
    fn complete(&self) {
        let subscriber = self.inner.subscriber.lock().unwrap().take();
        subscriber.expect("subscribed").on_complete();
    }
    fn fail(&self, e: Error) {
        let subscriber = self.inner.subscriber.lock().unwrap().take();
        subscriber.expect("subscribed").on_error(e);
    }
    fn requested(&self) -> u64 {
        self.inner.requested.load(Ordering::SeqCst)
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }
    fn subscriptions(&self) -> usize {
        self.inner.subscriptions.load(Ordering::SeqCst)
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

// ---- lossless delivery and pacing ----

#[test]
fn smoke_every_subscriber_gets_every_item() {
    let hub = backflow::range(0..1000u64).broadcast_with(16);
    let probes: Vec<_> = (0..3).map(|_| probe(u64::MAX)).collect();
    let mut handles = Vec::new();
    for (p, h, _) in probes {
        hub.subscribe(p);
        handles.push(h);
    }
    let chained = Arc::new(Mutex::new(Vec::new()));
    let c = chained.clone();
    hub.clone()
        .filter(|x| x % 3 == 0)
        .map(|x| x * 2)
        .subscribe_with(move |x| c.lock().unwrap().push(x), |e| panic!("{e}"), || {});
    hub.connect();
    for h in &handles {
        assert_eq!(h.items(), (0..1000).collect::<Vec<_>>());
        assert!(h.completed());
    }
    let expected: Vec<u64> = (0..1000).filter(|x| x % 3 == 0).map(|x| x * 2).collect();
    assert_eq!(*chained.lock().unwrap(), expected);
}

#[test]
fn the_slowest_subscriber_sets_the_upstream_pace() {
    let (source, log) = spy(backflow::range(0..1000u64));
    let hub = source.broadcast_with(16);
    let (slow, slow_h, _) = probe(5);
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(slow);
    hub.subscribe(fast);
    hub.connect();
    // Prefetch only: the fast one runs ahead by the window, the slow one took its 5.
    assert_eq!(log.requests(), vec![16]);
    assert_eq!(fast_h.len(), 16);
    assert_eq!(slow_h.len(), 5);
    // 12 taken by both = 75% of 16: one top-up of what was released.
    slow_h.request(7);
    assert_eq!(log.requests(), vec![16, 12]);
    assert_eq!(slow_h.len(), 12);
    assert_eq!(fast_h.len(), 28);
    // Never more upstream than the slowest took plus the window.
    for step in [1u64, 3, 9, 30, 2] {
        slow_h.request(step);
        let least = slow_h.len().min(fast_h.len()) as u64;
        assert!(
            log.requested() <= least + 16,
            "requested {} with the slowest at {least}",
            log.requested()
        );
        assert!(fast_h.len() as u64 <= least + 16);
    }
    slow_h.request(u64::MAX);
    assert_eq!(slow_h.items(), (0..1000).collect::<Vec<_>>());
    assert_eq!(fast_h.items(), (0..1000).collect::<Vec<_>>());
    assert!(slow_h.completed() && fast_h.completed());
}

#[test]
fn a_subscriber_that_never_requests_stalls_a_lossless_hub() {
    let (source, log) = spy(backflow::range(0..1000u64));
    let hub = source.broadcast_with(16);
    let (idle, _idle_h, _) = probe(0);
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(idle);
    hub.subscribe(fast);
    hub.connect();
    assert_eq!(fast_h.len(), 16);
    assert_eq!(log.requested(), 16);
    assert!(!fast_h.completed());
}

// ---- lossy lanes ----

#[test]
fn a_lossy_lane_does_not_stall_the_others() {
    let (source, log) = spy(backflow::range(0..10_000u64));
    let hub = source.broadcast_with(16);
    let metrics = Arc::new(StageMetrics::new("slow lane", 4));
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let lane = hub
        .lane(Lane::DropOldest(4))
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .metrics(metrics.clone());
    let (slow, slow_h, _) = probe(0);
    let (fast, fast_h, _) = probe(u64::MAX);
    lane.subscribe(slow);
    hub.subscribe(fast);
    hub.connect();
    assert_eq!(fast_h.items(), (0..10_000).collect::<Vec<_>>());
    assert!(fast_h.completed());
    assert!(log.requested() <= 10_000 + 16, "bounded by the window");
    assert!(slow_h.items().is_empty());
    {
        let dropped = dropped.lock().unwrap();
        assert_eq!(dropped.len(), 10_000 - 4);
        assert!(dropped.iter().all(|(_, r)| *r == DropReason::Evicted));
        // Oldest first.
        assert!(dropped.windows(2).all(|w| w[0].0 < w[1].0));
    }
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.dropped.total(), 10_000 - 4);
    assert_eq!(snapshot.received, 10_000);
    // The lane kept the newest 4, then the completion.
    slow_h.request(10);
    assert_eq!(slow_h.items(), vec![9996, 9997, 9998, 9999]);
    assert!(slow_h.completed());
}

#[test]
fn latest_lane_hands_over_the_newest_item() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (slow, slow_h, _) = probe(0);
    hub.lane(Lane::Latest).subscribe(slow);
    hub.connect();
    hot.emit_all(0..5);
    slow_h.request(1);
    assert_eq!(slow_h.items(), vec![4]);
    hot.emit_all(5..8);
    slow_h.request(2);
    assert_eq!(slow_h.items(), vec![4, 7]);
    // Demand left over takes the next item straight away.
    hot.emit_all(8..9);
    assert_eq!(slow_h.items(), vec![4, 7, 8]);
}

#[test]
fn cancelling_a_lossy_lane_drops_its_queue_as_cancelled() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (slow, slow_h, weak) = probe(0);
    hub.lane(Lane::DropOldest(3))
        .on_drop(move |x, r| d.lock().unwrap().push((x, r)))
        .subscribe(slow);
    hub.connect();
    hot.emit_all(0..2);
    slow_h.cancel();
    assert_eq!(
        *dropped.lock().unwrap(),
        vec![(0, DropReason::Cancelled), (1, DropReason::Cancelled)]
    );
    assert!(weak.upgrade().is_none());
}

/// The lane's `request` itself runs the drain: queued items go out at once, on the requesting
/// thread, with no new upstream item to wake the hub; the completion follows the last held item.
#[test]
fn a_lossy_lane_request_from_another_thread_delivers_its_queue_there() {
    struct OnThread {
        seen: Arc<Mutex<Vec<(u64, std::thread::ThreadId)>>>,
        subscription: Arc<Mutex<Option<SharedSubscription>>>,
        completed_on: Arc<Mutex<Option<std::thread::ThreadId>>>,
    }
    impl Subscriber<u64> for OnThread {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            *self.subscription.lock().unwrap() = Some(s);
        }
        fn on_next(&mut self, x: u64) {
            self.seen
                .lock()
                .unwrap()
                .push((x, std::thread::current().id()));
        }
        fn on_error(&mut self, e: Error) {
            panic!("unexpected error {e}");
        }
        fn on_complete(&mut self) {
            *self.completed_on.lock().unwrap() = Some(std::thread::current().id());
        }
    }
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let completed_on = Arc::new(Mutex::new(None));
    hub.lane(Lane::DropOldest(4)).subscribe(OnThread {
        seen: seen.clone(),
        subscription: subscription.clone(),
        completed_on: completed_on.clone(),
    });
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(fast);
    hub.connect();
    hot.emit_all(0..6);
    assert_eq!(fast_h.len(), 6);
    assert!(seen.lock().unwrap().is_empty());
    let lane = subscription.lock().unwrap().clone().expect("subscribed");

    let l = lane.clone();
    let requester = std::thread::spawn(move || {
        l.request(3);
        std::thread::current().id()
    })
    .join()
    .unwrap();
    // Held: the newest 4 (0 and 1 were evicted); the first 3 of them went out inside `request`.
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(2, requester), (3, requester), (4, requester)]
    );

    hot.complete();
    assert!(fast_h.completed());
    assert!(
        completed_on.lock().unwrap().is_none(),
        "an item is still held"
    );
    let requester = std::thread::spawn(move || {
        lane.request(1);
        std::thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&(5, requester)));
    assert_eq!(*completed_on.lock().unwrap(), Some(requester));
}

/// A lossless member that re-requests as it consumes (as `Request::Batch` sinks do) must not keep
/// the drain to itself: a lane whose subscriber asks for one more each time it got one (as
/// `publish_on` does from its worker) is served between the other's items, so it misses none.
#[test]
fn a_re_requesting_member_does_not_starve_a_lossy_lane() {
    struct Lossy {
        seen: Arc<Mutex<Vec<u64>>>,
        got: Arc<AtomicBool>,
    }
    impl Subscriber<u64> for Lossy {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1);
        }
        fn on_next(&mut self, x: u64) {
            self.seen.lock().unwrap().push(x);
            self.got.store(true, Ordering::SeqCst);
        }
        fn on_error(&mut self, e: Error) {
            panic!("unexpected error {e}");
        }
        fn on_complete(&mut self) {}
    }
    /// Requests one at a time from `on_next`, and passes the lane's "one more" on, standing in
    /// for a worker thread whose request lands while this member is being served.
    struct OneByOne {
        own: Option<SharedSubscription>,
        lane: Arc<Mutex<Option<SharedSubscription>>>,
        lane_got: Arc<AtomicBool>,
        count: Arc<AtomicU64>,
    }
    impl Subscriber<u64> for OneByOne {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1);
            self.own = Some(s);
        }
        fn on_next(&mut self, _: u64) {
            self.count.fetch_add(1, Ordering::SeqCst);
            self.own.as_ref().unwrap().request(1);
            if self.lane_got.swap(false, Ordering::SeqCst) {
                let lane = self.lane.lock().unwrap().clone();
                lane.expect("subscribed").request(1);
            }
        }
        fn on_error(&mut self, e: Error) {
            panic!("unexpected error {e}");
        }
        fn on_complete(&mut self) {}
    }
    struct Keep<S>(S, Arc<Mutex<Option<SharedSubscription>>>);
    impl<S: Subscriber<u64>> Subscriber<u64> for Keep<S> {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            *self.1.lock().unwrap() = Some(s.clone());
            self.0.on_subscribe(s)
        }
        fn on_next(&mut self, x: u64) {
            self.0.on_next(x)
        }
        fn on_error(&mut self, e: Error) {
            self.0.on_error(e)
        }
        fn on_complete(&mut self) {
            self.0.on_complete()
        }
    }

    let hub = backflow::range(0..100u64).broadcast_with(4);
    let evicted = Arc::new(AtomicU64::new(0));
    let e = evicted.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lane_got = Arc::new(AtomicBool::new(false));
    let lane_sub = Arc::new(Mutex::new(None));
    hub.lane(Lane::DropOldest(8))
        .on_drop(move |_, _| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe(Keep(
            Lossy {
                seen: seen.clone(),
                got: lane_got.clone(),
            },
            lane_sub.clone(),
        ));
    let count = Arc::new(AtomicU64::new(0));
    hub.subscribe(OneByOne {
        own: None,
        lane: lane_sub,
        lane_got,
        count: count.clone(),
    });
    hub.connect();
    assert_eq!(count.load(Ordering::SeqCst), 100);
    assert_eq!(evicted.load(Ordering::SeqCst), 0);
    assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

/// Through `publish_on`, which requests from its worker thread while the slow lossless member
/// holds the drain: every item is either delivered in order or counted as evicted, and what the
/// lane holds at the end reaches it before its completion.
#[test]
fn a_lossy_lane_behind_publish_on_keeps_up_with_a_slow_lossless_member() {
    let hub = backflow::range(0..2_000u64)
        .broadcast_with(4)
        .auto_connect(2);
    let evicted = Arc::new(AtomicU64::new(0));
    let e = evicted.clone();
    let fast = hub
        .lane(Lane::DropOldest(8))
        .on_drop(move |_, _| {
            e.fetch_add(1, Ordering::Relaxed);
        })
        .publish_on(backflow::sched::single())
        .prefetch(2);
    let slow = hub.lane(Lane::Lossless);
    let fast = std::thread::spawn(move || fast.collect_with(Request::Batch(1)).unwrap());
    // Slow: each item costs a little work, and demand comes one at a time.
    let slow = std::thread::spawn(move || {
        slow.fold_with(Request::Batch(1), 0u64, |n, x| {
            let mut h = x;
            for _ in 0..2_000 {
                h = std::hint::black_box(h.wrapping_mul(31).wrapping_add(7));
            }
            std::hint::black_box(h);
            n + 1
        })
        .unwrap()
    });
    assert_eq!(slow.join().unwrap(), 2_000);
    let fast = fast.join().unwrap();
    let evicted = evicted.load(Ordering::Relaxed);
    assert_eq!(fast.len() as u64 + evicted, 2_000);
    assert!(fast.windows(2).all(|w| w[0] < w[1]));
    // How many it keeps depends on the scheduler; what is held always comes out, so the newest
    // item is never lost.
    assert_eq!(fast.last(), Some(&1_999));
}

// ---- late subscribers, cancel, ref counting ----

#[test]
fn a_late_subscriber_sees_only_later_items() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (early, early_h, _) = probe(u64::MAX);
    hub.subscribe(early);
    hub.connect();
    hot.emit_all(0..3);
    let (late, late_h, _) = probe(u64::MAX);
    hub.subscribe(late);
    hot.emit_all(3..5);
    hot.complete();
    assert_eq!(early_h.items(), vec![0, 1, 2, 3, 4]);
    assert_eq!(late_h.items(), vec![3, 4]);
    assert!(early_h.completed() && late_h.completed());
}

#[test]
fn items_nobody_received_wait_for_the_first_subscriber() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(4);
    hub.connect();
    hot.emit_all(0..4);
    assert!(
        !hot.emit(4),
        "a hub without subscribers stops at its window"
    );
    let (first, first_h, _) = probe(u64::MAX);
    hub.subscribe(first);
    assert_eq!(first_h.items(), vec![0, 1, 2, 3]);
    hot.emit_all(4..6);
    assert_eq!(first_h.items(), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_late_subscriber_behind_a_slow_one_starts_at_the_frontier() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (slow, slow_h, _) = probe(1);
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(slow);
    hub.subscribe(fast);
    hub.connect();
    hot.emit_all(0..4);
    // 1..4 are still held for the slow one, but the fast one has seen them: the newcomer hasn't.
    let (late, late_h, _) = probe(u64::MAX);
    hub.subscribe(late);
    hot.emit_all(4..6);
    assert_eq!(slow_h.items(), vec![0]);
    assert_eq!(fast_h.items(), (0..6).collect::<Vec<_>>());
    assert_eq!(late_h.items(), vec![4, 5]);
    slow_h.request(u64::MAX);
    assert_eq!(slow_h.items(), (0..6).collect::<Vec<_>>());
}

#[test]
fn cancelling_one_subscriber_releases_it_and_unblocks_the_window() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(4);
    let (stuck, stuck_h, stuck_weak) = probe(0);
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(stuck);
    hub.subscribe(fast);
    hub.connect();
    hot.emit_all(0..4);
    assert_eq!(hot.requested(), 4, "the stuck subscriber holds the window");
    stuck_h.cancel();
    assert!(stuck_weak.upgrade().is_none(), "rule 3.13");
    assert_eq!(
        hot.requested(),
        8,
        "its items were released and replenished"
    );
    hot.emit_all(4..8);
    assert_eq!(fast_h.items(), (0..8).collect::<Vec<_>>());
    assert!(stuck_h.items().is_empty());
    assert!(!stuck_h.terminated());
    assert!(
        !hot.cancelled(),
        "a broadcast stays connected without subscribers"
    );
}

#[test]
fn share_cancels_upstream_when_the_last_subscriber_leaves_and_reconnects() {
    let hot = Hot::default();
    let shared = Flux::new(hot.clone()).share();
    let (a, a_h, _) = probe(u64::MAX);
    shared.subscribe(a);
    assert_eq!(hot.subscriptions(), 1, "connects on the first subscriber");
    let (b, b_h, _) = probe(u64::MAX);
    shared.subscribe(b);
    assert_eq!(hot.subscriptions(), 1);
    hot.emit_all(0..2);
    a_h.cancel();
    assert!(!hot.cancelled());
    hot.emit_all(2..3);
    b_h.cancel();
    assert!(hot.cancelled(), "the last one leaving cancels upstream");
    assert_eq!(a_h.items(), vec![0, 1]);
    assert_eq!(b_h.items(), vec![0, 1, 2]);
    // A later subscriber subscribes upstream again.
    let (c, c_h, _) = probe(u64::MAX);
    shared.subscribe(c);
    assert_eq!(hot.subscriptions(), 2);
    assert!(!hot.cancelled());
    hot.emit_all(10..12);
    hot.complete();
    assert_eq!(c_h.items(), vec![10, 11]);
    assert!(c_h.completed());
}

#[test]
fn share_reconnects_after_completion_instead_of_replaying() {
    let (source, log) = spy(backflow::range(0..3u64));
    let shared = source.share();
    assert_eq!(shared.clone().collect().unwrap(), vec![0, 1, 2]);
    assert_eq!(shared.clone().collect().unwrap(), vec![0, 1, 2]);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 2);
}

#[test]
fn ref_count_waits_for_n_subscribers() {
    let (source, log) = spy(backflow::range(0..50u64));
    let hub = source.broadcast_with(8).ref_count(2);
    let (a, a_h, _) = probe(u64::MAX);
    hub.subscribe(a);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 0);
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(b);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 1);
    assert_eq!(a_h.items(), (0..50).collect::<Vec<_>>());
    assert_eq!(b_h.items(), (0..50).collect::<Vec<_>>());
}

#[test]
fn auto_connect_connects_at_the_nth_subscriber_once() {
    let (source, log) = spy(backflow::range(0..20u64));
    let hub = source.broadcast_with(4).auto_connect(2);
    let (a, a_h, _) = probe(u64::MAX);
    hub.subscribe(a);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 0);
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(b);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 1);
    assert!(a_h.completed() && b_h.completed());
    assert_eq!(b_h.items(), (0..20).collect::<Vec<_>>());
    let (c, c_h, _) = probe(u64::MAX);
    hub.subscribe(c);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 1, "once");
    assert!(c_h.completed(), "the terminal is replayed");
}

/// The first of `n` subscribers is still inside its `on_subscribe` (on another thread) when the
/// second arrives: the second must not connect the hub past it. It used to (arrivals were counted
/// when their place was reserved), and the first missed every item the second took meanwhile —
/// neither delivered nor dropped.
fn a_subscriber_still_in_on_subscribe_gets_every_item<H>(hub: H, log: Arc<Log>)
where
    H: Publisher<Item = u64> + Send + Sync + 'static,
{
    let hub = Arc::new(hub);
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let (mut a, a_h, _) = probe(u64::MAX);
    // Tells the test it has started, then waits for a go.
    a.on_subscribe = Some(Box::new(move || {
        entered_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    }));
    let first = {
        let hub = hub.clone();
        std::thread::spawn(move || hub.subscribe(a))
    };
    entered.recv().unwrap();
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(b);
    assert_eq!(
        log.subscriptions.load(Ordering::SeqCst),
        0,
        "one of the two is not subscribed yet"
    );
    go.send(()).unwrap();
    first.join().unwrap();
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 1);
    assert_eq!(a_h.items(), (0..20).collect::<Vec<_>>());
    assert_eq!(b_h.items(), (0..20).collect::<Vec<_>>());
    assert!(a_h.completed() && b_h.completed());
}

#[test]
fn auto_connect_waits_for_a_subscriber_still_in_on_subscribe() {
    let (source, log) = spy(backflow::range(0..20u64));
    a_subscriber_still_in_on_subscribe_gets_every_item(
        source.broadcast_with(4).auto_connect(2),
        log,
    );
}

#[test]
fn ref_count_waits_for_a_subscriber_still_in_on_subscribe() {
    let (source, log) = spy(backflow::range(0..20u64));
    a_subscriber_still_in_on_subscribe_gets_every_item(source.broadcast_with(4).ref_count(2), log);
}

// ---- termination ----

#[test]
fn a_subscriber_after_termination_gets_the_terminal_at_once() {
    let hub = backflow::range(0..3u64).broadcast();
    let (a, a_h, _) = probe(u64::MAX);
    hub.subscribe(a);
    hub.connect();
    assert!(a_h.completed());
    let (late, late_h, late_weak) = probe(0);
    hub.subscribe(late);
    assert!(late_h.completed(), "completion needs no request");
    assert!(late_h.items().is_empty());
    assert!(late_weak.upgrade().is_none());

    let failing = backflow::error::<u64>(Error::msg("boom")).broadcast();
    failing.connect();
    let (late, late_h, _) = probe(0);
    failing.subscribe(late);
    assert_eq!(late_h.error(), Some(ErrorKind::Custom));
}

#[test]
fn connect_after_termination_starts_a_fresh_run() {
    let (source, log) = spy(backflow::range(0..3u64));
    let hub = source.broadcast();
    let (a, a_h, _) = probe(u64::MAX);
    hub.subscribe(a);
    hub.connect();
    assert!(a_h.completed());
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(b);
    assert!(b_h.completed() && b_h.items().is_empty(), "replayed");
    let (c, c_h, _) = probe(u64::MAX);
    hub.connect();
    hub.subscribe(c);
    assert_eq!(log.subscriptions.load(Ordering::SeqCst), 2);
    // A synchronous source ran inside connect(): the items waited for the first subscriber.
    assert_eq!(c_h.items(), vec![0, 1, 2]);
    assert!(c_h.completed());
}

#[test]
fn completion_waits_for_each_subscribers_held_items() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (slow, slow_h, _) = probe(1);
    let (fast, fast_h, _) = probe(u64::MAX);
    hub.subscribe(slow);
    hub.subscribe(fast);
    hub.connect();
    hot.emit_all(0..3);
    hot.complete();
    assert!(fast_h.completed());
    assert!(!slow_h.completed());
    slow_h.request(2);
    assert_eq!(slow_h.items(), vec![0, 1, 2]);
    assert!(
        slow_h.completed(),
        "completes once its last item went, without another request"
    );
}

#[test]
fn an_error_reaches_everyone_after_their_items_or_at_once_when_immediate() {
    for mode in [ErrorMode::AfterDrain, ErrorMode::Immediate] {
        let hot = Hot::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let hub = Flux::new(hot.clone())
            .broadcast_with(8)
            .error_mode(mode)
            .on_drop(move |_, r| {
                assert_eq!(r, DropReason::Cancelled);
                d.fetch_add(1, Ordering::SeqCst);
            });
        let (slow, slow_h, _) = probe(1);
        let (fast, fast_h, _) = probe(u64::MAX);
        hub.subscribe(slow);
        hub.subscribe(fast);
        hub.connect();
        hot.emit_all(0..3);
        hot.fail(Error::msg("boom"));
        assert_eq!(fast_h.error(), Some(ErrorKind::Custom));
        match mode {
            ErrorMode::AfterDrain => {
                assert_eq!(slow_h.error(), None);
                slow_h.request(5);
                assert_eq!(slow_h.items(), vec![0, 1, 2]);
                assert_eq!(dropped.load(Ordering::SeqCst), 0);
            }
            ErrorMode::Immediate => {
                assert_eq!(slow_h.items(), vec![0]);
                assert_eq!(dropped.load(Ordering::SeqCst), 2);
            }
        }
        assert_eq!(slow_h.error(), Some(ErrorKind::Custom));
    }
}

#[test]
fn disconnect_cancels_upstream_and_closes_subscribers() {
    let hot = Hot::default();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let hub = Flux::new(hot.clone())
        .broadcast_with(8)
        .on_drop(move |_, r| {
            assert_eq!(r, DropReason::Cancelled);
            d.fetch_add(1, Ordering::SeqCst);
        });
    let (a, a_h, a_weak) = probe(1);
    hub.subscribe(a);
    let connection = hub.connect();
    assert!(connection.is_connected());
    hot.emit_all(0..3);
    connection.disconnect();
    assert!(hot.cancelled());
    assert!(!connection.is_connected());
    assert_eq!(a_h.items(), vec![0]);
    assert_eq!(a_h.error(), Some(ErrorKind::Closed));
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "the held items");
    assert!(a_weak.upgrade().is_none());
    // Later subscribers wait for the next connect.
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(b);
    assert!(!b_h.terminated());
    hub.connect();
    assert_eq!(hot.subscriptions(), 2);
    hot.emit_all(7..9);
    assert_eq!(b_h.items(), vec![7, 8]);
}

// ---- protocol defence ----

#[test]
fn a_panicking_subscriber_is_removed_and_the_others_continue() {
    let hub = backflow::range(0..100u64).broadcast_with(16);
    let (mut bad, bad_h, bad_weak) = probe(u64::MAX);
    bad.panic_at = Some(2);
    let (good, good_h, _) = probe(u64::MAX);
    hub.subscribe(bad);
    hub.subscribe(good);
    hub.connect();
    assert_eq!(bad_h.items(), vec![0, 1, 2]);
    assert_eq!(bad_h.error(), Some(ErrorKind::Panicked));
    assert!(bad_weak.upgrade().is_none());
    assert_eq!(good_h.items(), (0..100).collect::<Vec<_>>());
    assert!(good_h.completed());
}

#[test]
fn request_zero_fails_only_that_subscriber() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (a, a_h, _) = probe(u64::MAX);
    let (b, b_h, _) = probe(u64::MAX);
    hub.subscribe(a);
    hub.subscribe(b);
    hub.connect();
    hot.emit_all(0..2);
    a_h.request(0);
    assert_eq!(a_h.error(), Some(ErrorKind::InvalidDemand));
    hot.emit_all(2..4);
    assert_eq!(a_h.items(), vec![0, 1]);
    assert_eq!(b_h.items(), vec![0, 1, 2, 3]);
}

/// A publisher that ignores demand: `on_subscribe`, then `items` items at once.
struct Flood {
    items: u64,
    cancelled: Arc<AtomicBool>,
}

impl Publisher for Flood {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        struct Sub(Arc<AtomicBool>);
        impl Subscription for Sub {
            fn request(&self, _: u64) {}
            fn cancel(&self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        subscriber.on_subscribe(Arc::new(Sub(self.cancelled.clone())));
        for x in 0..self.items {
            subscriber.on_next(x);
        }
        subscriber.on_complete();
    }
}

#[test]
fn an_upstream_that_ignores_demand_fails_with_overflow() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let hub = Flux::new(Flood {
        items: 100,
        cancelled: cancelled.clone(),
    })
    .broadcast_with(4);
    // A subscriber that takes nothing, so the window fills; a fast one would keep the requests
    // ahead of the flood and make it compliant by accident.
    let (a, a_h, _) = probe(0);
    hub.subscribe(a);
    hub.connect();
    assert!(cancelled.load(Ordering::SeqCst));
    // What was requested is delivered, then the error (held items first, as for any error).
    a_h.request(10);
    assert_eq!(a_h.items(), vec![0, 1, 2, 3]);
    assert_eq!(a_h.error(), Some(ErrorKind::Overflow));
}

// ---- threads ----

#[test]
fn subscribers_requesting_on_different_threads() {
    const N: u64 = 20_000;
    let (source, log) = spy(backflow::range(0..N));
    let hub = source.broadcast_with(32);
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (p, h, _) = probe(0);
        hub.subscribe(p);
        handles.push(h);
    }
    let threads: Vec<_> = handles
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, h)| {
            std::thread::spawn(move || {
                // Different batch sizes, so the subscribers drift apart and race.
                let batch = [1, 7, 64][i];
                let mut asked = 0;
                while asked < N {
                    h.request(batch);
                    asked += batch;
                    if asked % 256 < batch {
                        std::thread::yield_now();
                    }
                }
                wait_until("completion", || h.completed());
            })
        })
        .collect();
    hub.connect();
    for t in threads {
        t.join().unwrap();
    }
    for h in &handles {
        assert_eq!(h.items(), (0..N).collect::<Vec<_>>());
    }
    assert!(log.requested() <= N + 32);
}

#[test]
fn blocking_sinks_on_threads_with_auto_connect() {
    let hub = backflow::range(0..100_000u64)
        .broadcast_with(64)
        .auto_connect(3);
    let sums: Vec<_> = (0..3)
        .map(|_| {
            let h = hub.clone();
            std::thread::spawn(move || h.fold(0u64, |a, x| a + x).unwrap())
        })
        .collect();
    for s in sums {
        assert_eq!(s.join().unwrap(), (0..100_000u64).sum::<u64>());
    }
}

#[test]
fn subscribing_and_cancelling_while_the_upstream_runs_on_another_thread() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(16);
    let (steady, steady_h, _) = probe(u64::MAX);
    hub.subscribe(steady);
    hub.connect();
    let producer = {
        let hot = hot.clone();
        std::thread::spawn(move || {
            let mut x = 0;
            while x < 50_000 {
                if hot.emit(x) {
                    x += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            hot.complete();
        })
    };
    let mut weaks = Vec::new();
    for round in 0..200u64 {
        let (p, h, w) = probe(round % 5 + 1);
        let lossy = round % 2 == 0;
        if lossy {
            hub.lane(Lane::DropOldest(2)).subscribe(p);
        } else {
            hub.subscribe(p);
        }
        h.request(3);
        h.cancel();
        weaks.push(w);
        let items = h.items();
        assert!(items.windows(2).all(|w| w[0] < w[1]), "in order");
    }
    producer.join().unwrap();
    assert_eq!(steady_h.items(), (0..50_000).collect::<Vec<_>>());
    assert!(steady_h.completed());
    assert!(weaks.iter().all(|w| w.upgrade().is_none()));
}

// ---- release ----

#[test]
fn every_subscriber_is_released() {
    let hot = Hot::default();
    let hub = Flux::new(hot.clone()).broadcast_with(8);
    let (completes, _, w1) = probe(u64::MAX);
    let (cancels, cancels_h, w2) = probe(u64::MAX);
    let (mut panics, _, w3) = probe(u64::MAX);
    panics.panic_at = Some(1);
    let (lossy, lossy_h, w4) = probe(0);
    let (waits, waits_h, w5) = probe(0);
    hub.subscribe(completes);
    hub.subscribe(cancels);
    hub.subscribe(panics);
    hub.lane(Lane::Latest).subscribe(lossy);
    hub.subscribe(waits);
    hub.connect();
    hot.emit_all(0..2);
    cancels_h.cancel();
    assert!(w2.upgrade().is_none(), "cancelled");
    assert!(w3.upgrade().is_none(), "panicked");
    hot.complete();
    assert!(w1.upgrade().is_none(), "completed");
    assert!(
        w4.upgrade().is_some() && w5.upgrade().is_some(),
        "items left to take"
    );
    lossy_h.request(1);
    waits_h.request(2);
    assert!(
        w4.upgrade().is_none() && w5.upgrade().is_none(),
        "drained and completed"
    );
    // Nothing of the stream outlives the hub.
    let core_probe = Arc::downgrade(&hot.inner);
    drop(hub);
    drop(hot);
    assert!(core_probe.upgrade().is_none());
}

#[test]
fn the_hub_is_released_after_a_share_disconnects() {
    let hot = Hot::default();
    let shared = Flux::new(hot.clone()).share();
    let (a, a_h, a_weak) = probe(u64::MAX);
    shared.subscribe(a);
    hot.emit_all(0..3);
    a_h.cancel();
    assert!(hot.cancelled());
    assert!(a_weak.upgrade().is_none());
    // The upstream dropped its subscriber (the hub's) only if nothing holds it: the Hot source
    // keeps it until told otherwise, so release it as a real source would on cancel.
    hot.inner.subscriber.lock().unwrap().take();
    let inner = Arc::downgrade(&hot.inner);
    drop(shared);
    drop(hot);
    assert!(inner.upgrade().is_none(), "no cycle keeps the stream alive");
}

// ---- odds and ends ----

#[test]
fn auto_traits() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync_clone::<backflow::ops::Broadcast<backflow::source::Range<u64>>>();
    send_sync_clone::<backflow::ops::BroadcastLane<backflow::source::Range<u64>>>();
    send_sync_clone::<backflow::ops::Connection>();
    send_sync_clone::<Flux<backflow::ops::Broadcast<backflow::source::Range<u64>>>>();
}

#[test]
fn take_on_one_branch_cancels_only_that_branch() {
    let hub = backflow::range(0..1000u64).broadcast_with(32);
    let first = Arc::new(Mutex::new(Vec::new()));
    let f = first.clone();
    hub.clone().take(3).subscribe_with(
        move |x| f.lock().unwrap().push(x),
        |e| panic!("{e}"),
        || {},
    );
    let (all, all_h, _) = probe(u64::MAX);
    hub.subscribe(all);
    hub.connect();
    // take cancels inside its third item, in the middle of a run: nothing more reaches it.
    assert_eq!(*first.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(all_h.items(), (0..1000).collect::<Vec<_>>());
    assert!(all_h.completed());
}

#[test]
fn a_panicking_on_subscribe_is_turned_away_without_joining() {
    struct Bad(Arc<Mutex<Option<ErrorKind>>>);
    impl Subscriber<u64> for Bad {
        fn on_subscribe(&mut self, _: SharedSubscription) {
            panic!("on_subscribe panics")
        }
        fn on_next(&mut self, _: u64) {
            unreachable!("never joined")
        }
        fn on_error(&mut self, e: Error) {
            *self.0.lock().unwrap() = Some(e.kind());
        }
        fn on_complete(&mut self) {
            unreachable!("never joined")
        }
    }
    let hot = Hot::default();
    let shared = Flux::new(hot.clone()).share();
    let seen = Arc::new(Mutex::new(None));
    shared.subscribe(Bad(seen.clone()));
    assert_eq!(*seen.lock().unwrap(), Some(ErrorKind::Panicked));
    assert_eq!(
        hot.subscriptions(),
        0,
        "a subscriber that never joined does not connect"
    );
    let (a, a_h, _) = probe(u64::MAX);
    shared.subscribe(a);
    assert_eq!(hot.subscriptions(), 1);
    hot.emit_all(0..2);
    assert_eq!(a_h.items(), vec![0, 1]);
}
