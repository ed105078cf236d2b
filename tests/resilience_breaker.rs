//! The circuit breaker's state machine on virtual time: every transition, the window's edges,
//! slow calls, half-open trials (also raced from several threads), late outcomes, the listener
//! and gauge, and the stream operators.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow::resilience::breaker::{BreakerState, CallError, CircuitBreaker, SlidingWindow};
use backflow::sched::VirtualTime;
use BreakerState::{Closed, HalfOpen, Open};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn breaker(clock: &VirtualTime, window: SlidingWindow, min: u32, trials: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .window(window)
        .minimum_calls(min)
        .half_open_calls(trials)
        .open_duration(secs(10))
        .scheduler(clock.clone())
        .build()
}

fn outcome(b: &CircuitBreaker, ok: bool) {
    b.try_acquire().expect("admitted").record(ok);
}

#[test]
fn defaults_are_resilience4js() {
    let clock = VirtualTime::new();
    let b = CircuitBreaker::builder().scheduler(clock.clone()).build();
    // 99 calls: below the minimum of 100, whatever their outcome.
    for _ in 0..99 {
        outcome(&b, false);
    }
    assert_eq!(b.state(), Closed);
    outcome(&b, true);
    assert_eq!(b.state(), Open, "99 of 100 failed");
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(secs(60)));
    clock.advance_by(secs(60));
    for _ in 0..10 {
        std::mem::forget(b.try_acquire().expect("10 trial calls"));
    }
    assert!(b.try_acquire().is_err(), "the 11th is refused");
}

#[test]
fn closed_to_open_at_the_threshold_not_below() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(10), 10, 1);
    // 4 failures of 10: 40% < 50%.
    for i in 0..10 {
        outcome(&b, i >= 4);
    }
    assert_eq!(b.state(), Closed);
    assert_eq!(b.failure_rate(), Some(40.0));
    // New failures push out the old failures first (the oldest): still 40%.
    for _ in 0..4 {
        outcome(&b, false);
        assert_eq!(b.failure_rate(), Some(40.0));
        assert_eq!(b.state(), Closed);
    }
    // Then one pushes out a success: 5 of 10 = 50% opens.
    outcome(&b, false);
    assert_eq!(b.state(), Open);
}

#[test]
fn count_window_forgets_the_oldest_call() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(4), 4, 1);
    for ok in [false, true, true, true] {
        outcome(&b, ok);
    }
    assert_eq!(b.failure_rate(), Some(25.0));
    outcome(&b, true); // the failure leaves the window
    assert_eq!(b.failure_rate(), Some(0.0));
    outcome(&b, false);
    outcome(&b, false);
    assert_eq!(b.state(), Open, "2 of the last 4");
}

#[test]
fn time_window_forgets_old_seconds() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Time(10), 4, 1);
    outcome(&b, false);
    outcome(&b, false);
    outcome(&b, false);
    clock.advance_by(secs(10)); // those three fall out of the 10-second window
    for _ in 0..3 {
        outcome(&b, true);
    }
    assert_eq!(b.failure_rate(), None, "3 calls: below the minimum of 4");
    outcome(&b, false);
    assert_eq!(b.failure_rate(), Some(25.0));
    assert_eq!(b.state(), Closed);
    clock.advance_by(secs(9));
    outcome(&b, false);
    outcome(&b, false);
    assert_eq!(b.state(), Open, "3 of 6 in the window");
}

#[test]
fn slow_calls_open_it_too() {
    let clock = VirtualTime::new();
    let b = CircuitBreaker::builder()
        .window(SlidingWindow::Count(4))
        .slow_call_rate(50.0)
        .slow_call_duration(secs(2))
        .scheduler(clock.clone())
        .build();
    for slow in [false, true, false, true] {
        let permit = b.try_acquire().unwrap();
        clock.advance_by(if slow { secs(2) } else { secs(1) });
        permit.success();
    }
    assert_eq!(b.state(), Open, "half the successes were slow");
}

#[test]
fn open_to_half_open_after_the_open_time_with_retry_after_counting_down() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(2), 2, 2);
    outcome(&b, false);
    outcome(&b, false);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(secs(10)));
    clock.advance_by(secs(4));
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(secs(6)));
    clock.advance_by(secs(6));
    assert_eq!(b.state(), HalfOpen);
}

#[test]
fn half_open_closes_on_good_trials_and_reopens_on_bad_ones() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(2), 2, 2);
    outcome(&b, false);
    outcome(&b, false);
    clock.advance_by(secs(10));
    let (t1, t2) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        None,
        "trials taken"
    );
    t1.success();
    assert_eq!(b.state(), HalfOpen, "waits for every trial");
    t2.failure();
    assert_eq!(b.state(), Open, "1 of 2 trials failed: 50%");
    clock.advance_by(secs(10));
    outcome(&b, true);
    outcome(&b, true);
    assert_eq!(b.state(), Closed);
    assert_eq!(b.failure_rate(), None, "closing empties the window");
}

#[test]
fn a_dropped_trial_frees_its_slot_and_late_outcomes_are_ignored() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(2), 2, 1);
    let late = b.try_acquire().unwrap(); // admitted while closed
    outcome(&b, false);
    outcome(&b, false);
    assert_eq!(b.state(), Open);
    clock.advance_by(secs(10));
    let trial = b.try_acquire().unwrap();
    drop(trial); // unreported: the slot comes back
    let trial = b.try_acquire().unwrap();
    late.failure(); // from the closed generation: ignored
    assert_eq!(b.state(), HalfOpen);
    trial.success();
    assert_eq!(b.state(), Closed);
}

#[test]
fn half_open_admits_exactly_n_trials_when_threads_race() {
    for _ in 0..20 {
        let clock = VirtualTime::new();
        let b = breaker(&clock, SlidingWindow::Count(2), 2, 3);
        outcome(&b, false);
        outcome(&b, false);
        clock.advance_by(secs(10));
        let barrier = Arc::new(Barrier::new(8));
        let permits = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (b, barrier, permits) = (b.clone(), barrier.clone(), permits.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    if let Ok(p) = b.try_acquire() {
                        permits.lock().unwrap().push(p);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let permits = std::mem::take(&mut *permits.lock().unwrap());
        assert_eq!(permits.len(), 3);
        // The trials report from several threads at once: exactly one transition, to closed.
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = permits
            .into_iter()
            .map(|p| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    p.success();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.state(), Closed);
    }
}

#[test]
fn transitions_reach_the_listener_and_the_gauge() {
    let clock = VirtualTime::new();
    let registry = backflow::metrics::Registry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = CircuitBreaker::builder()
        .window(SlidingWindow::Count(1))
        .half_open_calls(1)
        .open_duration(secs(1))
        .scheduler(clock.clone())
        .metrics(registry.primitive("inventory", "circuit_breaker"))
        .on_transition(move |from, to| s.lock().unwrap().push((from, to)))
        .build();
    outcome(&b, false);
    assert_eq!(registry.primitive_snapshot()[0].state, 1);
    assert!(b.try_acquire().is_err());
    clock.advance_by(secs(1));
    let trial = b.try_acquire().unwrap();
    assert_eq!(registry.primitive_snapshot()[0].state, 2);
    assert_eq!(registry.primitive_snapshot()[0].in_flight, 1);
    trial.success();
    assert_eq!(
        *seen.lock().unwrap(),
        [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
    );
    let snap = &registry.primitive_snapshot()[0];
    assert_eq!(
        (snap.state, snap.admitted, snap.rejected, snap.in_flight),
        (0, 2, 1, 0)
    );
    assert!(registry
        .prometheus()
        .contains(r#"backflow_primitive_state{primitive="inventory",kind="circuit_breaker"} 0"#));
}

#[test]
fn call_records_and_hands_the_item_back_when_open() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(1), 1, 1);
    assert!(matches!(
        b.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    ));
    match b.call_with("order-1", |_| Ok::<_, ()>(())) {
        Err(CallError::Rejected(r)) => {
            assert_eq!(r.item, "order-1");
            assert_eq!(r.retry_after, Some(secs(10)));
        }
        other => panic!("{other:?}"),
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        clock.advance_by(secs(10));
        let _ = b.call(|| -> Result<(), ()> { panic!("inside") });
    }));
    assert!(panicked.is_err());
    assert_eq!(b.state(), Open, "a panicking trial is a failure");
}

#[test]
fn the_operator_refuses_subscriptions_while_open() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(2), 2, 1);
    let subscribed = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let s = subscribed.clone();
    let b2 = b.clone();
    let failing = move || {
        let s = s.clone();
        backflow::range(0..1u32)
            .map(move |x| {
                s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                x
            })
            .try_map(|_| Err::<u32, _>(Error::msg("503")))
            .circuit_breaker(&b2)
    };
    let _ = failing().collect();
    let _ = failing().collect();
    let e = failing().collect().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected);
    assert_eq!(e.retry_after(), Some(secs(10)));
    assert_eq!(subscribed.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Half-open: a completing stream is a successful trial.
    clock.advance_by(secs(10));
    assert_eq!(
        backflow::range(0..3u32)
            .circuit_breaker(&b)
            .collect()
            .unwrap(),
        [0, 1, 2]
    );
    assert_eq!(b.state(), Closed);
}

#[test]
fn the_operator_counts_a_cancel_after_items_as_success_and_before_as_nothing() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(1), 1, 1);
    outcome(&b, false);
    clock.advance_by(secs(10));
    // Half-open, one trial: cancelled before any item, it is released, not recorded.
    let (sub, probe) = TestSubscriber::<u32>::new(0);
    backflow::range(0..10u32).circuit_breaker(&b).subscribe(sub);
    probe.cancel();
    assert_eq!(b.state(), HalfOpen);
    // Cancelled after items: a success.
    let taken = backflow::range(0..10u32)
        .circuit_breaker(&b)
        .take(2)
        .collect()
        .unwrap();
    assert_eq!(taken, [0, 1]);
    assert_eq!(b.state(), Closed);
}

#[test]
fn retry_when_after_the_breaker_waits_for_it_to_half_open() {
    let clock = VirtualTime::new();
    let b = breaker(&clock, SlidingWindow::Count(1), 1, 1);
    outcome(&b, false);
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    backflow::range(0..2u32)
        .circuit_breaker(&b)
        .retry_when(vec![Duration::from_millis(1)])
        .scheduler(clock.clone())
        .subscribe(sub);
    clock.advance_by(secs(9));
    assert!(probe.values().is_empty());
    clock.advance_by(secs(1));
    assert_eq!(probe.values(), [0, 1]);
    assert!(probe.is_complete());
}
