//! The resilience primitives' atomic protocols: the rate limiter's GCRA compare-and-swap (clones
//! on two threads never admit more than the burst) and the bulkhead's waiter / releaser hand-off
//! (a thread waiting for a slot is never left asleep beside a free one).
#![cfg(loom)]

use std::time::Duration;

use backflow::resilience::bulkhead::Bulkhead;
use backflow::resilience::rate::RateLimiter;
use backflow::sched::VirtualTime;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

#[test]
fn gcra_cas_admits_exactly_the_burst() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let limiter = RateLimiter::builder(1, Duration::from_secs(1))
            .burst(2)
            .scheduler(clock)
            .build();
        let admitted = Arc::new(AtomicUsize::new(0));
        let other = {
            let (limiter, admitted) = (limiter.clone(), admitted.clone());
            thread::spawn(move || {
                if limiter.try_acquire(1).is_ok() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        for _ in 0..2 {
            if limiter.try_acquire(1).is_ok() {
                admitted.fetch_add(1, Ordering::Relaxed);
            }
        }
        other.join().unwrap();
        // The clock stood still: two of the three tries pass, whatever the interleaving.
        assert_eq!(admitted.load(Ordering::Relaxed), 2);
        let refused = limiter.try_acquire(1).unwrap_err();
        assert_eq!(refused.retry_after, Some(Duration::from_secs(1)));
    });
}

#[test]
fn bulkhead_waiter_is_woken_by_a_release() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let pool = Bulkhead::builder(1).scheduler(clock).build();
        let held = pool.try_enter().unwrap();
        let releaser = thread::spawn(move || drop(held));
        // The deadline never comes (nobody advances the clock): only the release can wake us.
        let permit = pool.enter_timeout(Duration::from_secs(3600));
        assert!(permit.is_ok());
        releaser.join().unwrap();
        drop(permit);
        assert_eq!(pool.in_flight(), 0);
    });
}

#[test]
fn bulkhead_deadline_racing_a_release_leaves_no_waiter_behind() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let pool = Bulkhead::builder(1).scheduler(clock.clone()).build();
        let held = pool.try_enter().unwrap();
        let releaser = thread::spawn(move || drop(held));
        let advancer = {
            let clock = clock.clone();
            thread::spawn(move || clock.advance_by(Duration::from_secs(1)))
        };
        // Either the release or the deadline ends the wait; both may race.
        let outcome = pool.enter_timeout(Duration::from_secs(1));
        releaser.join().unwrap();
        advancer.join().unwrap();
        drop(outcome);
        assert_eq!(pool.in_flight(), 0);
        assert!(
            pool.try_enter().is_ok(),
            "the slot is free and nobody is registered"
        );
    });
}

/// `concurrent_map`'s cancel flag (src/ops/concurrent_map.rs): a downstream cancel on one thread
/// races the upstream's item (which starts a call whose result is handed down) on another. The
/// flag is read without the lock by each drain pass and by `request`; the cancel sets it before
/// entering the drain gate, so whichever thread runs the last pass sees it: the downstream is
/// released (rule 3.13), upstream is cancelled, the call's permit goes back, and at most the one
/// result is delivered, with no terminal signal.
#[test]
fn concurrent_map_cancel_races_a_result() {
    use backflow::prelude::*;
    use backflow::resilience::limit::{Fixed, Limiter};
    use backflow_loom_tests::manual::{downstream, Manual};

    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(1);
        let limiter = Limiter::with_clock(Fixed::new(1), VirtualTime::new());
        Flux::new(upstream.clone())
            .concurrent_map(limiter.clone(), |x| backflow::just(Ok::<usize, ()>(x)))
            .map(|r| r.unwrap())
            .subscribe(down);
        let producer = upstream.spawn(vec![7], false);
        let handle = probe.handle();
        let canceller = thread::spawn(move || handle.cancel());
        producer.join().unwrap();
        canceller.join().unwrap();
        let record = probe.record();
        assert!(record.items.is_empty() || record.items == vec![7]);
        assert_eq!(record.terminals(), 0, "no signal after a cancel");
        assert!(upstream.upstream.is_cancelled(), "upstream cancelled");
        assert!(probe.released(), "downstream released (3.13)");
        assert_eq!(limiter.inflight(), 0, "the call's permit went back");
    });
}
