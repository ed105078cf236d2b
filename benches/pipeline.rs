//! Group `pipeline` (PERF.md): `range(0..1M).map(x * 3).filter(even)` summed on one thread, against
//! the same `Iterator` chain (the physical limit). Targets: unbounded ≤ 1.5×, batches of 256 ≤ 2×.
//!
//! Instruction counts (callgrind, release, 1M items, this chain; measured with
//! `examples/catch_cost.rs`, see `benches/sync_ops.rs`): `iterator` 1.75M — its start is the
//! constant 0, which lets the compiler fold the parity of `x * 3` and vectorise;
//! `iterator_runtime_start` 4.25M; the same with a count of the items that pass (the credits a sink
//! must report) 6.50M; ours unbounded 4.07M (was 4.56M, and 6.57M before that: runs under unbounded
//! demand go down uncounted, `Subscriber::on_next_unbounded`; the inner loop is the iterator's, 4.5
//! instructions an item, plus ~63 per run of 1024; each run is now one function of its own, so the
//! loop no longer shares registers with the drain loop), `request(256)` 7.09M (was 7.05M, the extra
//! call per run; 7.11M before that: the count is the sink's own top-up accounting, 6.5M, plus ~90
//! instructions per run of ~190 candidates, the runs the 256 credits allow; the drain now reads the
//! credits left with a load per run and settles them once per pass, not with a compare-and-swap per
//! run).

use std::hint::black_box;

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "support/chains.rs"]
mod chains;

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
    // The same chain with a start the compiler cannot see (a range source keeps its bounds in the
    // subscription, so ours can never fold the constant 0 into the loop). Informational: the
    // target is against `iterator`.
    group.bench_function("iterator_runtime_start", |b| {
        b.iter(|| chains::pipeline_iterator_runtime_start(black_box(N)))
    });
    group.bench_function("backflow_unbounded", |b| {
        b.iter(|| chains::pipeline(black_box(N), Request::Unbounded))
    });
    group.bench_function("backflow_request256", |b| {
        b.iter(|| chains::pipeline(black_box(N), Request::Batch(256)))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
