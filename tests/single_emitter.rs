//! `SingleEmitter` (`Emitter::into_single`): the one-producer handle whose offers to a pull-fused
//! consumer claim with a plain store. It must keep every outcome an `Emitter` gives (`Full` with
//! the item, `Timeout`, `Closed`, the overflow policies, capacity counting demand), deliver every
//! item exactly once in order on every consumer (blocking iterator, stream, `publish_on`), and
//! never strand a consumer that parked (a lost wake-up hangs a test here; the loom models in
//! `loom-tests/tests/emitter.rs` check the protocol itself).
//!
//! Blocking tests use short real waits only as lower bounds ("still blocked after a while"); no
//! test asserts an upper bound on time.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use backflow::error::EmitError;
use backflow::metrics::{DropReason, Registry};
use backflow::ops::Overflow;
use backflow::prelude::*;
use backflow::sched::Single;
use backflow::sink::TestSubscriber;
use backflow::source::{Emitter, SingleEmitter};

/// A real wait, used only as a lower bound: "still blocked after this long".
const A_WHILE: Duration = Duration::from_millis(30);

/// `base` scaled by `BACKFLOW_STRESS_SCALE` (scripts/miri and scripts/tsan shrink the runs),
/// at least 8.
fn scaled(base: u64) -> u64 {
    let scale = std::env::var("BACKFLOW_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    ((base as f64 * scale) as u64).max(8)
}

fn single<T: Send + 'static>(emitter: Emitter<T>) -> SingleEmitter<T> {
    emitter
        .into_single()
        .unwrap_or_else(|_| panic!("the only handle must convert"))
}

/// Items `0..n` from a producer thread; returns its handle's join.
fn produce(emitter: SingleEmitter<u64>, n: u64) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for i in 0..n {
            emitter.emit(i).unwrap();
        }
    })
}

/// Every item once, in order: the consumer saw exactly `0..n`.
fn assert_in_order(got: impl IntoIterator<Item = u64>, n: u64) {
    let mut expected = 0;
    for item in got {
        assert_eq!(item, expected, "item out of order, doubled or lost");
        expected += 1;
    }
    assert_eq!(expected, n, "items lost at the end");
}

// ---- the handle ----

#[test]
fn into_single_refuses_while_clones_live_and_gives_the_handle_back() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let clone = emitter.clone();
    let emitter = emitter.into_single().unwrap_err();
    // The refused handle still works, and so does the clone.
    emitter.try_emit(1).unwrap();
    clone.try_emit(2).unwrap();
    drop(clone);
    let single = single(emitter);
    single.try_emit(3).unwrap();
    // Back to a shareable handle: clones work again and the stream ends with the last.
    let shared = single.into_shared();
    let other = shared.clone();
    other.try_emit(4).unwrap();
    drop(shared);
    drop(other);
    let got: Vec<u32> = flux.into_blocking_iter().map(Result::unwrap).collect();
    assert_eq!(got, [1, 2, 3, 4]);
}

#[test]
fn the_accessors_report_as_the_emitter_does() {
    let (emitter, flux) = backflow::emitter::<u32>(3);
    let single = single(emitter);
    assert_eq!(single.capacity(), 3);
    assert!(single.is_empty());
    assert_eq!(single.requested(), 0);
    single.try_emit(7).unwrap();
    assert_eq!(single.len(), 1);
    assert!(!single.is_closed());
    assert!(format!("{single:?}").starts_with("SingleEmitter"));
    let (subscriber, probe) = TestSubscriber::new(0);
    flux.subscribe(subscriber);
    probe.request(5);
    // The held item went through; four more may come.
    assert_eq!(probe.values(), [7]);
    assert_eq!(single.requested(), 4);
    single.complete();
    assert!(single.is_closed());
    assert!(probe.is_complete());
}

// ---- every item once, in order, on each consumer ----

#[test]
fn a_fused_blocking_iterator_gets_every_item_once_in_order() {
    for (capacity, prefetch) in [(1, 1), (2, 1), (8, 3), (64, 64), (1024, 1024)] {
        let n = scaled(100_000);
        let (emitter, flux) = backflow::emitter::<u64>(capacity);
        let producer = produce(single(emitter), n);
        assert_in_order(
            flux.into_blocking_iter_with(prefetch).map(Result::unwrap),
            n,
        );
        producer.join().unwrap();
    }
}

#[test]
fn a_few_items_cross_threads_to_a_fused_iterator() {
    // The small threaded case scripts/miri runs (the one above spins too long under Miri).
    let n = scaled(2_000);
    let (emitter, flux) = backflow::emitter::<u64>(2);
    let producer = produce(single(emitter), n);
    assert_in_order(flux.into_blocking_iter_with(1).map(Result::unwrap), n);
    producer.join().unwrap();
}

#[test]
fn a_consumer_that_pauses_and_parks_is_woken_and_loses_nothing() {
    // The consumer stops now and then (long enough to park, and for the producer to find the
    // ring full and wait for room), then goes on: every wake-up must come.
    let n = 20_000;
    let (emitter, flux) = backflow::emitter::<u64>(16);
    let producer = thread::spawn({
        let emitter = single(emitter);
        move || {
            for i in 0..n {
                if i % 2_000 == 0 {
                    thread::sleep(Duration::from_millis(2));
                }
                emitter.emit(i).unwrap();
            }
        }
    });
    let got = flux
        .into_blocking_iter_with(8)
        .map(Result::unwrap)
        .inspect(|i| {
            if i % 5_000 == 4_999 {
                thread::sleep(Duration::from_millis(3));
            }
        });
    assert_in_order(got, n);
    producer.join().unwrap();
}

#[test]
fn behind_pass_through_stages_the_fused_consumer_gets_every_item() {
    let n = scaled(50_000);
    let (emitter, flux) = backflow::emitter::<u64>(32);
    let producer = produce(single(emitter), n);
    let got = flux
        .map(|i| i * 2)
        .filter(|i| i % 4 == 0)
        .into_blocking_iter_with(16)
        .map(Result::unwrap);
    let expected: Vec<u64> = (0..n).map(|i| i * 2).filter(|i| i % 4 == 0).collect();
    assert_eq!(got.collect::<Vec<_>>(), expected);
    producer.join().unwrap();
}

#[test]
fn a_stream_consumer_gets_every_item_once_in_order() {
    let n = scaled(50_000);
    let (emitter, flux) = backflow::emitter::<u64>(16);
    let producer = produce(single(emitter), n);
    let got: Vec<u64> = futures::executor::block_on(async {
        use futures::StreamExt;
        flux.into_stream_with(8)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .await
    });
    assert_in_order(got, n);
    producer.join().unwrap();
}

#[test]
fn a_publish_on_consumer_gets_every_item_once_in_order() {
    // Not fused: the single handle goes the shared way, and must lose nothing there either.
    let n = scaled(50_000);
    let consumer = Single::with_name("single-emitter-test");
    let (emitter, flux) = backflow::emitter::<u64>(64);
    let producer = produce(single(emitter), n);
    let seen = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
    let sink = seen.clone();
    flux.publish_on(consumer)
        .prefetch(32)
        .for_each(move |i| sink.lock().unwrap().push(i))
        .unwrap();
    producer.join().unwrap();
    assert_in_order(seen.lock().unwrap().iter().copied(), n);
}

#[test]
fn the_handle_may_move_to_another_thread_between_offers() {
    let (emitter, flux) = backflow::emitter::<u64>(8);
    let mut iter = flux.into_blocking_iter_with(4).map(Result::unwrap);
    let mut single = single(emitter);
    let mut next = 0;
    for _hop in 0..5 {
        let from = next;
        let producer = thread::spawn(move || {
            for i in from..from + 1_000 {
                single.emit(i).unwrap();
            }
            single
        });
        for _ in 0..1_000 {
            assert_eq!(iter.next(), Some(next));
            next += 1;
        }
        single = producer.join().unwrap();
    }
    drop(single);
    assert_eq!(iter.next(), None);
}

// ---- the outcomes an Emitter gives ----

#[test]
fn try_emit_counts_demand_and_hands_the_item_back_when_full() {
    // Fused consumer that has asked for `prefetch` and is not reading: capacity is the ring plus
    // that demand, then `Full` with the item.
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let iter = flux.into_blocking_iter_with(2);
    let single = single(emitter);
    let mut taken = 0;
    let refused = loop {
        match single.try_emit(taken) {
            Ok(()) => taken += 1,
            Err(refused) => break refused,
        }
    };
    assert_eq!(taken, 4 + 2, "capacity = buffered + outstanding demand");
    assert!(refused.is_full());
    assert_eq!(refused.into_inner(), taken);
    drop(single);
    let got: Vec<u32> = iter.map(Result::unwrap).collect();
    assert_eq!(got, (0..taken).collect::<Vec<_>>());
}

#[test]
fn emit_timeout_hands_the_item_back_when_no_room_comes() {
    let (emitter, flux) = backflow::emitter::<u32>(1);
    let _iter = flux.into_blocking_iter_with(1);
    let single = single(emitter);
    single.try_emit(0).unwrap();
    single.try_emit(1).unwrap();
    let late = single.emit_timeout(2, A_WHILE).unwrap_err();
    assert!(late.is_timeout());
    assert_eq!(late.into_inner(), 2);
    // A zero timeout does not wait at all, and hands the item back the same way.
    assert!(single
        .emit_timeout(3, Duration::ZERO)
        .unwrap_err()
        .is_timeout());
}

#[test]
fn a_blocked_emit_is_released_when_the_consumer_reads() {
    let (emitter, flux) = backflow::emitter::<u64>(2);
    let mut iter = flux.into_blocking_iter_with(1).map(Result::unwrap);
    let single = single(emitter);
    for i in 0..3 {
        single.try_emit(i).unwrap();
    }
    let producer = thread::spawn(move || {
        single.emit(3).unwrap();
        single
    });
    thread::sleep(A_WHILE);
    assert!(!producer.is_finished(), "emit must wait for room");
    assert_eq!(iter.next(), Some(0));
    let single = producer.join().unwrap();
    drop(single);
    assert_eq!(iter.collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn a_blocked_emit_is_woken_with_closed_when_the_consumer_goes() {
    let (emitter, flux) = backflow::emitter::<u64>(1);
    let iter = flux.into_blocking_iter_with(1);
    let single = single(emitter);
    single.try_emit(0).unwrap();
    single.try_emit(1).unwrap();
    let producer = thread::spawn(move || single.emit(2));
    thread::sleep(A_WHILE);
    drop(iter); // cancels
    let closed = producer.join().unwrap().unwrap_err();
    assert!(matches!(closed, EmitError::Closed(2)));
}

#[test]
fn every_method_hands_the_item_back_once_closed() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let iter = flux.into_blocking_iter();
    let single = single(emitter);
    single.try_emit(0).unwrap();
    drop(iter);
    assert!(single.is_closed());
    assert!(matches!(single.try_emit(1), Err(EmitError::Closed(1))));
    assert!(matches!(single.emit(2), Err(EmitError::Closed(2))));
    assert!(matches!(
        single.emit_timeout(3, A_WHILE),
        Err(EmitError::Closed(3))
    ));
}

#[test]
fn drop_newest_and_drop_oldest_never_wait_and_report_every_drop() {
    for policy in [Overflow::DropNewest, Overflow::DropOldest] {
        let registry = Registry::new();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let log = dropped.clone();
        let (emitter, flux) = Emitter::<u32>::builder(2)
            .overflow(policy)
            .on_drop(move |item, reason| log.lock().unwrap().push((item, reason)))
            .metrics(registry.stage("single", 2))
            .build();
        let iter = flux.into_blocking_iter_with(1);
        let single = single(emitter);
        // 2 buffered + 1 against the demand; the rest overflow, without any wait.
        for i in 0..10 {
            single.emit(i).unwrap();
        }
        drop(single);
        let got: Vec<u32> = iter.map(Result::unwrap).collect();
        let dropped = dropped.lock().unwrap().clone();
        assert_eq!(
            got.len() + dropped.len(),
            10,
            "{policy:?}: each item delivered or dropped"
        );
        let mut all: Vec<u32> = got
            .iter()
            .copied()
            .chain(dropped.iter().map(|d| d.0))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>(), "{policy:?}");
        match policy {
            Overflow::DropNewest => assert_eq!(got, [0, 1, 2]),
            _ => assert_eq!(&got[got.len() - 2..], [8, 9], "the newest are kept"),
        }
        let reason = match policy {
            Overflow::DropNewest => DropReason::Overflow,
            _ => DropReason::Evicted,
        };
        assert!(
            dropped.iter().all(|(_, r)| *r == reason),
            "{policy:?}: {dropped:?}"
        );
        let snap = &registry.snapshot()[0];
        assert_eq!(snap.dropped.get(reason), dropped.len() as u64);
    }
}

#[test]
fn overflow_error_refuses_the_item_then_fails_the_stream() {
    let (emitter, flux) = backflow::emitter_with::<u32>(1, Overflow::Error);
    let iter = flux.into_blocking_iter_with(1);
    let single = single(emitter);
    single.try_emit(0).unwrap();
    single.try_emit(1).unwrap();
    let refused = single.emit(2).unwrap_err();
    assert!(refused.is_full());
    assert_eq!(refused.into_inner(), 2);
    let got: Vec<Result<u32, Error>> = iter.collect();
    assert_eq!(got.len(), 3);
    assert_eq!(*got[0].as_ref().unwrap(), 0);
    assert_eq!(*got[1].as_ref().unwrap(), 1);
    assert!(got[2].is_err(), "the stream fails after the held items");
}

#[test]
fn error_ends_the_stream_after_the_buffered_items() {
    let (emitter, flux) = backflow::emitter::<u32>(4);
    let single = single(emitter);
    single.try_emit(1).unwrap();
    single.try_emit(2).unwrap();
    single.error(Error::msg("producer failed"));
    let got: Vec<Result<u32, Error>> = flux.into_blocking_iter().collect();
    assert_eq!(got.len(), 3);
    assert!(got[2]
        .as_ref()
        .is_err_and(|e| e.to_string().contains("producer failed")));
}
