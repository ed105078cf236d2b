//! Group `sync_ops`: a chain of the issue-2 synchronous operators over `range(0..1M)`, summed on one
//! thread, against the same `Iterator` chain (the physical limit): `skip`, `filter_map`,
//! `take_while`, `inspect`, `scan`, `take`. The bar is `pipeline`'s (PERF.md): unbounded ≤ 1.5×,
//! batches of 256 ≤ 2×.
//!
//! Instruction counts (callgrind, release, 1M items, the chain run once:
//! `cargo build --release --example catch_cost`, then
//! `valgrind --tool=callgrind --toggle-collect='catch_cost::main' target/release/examples/catch_cost
//! <case>` with `sync_ops_iterator`, `sync_ops_unbounded`, `sync_ops_256`; `main` only, since a chain that is not inlined
//! into it would toggle collection off again): `iterator` 16.3M (17.0M while it was a function of
//! its own);
//! ours unbounded 15.5M (was 29.5M), `request(256)` 16.4M (was 30.3M). The gap was per item, in
//! stages that kept their state in memory across a run (`scan`'s accumulator taken and stored back
//! per item, `take`'s remaining count, `skip`'s counter): each run now owns a local copy, written
//! back once by a drop guard, and implements `fold`, so the chain is one internal loop; each run is
//! one function of its own (`source::pull`). Ours beats the `Iterator` chain here because its run
//! is a counted sub-range folded internally, while `Iterator::take` over `Scan` iterates
//! externally. `take`'s check of its run's size hint is ~2 instructions an item.

use std::hint::black_box;

use backflow::prelude::*;
use chains::{sync_ops as backflow_chain, sync_ops_iterator as iterator_chain};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "support/chains.rs"]
mod chains;

const N: u64 = 1_000_000;

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
