//! Group `boundary` (PERF.md): 10M `u64` from a producer thread to a consumer thread, capacity
//! 1024, summed on the consumer side. Ours (`backflow_publish_on`) against crossbeam-channel's
//! `bounded(1024)`, std's `sync_channel(1024)` and futures' `mpsc::channel(1024)` driven by
//! `futures::executor::block_on`, and the Disruptor (crates.io `disruptor` 4.x: one `publish` per
//! item into a 1024-slot single-producer ring, one consumer thread summing, busy-spinning with
//! `BusySpinWithSpinLoopHint` in `disruptor_busy_spin`, sleeping in `disruptor_sleep`). Targets:
//! ≥ 2× crossbeam-channel's throughput and ≥ 1.0× `disruptor_busy_spin`.
//!
//! With `BACKFLOW_BENCH_LOAD=2` two busy threads run alongside (`benches/support`, PERF.md's
//! loaded condition).
//!
//! Ours is a whole Reactive Streams pipeline, demand accounting included:
//! `range(0..N).subscribe_on(producer).publish_on(consumer).prefetch(1024).fold(..)`. `subscribe_on`
//! makes the range run on the `producer` thread (its items are produced inside `request`, which
//! `subscribe_on` sends there), `publish_on` hands them to the `consumer` thread, where the fold
//! runs; the bench's own thread only waits for the result. So, like every peer, one thread
//! produces, another consumes, and items cross through a bounded buffer of 1024. Both schedulers
//! are started once, outside the timed loop (a peer spawns its producer thread per run: ~30 µs
//! against ~100 ms of work).
//!
//! Group `boundary_paired` (after the criterion groups, not criterion's): ours against
//! crossbeam-channel and against `disruptor_busy_spin` again, timed in alternating pairs so that
//! both sides of each ratio see the same machine state (`benches/support/paired.rs`);
//! `BACKFLOW_BOUNDARY_PAIRS=N` sets the pairs (default 6, 0 skips it). Writes
//! `$CRITERION_HOME/boundary_paired.json` for `scripts/bench-report`.
//!
//! Group `metrics_cost`: the same pipeline with `.metrics(stage)` on the `publish_on` stage, against
//! none. Target: ≤ 5% slower.

use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread;

use backflow::metrics::StageMetrics;
use backflow::sched::Single;
use criterion::{criterion_group, Criterion, Throughput};
use futures::{SinkExt, StreamExt};

mod support;

const ITEMS: u64 = 10_000_000;
const CAPACITY: usize = 1024;

/// The two threads of our pipeline.
struct Threads {
    producer: Single,
    consumer: Single,
}

impl Threads {
    fn new() -> Self {
        Threads {
            producer: Single::with_name("bench-producer"),
            consumer: Single::with_name("bench-consumer"),
        }
    }
}

fn backflow_publish_on(threads: &Threads, metrics: Option<Arc<StageMetrics>>) -> u64 {
    let stage = backflow::range(0..ITEMS)
        .subscribe_on(threads.producer.clone())
        .publish_on(threads.consumer.clone())
        .prefetch(CAPACITY);
    let sum = |a: u64, x: u64| a.wrapping_add(x);
    match metrics {
        Some(metrics) => stage.metrics(metrics).fold(0, sum),
        None => stage.fold(0, sum),
    }
    .expect("the pipeline failed")
}

fn crossbeam_channel() -> u64 {
    let (tx, rx) = crossbeam_channel::bounded(CAPACITY);
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..ITEMS {
                tx.send(i).unwrap();
            }
        });
        rx.iter().fold(0u64, u64::wrapping_add)
    })
}

fn std_sync_channel() -> u64 {
    let (tx, rx) = sync_channel(CAPACITY);
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..ITEMS {
                tx.send(i).unwrap();
            }
        });
        rx.iter().fold(0u64, u64::wrapping_add)
    })
}

fn futures_mpsc() -> u64 {
    // futures' channel holds `buffer` items plus one per sender.
    let (mut tx, rx) = futures::channel::mpsc::channel::<u64>(CAPACITY - 1);
    thread::scope(|scope| {
        scope.spawn(move || {
            futures::executor::block_on(async move {
                for i in 0..ITEMS {
                    tx.send(i).await.unwrap();
                }
            })
        });
        futures::executor::block_on(rx.fold(0u64, |a, x| async move { a.wrapping_add(x) }))
    })
}

/// One full run of a peer: moves `ITEMS` across threads, returns the consumer's sum.
type Run = fn() -> u64;

fn boundary(c: &mut Criterion) {
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let threads = Threads::new();
    let mut group = c.benchmark_group("boundary");
    group.throughput(Throughput::Elements(ITEMS));
    assert_eq!(backflow_publish_on(&threads, None), expected);
    group.bench_function("backflow_publish_on", |b| {
        b.iter(|| black_box(backflow_publish_on(&threads, None)))
    });
    let peers: [(&str, Run); 5] = [
        ("crossbeam_channel", crossbeam_channel),
        ("std_sync_channel", std_sync_channel),
        ("futures_mpsc", futures_mpsc),
        ("disruptor_busy_spin", || {
            support::disruptor_busy_spin(ITEMS, CAPACITY)
        }),
        ("disruptor_sleep", || {
            support::disruptor_sleep(ITEMS, CAPACITY)
        }),
    ];
    for (id, run) in peers {
        assert_eq!(run(), expected, "{id} lost or duplicated items");
        group.bench_function(id, |b| b.iter(|| black_box(run())));
    }
    group.finish();
}

fn metrics_cost(c: &mut Criterion) {
    let threads = Threads::new();
    let mut group = c.benchmark_group("metrics_cost");
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function("metrics_off", |b| {
        b.iter(|| black_box(backflow_publish_on(&threads, None)))
    });
    let metrics = Arc::new(StageMetrics::new("publish_on", CAPACITY as u64));
    // One counted run up front, so the checks below hold even when a filter skips `metrics_on`.
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    assert_eq!(
        backflow_publish_on(&threads, Some(metrics.clone())),
        expected
    );
    group.bench_function("metrics_on", |b| {
        b.iter(|| black_box(backflow_publish_on(&threads, Some(metrics.clone()))))
    });
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.received, snapshot.emitted);
    assert!(snapshot.emitted >= ITEMS && snapshot.emitted % ITEMS == 0);
    group.finish();
}

criterion_group!(benches, boundary, metrics_cost);

/// Pairs `boundary_paired` times when `BACKFLOW_BOUNDARY_PAIRS` does not say.
const PAIRS: usize = 6;

/// The environment variable with the number of pairs `boundary_paired` times (0: none).
const PAIRS_VAR: &str = "BACKFLOW_BOUNDARY_PAIRS";

/// Group `boundary_paired`: the `boundary` targets in alternating pairs.
fn boundary_paired() {
    use support::paired::pairing;
    if !support::paired::enabled(|f| f.contains("boundary") || f.contains("paired")) {
        return;
    }
    thread_local!(static THREADS: Threads = Threads::new());
    fn ours() -> u64 {
        THREADS.with(|threads| backflow_publish_on(threads, None))
    }
    fn disruptor() -> u64 {
        support::disruptor_busy_spin(ITEMS, CAPACITY)
    }
    let work = support::paired::Workload {
        items: ITEMS,
        expected: (0..ITEMS).fold(0u64, u64::wrapping_add),
    };
    support::paired::run(
        "boundary_paired",
        support::paired::pairs_from_env(PAIRS_VAR, PAIRS),
        work,
        &[
            pairing("crossbeam", "crossbeam", ours, crossbeam_channel),
            pairing("disruptor", "disruptor", ours, disruptor),
        ],
    );
}

fn main() {
    support::main(&[benches, boundary_paired]);
}
