//! Group `pipeline` (PERF.md): `range(0..1M).map(x * 3).filter(even)` summed on one thread, against
//! the same `Iterator` chain (the physical limit). Targets: unbounded ≤ 1.5×, batches of 256 ≤ 2×.

use std::hint::black_box;

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 1_000_000;

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(N));
    group.bench_function("iterator", |b| {
        b.iter(|| {
            let n = black_box(N);
            (0..n).map(|x| x * 3).filter(|x| x % 2 == 0).sum::<u64>()
        })
    });
    group.bench_function("backflow_unbounded", |b| {
        b.iter(|| {
            let n = black_box(N);
            backflow::range(0..n)
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .fold_with(Request::Unbounded, 0u64, |a, x| a + x)
                .unwrap()
        })
    });
    group.bench_function("backflow_request256", |b| {
        b.iter(|| {
            let n = black_box(N);
            backflow::range(0..n)
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .fold_with(Request::Batch(256), 0u64, |a, x| a + x)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
