//! Group `emitter`: 1M `u64` from producer threads to a consumer thread through a bounded hand-off
//! of capacity 1024, every side blocking (parking) when it must wait. Ours: an `Emitter` (`emit`)
//! read through `into_blocking_iter` on the consumer thread; peers in the same group:
//! crossbeam-channel `bounded(1024)` and std `sync_channel(1024)`. One producer, then four; with one
//! producer also the Disruptor (crates.io `disruptor` 4.x: one `publish` per item into a 1024-slot
//! single-producer ring, one consumer thread summing, busy-spinning in `disruptor_busy_spin`,
//! sleeping in `disruptor_sleep`). Targets (PERF.md): 1 producer ≥ 1.5× crossbeam and ≥ 1.0×
//! `disruptor_busy_spin`; 4 producers ≥ 1.5× crossbeam.
//!
//! Group `emitter_publish_on`: the shape of a real pipeline's entry. A producer thread `emit`s 1M
//! `u64` into an `Emitter` (capacity 1024) whose stream goes through `publish_on(_).prefetch(1024)` onto a
//! scheduler thread and is folded there; the bench's thread waits for the sum. Peer: crossbeam-channel
//! `bounded(1024)`, a producer thread sending, the consumer folding. Target: ≥ 1.0×.
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
        if producers == 1 {
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

fn main() {
    support::main(&[benches]);
}
