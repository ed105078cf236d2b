//! Per-stage metrics: cheap counters, a snapshot API, and Prometheus text exposition.
//!
//! What the backpressure literature says to watch (../shared/seeds): how much each stage received
//! and emitted, what it dropped and why, what it rejected or throttled, how much demand it asked
//! for, how full its buffer is (utilisation = `buffered / capacity`), how long items waited in it,
//! and whether it is paused.
//!
//! Counters are relaxed atomics. The hot ones are *single-writer*: the upstream side of a stage
//! (`on_next` calls, serialised by rule 1.03) writes `received`, its drain loop writes `emitted`,
//! each with a plain load + store instead of a locked read-modify-write, and the two groups live on
//! separate cache lines so a producer and a consumer thread never contend. Rare events (drops,
//! rejections) use `fetch_add`.
//!
//! ```
//! use backflow::metrics::{DropReason, Registry};
//!
//! let registry = Registry::new();
//! let stage = registry.stage("ingest", 1024);
//! stage.record_received(3);
//! stage.record_emitted(2);
//! stage.record_dropped(DropReason::Evicted, 1);
//! let snap = stage.snapshot();
//! assert_eq!((snap.received, snap.emitted, snap.dropped.total()), (3, 2, 1));
//! assert!(registry.prometheus().contains(r#"backflow_dropped_total{stage="ingest",reason="evicted"} 1"#));
//! ```

use std::fmt::{self, Write as _};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};

/// Why a lossy stage discarded an item. Every discarded item reaches the stage's `on_drop`
/// callback with one of these, and is counted under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The buffer was full and the *incoming* item was refused (`drop_newest`, `Overflow::Error`).
    Overflow,
    /// The buffer was full and the *oldest held* item was evicted to make room (`drop_oldest`).
    Evicted,
    /// There was no downstream demand and the stage does not buffer (`drop()`).
    NoDemand,
    /// A newer item replaced it before it could be emitted (`sample`, `latest`).
    Overwritten,
    /// A rate limit refused it (`throttle_first`).
    Throttled,
    /// It was held when the stream was cancelled.
    Cancelled,
    /// A load shedder refused it: its priority class was below what the load admits (`shed`).
    Shed,
}

impl DropReason {
    /// Every reason, in a fixed order (the order of [`DropCounts`]).
    pub const ALL: [DropReason; 7] = [
        DropReason::Overflow,
        DropReason::Evicted,
        DropReason::NoDemand,
        DropReason::Overwritten,
        DropReason::Throttled,
        DropReason::Cancelled,
        DropReason::Shed,
    ];

    /// The lowercase label used in metrics output.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Overflow => "overflow",
            DropReason::Evicted => "evicted",
            DropReason::NoDemand => "no_demand",
            DropReason::Overwritten => "overwritten",
            DropReason::Throttled => "throttled",
            DropReason::Cancelled => "cancelled",
            DropReason::Shed => "shed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter with one writer at a time: increments are a relaxed load + store, not a locked RMW.
#[derive(Debug, Default)]
struct SoloCounter(AtomicU64);

impl SoloCounter {
    /// Adds `n`. Callers are serialised (one thread at a time, with happens-before between them).
    #[inline]
    fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters written by the upstream side of a stage (`on_next`, serialised by rule 1.03).
#[derive(Debug, Default)]
struct UpstreamSide {
    received: SoloCounter,
}

/// Counters written by the stage's drain loop (serialised by its drain gate).
#[derive(Debug, Default)]
struct DownstreamSide {
    emitted: SoloCounter,
    wait_sum_ns: SoloCounter,
    wait_count: SoloCounter,
    wait_max_ns: AtomicU64,
}

/// The live metrics of one stage. Share it as `Arc<StageMetrics>`; all methods take `&self`.
#[derive(Debug)]
pub struct StageMetrics {
    name: String,
    capacity: u64,
    upstream: CachePadded<UpstreamSide>,
    downstream: CachePadded<DownstreamSide>,
    /// Indexed by `DropReason::index`; drops can come from either side, so they use `fetch_add`.
    dropped: [AtomicU64; DropReason::ALL.len()],
    rejected: AtomicU64,
    throttled: AtomicU64,
    requested: AtomicU64,
    buffered: AtomicU64,
    paused: AtomicBool,
}

impl StageMetrics {
    /// Metrics for a stage called `name` holding at most `capacity` items (0 if it holds none).
    pub fn new(name: impl Into<String>, capacity: u64) -> Self {
        StageMetrics {
            name: name.into(),
            capacity,
            upstream: CachePadded::new(UpstreamSide::default()),
            downstream: CachePadded::new(DownstreamSide::default()),
            dropped: Default::default(),
            rejected: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            requested: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            paused: AtomicBool::new(false),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `n` items arrived from upstream. Single writer: the stage's `on_next` path.
    #[inline]
    pub fn record_received(&self, n: u64) {
        self.upstream.received.add(n);
    }

    /// `n` items went downstream. Single writer: the stage's drain loop.
    #[inline]
    pub fn record_emitted(&self, n: u64) {
        self.downstream.emitted.add(n);
    }

    /// `n` items were discarded for `reason`. Any thread.
    #[inline]
    pub fn record_dropped(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// `n` offers were refused and handed back to their owner (an emitter's `try_emit`, a breaker).
    #[inline]
    pub fn record_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` items were delayed or refused by a rate limit.
    #[inline]
    pub fn record_throttled(&self, n: u64) {
        self.throttled.fetch_add(n, Ordering::Relaxed);
    }

    /// The stage requested `n` more from upstream (saturating: unbounded stays at `u64::MAX`).
    #[inline]
    pub fn record_requested(&self, n: u64) {
        let _ = self
            .requested
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                Some(r.saturating_add(n))
            });
    }

    /// The number of items the stage holds now.
    #[inline]
    pub fn set_buffered(&self, n: u64) {
        self.buffered.store(n, Ordering::Relaxed);
    }

    /// Whether the stage has stopped requesting (a pause/resume watermark stage).
    #[inline]
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// An item waited `wait` in the stage's queue. Single writer: the drain loop. Stages sample
    /// this (time stamps cost more than a queue hop), so `count` is the number of samples.
    #[inline]
    pub fn record_wait(&self, wait: Duration) {
        let ns = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        let d = &self.downstream;
        d.wait_sum_ns.add(ns);
        d.wait_count.add(1);
        if ns > d.wait_max_ns.load(Ordering::Relaxed) {
            d.wait_max_ns.store(ns, Ordering::Relaxed);
        }
    }

    /// A consistent-enough copy of every counter (each is read once, relaxed).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut dropped = DropCounts::default();
        for reason in DropReason::ALL {
            dropped.0[reason.index()] = self.dropped[reason.index()].load(Ordering::Relaxed);
        }
        MetricsSnapshot {
            name: self.name.clone(),
            received: self.upstream.received.get(),
            emitted: self.downstream.emitted.get(),
            dropped,
            rejected: self.rejected.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            requested: self.requested.load(Ordering::Relaxed),
            buffered: self.buffered.load(Ordering::Relaxed),
            capacity: self.capacity,
            wait: WaitStats {
                sum: Duration::from_nanos(self.downstream.wait_sum_ns.get()),
                count: self.downstream.wait_count.get(),
                max: Duration::from_nanos(self.downstream.wait_max_ns.load(Ordering::Relaxed)),
            },
            paused: self.paused.load(Ordering::Relaxed),
        }
    }
}

/// Drop counts by [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::ALL.len()]);

impl DropCounts {
    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Queue wait time statistics (sampled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// Sum of the sampled waits.
    pub sum: Duration,
    /// Number of samples.
    pub count: u64,
    /// Longest sampled wait.
    pub max: Duration,
}

impl WaitStats {
    /// Mean sampled wait, if there are samples.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.sum / self.count.min(u32::MAX as u64) as u32)
    }
}

/// A copy of a stage's metrics at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// The stage's name.
    pub name: String,
    /// Items received from upstream.
    pub received: u64,
    /// Items delivered downstream.
    pub emitted: u64,
    /// Items discarded, by reason.
    pub dropped: DropCounts,
    /// Offers refused and handed back.
    pub rejected: u64,
    /// Items delayed or refused by a rate limit.
    pub throttled: u64,
    /// Total demand requested upstream (`u64::MAX` = unbounded).
    pub requested: u64,
    /// Items held now.
    pub buffered: u64,
    /// Most items the stage can hold.
    pub capacity: u64,
    /// Sampled queue wait.
    pub wait: WaitStats,
    /// Whether the stage is paused.
    pub paused: bool,
}

impl MetricsSnapshot {
    /// `buffered / capacity`, in `0.0..=1.0` (0 for stages that hold nothing).
    pub fn utilisation(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.buffered as f64 / self.capacity as f64
        }
    }
}

/// A set of named stages, for snapshots and Prometheus exposition. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    stages: Arc<Mutex<Vec<Arc<StageMetrics>>>>,
    /// Resilience primitives (issue 9): rate limiters, breakers, bulkheads, shedders, retries.
    primitives: Arc<Mutex<Vec<Arc<PrimitiveMetrics>>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates and registers the metrics of a stage.
    pub fn stage(&self, name: impl Into<String>, capacity: u64) -> Arc<StageMetrics> {
        let stage = Arc::new(StageMetrics::new(name, capacity));
        self.register(stage.clone());
        stage
    }

    /// Registers metrics created elsewhere.
    pub fn register(&self, stage: Arc<StageMetrics>) {
        self.stages.lock().push(stage);
    }

    /// Snapshots of every registered stage, in registration order.
    pub fn snapshot(&self) -> Vec<MetricsSnapshot> {
        self.stages.lock().iter().map(|s| s.snapshot()).collect()
    }

    /// The Prometheus text exposition format (version 0.0.4) of every stage.
    ///
    /// ```
    /// let registry = backflow::metrics::Registry::new();
    /// registry.stage("parse", 64).record_received(7);
    /// let text = registry.prometheus();
    /// assert!(text.contains("# TYPE backflow_received_total counter"));
    /// assert!(text.contains(r#"backflow_received_total{stage="parse"} 7"#));
    /// ```
    pub fn prometheus(&self) -> String {
        let snaps = self.snapshot();
        let mut out = String::new();
        let mut family =
            |name: &str,
             kind: &str,
             help: &str,
             value: &dyn Fn(&MetricsSnapshot, &mut String, &str)| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for s in &snaps {
                    value(s, &mut out, name);
                }
            };
        fn line(out: &mut String, name: &str, stage: &str, extra: &str, value: impl fmt::Display) {
            let _ = writeln!(out, "{name}{{stage=\"{}\"{extra}}} {value}", escape(stage));
        }
        family(
            "backflow_received_total",
            "counter",
            "Items received from upstream.",
            &|s, o, n| line(o, n, &s.name, "", s.received),
        );
        family(
            "backflow_emitted_total",
            "counter",
            "Items delivered downstream.",
            &|s, o, n| line(o, n, &s.name, "", s.emitted),
        );
        family(
            "backflow_dropped_total",
            "counter",
            "Items discarded, by reason.",
            &|s, o, n| {
                for reason in DropReason::ALL {
                    let extra = format!(",reason=\"{}\"", reason.as_str());
                    line(o, n, &s.name, &extra, s.dropped.get(reason));
                }
            },
        );
        family(
            "backflow_rejected_total",
            "counter",
            "Offers refused and handed back.",
            &|s, o, n| line(o, n, &s.name, "", s.rejected),
        );
        family(
            "backflow_throttled_total",
            "counter",
            "Items delayed or refused by a rate limit.",
            &|s, o, n| line(o, n, &s.name, "", s.throttled),
        );
        family(
            "backflow_requested_total",
            "counter",
            "Demand requested upstream (saturating).",
            &|s, o, n| line(o, n, &s.name, "", s.requested),
        );
        family(
            "backflow_buffered",
            "gauge",
            "Items held now.",
            &|s, o, n| line(o, n, &s.name, "", s.buffered),
        );
        family(
            "backflow_capacity",
            "gauge",
            "Most items the stage can hold.",
            &|s, o, n| line(o, n, &s.name, "", s.capacity),
        );
        family(
            "backflow_paused",
            "gauge",
            "1 while the stage has stopped requesting.",
            &|s, o, n| line(o, n, &s.name, "", s.paused as u8),
        );
        family(
            "backflow_queue_wait_seconds",
            "summary",
            "Sampled time items waited in the stage.",
            &|s, o, n| {
                line(
                    o,
                    &format!("{n}_sum"),
                    &s.name,
                    "",
                    s.wait.sum.as_secs_f64(),
                );
                line(o, &format!("{n}_count"), &s.name, "", s.wait.count);
            },
        );
        family(
            "backflow_queue_wait_max_seconds",
            "gauge",
            "Longest sampled wait.",
            &|s, o, n| line(o, n, &s.name, "", s.wait.max.as_secs_f64()),
        );
        self.write_primitives(&mut out);
        out
    }
}

// ---- resilience primitives (issue 9) ----

/// The live metrics of one resilience primitive (a rate limiter, circuit breaker, bulkhead, load
/// shedder, retry stage): what it admitted and rejected, its state, its current limit and how many
/// calls it has in flight. Share it as `Arc<PrimitiveMetrics>`; all methods take `&self` and are
/// relaxed atomics, exact under any number of writers.
///
/// ```
/// use backflow::metrics::Registry;
///
/// let registry = Registry::new();
/// let m = registry.primitive("inventory", "bulkhead");
/// m.record_admitted(3);
/// m.record_rejected(1);
/// m.set_limit(100);
/// m.set_in_flight(3);
/// let text = registry.prometheus();
/// assert!(text.contains(r#"backflow_admitted_total{primitive="inventory",kind="bulkhead"} 3"#));
/// assert!(text.contains(r#"backflow_primitive_rejected_total{primitive="inventory",kind="bulkhead"} 1"#));
/// assert!(text.contains(r#"backflow_limit{primitive="inventory",kind="bulkhead"} 100"#));
/// ```
#[derive(Debug)]
pub struct PrimitiveMetrics {
    name: String,
    kind: &'static str,
    admitted: AtomicU64,
    rejected: AtomicU64,
    /// A primitive-specific code (a breaker: 0 closed, 1 open, 2 half-open; others 0).
    state: AtomicU64,
    limit: AtomicU64,
    in_flight: AtomicU64,
}

impl PrimitiveMetrics {
    /// Metrics for a primitive called `name` of kind `kind` (`"rate_limiter"`, `"circuit_breaker"`,
    /// `"bulkhead"`, `"shed"`, `"retry"`, ...).
    pub fn new(name: impl Into<String>, kind: &'static str) -> Self {
        PrimitiveMetrics {
            name: name.into(),
            kind,
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            state: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// The primitive's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The primitive's kind.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// `n` calls or items were let through.
    #[inline]
    pub fn record_admitted(&self, n: u64) {
        self.admitted.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` calls or items were refused.
    #[inline]
    pub fn record_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }

    /// The primitive's state code now.
    #[inline]
    pub fn set_state(&self, state: u64) {
        self.state.store(state, Ordering::Relaxed);
    }

    /// The primitive's current limit (a rate's burst, a pool's size, an adaptive limit).
    #[inline]
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// How many calls hold a permit now.
    #[inline]
    pub fn set_in_flight(&self, in_flight: u64) {
        self.in_flight.store(in_flight, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> PrimitiveSnapshot {
        PrimitiveSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            admitted: self.admitted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            state: self.state.load(Ordering::Relaxed),
            limit: self.limit.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a resilience primitive's metrics at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimitiveSnapshot {
    /// The primitive's name.
    pub name: String,
    /// Its kind (`"rate_limiter"`, `"circuit_breaker"`, ...).
    pub kind: &'static str,
    /// Calls or items let through.
    pub admitted: u64,
    /// Calls or items refused.
    pub rejected: u64,
    /// The state code (a breaker: 0 closed, 1 open, 2 half-open).
    pub state: u64,
    /// The current limit.
    pub limit: u64,
    /// Calls holding a permit now.
    pub in_flight: u64,
}

impl PrimitiveSnapshot {
    /// `rejected / (admitted + rejected)`, the figure of the `HighRejectionRate` alert (0 if idle).
    pub fn rejection_rate(&self) -> f64 {
        let total = self.admitted + self.rejected;
        if total == 0 {
            0.0
        } else {
            self.rejected as f64 / total as f64
        }
    }
}

impl Registry {
    /// Creates and registers the metrics of a resilience primitive.
    pub fn primitive(&self, name: impl Into<String>, kind: &'static str) -> Arc<PrimitiveMetrics> {
        let m = Arc::new(PrimitiveMetrics::new(name, kind));
        self.register_primitive(m.clone());
        m
    }

    /// Registers primitive metrics created elsewhere.
    pub fn register_primitive(&self, metrics: Arc<PrimitiveMetrics>) {
        self.primitives.lock().push(metrics);
    }

    /// Snapshots of every registered primitive, in registration order.
    pub fn primitive_snapshot(&self) -> Vec<PrimitiveSnapshot> {
        self.primitives
            .lock()
            .iter()
            .map(|m| m.snapshot())
            .collect()
    }

    /// The primitives' families of the Prometheus text (nothing if none is registered).
    fn write_primitives(&self, out: &mut String) {
        let snaps = self.primitive_snapshot();
        if snaps.is_empty() {
            return;
        }
        let families: [(&str, &str, &str, fn(&PrimitiveSnapshot) -> u64); 5] = [
            (
                "backflow_admitted_total",
                "counter",
                "Calls or items a resilience primitive let through.",
                |s| s.admitted,
            ),
            (
                "backflow_primitive_rejected_total",
                "counter",
                "Calls or items a resilience primitive refused.",
                |s| s.rejected,
            ),
            (
                "backflow_primitive_state",
                "gauge",
                "State code (circuit breaker: 0 closed, 1 open, 2 half-open).",
                |s| s.state,
            ),
            (
                "backflow_limit",
                "gauge",
                "Current limit (burst, pool size, adaptive limit).",
                |s| s.limit,
            ),
            (
                "backflow_in_flight",
                "gauge",
                "Calls holding a permit now.",
                |s| s.in_flight,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in &snaps {
                let _ = writeln!(
                    out,
                    "{name}{{primitive=\"{}\",kind=\"{}\"}} {}",
                    escape(&s.name),
                    s.kind,
                    value(s)
                );
            }
        }
    }
}

/// Escapes a Prometheus label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_snapshot() {
        let m = StageMetrics::new("s", 8);
        m.record_received(5);
        m.record_emitted(3);
        m.record_dropped(DropReason::Overflow, 1);
        m.record_dropped(DropReason::Cancelled, 1);
        m.record_rejected(2);
        m.record_throttled(4);
        m.record_requested(10);
        m.record_requested(u64::MAX);
        m.set_buffered(2);
        m.set_paused(true);
        m.record_wait(Duration::from_micros(10));
        m.record_wait(Duration::from_micros(30));
        let s = m.snapshot();
        assert_eq!(s.received, 5);
        assert_eq!(s.emitted, 3);
        assert_eq!(s.dropped.get(DropReason::Overflow), 1);
        assert_eq!(s.dropped.total(), 2);
        assert_eq!((s.rejected, s.throttled, s.requested), (2, 4, u64::MAX));
        assert_eq!(s.utilisation(), 0.25);
        assert!(s.paused);
        assert_eq!(s.wait.count, 2);
        assert_eq!(s.wait.max, Duration::from_micros(30));
        assert_eq!(s.wait.mean(), Some(Duration::from_micros(20)));
    }

    #[test]
    fn prometheus_escapes_and_lists_every_reason() {
        let r = Registry::new();
        r.stage("a\"b", 0).record_dropped(DropReason::Throttled, 3);
        let text = r.prometheus();
        assert!(
            text.contains(r#"backflow_dropped_total{stage="a\"b",reason="throttled"} 3"#),
            "{text}"
        );
        for reason in DropReason::ALL {
            assert!(text.contains(&format!("reason=\"{reason}\"")));
        }
        assert!(text.contains("backflow_queue_wait_seconds_count{stage=\"a\\\"b\"} 0"));
    }

    #[test]
    fn single_writer_counters_are_exact_across_threads_with_handoff() {
        let m = Arc::new(StageMetrics::new("s", 0));
        for _ in 0..4 {
            let m2 = m.clone();
            // Each writer runs after the previous one (join = happens-before), as signals do.
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    m2.record_received(1);
                }
            })
            .join()
            .unwrap();
        }
        assert_eq!(m.snapshot().received, 4000);
    }
}
