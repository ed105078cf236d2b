//! `publish_on` and `subscribe_on`: which thread each signal and request happens on, order,
//! prefetch and top-ups, error modes, overflow, panics, cancel from any thread and what it
//! releases, and a multi-hop stress run.
//!
//! Deterministic where timing matters: [`VirtualTime`] runs the drain only when the test says so.
//! Where real threads are involved, tests wait for events on channels (bounded by a generous
//! timeout that only a hang reaches), never sleep.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use backflow::metrics::{DropReason, StageMetrics};
use backflow::ops::ErrorMode;
use backflow::prelude::*;
use backflow::sched::{self, Instant, Scheduler, Single, Task, TaskHandle, VirtualTime, Worker};

/// Far longer than any test needs; reached only if something hangs.
const PATIENCE: Duration = Duration::from_secs(20);

fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_string()
}

// ---- a hand-made recording subscriber ----

#[derive(Clone, Debug, PartialEq)]
enum Event<T> {
    Subscribed,
    Next(T),
    Error(ErrorKind),
    Complete,
}

/// Sends every signal (with the thread it arrived on) to a [`Probe`]; requests `initial` in
/// `on_subscribe` and `per_item` after each item.
struct Recorder<T> {
    events: Sender<(Event<T>, String)>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    initial: u64,
    per_item: u64,
    /// Set while `on_next` runs: a nested `on_next` would see it (rule 3.3: depth 1).
    in_on_next: bool,
    nested: Arc<AtomicBool>,
    /// Panics on the item equal to this, if set.
    panic_on: Option<T>,
    _alive: Arc<()>,
}

/// The test's side of a [`Recorder`].
struct Probe<T> {
    events: Receiver<(Event<T>, String)>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    nested: Arc<AtomicBool>,
    alive: Weak<()>,
}

fn new_recorder<T>(initial: u64, per_item: u64) -> (Recorder<T>, Probe<T>) {
    let (tx, rx) = mpsc::channel();
    let subscription = Arc::new(Mutex::new(None));
    let nested = Arc::new(AtomicBool::new(false));
    let alive = Arc::new(());
    let probe = Probe {
        events: rx,
        subscription: subscription.clone(),
        nested: nested.clone(),
        alive: Arc::downgrade(&alive),
    };
    let recorder = Recorder {
        events: tx,
        subscription,
        initial,
        per_item,
        in_on_next: false,
        nested,
        panic_on: None,
        _alive: alive,
    };
    (recorder, probe)
}

impl<T: Send + PartialEq> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self.subscription.lock().unwrap() = Some(subscription.clone());
        let _ = self.events.send((Event::Subscribed, thread_name()));
        if self.initial > 0 {
            subscription.request(self.initial);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.in_on_next {
            self.nested.store(true, Ordering::SeqCst);
        }
        self.in_on_next = true;
        if self.panic_on.as_ref() == Some(&item) {
            panic!("the recorder was told to panic");
        }
        let _ = self.events.send((Event::Next(item), thread_name()));
        if self.per_item > 0 {
            let subscription = self.subscription.lock().unwrap().clone();
            if let Some(subscription) = subscription {
                subscription.request(self.per_item);
            }
        }
        self.in_on_next = false;
    }

    fn on_error(&mut self, error: Error) {
        let _ = self
            .events
            .send((Event::Error(error.kind()), thread_name()));
    }

    fn on_complete(&mut self) {
        let _ = self.events.send((Event::Complete, thread_name()));
    }
}

impl<T> Probe<T> {
    fn request(&self, n: u64) {
        let subscription = self.subscription.lock().unwrap().clone();
        subscription.expect("subscribed").request(n);
    }

    fn cancel(&self) {
        let subscription = self.subscription.lock().unwrap().clone();
        subscription.expect("subscribed").cancel();
    }

    fn next(&self) -> (Event<T>, String) {
        self.events
            .recv_timeout(PATIENCE)
            .expect("no signal arrived")
    }

    /// Every event up to and including the terminal one.
    fn until_terminal(&self) -> Vec<(Event<T>, String)> {
        let mut events = Vec::new();
        loop {
            let event = self.next();
            let terminal = matches!(event.0, Event::Error(_) | Event::Complete);
            events.push(event);
            if terminal {
                return events;
            }
        }
    }

    /// The events already delivered, without waiting.
    fn drain(&self) -> Vec<Event<T>> {
        self.events.try_iter().map(|(event, _)| event).collect()
    }

    fn is_dropped(&self) -> bool {
        self.alive.upgrade().is_none()
    }
}

fn items<T: Clone>(events: &[Event<T>]) -> Vec<T> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Next(x) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

// ---- a hand-made upstream that records what it is asked ----

/// What a [`Spy`] saw from the stage below it.
#[derive(Default)]
struct SpyLog {
    /// Each request with the items emitted before it and the thread it came from.
    requests: Mutex<Vec<(u64, u64, String)>>,
    cancelled: AtomicBool,
    subscribed_on: Mutex<Option<String>>,
    emitted: AtomicU64,
}

/// Wraps a publisher and records the subscribe thread, every request and the cancel.
struct Spy<P> {
    inner: P,
    log: Arc<SpyLog>,
}

fn spy<P: Publisher>(inner: Flux<P>) -> (Flux<Spy<P>>, Arc<SpyLog>) {
    let log = Arc::new(SpyLog::default());
    (
        Flux::new(Spy {
            inner: inner.into_inner(),
            log: log.clone(),
        }),
        log,
    )
}

struct SpySubscriber<S> {
    downstream: S,
    log: Arc<SpyLog>,
}

struct SpySubscription {
    upstream: SharedSubscription,
    log: Arc<SpyLog>,
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        let emitted = self.log.emitted.load(Ordering::SeqCst);
        self.log
            .requests
            .lock()
            .unwrap()
            .push((n, emitted, thread_name()));
        self.upstream.request(n)
    }

    fn cancel(&self) {
        self.log.cancelled.store(true, Ordering::SeqCst);
        self.upstream.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SpySubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.downstream.on_subscribe(Arc::new(SpySubscription {
            upstream: subscription,
            log: self.log.clone(),
        }))
    }
    fn on_next(&mut self, item: T) {
        self.log.emitted.fetch_add(1, Ordering::SeqCst);
        self.downstream.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }
    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}

impl<P: Publisher> Publisher for Spy<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        *self.log.subscribed_on.lock().unwrap() = Some(thread_name());
        self.inner.subscribe(SpySubscriber {
            downstream: subscriber,
            log: self.log.clone(),
        })
    }
}

// ---- a scheduler that reports when its workers are released ----

/// A [`Single`] whose workers each hold a token; dropping the last clone of a worker sends on
/// `released`. So a test can see that a stage let go of its worker (nothing queued or running
/// keeps it).
#[derive(Clone)]
struct Counted {
    inner: Single,
    released: Sender<()>,
    live: Arc<AtomicUsize>,
}

struct Token {
    released: Sender<()>,
    live: Arc<AtomicUsize>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        let _ = self.released.send(());
    }
}

#[derive(Clone)]
struct CountedWorker {
    inner: Worker,
    _token: Arc<Token>,
}

impl Scheduler for CountedWorker {
    fn schedule_task(&self, task: Task) {
        self.inner.schedule_task(task)
    }
    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.inner.schedule_task_at(deadline, task)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}

impl Scheduler for Counted {
    fn schedule_task(&self, task: Task) {
        self.inner.schedule_task(task)
    }
    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.inner.schedule_task_at(deadline, task)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
    fn worker(&self) -> Worker {
        self.live.fetch_add(1, Ordering::SeqCst);
        Worker::new(CountedWorker {
            inner: self.inner.worker(),
            _token: Arc::new(Token {
                released: self.released.clone(),
                live: self.live.clone(),
            }),
        })
    }
}

fn counted(name: &str) -> (Counted, Receiver<()>) {
    let (released, rx) = mpsc::channel();
    (
        Counted {
            inner: Single::with_name(name),
            released,
            live: Arc::new(AtomicUsize::new(0)),
        },
        rx,
    )
}

// ---- threads and order ----

#[test]
fn signals_arrive_on_the_worker_thread_in_order() {
    let consumer = Single::with_name("bf-consumer");
    let (recorder, probe) = new_recorder::<u32>(u64::MAX, 0);
    backflow::range(0..2000u32)
        .publish_on(consumer.clone())
        .subscribe(recorder);
    let (first, on) = probe.next();
    assert_eq!(first, Event::Subscribed);
    assert_eq!(
        on,
        thread_name(),
        "on_subscribe runs on the subscribing thread"
    );
    let rest = probe.until_terminal();
    assert!(rest.iter().all(|(_, on)| on == "bf-consumer"), "{rest:?}");
    let events: Vec<_> = rest.into_iter().map(|(e, _)| e).collect();
    assert_eq!(items(&events), (0..2000).collect::<Vec<_>>());
    assert_eq!(events.last(), Some(&Event::Complete));
}

#[test]
fn a_pool_pins_each_subscription_to_one_thread() {
    let pool = sched::pool(3);
    let mut probes = Vec::new();
    for _ in 0..3 {
        let (recorder, probe) = new_recorder::<u32>(u64::MAX, 0);
        backflow::range(0..500u32)
            .publish_on(pool.clone())
            .subscribe(recorder);
        probes.push(probe);
    }
    for probe in probes {
        let _ = probe.next();
        let rest = probe.until_terminal();
        let on = &rest[0].1;
        assert!(on.starts_with("backflow-pool"), "{on}");
        assert!(rest.iter().all(|(_, t)| t == on), "one worker, one thread");
        let events: Vec<_> = rest.into_iter().map(|(e, _)| e).collect();
        assert_eq!(items(&events), (0..500).collect::<Vec<_>>());
    }
}

#[test]
fn nothing_is_delivered_until_the_worker_runs() {
    let clock = VirtualTime::new();
    let (recorder, probe) = new_recorder::<u8>(10, 0);
    backflow::range(0..3u8)
        .publish_on(clock.clone())
        .subscribe(recorder);
    assert_eq!(probe.drain(), vec![Event::Subscribed]);
    assert!(clock.pending() > 0, "the drain is queued on the worker");
    clock.run_pending();
    assert_eq!(
        probe.drain(),
        vec![
            Event::Next(0),
            Event::Next(1),
            Event::Next(2),
            Event::Complete
        ]
    );
    assert!(
        probe.is_dropped(),
        "released after the terminal signal (rule 3.13)"
    );
}

#[test]
fn reentrant_request_from_on_next_on_the_worker() {
    // One item at a time, each requested from inside on_next on the worker: the request is only
    // recorded there, and the running drain delivers the next item after on_next returned.
    let (recorder, probe) = new_recorder::<u64>(1, 1);
    backflow::range(0..5000u64)
        .publish_on(sched::single())
        .prefetch(16)
        .subscribe(recorder);
    let events: Vec<_> = probe.until_terminal().into_iter().map(|(e, _)| e).collect();
    assert_eq!(items(&events[1..]), (0..5000).collect::<Vec<_>>());
    assert!(
        !probe.nested.load(Ordering::SeqCst),
        "on_next was re-entered"
    );
}

#[test]
fn immediate_scheduler_runs_inline() {
    let out = backflow::range(0..100u32)
        .publish_on(sched::immediate())
        .collect()
        .unwrap();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

// ---- demand ----

#[test]
fn prefetch_up_front_then_top_ups_at_75_percent() {
    // The downstream takes one item at a time, so the top-ups follow the 75% rule exactly.
    let clock = VirtualTime::new();
    let (source, log) = spy(backflow::range(0..1000u32));
    let (recorder, probe) = new_recorder::<u32>(1, 1);
    source.publish_on(clock.clone()).subscribe(recorder);
    clock.run_pending();
    let events = probe.drain();
    assert_eq!(items(&events).len(), 1000);
    assert_eq!(events.last(), Some(&Event::Complete));
    let requests: Vec<(u64, u64)> = log
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(n, emitted, _)| (*n, *emitted))
        .collect();
    // 256 up front; 192 after every 192 taken (the upstream had emitted all it was asked for by
    // then: 256 + 192k, or the whole range).
    let expected: Vec<(u64, u64)> = std::iter::once((256, 0))
        .chain((0..5).map(|k| (192, (256 + 192 * k).min(1000))))
        .collect();
    assert_eq!(requests, expected);
}

#[test]
fn prefetch_and_low_tide_are_configurable() {
    let clock = VirtualTime::new();
    let (source, log) = spy(backflow::range(0..20u32));
    let (recorder, probe) = new_recorder::<u32>(1, 1);
    source
        .publish_on(clock.clone())
        .prefetch(8)
        .low_tide(5)
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(items(&probe.drain()).len(), 20);
    let amounts: Vec<u64> = log.requests.lock().unwrap().iter().map(|r| r.0).collect();
    // 8 up front, then 3 each time 3 were taken (5 still outstanding): after 3, 6, ..., 18.
    assert_eq!(amounts, vec![8, 3, 3, 3, 3, 3, 3]);
}

#[test]
fn upstream_never_owes_more_than_the_prefetch() {
    // An unbounded downstream takes whole runs: top-ups are then at least the 75% batch, and the
    // upstream is never asked for more than fits in the ring.
    let (source, log) = spy(backflow::range(0..100_000u64));
    let sum = source
        .publish_on(sched::single())
        .prefetch(64)
        .fold_with(Request::Unbounded, 0u64, |a, x| a + x)
        .unwrap();
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
    let requests = log.requests.lock().unwrap();
    assert_eq!(requests[0].0, 64);
    let mut requested = 0u64;
    for &(n, emitted, _) in requests.iter() {
        requested += n;
        assert!(n >= 48 || requests[0].0 == n, "top-up {n} below the batch");
        assert!(
            requested - emitted <= 64,
            "{requested} requested, {emitted} emitted"
        );
    }
}

#[test]
fn request_zero_is_an_invalid_demand_error() {
    let clock = VirtualTime::new();
    let (source, log) = spy(backflow::range(0..10u32));
    let (recorder, probe) = new_recorder::<u32>(0, 0);
    source.publish_on(clock.clone()).subscribe(recorder);
    probe.request(0);
    clock.run_pending();
    assert_eq!(
        probe.drain(),
        vec![Event::Subscribed, Event::Error(ErrorKind::InvalidDemand)]
    );
    assert!(log.cancelled.load(Ordering::SeqCst));
    assert!(probe.is_dropped());
}

// ---- errors ----

fn three_then_boom() -> Flux<impl Publisher<Item = u32> + Send + Sync + 'static> {
    backflow::range(0..3u32).concat_with(backflow::error(Error::msg("boom")))
}

#[test]
fn an_error_waits_behind_the_held_items_by_default() {
    let clock = VirtualTime::new();
    let (recorder, probe) = new_recorder::<u32>(0, 0);
    three_then_boom()
        .publish_on(clock.clone())
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(probe.drain(), vec![Event::Subscribed], "no demand yet");
    probe.request(2);
    clock.run_pending();
    assert_eq!(probe.drain(), vec![Event::Next(0), Event::Next(1)]);
    probe.request(1);
    clock.run_pending();
    assert_eq!(
        probe.drain(),
        vec![Event::Next(2), Event::Error(ErrorKind::Custom)]
    );
}

#[test]
fn an_immediate_error_overtakes_the_held_items() {
    let clock = VirtualTime::new();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (recorder, probe) = new_recorder::<u32>(0, 0);
    three_then_boom()
        .publish_on(clock.clone())
        .error_mode(ErrorMode::Immediate)
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(
        probe.drain(),
        vec![Event::Subscribed, Event::Error(ErrorKind::Custom)]
    );
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
fn completion_waits_for_demand_only_while_items_are_held() {
    let clock = VirtualTime::new();
    let (recorder, probe) = new_recorder::<u32>(0, 0);
    backflow::range(0..2u32)
        .publish_on(clock.clone())
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(probe.drain(), vec![Event::Subscribed]);
    probe.request(2);
    clock.run_pending();
    assert_eq!(
        probe.drain(),
        vec![Event::Next(0), Event::Next(1), Event::Complete]
    );

    let (recorder, probe) = new_recorder::<u32>(0, 0);
    backflow::empty::<u32>()
        .publish_on(clock.clone())
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(probe.drain(), vec![Event::Subscribed, Event::Complete]);
}

/// A publisher that ignores demand: `on_subscribe`, then `count` items at once (one by one, or as
/// one fused run), then `on_complete`.
struct Firehose {
    count: u32,
    fused: bool,
    cancelled: Arc<AtomicBool>,
}

struct Flag(Arc<AtomicBool>);

impl Subscription for Flag {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Firehose {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(Flag(self.cancelled.clone())));
        if self.fused {
            subscriber.on_next_iter(0..self.count);
        } else {
            for i in 0..self.count {
                subscriber.on_next(i);
            }
        }
        subscriber.on_complete();
    }
}

#[test]
fn more_than_requested_is_an_overflow_not_a_bigger_buffer() {
    for fused in [false, true] {
        let clock = VirtualTime::new();
        let cancelled = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let d = dropped.clone();
        let (recorder, probe) = new_recorder::<u32>(u64::MAX, 0);
        Flux::new(Firehose {
            count: 10,
            fused,
            cancelled: cancelled.clone(),
        })
        .publish_on(clock.clone())
        .prefetch(4)
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .subscribe(recorder);
        assert!(cancelled.load(Ordering::SeqCst), "upstream cancelled");
        clock.run_pending();
        // What fitted is delivered, then the overflow error (after the held items, by default).
        assert_eq!(
            probe.drain(),
            vec![
                Event::Subscribed,
                Event::Next(0),
                Event::Next(1),
                Event::Next(2),
                Event::Next(3),
                Event::Error(ErrorKind::Overflow)
            ],
            "fused: {fused}"
        );
        let dropped = dropped.lock().unwrap();
        let expect_dropped = if fused { 4..5 } else { 4..10 };
        assert_eq!(
            *dropped,
            expect_dropped
                .map(|x| (x, DropReason::Overflow))
                .collect::<Vec<_>>(),
            "the overflowing item (and, item by item, those in flight after the cancel)"
        );
    }
}

#[test]
fn a_panicking_downstream_cancels_upstream_and_hears_why() {
    let clock = VirtualTime::new();
    let (source, log) = spy(backflow::range(0..100u32));
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let (mut recorder, probe) = new_recorder::<u32>(u64::MAX, 0);
    recorder.panic_on = Some(5);
    source
        .publish_on(clock.clone())
        .prefetch(16)
        .on_drop(move |_, reason| {
            assert_eq!(reason, DropReason::Cancelled);
            d.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe(recorder);
    clock.run_pending();
    let events = probe.drain();
    assert_eq!(items(&events), vec![0, 1, 2, 3, 4]);
    assert_eq!(events.last(), Some(&Event::Error(ErrorKind::Panicked)));
    assert!(log.cancelled.load(Ordering::SeqCst));
    // The 16 prefetched: 5 delivered, item 5 went into the panicking handler, 10 were held.
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
    assert!(probe.is_dropped());
}

// ---- cancel ----

#[test]
fn cancel_drops_each_held_item_once_through_on_drop() {
    let clock = VirtualTime::new();
    let token = Arc::new(());
    let source = backflow::from_iter(vec![token.clone(); 100]);
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let (recorder, probe) = new_recorder::<Arc<()>>(0, 0);
    source
        .publish_on(clock.clone())
        .prefetch(16)
        .on_drop(move |item, reason| {
            assert_eq!(reason, DropReason::Cancelled);
            d.fetch_add(1, Ordering::SeqCst);
            drop(item);
        })
        .subscribe(recorder);
    clock.run_pending();
    assert_eq!(probe.drain(), vec![Event::Subscribed]);
    probe.cancel();
    probe.cancel(); // idempotent (rule 3.7)
    probe.request(5); // a no-op after cancel (rule 3.6)
    clock.run_pending();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        16,
        "the 16 prefetched items"
    );
    assert!(probe.drain().is_empty(), "nothing after a cancel");
    assert!(probe.is_dropped(), "the subscriber is released (rule 3.13)");
    drop(probe);
    assert_eq!(Arc::strong_count(&token), 1, "every item was dropped, once");
}

/// Counts items, tells the test once `notify_at` arrived, and reports its own drop.
struct Counter {
    seen: Arc<AtomicU64>,
    notify_at: u64,
    started: Sender<SharedSubscription>,
    subscription: Option<SharedSubscription>,
    dropped: Sender<()>,
    _alive: Arc<()>,
}

impl Subscriber<u64> for Counter {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        subscription.request(u64::MAX);
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, _item: u64) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.notify_at {
            let _ = self.started.send(self.subscription.clone().unwrap());
        }
    }
    fn on_error(&mut self, error: Error) {
        panic!("unexpected error: {error}");
    }
    fn on_complete(&mut self) {
        panic!("an endless stream completed");
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

#[test]
fn cancel_mid_stream_from_a_third_thread_releases_everything() {
    let (upstream_thread, upstream_released) = counted("bf-up");
    let (downstream_thread, downstream_released) = counted("bf-down");
    let produced = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let discarded = Arc::new(AtomicU64::new(0));
    let (started_tx, started) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let p = produced.clone();
    let d = discarded.clone();
    backflow::range(0..u64::MAX)
        .inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe_on(upstream_thread.clone())
        .publish_on(downstream_thread.clone())
        .on_drop(move |_, reason| {
            assert_eq!(reason, DropReason::Cancelled);
            d.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe(Counter {
            seen: seen.clone(),
            notify_at: 100_000,
            started: started_tx,
            subscription: None,
            dropped: dropped_tx,
            _alive: alive,
        });
    let subscription = started.recv_timeout(PATIENCE).expect("items flow");
    thread::spawn(move || subscription.cancel()).join().unwrap();
    dropped
        .recv_timeout(PATIENCE)
        .expect("the subscriber is released after the cancel");
    // `Counter::drop` signals before its fields (`_alive` last) are dropped on the drain's thread:
    // wait for that thread to finish dropping them.
    let deadline = std::time::Instant::now() + PATIENCE;
    while weak.upgrade().is_some() && std::time::Instant::now() < deadline {
        thread::yield_now();
    }
    assert!(weak.upgrade().is_none());
    // Both stages let go of their workers: no drain, no forwarded request, nothing left queued.
    for released in [&upstream_released, &downstream_released] {
        released
            .recv_timeout(PATIENCE)
            .expect("the stage released its worker");
    }
    assert_eq!(upstream_thread.live.load(Ordering::SeqCst), 0);
    assert_eq!(downstream_thread.live.load(Ordering::SeqCst), 0);
    // Every item produced was delivered or dropped (once) after the cancel.
    assert_eq!(
        produced.load(Ordering::SeqCst),
        seen.load(Ordering::SeqCst) + discarded.load(Ordering::SeqCst)
    );
    // The last handles: the threads stop and are joined here.
    drop(upstream_thread);
    drop(downstream_thread);
}

// ---- subscribe_on ----

#[test]
fn subscribe_on_subscribes_and_requests_on_the_scheduler() {
    let (source, log) = spy(backflow::range(0..10_000u32));
    let producer_threads = Arc::new(Mutex::new(Vec::new()));
    let t = producer_threads.clone();
    let (recorder, probe) = new_recorder::<u32>(u64::MAX, 0);
    source
        .inspect(move |_| {
            let name = thread_name();
            let mut seen = t.lock().unwrap();
            if seen.last() != Some(&name) {
                seen.push(name);
            }
        })
        .subscribe_on(Single::with_name("bf-up"))
        .publish_on(Single::with_name("bf-down"))
        .prefetch(128)
        .subscribe(recorder);
    let events = probe.until_terminal();
    assert_eq!(events[0].0, Event::Subscribed);
    assert_eq!(
        events[0].1, "bf-up",
        "on_subscribe comes from the upstream's thread"
    );
    assert!(events[1..].iter().all(|(_, on)| on == "bf-down"));
    let events: Vec<_> = events.into_iter().map(|(e, _)| e).collect();
    assert_eq!(items(&events), (0..10_000).collect::<Vec<_>>());
    assert_eq!(log.subscribed_on.lock().unwrap().as_deref(), Some("bf-up"));
    let requests = log.requests.lock().unwrap();
    assert!(requests.len() > 10, "top-ups: {}", requests.len());
    assert!(requests.iter().all(|(_, _, on)| on == "bf-up"));
    assert_eq!(*producer_threads.lock().unwrap(), vec!["bf-up".to_string()]);
}

#[test]
fn subscribe_on_forwards_cancel_at_once_even_while_its_thread_is_busy() {
    let upstream = Single::with_name("bf-busy");
    let (source, log) = spy(backflow::range(0..10u32));
    let (recorder, probe) = new_recorder::<u32>(0, 0);
    source.subscribe_on(upstream.clone()).subscribe(recorder);
    assert_eq!(probe.next().0, Event::Subscribed);
    // Occupy the thread, queue a request behind it, cancel from here.
    let (unblock, blocked) = mpsc::channel::<()>();
    let (running_tx, running) = mpsc::channel();
    upstream.schedule(move || {
        running_tx.send(()).unwrap();
        let _ = blocked.recv_timeout(PATIENCE);
    });
    running.recv_timeout(PATIENCE).unwrap();
    probe.request(5);
    probe.cancel();
    assert!(log.cancelled.load(Ordering::SeqCst), "cancel did not wait");
    assert!(log.requests.lock().unwrap().is_empty(), "the request waits");
    unblock.send(()).unwrap();
    // Flush the thread: the queued request runs before this task, and finds the cancel.
    let (done_tx, done) = mpsc::channel();
    upstream.schedule(move || done_tx.send(()).unwrap());
    done.recv_timeout(PATIENCE).unwrap();
    assert!(
        log.requests.lock().unwrap().is_empty(),
        "no request after the cancel"
    );
    assert!(probe.drain().is_empty());
}

#[test]
fn subscribe_on_passes_items_and_errors_through() {
    let out = backflow::range(0..1000u32)
        .subscribe_on(sched::single())
        .collect()
        .unwrap();
    assert_eq!(out, (0..1000).collect::<Vec<_>>());
    let failed = three_then_boom().subscribe_on(sched::pool(2)).collect();
    assert_eq!(failed.unwrap_err().to_string(), "boom");
}

// ---- metrics ----

#[test]
fn metrics_count_the_traffic() {
    let metrics = Arc::new(StageMetrics::new("hop", 64));
    let sum = backflow::range(0..10_000u64)
        .publish_on(sched::single())
        .prefetch(64)
        .metrics(metrics.clone())
        .fold(0u64, |a, x| a + x)
        .unwrap();
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
    let snap = metrics.snapshot();
    assert_eq!((snap.received, snap.emitted), (10_000, 10_000));
    assert_eq!(snap.dropped.total(), 0);
    assert_eq!(snap.buffered, 0);
    assert!(snap.requested >= 10_000 && snap.requested <= 10_000 + 64);
    assert!(snap.wait.count >= 1, "queue wait is sampled");
}

// ---- stress ----

#[test]
fn four_hops_stress() {
    // 10M items in release builds, 1M in debug builds (which are ~30× slower).
    let n: u64 = if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    let pool = sched::pool(4);
    let sum = backflow::range(0..n)
        .subscribe_on(pool.clone())
        .publish_on(pool.clone())
        .map(|x| x + 1)
        .publish_on(pool.clone())
        .filter(|x| x % 3 != 0)
        .publish_on(pool.clone())
        .map(|x| x * 2)
        .publish_on(pool.clone())
        .fold(0u64, |a, x| a.wrapping_add(x))
        .unwrap();
    let expected = (0..n)
        .map(|x| x + 1)
        .filter(|x| x % 3 != 0)
        .map(|x| x * 2)
        .fold(0u64, u64::wrapping_add);
    assert_eq!(sum, expected);
}

#[test]
fn many_short_streams_across_threads() {
    // Subscriptions that end quickly race their own drain scheduling: none may be lost.
    let pool = sched::pool(2);
    for len in 0..200u64 {
        let sum = backflow::range(0..len)
            .subscribe_on(pool.clone())
            .publish_on(pool.clone())
            .prefetch(1 + (len as usize % 7))
            .fold(0u64, |a, x| a + x)
            .unwrap();
        assert_eq!(sum, (0..len).sum::<u64>());
    }
}

// ---- configuration ----

#[test]
#[should_panic(expected = "prefetch must be at least 1")]
fn zero_prefetch_panics() {
    let _ = backflow::range(0..1u8)
        .publish_on(sched::immediate())
        .prefetch(0);
}

#[test]
#[should_panic(expected = "must be below the prefetch")]
fn low_tide_must_be_below_the_prefetch() {
    let _ = backflow::range(0..1u8)
        .publish_on(sched::immediate())
        .prefetch(8)
        .low_tide(8);
}

// ---- the lingering drain shares its thread ----

/// A publish_on drain that spins for more items (free cores) must not keep its scheduler thread
/// from the other tasks queued there: while a producer keeps the stage busy, tasks scheduled on
/// the same thread still run, in order, and the stream still delivers everything.
#[test]
fn a_lingering_drain_lets_the_other_tasks_on_its_thread_run() {
    let single = sched::single();
    let (emitter, flux) = backflow::emitter::<u64>(64);
    let (done_tx, done) = mpsc::channel();
    let sum = Arc::new(AtomicU64::new(0));
    let total = sum.clone();
    let _handle = flux.publish_on(single.clone()).subscribe_with(
        move |x| {
            total.fetch_add(x, Ordering::Relaxed);
        },
        |e| panic!("{e}"),
        move || done_tx.send(()).unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                emitter.emit(sent).unwrap();
                sent += 1;
            }
            sent
        })
    };
    let (ran_tx, ran) = mpsc::channel();
    for i in 0..10 {
        let ran_tx = ran_tx.clone();
        single.schedule(move || ran_tx.send(i).unwrap());
    }
    let order: Vec<i32> = (0..10)
        .map(|_| ran.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(
        order,
        (0..10).collect::<Vec<_>>(),
        "queued tasks run, in order"
    );
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();
    done.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        sum.load(Ordering::Relaxed),
        sent * sent.saturating_sub(1) / 2
    );
}
