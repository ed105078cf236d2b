//! `replay(n)`: one upstream subscription, the last `n` items for late subscribers, the slowest
//! live subscriber sets the upstream's pace, cancel re-paces, errors and panics per subscriber.

mod timed_support;

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

#[test]
fn late_subscribers_get_the_history_then_live_items() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let shared = hot.flux().replay(2);
    let (a, first) = probe(&clock, MAX);
    shared.clone().subscribe(a);
    assert!(hot.is_subscribed(), "connected at the first subscriber");
    for i in 0..4 {
        hot.emit(i);
    }
    let (b, late) = probe(&clock, MAX);
    shared.clone().subscribe(b);
    assert_eq!(late.values(), [2, 3], "the last two");
    hot.emit(4);
    hot.complete();
    assert_eq!(first.values(), [0, 1, 2, 3, 4]);
    assert_eq!(late.values(), [2, 3, 4]);
    let (c, after) = probe(&clock, MAX);
    shared.subscribe(c);
    assert_eq!(
        after.events(),
        [Next(0, 3), Next(0, 4), Complete(0)],
        "held items, then the end"
    );
}

#[test]
fn the_slowest_subscriber_sets_the_pace() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let shared = hot.flux().replay(2);
    let (a, fast) = probe(&clock, MAX);
    let (b, slow) = probe(&clock, 0);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b);
    assert_eq!(hot.total_requested(), 2, "the slow one may fall 2 behind");
    hot.emit(0);
    hot.emit(1);
    assert_eq!(fast.values(), [0, 1]);
    slow.request(1);
    assert_eq!(slow.values(), [0]);
    assert_eq!(hot.total_requested(), 3);
    slow.cancel();
    assert!(slow.is_released());
    assert_eq!(
        hot.total_requested(),
        4,
        "re-paced by the fast one: 2 taken + 2 of history"
    );
    assert!(!hot.is_cancelled());
    fast.cancel();
}

#[test]
fn request_zero_and_panics_end_only_that_subscriber() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let shared = hot.flux().replay(4);
    let (a, bad) = probe(&clock, 0);
    let (b, panicking) = probe::<u32>(&clock, MAX);
    let (c, good) = probe(&clock, MAX);
    shared.clone().subscribe(a);
    shared.clone().subscribe(b.panicking(|x| *x == 1));
    shared.clone().subscribe(c);
    bad.request(0);
    assert_eq!(bad.events(), [Err(0, ErrorKind::InvalidDemand)]);
    hot.emit(0);
    hot.emit(1);
    hot.emit(2);
    assert_eq!(
        panicking.events(),
        [Next(0, 0), Err(0, ErrorKind::Panicked)]
    );
    hot.error(Error::msg("boom"));
    assert_eq!(
        good.events(),
        [
            Next(0, 0),
            Next(0, 1),
            Next(0, 2),
            Err(0, ErrorKind::Custom)
        ]
    );
}

#[test]
fn replay_on_range_runs_the_source_once() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    let shared = backflow::defer(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        backflow::range(0..100u32)
    })
    .replay(10);
    assert_eq!(shared.clone().collect().unwrap().len(), 100);
    assert_eq!(shared.collect().unwrap(), (90..100).collect::<Vec<_>>());
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}
