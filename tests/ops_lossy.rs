//! `buffer`, `buffer_with`, `drop_oldest`, `latest`, `drop_newest`: each rule of SEMANTICS §2/§3 per
//! operator — upstream demand, what is emitted, what is dropped and why, terminal ordering
//! (`ErrorMode`), cancel, panics, metrics — with a hand-driven hot upstream, plus threaded runs.

mod support_lossy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use backflow::metrics::{DropReason, StageMetrics};
use backflow::ops::ErrorMode;
use backflow::prelude::*;
use support_lossy::{hot, Recorder, Upstream};

type Drops<T> = Arc<Mutex<Vec<(T, DropReason)>>>;

fn drop_log<T>() -> Drops<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn logger<T: Send + 'static>(log: &Drops<T>) -> impl Fn(T, DropReason) + Send + Sync + 'static {
    let log = log.clone();
    move |item, reason| log.lock().unwrap().push((item, reason))
}

fn metrics(capacity: u64) -> Arc<StageMetrics> {
    Arc::new(StageMetrics::new("stage", capacity))
}

/// Subscribes a recorder that requests `initial` through `build(hot)` and connects the upstream.
fn run<P>(
    initial: u64,
    build: impl FnOnce(Flux<support_lossy::Hot<u32>>) -> Flux<P>,
) -> (Upstream<u32>, support_lossy::Probe<u32>)
where
    P: Publisher<Item = u32>,
{
    let (source, connector) = hot::<u32>();
    let (recorder, probe) = Recorder::new(initial);
    build(source).subscribe(recorder);
    (connector.connect(), probe)
}

// ---------------------------------------------------------------- buffer(n)

#[test]
fn buffer_requests_capacity_up_front_and_tops_up_at_75_percent() {
    let (mut up, probe) = run(0, |f| f.buffer(8));
    assert_eq!(up.requests(), vec![8]);
    for i in 0..8 {
        up.push_if_requested(i).unwrap();
    }
    assert_eq!(
        up.push_if_requested(8),
        Err(8),
        "the buffer is full: no demand"
    );
    probe.request(5);
    assert_eq!(
        up.requests(),
        vec![8],
        "5 of 8 delivered: below the 75% mark"
    );
    probe.request(1);
    assert_eq!(
        up.requests(),
        vec![8, 6],
        "6 of 8 delivered: top up what was consumed"
    );
    assert_eq!(probe.values(), (0..6).collect::<Vec<_>>());
}

#[test]
fn buffer_never_drops_and_delivers_everything_in_order() {
    let drops = drop_log();
    let out = backflow::range(0..10_000u32)
        .buffer(16)
        .on_drop(logger(&drops))
        .collect_with(Request::Batch(3))
        .unwrap();
    assert_eq!(out, (0..10_000).collect::<Vec<_>>());
    assert!(drops.lock().unwrap().is_empty());
}

#[test]
fn buffer_holds_at_most_capacity_and_memory_is_bounded_by_it() {
    let m = metrics(4);
    let (mut up, probe) = run(0, |f| f.buffer(4).metrics(m.clone()));
    let mut next = 0;
    while up.push_if_requested(next).is_ok() {
        next += 1;
    }
    assert_eq!(next, 4);
    assert_eq!(m.snapshot().buffered, 4);
    probe.request(1);
    assert_eq!(m.snapshot().buffered, 3);
    assert_eq!(probe.values(), vec![0]);
}

#[test]
fn buffer_completion_waits_for_the_held_items() {
    let (mut up, probe) = run(1, |f| f.buffer(4));
    for i in 0..4 {
        up.push(i);
    }
    up.complete();
    assert_eq!(probe.values(), vec![0]);
    assert!(
        !probe.completed(),
        "AfterDrain: complete waits behind 1, 2, 3"
    );
    probe.request(3);
    assert_eq!(probe.values(), vec![0, 1, 2, 3]);
    assert!(probe.completed());
    assert!(
        probe.released(),
        "rule 3.13: the downstream is dropped after the terminal"
    );
    probe.assert_clean();
}

#[test]
fn buffer_empty_upstream_completes_without_a_request() {
    let (mut up, probe) = run(0, |f| f.buffer(4));
    up.complete();
    assert!(probe.completed());
}

#[test]
fn buffer_error_after_drain_by_default_and_at_once_when_immediate() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| f.buffer(4).on_drop(logger(&drops)));
    up.push(1);
    up.push(2);
    up.error(Error::msg("boom"));
    assert!(probe.error().is_none());
    probe.request(2);
    assert_eq!(probe.values(), vec![1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "boom");

    let drops = drop_log();
    let (mut up, probe) = run(0, |f| {
        f.buffer(4)
            .on_drop(logger(&drops))
            .error_mode(ErrorMode::Immediate)
    });
    up.push(1);
    up.push(2);
    up.error(Error::msg("boom"));
    assert_eq!(probe.error().unwrap().to_string(), "boom");
    assert!(probe.values().is_empty());
    assert_eq!(
        *drops.lock().unwrap(),
        vec![(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
    assert!(probe.released());
}

#[test]
fn buffer_cancel_drops_held_items_as_cancelled_and_releases_the_downstream() {
    let drops = drop_log();
    let m = metrics(4);
    let (mut up, probe) = run(0, |f| {
        f.buffer(4).on_drop(logger(&drops)).metrics(m.clone())
    });
    for i in 0..3 {
        up.push(i);
    }
    probe.cancel();
    assert!(up.is_cancelled());
    assert!(probe.released());
    assert_eq!(
        *drops.lock().unwrap(),
        vec![
            (0, DropReason::Cancelled),
            (1, DropReason::Cancelled),
            (2, DropReason::Cancelled)
        ]
    );
    // In flight after the cancel (rule 1.08): dropped as it arrives, never delivered.
    up.push(3);
    assert_eq!(drops.lock().unwrap().len(), 4);
    let s = m.snapshot();
    assert_eq!((s.received, s.emitted, s.buffered), (4, 0, 0));
    assert_eq!(s.dropped.get(DropReason::Cancelled), 4);
    // Requests after cancel are no-ops (rule 3.6).
    probe.request(10);
    assert!(probe.values().is_empty());
}

/// Item 11 of the issue: a publisher that ignores backpressure.
#[test]
fn buffer_signals_overflow_and_cancels_a_publisher_that_ignores_demand() {
    let drops = drop_log();
    let m = metrics(4);
    let (mut up, probe) = run(1, |f| {
        f.buffer(4).on_drop(logger(&drops)).metrics(m.clone())
    });
    assert_eq!(up.requests(), vec![4]);
    for i in 0..100 {
        up.push(i); // no demand check at all
    }
    assert!(up.is_cancelled(), "the overflowing publisher is cancelled");
    let s = m.snapshot();
    assert!(s.buffered <= 4, "memory did not grow: {s:?}");
    assert_eq!(probe.values(), vec![0]);
    assert!(
        probe.error().is_none(),
        "the error waits behind the held items"
    );
    probe.request(10);
    assert_eq!(probe.values(), vec![0, 1, 2, 3]);
    let e = probe.error().expect("overflow error");
    assert_eq!(e.kind(), ErrorKind::Overflow);
    assert!(e.to_string().contains("buffer"), "{e}");
    let drops = drops.lock().unwrap();
    assert_eq!(
        drops[0],
        (4, DropReason::Overflow),
        "the item beyond the demand"
    );
    assert!(drops[1..].iter().all(|&(_, r)| r == DropReason::Cancelled));
    assert_eq!(drops.len(), 96);
    probe.assert_clean();
}

/// The same defence through the fused path: a source that hands a run longer than its demand.
#[test]
fn buffer_signals_overflow_for_a_run_beyond_the_demand() {
    struct Flood;
    impl Publisher for Flood {
        type Item = u32;
        fn subscribe<S: Subscriber<u32> + 'static>(&self, mut s: S) {
            s.on_subscribe(backflow::NoopSubscription::shared());
            let used = s.on_next_iter(0..1_000u32);
            // 4 requested up front and 1 delivered (no top-up yet): the 5th item breaks the bound.
            assert_eq!(used, 5, "the stage stopped consuming the run");
            s.on_complete();
        }
    }
    let (recorder, probe) = Recorder::new(1);
    Flux::new(Flood).buffer(4).subscribe(recorder);
    assert_eq!(probe.values(), vec![0]);
    probe.request(10);
    assert_eq!(probe.values(), vec![0, 1, 2, 3]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
}

#[test]
fn buffer_downstream_panic_becomes_an_error_and_cancels_upstream() {
    let drops = drop_log();
    let (source, connector) = hot::<u32>();
    let (recorder, probe) = Recorder::new(10);
    source
        .buffer(8)
        .on_drop(logger(&drops))
        .subscribe(recorder.panic_at(2));
    let mut up = connector.connect();
    up.push(0);
    up.push(1);
    assert!(up.is_cancelled());
    let e = probe.error().expect("panic reported downstream");
    assert_eq!(e.kind(), ErrorKind::Panicked);
    up.push(2);
    assert_eq!(*drops.lock().unwrap(), vec![(2, DropReason::Cancelled)]);
    assert!(probe.released());
}

#[test]
fn buffer_request_zero_is_an_invalid_demand_error() {
    let (mut up, probe) = run(0, |f| f.buffer(4));
    up.push(1);
    probe.request(0);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
    assert!(up.is_cancelled());
}

#[test]
fn buffer_reentrant_requests_are_trampolined() {
    let (source, connector) = hot::<u32>();
    let (recorder, probe) = Recorder::new(1);
    source.buffer(64).subscribe(recorder.request_each(1));
    let mut up = connector.connect();
    for i in 0..50 {
        up.push(i);
    }
    assert_eq!(probe.count(), 50);
    probe.assert_clean();
}

#[test]
fn buffer_second_on_subscribe_is_cancelled() {
    let (mut up, _probe) = run(0, |f| f.buffer(4));
    assert!(up.subscribe_again(), "rule 2.05");
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn buffer_of_zero_panics() {
    let _ = backflow::range(0..1u32).buffer(0);
}

/// A producer thread and a consumer thread: `on_next` on one, `request` on the other.
#[test]
fn buffer_across_threads_delivers_everything_in_order() {
    const N: u32 = 200_000;
    let (source, connector) = hot::<u32>();
    let (recorder, probe) = Recorder::new(0);
    let m = metrics(32);
    source.buffer(32).metrics(m.clone()).subscribe(recorder);
    let mut up = connector.connect();
    let producer = thread::spawn(move || {
        let mut next = 0;
        while next < N {
            match up.push_if_requested(next) {
                Ok(()) => next += 1,
                Err(_) => thread::yield_now(),
            }
        }
        up.complete();
    });
    while !probe.completed() {
        probe.request(7);
        assert!(m.snapshot().buffered <= 32);
        thread::yield_now();
    }
    producer.join().unwrap();
    assert_eq!(probe.values(), (0..N).collect::<Vec<_>>());
    probe.assert_clean();
}

// ---------------------------------------------------------------- drop_oldest(n), latest()

#[test]
fn drop_oldest_requests_unbounded_and_evicts_the_oldest() {
    let drops = drop_log();
    let (mut up, probe) = run(1, |f| f.drop_oldest(3).on_drop(logger(&drops)));
    assert_eq!(up.requests(), vec![u64::MAX]);
    for i in 0..8 {
        up.push(i);
    }
    assert_eq!(probe.values(), vec![0]);
    assert_eq!(
        *drops.lock().unwrap(),
        vec![
            (1, DropReason::Evicted),
            (2, DropReason::Evicted),
            (3, DropReason::Evicted),
            (4, DropReason::Evicted)
        ]
    );
    probe.request(10);
    assert_eq!(
        probe.values(),
        vec![0, 5, 6, 7],
        "the freshest, in arrival order"
    );
    up.complete();
    assert!(probe.completed());
    probe.assert_clean();
}

#[test]
fn latest_keeps_only_the_newest() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| f.latest().on_drop(logger(&drops)));
    for i in 0..5 {
        up.push(i);
    }
    probe.request(1);
    assert_eq!(probe.values(), vec![4]);
    assert_eq!(drops.lock().unwrap().len(), 4);
    assert!(drops
        .lock()
        .unwrap()
        .iter()
        .all(|&(_, r)| r == DropReason::Evicted));
}

#[test]
fn drop_oldest_cancel_drops_held_as_cancelled() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| f.drop_oldest(2).on_drop(logger(&drops)));
    up.push(1);
    up.push(2);
    probe.cancel();
    assert!(up.is_cancelled());
    assert_eq!(
        *drops.lock().unwrap(),
        vec![(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
    assert!(probe.released());
}

#[test]
fn drop_oldest_error_after_drain_and_immediate() {
    let (mut up, probe) = run(0, |f| f.drop_oldest(2));
    up.push(1);
    up.error(Error::msg("late"));
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.values(), vec![1]);
    assert!(probe.error().is_some());

    let drops = drop_log();
    let (mut up, probe) = run(0, |f| {
        f.drop_oldest(2)
            .on_drop(logger(&drops))
            .error_mode(ErrorMode::Immediate)
    });
    up.push(1);
    up.error(Error::msg("now"));
    assert!(probe.error().is_some());
    assert_eq!(*drops.lock().unwrap(), vec![(1, DropReason::Cancelled)]);
}

/// A fused source hands runs; what is dropped must be what item-by-item delivery drops.
#[test]
fn drop_oldest_runs_drop_what_single_items_drop() {
    for capacity in [1, 3, 7] {
        for initial in [0, 1, 5, 20] {
            let fused = drop_log();
            let (recorder, fused_probe) = Recorder::new(initial);
            backflow::range(0..50u32)
                .drop_oldest(capacity)
                .on_drop(logger(&fused))
                .subscribe(recorder);

            let single = drop_log();
            let (mut up, single_probe) = run(initial, |f| {
                f.drop_oldest(capacity).on_drop(logger(&single))
            });
            for i in 0..50 {
                up.push(i);
            }
            up.complete();
            assert_eq!(
                fused_probe.values(),
                single_probe.values(),
                "{capacity} {initial}"
            );
            assert_eq!(*fused.lock().unwrap(), *single.lock().unwrap());
        }
    }
}

// ---------------------------------------------------------------- drop_newest(n)

#[test]
fn drop_newest_requests_unbounded_and_refuses_the_incoming() {
    let drops = drop_log();
    let (mut up, probe) = run(1, |f| f.drop_newest(3).on_drop(logger(&drops)));
    assert_eq!(up.requests(), vec![u64::MAX]);
    for i in 0..8 {
        up.push(i);
    }
    assert_eq!(probe.values(), vec![0]);
    assert_eq!(
        *drops.lock().unwrap(),
        vec![
            (4, DropReason::Overflow),
            (5, DropReason::Overflow),
            (6, DropReason::Overflow),
            (7, DropReason::Overflow)
        ]
    );
    probe.request(10);
    assert_eq!(probe.values(), vec![0, 1, 2, 3], "the oldest are kept");
    up.push(8);
    assert_eq!(probe.values(), vec![0, 1, 2, 3, 8]);
}

#[test]
fn drop_newest_runs_drop_what_single_items_drop() {
    for capacity in [1, 4] {
        for initial in [0, 2, 9] {
            let fused = drop_log();
            let (recorder, fused_probe) = Recorder::new(initial);
            backflow::range(0..40u32)
                .drop_newest(capacity)
                .on_drop(logger(&fused))
                .subscribe(recorder);
            let single = drop_log();
            let (mut up, single_probe) = run(initial, |f| {
                f.drop_newest(capacity).on_drop(logger(&single))
            });
            for i in 0..40 {
                up.push(i);
            }
            up.complete();
            assert_eq!(fused_probe.values(), single_probe.values());
            assert_eq!(*fused.lock().unwrap(), *single.lock().unwrap());
        }
    }
}

#[test]
fn drop_newest_cancel_drops_held_as_cancelled() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| f.drop_newest(2).on_drop(logger(&drops)));
    up.push(1);
    probe.cancel();
    assert_eq!(*drops.lock().unwrap(), vec![(1, DropReason::Cancelled)]);
    assert!(probe.released());
}

// ---------------------------------------------------------------- buffer_with(n, Overflow::Error)

#[test]
fn overflow_error_cancels_at_once_then_delivers_held_then_the_error() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| {
        f.buffer_with(2, Overflow::Error).on_drop(logger(&drops))
    });
    assert_eq!(up.requests(), vec![u64::MAX]);
    up.push(1);
    up.push(2);
    assert!(!up.is_cancelled());
    up.push(3);
    assert!(up.is_cancelled(), "cancelled at once");
    assert_eq!(*drops.lock().unwrap(), vec![(3, DropReason::Overflow)]);
    up.push(4); // in flight
    assert_eq!(drops.lock().unwrap()[1], (4, DropReason::Cancelled));
    up.complete(); // late terminal: ignored
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.values(), vec![1]);
    assert!(probe.error().is_none());
    probe.request(1);
    assert_eq!(probe.values(), vec![1, 2]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
    probe.assert_clean();
}

#[test]
fn overflow_error_immediate_drops_held_and_errors_at_once() {
    let drops = drop_log();
    let (mut up, probe) = run(0, |f| {
        f.buffer_with(2, Overflow::Error)
            .on_drop(logger(&drops))
            .error_mode(ErrorMode::Immediate)
    });
    for i in 1..=3 {
        up.push(i);
    }
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
    assert_eq!(
        *drops.lock().unwrap(),
        vec![
            (3, DropReason::Overflow),
            (1, DropReason::Cancelled),
            (2, DropReason::Cancelled)
        ]
    );
}

#[test]
fn buffer_with_each_policy_matches_its_named_operator() {
    for (policy, reason) in [
        (Overflow::DropOldest, DropReason::Evicted),
        (Overflow::DropNewest, DropReason::Overflow),
    ] {
        let drops = drop_log();
        let (mut up, probe) = run(1, |f| f.buffer_with(2, policy).on_drop(logger(&drops)));
        for i in 0..5 {
            up.push(i);
        }
        assert_eq!(drops.lock().unwrap().len(), 2, "{policy:?}");
        assert!(drops.lock().unwrap().iter().all(|&(_, r)| r == reason));
        probe.request(5);
        let expected = if policy == Overflow::DropOldest {
            vec![0, 3, 4]
        } else {
            vec![0, 1, 2]
        };
        assert_eq!(probe.values(), expected);
    }
    let (up, _probe) = run(0, |f| f.buffer_with(5, Overflow::Backpressure));
    assert_eq!(up.requests(), vec![5]);
}

// ---------------------------------------------------------------- shared: options and metrics

#[test]
fn metrics_count_every_item_once() {
    let m = metrics(3);
    let (mut up, probe) = run(2, |f| f.drop_oldest(3).metrics(m.clone()));
    for i in 0..10 {
        up.push(i);
    }
    let s = m.snapshot();
    assert_eq!(s.received, 10);
    assert_eq!(s.emitted, 2);
    assert_eq!(s.dropped.get(DropReason::Evicted), 5);
    assert_eq!(s.buffered, 3);
    assert_eq!(s.capacity, 3);
    assert_eq!(s.requested, u64::MAX);
    probe.cancel();
    let s = m.snapshot();
    assert_eq!(s.dropped.get(DropReason::Cancelled), 3);
    assert_eq!(s.emitted + s.dropped.total(), s.received);
    assert_eq!(s.buffered, 0);
}

#[test]
fn metrics_record_requested_top_ups_and_sampled_wait() {
    let m = metrics(8);
    let (mut up, probe) = run(0, |f| f.buffer(8).metrics(m.clone()));
    let mut sent = 0;
    while sent < 1_000 {
        while up.push_if_requested(sent).is_ok() {
            sent += 1;
        }
        probe.request(8);
    }
    probe.request(8);
    let s = m.snapshot();
    assert_eq!(s.emitted, 1_000);
    assert_eq!(s.requested, up.log.requested.load(Ordering::SeqCst));
    assert!(
        s.requested >= 1_000 && s.requested <= 1_008,
        "{}",
        s.requested
    );
    // One arrival in 64 is time-stamped when no sample is pending.
    assert!(s.wait.count >= 1_000 / 64 / 2, "{:?}", s.wait);
}

#[test]
fn a_panicking_on_drop_is_reported_and_the_stream_goes_on() {
    let reported = Arc::new(AtomicU64::new(0));
    let (mut up, probe) = run(0, |f| {
        f.drop_newest(1)
            .on_drop(|_item: u32, _reason| panic!("on_drop panics"))
    });
    let r = reported.clone();
    backflow::set_error_hook(move |e| {
        if e.to_string().contains("on_drop panics") {
            r.fetch_add(1, Ordering::SeqCst);
        }
    });
    up.push(1);
    up.push(2);
    up.push(3);
    probe.request(5);
    backflow::clear_error_hook();
    assert!(reported.load(Ordering::SeqCst) >= 2);
    assert_eq!(probe.values(), vec![1]);
    up.complete();
    assert!(probe.completed());
}

#[test]
fn a_stage_released_with_held_items_drops_them_through_on_drop() {
    /// Asks for nothing and keeps no handle: nobody will ever ask for what the stage holds.
    struct Gone;
    impl Subscriber<u32> for Gone {
        fn on_subscribe(&mut self, _: SharedSubscription) {}
        fn on_next(&mut self, _: u32) {
            unreachable!("nothing was requested")
        }
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {}
    }
    let drops = drop_log();
    let (source, connector) = hot::<u32>();
    source
        .drop_oldest(4)
        .on_drop(logger(&drops))
        .subscribe(Gone);
    let mut up = connector.connect();
    up.push(1);
    up.push(2);
    // The upstream side lets go of the stage when it completes: nothing else holds it.
    up.complete();
    assert_eq!(
        *drops.lock().unwrap(),
        vec![(1, DropReason::Cancelled), (2, DropReason::Cancelled)]
    );
}

/// Item 8 of the brief: a producer thread twice as fast as the consumer, 10M items through
/// `buffer(1024)` (1M in debug builds): memory stays within 1024 held items and every item arrives
/// in order.
#[test]
fn buffer_1024_bounds_a_fast_producer_thread() {
    const CAPACITY: u64 = 1024;
    let n: u64 = if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    let (source, connector) = hot::<u64>();
    let m = metrics(CAPACITY);
    // The consumer's side of the stage: on_next (on whichever thread drains) hands items to the
    // consumer thread through a small ring; the consumer thread requests as it works them off.
    const BATCH: usize = 64;
    let (handoff_in, mut handoff_out) = backflow::queue::spsc::channel::<u64>(BATCH);
    let delivered = Arc::new(AtomicU64::new(0));
    struct Handoff {
        ring: backflow::queue::spsc::Producer<u64>,
        delivered: Arc<AtomicU64>,
        subscription: Arc<Mutex<Option<SharedSubscription>>>,
    }
    impl Subscriber<u64> for Handoff {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(BATCH as u64);
            *self.subscription.lock().unwrap() = Some(s);
        }
        fn on_next(&mut self, x: u64) {
            self.delivered.fetch_add(1, Ordering::Release);
            self.ring.push(x).expect("never more than requested");
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {}
    }
    let subscription = Arc::new(Mutex::new(None));
    source
        .buffer(CAPACITY as usize)
        .metrics(m.clone())
        .subscribe(Handoff {
            ring: handoff_in,
            delivered: delivered.clone(),
            subscription: subscription.clone(),
        });
    let mut up = connector.connect();
    let seen_by_producer = delivered.clone();
    let producer = thread::spawn(move || {
        let mut next = 0u64;
        let mut worst = 0;
        while next < n {
            spin(1);
            while up.outstanding() == 0 {
                std::hint::spin_loop();
                thread::yield_now();
            }
            up.push(next);
            next += 1;
            // What the stage holds: sent but not delivered yet.
            let held = next - seen_by_producer.load(Ordering::Acquire);
            worst = worst.max(held);
        }
        up.complete();
        worst
    });
    let handle = subscription.lock().unwrap().clone().unwrap();
    let mut expected = 0u64;
    let mut since_request = 0;
    while expected < n {
        match handoff_out.pop() {
            Some(x) => {
                assert_eq!(x, expected, "in order, none lost");
                expected += 1;
                spin(2);
                since_request += 1;
                if since_request == BATCH / 2 {
                    since_request = 0;
                    handle.request((BATCH / 2) as u64);
                }
                if expected % 4096 == 0 {
                    assert!(m.snapshot().buffered <= CAPACITY);
                }
            }
            None => thread::yield_now(),
        }
    }
    let worst = producer.join().unwrap();
    assert!(worst <= CAPACITY, "held {worst} > {CAPACITY}");
    let s = m.snapshot();
    assert_eq!((s.received, s.emitted, s.dropped.total()), (n, n, 0));
}

/// A little work per item; the consumer does twice the producer's.
fn spin(units: u32) {
    for i in 0..units * 8 {
        std::hint::black_box(i);
    }
}
