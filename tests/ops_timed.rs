//! The timed operators on virtual time, marble style: given emission times in, exact output times
//! out, plus drops (value and reason through `on_drop`), metrics, upstream demand, terminal
//! ordering, cancel (timers cancelled, held items dropped, subscriber released).

mod timed_support;

use std::sync::Arc;

use backflow::metrics::{DropReason, StageMetrics};
use backflow::ops::ErrorMode;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use backflow::NoopSubscription;
use timed_support::*;

const MAX: u64 = u64::MAX;

fn metrics(name: &str) -> Arc<StageMetrics> {
    Arc::new(StageMetrics::new(name, 0))
}

// ---- sample ----

#[test]
fn sample_emits_the_latest_item_of_each_period() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let m = metrics("sample");
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .metrics(m.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [MAX], "lossy: unbounded upstream");

    // a--b-c-|-----d---|----  (ticks at 10, 20, 30)
    at(&clock, 5);
    hot.emit('a');
    at(&clock, 12);
    hot.emit('b');
    at(&clock, 18);
    hot.emit('c');
    at(&clock, 30);
    at(&clock, 35);
    hot.emit('d');
    at(&clock, 37);
    hot.complete();
    assert_eq!(
        probe.events(),
        [Next(10, 'a'), Next(20, 'c'), Next(37, 'd'), Complete(37)],
        "a tick with nothing new emits nothing; the last item goes before completion"
    );
    assert_eq!(*log.lock().unwrap(), [('b', DropReason::Overwritten)]);
    let snap = m.snapshot();
    assert_eq!((snap.received, snap.emitted), (4, 3));
    assert_eq!(snap.dropped.get(DropReason::Overwritten), 1);
    assert_eq!(snap.requested, MAX);
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0, "no tick left after completion");
}

#[test]
fn sample_keeps_the_latest_through_a_tick_without_demand() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    at(&clock, 5);
    hot.emit(1);
    at(&clock, 10); // no demand: kept, no error
    at(&clock, 12);
    probe.request(1); // a request alone does not emit: the next tick does
    assert_eq!(probe.events(), []);
    at(&clock, 20);
    assert_eq!(probe.events(), [Next(20, 1)]);
    hot.emit(2);
    at(&clock, 30); // no demand again
    hot.emit(3); // overwrites the kept 2
    probe.request(1);
    at(&clock, 40);
    assert_eq!(probe.events(), [Next(20, 1), Next(40, 3)]);
    assert_eq!(*log.lock().unwrap(), [(2, DropReason::Overwritten)]);
}

#[test]
fn sample_holds_completion_until_there_is_demand_for_the_last_item() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit("last");
    at(&clock, 3);
    hot.complete();
    at(&clock, 50);
    assert_eq!(probe.events(), [], "never lose the last item silently");
    probe.request(1);
    assert_eq!(probe.events(), [Next(50, "last"), Complete(50)]);
    assert!(probe.is_released());
}

#[test]
fn sample_completes_at_once_when_nothing_is_held() {
    let clock = VirtualTime::new();
    let hot = Hot::<u8>::new();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 4);
    hot.complete();
    assert_eq!(probe.events(), [Complete(4)]);
    assert_eq!(clock.pending(), 0);
}

#[test]
fn sample_error_goes_after_the_held_item_by_default() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 2);
    hot.emit(7);
    hot.error(Error::msg("boom"));
    assert_eq!(probe.events(), [Next(2, 7), Err(2, ErrorKind::Custom)]);
}

#[test]
fn sample_error_immediate_drops_the_held_item() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .error_mode(ErrorMode::Immediate)
        .subscribe(sub);
    hot.emit(7);
    hot.error(Error::msg("boom"));
    assert_eq!(probe.events(), [Err(0, ErrorKind::Custom)]);
    assert_eq!(*log.lock().unwrap(), [(7, DropReason::Cancelled)]);
}

#[test]
fn sample_cancel_drops_the_held_item_stops_ticks_and_releases_the_subscriber() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit(1);
    at(&clock, 5);
    probe.cancel();
    assert!(hot.is_cancelled());
    assert!(probe.is_released(), "rule 3.13");
    assert_eq!(clock.pending(), 0, "the tick is cancelled");
    assert_eq!(*log.lock().unwrap(), [(1, DropReason::Cancelled)]);
    at(&clock, 100);
    assert_eq!(probe.events(), []);
}

#[test]
fn sample_items_in_flight_after_cancel_reach_on_drop() {
    let clock = VirtualTime::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    // A source that ignores cancel: what it still sends is dropped as Cancelled, not lost.
    struct Deaf(Vec<u32>);
    impl Publisher for Deaf {
        type Item = u32;
        fn subscribe<S: Subscriber<u32> + 'static>(&self, mut s: S) {
            s.on_subscribe(NoopSubscription::shared());
            for x in &self.0 {
                s.on_next(*x);
            }
        }
    }
    struct CancelFirst<S>(S);
    impl<S: Subscriber<u32>> Subscriber<u32> for CancelFirst<S> {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            self.0.on_subscribe(s.clone());
            s.cancel();
        }
        fn on_next(&mut self, x: u32) {
            self.0.on_next(x)
        }
        fn on_error(&mut self, e: Error) {
            self.0.on_error(e)
        }
        fn on_complete(&mut self) {
            self.0.on_complete()
        }
    }
    Flux::new(Deaf(vec![1, 2]))
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(CancelFirst(sub));
    assert_eq!(
        *log.lock().unwrap(),
        [(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
    assert_eq!(probe.events(), []);
}

#[test]
fn sample_request_zero_is_an_error_and_drops_the_held_item() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit(1);
    probe.request(0);
    assert_eq!(probe.events(), [Err(0, ErrorKind::InvalidDemand)]);
    assert!(probe.last_error().unwrap().to_string().contains("3.9"));
    assert!(hot.is_cancelled());
    assert_eq!(*log.lock().unwrap(), [(1, DropReason::Cancelled)]);
    assert_eq!(clock.pending(), 0);
}

#[test]
fn sample_a_panicking_subscriber_cancels_upstream_and_gets_the_error() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub.panicking(|x| *x == 2));
    hot.emit(1);
    at(&clock, 10);
    hot.emit(2);
    at(&clock, 20);
    assert_eq!(probe.events(), [Next(10, 1), Err(20, ErrorKind::Panicked)]);
    assert!(hot.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
}

#[test]
fn sample_a_panic_in_on_subscribe_is_reported_to_the_subscriber() {
    let clock = VirtualTime::new();
    let hot = Hot::<u8>::new();
    struct Boom(Arc<std::sync::Mutex<Vec<ErrorKind>>>);
    impl Subscriber<u8> for Boom {
        fn on_subscribe(&mut self, _: SharedSubscription) {
            panic!("no");
        }
        fn on_next(&mut self, _: u8) {}
        fn on_error(&mut self, e: Error) {
            self.0.lock().unwrap().push(e.kind());
        }
        fn on_complete(&mut self) {}
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    hot.flux()
        .sample(ms(10))
        .scheduler(clock.clone())
        .subscribe(Boom(seen.clone()));
    assert_eq!(*seen.lock().unwrap(), [ErrorKind::Panicked]);
    assert!(hot.is_cancelled());
    assert!(
        hot.requests().is_empty(),
        "nothing requested for a dead subscriber"
    );
    assert_eq!(clock.pending(), 0);
}

// ---- throttle_first ----

#[test]
fn throttle_first_emits_then_drops_for_the_window() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let m = metrics("throttle_first");
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle_first(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .metrics(m.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [MAX]);
    // a-b--c-d----e  at 0, 5, 10, 12, 25; windows [0, 10), [10, 20), [25, 35)
    for (t, x) in [(0, 'a'), (5, 'b'), (10, 'c'), (12, 'd'), (25, 'e')] {
        at(&clock, t);
        hot.emit(x);
    }
    hot.complete();
    assert_eq!(
        probe.events(),
        [Next(0, 'a'), Next(10, 'c'), Next(25, 'e'), Complete(25)]
    );
    assert_eq!(
        *log.lock().unwrap(),
        [('b', DropReason::Throttled), ('d', DropReason::Throttled)]
    );
    let snap = m.snapshot();
    assert_eq!((snap.received, snap.emitted, snap.throttled), (5, 3, 2));
    assert_eq!(snap.dropped.get(DropReason::Throttled), 2);
    assert_eq!(clock.pending(), 0, "no timer: it only reads the clock");
}

#[test]
fn throttle_first_without_demand_drops_and_opens_no_window() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .throttle_first(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit(1);
    at(&clock, 20);
    hot.emit(2); // outside the window, but no demand
    at(&clock, 21);
    probe.request(1);
    hot.emit(3); // 2 opened no window
    assert_eq!(probe.events(), [Next(0, 1), Next(21, 3)]);
    assert_eq!(*log.lock().unwrap(), [(2, DropReason::NoDemand)]);
}

#[test]
fn throttle_first_passes_errors_at_once_and_cancel_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle_first(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit(1);
    hot.error(Error::msg("x"));
    assert_eq!(probe.events(), [Next(0, 1), Err(0, ErrorKind::Custom)]);

    let hot = Hot::<u8>::new();
    let (sub, second) = timed_support::probe(&clock, MAX);
    hot.flux()
        .throttle_first(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    second.cancel();
    assert!(hot.is_cancelled());
    hot.emit(1);
    assert!(second.is_released(), "the upstream dropped the stage");
}

#[test]
fn throttle_first_on_the_real_clock_lets_the_first_through() {
    let out = backflow::range(0..1000u32)
        .throttle_first(ms(60_000))
        .collect()
        .unwrap();
    assert_eq!(out, [0]);
}

// ---- debounce ----

#[test]
fn debounce_emits_after_a_quiet_period() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let m = metrics("debounce");
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .debounce(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .metrics(m.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [MAX]);
    // a-b------c-d-e---------|   at 0, 5 | 30, 33, 36 | complete at 60
    for (t, x) in [(0, 'a'), (5, 'b'), (30, 'c'), (33, 'd'), (36, 'e')] {
        at(&clock, t);
        hot.emit(x);
        assert!(clock.pending() <= 1, "one timer, however many items");
    }
    at(&clock, 60);
    hot.complete();
    assert_eq!(probe.events(), [Next(15, 'b'), Next(46, 'e'), Complete(60)]);
    assert_eq!(
        *log.lock().unwrap(),
        [
            ('a', DropReason::Overwritten),
            ('c', DropReason::Overwritten),
            ('d', DropReason::Overwritten)
        ]
    );
    let snap = m.snapshot();
    assert_eq!((snap.received, snap.emitted), (5, 2));
    assert_eq!(snap.dropped.total(), 3);
}

#[test]
fn debounce_emits_the_pending_item_at_completion() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .debounce(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit(1);
    at(&clock, 3);
    hot.complete();
    assert_eq!(probe.events(), [Next(3, 1), Complete(3)]);
    assert_eq!(clock.pending(), 0);
}

#[test]
fn debounce_a_due_item_waits_for_demand_unless_replaced() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .debounce(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit(1);
    at(&clock, 20); // due at 10, no demand: kept
    hot.emit(2); // replaces it
    at(&clock, 40);
    probe.request(1);
    assert_eq!(probe.events(), [Next(40, 2)]);
    assert_eq!(*log.lock().unwrap(), [(1, DropReason::Overwritten)]);
}

#[test]
fn debounce_cancel_drops_the_pending_item() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .debounce(ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    hot.emit(1);
    probe.cancel();
    assert!(hot.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
    assert_eq!(*log.lock().unwrap(), [(1, DropReason::Cancelled)]);
}

#[test]
fn debounce_error_after_drain_and_immediate() {
    let clock = VirtualTime::new();
    for (mode, expected_events, expected_drops) in [
        (
            ErrorMode::AfterDrain,
            vec![Next(0, 1), Err(0, ErrorKind::Custom)],
            vec![],
        ),
        (
            ErrorMode::Immediate,
            vec![Err(0, ErrorKind::Custom)],
            vec![(1, DropReason::Cancelled)],
        ),
    ] {
        let hot = Hot::new();
        let (log, on_drop) = drops();
        let (sub, probe) = probe(&clock, MAX);
        hot.flux()
            .debounce(ms(10))
            .scheduler(clock.clone())
            .on_drop(on_drop)
            .error_mode(mode)
            .subscribe(sub);
        hot.emit(1);
        hot.error(Error::msg("boom"));
        assert_eq!(probe.events(), expected_events, "{mode:?}");
        assert_eq!(*log.lock().unwrap(), expected_drops, "{mode:?}");
    }
}

// ---- throttle ----

#[test]
fn throttle_shaping_paces_items_and_requests_one_burst_at_a_time() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let m = metrics("throttle");
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle(1, ms(10))
        .burst(1)
        .scheduler(clock.clone())
        .metrics(m.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [1], "min(demand, burst)");
    hot.emit('a');
    assert_eq!(hot.requests(), [1, 1]);
    hot.emit('b'); // no token until 10
    assert_eq!(hot.requests(), [1, 1], "nothing more while b waits");
    at(&clock, 10);
    assert_eq!(hot.requests(), [1, 1, 1]);
    at(&clock, 14);
    hot.emit('c');
    at(&clock, 40);
    hot.emit('d'); // the bucket refilled meanwhile (one token at most)
    hot.emit('e');
    at(&clock, 100);
    hot.complete();
    assert_eq!(
        probe.events(),
        [
            Next(0, 'a'),
            Next(10, 'b'),
            Next(20, 'c'),
            Next(40, 'd'),
            Next(50, 'e'),
            Complete(100)
        ]
    );
    let snap = m.snapshot();
    assert_eq!((snap.received, snap.emitted), (5, 5));
    assert_eq!(snap.throttled, 3, "b, c and e waited for a token");
    assert_eq!(snap.dropped.total(), 0);
    assert_eq!(snap.requested, 6);
}

#[test]
fn throttle_burst_lets_a_full_bucket_through_then_paces() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    // 2 per 10 ms: a token every 5 ms; the bucket holds 3.
    hot.flux()
        .throttle(2, ms(10))
        .burst(3)
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [3]);
    for x in 0..3 {
        hot.emit(x);
    }
    assert_eq!(hot.requests(), [3, 1, 1, 1]);
    for x in 3..6 {
        hot.emit(x);
    }
    at(&clock, 30);
    let times: Vec<_> = probe
        .events()
        .into_iter()
        .map(|e| match e {
            Next(t, x) => (t, x),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(times, [(0, 0), (0, 1), (0, 2), (5, 3), (10, 4), (15, 5)]);
    assert!(
        hot.total_requested() - 6 <= 3,
        "never more than the burst outstanding"
    );
}

#[test]
fn throttle_requests_no_more_than_downstream_asked() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, 2);
    hot.flux()
        .throttle(100, ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [2], "min(demand 2, burst 100)");
    hot.emit(1);
    hot.emit(2);
    assert_eq!(hot.requests(), [2]);
    probe.request(1);
    assert_eq!(hot.requests(), [2, 1]);
    assert_eq!(probe.values(), [1, 2]);
}

#[test]
fn throttle_enforcing_fails_with_rate_exceeded_and_retry_after() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let m = metrics("enforcing");
    let (sub, probe) = probe(&clock, MAX);
    // 2 per 10 ms (a token every 5 ms), burst 2.
    hot.flux()
        .throttle(2, ms(10))
        .enforcing()
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .metrics(m.clone())
        .subscribe(sub);
    hot.emit('a');
    hot.emit('b');
    at(&clock, 3);
    hot.emit('c'); // the next token comes at 5
    assert_eq!(
        probe.events(),
        [Next(0, 'a'), Next(0, 'b'), Err(3, ErrorKind::RateExceeded)]
    );
    assert_eq!(probe.last_error().unwrap().retry_after(), Some(ms(2)));
    assert!(hot.is_cancelled());
    assert_eq!(*log.lock().unwrap(), [('c', DropReason::Throttled)]);
    assert_eq!(m.snapshot().throttled, 1);
    assert!(probe.is_released());
}

#[test]
fn throttle_enforcing_passes_a_stream_within_the_rate() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle(1, ms(10))
        .enforcing()
        .scheduler(clock.clone())
        .subscribe(sub);
    for t in [0, 10, 25, 35] {
        at(&clock, t);
        hot.emit(t);
    }
    hot.complete();
    assert_eq!(
        probe.events(),
        [
            Next(0, 0),
            Next(10, 10),
            Next(25, 25),
            Next(35, 35),
            Complete(35)
        ]
    );
}

#[test]
fn throttle_overflow_when_upstream_sends_more_than_requested() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .throttle(10, ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    assert_eq!(hot.requests(), [1]);
    hot.emit(1);
    hot.emit(2); // not requested
    assert_eq!(probe.events(), [Next(0, 1), Err(0, ErrorKind::Overflow)]);
    assert!(hot.is_cancelled());
    assert_eq!(*log.lock().unwrap(), [(2, DropReason::Overflow)]);
}

#[test]
fn throttle_upstream_error_lets_waiting_items_out_paced_by_default() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle(1, ms(10))
        .burst(1)
        .scheduler(clock.clone())
        .subscribe(sub);
    hot.emit(1);
    hot.emit(2);
    hot.error(Error::msg("late"));
    assert_eq!(probe.events(), [Next(0, 1)]);
    at(&clock, 10);
    assert_eq!(
        probe.events(),
        [Next(0, 1), Next(10, 2), Err(10, ErrorKind::Custom)]
    );
}

#[test]
fn throttle_upstream_error_immediate_drops_waiting_items() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle(1, ms(10))
        .burst(1)
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .error_mode(ErrorMode::Immediate)
        .subscribe(sub);
    hot.emit(1);
    hot.emit(2);
    hot.error(Error::msg("now"));
    assert_eq!(probe.events(), [Next(0, 1), Err(0, ErrorKind::Custom)]);
    assert_eq!(*log.lock().unwrap(), [(2, DropReason::Cancelled)]);
    assert_eq!(clock.pending(), 0);
}

#[test]
fn throttle_cancel_drops_waiting_items_and_cancels_the_timer() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .throttle(1, ms(10))
        .burst(2)
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    for x in 0..4 {
        hot.emit(x);
    }
    assert_eq!(clock.pending(), 1);
    probe.cancel();
    assert!(hot.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        [(2, DropReason::Cancelled), (3, DropReason::Cancelled)]
    );
    assert_eq!(probe.values(), [0, 1]);
}

#[test]
fn throttle_paces_a_cold_source_to_completion_after_it_is_gone() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, MAX);
    backflow::range(0..4u32)
        .throttle(1, ms(10))
        .burst(1)
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 100);
    assert_eq!(
        probe.events(),
        [
            Next(0, 0),
            Next(10, 1),
            Next(20, 2),
            Next(30, 3),
            Complete(30)
        ]
    );
    assert!(probe.is_released());
}

#[test]
fn throttle_on_the_default_scheduler() {
    // Real time, but no waiting: the full bucket holds all three.
    let out = backflow::range(0..3u32)
        .throttle(3, ms(60_000))
        .collect()
        .unwrap();
    assert_eq!(out, [0, 1, 2]);
    // And a short real wait: 1 ms apart.
    let out = backflow::range(0..3u32)
        .throttle(1, ms(1))
        .burst(1)
        .collect()
        .unwrap();
    assert_eq!(out, [0, 1, 2]);
}

#[test]
#[should_panic(expected = "burst(0)")]
fn throttle_burst_zero_panics() {
    let _ = backflow::range(0..1u8).throttle(1, ms(1)).burst(0);
}

// ---- timeout ----

#[test]
fn timeout_fails_when_no_item_comes_within_the_limit() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(hot.requests(), [MAX], "1:1 demand");
    for t in [5, 12, 21] {
        at(&clock, t);
        hot.emit(t);
        assert!(clock.pending() <= 1, "one timer, however many items");
    }
    at(&clock, 100);
    assert_eq!(
        probe.events(),
        [
            Next(5, 5),
            Next(12, 12),
            Next(21, 21),
            Err(31, ErrorKind::Timeout)
        ]
    );
    assert!(hot.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
}

#[test]
fn timeout_counts_from_subscription_for_the_first_item() {
    let clock = VirtualTime::new();
    let hot = Hot::<u8>::new();
    let (sub, probe) = probe(&clock, MAX);
    at(&clock, 3);
    hot.flux()
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 12);
    assert_eq!(probe.events(), []);
    at(&clock, 13);
    assert_eq!(probe.events(), [Err(13, ErrorKind::Timeout)]);
}

#[test]
fn timeout_passes_demand_and_completion_through() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, 2);
    hot.flux()
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    probe.request(3);
    assert_eq!(hot.requests(), [2, 3]);
    hot.emit(1);
    at(&clock, 4);
    hot.complete();
    assert_eq!(probe.events(), [Next(0, 1), Complete(4)]);
    assert_eq!(clock.pending(), 0, "the timer goes with the stream");
    assert!(probe.is_released());
}

#[test]
fn timeout_cancel_stops_the_timer_and_releases_the_subscriber() {
    let clock = VirtualTime::new();
    let hot = Hot::<u8>::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    probe.cancel();
    assert!(hot.is_cancelled());
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
    at(&clock, 50);
    assert_eq!(probe.events(), []);
}

#[test]
fn timeout_cancel_from_inside_on_next_releases_after_it_returns() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    struct CancelOnFirst {
        subscription: Option<SharedSubscription>,
        _alive: Arc<()>,
    }
    impl Subscriber<u8> for CancelOnFirst {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(10);
            self.subscription = Some(s);
        }
        fn on_next(&mut self, _: u8) {
            self.subscription.take().unwrap().cancel();
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {}
    }
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    hot.flux()
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(CancelOnFirst {
            subscription: None,
            _alive: alive,
        });
    hot.emit(1);
    assert!(hot.is_cancelled());
    assert!(weak.upgrade().is_none(), "released once on_next returned");
    assert_eq!(clock.pending(), 0);
    at(&clock, 50);
}

#[test]
fn timeout_a_panicking_subscriber_gets_the_error_from_upstream_catch() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, MAX);
    backflow::range(0..3u8)
        .timeout(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub.panicking(|x| *x == 1));
    assert_eq!(probe.events(), [Next(0, 0), Err(0, ErrorKind::Panicked)]);
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
}

// ---- interval ----

#[test]
fn interval_ticks_every_period() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, MAX);
    backflow::interval_with(ms(10), clock.clone()).subscribe(sub);
    at(&clock, 35);
    assert_eq!(probe.events(), [Next(10, 0), Next(20, 1), Next(30, 2)]);
    probe.cancel();
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0);
}

#[test]
fn interval_fails_with_overflow_on_a_tick_without_demand() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, 2);
    backflow::interval(ms(10))
        .scheduler(clock.clone())
        .subscribe(sub);
    at(&clock, 100);
    assert_eq!(
        probe.events(),
        [Next(10, 0), Next(20, 1), Err(30, ErrorKind::Overflow)]
    );
    assert!(probe.is_released());
    assert_eq!(clock.pending(), 0, "no tick after the error");
}

#[test]
fn interval_with_drop_is_lossy_instead() {
    let clock = VirtualTime::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 1);
    backflow::interval_with(ms(10), clock.clone())
        .drop_unrequested()
        .on_drop(on_drop)
        .subscribe(sub);
    at(&clock, 30);
    probe.request(1);
    at(&clock, 40);
    assert_eq!(probe.events(), [Next(10, 0), Next(40, 3)]);
    assert_eq!(
        *log.lock().unwrap(),
        [(1, DropReason::NoDemand), (2, DropReason::NoDemand)]
    );
}

#[test]
fn interval_demand_may_come_between_ticks() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe(&clock, 0);
    backflow::interval_with(ms(10), clock.clone()).subscribe(sub);
    at(&clock, 5);
    probe.request(1);
    at(&clock, 15);
    probe.request(1);
    at(&clock, 25);
    assert_eq!(probe.events(), [Next(10, 0), Next(20, 1)]);
}

#[test]
fn interval_request_zero_is_an_error() {
    let clock = VirtualTime::new();
    let (sub, probe) = probe::<u64>(&clock, 0);
    backflow::interval_with(ms(10), clock.clone()).subscribe(sub);
    probe.request(0);
    assert_eq!(probe.events(), [Err(0, ErrorKind::InvalidDemand)]);
    assert_eq!(clock.pending(), 0);
}

#[test]
fn interval_each_subscriber_has_its_own_count() {
    let clock = VirtualTime::new();
    let ticks = backflow::interval_with(ms(10), clock.clone());
    let (first, p1) = probe(&clock, MAX);
    ticks.subscribe(first);
    at(&clock, 15);
    let (second, p2) = probe(&clock, MAX);
    ticks.subscribe(second);
    at(&clock, 30);
    assert_eq!(p1.values(), [0, 1, 2]);
    assert_eq!(p2.events(), [Next(25, 0)]);
}

// ---- across threads: real schedulers, checking invariants only (never timing) ----

/// Waits (yielding, no sleep) until `done`, or fails after a generous bound.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn sample_across_threads_accounts_for_every_item() {
    const N: u64 = 20_000;
    let clock = VirtualTime::new(); // the probe's time stamps only
    let hot = Hot::new();
    let m = metrics("sample");
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .sample(std::time::Duration::from_micros(100))
        .on_drop(on_drop)
        .metrics(m.clone())
        .subscribe(sub);
    let producer = {
        let hot = hot.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                hot.emit(i);
            }
        })
    };
    while !producer.is_finished() {
        probe.request(1);
        std::thread::yield_now();
    }
    producer.join().unwrap();
    hot.complete();
    probe.request(MAX);
    wait_until("completion", || probe.terminal_count() == 1);
    let values = probe.values();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "order");
    assert_eq!(
        values.last(),
        Some(&(N - 1)),
        "the last item goes before completion"
    );
    let dropped = log.lock().unwrap().len() as u64;
    assert_eq!(values.len() as u64 + dropped, N);
    let snap = m.snapshot();
    assert_eq!((snap.received, snap.emitted), (N, values.len() as u64));
    assert_eq!(snap.dropped.total(), dropped);
    assert!(probe.is_released());
}

#[test]
fn throttle_across_threads_keeps_every_item_in_order() {
    let out = backflow::range(0..300u32)
        .throttle(100, std::time::Duration::from_millis(1))
        .burst(8)
        .collect()
        .unwrap();
    assert_eq!(out, (0..300).collect::<Vec<_>>());
}

#[test]
fn timeout_across_threads_lets_a_fast_stream_through() {
    let n = backflow::range(0..100_000u32)
        .timeout(std::time::Duration::from_secs(30))
        .fold(0u32, |n, _| n + 1)
        .unwrap();
    assert_eq!(n, 100_000);
}

#[test]
fn debounce_across_threads_emits_the_last_item() {
    // A quiet period no scheduling hiccup reaches: only completion lets the last item out.
    let out = backflow::range(0..10_000u32)
        .debounce(std::time::Duration::from_secs(60))
        .collect()
        .unwrap();
    assert_eq!(out, [9_999]);
}
