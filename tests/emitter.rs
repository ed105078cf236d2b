//! The `Emitter` push source: each method's contract (what it does with an item it does not take),
//! capacity counting demand, many producers, blocking and its wake-ups, overflow policies,
//! terminal signals after the buffered items, cancel, and the release of the subscriber.
//!
//! Blocking tests use short real waits only as lower bounds ("still blocked after a while"); no
//! test asserts an upper bound on time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use backflow::error::EmitError;
use backflow::metrics::{DropReason, Registry};
use backflow::ops::ErrorMode;
use backflow::ops::Overflow;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use backflow::source::{Emitter, EmitterSource};

/// An item that is neither `Clone` nor `Debug`: errors must hand it back without either.
#[derive(PartialEq, Eq)]
struct Opaque(u32);

/// What a [`Recorder`] saw.
struct Log<T> {
    items: Vec<T>,
    completed: bool,
    error: Option<Error>,
    subscribed: usize,
    threads: Vec<thread::ThreadId>,
}

/// A subscriber that records every signal and requests only what the test asks through its probe.
struct Recorder<T> {
    log: Arc<Mutex<Log<T>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    initial: u64,
    _alive: Arc<()>,
}

/// The test's side of a [`Recorder`].
struct Probe<T> {
    log: Arc<Mutex<Log<T>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    alive: Weak<()>,
}

fn recorder<T>(initial: u64) -> (Recorder<T>, Probe<T>) {
    let log = Arc::new(Mutex::new(Log {
        items: Vec::new(),
        completed: false,
        error: None,
        subscribed: 0,
        threads: Vec::new(),
    }));
    let subscription = Arc::new(Mutex::new(None));
    let alive = Arc::new(());
    let probe = Probe {
        log: log.clone(),
        subscription: subscription.clone(),
        alive: Arc::downgrade(&alive),
    };
    (
        Recorder {
            log,
            subscription,
            initial,
            _alive: alive,
        },
        probe,
    )
}

impl<T: Send> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.log.lock().unwrap().subscribed += 1;
        *self.subscription.lock().unwrap() = Some(s.clone());
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: T) {
        let mut log = self.log.lock().unwrap();
        log.items.push(item);
        log.threads.push(thread::current().id());
    }
    fn on_error(&mut self, e: Error) {
        self.log.lock().unwrap().error = Some(e);
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().completed = true;
    }
}

impl<T> Probe<T> {
    fn subscription(&self) -> SharedSubscription {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed")
    }
    fn request(&self, n: u64) {
        self.subscription().request(n)
    }
    fn cancel(&self) {
        self.subscription().cancel()
    }
    fn count(&self) -> usize {
        self.log.lock().unwrap().items.len()
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
    /// Waits (yielding) until `done` holds of the log; a test that fails hangs at most this long.
    fn wait_for(&self, what: &str, done: impl Fn(&Log<T>) -> bool) {
        let start = Instant::now();
        while !done(&self.log.lock().unwrap()) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "gave up waiting for {what}"
            );
            thread::yield_now();
        }
    }
}

impl<T: Clone> Probe<T> {
    fn items(&self) -> Vec<T> {
        self.log.lock().unwrap().items.clone()
    }
}

impl Probe<Opaque> {
    fn ids(&self) -> Vec<u32> {
        self.log.lock().unwrap().items.iter().map(|o| o.0).collect()
    }
}

type Drops<T> = Arc<Mutex<Vec<(T, DropReason)>>>;

fn drop_log<T>() -> (Drops<T>, impl Fn(T, DropReason) + Send + Sync + 'static)
where
    T: Send + 'static,
{
    let log: Drops<T> = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    (log, move |item, reason| {
        sink.lock().unwrap().push((item, reason))
    })
}

fn drop_ids(log: &Drops<Opaque>) -> Vec<(u32, DropReason)> {
    log.lock().unwrap().iter().map(|(o, r)| (o.0, *r)).collect()
}

/// A real wait, used only as a lower bound: "still blocked after this long".
const A_WHILE: Duration = Duration::from_millis(30);

// ---- the basics ----

#[test]
fn smoke() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    for i in 0..3 {
        emitter.try_emit(i).unwrap();
    }
    emitter.complete();
    assert_eq!(flux.collect().unwrap(), [0, 1, 2]);
}

#[test]
fn capacity() {
    let (emitter, _flux) = backflow::emitter::<u32>(3);
    assert_eq!(emitter.capacity(), 3);
    assert!(emitter.is_empty());
    for i in 0..3 {
        emitter.try_emit(i).unwrap();
    }
    assert_eq!(emitter.len(), 3);
    assert!(emitter.try_emit(3).unwrap_err().is_full());
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity() {
    let _ = backflow::emitter::<u32>(0);
}

#[test]
fn items_emitted_before_the_subscriber_are_buffered_up_to_capacity() {
    let (emitter, flux) = backflow::emitter::<Opaque>(2);
    emitter.try_emit(Opaque(1)).unwrap();
    emitter.try_emit(Opaque(2)).unwrap();
    assert_eq!(emitter.try_emit(Opaque(3)).unwrap_err().into_inner().0, 3);
    let (subscriber, probe) = recorder(10);
    flux.subscribe(subscriber);
    assert_eq!(probe.ids(), [1, 2]);
    assert!(emitter.is_empty());
}

#[test]
fn capacity_counts_outstanding_demand() {
    let (emitter, flux) = backflow::emitter::<Opaque>(2);
    let (subscriber, probe) = recorder(3);
    flux.subscribe(subscriber);
    // 3 go straight through against the demand, 2 wait in the buffer, the 6th is refused.
    for i in 0..5 {
        emitter.try_emit(Opaque(i)).unwrap();
    }
    assert_eq!(probe.ids(), [0, 1, 2]);
    assert_eq!(emitter.len(), 2);
    assert_eq!(emitter.requested(), 0);
    assert!(emitter.try_emit(Opaque(5)).unwrap_err().is_full());
    probe.request(1);
    assert_eq!(probe.ids(), [0, 1, 2, 3]);
    emitter.try_emit(Opaque(6)).unwrap();
    assert_eq!(emitter.len(), 2);
}

#[test]
fn items_with_demand_are_delivered_inside_the_emit_call() {
    let (emitter, flux) = backflow::emitter::<u32>(1);
    let (subscriber, probe) = recorder(u64::MAX);
    flux.subscribe(subscriber);
    assert_eq!(emitter.requested(), u64::MAX);
    let producer = thread::spawn(move || {
        for i in 0..100 {
            emitter.try_emit(i).unwrap();
        }
        thread::current().id()
    });
    let producer_thread = producer.join().unwrap();
    assert_eq!(probe.items(), (0..100).collect::<Vec<_>>());
    assert!(probe
        .log
        .lock()
        .unwrap()
        .threads
        .iter()
        .all(|t| *t == producer_thread));
}

// ---- what each method does with an item it does not take ----

#[test]
fn try_emit_hands_the_item_back_when_full() {
    let (emitter, _flux) = backflow::emitter::<Opaque>(1);
    emitter.try_emit(Opaque(1)).unwrap();
    match emitter.try_emit(Opaque(2)) {
        Err(EmitError::Full { item, retry_after }) => {
            assert_eq!(item.0, 2);
            assert_eq!(retry_after, None, "no drain rate measured yet");
        }
        _ => panic!("expected Full"),
    }
}

#[test]
fn emit_timeout_hands_the_item_back_when_no_room_comes() {
    let (emitter, _flux) = backflow::emitter::<Opaque>(1);
    emitter.try_emit(Opaque(1)).unwrap();
    let start = Instant::now();
    let refused = emitter
        .emit_timeout(Opaque(2), Duration::from_millis(20))
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(refused.is_timeout());
    assert_eq!(refused.into_inner().0, 2);
}

#[test]
fn every_method_hands_the_item_back_once_closed() {
    let (emitter, flux) = backflow::emitter::<Opaque>(4);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    probe.cancel();
    assert!(emitter.is_closed());
    let closed = [
        emitter.try_emit(Opaque(1)).unwrap_err(),
        emitter
            .emit_timeout(Opaque(2), Duration::from_secs(60))
            .unwrap_err(),
        emitter.emit(Opaque(3)).unwrap_err(),
    ];
    let ids: Vec<u32> = closed
        .into_iter()
        .map(|e| {
            assert!(e.is_closed());
            e.into_inner().0
        })
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn completion_closes_the_emitter_too() {
    let (emitter, _flux) = backflow::emitter::<Opaque>(4);
    emitter.complete();
    assert!(emitter.is_closed());
    assert!(emitter.try_emit(Opaque(1)).unwrap_err().is_closed());
}

#[test]
fn errors_display_and_debug_without_the_item() {
    let full: EmitError<Opaque> = EmitError::Full {
        item: Opaque(1),
        retry_after: Some(Duration::from_millis(2)),
    };
    assert_eq!(full.to_string(), "emitter is full");
    assert_eq!(format!("{full:?}"), "Full { retry_after: Some(2ms), .. }");
    assert_eq!(full.retry_after(), Some(Duration::from_millis(2)));
    assert_eq!(full.item().0, 1);
    let timeout = EmitError::Timeout(Opaque(2));
    assert_eq!(
        timeout.to_string(),
        "timed out waiting for room in the emitter"
    );
    assert_eq!(format!("{timeout:?}"), "Timeout(..)");
    assert_eq!(timeout.retry_after(), None);
    let closed = EmitError::Closed(Opaque(3));
    assert_eq!(closed.to_string(), "emitter is closed");
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    let boxed: Box<dyn std::error::Error> = Box::new(closed);
    assert_eq!(boxed.to_string(), "emitter is closed");
}

// ---- blocking and wake-ups ----

#[test]
fn a_blocked_emit_is_released_by_demand() {
    let (emitter, flux) = backflow::emitter::<u32>(1);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    let done = Arc::new(AtomicUsize::new(0));
    let producer = {
        let done = done.clone();
        thread::spawn(move || {
            for i in 0..4 {
                emitter.emit(i).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while done.load(Ordering::SeqCst) < 1 {
        thread::yield_now();
    }
    thread::sleep(A_WHILE);
    assert_eq!(done.load(Ordering::SeqCst), 1, "the second emit must wait");
    for n in 1..=4 {
        probe.request(1);
        probe.wait_for("an item", |log| log.items.len() == n);
    }
    producer.join().unwrap();
    assert_eq!(probe.items(), [0, 1, 2, 3]);
}

#[test]
fn emit_timeout_succeeds_when_room_comes_in_time() {
    let (emitter, flux) = backflow::emitter::<u32>(1);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(0).unwrap();
    let producer = thread::spawn(move || emitter.emit_timeout(1, Duration::from_secs(60)));
    probe.request(1);
    assert!(producer.join().unwrap().is_ok());
    probe.request(1);
    assert_eq!(probe.items(), [0, 1]);
}

#[test]
fn a_blocked_emit_is_woken_with_closed_by_cancel() {
    let (emitter, flux) = backflow::emitter::<Opaque>(1);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(Opaque(0)).unwrap();
    let blocked = thread::spawn(move || emitter.emit(Opaque(1)).map_err(|e| e.into_inner().0));
    thread::sleep(A_WHILE);
    probe.cancel();
    assert_eq!(blocked.join().unwrap(), Err(1));
}

#[test]
fn a_blocked_emit_is_woken_with_closed_by_complete() {
    let (emitter, _flux) = backflow::emitter::<Opaque>(1);
    emitter.try_emit(Opaque(0)).unwrap();
    let other = emitter.clone();
    let blocked = thread::spawn(move || {
        other
            .emit_timeout(Opaque(1), Duration::from_secs(60))
            .map_err(|e| (e.is_closed(), e.into_inner().0))
    });
    thread::sleep(A_WHILE);
    emitter.complete();
    assert_eq!(blocked.join().unwrap(), Err((true, 1)));
}

#[test]
fn emit_from_the_subscriber_of_the_same_emitter_fails_instead_of_hanging() {
    struct Reentrant {
        emitter: Emitter<u32>,
        error: Arc<Mutex<Option<Error>>>,
    }
    impl Subscriber<u32> for Reentrant {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1)
        }
        fn on_next(&mut self, _: u32) {
            // The first fills the last free slot; the second would wait for this very drain.
            self.emitter.emit(98).unwrap();
            self.emitter.emit(99).unwrap();
        }
        fn on_error(&mut self, e: Error) {
            *self.error.lock().unwrap() = Some(e);
        }
        fn on_complete(&mut self) {}
    }
    let (emitter, flux) = backflow::emitter::<u32>(2);
    emitter.try_emit(1).unwrap();
    emitter.try_emit(2).unwrap();
    let error = Arc::new(Mutex::new(None));
    flux.subscribe(Reentrant {
        emitter: emitter.clone(),
        error: error.clone(),
    });
    let e = error.lock().unwrap().clone().expect("the stream failed");
    assert_eq!(e.kind(), ErrorKind::Panicked);
    assert!(e.to_string().contains("own drain"), "{e}");
    assert!(emitter.is_closed());
}

// ---- many producers ----

#[test]
fn four_producers_deliver_every_item_exactly_once_in_each_producers_order() {
    const PER_PRODUCER: u64 = 20_000;
    let (emitter, flux) = backflow::emitter::<(u64, u64)>(64);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let emitter = emitter.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    emitter.emit((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(emitter);
    let consumer = thread::spawn(move || flux.collect_with(Request::Batch(16)).unwrap());
    for p in producers {
        p.join().unwrap();
    }
    let items = consumer.join().unwrap();
    assert_eq!(items.len() as u64, 4 * PER_PRODUCER);
    let mut next = [0u64; 4];
    for (p, i) in items {
        assert_eq!(i, next[p as usize], "producer {p} out of order");
        next[p as usize] += 1;
    }
    assert_eq!(next, [PER_PRODUCER; 4]);
}

#[test]
fn producers_mixing_try_emit_and_emit_timeout_lose_nothing_they_were_not_told_about() {
    let (emitter, flux) = backflow::emitter::<u64>(8);
    let refused = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let emitter = emitter.clone();
            let refused = refused.clone();
            thread::spawn(move || {
                for i in 0..5_000 {
                    let item = p * 1_000_000 + i;
                    let sent = if i % 2 == 0 {
                        emitter.try_emit(item)
                    } else {
                        emitter.emit_timeout(item, Duration::from_millis(1))
                    };
                    if sent.is_err() {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    drop(emitter);
    let consumer = thread::spawn(move || flux.collect_with(Request::Batch(4)).unwrap());
    for p in producers {
        p.join().unwrap();
    }
    let mut items = consumer.join().unwrap();
    let delivered = items.len();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), delivered, "an item came twice");
    assert_eq!(delivered + refused.load(Ordering::SeqCst), 20_000);
}

// ---- overflow policies ----

#[test]
fn drop_oldest_evicts_the_oldest_held_item() {
    let registry = Registry::new();
    let (drops, on_drop) = drop_log::<Opaque>();
    let (emitter, flux) = Emitter::builder(2)
        .overflow(Overflow::DropOldest)
        .on_drop(on_drop)
        .metrics(registry.stage("oldest", 2))
        .build();
    for i in 0..5 {
        emitter.emit(Opaque(i)).unwrap();
    }
    assert_eq!(
        drop_ids(&drops),
        [
            (0, DropReason::Evicted),
            (1, DropReason::Evicted),
            (2, DropReason::Evicted)
        ]
    );
    let (subscriber, probe) = recorder(u64::MAX);
    flux.subscribe(subscriber);
    assert_eq!(probe.ids(), [3, 4]);
    let snap = &registry.snapshot()[0];
    assert_eq!(snap.dropped.get(DropReason::Evicted), 3);
    assert_eq!((snap.received, snap.emitted, snap.rejected), (5, 2, 0));
}

#[test]
fn drop_oldest_with_many_producers_accounts_for_every_item() {
    let evicted = Arc::new(AtomicUsize::new(0));
    let counter = evicted.clone();
    let (emitter, flux) = Emitter::<u64>::builder(4)
        .overflow(Overflow::DropOldest)
        .on_drop(move |_, reason| {
            assert_eq!(reason, DropReason::Evicted);
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let (subscriber, probe) = recorder::<u64>(1);
    flux.subscribe(subscriber);
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let emitter = emitter.clone();
            thread::spawn(move || {
                for i in 0..5_000 {
                    emitter.emit(i).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..50 {
        probe.request(1);
    }
    for p in producers {
        p.join().unwrap();
    }
    drop(emitter);
    probe.request(u64::MAX);
    probe.wait_for("completion", |log| log.completed);
    assert_eq!(probe.count() + evicted.load(Ordering::SeqCst), 20_000);
}

#[test]
fn drop_newest_drops_the_incoming_item() {
    let registry = Registry::new();
    let (drops, on_drop) = drop_log::<Opaque>();
    let (emitter, flux) = Emitter::builder(2)
        .overflow(Overflow::DropNewest)
        .on_drop(on_drop)
        .metrics(registry.stage("newest", 2))
        .build();
    for i in 0..5 {
        emitter.emit_timeout(Opaque(i), Duration::ZERO).unwrap();
    }
    assert_eq!(
        drop_ids(&drops),
        [
            (2, DropReason::Overflow),
            (3, DropReason::Overflow),
            (4, DropReason::Overflow)
        ]
    );
    drop(emitter);
    let (subscriber, probe) = recorder(u64::MAX);
    flux.subscribe(subscriber);
    assert_eq!(probe.ids(), [0, 1]);
    assert!(probe.completed());
    let snap = &registry.snapshot()[0];
    assert_eq!(snap.dropped.get(DropReason::Overflow), 3);
    assert_eq!((snap.received, snap.emitted), (2, 2));
}

#[test]
fn overflow_error_refuses_the_item_delivers_the_held_ones_then_fails() {
    let registry = Registry::new();
    let (emitter, flux) = Emitter::builder(2)
        .overflow(Overflow::Error)
        .metrics(registry.stage("strict", 2))
        .build();
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.emit(Opaque(1)).unwrap();
    emitter.emit(Opaque(2)).unwrap();
    match emitter.emit(Opaque(3)) {
        Err(EmitError::Full { item, retry_after }) => {
            assert_eq!((item.0, retry_after), (3, None));
        }
        _ => panic!("expected Full"),
    }
    assert!(emitter.try_emit(Opaque(4)).unwrap_err().is_closed());
    assert!(probe.error().is_none(), "held items come first");
    probe.request(2);
    assert_eq!(probe.ids(), [1, 2]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
    assert_eq!(registry.snapshot()[0].rejected, 1);
}

#[test]
fn policies_never_wait() {
    for policy in [Overflow::DropOldest, Overflow::DropNewest] {
        let (emitter, _flux) = backflow::emitter_with::<u32>(1, policy);
        emitter.emit(0).unwrap();
        // Neither blocks, with nobody ever asking for anything.
        emitter.emit(1).unwrap();
        emitter.emit_timeout(2, Duration::from_secs(3600)).unwrap();
        assert_eq!(emitter.len(), 1);
    }
}

#[test]
fn a_panicking_on_drop_is_reported_and_does_not_stop_the_producer() {
    let reported = Arc::new(AtomicUsize::new(0));
    let counter = reported.clone();
    backflow::set_error_hook(move |e| {
        if e.to_string().contains("drop callback") {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (emitter, flux) = Emitter::<u32>::builder(1)
        .overflow(Overflow::DropNewest)
        .on_drop(|_, _| panic!("drop callback"))
        .build();
    emitter.emit(0).unwrap();
    emitter.emit(1).unwrap();
    drop(emitter);
    let out = flux.collect();
    backflow::clear_error_hook();
    assert_eq!(out.unwrap(), [0]);
    assert!(reported.load(Ordering::SeqCst) >= 1);
}

// ---- terminal signals ----

#[test]
fn complete_is_delivered_after_the_buffered_items() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    for i in 0..3 {
        emitter.try_emit(i).unwrap();
    }
    emitter.complete();
    assert!(!probe.completed());
    probe.request(2);
    assert_eq!(probe.items(), [0, 1]);
    assert!(!probe.completed(), "one item is still held");
    probe.request(1);
    assert_eq!(probe.items(), [0, 1, 2]);
    assert!(probe.completed());
    assert!(probe.released());
}

#[test]
fn an_empty_emitter_completes_without_any_request() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.complete();
    emitter.complete(); // idempotent
    assert!(probe.completed());
    assert_eq!(probe.log.lock().unwrap().subscribed, 1);
}

#[test]
fn error_is_delivered_after_the_buffered_items() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(1).unwrap();
    emitter.error(Error::msg("sensor unplugged"));
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.items(), [1]);
    assert_eq!(probe.error().unwrap().to_string(), "sensor unplugged");
    assert!(probe.released());
}

#[test]
fn immediate_error_mode_drops_the_buffered_items() {
    let (drops, on_drop) = drop_log::<Opaque>();
    let (emitter, flux) = Emitter::builder(4)
        .error_mode(ErrorMode::Immediate)
        .on_drop(on_drop)
        .build();
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(Opaque(1)).unwrap();
    emitter.try_emit(Opaque(2)).unwrap();
    emitter.error(Error::msg("now"));
    assert_eq!(probe.error().unwrap().to_string(), "now");
    assert!(probe.ids().is_empty());
    assert_eq!(
        drop_ids(&drops),
        [(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
}

#[test]
fn the_first_end_wins_and_a_late_error_goes_to_the_hook() {
    let reported = Arc::new(Mutex::new(Vec::new()));
    let log = reported.clone();
    backflow::set_error_hook(move |e| log.lock().unwrap().push(e.to_string()));
    let (emitter, flux) = backflow::emitter::<u32>(4);
    emitter.complete();
    emitter.error(Error::msg("too late"));
    let out = flux.collect();
    backflow::clear_error_hook();
    assert_eq!(out.unwrap(), Vec::<u32>::new());
    assert!(reported.lock().unwrap().iter().any(|e| e == "too late"));
}

#[test]
fn dropping_the_last_handle_completes_the_stream() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let second = emitter.clone();
    emitter.try_emit(1).unwrap();
    drop(emitter);
    let (subscriber, probe) = recorder(10);
    flux.subscribe(subscriber);
    assert!(!probe.completed(), "a handle is still alive");
    second.try_emit(2).unwrap();
    drop(second);
    assert_eq!(probe.items(), [1, 2]);
    assert!(probe.completed());
}

// ---- cancel and release ----

#[test]
fn cancel_closes_and_drops_the_buffered_items_through_on_drop() {
    let registry = Registry::new();
    let (drops, on_drop) = drop_log::<Opaque>();
    let (emitter, flux) = Emitter::builder(4)
        .on_drop(on_drop)
        .metrics(registry.stage("cancelled", 4))
        .build();
    let (subscriber, probe) = recorder(1);
    flux.subscribe(subscriber);
    for i in 0..4 {
        emitter.try_emit(Opaque(i)).unwrap();
    }
    assert_eq!(probe.ids(), [0]);
    probe.cancel();
    assert_eq!(
        drop_ids(&drops),
        [
            (1, DropReason::Cancelled),
            (2, DropReason::Cancelled),
            (3, DropReason::Cancelled)
        ]
    );
    assert!(probe.released(), "rule 3.13: the subscriber is dropped");
    assert!(emitter.try_emit(Opaque(9)).unwrap_err().is_closed());
    probe.request(5); // a no-op after cancel
    assert_eq!(probe.ids(), [0]);
    assert!(!probe.completed() && probe.error().is_none());
    let snap = &registry.snapshot()[0];
    assert_eq!(snap.dropped.get(DropReason::Cancelled), 3);
    assert_eq!(snap.buffered, 0);
}

#[test]
fn cancel_from_inside_a_run_stops_the_run() {
    struct CancelAfter {
        left: usize,
        seen: Arc<Mutex<Vec<u32>>>,
        subscription: Option<SharedSubscription>,
    }
    impl Subscriber<u32> for CancelAfter {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(100);
            self.subscription = Some(s);
        }
        fn on_next(&mut self, x: u32) {
            self.seen.lock().unwrap().push(x);
            self.left -= 1;
            if self.left == 0 {
                self.subscription.as_ref().unwrap().cancel();
            }
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {
            panic!("completed after cancel")
        }
    }
    let (drops, on_drop) = drop_log::<u32>();
    let (emitter, flux) = Emitter::builder(8).on_drop(on_drop).build();
    for i in 0..8 {
        emitter.try_emit(i).unwrap();
    }
    emitter.complete();
    let seen = Arc::new(Mutex::new(Vec::new()));
    flux.subscribe(CancelAfter {
        left: 3,
        seen: seen.clone(),
        subscription: None,
    });
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2]);
    let dropped: Vec<_> = drops.lock().unwrap().iter().map(|(x, _)| *x).collect();
    assert_eq!(dropped, [3, 4, 5, 6, 7]);
    assert!(drops
        .lock()
        .unwrap()
        .iter()
        .all(|(_, r)| *r == DropReason::Cancelled));
}

#[test]
fn items_nobody_subscribed_for_go_to_on_drop_when_the_emitter_is_dropped() {
    let (drops, on_drop) = drop_log::<u32>();
    let (emitter, flux) = Emitter::builder(4).on_drop(on_drop).build();
    emitter.try_emit(1).unwrap();
    emitter.try_emit(2).unwrap();
    drop((emitter, flux));
    assert_eq!(
        *drops.lock().unwrap(),
        [(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
}

#[test]
fn dropping_the_source_before_anyone_subscribed_closes_the_emitter() {
    let (drops, on_drop) = drop_log::<Opaque>();
    let (emitter, flux) = Emitter::builder(1).on_drop(on_drop).build();
    emitter.try_emit(Opaque(1)).unwrap();
    let blocked = {
        let emitter = emitter.clone();
        thread::spawn(move || emitter.emit(Opaque(2)).map_err(|e| e.into_inner().0))
    };
    let second = flux.clone();
    drop(flux);
    assert!(!emitter.is_closed(), "a clone of the source is still alive");
    drop(second);
    assert!(emitter.is_closed());
    assert_eq!(blocked.join().unwrap(), Err(2));
    assert_eq!(drop_ids(&drops), [(1, DropReason::Cancelled)]);
    assert!(emitter.try_emit(Opaque(3)).unwrap_err().is_closed());
}

#[test]
fn the_subscriber_is_released_after_cancel_even_while_producers_live() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(1).unwrap();
    assert!(!probe.released());
    probe.cancel();
    assert!(probe.released());
    // The probe's own handle to the subscription does not keep the subscriber alive either.
    drop(probe.subscription.lock().unwrap().take());
    drop(emitter);
}

#[test]
fn cancel_inside_on_subscribe_releases_the_subscriber() {
    struct CancelAtOnce {
        _alive: Arc<()>,
    }
    impl Subscriber<u32> for CancelAtOnce {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.cancel();
            s.request(1);
        }
        fn on_next(&mut self, _: u32) {
            panic!("item after cancel")
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {
            panic!("completed after cancel")
        }
    }
    let (emitter, flux) = backflow::emitter::<u32>(4);
    emitter.try_emit(1).unwrap();
    let alive = Arc::new(());
    flux.subscribe(CancelAtOnce {
        _alive: alive.clone(),
    });
    assert_eq!(Arc::strong_count(&alive), 1, "the subscriber was dropped");
    assert!(emitter.is_closed());
}

// ---- the protocol ----

#[test]
fn a_second_subscriber_is_rejected() {
    let (_emitter, flux) = backflow::emitter::<u32>(4);
    let (first, first_probe) = recorder(1);
    flux.clone().subscribe(first);
    let (second, second_probe) = recorder(1);
    flux.subscribe(second);
    assert_eq!(second_probe.log.lock().unwrap().subscribed, 1);
    assert_eq!(second_probe.error().unwrap().kind(), ErrorKind::Closed);
    assert!(first_probe.error().is_none());
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    let (drops, on_drop) = drop_log::<u32>();
    let (emitter, flux) = Emitter::builder(4).on_drop(on_drop).build();
    emitter.try_emit(7).unwrap();
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    probe.request(0);
    let e = probe.error().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidDemand);
    assert!(e.to_string().contains("3.9"));
    assert_eq!(*drops.lock().unwrap(), [(7, DropReason::Cancelled)]);
    assert!(emitter.is_closed());
    assert!(probe.released());
}

#[test]
fn request_zero_inside_a_run_stops_it_and_wins_over_completion() {
    struct ZeroAt {
        seen: Arc<Mutex<Vec<u32>>>,
        error: Arc<Mutex<Option<Error>>>,
        subscription: Option<SharedSubscription>,
    }
    impl Subscriber<u32> for ZeroAt {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(u64::MAX);
            self.subscription = Some(s);
        }
        fn on_next(&mut self, x: u32) {
            self.seen.lock().unwrap().push(x);
            if x == 1 {
                self.subscription.as_ref().unwrap().request(0);
            }
        }
        fn on_error(&mut self, e: Error) {
            *self.error.lock().unwrap() = Some(e);
        }
        fn on_complete(&mut self) {
            panic!("completed after request(0)")
        }
    }
    let (emitter, flux) = backflow::emitter::<u32>(8);
    for i in 0..8 {
        emitter.try_emit(i).unwrap();
    }
    emitter.complete();
    let (seen, error) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(None)));
    flux.subscribe(ZeroAt {
        seen: seen.clone(),
        error: error.clone(),
        subscription: None,
    });
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
    let e = error.lock().unwrap().clone().expect("on_error");
    assert_eq!(e.kind(), ErrorKind::InvalidDemand);
}

#[test]
fn a_panicking_subscriber_fails_the_stream_and_closes_the_emitter() {
    struct Panics;
    impl Subscriber<u32> for Panics {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(10)
        }
        fn on_next(&mut self, _: u32) {
            panic!("consumer bug")
        }
        fn on_error(&mut self, e: Error) {
            assert_eq!(e.kind(), ErrorKind::Panicked);
            assert!(e.to_string().contains("consumer bug"));
        }
        fn on_complete(&mut self) {}
    }
    let (emitter, flux) = backflow::emitter::<u32>(4);
    flux.subscribe(Panics);
    emitter.try_emit(1).unwrap();
    assert!(emitter.is_closed());
    assert!(emitter.try_emit(2).unwrap_err().is_closed());
}

#[test]
fn demand_accumulates_to_unbounded_without_error() {
    let (emitter, flux) = backflow::emitter::<u32>(1);
    let (subscriber, probe) = recorder(u64::MAX - 1);
    flux.subscribe(subscriber);
    probe.request(u64::MAX);
    probe.request(5);
    assert_eq!(emitter.requested(), u64::MAX);
    for i in 0..10 {
        emitter.try_emit(i).unwrap();
    }
    assert_eq!(probe.count(), 10);
    assert!(probe.error().is_none());
}

#[test]
fn a_filter_after_the_emitter_uses_no_credit_for_what_it_discards() {
    let (emitter, flux) = backflow::emitter::<u32>(16);
    let (subscriber, probe) = recorder(2);
    flux.filter(|x| x % 2 == 0).subscribe(subscriber);
    for i in 0..8 {
        emitter.try_emit(i).unwrap();
    }
    // 2 credits: 0 and 2 delivered, 1 discarded on the way, 3.. held.
    assert_eq!(probe.items(), [0, 2]);
    assert_eq!(emitter.len(), 5);
    // 1 credit: 3 is popped and discarded without using it, 4 uses it.
    probe.request(1);
    assert_eq!(probe.items(), [0, 2, 4]);
    assert_eq!(emitter.len(), 3);
}

// ---- metrics and the retry hint ----

#[test]
fn metrics_count_received_emitted_rejected_requested_and_buffered() {
    let registry = Registry::new();
    let (emitter, flux) = Emitter::builder(2)
        .metrics(registry.stage("ingest", 2))
        .build();
    let (subscriber, probe) = recorder(3);
    flux.subscribe(subscriber);
    for i in 0..5 {
        emitter.try_emit(i).unwrap();
    }
    assert!(emitter.try_emit(5).is_err());
    assert!(emitter.emit_timeout(6, Duration::ZERO).is_err());
    let snap = &registry.snapshot()[0];
    assert_eq!(snap.received, 5);
    assert_eq!(snap.emitted, 3);
    assert_eq!(snap.rejected, 2);
    assert_eq!(snap.requested, 3);
    assert_eq!(snap.buffered, 2);
    assert_eq!(snap.utilisation(), 1.0);
    assert_eq!(snap.dropped.total(), 0);
    probe.request(2);
    let snap = &registry.snapshot()[0];
    assert_eq!((snap.emitted, snap.buffered, snap.requested), (5, 0, 5));
}

#[test]
fn retry_after_estimates_the_time_per_item_from_the_recent_drain_rate() {
    let clock = VirtualTime::new();
    let (emitter, flux) = Emitter::builder(2).clock(clock.clone()).build();
    let (subscriber, probe) = recorder(0);
    flux.subscribe(subscriber);
    emitter.try_emit(0).unwrap();
    emitter.try_emit(1).unwrap();
    assert_eq!(emitter.try_emit(2).unwrap_err().retry_after(), None);
    // The subscriber takes 4 items over 100 ms: 25 ms per item.
    for _ in 0..4 {
        clock.advance_by(Duration::from_millis(25));
        probe.request(1);
        emitter.try_emit(9).unwrap();
    }
    let refused = emitter.try_emit(3).unwrap_err();
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(25)));
    // Within the next window the estimate stands.
    clock.advance_by(Duration::from_millis(10));
    assert_eq!(
        emitter.try_emit(4).unwrap_err().retry_after(),
        Some(Duration::from_millis(25))
    );
    // A window in which the subscriber took nothing: no estimate.
    clock.advance_by(Duration::from_millis(100));
    assert_eq!(emitter.try_emit(5).unwrap_err().retry_after(), None);
}

// ---- auto traits ----

#[test]
fn handles_are_send_sync_and_clone() {
    fn send_sync_clone<X: Send + Sync + Clone>() {}
    send_sync_clone::<Emitter<Opaque>>();
    send_sync_clone::<EmitterSource<Opaque>>();
    send_sync_clone::<Flux<EmitterSource<Opaque>>>();
    fn send_sync<X: Send + Sync>() {}
    send_sync::<EmitError<Opaque>>();
}

// ---- capacity = buffered + outstanding demand, with a drain busy in the subscriber ----

/// A subscriber that requests `initial`, then blocks inside its first `on_next` until the test
/// opens the gate, and records everything.
struct Blocking {
    initial: u64,
    entered: Arc<(Mutex<bool>, std::sync::Condvar)>,
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
    items: Arc<Mutex<Vec<(u32, u32)>>>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
}

fn set(flag: &(Mutex<bool>, std::sync::Condvar)) {
    *flag.0.lock().unwrap() = true;
    flag.1.notify_all();
}

fn wait_set(flag: &(Mutex<bool>, std::sync::Condvar)) {
    let mut set = flag.0.lock().unwrap();
    while !*set {
        set = flag.1.wait(set).unwrap();
    }
}

impl Subscriber<(u32, u32)> for Blocking {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(self.initial);
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, item: (u32, u32)) {
        let first = self.items.lock().unwrap().is_empty();
        self.items.lock().unwrap().push(item);
        if first {
            set(&self.entered);
            wait_set(&self.open);
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn an_item_offered_with_outstanding_demand_is_taken_even_while_the_drain_is_busy() {
    // Capacity 1, demand 10. The first item goes down and its subscriber is busy with it (it
    // blocks in on_next, holding the drain). 9 credits are outstanding and 1 slot is free: the
    // emitter must take 10 more items (SEMANTICS §4: capacity = buffered + outstanding demand),
    // from several producers at once, and refuse the 11th.
    let (emitter, flux) = backflow::emitter::<(u32, u32)>(1);
    let entered = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let items = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    flux.subscribe(Blocking {
        initial: 10,
        entered: entered.clone(),
        open: open.clone(),
        items: items.clone(),
        subscription: subscription.clone(),
    });
    let first = {
        let emitter = emitter.clone();
        thread::spawn(move || emitter.try_emit((9, 0)).is_ok())
    };
    wait_set(&entered);
    let producers: Vec<_> = (0..3u32)
        .map(|p| {
            let emitter = emitter.clone();
            thread::spawn(move || {
                let mut taken = Vec::new();
                for i in 0..5u32 {
                    match emitter.try_emit((p, i)) {
                        Ok(()) => taken.push(i),
                        Err(refused) => {
                            assert!(refused.is_full(), "only Full is expected here");
                            assert_eq!(refused.into_inner(), (p, i), "the item is handed back");
                        }
                    }
                }
                taken
            })
        })
        .collect();
    let taken: Vec<Vec<u32>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let accepted: usize = taken.iter().map(Vec::len).sum();
    assert_eq!(
        accepted, 10,
        "1 free slot + 9 outstanding credits: {taken:?}"
    );
    assert_eq!(emitter.len(), 10);
    assert!(emitter.try_emit((7, 7)).unwrap_err().is_full());
    set(&open);
    assert!(first.join().unwrap());
    // The subscriber gets its 10 credits' worth, in each producer's order; one waits in the slot.
    let got = items.lock().unwrap().clone();
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(got[0], (9, 0));
    for p in 0..3u32 {
        let mine: Vec<u32> = got
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, i)| *i)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "producer {p}: {mine:?}"
        );
    }
    assert_eq!(emitter.len(), 1);
    subscription.lock().unwrap().clone().unwrap().request(5);
    assert_eq!(items.lock().unwrap().len(), 11);
    assert!(emitter.is_empty());
    for (p, mine) in taken.iter().enumerate() {
        let delivered: Vec<u32> = items
            .lock()
            .unwrap()
            .iter()
            .filter(|(q, _)| *q == p as u32)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(
            &delivered, mine,
            "every item taken from producer {p} is delivered"
        );
    }
}

#[test]
fn a_request_after_cancel_is_a_no_op_and_is_not_counted() {
    let registry = Registry::new();
    let (emitter, flux) = Emitter::<u32>::builder(4)
        .metrics(registry.stage("emitter", 4))
        .build();
    let (subscriber, probe) = recorder(2);
    flux.subscribe(subscriber);
    let subscription = probe.subscription();
    subscription.cancel();
    subscription.request(100);
    subscription.request(0); // rule 3.6: no error either
    assert_eq!(emitter.requested(), 2, "no demand added after the cancel");
    assert_eq!(registry.snapshot()[0].requested, 2);
    assert!(probe.error().is_none());
    assert!(emitter.try_emit(1).unwrap_err().is_closed());
}

/// Claims to have used more items than it pulled.
struct OverReports {
    seen: Arc<Mutex<Vec<u32>>>,
}

impl Subscriber<u32> for OverReports {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(3);
    }
    fn on_next(&mut self, item: u32) {
        self.seen.lock().unwrap().push(item);
    }
    fn on_next_iter<I: Iterator<Item = u32>>(&mut self, mut items: I) -> u64 {
        if let Some(item) = items.next() {
            self.seen.lock().unwrap().push(item);
        }
        1_000
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_subscriber_that_over_reports_its_credits_spends_only_what_it_pulled() {
    let (emitter, flux) = backflow::emitter::<u32>(8);
    for i in 0..6 {
        emitter.try_emit(i).unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    flux.subscribe(OverReports { seen: seen.clone() });
    // One item pulled per run, "1000 used" claimed: one credit is spent, not 1000.
    assert_eq!(*seen.lock().unwrap(), [0]);
    assert_eq!(emitter.requested(), 2);
    // Each later signal runs one more pass: three items in all for three credits (rule 1.01).
    for i in 6..9 {
        emitter.try_emit(i).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2]);
    assert_eq!(emitter.requested(), 0);
    assert_eq!(emitter.len(), 6);
}

/// Pull fusion across a thread boundary: an emitter read by `publish_on` is drained by the
/// stage's worker (its empty ring refilled from the emitter), producers only wake it. Four
/// producers, a small emitter and a small prefetch, so rings fill and empty all the time: every
/// item arrives once, each producer's in order, then the completion.
#[test]
fn a_fused_emitter_behind_publish_on_delivers_every_item_once_in_order() {
    let worker = backflow::sched::Single::with_name("fused-publish-on");
    for (capacity, prefetch) in [(1, 1), (4, 2), (64, 16)] {
        let (emitter, flux) = backflow::emitter::<(usize, u64)>(capacity);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let emitter = emitter.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        emitter.emit((p, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(emitter);
        let next = flux
            .publish_on(worker.clone())
            .prefetch(prefetch)
            .fold([0u64; 4], |mut next, (p, i)| {
                assert_eq!(i, next[p], "producer {p}'s items out of order");
                next[p] += 1;
                next
            })
            .unwrap();
        for producer in producers {
            producer.join().unwrap();
        }
        assert_eq!(next, [5_000; 4], "capacity {capacity}, prefetch {prefetch}");
    }
}
