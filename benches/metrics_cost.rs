//! Group `metrics_facade_cost`: what metrics cost on the `boundary` pipeline,
//! `range(0..10M).subscribe_on(producer).publish_on(consumer).prefetch(1024).fold(..)` (the pipeline of
//! `benches/boundary.rs`), with the `publish_on` stage's metrics
//!
//! - `metrics_off`: no `StageMetrics`;
//! - `builtin_on`: a `StageMetrics` (the built-in relaxed counters);
//! - `facade_on` (feature `metrics` only): the same, with a `metrics` recorder installed, so every
//!   report also goes through the facade to that recorder (`metrics-util`'s debugging recorder:
//!   atomic counters and gauges, like the Prometheus exporter's).
//!
//! Built without the feature the first two measure the crate as most users build it; with
//! `--features metrics` their ids get a `_feature` suffix (the facade hook is compiled in, and
//! reports to the no-op recorder). Target (issue 12): `facade_on` within 5% of `builtin_on`.
//! `cargo bench --bench metrics_cost` and `cargo bench --features metrics --bench metrics_cost`.

use std::hint::black_box;
use std::sync::Arc;

use backflow::metrics::StageMetrics;
use backflow::sched::Single;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITEMS: u64 = 10_000_000;
const CAPACITY: usize = 1024;

fn boundary(producer: &Single, consumer: &Single, metrics: Option<&Arc<StageMetrics>>) -> u64 {
    let stage = backflow::range(0..ITEMS)
        .subscribe_on(producer.clone())
        .publish_on(consumer.clone())
        .prefetch(CAPACITY);
    let sum = |a: u64, x: u64| a.wrapping_add(x);
    match metrics {
        Some(metrics) => stage.metrics(metrics.clone()).fold(0, sum),
        None => stage.fold(0, sum),
    }
    .expect("the pipeline failed")
}

fn id(name: &str) -> String {
    if cfg!(feature = "metrics") && name != "facade_on" {
        format!("{name}_feature")
    } else {
        name.to_string()
    }
}

fn metrics_facade_cost(c: &mut Criterion) {
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let producer = Single::with_name("bench-producer");
    let consumer = Single::with_name("bench-consumer");
    let mut group = c.benchmark_group("metrics_facade_cost");
    group.throughput(Throughput::Elements(ITEMS));

    assert_eq!(boundary(&producer, &consumer, None), expected);
    group.bench_function(id("metrics_off"), |b| {
        b.iter(|| black_box(boundary(&producer, &consumer, None)))
    });

    // Created before any recorder is installed: its facade handles are no-ops.
    let builtin = Arc::new(StageMetrics::new("publish_on", CAPACITY as u64));
    assert_eq!(boundary(&producer, &consumer, Some(&builtin)), expected);
    group.bench_function(id("builtin_on"), |b| {
        b.iter(|| black_box(boundary(&producer, &consumer, Some(&builtin))))
    });
    let snap = builtin.snapshot();
    assert_eq!(snap.received, snap.emitted);
    assert!(snap.emitted >= ITEMS && snap.emitted % ITEMS == 0);

    #[cfg(feature = "metrics")]
    {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("the only recorder");
        let facade = Arc::new(StageMetrics::new("publish_on_facade", CAPACITY as u64));
        assert_eq!(boundary(&producer, &consumer, Some(&facade)), expected);
        group.bench_function(id("facade_on"), |b| {
            b.iter(|| black_box(boundary(&producer, &consumer, Some(&facade))))
        });
        let emitted = facade.snapshot().emitted;
        let reported = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| {
                key.key().name() == "backflow_emitted_total"
                    && key.key().labels().any(|l| l.value() == "publish_on_facade")
            })
            .map(|(.., value)| value);
        assert_eq!(
            reported,
            Some(metrics_util::debugging::DebugValue::Counter(emitted)),
            "the facade saw every item"
        );
    }
    group.finish();
}

criterion_group!(benches, metrics_facade_cost);
criterion_main!(benches);
