//! Feature `metrics`: every stage's metrics reach the `metrics` facade under the built-in names,
//! checked with `metrics-util`'s debugging recorder after real runs.

use std::collections::HashMap;
use std::sync::OnceLock;

use backflow::metrics::{DropReason, MetricsSnapshot, Registry, StageMetrics};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

/// The debugging recorder, installed once for this test binary (tests run on several threads and
/// take handles from the global recorder).
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder in this binary");
        snapshotter
    })
}

/// Reading the debugging recorder drains every histogram in it, so the tests of this binary take
/// turns: one test's snapshot must not swallow another's queue-wait samples.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the facade holds for `stage`: (kind, metric name, other labels) → value.
fn facade_values(stage: &str) -> Values {
    snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "stage" && l.value() == stage)
        })
        .map(|(key, _unit, _help, value)| {
            let extra = key
                .key()
                .labels()
                .filter(|l| l.key() != "stage")
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            ((key.kind(), key.key().name().to_string(), extra), value)
        })
        .collect()
}

fn counter(values: &Values, name: &str) -> u64 {
    counter_with(values, name, &[])
}

fn counter_with(values: &Values, name: &str, extra: &[&str]) -> u64 {
    let extra = extra.iter().map(|s| s.to_string()).collect();
    match values.get(&(MetricKind::Counter, name.to_string(), extra)) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

fn gauge(values: &Values, name: &str) -> f64 {
    match values.get(&(MetricKind::Gauge, name.to_string(), vec![])) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name}: {other:?}"),
    }
}

type Values = HashMap<(MetricKind, String, Vec<String>), DebugValue>;

/// The facade agrees with the built-in snapshot on every counter and gauge.
fn assert_same(snap: &MetricsSnapshot) {
    assert_same_in(&facade_values(&snap.name), snap);
}

fn assert_same_in(values: &Values, snap: &MetricsSnapshot) {
    assert_eq!(counter(values, "backflow_received_total"), snap.received);
    assert_eq!(counter(values, "backflow_emitted_total"), snap.emitted);
    assert_eq!(counter(values, "backflow_rejected_total"), snap.rejected);
    assert_eq!(counter(values, "backflow_throttled_total"), snap.throttled);
    assert_eq!(counter(values, "backflow_requested_total"), snap.requested);
    for reason in DropReason::ALL {
        let label = format!("reason={}", reason.as_str());
        assert_eq!(
            counter_with(values, "backflow_dropped_total", &[&label]),
            snap.dropped.get(reason),
            "{reason}"
        );
    }
    assert_eq!(gauge(values, "backflow_buffered"), snap.buffered as f64);
    assert_eq!(gauge(values, "backflow_capacity"), snap.capacity as f64);
    assert_eq!(
        gauge(values, "backflow_paused"),
        f64::from(u8::from(snap.paused))
    );
}

#[test]
fn a_thread_hop_reports_to_the_facade_what_it_counts() {
    let _turn = one_at_a_time();
    snapshotter();
    let registry = Registry::new();
    let hop = registry.stage("facade_hop", 64);
    let sum = backflow::range(0..100_000u64)
        .publish_on(backflow::sched::single())
        .prefetch(64)
        .metrics(hop.clone())
        .fold(0u64, |a, x| a + x)
        .unwrap();
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
    let snap = hop.snapshot();
    assert_eq!((snap.received, snap.emitted), (100_000, 100_000));
    // One snapshot: the debugging recorder drains histogram samples when it is read.
    let values = facade_values("facade_hop");
    assert_same_in(&values, &snap);
    // Queue waits are sampled: the histogram holds exactly the built-in samples.
    match values.get(&(
        MetricKind::Histogram,
        "backflow_queue_wait_seconds".to_string(),
        vec![],
    )) {
        Some(DebugValue::Histogram(samples)) => {
            assert_eq!(samples.len() as u64, snap.wait.count);
            let max = samples.iter().map(|s| s.into_inner()).fold(0.0, f64::max);
            assert!((max - snap.wait.max.as_secs_f64()).abs() < 1e-9);
        }
        None => assert_eq!(snap.wait.count, 0),
        other => panic!("queue wait: {other:?}"),
    }
    // And the built-in text uses the same names.
    let text = registry.prometheus();
    for name in [
        "backflow_received_total",
        "backflow_emitted_total",
        "backflow_dropped_total",
        "backflow_buffered",
        "backflow_capacity",
        "backflow_paused",
        // The built-in text renders the wait as a summary: `_sum` and `_count`.
        "backflow_queue_wait_seconds_sum",
    ] {
        assert!(
            text.contains(&format!("{name}{{stage=\"facade_hop\"")),
            "{name}"
        );
    }
}

#[test]
fn drops_rejections_and_gauges_reach_the_facade_by_reason() {
    let _turn = one_at_a_time();
    snapshotter();
    let lossy = std::sync::Arc::new(StageMetrics::new("facade_lossy", 4));
    // A slow consumer behind a 4-slot drop_newest: most items are refused as overflow.
    let seen = backflow::range(0..1_000u32)
        .drop_newest(4)
        .metrics(lossy.clone())
        .publish_on(backflow::sched::single())
        .prefetch(1)
        .map(|x| {
            std::thread::yield_now();
            x
        })
        .collect()
        .unwrap();
    let snap = lossy.snapshot();
    assert_eq!(snap.received, 1_000);
    assert_eq!(
        snap.emitted + snap.dropped.get(DropReason::Overflow),
        1_000,
        "every item emitted or dropped"
    );
    assert_eq!(seen.len() as u64, snap.emitted);
    assert_same(&snap);

    // Direct reports too: rejected, throttled, paused, buffered.
    let direct = StageMetrics::new("facade_direct", 10);
    direct.record_rejected(3);
    direct.record_throttled(2);
    direct.record_requested(7);
    direct.record_requested(u64::MAX);
    direct.set_buffered(9);
    direct.set_paused(true);
    let snap = direct.snapshot();
    assert_eq!(snap.requested, u64::MAX, "saturating");
    assert_same(&snap);
}
