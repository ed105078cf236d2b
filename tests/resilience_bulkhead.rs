//! Bulkheads: capacity, immediate refusal with a release estimate, bounded waits on virtual time,
//! isolation between classes, exact counts from several threads.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use backflow::resilience::bulkhead::{Bulkhead, Bulkheads};
use backflow::sched::VirtualTime;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn capacity_and_raii_release() {
    let pool = Bulkhead::new(3);
    let permits: Vec<_> = (0..3).map(|_| pool.try_enter().unwrap()).collect();
    assert_eq!(pool.in_flight(), 3);
    assert!(pool.try_enter().is_err());
    drop(permits);
    assert_eq!(pool.in_flight(), 0);
    let clone = pool.clone();
    let _held = clone.try_enter().unwrap();
    assert_eq!(pool.in_flight(), 1, "clones share one pool");
}

#[test]
fn retry_after_estimates_the_next_release() {
    let clock = VirtualTime::new();
    let pool = Bulkhead::builder(2).scheduler(clock.clone()).build();
    let a = pool.try_enter().unwrap();
    let _b = pool.try_enter().unwrap();
    assert_eq!(
        pool.try_enter().unwrap_err().retry_after,
        None,
        "no hold time seen yet"
    );
    clock.advance_by(ms(100));
    drop(a);
    let _c = pool.try_enter().unwrap();
    // Mean hold 100 ms over 2 slots: one should free about every 50 ms.
    assert_eq!(pool.try_enter().unwrap_err().retry_after, Some(ms(50)));
}

#[test]
fn bounded_wait_gets_a_freed_slot_or_times_out_on_the_clock() {
    let clock = VirtualTime::new();
    let pool = Bulkhead::builder(1).scheduler(clock.clone()).build();
    let held = pool.try_enter().unwrap();
    // Times out: nobody releases, the virtual clock passes the deadline.
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.enter_timeout(ms(100)).is_ok());
    while clock.pending() == 0 {
        std::thread::yield_now();
    }
    clock.advance_by(ms(100));
    assert!(!waiter.join().unwrap());
    // Gets the slot: released before the deadline.
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.enter_timeout(ms(100)).map(drop).is_ok());
    while clock.pending() == 0 {
        std::thread::yield_now();
    }
    drop(held);
    assert!(waiter.join().unwrap());
    assert_eq!(clock.pending(), 0, "the deadline timer is cancelled");
    assert!(pool.enter_timeout(Duration::ZERO).is_ok());
}

#[test]
fn classes_are_isolated() {
    let pools = Bulkheads::new().class("critical", 2).class("batch", 1);
    let batch = pools.try_enter(&"batch").unwrap();
    assert!(pools.try_enter(&"batch").is_err());
    let c1 = pools.try_enter(&"critical").unwrap();
    let c2 = pools.try_enter(&"critical").unwrap();
    assert!(pools.try_enter(&"critical").is_err());
    assert_eq!(pools.get(&"batch").unwrap().in_flight(), 1);
    assert!(pools.try_enter(&"unknown").is_err(), "no fallback");
    drop((batch, c1, c2));
}

#[test]
fn a_blocked_class_never_blocks_another() {
    let clock = VirtualTime::new();
    let pools = Bulkheads::new()
        .scheduler(clock.clone())
        .class("slow", 1)
        .class("fast", 1);
    let _stuck = pools.try_enter(&"slow").unwrap();
    // A thread waits on the slow pool; the fast pool serves at once meanwhile.
    let slow = pools.get(&"slow").unwrap().clone();
    let waiter = std::thread::spawn(move || slow.enter_timeout(ms(1000)).is_ok());
    while clock.pending() == 0 {
        std::thread::yield_now();
    }
    for _ in 0..100 {
        drop(pools.try_enter(&"fast").unwrap());
    }
    clock.advance_by(ms(1000));
    assert!(!waiter.join().unwrap());
}

#[test]
fn counts_are_exact_from_several_threads() {
    let registry = backflow::metrics::Registry::new();
    let pool = Bulkhead::builder(4)
        .metrics(registry.primitive("db", "bulkhead"))
        .build();
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut held = Vec::new();
                for i in 0..1000 {
                    if let Ok(p) = pool.try_enter() {
                        assert!(pool.in_flight() <= 4);
                        held.push(p);
                    }
                    if i % 3 == 0 {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.in_flight(), 0);
    let snap = &registry.primitive_snapshot()[0];
    assert_eq!(snap.admitted + snap.rejected, 4000);
    assert_eq!((snap.limit, snap.in_flight), (4, 0));
}
