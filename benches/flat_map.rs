//! Group `graph`, id `backflow_flat_map`: 10M `u64` from 4 producer threads (2.5M each) merged by
//! `flat_map` into one consumer that sums them. Each producer hands its items over in runs (one
//! `on_next_iter` per grant of demand, as the crate's sources do), prefetch 1024 per inner.
//! `backflow_flat_map_on_next_256` is the shape of `backflow_merge4` in `benches/graph.rs`: item by
//! item `on_next`, prefetch 256. The peer in the same run is the same fan-in through a
//! crossbeam-channel `bounded(1024)` (4 sender threads, one receiver).
//!
//! The drain runs on whichever thread signals it, usually a producer, so a producer often delivers
//! its own run to the sum while it is still in its cache.

use std::hint::black_box;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 10_000_000;
const INNERS: u64 = 4;
const PER_INNER: u64 = N / INNERS;
/// Per-inner ring and prefetch, like the `boundary` bench's capacity.
const PREFETCH: usize = 1024;

/// A cold source whose every subscription runs on its own thread: it emits its range against
/// demand, in runs (one `on_next_iter` per run), and parks while there is none.
#[derive(Clone)]
struct Producer {
    range: Range<u64>,
    /// Hand over each grant of demand as one run (`on_next_iter`), or item by item (`on_next`).
    runs: bool,
}

struct ProducerSubscription {
    demand: AtomicU64,
    cancelled: AtomicBool,
    thread: Thread,
}

impl Subscription for ProducerSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .demand
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                Some(d.saturating_add(n))
            });
        self.thread.unpark();
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Publisher for Producer {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let Range { start, end } = self.range.clone();
        let runs = self.runs;
        std::thread::spawn(move || {
            let sub = Arc::new(ProducerSubscription {
                demand: AtomicU64::new(0),
                cancelled: AtomicBool::new(false),
                thread: std::thread::current(),
            });
            subscriber.on_subscribe(sub.clone());
            let mut next = start;
            while next < end {
                if sub.cancelled.load(Ordering::Acquire) {
                    return;
                }
                let demand = sub.demand.load(Ordering::Acquire);
                if demand == 0 {
                    std::thread::park();
                    continue;
                }
                let n = demand.min(end - next);
                if runs {
                    subscriber.on_next_iter(next..next + n);
                } else {
                    (next..next + n).for_each(|x| subscriber.on_next(x));
                }
                next += n;
                if demand != u64::MAX {
                    sub.demand.fetch_sub(n, Ordering::AcqRel);
                }
            }
            subscriber.on_complete();
        });
    }
}

fn graph(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph");
    group.throughput(Throughput::Elements(N));
    group.sample_size(10);
    let expected: u64 = (0..N).sum();
    let flat_map = |runs: bool, prefetch: usize| {
        let sum = backflow::range(0..INNERS)
            .flat_map_with(
                move |i| {
                    Flux::new(Producer {
                        range: i * PER_INNER..(i + 1) * PER_INNER,
                        runs,
                    })
                },
                INNERS as usize,
                prefetch,
            )
            .fold(0u64, |a, x| a + x)
            .unwrap();
        assert_eq!(black_box(sum), expected);
    };
    group.bench_function("backflow_flat_map", |b| b.iter(|| flat_map(true, PREFETCH)));
    group.bench_function("backflow_flat_map_on_next_256", |b| {
        b.iter(|| flat_map(false, 256))
    });
    group.bench_function("crossbeam_channel_4_producers", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
            let producers: Vec<_> = (0..INNERS)
                .map(|i| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for x in i * PER_INNER..(i + 1) * PER_INNER {
                            tx.send(x).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let sum: u64 = rx.iter().sum();
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(black_box(sum), expected);
        })
    });
    group.finish();
}

criterion_group!(benches, graph);
criterion_main!(benches);
