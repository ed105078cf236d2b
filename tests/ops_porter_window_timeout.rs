//! `window_timeout(n, d)` on virtual time: windows close at `n` items or `d` after their first
//! item, are handed over whole, backpressure like `chunks_timeout`, and serve each subscriber.

mod timed_support;

use backflow::ops::{Map, Reduce};
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

#[test]
fn windows_close_by_size_or_time() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .window_timeout(3, ms(10))
        .scheduler(clock.clone())
        .concat_map(|w| w.collect_all())
        .subscribe(sub);
    for i in 0..3 {
        hot.emit(i);
    }
    at(&clock, 2);
    hot.emit(3);
    at(&clock, 12);
    hot.complete();
    assert_eq!(
        probe.events(),
        [Next(0, vec![0, 1, 2]), Next(12, vec![3]), Complete(12)]
    );
    assert_eq!(hot.requests(), [3, 3, 1], "held + owed never exceeds n");
}

#[test]
fn a_full_window_without_demand_pauses_the_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .window_timeout(2, ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit(0);
    hot.emit(1);
    at(&clock, 50);
    assert_eq!(
        hot.requests(),
        [2],
        "a full window without demand: nothing more asked"
    );
    probe.request(1);
    let windows = probe.take_values();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].clone().collect().unwrap(), [0, 1]);
    assert_eq!(hot.requests(), [2, 2]);
}

#[test]
fn a_window_is_a_cold_stream_of_its_items() {
    let clock = VirtualTime::new();
    let windows = backflow::range(0..4u32)
        .window_timeout(2, ms(10))
        .scheduler(clock)
        .collect()
        .unwrap();
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[1].get_ref().len(), 2);
    let (sub, probe) = TestSubscriber::new(1);
    windows[0].clone().subscribe(sub);
    assert_eq!(probe.values(), [0]);
    probe.request(5);
    assert_eq!(probe.values(), [0, 1]);
    assert!(probe.is_complete());
    assert_eq!(
        windows[0].clone().collect().unwrap(),
        [0, 1],
        "each subscriber gets clones"
    );
    let (sub, probe) = TestSubscriber::<u32>::new(0);
    windows[1].clone().subscribe(sub);
    probe.request(0);
    assert_eq!(
        probe.error().map(|e| e.kind()),
        Some(ErrorKind::InvalidDemand)
    );
}

/// A window's items as one `Vec` (a one-item stream).
type Collected<P, T> = Flux<Reduce<Map<Flux<P>, fn(T) -> Vec<T>>, fn(Vec<T>, Vec<T>) -> Vec<T>>>;

trait CollectAll<P, T> {
    fn collect_all(self) -> Collected<P, T>;
}

impl<P: Publisher<Item = T>, T: Send + 'static> CollectAll<P, T> for Flux<P> {
    fn collect_all(self) -> Collected<P, T> {
        let one: fn(T) -> Vec<T> = |x| vec![x];
        let join: fn(Vec<T>, Vec<T>) -> Vec<T> = |mut a, b| {
            a.extend(b);
            a
        };
        Flux::new(self).map(one).reduce(join)
    }
}
