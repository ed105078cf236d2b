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
