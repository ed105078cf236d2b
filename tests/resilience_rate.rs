//! The GCRA rate limiter: exact refusals on virtual time, sharing across clones and threads, the
//! keyed variant's bound, and a differential property test against `governor`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow::resilience::rate::RateLimiter;
use backflow::sched::{Scheduler, VirtualTime};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn smoke_burst_then_steady_rate() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(4, ms(100))
        .burst(2)
        .scheduler(clock.clone())
        .build();
    assert_eq!(l.interval(), ms(25));
    assert!(l.try_acquire(1).is_ok());
    assert!(l.try_acquire(1).is_ok());
    assert_eq!(l.try_acquire(1).unwrap_err().retry_after, Some(ms(25)));
    clock.advance_by(ms(10));
    assert_eq!(l.try_acquire(1).unwrap_err().retry_after, Some(ms(15)));
    clock.advance_by(ms(15));
    assert!(l.try_acquire(1).is_ok());
    assert!(l.try_acquire(1).is_err());
}

#[test]
fn retry_after_is_exact_the_request_passes_then_and_not_a_nanosecond_before() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(3, Duration::from_secs(1))
        .scheduler(clock.clone())
        .build();
    l.try_acquire(3).unwrap();
    let wait = l.try_acquire(2).unwrap_err().retry_after.unwrap();
    clock.advance_by(wait - Duration::from_nanos(1));
    assert!(l.try_acquire(2).is_err());
    clock.advance_by(Duration::from_nanos(1));
    assert!(l.try_acquire(2).is_ok());
}

#[test]
fn zero_cells_always_pass_and_above_the_burst_never() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(1, ms(10)).scheduler(clock).build();
    l.try_acquire(1).unwrap();
    assert!(l.try_acquire(0).is_ok());
    assert_eq!(l.try_acquire(2).unwrap_err().retry_after, None);
    assert!(l.acquire(2).is_err(), "acquire does not wait forever");
}

#[test]
fn clones_share_one_limit_across_threads() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(100, Duration::from_secs(1))
        .scheduler(clock)
        .build();
    let admitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (l, admitted) = (l.clone(), admitted.clone());
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    if l.try_acquire(1).is_ok() {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        admitted.load(std::sync::atomic::Ordering::Relaxed),
        100,
        "the clock stood still: exactly one burst"
    );
}

#[test]
fn acquire_blocks_until_the_virtual_clock_moves() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(1, ms(50))
        .scheduler(clock.clone())
        .build();
    l.try_acquire(1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let l2 = l.clone();
    let waiter = std::thread::spawn(move || {
        l2.acquire(1).unwrap();
        tx.send(()).unwrap();
    });
    // The waiter schedules its wake-up on the virtual clock; wait for it to be queued.
    while clock.pending() == 0 {
        std::thread::yield_now();
    }
    assert!(rx.try_recv().is_err());
    clock.advance_by(ms(50));
    rx.recv_timeout(Duration::from_secs(10))
        .expect("woken by the clock");
    waiter.join().unwrap();
    assert_eq!(l.try_acquire(1).unwrap_err().retry_after, Some(ms(50)));
}

#[test]
fn metrics_count_admitted_and_rejected() {
    let registry = backflow::metrics::Registry::new();
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(2, Duration::from_secs(1))
        .scheduler(clock)
        .metrics(registry.primitive("api", "rate_limiter"))
        .build();
    for _ in 0..5 {
        let _ = l.try_acquire(1);
    }
    let snap = &registry.primitive_snapshot()[0];
    assert_eq!((snap.admitted, snap.rejected, snap.limit), (2, 3, 2));
    assert!(registry
        .prometheus()
        .contains(r#"backflow_primitive_rejected_total{primitive="api",kind="rate_limiter"} 3"#));
}

#[test]
fn keyed_limits_are_independent_and_the_table_is_bounded() {
    let clock = VirtualTime::new();
    let keyed = RateLimiter::builder(1, ms(100))
        .scheduler(clock.clone())
        .build_keyed::<u32>(8);
    for tenant in 0..8 {
        assert!(keyed.try_acquire(&tenant, 1).is_ok());
    }
    assert!(keyed.try_acquire(&3, 1).is_err(), "tenant 3 used its burst");
    // A flood of new keys can neither grow the table nor reset a busy tenant.
    for flood in 100..1_000 {
        let refused = keyed.try_acquire(&flood, 1).unwrap_err();
        assert_eq!(refused.retry_after, Some(ms(100)));
    }
    assert_eq!(keyed.len(), 8);
    clock.advance_by(ms(100));
    assert!(keyed.try_acquire(&1_000, 1).is_ok());
    assert_eq!(keyed.len(), 1, "idle keys evicted, losing nothing");
    assert_eq!(keyed.evict_idle(), 1);
}

#[test]
fn rate_limit_operator_paces_and_shares() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(1, ms(10))
        .scheduler(clock.clone())
        .build();
    let (probe_a, a) = TestSubscriber::<u32>::new(u64::MAX);
    let (probe_b, b) = TestSubscriber::<u32>::new(u64::MAX);
    backflow::range(0..5u32).rate_limit(&l).subscribe(probe_a);
    backflow::range(0..5u32).rate_limit(&l).subscribe(probe_b);
    clock.advance_by(ms(45));
    assert_eq!(
        a.values().len() + b.values().len(),
        5,
        "permits at 0..=40 ms"
    );
    clock.advance_by(ms(100));
    assert_eq!(a.values(), [0, 1, 2, 3, 4]);
    assert_eq!(b.values(), [0, 1, 2, 3, 4]);
    assert!(a.is_complete() && b.is_complete());
}

#[test]
fn rate_limit_lets_a_burst_through_then_paces() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(3, ms(30))
        .scheduler(clock.clone())
        .build();
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    backflow::range(0..10u32).rate_limit(&l).subscribe(sub);
    assert_eq!(probe.values(), [0, 1, 2]);
    clock.advance_by(ms(300));
    assert_eq!(probe.values(), (0..10).collect::<Vec<_>>());
    assert!(probe.is_complete());
}

#[test]
fn rate_limit_cancel_drops_held_items() {
    let clock = VirtualTime::new();
    let l = RateLimiter::builder(1, ms(10))
        .scheduler(clock.clone())
        .burst(4)
        .build();
    l.try_acquire(4).unwrap(); // no permit for 40 ms
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    backflow::range(0..10u32)
        .rate_limit(&l)
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .subscribe(sub);
    probe.cancel();
    clock.advance_by(ms(100));
    assert!(probe.values().is_empty());
    assert_eq!(
        *dropped.lock().unwrap(),
        (0..4)
            .map(|x| (x, DropReason::Cancelled))
            .collect::<Vec<_>>()
    );
}

use backflow::DropReason;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The same schedule of waits and requests through our limiter and governor's, both on fake
    /// clocks: the same decisions, and the same waits to the nanosecond.
    #[test]
    fn prop_matches_governor(
        period_ms in 1u64..50,
        burst in 1u32..8,
        steps in proptest::collection::vec((0u64..120, 1u32..10), 1..200),
    ) {
        let period = ms(period_ms);
        let clock = VirtualTime::new();
        let ours = RateLimiter::builder(1, period).burst(u64::from(burst)).scheduler(clock.clone()).build();
        let fake = governor::clock::FakeRelativeClock::default();
        let quota = governor::Quota::with_period(period).unwrap().allow_burst(NonZeroU32::new(burst).unwrap());
        let theirs = governor::RateLimiter::direct_with_clock(quota, fake.clone());
        for (wait_pct, n) in steps {
            let dt = period * (wait_pct as u32) / 100;
            clock.advance_by(dt);
            fake.advance(dt);
            let mine = ours.try_acquire(u64::from(n));
            let gov = theirs.check_n(NonZeroU32::new(n).unwrap());
            match gov {
                Err(_insufficient) => prop_assert_eq!(mine.map_err(|r| r.retry_after), Err(None)),
                Ok(Ok(())) => prop_assert!(mine.is_ok(), "governor admitted {} at {:?}", n, clock.now()),
                Ok(Err(not_until)) => {
                    use governor::clock::Clock as _;
                    let wait = not_until.wait_time_from(fake.now());
                    prop_assert_eq!(mine.map_err(|r| r.retry_after), Err(Some(wait)));
                }
            }
        }
    }
}
