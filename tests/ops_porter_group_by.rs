//! `group_by` / `group_by_with`: per-key streams in order, the demand it passes upstream (groups
//! together hold at most `prefetch`), Reactor's hang scenario (more groups than the downstream
//! `flat_map` subscribes to) ending in an error that names the limit, `max_groups`, cancel of a
//! group and of the downstream of groups, panics in the key function, unicast groups.

mod timed_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::metrics::DropReason;
use backflow::ops::GroupedFlux;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

/// A downstream of groups that subscribes to each group with its own probe (requesting
/// `per_group` up front) and keeps the probes by key.
type Groups<K> = Arc<Mutex<Vec<(K, Probe<u32>)>>>;

fn subscribe_groups(
    clock: &VirtualTime,
    flux: impl Publisher<Item = GroupedFlux<u32, u32>>,
    initial_groups: u64,
    per_group: u64,
) -> (Groups<u32>, Probe<u32>) {
    let groups: Groups<u32> = Arc::new(Mutex::new(Vec::new()));
    let g = groups.clone();
    let c = clock.clone();
    let (sub, main) = probe::<u32>(clock, initial_groups);
    flux.subscribe(Adapter {
        inner: sub,
        on_group: Box::new(move |group: GroupedFlux<u32, u32>| {
            let key = *group.key();
            let (s, p) = probe(&c, per_group);
            group.subscribe(s);
            g.lock().unwrap().push((key, p));
            key
        }),
    });
    (groups, main)
}

/// Turns the groups into their keys for the probe, subscribing each on the way.
struct Adapter {
    inner: ProbeSubscriber<u32>,
    on_group: Box<dyn FnMut(GroupedFlux<u32, u32>) -> u32 + Send>,
}

impl Subscriber<GroupedFlux<u32, u32>> for Adapter {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.inner.on_subscribe(s)
    }
    fn on_next(&mut self, group: GroupedFlux<u32, u32>) {
        let key = (self.on_group)(group);
        self.inner.on_next(key)
    }
    fn on_error(&mut self, e: Error) {
        self.inner.on_error(e)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

/// Runs `f` on the probe of the `index`-th group.
fn with_group<R>(groups: &Groups<u32>, index: usize, f: impl FnOnce(&Probe<u32>) -> R) -> R {
    f(&groups.lock().unwrap()[index].1)
}

fn values_of(groups: &Groups<u32>, key: u32) -> Vec<u32> {
    groups
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k == key)
        .flat_map(|(_, p)| p.values())
        .collect()
}

#[test]
fn groups_keep_per_key_order_on_range() {
    let out = backflow::range(0..100u32)
        .group_by(|x| x % 7)
        .flat_map(|g| {
            let key = *g.key();
            g.map(move |x| (key, x))
        })
        .collect()
        .unwrap();
    assert_eq!(out.len(), 100);
    for key in 0..7 {
        let per_key: Vec<u32> = out
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, x)| *x)
            .collect();
        let expected: Vec<u32> = (0..100).filter(|x| x % 7 == key).collect();
        assert_eq!(per_key, expected, "key {key}");
    }
}

#[test]
fn demand_counts_groups_and_the_upstream_gets_prefetch() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (groups, main) =
        subscribe_groups(&clock, hot.flux().group_by_with(|x| x % 10, 8, 16), 1, MAX);
    assert_eq!(hot.requests(), [16], "prefetch up front");
    hot.emit(1);
    hot.emit(2);
    assert_eq!(main.values(), [1], "one group asked for; the second waits");
    assert_eq!(values_of(&groups, 1), [1]);
    main.request(1);
    assert_eq!(main.values(), [1, 2]);
    assert_eq!(
        values_of(&groups, 2),
        [2],
        "its held item goes at subscription"
    );
    hot.emit(11);
    hot.emit(12);
    assert_eq!(values_of(&groups, 1), [1, 11]);
    assert_eq!(values_of(&groups, 2), [2, 12]);
    hot.complete();
    assert!(matches!(main.events().last(), Some(Complete(_))));
    for (_, p) in groups.lock().unwrap().iter() {
        assert!(matches!(p.events().last(), Some(Complete(_))));
    }
}

#[test]
fn held_items_wait_for_group_demand_and_bound_the_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (groups, _main) = subscribe_groups(&clock, hot.flux().group_by_with(|_| 0, 8, 8), MAX, 0);
    for i in 0..8 {
        hot.emit(i);
    }
    assert_eq!(hot.requests(), [8], "8 held: nothing more asked");
    with_group(&groups, 0, |p| p.request(6));
    assert_eq!(
        hot.requests(),
        [8, 6],
        "75% of the prefetch freed: topped up"
    );
    with_group(&groups, 0, |p| p.request(2));
    assert_eq!(values_of(&groups, 0), (0..8).collect::<Vec<_>>());
}

#[test]
fn reactor_hang_scenario_ends_with_an_error_naming_the_limit() {
    // Four keys, but the flat_map subscribes to at most two groups at a time, and a group only
    // completes when the source does: Reactor hangs here. We fail with a clear error.
    let (sub, probe) = TestSubscriber::new(MAX);
    backflow::range(0..10_000u32)
        .group_by(|x| x % 4)
        .flat_map_with(|g| g, 2, 32)
        .subscribe(sub);
    let err = probe
        .await_error(Duration::from_secs(10))
        .expect("an error, not a hang");
    assert_eq!(err.kind(), ErrorKind::Overflow);
    let message = err.to_string();
    assert!(message.contains("group_by stalled"), "{message}");
    assert!(message.contains("concurrency"), "{message}");
    assert!(probe.next_count() < 10_000);
}

#[test]
fn enough_concurrency_does_not_stall() {
    let out = backflow::range(0..10_000u32)
        .group_by(|x| x % 4)
        .flat_map_with(|g| g, 4, 32)
        .count()
        .collect()
        .unwrap();
    assert_eq!(out, [10_000]);
}

#[test]
fn more_keys_than_max_groups_is_an_error_naming_the_limit() {
    let (log, on_drop) = drops();
    let err = backflow::range(0..10u32)
        .group_by_with(|x| *x, 3, 64)
        .on_drop(on_drop)
        .flat_map(|g| g)
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overflow);
    assert!(err.to_string().contains("max_groups = 3"), "{err}");
    assert_eq!(log.lock().unwrap()[0], (3, DropReason::Overflow));
}

#[test]
fn a_cancelled_group_drops_its_items_and_the_key_reopens() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (log, on_drop) = drops();
    let (groups, main) = subscribe_groups(
        &clock,
        hot.flux().group_by_with(|x| x % 2, 8, 16).on_drop(on_drop),
        MAX,
        1,
    );
    hot.emit(0);
    hot.emit(2);
    hot.emit(4);
    assert_eq!(with_group(&groups, 0, |p| p.values()), [0]);
    with_group(&groups, 0, |p| p.cancel());
    assert_eq!(
        *log.lock().unwrap(),
        [(2, DropReason::Cancelled), (4, DropReason::Cancelled)]
    );
    assert!(with_group(&groups, 0, |p| p.is_released()));
    hot.emit(6);
    assert_eq!(main.values(), [0, 0], "a new group for the same key");
    assert_eq!(values_of(&groups, 0), [0, 6]);
    assert!(!hot.is_cancelled());
}

#[test]
fn cancelling_the_groups_downstream_keeps_open_groups_running() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (groups, main) =
        subscribe_groups(&clock, hot.flux().group_by_with(|x| x % 3, 8, 16), 1, MAX);
    hot.emit(0);
    hot.emit(1); // a pending group, never taken
    main.cancel();
    assert!(!hot.is_cancelled(), "group 0 is still open");
    hot.emit(3);
    hot.emit(2); // a new key: dropped
    assert_eq!(values_of(&groups, 0), [0, 3]);
    with_group(&groups, 0, |p| p.cancel());
    assert!(hot.is_cancelled(), "the last open group went");
}

#[test]
fn a_panicking_key_function_fails_and_cancels_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (groups, main) = subscribe_groups(
        &clock,
        hot.flux()
            .group_by(|x| if *x == 3 { panic!("bad key") } else { *x % 2 }),
        MAX,
        MAX,
    );
    hot.emit(0);
    hot.emit(3);
    assert!(hot.is_cancelled());
    assert!(matches!(
        main.events().last(),
        Some(Err(_, ErrorKind::Panicked))
    ));
    assert_eq!(
        with_group(&groups, 0, |p| p.events()),
        [Next(0, 0), Err(0, ErrorKind::Panicked)]
    );
}

#[test]
fn an_upstream_error_reaches_every_group_after_its_items() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (groups, main) = subscribe_groups(&clock, hot.flux().group_by(|x| x % 2), MAX, 0);
    hot.emit(0);
    hot.emit(1);
    hot.error(Error::msg("boom"));
    assert!(matches!(
        main.events().last(),
        Some(Err(_, ErrorKind::Custom))
    ));
    for (_, p) in groups.lock().unwrap().iter() {
        assert!(p.events().is_empty(), "held item first");
        p.request(1);
        assert_eq!(p.terminal_count(), 1);
        assert!(matches!(p.events().last(), Some(Err(_, ErrorKind::Custom))));
    }
}

#[test]
fn a_group_is_unicast() {
    let (sub, probe) = TestSubscriber::new(MAX);
    let second = Arc::new(Mutex::new(None));
    let s = second.clone();
    backflow::range(0..3u32)
        .group_by(|_| 0u8)
        .flat_map(move |g| {
            let (other, other_probe) = TestSubscriber::<u32>::new(MAX);
            g.get_ref().subscribe(other);
            *s.lock().unwrap() = Some(other_probe);
            g
        })
        .subscribe(sub);
    let other = second.lock().unwrap().take().unwrap();
    assert_eq!(
        other.values(),
        [0, 1, 2],
        "the first subscriber got the group"
    );
    let err = probe.error().expect("the second subscription is rejected");
    assert_eq!(err.kind(), ErrorKind::Rejected);
}
