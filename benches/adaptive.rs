//! Group `resilience_concurrent_map`: 200k `u64` through `concurrent_map` under a fixed limit of
//! 32, each call a one-item publisher (`just(Ok(x))`), summed; and the same calls through
//! `flat_map_with(f, 32, 1)` — the same concurrency, one item asked of each inner — in the same
//! run. Target (PERF.md): `concurrent_map` ≥ 0.9× `flat_map_with`. A second pair runs each call on
//! a 2-thread pool (`subscribe_on`), the shape of a real service call, on a tenth of the items
//! (group `resilience_concurrent_map_pool`).

use std::hint::black_box;

use backflow::resilience::limit::{Fixed, Limiter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 200_000;
const LIMIT: usize = 32;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("resilience_concurrent_map");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("backflow_concurrent_map", |b| {
        b.iter(|| {
            let limiter = Limiter::new(Fixed::new(LIMIT));
            backflow::range(0..N)
                .concurrent_map(limiter, |x| backflow::just(Ok::<u64, ()>(x)))
                .fold(0u64, |acc, r| acc + r.unwrap())
                .map(black_box)
                .unwrap()
        })
    });
    g.bench_function("backflow_flat_map_with", |b| {
        b.iter(|| {
            backflow::range(0..N)
                .flat_map_with(|x| backflow::just(Ok::<u64, ()>(x)), LIMIT, 1)
                .fold(0u64, |acc, r| acc + r.unwrap())
                .map(black_box)
                .unwrap()
        })
    });
    g.finish();

    // Calls on a pool: a tenth of the items (each call is a scheduled task), in a group of its own
    // so the throughput counts the items really processed.
    let mut g = c.benchmark_group("resilience_concurrent_map_pool");
    g.throughput(Throughput::Elements(N / 10));
    g.sample_size(10);
    let pool = backflow::sched::pool(2);
    let p = pool.clone();
    g.bench_function("backflow_concurrent_map_pool", |b| {
        b.iter(|| {
            let limiter = Limiter::new(Fixed::new(LIMIT));
            let p = p.clone();
            backflow::range(0..N / 10)
                .concurrent_map(limiter, move |x| {
                    backflow::just(Ok::<u64, ()>(x)).subscribe_on(p.clone())
                })
                .fold(0u64, |acc, r| acc + r.unwrap())
                .map(black_box)
                .unwrap()
        })
    });
    g.bench_function("backflow_flat_map_with_pool", |b| {
        b.iter(|| {
            let p = pool.clone();
            backflow::range(0..N / 10)
                .flat_map_with(
                    move |x| backflow::just(Ok::<u64, ()>(x)).subscribe_on(p.clone()),
                    LIMIT,
                    1,
                )
                .fold(0u64, |acc, r| acc + r.unwrap())
                .map(black_box)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
