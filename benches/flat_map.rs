//! Group `graph`, id `backflow_flat_map`: 10M `u64` from 4 producer threads (2.5M each) merged by
//! `flat_map` into one consumer that sums them. The peer in the same run is the same fan-in through
//! a crossbeam-channel `bounded(1024)` (4 sender threads, one receiver). Other graph benches
//! (`backflow_merge4`, `futures_select_all`) live in `benches/graph.rs` under the same group name.

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
                subscriber.on_next_iter(next..next + n);
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
    group.bench_function("backflow_flat_map", |b| {
        b.iter(|| {
            let sum = backflow::range(0..INNERS)
                .flat_map_with(
                    |i| {
                        Flux::new(Producer {
                            range: i * PER_INNER..(i + 1) * PER_INNER,
                        })
                    },
                    INNERS as usize,
                    PREFETCH,
                )
                .fold(0u64, |a, x| a + x)
                .unwrap();
            assert_eq!(black_box(sum), expected);
        })
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
