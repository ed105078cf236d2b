//! Group `emitter`: 1M `u64` from producer threads to a consumer thread through a bounded hand-off
//! of capacity 1024, every side blocking (parking) when it must wait. Ours: an `Emitter` (`emit`)
//! read through `into_blocking_iter` on the consumer thread; peers in the same group:
//! crossbeam-channel `bounded(1024)` and std `sync_channel(1024)`. One producer, then four.
//!
//! The emitter path is a full Reactive Streams hop: the producer's `emit` runs the drain that
//! delivers against the iterator's demand, and the consumer's top-up requests release producers
//! waiting for room.

use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
