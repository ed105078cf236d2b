//! Group `boundary`, onto tokio (feature `tokio`): 10M `u64` from a producer thread to a tokio
//! task, capacity 1024, summed on the tokio side.
//!
//! - `backflow_publish_on_tokio`: `range(0..N).subscribe_on(producer).publish_on(Tokio).prefetch(1024)`
//!   folded; the range runs on a dedicated `Single` thread, the drain passes (and the fold) on the
//!   runtime's worker.
//! - `tokio_mpsc`: `tokio::sync::mpsc::channel(1024)`, `blocking_send` from a plain producer thread,
//!   `recv().await` in a task spawned on the same runtime.
//!
//! Both use one multi-thread runtime with one worker, built once outside the timed loop. Run with
//! `cargo bench --features tokio --bench tokio_boundary`.

use std::hint::black_box;
use std::thread;

use backflow::sched::{Single, Tokio};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITEMS: u64 = 10_000_000;
const CAPACITY: usize = 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-tokio")
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn backflow_publish_on_tokio(producer: &Single, on: &Tokio) -> u64 {
    backflow::range(0..ITEMS)
        .subscribe_on(producer.clone())
        .publish_on(on.clone())
        .prefetch(CAPACITY)
        .fold(0, |a: u64, x: u64| a.wrapping_add(x))
        .expect("the pipeline failed")
}

fn tokio_mpsc(runtime: &tokio::runtime::Runtime) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let consumer = runtime.spawn(async move {
        let mut sum = 0u64;
        while let Some(x) = rx.recv().await {
            sum = sum.wrapping_add(x);
        }
        sum
    });
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..ITEMS {
                tx.blocking_send(i).unwrap();
            }
        });
    });
    runtime.block_on(consumer).expect("the consumer task")
}

fn boundary_tokio(c: &mut Criterion) {
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let runtime = runtime();
    let on = Tokio::new(runtime.handle().clone());
    let producer = Single::with_name("bench-producer");
    let mut group = c.benchmark_group("boundary");
    group.throughput(Throughput::Elements(ITEMS));
    assert_eq!(backflow_publish_on_tokio(&producer, &on), expected);
    group.bench_function("backflow_publish_on_tokio", |b| {
        b.iter(|| black_box(backflow_publish_on_tokio(&producer, &on)))
    });
    assert_eq!(tokio_mpsc(&runtime), expected, "tokio_mpsc lost items");
    group.bench_function("tokio_mpsc", |b| b.iter(|| black_box(tokio_mpsc(&runtime))));
    group.finish();
}

criterion_group!(benches, boundary_tokio);
criterion_main!(benches);
