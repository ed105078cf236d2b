//! Connector metrics: what a source fetched, acknowledged, reclaimed and dead-lettered, what a
//! sink wrote, reconnects and round-trip times, in the Prometheus text format.
//!
//! The generic stage families (`backflow_received_total`, `backflow_buffered`, ...) come from
//! backflow's own [`StageMetrics`], which each source and sink also feeds
//! ([`RedisMetrics::stage`]; register it in a [`backflow::metrics::Registry`]). The
//! connector-specific families below are rendered by [`RedisMetrics::prometheus`] and
//! [`prometheus`] in the same exposition format, so the two texts can be concatenated.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow::metrics::StageMetrics;

/// Live counters of one source or sink. Shared as `Arc<RedisMetrics>`; all methods take `&self`.
#[derive(Debug)]
pub struct RedisMetrics {
    role: &'static str,
    stream: String,
    group: String,
    consumer: String,
    stage: Arc<StageMetrics>,
    fetched: AtomicU64,
    acked: AtomicU64,
    pending: AtomicU64,
    reclaimed: AtomicU64,
    dead_lettered: AtomicU64,
    deleted: AtomicU64,
    reconnects: AtomicU64,
    written: AtomicU64,
    max_fetch: AtomicU64,
    rtt_sum_ns: AtomicU64,
    rtt_count: AtomicU64,
    rtt_max_ns: AtomicU64,
}

/// A copy of a [`RedisMetrics`] at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisSnapshot {
    /// Entries read from the stream (new, history and reclaimed).
    pub fetched: u64,
    /// Entries acknowledged with `XACK` (including dead-lettered and deleted ones).
    pub acked: u64,
    /// Entries this consumer holds un-acknowledged now (delivered or queued for `XACK`).
    pub pending: u64,
    /// Entries taken over from other (or earlier) consumers by `XAUTOCLAIM`.
    pub reclaimed: u64,
    /// Entries moved to the dead-letter stream (poison or malformed).
    pub dead_lettered: u64,
    /// Entries found deleted from the stream while pending, acknowledged as gone.
    pub deleted: u64,
    /// Connections re-established after a failure.
    pub reconnects: u64,
    /// Entries written by a sink (`XADD`).
    pub written: u64,
    /// The largest `COUNT` of any single fetch (a source never asks for more than its demand).
    pub max_fetch: u64,
    /// Number of fetch (source) or write (sink) round trips.
    pub round_trips: u64,
    /// Sum of their durations.
    pub round_trip_sum: Duration,
    /// The longest one.
    pub round_trip_max: Duration,
}

impl RedisMetrics {
    pub(crate) fn new(role: &'static str, stream: &str, group: &str, consumer: &str) -> Self {
        let name = if group.is_empty() {
            format!("redis-{role}:{stream}")
        } else {
            format!("redis-{role}:{stream}/{group}/{consumer}")
        };
        RedisMetrics {
            role,
            stream: stream.into(),
            group: group.into(),
            consumer: consumer.into(),
            stage: Arc::new(StageMetrics::new(name, 0)),
            fetched: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            written: AtomicU64::new(0),
            max_fetch: AtomicU64::new(0),
            rtt_sum_ns: AtomicU64::new(0),
            rtt_count: AtomicU64::new(0),
            rtt_max_ns: AtomicU64::new(0),
        }
    }

    /// backflow's generic stage metrics for this connector (received = fetched or accepted from
    /// upstream, emitted = delivered downstream or written, requested, buffered = held now).
    pub fn stage(&self) -> Arc<StageMetrics> {
        self.stage.clone()
    }

    pub(crate) fn stage_ref(&self) -> &StageMetrics {
        &self.stage
    }

    pub(crate) fn fetched(&self, n: u64, count_asked: u64) {
        self.fetched.fetch_add(n, Ordering::Relaxed);
        self.stage.record_received(n);
        self.max_fetch.fetch_max(count_asked, Ordering::Relaxed);
    }
    pub(crate) fn acked(&self, n: u64) {
        self.acked.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn set_pending(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
        self.stage.set_buffered(n);
    }
    pub(crate) fn reclaimed(&self, n: u64) {
        self.reclaimed.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn deleted(&self, n: u64) {
        self.deleted.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn round_trip(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.rtt_sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.rtt_count.fetch_add(1, Ordering::Relaxed);
        self.rtt_max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Every counter, each read once (relaxed).
    pub fn snapshot(&self) -> RedisSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisSnapshot {
            fetched: get(&self.fetched),
            acked: get(&self.acked),
            pending: get(&self.pending),
            reclaimed: get(&self.reclaimed),
            dead_lettered: get(&self.dead_lettered),
            deleted: get(&self.deleted),
            reconnects: get(&self.reconnects),
            written: get(&self.written),
            max_fetch: get(&self.max_fetch),
            round_trips: get(&self.rtt_count),
            round_trip_sum: Duration::from_nanos(get(&self.rtt_sum_ns)),
            round_trip_max: Duration::from_nanos(get(&self.rtt_max_ns)),
        }
    }

    /// This connector's families in the Prometheus text format (see [`prometheus`]).
    ///
    /// ```
    /// let text = backflow_redis::metrics::prometheus(&[]);
    /// assert!(text.contains("# TYPE backflow_redis_fetched_total counter"));
    /// ```
    pub fn prometheus(&self) -> String {
        prometheus(&[self])
    }

    fn labels(&self) -> String {
        let mut out = format!("role=\"{}\",stream=\"{}\"", self.role, escape(&self.stream));
        if !self.group.is_empty() {
            let _ = write!(
                out,
                ",group=\"{}\",consumer=\"{}\"",
                escape(&self.group),
                escape(&self.consumer)
            );
        }
        out
    }
}

/// The Prometheus text (exposition format 0.0.4) of several sources and sinks: one `# HELP` /
/// `# TYPE` header per family, one line per connector, labelled by role, stream, group and consumer.
pub fn prometheus(all: &[&RedisMetrics]) -> String {
    let snaps: Vec<(String, RedisSnapshot)> =
        all.iter().map(|m| (m.labels(), m.snapshot())).collect();
    let mut out = String::new();
    let families: [Family; 11] = [
        (
            "backflow_redis_fetched_total",
            "counter",
            "Entries read from the stream.",
            |s| s.fetched as f64,
        ),
        (
            "backflow_redis_acked_total",
            "counter",
            "Entries acknowledged with XACK.",
            |s| s.acked as f64,
        ),
        (
            "backflow_redis_pending",
            "gauge",
            "Entries held un-acknowledged by this consumer.",
            |s| s.pending as f64,
        ),
        (
            "backflow_redis_reclaimed_total",
            "counter",
            "Entries taken over with XAUTOCLAIM.",
            |s| s.reclaimed as f64,
        ),
        (
            "backflow_redis_dead_lettered_total",
            "counter",
            "Entries moved to the dead-letter stream.",
            |s| s.dead_lettered as f64,
        ),
        (
            "backflow_redis_deleted_total",
            "counter",
            "Pending entries found deleted from the stream.",
            |s| s.deleted as f64,
        ),
        (
            "backflow_redis_reconnects_total",
            "counter",
            "Connections re-established after a failure.",
            |s| s.reconnects as f64,
        ),
        (
            "backflow_redis_written_total",
            "counter",
            "Entries written with XADD.",
            |s| s.written as f64,
        ),
        (
            "backflow_redis_round_trip_seconds_sum",
            "counter",
            "Total time of fetch/write round trips.",
            |s| s.round_trip_sum.as_secs_f64(),
        ),
        (
            "backflow_redis_round_trip_seconds_count",
            "counter",
            "Number of fetch/write round trips.",
            |s| s.round_trips as f64,
        ),
        (
            "backflow_redis_round_trip_max_seconds",
            "gauge",
            "Longest fetch/write round trip.",
            |s| s.round_trip_max.as_secs_f64(),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, snap) in &snaps {
            let _ = writeln!(out, "{name}{{{labels}}} {}", value(snap));
        }
    }
    out
}

/// `(name, type, help, value)` of one metric family.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RedisSnapshot) -> f64,
);

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
    fn counters_reach_the_text_with_labels() {
        let m = RedisMetrics::new("source", "jobs", "g\"1", "w1");
        m.fetched(10, 10);
        m.acked(7);
        m.set_pending(3);
        m.reclaimed(2);
        m.dead_lettered(1);
        m.reconnect();
        m.round_trip(Duration::from_millis(2));
        let s = m.snapshot();
        assert_eq!((s.fetched, s.acked, s.pending, s.reclaimed), (10, 7, 3, 2));
        assert_eq!((s.dead_lettered, s.reconnects, s.round_trips), (1, 1, 1));
        let text = m.prometheus();
        let labels = r#"role="source",stream="jobs",group="g\"1",consumer="w1""#;
        assert!(
            text.contains(&format!("backflow_redis_fetched_total{{{labels}}} 10")),
            "{text}"
        );
        assert!(
            text.contains(&format!("backflow_redis_pending{{{labels}}} 3")),
            "{text}"
        );
        assert!(text.contains("# TYPE backflow_redis_dead_lettered_total counter"));
        assert_eq!(m.stage().snapshot().buffered, 3);
    }
}
