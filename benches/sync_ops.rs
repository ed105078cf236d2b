//! Group `sync_ops`: a chain of the issue-2 synchronous operators over `range(0..1M)`, summed on one
//! thread, against the same `Iterator` chain (the physical limit): `skip`, `filter_map`,
//! `take_while`, `inspect`, `scan`, `take`. The bar is `pipeline`'s (PERF.md): unbounded ≤ 1.5×,
//! batches of 256 ≤ 2×.
//!
//! Instruction counts (callgrind, release, 1M items, the chain run once:
//! `cargo build --release --example catch_cost`, then
//! `valgrind --tool=callgrind --toggle-collect='catch_cost::*' target/release/examples/catch_cost
//! <case>` with `sync_ops_iterator`, `sync_ops_unbounded`, `sync_ops_256`): `iterator` 17.0M;
//! ours unbounded 15.5M (was 29.5M), `request(256)` 16.4M (was 30.3M). The gap was per item, in
//! stages that kept their state in memory across a run (`scan`'s accumulator taken and stored back
//! per item, `take`'s remaining count, `skip`'s counter): each run now owns a local copy, written
//! back once by a drop guard, and implements `fold`, so the chain is one internal loop; each run is
//! one function of its own (`source::pull`). Ours beats the `Iterator` chain here because its run
//! is a counted sub-range folded internally, while `Iterator::take` over `Scan` iterates
//! externally. `take`'s check of its run's size hint is ~2 instructions an item.

use std::hint::black_box;

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 1_000_000;

fn iterator_chain(n: u64) -> u64 {
    (0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(|x| *x < 2 * n - 100)
        .inspect(|x| {
            black_box(x);
        })
        .scan(0u64, |acc, x| {
            *acc = acc.wrapping_add(x);
            Some(*acc)
        })
        .take(n as usize)
        .fold(0u64, |a, x| a.wrapping_add(x))
}

fn backflow_chain(n: u64, request: Request) -> u64 {
    backflow::range(0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(move |x| *x < 2 * n - 100)
        .inspect(|x| {
            black_box(x);
        })
        .scan(0u64, |acc, x| acc.wrapping_add(x))
        .skip(1) // the seed: Iterator::scan does not emit it
        .take(n)
        .fold_with(request, 0u64, |a, x| a.wrapping_add(x))
        .unwrap()
}

fn sync_ops(c: &mut Criterion) {
    assert_eq!(
        iterator_chain(10_000),
        backflow_chain(10_000, Request::Unbounded)
    );
    let mut group = c.benchmark_group("sync_ops");
    group.throughput(Throughput::Elements(N));
    group.bench_function("iterator", |b| b.iter(|| iterator_chain(black_box(N))));
    group.bench_function("backflow_unbounded", |b| {
        b.iter(|| backflow_chain(black_box(N), Request::Unbounded))
    });
    group.bench_function("backflow_request256", |b| {
        b.iter(|| backflow_chain(black_box(N), Request::Batch(256)))
    });
    group.finish();
}

criterion_group!(benches, sync_ops);
criterion_main!(benches);
