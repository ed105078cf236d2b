//! `concat`, `concat_with`, `start_with`: demand carried across sources, trampolining, cancel.

use std::sync::{Arc, Mutex, Weak};

use backflow::prelude::*;

#[derive(Default)]
struct Log {
    items: Vec<u32>,
    completed: bool,
    error: Option<Error>,
}

struct Manual {
    log: Arc<Mutex<Log>>,
    sub: Arc<Mutex<Option<SharedSubscription>>>,
    _alive: Arc<()>,
}

type Probe = (
    Manual,
    Arc<Mutex<Log>>,
    Arc<Mutex<Option<SharedSubscription>>>,
    Weak<()>,
);

/// A subscriber that only records; the test drives demand through the returned handle.
fn manual() -> Probe {
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let m = Manual {
        log: Default::default(),
        sub: Default::default(),
        _alive: alive,
    };
    let (log, sub) = (m.log.clone(), m.sub.clone());
    (m, log, sub, weak)
}

impl Subscriber<u32> for Manual {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: u32) {
        self.log.lock().unwrap().items.push(x)
    }
    fn on_error(&mut self, e: Error) {
        self.log.lock().unwrap().error = Some(e)
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().completed = true
    }
}

#[test]
fn demand_is_carried_across_sources() {
    let (m, log, sub, _) = manual();
    backflow::concat(vec![
        backflow::range(0..2u32),
        backflow::range(10..12),
        backflow::range(20..22),
    ])
    .subscribe(m);
    let s = sub.lock().unwrap().clone().unwrap();
    s.request(3);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 10]);
    s.request(1);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 10, 11]);
    assert!(!log.lock().unwrap().completed);
    s.request(2);
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![0, 1, 10, 11, 20, 21]);
    assert!(
        log.completed,
        "the last item used the last credit, completion follows"
    );
}

#[test]
fn many_empty_sources_do_not_grow_the_stack() {
    let sources: Vec<_> = (0..100_000u32)
        .map(|i| backflow::range(i..i + (i % 1000 == 0) as u32))
        .collect();
    let out = backflow::concat(sources).collect().unwrap();
    assert_eq!(out.len(), 100);
}

#[test]
fn an_error_ends_the_stream_and_later_sources_are_never_subscribed() {
    let late = Arc::new(Mutex::new(false));
    let l = late.clone();
    let failing = backflow::range(0..3u32)
        .map(|x| if x == 2 { panic!("no") } else { x })
        .boxed();
    let later = backflow::range(5..6u32)
        .map(move |x| {
            *l.lock().unwrap() = true;
            x
        })
        .boxed();
    let err = backflow::concat(vec![failing, later])
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(!*late.lock().unwrap());
}

#[test]
fn cancel_stops_and_releases_the_subscriber() {
    let (m, log, sub, alive) = manual();
    backflow::concat(vec![backflow::range(0..5u32), backflow::range(5..10)]).subscribe(m);
    let s = sub.lock().unwrap().clone().unwrap();
    s.request(6);
    s.cancel();
    s.request(10);
    assert_eq!(log.lock().unwrap().items, vec![0, 1, 2, 3, 4, 5]);
    assert!(!log.lock().unwrap().completed);
    assert!(alive.upgrade().is_none(), "rule 3.13");
}

#[test]
fn request_zero_reaches_the_active_source() {
    let (m, log, sub, _) = manual();
    backflow::concat(vec![backflow::range(0..5u32)]).subscribe(m);
    sub.lock().unwrap().clone().unwrap().request(0);
    assert_eq!(
        log.lock().unwrap().error.as_ref().unwrap().kind(),
        ErrorKind::InvalidDemand
    );
}

#[test]
fn unbounded_demand_stays_unbounded() {
    let out = backflow::concat((0..50u32).map(|i| backflow::range(i * 10..i * 10 + 10)))
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out, (0..500).collect::<Vec<_>>());
}

#[test]
fn batched_requests_across_sources_match_the_model() {
    for batch in [1, 2, 3, 5, 8] {
        let out = backflow::range(0..7u32)
            .concat_with(backflow::range(100..104u32))
            .start_with(vec![50u32, 51])
            .collect_with(Request::Batch(batch))
            .unwrap();
        assert_eq!(
            out,
            vec![50, 51, 0, 1, 2, 3, 4, 5, 6, 100, 101, 102, 103],
            "batch {batch}"
        );
    }
}

#[test]
fn empty_concat_completes() {
    let none: Vec<Flux<backflow::source::Range<u32>>> = Vec::new();
    assert!(backflow::concat(none).collect().unwrap().is_empty());
}

/// Publishers that break the rules in the ways concat must survive (issue 8 §2.3).
enum Hostile {
    Items(Flux<backflow::source::Range<u32>>),
    /// Panics inside `subscribe` (rule 1.09 says it must not; concat turns it into an error).
    PanicOnSubscribe,
    /// Drops its subscriber without any signal after `on_subscribe`.
    DropSubscriber,
    /// Calls `on_subscribe` twice (rule 2.05: the second must be cancelled), then completes.
    SubscribeTwice(Arc<Recorded>, Arc<Recorded>),
}

#[derive(Default)]
struct Recorded {
    requested: std::sync::atomic::AtomicU64,
    cancelled: std::sync::atomic::AtomicBool,
}

impl Subscription for Recorded {
    fn request(&self, n: u64) {
        self.requested
            .fetch_add(n.min(1 << 40), std::sync::atomic::Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Publisher for Hostile {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut subscriber: S) {
        match self {
            Hostile::Items(flux) => flux.subscribe(subscriber),
            Hostile::PanicOnSubscribe => panic!("a broken publisher"),
            Hostile::DropSubscriber => {
                subscriber.on_subscribe(Arc::new(Recorded::default()));
                drop(subscriber);
            }
            Hostile::SubscribeTwice(first, second) => {
                subscriber.on_subscribe(first.clone());
                subscriber.on_subscribe(second.clone());
                subscriber.on_complete();
            }
        }
    }
}

#[test]
fn a_panicking_subscribe_of_the_first_source_becomes_an_error() {
    let (m, log, sub, alive) = manual();
    backflow::concat(vec![
        Hostile::PanicOnSubscribe,
        Hostile::Items(backflow::range(0..2)),
    ])
    .subscribe(m);
    if let Some(s) = sub.lock().unwrap().clone() {
        s.request(10);
    }
    let log = log.lock().unwrap();
    assert_eq!(log.error.as_ref().unwrap().kind(), ErrorKind::Panicked);
    assert!(log.items.is_empty() && !log.completed);
    assert!(alive.upgrade().is_none(), "the downstream is released");
}

#[test]
fn a_panicking_subscribe_of_a_later_source_ends_the_stream() {
    let (m, log, sub, alive) = manual();
    backflow::concat(vec![
        Hostile::Items(backflow::range(0..2)),
        Hostile::PanicOnSubscribe,
        Hostile::Items(backflow::range(10..12)),
    ])
    .subscribe(m);
    sub.lock().unwrap().clone().unwrap().request(10);
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![0, 1]);
    assert_eq!(log.error.as_ref().unwrap().kind(), ErrorKind::Panicked);
    assert!(!log.completed);
    assert!(alive.upgrade().is_none(), "the downstream is released");
}

#[test]
fn an_inner_dropped_without_a_signal_hands_on_to_the_next_source() {
    let (m, log, sub, _) = manual();
    backflow::concat(vec![
        Hostile::Items(backflow::range(0..2)),
        Hostile::DropSubscriber,
        Hostile::Items(backflow::range(10..12)),
    ])
    .subscribe(m);
    sub.lock().unwrap().clone().unwrap().request(10);
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![0, 1, 10, 11]);
    assert!(log.completed, "not wedged on the dropped inner");
}

#[test]
fn a_second_on_subscribe_of_a_source_is_cancelled() {
    let (first, second) = (Arc::new(Recorded::default()), Arc::new(Recorded::default()));
    let (m, log, sub, _) = manual();
    backflow::concat(vec![
        Hostile::SubscribeTwice(first.clone(), second.clone()),
        Hostile::Items(backflow::range(10..11)),
    ])
    .subscribe(m);
    sub.lock().unwrap().clone().unwrap().request(10);
    assert!(
        second.cancelled.load(std::sync::atomic::Ordering::SeqCst),
        "rule 2.05"
    );
    assert_eq!(
        second.requested.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the second subscription is never asked"
    );
    assert!(!first.cancelled.load(std::sync::atomic::Ordering::SeqCst));
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![10]);
    assert!(log.completed);
}
