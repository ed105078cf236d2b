//! `delay`, `delay_subscription`, `timestamp`, `elapsed`, `timeout_with` on virtual time: exact
//! output times, the demand each passes upstream, cancel (timers and held items), terminal order.

mod timed_support;

use backflow::metrics::DropReason;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

// ---- delay ----

#[test]
fn delay_shifts_each_item_and_keeps_spacing_and_order() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .delay(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [32], "holds at most DELAY_CAPACITY");
    for (t, c) in [(0, 'a'), (5, 'b'), (7, 'c')] {
        at(&clock, t);
        hot.emit(c);
    }
    at(&clock, 8);
    hot.complete();
    at(&clock, 30);
    assert_eq!(
        probe.events(),
        [Next(10, 'a'), Next(15, 'b'), Next(17, 'c'), Complete(17)],
        "completion waits for the held items, not longer"
    );
}

#[test]
fn delay_due_items_wait_for_demand() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .delay(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit('a');
    hot.emit('b');
    at(&clock, 20);
    assert_eq!(probe.events(), [Next(10, 'a')]);
    at(&clock, 25);
    probe.request(1);
    assert_eq!(probe.events(), [Next(10, 'a'), Next(25, 'b')]);
}

#[test]
fn delay_tops_up_in_batches_and_bounds_what_it_holds() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .delay(ms(1))
        .scheduler(clock.clone())
        .subscribe(sub);
    for i in 0..32u32 {
        hot.emit(i);
    }
    at(&clock, 5);
    assert_eq!(hot.requests(), [32], "full: nothing more until items leave");
    probe.request(7);
    assert_eq!(hot.requests(), [32], "7 left: less than a quarter");
    probe.request(1);
    assert_eq!(
        hot.requests(),
        [32, 8],
        "a quarter of the capacity freed: topped up"
    );
    assert_eq!(probe.values(), (0..8).collect::<Vec<_>>());
}

#[test]
fn delay_cancel_drops_held_items_and_stops_the_timer() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .delay(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit('a');
    hot.emit('b');
    probe.cancel();
    assert!(hot.is_cancelled());
    assert_eq!(
        *log.lock().unwrap(),
        [('a', DropReason::Cancelled), ('b', DropReason::Cancelled)]
    );
    assert_eq!(clock.pending(), 0);
    assert!(probe.is_released());
    at(&clock, 50);
    assert!(probe.events().is_empty());
}

#[test]
fn delay_error_after_held_items_and_overflow() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, first) = probe(&clock, MAX);
    hot.flux()
        .delay(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit('a');
    hot.error(Error::msg("boom"));
    at(&clock, 10);
    assert_eq!(first.events(), [Next(10, 'a'), Err(10, ErrorKind::Custom)]);

    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .delay(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    for i in 0..33u32 {
        hot.emit(i);
    }
    assert!(hot.is_cancelled(), "33 items against 32 requested");
    at(&clock, 100);
    assert!(matches!(
        probe.events().last(),
        Some(Err(_, ErrorKind::Overflow))
    ));
}

#[test]
fn delay_on_range() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, MAX);
    backflow::range(0..100u32)
        .delay(ms(3))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 20);
    assert_eq!(probe.values(), (0..100).collect::<Vec<_>>());
    // 32 held at a time: each 32 arrive as the previous 32 leave, 3 ms before they go.
    let times: Vec<u64> = probe.nexts_by(|_| ()).iter().map(|(t, _)| *t).collect();
    assert_eq!(
        (times[0], times[31], times[32], times[64], times[96]),
        (3, 3, 6, 9, 12)
    );
    assert!(matches!(probe.events().last(), Some(Complete(12))));
}

// ---- delay_subscription ----

#[test]
fn delay_subscription_subscribes_later_and_keeps_early_demand() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 3);
    hot.flux()
        .delay_subscription(ms(20))
        .scheduler(clock.clone())
        .subscribe(sub);
    probe.request(2);
    at(&clock, 19);
    assert!(!hot.is_subscribed());
    at(&clock, 20);
    assert!(hot.is_subscribed());
    assert_eq!(
        hot.requests(),
        [5],
        "what was asked meanwhile, in one request"
    );
    probe.request(1);
    assert_eq!(hot.requests(), [5, 1]);
    hot.emit(1);
    hot.complete();
    assert_eq!(probe.events(), [Next(20, 1), Complete(20)]);
}

#[test]
fn delay_subscription_cancel_before_the_delay_never_subscribes() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 3);
    hot.flux()
        .delay_subscription(ms(20))
        .scheduler(clock.clone())
        .subscribe(sub);
    probe.cancel();
    assert!(
        probe.is_released(),
        "the pending task let go of the subscriber"
    );
    at(&clock, 50);
    assert!(!hot.is_subscribed());
    assert!(probe.events().is_empty());
}

#[test]
fn delay_subscription_cancel_after_reaches_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 3);
    hot.flux()
        .delay_subscription(ms(5))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 5);
    probe.cancel();
    assert!(hot.is_cancelled());
}

// ---- timestamp / elapsed ----

#[test]
fn timestamp_and_elapsed_read_the_scheduler_clock() {
    let clock = VirtualTime::new();
    let hot = Hot::<char>::new();
    let (sub, stamped) = probe(&clock, MAX);
    hot.flux()
        .timestamp()
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 3);
    hot.emit('a');
    at(&clock, 10);
    hot.emit('b');
    assert_eq!(
        stamped.nexts_by(|(t, c)| (t.since_epoch().as_millis() as u64, *c)),
        [(3, (3, 'a')), (10, (10, 'b'))]
    );

    let hot = Hot::<char>::new();
    let (sub, probe) = probe(&clock, 2);
    at(&clock, 20);
    hot.flux().elapsed().scheduler(clock.clone()).subscribe(sub);
    assert_eq!(hot.requests(), [2], "1:1");
    at(&clock, 25);
    hot.emit('a');
    at(&clock, 32);
    hot.emit('b');
    assert_eq!(
        probe.nexts_by(|(d, c)| (d.as_millis() as u64, *c)),
        [(25, (5, 'a')), (32, (7, 'b'))]
    );
}

// ---- timeout_with ----

#[test]
fn timeout_with_switches_to_the_fallback_with_the_outstanding_demand() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .timeout_with(ms(10), fallback.flux())
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 4);
    main.emit(1);
    at(&clock, 14);
    assert!(main.is_cancelled(), "timed out at 14");
    assert_eq!(fallback.requests(), [4], "5 requested, 1 delivered");
    fallback.emit(2);
    fallback.complete();
    assert_eq!(probe.events(), [Next(4, 1), Next(14, 2), Complete(14)]);
}

#[test]
fn timeout_with_passes_other_errors_and_clean_runs() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .timeout_with(ms(10), fallback.flux())
        .scheduler(clock.clone())
        .subscribe(sub);
    main.error(Error::msg("boom"));
    assert_eq!(probe.events(), [Err(0, ErrorKind::Custom)]);
    assert!(!fallback.is_subscribed());

    let out = backflow::range(0..3u32)
        .timeout_with(ms(10), backflow::range(9..10u32))
        .scheduler(clock.clone())
        .collect()
        .unwrap();
    assert_eq!(out, [0, 1, 2]);
}

#[test]
fn timeout_with_cancel_before_the_timeout() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .timeout_with(ms(10), fallback.flux())
        .scheduler(clock.clone())
        .subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
    at(&clock, 50);
    assert!(!fallback.is_subscribed());
    assert!(probe.is_released());
}
