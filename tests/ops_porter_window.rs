//! `window(n)`: consecutive windows as unicast, backpressured streams; the demand it passes
//! upstream; cancel of a window; windows nobody subscribes to end in an error, not a hang.

mod timed_support;

use std::time::Duration;

use backflow::metrics::DropReason;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

#[test]
fn windows_of_n_in_order_on_range() {
    let out = backflow::range(0..10u32)
        .window(4)
        .concat_map(|w| {
            let number = *w.key();
            w.map(move |x| (number, x))
        })
        .collect()
        .unwrap();
    let expected: Vec<(u64, u32)> = (0..10).map(|x| ((x / 4) as u64, x)).collect();
    assert_eq!(out, expected);
    let sizes = backflow::range(0..10u32)
        .window(4)
        .flat_map(|w| w.count())
        .collect()
        .unwrap();
    assert_eq!(sizes, [4, 4, 2]);
    assert!(backflow::empty::<u8>()
        .window(3)
        .collect()
        .unwrap()
        .is_empty());
}

#[test]
fn window_demand_counts_windows_and_items_wait_for_their_subscriber() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe::<u64>(&clock, 1);
    let inner = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (i, c) = (inner.clone(), clock.clone());
    hot.flux().window(2).subscribe(Keys {
        inner: sub,
        on_window: Box::new(move |w| {
            let (s, p) = timed_support::probe::<u32>(&c, 1);
            w.subscribe(s);
            i.lock().unwrap().push(p);
        }),
    });
    assert_eq!(hot.requests(), [256], "the prefetch");
    hot.emit(0);
    hot.emit(1);
    hot.emit(2);
    assert_eq!(probe.values(), [0], "one window asked for");
    {
        let windows = inner.lock().unwrap();
        assert_eq!(
            windows[0].events(),
            [Next(0, 0)],
            "its subscriber asked for one item"
        );
        windows[0].request(5);
        assert_eq!(windows[0].events(), [Next(0, 0), Next(0, 1), Complete(0)]);
    }
    probe.request(1);
    assert_eq!(probe.values(), [0, 1]);
    assert_eq!(inner.lock().unwrap()[1].values(), [2]);
    hot.complete();
    assert!(matches!(probe.events().last(), Some(Complete(_))));
    assert!(matches!(
        inner.lock().unwrap()[1].events().last(),
        Some(Complete(_))
    ));
}

#[test]
fn a_cancelled_window_drops_its_items() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (log, on_drop) = drops();
    let (sub, _probe) = probe::<u64>(&clock, MAX);
    let inner = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (i, c) = (inner.clone(), clock.clone());
    hot.flux().window(3).on_drop(on_drop).subscribe(Keys {
        inner: sub,
        on_window: Box::new(move |w| {
            let (s, p) = timed_support::probe::<u32>(&c, 0);
            w.subscribe(s);
            i.lock().unwrap().push(p);
        }),
    });
    hot.emit(0);
    hot.emit(1);
    inner.lock().unwrap()[0].cancel();
    assert_eq!(
        *log.lock().unwrap(),
        [(0, DropReason::Cancelled), (1, DropReason::Cancelled)]
    );
    assert!(
        !hot.is_cancelled(),
        "the downstream of windows still listens"
    );
}

#[test]
fn a_slow_downstream_of_windows_still_gets_everything() {
    // One window at a time, and the downstream asks for one result at a time: windows pile up
    // (up to the prefetch) while it waits, and nothing is lost or reported as a stall.
    let (sub, probe) = TestSubscriber::builder()
        .initial_request(1)
        .request_after_each(1)
        .build();
    backflow::range(0..3_000u32)
        .window(3)
        .concat_map(|w| w.count())
        .subscribe(sub);
    probe.await_complete(Duration::from_secs(10)).unwrap();
    assert_eq!(probe.values(), vec![3u64; 1_000]);
}

#[test]
fn windows_dropped_unsubscribed_release_their_items() {
    let (log, on_drop) = drops();
    let keys = backflow::range(0..1_000u32)
        .window(10)
        .on_drop(on_drop)
        .map(|w| *w.key())
        .collect()
        .unwrap();
    assert_eq!(keys, (0..100).collect::<Vec<u64>>());
    assert_eq!(
        log.lock().unwrap().len(),
        1_000,
        "every item dropped with its window"
    );
}

#[test]
#[should_panic(expected = "at least one item")]
fn zero_size_panics() {
    let _ = backflow::range(0..1u8).window(0);
}

/// Hands each window to `on_window` and records its number.
struct Keys {
    inner: ProbeSubscriber<u64>,
    on_window: Box<dyn FnMut(backflow::ops::GroupedFlux<u64, u32>) + Send>,
}

impl Subscriber<backflow::ops::GroupedFlux<u64, u32>> for Keys {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.inner.on_subscribe(s)
    }
    fn on_next(&mut self, w: backflow::ops::GroupedFlux<u64, u32>) {
        let key = *w.key();
        (self.on_window)(w);
        self.inner.on_next(key)
    }
    fn on_error(&mut self, e: Error) {
        self.inner.on_error(e)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}
