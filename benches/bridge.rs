//! Group `bridge` (issue 5): 10M `u64` from a producer thread to a `Stream` consumer on an
//! executor. Ours: `range(..).subscribe_on(single()).into_stream()`, consumed by
//! `futures::executor::block_on`; peer: a producer thread sending into a bounded futures mpsc
//! channel (capacity 1024), consumed the same way.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::{SinkExt, StreamExt};

const N: u64 = 10_000_000;
const CAPACITY: usize = 1024;

fn bridge(c: &mut Criterion) {
    let mut group = c.benchmark_group("bridge");
    group.throughput(Throughput::Elements(N));
    group.sample_size(10);
    let producer = backflow::sched::single();
    group.bench_function("backflow_into_stream", |b| {
        b.iter(|| {
            let stream = backflow::range(0..black_box(N))
                .subscribe_on(producer.clone())
                .into_stream_with(CAPACITY);
            futures::executor::block_on(stream.fold(0u64, |acc, x| async move { acc + x.unwrap() }))
        })
    });
    group.bench_function("futures_mpsc_stream", |b| {
        b.iter(|| {
            let (mut tx, rx) = futures::channel::mpsc::channel::<u64>(CAPACITY);
            let n = black_box(N);
            let sender = std::thread::spawn(move || {
                futures::executor::block_on(async {
                    for i in 0..n {
                        tx.send(i).await.unwrap();
                    }
                })
            });
            let sum = futures::executor::block_on(rx.fold(0u64, |acc, x| async move { acc + x }));
            sender.join().unwrap();
            sum
        })
    });
    group.finish();
}

criterion_group!(benches, bridge);
criterion_main!(benches);
