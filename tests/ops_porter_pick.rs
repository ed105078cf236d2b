//! The small operators porters reach for: `take_until`, `skip_until`, `take_last`, `last`,
//! `skip_last`, `first`, `element_at`, `default_if_empty`, `switch_if_empty`, `distinct`,
//! `distinct_within`, `ignore_elements`, `then`, `all`, `any`, `collect_map`. Outputs on
//! `range`/`from_iter`, the demand each passes upstream, cancel, errors, panics.

mod timed_support;

use std::sync::{Arc, Barrier};

use backflow::metrics::DropReason;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

fn boom() -> Error {
    Error::msg("boom")
}

// ---- take_until / skip_until ----

#[test]
fn take_until_passes_items_until_the_trigger_emits() {
    let clock = VirtualTime::new();
    let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
    let (sub, probe) = probe(&clock, 10);
    main.flux().take_until(trigger.flux()).subscribe(sub);
    assert_eq!(main.requests(), [10], "1:1");
    assert_eq!(trigger.requests(), [MAX]);
    main.emit(1);
    main.emit(2);
    trigger.emit(());
    main.emit(3);
    assert_eq!(probe.events(), [Next(0, 1), Next(0, 2), Complete(0)]);
    assert!(main.is_cancelled() && trigger.is_cancelled());
    assert!(probe.is_released());
}

#[test]
fn take_until_trigger_error_fails_and_empty_trigger_is_ignored() {
    let clock = VirtualTime::new();
    let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
    let (sub, probe) = probe(&clock, 10);
    main.flux().take_until(trigger.flux()).subscribe(sub);
    trigger.error(boom());
    assert_eq!(probe.events(), [Err(0, ErrorKind::Custom)]);
    assert!(main.is_cancelled());

    let out = backflow::range(0..3u32)
        .take_until(backflow::empty::<()>())
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
}

#[test]
fn take_until_main_end_cancels_the_trigger() {
    let clock = VirtualTime::new();
    let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
    let (sub, probe) = probe(&clock, 10);
    main.flux().take_until(trigger.flux()).subscribe(sub);
    main.emit(1);
    main.complete();
    assert_eq!(probe.events(), [Next(0, 1), Complete(0)]);
    assert!(trigger.is_cancelled());
}

#[test]
fn take_until_cancel_cancels_both() {
    let clock = VirtualTime::new();
    let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
    let (sub, probe) = probe(&clock, 10);
    main.flux().take_until(trigger.flux()).subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled() && trigger.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(probe.terminal_count(), 0);
}

#[test]
fn take_until_trigger_racing_with_items_ends_once() {
    for _ in 0..300 {
        let clock = VirtualTime::new();
        let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
        let (sub, probe) = probe(&clock, MAX);
        main.flux().take_until(trigger.flux()).subscribe(sub);
        let barrier = Arc::new(Barrier::new(2));
        let (b, t) = (barrier.clone(), trigger.clone());
        let firer = std::thread::spawn(move || {
            b.wait();
            t.emit(());
        });
        barrier.wait();
        for i in 0..50 {
            main.emit(i);
        }
        firer.join().unwrap();
        let events = probe.events();
        assert_eq!(probe.terminal_count(), 1, "{events:?}");
        assert!(matches!(events.last(), Some(Complete(_))));
        let values = probe.values();
        assert_eq!(
            values,
            (0..values.len() as u32).collect::<Vec<_>>(),
            "a prefix, in order"
        );
        assert!(probe.is_released());
    }
}

#[test]
fn skip_until_discards_until_the_trigger_and_replenishes() {
    let clock = VirtualTime::new();
    let (main, trigger) = (Hot::<u32>::new(), Hot::<()>::new());
    let (sub, probe) = probe(&clock, 2);
    main.flux().skip_until(trigger.flux()).subscribe(sub);
    main.emit(1);
    main.emit(2);
    assert_eq!(main.requests(), [2, 1, 1], "each skipped item replenished");
    trigger.emit(());
    assert!(trigger.is_cancelled(), "only its first item matters");
    main.emit(3);
    main.emit(4);
    main.complete();
    assert_eq!(probe.events(), [Next(0, 3), Next(0, 4), Complete(0)]);
}

#[test]
fn skip_until_fused_on_range() {
    let out = backflow::range(0..4u32)
        .skip_until(backflow::just(()))
        .collect_with(Request::Batch(1))
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3]);
}

// ---- take_last / last / skip_last ----

#[test]
fn take_last_emits_the_window_after_completion_as_demand_allows() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 1);
    main.flux().take_last(3).subscribe(sub);
    assert_eq!(main.requests(), [MAX], "needs everything");
    for i in 0..10 {
        main.emit(i);
    }
    assert!(probe.events().is_empty(), "nothing before completion");
    main.complete();
    assert_eq!(probe.events(), [Next(0, 7)]);
    probe.request(5);
    assert_eq!(
        probe.events(),
        [Next(0, 7), Next(0, 8), Next(0, 9), Complete(0)]
    );
}

#[test]
fn take_last_on_range_and_edge_sizes() {
    assert_eq!(
        backflow::range(0..10u32).take_last(3).collect().unwrap(),
        [7, 8, 9]
    );
    assert_eq!(
        backflow::range(0..2u32).take_last(3).collect().unwrap(),
        [0, 1]
    );
    assert!(backflow::range(0..5u32)
        .take_last(0)
        .collect()
        .unwrap()
        .is_empty());
    assert_eq!(backflow::range(0..5u32).last().collect().unwrap(), [4]);
    assert!(backflow::empty::<u8>().last().collect().unwrap().is_empty());
}

#[test]
fn take_last_cancel_drops_the_window() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 0);
    main.flux().take_last(2).on_drop(on_drop).subscribe(sub);
    for i in 0..5 {
        main.emit(i);
    }
    main.complete();
    probe.cancel();
    assert_eq!(
        *log.lock().unwrap(),
        [(3, DropReason::Cancelled), (4, DropReason::Cancelled)]
    );
    assert!(probe.is_released());
    assert_eq!(probe.terminal_count(), 0);
}

#[test]
fn take_last_error_discards_the_window() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    main.flux().take_last(2).on_drop(on_drop).subscribe(sub);
    main.emit(1);
    main.error(boom());
    assert_eq!(probe.events(), [Err(0, ErrorKind::Custom)]);
    assert_eq!(*log.lock().unwrap(), [(1, DropReason::Cancelled)]);
}

#[test]
fn take_last_panicking_downstream_gets_the_panic() {
    let (sub, probe) = TestSubscriber::builder()
        .initial_request(10)
        .panic_on_item(1)
        .build();
    backflow::range(0..5u32).take_last(3).subscribe(sub);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
}

#[test]
fn skip_last_holds_n_and_passes_the_rest_one_for_one() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 2);
    main.flux().skip_last(3).subscribe(sub);
    assert_eq!(main.requests(), [2, 3], "demand plus the window, once");
    for i in 0..5 {
        main.emit(i);
    }
    main.complete();
    assert_eq!(probe.events(), [Next(0, 0), Next(0, 1), Complete(0)]);
    assert_eq!(
        backflow::range(0..6u32).skip_last(2).collect().unwrap(),
        [0, 1, 2, 3]
    );
    assert_eq!(
        backflow::range(0..6u32).skip_last(0).collect().unwrap(),
        [0, 1, 2, 3, 4, 5]
    );
    assert!(backflow::range(0..2u32)
        .skip_last(5)
        .collect()
        .unwrap()
        .is_empty());
}

// ---- first / element_at ----

#[test]
fn first_and_element_at() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, MAX);
    main.flux().first().subscribe(sub);
    assert_eq!(main.requests(), [1], "never more than one");
    main.emit(9);
    assert!(main.is_cancelled());
    assert_eq!(probe.events(), [Next(0, 9), Complete(0)]);
    assert_eq!(
        backflow::range(0..10u32).element_at(4).collect().unwrap(),
        [4]
    );
    assert!(backflow::range(0..3u32)
        .element_at(3)
        .collect()
        .unwrap()
        .is_empty());
    assert!(backflow::empty::<u8>()
        .first()
        .collect()
        .unwrap()
        .is_empty());
}

// ---- default_if_empty / switch_if_empty ----

#[test]
fn default_if_empty_waits_for_demand() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 0);
    main.flux().default_if_empty(42).subscribe(sub);
    main.complete();
    assert!(probe.events().is_empty());
    probe.request(1);
    assert_eq!(probe.events(), [Next(0, 42), Complete(0)]);
    assert_eq!(
        backflow::range(0..2u32)
            .default_if_empty(42)
            .collect()
            .unwrap(),
        [0, 1]
    );
    let err = backflow::error::<u32>(boom())
        .default_if_empty(1)
        .collect()
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");
}

#[test]
fn switch_if_empty_carries_all_demand_to_the_alternative() {
    let clock = VirtualTime::new();
    let (main, alt) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 4);
    main.flux().switch_if_empty(alt.flux()).subscribe(sub);
    main.complete();
    assert_eq!(alt.requests(), [4]);
    alt.emit(1);
    probe.request(1);
    assert_eq!(alt.requests(), [4, 1]);
    probe.cancel();
    assert!(alt.is_cancelled());
    assert_eq!(probe.values(), [1]);
}

#[test]
fn switch_if_empty_not_taken_when_something_came_or_cancelled() {
    let clock = VirtualTime::new();
    let (main, alt) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, first) = probe(&clock, 4);
    main.flux().switch_if_empty(alt.flux()).subscribe(sub);
    main.emit(1);
    main.complete();
    assert!(!alt.is_subscribed());
    assert_eq!(first.events(), [Next(0, 1), Complete(0)]);

    let (main, alt) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 4);
    main.flux().switch_if_empty(alt.flux()).subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
    main.complete();
    assert!(!alt.is_subscribed());
}

#[test]
fn switch_if_empty_to_an_error_makes_empty_fail() {
    let err = backflow::empty::<u32>()
        .switch_if_empty(backflow::error(Error::new(
            ErrorKind::Closed,
            "no such element",
        )))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

// ---- distinct ----

#[test]
fn distinct_passes_first_occurrences_and_replenishes_repeats() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 3);
    main.flux().distinct().subscribe(sub);
    for x in [1, 1, 2, 1, 3] {
        main.emit(x);
    }
    assert_eq!(probe.values(), [1, 2, 3]);
    assert_eq!(main.requests(), [3, 1, 1], "one credit back per repeat");
    let out = backflow::from_iter(vec![3, 1, 3, 2, 1, 4])
        .distinct()
        .collect()
        .unwrap();
    assert_eq!(out, [3, 1, 2, 4]);
}

#[test]
fn distinct_within_forgets_the_oldest() {
    let out = backflow::from_iter(vec![1, 2, 1, 3, 1, 2])
        .distinct_within(2)
        .collect_with(Request::Batch(1))
        .unwrap();
    // memory [1,2]; 1 repeat; 3 evicts 1 -> [2,3]; 1 passes, evicts 2 -> [3,1]; 2 passes.
    assert_eq!(out, [1, 2, 3, 1, 2]);
}

#[test]
#[should_panic(expected = "at least one")]
fn distinct_within_zero_panics() {
    let _ = backflow::range(0..1u8).distinct_within(0);
}

// ---- ignore_elements / then ----

#[test]
fn ignore_elements_requests_everything_and_passes_the_end() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 1);
    main.flux().ignore_elements().subscribe(sub);
    assert_eq!(main.requests(), [MAX]);
    probe.request(5);
    assert_eq!(main.requests(), [MAX], "downstream demand does not apply");
    main.emit(1);
    main.complete();
    assert_eq!(probe.events(), [Complete(0)]);
    let err = backflow::error::<u8>(boom())
        .ignore_elements()
        .collect()
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");
}

#[test]
fn ignore_elements_cancel_reaches_upstream() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 0);
    main.flux().ignore_elements().subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
}

#[test]
fn then_keeps_downstream_demand_for_the_next_publisher() {
    let clock = VirtualTime::new();
    let (main, next) = (Hot::<u32>::new(), Hot::<&'static str>::new());
    let (sub, probe) = probe(&clock, 3);
    main.flux().then(next.flux()).subscribe(sub);
    assert_eq!(main.requests(), [MAX], "the upstream's items are discarded");
    main.emit(1);
    main.complete();
    assert_eq!(next.requests(), [3]);
    next.emit("a");
    next.complete();
    assert_eq!(probe.events(), [Next(0, "a"), Complete(0)]);
}

#[test]
fn then_error_skips_the_next_and_cancel_before_switch() {
    let clock = VirtualTime::new();
    let (main, next) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, first) = probe(&clock, 3);
    main.flux().then(next.flux()).subscribe(sub);
    main.error(boom());
    assert!(!next.is_subscribed());
    assert_eq!(first.events(), [Err(0, ErrorKind::Custom)]);

    let (main, next) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 3);
    main.flux().then(next.flux()).subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
    main.complete();
    assert!(!next.is_subscribed());
}

// ---- all / any / collect_map ----

#[test]
fn all_and_any_short_circuit_and_cancel() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 1);
    main.flux().any(|x| *x > 2).subscribe(sub);
    assert_eq!(main.requests(), [MAX]);
    main.emit(1);
    main.emit(3);
    assert!(main.is_cancelled(), "decided: the rest is not needed");
    assert_eq!(probe.events(), [Next(0, true), Complete(0)]);

    assert_eq!(
        backflow::range(0..10u32)
            .all(|x| *x < 10)
            .collect()
            .unwrap(),
        [true]
    );
    assert_eq!(
        backflow::range(0..10u32).all(|x| *x < 5).collect().unwrap(),
        [false]
    );
    assert_eq!(
        backflow::range(0..10u32)
            .any(|x| *x > 20)
            .collect()
            .unwrap(),
        [false]
    );
    assert_eq!(
        backflow::empty::<u32>().all(|_| false).collect().unwrap(),
        [true]
    );
    assert_eq!(
        backflow::range(0..u64::MAX)
            .all(|x| *x < 3)
            .collect()
            .unwrap(),
        [false]
    );
}

#[test]
fn all_result_waits_for_demand_and_panics_become_errors() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 0);
    main.flux().all(|x| *x < 10).subscribe(sub);
    main.emit(1);
    main.complete();
    assert!(probe.events().is_empty());
    probe.request(1);
    assert_eq!(probe.events(), [Next(0, true), Complete(0)]);

    let err = backflow::range(0..3u32)
        .any(|_| panic!("predicate"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn collect_map_keeps_the_last_value_per_key() {
    let maps = backflow::range(0..10u32)
        .collect_map(|x| x % 3, |x| x * 10)
        .collect()
        .unwrap();
    assert_eq!(maps.len(), 1);
    let map = &maps[0];
    assert_eq!(map.len(), 3);
    assert_eq!((map[&0], map[&1], map[&2]), (90, 70, 80));
    let empty = backflow::empty::<u32>()
        .collect_map(|x| *x, |x| x)
        .collect()
        .unwrap();
    assert!(empty[0].is_empty());
}
