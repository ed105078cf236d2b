//! Group `emitter`: 1M `u64` from producer threads to a consumer thread through a bounded hand-off
//! of capacity 1024, every side blocking (parking) when it must wait. Ours: an `Emitter` (`emit`)
//! read through `into_blocking_iter` on the consumer thread; peers in the same group:
//! crossbeam-channel `bounded(1024)` and std `sync_channel(1024)`. One producer, then four; with one
//! producer also the Disruptor (crates.io `disruptor` 4.x: one `publish` per item into a 1024-slot
//! single-producer ring, one consumer thread summing, busy-spinning in `disruptor_busy_spin`,
//! sleeping in `disruptor_sleep`), and with one and four producers the Disruptor's multi-producer
//! ring (`disruptor_multi_busy_spin`: claims by read-modify-write, as an `Emitter`'s must, since
//! it is `Clone + Sync`; informational). With one producer also `backflow_single_emitter`: the
//! same producer through `Emitter::into_single` (a `SingleEmitter`: a plain store per claim, the
//! blocking iterator pays the barrier when it parks), the like-for-like peer of the Disruptor's
//! single-producer ring. Targets (PERF.md): 1 producer ≥ 1.5× crossbeam and ≥ 1.0×
//! `disruptor_busy_spin`; 4 producers ≥ 1.5× crossbeam.
//!
//! Group `emitter_publish_on`: the shape of a real pipeline's entry. A producer thread `emit`s 1M
//! `u64` into an `Emitter` (capacity 1024) whose stream goes through `publish_on(_).prefetch(1024)` onto a
//! scheduler thread and is folded there; the bench's thread waits for the sum. Peer: crossbeam-channel
//! `bounded(1024)`, a producer thread sending, the consumer folding. Target: ≥ 1.0×.
//!
//! Group `emitter_paired` (after the criterion groups, not criterion's): each of those
//! comparisons again, ours and the peer timed in alternating pairs so that both sides of each
//! ratio see the same machine state (`benches/support/paired.rs`); `BACKFLOW_EMITTER_PAIRS=N`
//! sets the pairs (default 10, 0 skips it). Writes `$CRITERION_HOME/emitter_paired.json` for
//! `scripts/bench-report`.
//!
//! With `BACKFLOW_BENCH_LOAD=2` two busy threads run alongside (`benches/support`, PERF.md's
//! loaded condition).
//!
//! The emitter path is a full Reactive Streams hop: the producer's `emit` runs the drain that
//! delivers against the iterator's demand, and the consumer's top-up requests release producers
//! waiting for room.

use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::thread;

use backflow::sched::Single;
use criterion::{criterion_group, Criterion, Throughput};

mod support;

const ITEMS: u64 = 1_000_000;
const CAPACITY: usize = 1024;

/// `producers` threads share `ITEMS` between them; returns the sum the consumer saw.
fn emitter(producers: u64) -> u64 {
    let (emitter, flux) = backflow::emitter::<u64>(CAPACITY);
    thread::scope(|scope| {
        for p in 0..producers {
            let emitter = emitter.clone();
            scope.spawn(move || {
                for i in (p..ITEMS).step_by(producers as usize) {
                    emitter.emit(i).unwrap();
                }
            });
        }
        drop(emitter);
        flux.into_blocking_iter_with(CAPACITY)
            .map(|item| item.unwrap())
            .sum()
    })
}

/// One producer thread through a [`backflow::SingleEmitter`] (`Emitter::into_single`: a plain
/// store per claim, the consumer pays the barrier when it parks); returns the sum.
fn single_emitter() -> u64 {
    let (emitter, flux) = backflow::emitter::<u64>(CAPACITY);
    let single = emitter.into_single().expect("the only handle");
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..ITEMS {
                single.emit(i).unwrap();
            }
        });
        flux.into_blocking_iter_with(CAPACITY)
            .map(|item| item.unwrap())
            .sum()
    })
}

fn crossbeam(producers: u64) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    thread::scope(|scope| {
        for p in 0..producers {
            let tx = tx.clone();
            scope.spawn(move || {
                for i in (p..ITEMS).step_by(producers as usize) {
                    tx.send(i).unwrap();
                }
            });
        }
        drop(tx);
        rx.iter().sum()
    })
}

fn std_sync_channel(producers: u64) -> u64 {
    let (tx, rx) = sync_channel::<u64>(CAPACITY);
    thread::scope(|scope| {
        for p in 0..producers {
            let tx = tx.clone();
            scope.spawn(move || {
                for i in (p..ITEMS).step_by(producers as usize) {
                    tx.send(i).unwrap();
                }
            });
        }
        drop(tx);
        rx.iter().sum()
    })
}

fn bench(c: &mut Criterion) {
    let expected = ITEMS * (ITEMS - 1) / 2;
    for producers in [1, 4] {
        let mut group = c.benchmark_group(format!("emitter/{producers}_producers"));
        group.throughput(Throughput::Elements(ITEMS));
        group.sample_size(10);
        group.bench_function("backflow_emitter", |b| {
            b.iter(|| assert_eq!(black_box(emitter(producers)), expected))
        });
        group.bench_function("crossbeam_bounded", |b| {
            b.iter(|| assert_eq!(black_box(crossbeam(producers)), expected))
        });
        group.bench_function("std_sync_channel", |b| {
            b.iter(|| assert_eq!(black_box(std_sync_channel(producers)), expected))
        });
        group.bench_function("disruptor_multi_busy_spin", |b| {
            b.iter(|| {
                let sum = support::disruptor_multi_busy_spin(ITEMS, CAPACITY, producers);
                assert_eq!(black_box(sum), expected)
            })
        });
        if producers == 1 {
            group.bench_function("backflow_single_emitter", |b| {
                b.iter(|| assert_eq!(black_box(single_emitter()), expected))
            });
            group.bench_function("disruptor_busy_spin", |b| {
                b.iter(|| {
                    let sum = support::disruptor_busy_spin(ITEMS, CAPACITY);
                    assert_eq!(black_box(sum), expected)
                })
            });
            group.bench_function("disruptor_sleep", |b| {
                b.iter(|| {
                    let sum = support::disruptor_sleep(ITEMS, CAPACITY);
                    assert_eq!(black_box(sum), expected)
                })
            });
        }
        group.finish();
    }
}

/// A producer thread `emit`s every item into an `Emitter`; its stream is handed to `consumer` by
/// `publish_on` and folded there. Returns the sum.
fn emitter_publish_on(consumer: &Single) -> u64 {
    let (emitter, flux) = backflow::emitter::<u64>(CAPACITY);
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..ITEMS {
                emitter.emit(i).unwrap();
            }
        });
        flux.publish_on(consumer.clone())
            .prefetch(CAPACITY)
            .fold(0u64, u64::wrapping_add)
            .expect("the pipeline failed")
    })
}

fn publish_on_group(c: &mut Criterion) {
    let expected = ITEMS * (ITEMS - 1) / 2;
    // Started once, outside the timed loop, as a pipeline's scheduler is.
    let consumer = Single::with_name("bench-publish-on");
    let mut group = c.benchmark_group("emitter_publish_on");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(10);
    group.bench_function("backflow_emitter_publish_on", |b| {
        b.iter(|| assert_eq!(black_box(emitter_publish_on(&consumer)), expected))
    });
    group.bench_function("crossbeam_bounded", |b| {
        b.iter(|| assert_eq!(black_box(crossbeam(1)), expected))
    });
    group.finish();
}

criterion_group!(benches, bench, publish_on_group);

/// Pairs `emitter_paired` times when `BACKFLOW_EMITTER_PAIRS` does not say.
const PAIRS: usize = 10;

/// The environment variable with the number of pairs `emitter_paired` times (0: none).
const PAIRS_VAR: &str = "BACKFLOW_EMITTER_PAIRS";

/// Group `emitter_paired`: every target comparison of this file in alternating pairs.
fn emitter_paired() {
    use support::paired::pairing;
    if !support::paired::enabled(|f| f.contains("emitter") || f.contains("paired")) {
        return;
    }
    let work = support::paired::Workload {
        items: ITEMS,
        expected: ITEMS * (ITEMS - 1) / 2,
    };
    fn emitter_1() -> u64 {
        emitter(1)
    }
    fn emitter_4() -> u64 {
        emitter(4)
    }
    fn crossbeam_1() -> u64 {
        crossbeam(1)
    }
    fn crossbeam_4() -> u64 {
        crossbeam(4)
    }
    fn disruptor_single() -> u64 {
        support::disruptor_busy_spin(ITEMS, CAPACITY)
    }
    fn disruptor_multi_1() -> u64 {
        support::disruptor_multi_busy_spin(ITEMS, CAPACITY, 1)
    }
    fn publish_on() -> u64 {
        thread_local!(static CONSUMER: Single = Single::with_name("bench-publish-on"));
        CONSUMER.with(emitter_publish_on)
    }
    support::paired::run(
        "emitter_paired",
        support::paired::pairs_from_env(PAIRS_VAR, PAIRS),
        work,
        &[
            pairing("1p_crossbeam", "crossbeam", emitter_1, crossbeam_1),
            pairing("1p_disruptor", "disruptor", emitter_1, disruptor_single),
            pairing(
                "1p_disruptor_multi",
                "disruptor-mp",
                emitter_1,
                disruptor_multi_1,
            ),
            pairing(
                "1p_single_crossbeam",
                "crossbeam",
                single_emitter,
                crossbeam_1,
            ),
            pairing(
                "1p_single_disruptor",
                "disruptor",
                single_emitter,
                disruptor_single,
            ),
            pairing("1p_single_emitter", "emitter", single_emitter, emitter_1),
            pairing("4p_crossbeam", "crossbeam", emitter_4, crossbeam_4),
            pairing("publish_on_crossbeam", "crossbeam", publish_on, crossbeam_1),
        ],
    );
}

fn main() {
    support::main(&[benches, emitter_paired]);
}
