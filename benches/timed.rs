//! Group `timed_ingest`: the per-item cost of the timed stages on a fast producer (1M `u64` from a
//! synchronous `range`, one thread), side by side. The lossy stages (`sample`, `throttle_first`,
//! `debounce`) face a consumer that wants one item, so they discard almost everything, against
//! `drop_unrequested()` doing the same; `timeout` passes everything, against the bare chain. Timers are an hour
//! away: this measures the item path, not the timer.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 1_000_000;
const HOUR: Duration = Duration::from_secs(3600);

/// Requests `want` up front and counts what it gets; the stream ends synchronously.
struct Wants {
    want: u64,
    seen: Arc<AtomicU64>,
}

impl Subscriber<u64> for Wants {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(self.want);
    }
    fn on_next(&mut self, x: u64) {
        self.seen.fetch_add(black_box(x) | 1, Ordering::Relaxed);
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {}
}

fn run<P: Publisher<Item = u64>>(publisher: P, want: u64) -> u64 {
    let seen = Arc::new(AtomicU64::new(0));
    publisher.subscribe(Wants {
        want,
        seen: seen.clone(),
    });
    seen.load(Ordering::Relaxed)
}

fn timed_ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("timed_ingest");
    group.throughput(Throughput::Elements(N));
    group.bench_function("drop", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)).drop_unrequested(), 1))
    });
    group.bench_function("sample", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)).sample(HOUR), 1))
    });
    group.bench_function("throttle_first", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)).throttle_first(HOUR), 1))
    });
    group.bench_function("debounce", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)).debounce(HOUR), 1))
    });
    group.bench_function("pass_through", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)), u64::MAX))
    });
    group.bench_function("timeout", |b| {
        b.iter(|| run(backflow::range(0..black_box(N)).timeout(HOUR), u64::MAX))
    });
    // The floor for the stages that read the clock per item: the clock read alone.
    group.bench_function("clock_read", |b| {
        b.iter(|| {
            let mut last = std::time::Instant::now();
            for _ in 0..black_box(N) {
                last = last.max(std::time::Instant::now());
            }
            last
        })
    });
    group.finish();
}

criterion_group!(benches, timed_ingest);
criterion_main!(benches);
