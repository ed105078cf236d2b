//! Every stage's metrics, reported to the [`metrics`](https://docs.rs/metrics) facade too (feature
//! `metrics`).
//!
//! With the feature on, each [`StageMetrics`](crate::metrics::StageMetrics) also reports what it
//! records to the recorder installed in the `metrics` facade, under the names and labels of the
//! built-in Prometheus text ([`Registry::prometheus`](crate::metrics::Registry::prometheus)), so an
//! application that already runs `metrics-exporter-prometheus` (or any other recorder) sees every
//! backflow stage with no code:
//!
//! | facade metric | kind | labels | from |
//! |---|---|---|---|
//! | `backflow_received_total` | counter | `stage` | `record_received` |
//! | `backflow_emitted_total` | counter | `stage` | `record_emitted` |
//! | `backflow_dropped_total` | counter | `stage`, `reason` | `record_dropped` |
//! | `backflow_rejected_total` | counter | `stage` | `record_rejected` |
//! | `backflow_throttled_total` | counter | `stage` | `record_throttled` |
//! | `backflow_requested_total` | counter (absolute, saturating) | `stage` | `record_requested` |
//! | `backflow_buffered` | gauge | `stage` | `set_buffered` |
//! | `backflow_capacity` | gauge | `stage` | the capacity given at creation |
//! | `backflow_paused` | gauge (0 or 1) | `stage` | `set_paused` |
//! | `backflow_queue_wait_seconds` | histogram | `stage` | `record_wait` |
//!
//! The `stage` label is the stage's name; `reason` is a [`DropReason`]'s
//! [`as_str`](DropReason::as_str). Metric handles are taken from the recorder installed when the
//! `StageMetrics` is created (the facade's rule for cached handles): install the recorder first,
//! at start-up, as usual. With no recorder installed every report is a no-op.
//!
//! Cost: the hot counters are recorded once per batch by the stages (a `publish_on` drain pass,
//! a run written into a ring), not per item, so a recorder's atomic add is paid per batch.
//!
//! ```
//! use backflow::metrics::{DropReason, StageMetrics};
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     let stage = StageMetrics::new("ingest", 64);
//!     stage.record_received(5);
//!     stage.record_dropped(DropReason::Overflow, 2);
//! });
//! let received = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .find(|(key, ..)| key.key().name() == "backflow_received_total")
//!     .map(|(.., value)| value);
//! assert_eq!(received, Some(DebugValue::Counter(5)));
//! ```

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::metrics::DropReason;
use crate::sync::{AtomicU64, Ordering};

/// The facade handles of one stage, taken once at its creation.
#[derive(Debug)]
pub(crate) struct Facade {
    received: Counter,
    emitted: Counter,
    dropped: [Counter; DropReason::ALL.len()],
    rejected: Counter,
    throttled: Counter,
    requested: Counter,
    /// The facade's `requested` total, saturating like the built-in one (reported as absolute).
    requested_total: AtomicU64,
    buffered: Gauge,
    paused: Gauge,
    wait: Histogram,
}

impl Facade {
    /// Registers a stage called `name` holding at most `capacity` items with the current recorder.
    pub(crate) fn new(name: &str, capacity: u64) -> Facade {
        describe();
        let stage = name.to_owned();
        let counter = |metric: &'static str| metrics::counter!(metric, "stage" => stage.clone());
        let dropped = DropReason::ALL.map(|reason| {
            metrics::counter!(
                "backflow_dropped_total",
                "stage" => stage.clone(),
                "reason" => reason.as_str()
            )
        });
        let facade = Facade {
            received: counter("backflow_received_total"),
            emitted: counter("backflow_emitted_total"),
            dropped,
            rejected: counter("backflow_rejected_total"),
            throttled: counter("backflow_throttled_total"),
            requested: counter("backflow_requested_total"),
            requested_total: AtomicU64::new(0),
            buffered: metrics::gauge!("backflow_buffered", "stage" => stage.clone()),
            paused: metrics::gauge!("backflow_paused", "stage" => stage.clone()),
            wait: metrics::histogram!("backflow_queue_wait_seconds", "stage" => stage.clone()),
        };
        metrics::gauge!("backflow_capacity", "stage" => stage).set(capacity as f64);
        facade.paused.set(0.0);
        facade.buffered.set(0.0);
        facade
    }

    #[inline]
    pub(crate) fn received(&self, n: u64) {
        self.received.increment(n);
    }

    #[inline]
    pub(crate) fn emitted(&self, n: u64) {
        self.emitted.increment(n);
    }

    #[inline]
    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        // `ALL` lists the reasons in declaration order.
        self.dropped[reason as usize].increment(n);
    }

    #[inline]
    pub(crate) fn rejected(&self, n: u64) {
        self.rejected.increment(n);
    }

    #[inline]
    pub(crate) fn throttled(&self, n: u64) {
        self.throttled.increment(n);
    }

    #[inline]
    pub(crate) fn requested(&self, n: u64) {
        let previous = self
            .requested_total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                Some(r.saturating_add(n))
            })
            .unwrap_or_else(|r| r);
        self.requested.absolute(previous.saturating_add(n));
    }

    #[inline]
    pub(crate) fn buffered(&self, n: u64) {
        self.buffered.set(n as f64);
    }

    #[inline]
    pub(crate) fn paused(&self, paused: bool) {
        self.paused.set(if paused { 1.0 } else { 0.0 });
    }

    #[inline]
    pub(crate) fn wait(&self, wait: Duration) {
        self.wait.record(wait.as_secs_f64());
    }
}

/// Describes every family to the current recorder (help text as in the built-in exposition).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "backflow_received_total",
        Unit::Count,
        "Items received from upstream."
    );
    describe_counter!(
        "backflow_emitted_total",
        Unit::Count,
        "Items delivered downstream."
    );
    describe_counter!(
        "backflow_dropped_total",
        Unit::Count,
        "Items discarded, by reason."
    );
    describe_counter!(
        "backflow_rejected_total",
        Unit::Count,
        "Offers refused and handed back."
    );
    describe_counter!(
        "backflow_throttled_total",
        Unit::Count,
        "Items delayed or refused by a rate limit."
    );
    describe_counter!(
        "backflow_requested_total",
        Unit::Count,
        "Demand requested upstream (saturating)."
    );
    describe_gauge!("backflow_buffered", Unit::Count, "Items held now.");
    describe_gauge!(
        "backflow_capacity",
        Unit::Count,
        "Most items the stage can hold."
    );
    describe_gauge!(
        "backflow_paused",
        "1 while the stage has stopped requesting."
    );
    describe_histogram!(
        "backflow_queue_wait_seconds",
        Unit::Seconds,
        "Sampled time items waited in the stage."
    );
}
