//! Adaptive concurrency limits: how many calls a service can take at once, discovered from the
//! latency and failures of the calls themselves (Netflix concurrency-limits, TCP congestion
//! control).
//!
//! A [`Limit`] is an algorithm fed one [`Sample`] per finished call — its round-trip time, how many
//! calls were in flight when it started, and whether it was dropped (timed out, rejected,
//! overloaded) — and answers the new limit. Three classic algorithms, with Netflix's formulas and
//! defaults:
//!
//! - [`Aimd`]: loss-based. +1 while the limit is in use, ×0.9 on a drop or a call slower than its
//!   timeout.
//! - [`Gradient2`]: latency-gradient. Compares a short-term RTT with a long-term average and shrinks
//!   when latency climbs past a tolerance.
//! - [`Vegas`]: delay-based. Estimates the queue from `limit × (1 − rtt_noload / rtt)` and keeps it
//!   between `alpha` and `beta`.
//!
//! [`Fixed`] never changes (the baseline), and [`Windowed`] averages samples into windows for
//! algorithms that want a low-noise RTT (Netflix's `WindowedLimit`).
//!
//! The defaults are Netflix's. Where those fail a service, named options depart from them, each
//! saying why in its docs: a smoothed no-load floor ([`Vegas::noload_smoothing`],
//! [`Gradient2::baseline_min`]), a probe that drains the queue it measures
//! ([`Vegas::drain_probe`]), growth only when calls reach the limit (`app_limited_ratio` on all
//! three), and one sample per round trip ([`Windowed::per_round_trip`]). The crate's
//! `tests/resilience_adaptive.rs` measures each against a simulated service with a thrashing
//! cliff.
//!
//! A [`Limiter`] applies a limit to real calls: [`Limiter::try_acquire`] hands out an RAII
//! [`Permit`] while fewer than `limit` calls are in flight (clones share one count, so a limit is
//! never multiplied), and the permit's outcome — [`Permit::success`], [`Permit::dropped`], or
//! dropping it unused (ignored) — becomes the next sample. On a stream,
//! [`Flux::concurrent_map`](crate::Flux::concurrent_map) asks upstream for `limit − in flight`
//! items, so demand follows the discovered capacity.
//!
//! ```
//! use std::time::Duration;
//! use backflow::resilience::limit::{Aimd, Limiter};
//! use backflow::sched::VirtualTime;
//!
//! let clock = VirtualTime::new();
//! let limiter = Limiter::with_clock(Aimd::new(2).min_limit(1), clock.clone());
//! let a = limiter.try_acquire().expect("1 of 2");
//! let b = limiter.try_acquire().expect("2 of 2");
//! assert!(limiter.try_acquire().is_err(), "the third call is refused at once");
//! clock.advance_by(Duration::from_millis(10));
//! a.success(); // a healthy, busy call: AIMD adds one
//! b.success();
//! assert_eq!(limiter.limit(), 4);
//! let c = limiter.try_acquire().unwrap();
//! c.dropped(); // overload: AIMD backs off by 10%
//! assert_eq!(limiter.limit(), 3);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{real_clock, Clock, Rejected};
use crate::metrics::PrimitiveMetrics;
use crate::sched::{Instant, Scheduler};

/// What one finished call tells a [`Limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The call's round-trip time: from its permit's acquisition to its outcome.
    pub rtt: Duration,
    /// Calls in flight when this one started, itself included.
    pub inflight: usize,
    /// Whether the call was dropped: timed out, rejected or failed from overload.
    pub dropped: bool,
}

/// An adaptive concurrency-limit algorithm.
///
/// It owns no clock and no counters: [`Limiter`] feeds it a [`Sample`] per finished call, one at a
/// time, and publishes what it answers.
pub trait Limit: Send + 'static {
    /// The current limit, at least 1.
    fn limit(&self) -> usize;

    /// Takes one sample into account and returns the new limit (at least 1).
    fn update(&mut self, sample: Sample) -> usize;

    /// A short name for metrics and logs (`"aimd"`, `"gradient2"`, `"vegas"`, ...).
    fn name(&self) -> &'static str;
}

impl Limit for Box<dyn Limit> {
    fn limit(&self) -> usize {
        (**self).limit()
    }
    fn update(&mut self, sample: Sample) -> usize {
        (**self).update(sample)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

fn clamp_limit(value: f64, min: usize, max: usize) -> f64 {
    value.max(min as f64).min(max as f64).max(1.0)
}

/// A limit that never changes: the baseline adaptive limits are compared with.
///
/// ```
/// use backflow::resilience::limit::{Fixed, Limit};
/// assert_eq!(Fixed::new(8).limit(), 8);
/// ```
#[derive(Clone, Debug)]
pub struct Fixed(usize);

impl Fixed {
    /// Always `limit` (at least 1).
    pub fn new(limit: usize) -> Fixed {
        Fixed(limit.max(1))
    }
}

impl Limit for Fixed {
    fn limit(&self) -> usize {
        self.0
    }
    fn update(&mut self, _sample: Sample) -> usize {
        self.0
    }
    fn name(&self) -> &'static str {
        "fixed"
    }
}

/// Additive increase, multiplicative decrease (Netflix `AIMDLimit`).
///
/// On a drop, or a call slower than [`timeout`](Aimd::timeout): `limit × backoff`. Otherwise, when
/// the limit is in use (`inflight × 2 ≥ limit`, see [`app_limited_ratio`](Aimd::app_limited_ratio)):
/// `limit + 1`. An idle limit does not grow.
/// Defaults as Netflix: initial 20, min 20, max 200, backoff 0.9, timeout 5 s.
///
/// The timeout is how AIMD hears latency: set it between the service's healthy and overloaded
/// round-trip times, or AIMD reacts only to explicit drops.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::limit::{Aimd, Limit, Sample};
/// let mut aimd = Aimd::new(10).min_limit(1);
/// let busy = Sample { rtt: Duration::from_millis(5), inflight: 10, dropped: false };
/// assert_eq!(aimd.update(busy), 11);
/// assert_eq!(aimd.update(Sample { dropped: true, ..busy }), 9); // 11 × 0.9, floored
/// ```
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    min: usize,
    max: usize,
    backoff: f64,
    timeout: Duration,
    app_limited_ratio: f64,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::new(20)
    }
}

impl Aimd {
    /// AIMD starting at `initial`, Netflix's other defaults.
    pub fn new(initial: usize) -> Aimd {
        Aimd {
            limit: initial.max(1) as f64,
            min: 20.min(initial.max(1)),
            max: 200.max(initial),
            backoff: 0.9,
            timeout: Duration::from_secs(5),
            app_limited_ratio: 0.5,
        }
    }

    /// The floor (default 20, or the initial limit if lower).
    pub fn min_limit(mut self, min: usize) -> Self {
        self.min = min.max(1);
        self
    }

    /// The ceiling (default 200).
    pub fn max_limit(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    /// The factor applied on a drop, in `(0, 1)` (default 0.9).
    ///
    /// # Panics
    ///
    /// If `ratio` is not in `(0, 1)`.
    pub fn backoff(mut self, ratio: f64) -> Self {
        assert!(
            ratio > 0.0 && ratio < 1.0,
            "Aimd::backoff: ratio must be in (0, 1)"
        );
        self.backoff = ratio;
        self
    }

    /// A call slower than this counts as a drop (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The share of the limit that must be in flight for the limit to grow, in `(0, 1]` (default
    /// 0.5, Netflix's rule). See [`Vegas::app_limited_ratio`] for why 1 suits a service that
    /// breaks under bursts: the limit then grows only when calls reach it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Aimd, Limit, Sample};
    /// let s = |inflight| Sample { rtt: Duration::from_millis(1), inflight, dropped: false };
    /// let mut aimd = Aimd::new(10).app_limited_ratio(1.0);
    /// assert_eq!(aimd.update(s(9)), 10);
    /// assert_eq!(aimd.update(s(10)), 11);
    /// ```
    ///
    /// # Panics
    ///
    /// If `ratio` is not in `(0, 1]`.
    pub fn app_limited_ratio(mut self, ratio: f64) -> Self {
        self.app_limited_ratio = checked_ratio("Aimd", ratio);
        self
    }
}

fn checked_ratio(algorithm: &str, ratio: f64) -> f64 {
    assert!(
        ratio > 0.0 && ratio <= 1.0,
        "{algorithm}::app_limited_ratio: ratio must be in (0, 1]"
    );
    ratio
}

impl Limit for Aimd {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        if s.dropped || s.rtt > self.timeout {
            self.limit = (self.limit * self.backoff).floor();
        } else if s.inflight as f64 >= self.app_limited_ratio * self.limit.floor() {
            self.limit += 1.0;
        }
        self.limit = clamp_limit(self.limit, self.min, self.max);
        self.limit()
    }

    fn name(&self) -> &'static str {
        "aimd"
    }
}

/// An exponential moving average with a plain-average warm-up (Netflix `ExpAvgMeasurement`).
#[derive(Clone, Debug)]
struct ExpAvg {
    value: f64,
    factor: f64,
    warmup: usize,
    count: usize,
    sum: f64,
}

impl ExpAvg {
    fn new(window: usize, warmup: usize) -> ExpAvg {
        ExpAvg {
            value: 0.0,
            factor: 2.0 / (window as f64 + 1.0),
            warmup,
            count: 0,
            sum: 0.0,
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / self.count as f64;
        } else {
            self.value = self.value * (1.0 - self.factor) + sample * self.factor;
        }
        self.value
    }
}

/// The lowest value an exponential average of the samples has taken: a minimum that one lucky
/// sample cannot drag down (Netflix's `SmoothingMinimumMeasurement` serves the same end).
///
/// With `smoothing` 1 it is the plain minimum of the samples. With a smaller factor the average
/// spans about `2 / smoothing` samples, so its noise — and with it how far below the true floor
/// the minimum of many noisy samples sinks — shrinks by about `sqrt(smoothing / 2)`.
#[derive(Clone, Debug)]
struct SmoothedMin {
    smoothing: f64,
    average: Option<f64>,
    min: Option<f64>,
}

impl SmoothedMin {
    fn new(smoothing: f64) -> SmoothedMin {
        SmoothedMin {
            smoothing,
            average: None,
            min: None,
        }
    }

    /// Takes `sample` into the average; true if the minimum fell (or was first set).
    fn add(&mut self, sample: f64) -> bool {
        let average = match self.average {
            Some(a) => a * (1.0 - self.smoothing) + sample * self.smoothing,
            None => sample,
        };
        self.average = Some(average);
        match self.min {
            Some(min) if min <= average => false,
            _ => {
                self.min = Some(average);
                true
            }
        }
    }

    /// Takes `sample` into the average and makes the average the minimum, however high: a
    /// re-probe of the floor.
    fn rebase(&mut self, sample: f64) {
        self.add(sample);
        self.min = self.average;
    }

    /// Starts over from `sample`: the average and the minimum both become it.
    fn restart(&mut self, sample: f64) {
        self.average = Some(sample);
        self.min = Some(sample);
    }

    /// Makes the current average the minimum, up or down: for samples known to carry no queue.
    fn follow(&mut self) {
        self.min = self.average;
    }

    fn get(&self) -> Option<f64> {
        self.min
    }
}

/// The latency-gradient limit (Netflix `Gradient2Limit`).
///
/// Per sample: `long` = an exponential average of the RTT over `long_window` samples, `short` =
/// this sample's RTT, `gradient = clamp(tolerance × long / short, 0.5, 1)`, and the limit moves
/// toward `limit × gradient + queue_size` by `smoothing`. It does not grow while the limit is not
/// in use (`inflight < limit / 2`, see [`app_limited_ratio`](Gradient2::app_limited_ratio)). When
/// `long` exceeds twice `short` (latency back to normal after a long overload) `long` decays by 5%
/// per sample instead of waiting for the average. [`baseline_min`](Gradient2::baseline_min)
/// replaces `long` by a floor that does not follow the limit up.
/// Defaults as Netflix: initial 20, min 20, max 200, smoothing 0.2, queue size 4, long window 600,
/// tolerance 1.5.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::limit::{Gradient2, Limit, Sample};
/// let mut g = Gradient2::new(20);
/// let ms = |m| Sample { rtt: Duration::from_millis(m), inflight: 20, dropped: false };
/// for _ in 0..20 { g.update(ms(10)); } // steady latency: grows by the queue allowance
/// assert!(g.limit() > 20);
/// let before = g.limit();
/// for _ in 0..5 { g.update(ms(40)); } // latency ×4: shrinks
/// assert!(g.limit() < before);
/// ```
#[derive(Clone, Debug)]
pub struct Gradient2 {
    limit: f64,
    min: usize,
    max: usize,
    smoothing: f64,
    queue_size: f64,
    tolerance: f64,
    long_rtt: ExpAvg,
    baseline: Option<SmoothedMin>,
    app_limited_ratio: f64,
}

impl Default for Gradient2 {
    fn default() -> Self {
        Gradient2::new(20)
    }
}

impl Gradient2 {
    /// Gradient2 starting at `initial`, Netflix's other defaults.
    pub fn new(initial: usize) -> Gradient2 {
        Gradient2 {
            limit: initial.max(1) as f64,
            min: 20.min(initial.max(1)),
            max: 200.max(initial),
            smoothing: 0.2,
            queue_size: 4.0,
            tolerance: 1.5,
            long_rtt: ExpAvg::new(600, 10),
            baseline: None,
            app_limited_ratio: 0.5,
        }
    }

    /// The floor (default 20, or the initial limit if lower).
    pub fn min_limit(mut self, min: usize) -> Self {
        self.min = min.max(1);
        self
    }

    /// The ceiling (default 200).
    pub fn max_limit(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    /// How far each sample moves the limit toward its target, in `(0, 1]` (default 0.2).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing.clamp(f64::MIN_POSITIVE, 1.0);
        self
    }

    /// The queue allowance added to `limit × gradient` (default 4).
    pub fn queue_size(mut self, queue: usize) -> Self {
        self.queue_size = queue as f64;
        self
    }

    /// How much the short RTT may exceed the long one before the limit shrinks (default 1.5).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance.max(1.0);
        self
    }

    /// The long-term average's window, in samples (default 600).
    pub fn long_window(mut self, samples: usize) -> Self {
        self.long_rtt = ExpAvg::new(samples.max(1), 10);
        self
    }

    /// Compares the short RTT with a floor instead of the long-term average: the lowest value of an
    /// exponential average of the samples with this factor, in `(0, 1]`, which follows the
    /// average up or down only while the limit is not in use (`inflight < limit / 2`: those calls
    /// met no queue). Default: off, Netflix's 600-sample average.
    ///
    /// Why: under sustained overload the long-term average is fed by the queued calls the limit
    /// admits, so it follows the limit up — each step up raises the RTT, the average catches up,
    /// and the gradient reads 1 again — until the service breaks and the limit halves: a sawtooth
    /// into the breaking point instead of a setting. A floor does not move with the queue, so the
    /// limit settles where the short RTT is `tolerance` times the floor (about
    /// `tolerance × capacity + queue_size` calls on a service whose latency grows with its queue).
    /// The factor keeps one lucky sample from setting the floor, as
    /// [`Vegas::noload_smoothing`] does.
    ///
    /// Pick the [`tolerance`](Self::tolerance) with it: the latency increase the service may take
    /// before it is in trouble. Netflix's 1.5 tolerates a 50% slower service; a service that
    /// fails at 1.5× its no-load latency needs less.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Gradient2, Limit, Sample};
    /// let ms = |m, inflight| Sample { rtt: Duration::from_millis(m), inflight, dropped: false };
    /// let mut g = Gradient2::new(50).baseline_min(1.0).tolerance(1.1).smoothing(1.0);
    /// g.update(ms(10, 50)); // the floor: 10 ms
    /// for _ in 0..100 { g.update(ms(15, 50)); } // a standing 50% slowdown never becomes the norm
    /// assert_eq!(g.limit(), 20); // 1.1 × 10 / 15 < 1: shrinks to the floor of 20
    /// ```
    ///
    /// # Panics
    ///
    /// If `factor` is not in `(0, 1]`.
    pub fn baseline_min(mut self, factor: f64) -> Self {
        assert!(
            factor > 0.0 && factor <= 1.0,
            "Gradient2::baseline_min: factor must be in (0, 1]"
        );
        self.baseline = Some(SmoothedMin::new(factor));
        self
    }

    /// The share of the limit that must be in flight for the limit to move, in `(0, 1]` (default
    /// 0.5, Netflix's "no growth while `inflight < limit / 2`"). See [`Vegas::app_limited_ratio`]
    /// for why 1 suits a service that breaks under bursts. The [`baseline_min`](Self::baseline_min)
    /// floor follows the RTT below half the limit whatever the ratio: those calls met no queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Gradient2, Limit, Sample};
    /// let s = |inflight| Sample { rtt: Duration::from_millis(10), inflight, dropped: false };
    /// let mut g = Gradient2::new(40).app_limited_ratio(1.0);
    /// for _ in 0..10 { assert_eq!(g.update(s(30)), 40); } // 30 of 40 in flight: holds
    /// for _ in 0..5 { g.update(s(g.limit())); } // at the limit: grows
    /// assert!(g.limit() > 40);
    /// ```
    ///
    /// # Panics
    ///
    /// If `ratio` is not in `(0, 1]`.
    pub fn app_limited_ratio(mut self, ratio: f64) -> Self {
        self.app_limited_ratio = checked_ratio("Gradient2", ratio);
        self
    }
}

impl Limit for Gradient2 {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        let short = s.rtt.as_secs_f64().max(1e-9);
        let unqueued = (s.inflight as f64) < self.limit / 2.0;
        // Against the published (whole) limit at most: with ratio 1 a limit of 20.8 admits 20.
        let app_limited =
            (s.inflight as f64) < (self.app_limited_ratio * self.limit).min(self.limit.floor());
        let long = match &mut self.baseline {
            Some(floor) => {
                floor.add(short);
                if unqueued {
                    floor.follow();
                }
                floor.get().expect("set by the first sample")
            }
            None => {
                let long = self.long_rtt.add(short);
                if long / short > 2.0 {
                    self.long_rtt.value *= 0.95;
                }
                long
            }
        };
        if app_limited {
            return self.limit();
        }
        let gradient = (self.tolerance * long / short).clamp(0.5, 1.0);
        let target = self.limit * gradient + self.queue_size;
        let next = self.limit * (1.0 - self.smoothing) + target * self.smoothing;
        self.limit = clamp_limit(next, self.min, self.max);
        self.limit()
    }

    fn name(&self) -> &'static str {
        "gradient2"
    }
}

/// `max(1, floor(log10(n)))`: Netflix's `Log10RootFunction`, Vegas's unit of change.
fn log10_step(n: usize) -> usize {
    ((n.max(1) as f64).log10() as usize).max(1)
}

/// A tiny deterministic PRNG (xorshift64*): jitter without a runtime dependency.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The delay-based limit (Netflix `VegasLimit`, after TCP Vegas).
///
/// `rtt_noload` is the lowest RTT seen (re-probed every `30 × limit × jitter` samples, jitter in
/// `[0.5, 1)`), the queue estimate is `ceil(limit × (1 − rtt_noload / rtt))`, and with
/// `l = max(1, floor(log10 limit))`: queue ≤ `l` → `+6l`; queue < `3l` (alpha) → `+l`; queue >
/// `6l` (beta) → `−l`; a drop → `−l`; otherwise unchanged. It does not grow while the limit is not in
/// use (`inflight × 2 < limit`; see [`app_limited_ratio`](Vegas::app_limited_ratio)). Defaults as
/// Netflix: initial 20, max 1000, smoothing 1.
///
/// The queue estimate is only as good as the RTT is steady: with noisy per-call latencies, wrap it
/// in [`Windowed`] so it sees window averages, and take the floor from a short average of them
/// ([`noload_smoothing`](Vegas::noload_smoothing)) so that the luckiest window does not set it.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::limit::{Limit, Sample, Vegas};
/// let mut v = Vegas::new(20);
/// let ms = |m| Sample { rtt: Duration::from_millis(m), inflight: 20, dropped: false };
/// v.update(ms(10)); // the first sample sets rtt_noload
/// assert_eq!(v.update(ms(10)), 26); // no queue: + 6·log10
/// assert_eq!(v.update(ms(20)), 25); // half the time is queueing: − log10
/// ```
#[derive(Clone, Debug)]
pub struct Vegas {
    limit: f64,
    max: usize,
    smoothing: f64,
    noload: SmoothedMin,
    probe_multiplier: f64,
    probe_count: usize,
    probe_jitter: f64,
    drain_probe: bool,
    /// While a draining probe runs: the limit to return to.
    draining: Option<f64>,
    app_limited_ratio: f64,
    rng: Rng,
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas::new(20)
    }
}

impl Vegas {
    /// Vegas starting at `initial`, Netflix's other defaults.
    pub fn new(initial: usize) -> Vegas {
        let mut rng = Rng::new(0x5eed);
        let probe_jitter = 0.5 + rng.next_f64() / 2.0;
        Vegas {
            limit: initial.max(1) as f64,
            max: 1000.max(initial),
            smoothing: 1.0,
            noload: SmoothedMin::new(1.0),
            probe_multiplier: 30.0,
            probe_count: 0,
            probe_jitter,
            drain_probe: false,
            draining: None,
            app_limited_ratio: 0.5,
            rng,
        }
    }

    /// The ceiling (default 1000).
    pub fn max_limit(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    /// How far each sample moves the limit toward its target, in `(0, 1]` (default 1).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing.clamp(f64::MIN_POSITIVE, 1.0);
        self
    }

    /// Seeds the probe jitter, for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = Rng::new(seed);
        self.probe_jitter = 0.5 + self.rng.next_f64() / 2.0;
        self
    }

    /// Takes `rtt_noload` from the lowest value of an exponential average of the samples with this
    /// factor, in `(0, 1]`, instead of the lowest sample (default 1: the lowest sample, as Netflix).
    ///
    /// Why: the minimum of many noisy samples sits below the true no-load RTT by a few standard
    /// deviations of one sample, and Vegas reads that bias as a standing queue of `limit × bias`
    /// calls — enough, at a few percent, to hold the limit well under capacity until the next probe
    /// (every `30 × limit` samples: for [`Windowed`] samples, `30 × limit` windows). Averaging
    /// about `2 / factor` samples before taking the minimum shrinks the bias by about
    /// `sqrt(factor / 2)`; the price is that a real drop of the no-load RTT is seen over those
    /// samples rather than at once. Probes work as before, from the average.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Limit, Sample, Vegas};
    /// let ms = |m| Sample { rtt: Duration::from_millis(m), inflight: 50, dropped: false };
    /// let mut v = Vegas::new(50).noload_smoothing(0.25);
    /// v.update(ms(10));
    /// v.update(ms(6)); // one lucky sample moves the average, not the floor, most of the way
    /// let floor = v.rtt_noload().unwrap().as_secs_f64();
    /// assert!((floor - 0.009).abs() < 1e-9, "{floor}"); // 10 × 0.75 + 6 × 0.25
    /// ```
    ///
    /// # Panics
    ///
    /// If `factor` is not in `(0, 1]`.
    pub fn noload_smoothing(mut self, factor: f64) -> Self {
        assert!(
            factor > 0.0 && factor <= 1.0,
            "Vegas::noload_smoothing: factor must be in (0, 1]"
        );
        self.noload = SmoothedMin::new(factor);
        self
    }

    /// Probes the no-load RTT by draining (TCP BBR's ProbeRTT): at each probe the limit halves
    /// until a call that started under the halved limit finishes, its RTT becomes `rtt_noload`,
    /// and the limit returns to where it was. Default: off, Netflix's probe, which takes the next
    /// sample as the no-load RTT.
    ///
    /// Why: under sustained overload Vegas keeps `alpha`–`beta` calls queued, so the sample a
    /// Netflix probe takes is a queued one; Vegas then reads the standing queue as none, grows by
    /// it, and each probe ratchets the limit up by one queue's worth toward the point where the
    /// service breaks. Half the limit leaves a queue of up to half the limit drained. The price:
    /// one round trip at half the limit every `30 × limit` samples.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Limit, Sample, Vegas};
    /// let s = |m, inflight| Sample { rtt: Duration::from_millis(m), inflight, dropped: false };
    /// let mut v = Vegas::new(40).drain_probe(true);
    /// v.update(s(10, 40)); // the floor: 10 ms
    /// let mut probed = false;
    /// for _ in 0..2_000 {
    ///     v.update(s(12, 10)); // slower calls, few in flight: the limit holds
    ///     if v.limit() == 20 {
    ///         probed = true; // a probe halves the limit
    ///         break;
    ///     }
    /// }
    /// assert!(probed);
    /// v.update(s(30, 40)); // started before the probe: not the floor
    /// assert_eq!(v.limit(), 20);
    /// v.update(s(11, 20)); // started under the halved limit: the new floor
    /// let floor = v.rtt_noload().unwrap().as_secs_f64();
    /// assert!((floor - 0.011).abs() < 1e-9, "{floor}");
    /// assert_eq!(v.limit(), 40, "back to the limit before the probe");
    /// ```
    pub fn drain_probe(mut self, drain: bool) -> Self {
        self.drain_probe = drain;
        self
    }

    /// The share of the limit that must be in flight for the limit to grow, in `(0, 1]`: below
    /// `ratio × limit` calls in flight the caller, not the service, is the bottleneck (default
    /// 0.5, Netflix's rule; drops still shrink the limit).
    ///
    /// Why change it: Vegas grows while it sees no queue, and a service that is busy but not
    /// saturated shows none, so with 0.5 the limit climbs to twice the calls really in flight —
    /// past the point where a burst breaks the service, which the limit then no longer guards.
    /// With 1 (TCP's rule for a congestion window, RFC 7661) it grows only when calls actually
    /// reach it, so it stays near the highest concurrency seen.
    ///
    /// ```
    /// use std::time::Duration;
    /// use backflow::resilience::limit::{Limit, Sample, Vegas};
    /// let s = |inflight| Sample { rtt: Duration::from_millis(10), inflight, dropped: false };
    /// let mut v = Vegas::new(40).app_limited_ratio(1.0);
    /// v.update(s(40));
    /// assert_eq!(v.update(s(30)), 40, "30 of 40 in flight: no growth");
    /// assert_eq!(v.update(s(40)), 46, "at the limit: grows");
    /// ```
    ///
    /// # Panics
    ///
    /// If `ratio` is not in `(0, 1]`.
    pub fn app_limited_ratio(mut self, ratio: f64) -> Self {
        self.app_limited_ratio = checked_ratio("Vegas", ratio);
        self
    }

    /// The current estimate of the no-load RTT (`None` before the first sample).
    pub fn rtt_noload(&self) -> Option<Duration> {
        self.noload.get().map(Duration::from_secs_f64)
    }

    fn should_probe(&self) -> bool {
        self.probe_count as f64 > self.probe_jitter * self.probe_multiplier * self.limit
    }
}

impl Limit for Vegas {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        let rtt = s.rtt.max(Duration::from_nanos(1));
        if let Some(before) = self.draining {
            // A call started before the drain says nothing about the unqueued RTT.
            if s.inflight as f64 > self.limit {
                return self.limit();
            }
            self.noload.restart(rtt.as_secs_f64());
            self.limit = before;
            self.draining = None;
            return self.limit();
        }
        self.probe_count += 1;
        if self.should_probe() {
            self.probe_jitter = 0.5 + self.rng.next_f64() / 2.0;
            self.probe_count = 0;
            if self.drain_probe {
                self.draining = Some(self.limit);
                self.limit = (self.limit / 2.0).floor().max(1.0);
            } else {
                self.noload.rebase(rtt.as_secs_f64());
            }
            return self.limit();
        }
        // A new minimum sets rtt_noload and moves nothing else (as Netflix).
        if self.noload.add(rtt.as_secs_f64()) {
            return self.limit();
        }
        let noload = self.noload.get().expect("set by the first sample");
        let limit = self.limit as usize;
        // A sample under a smoothed floor reads as no queue (the cast saturates at 0).
        let queue = (self.limit * (1.0 - noload / rtt.as_secs_f64())).ceil() as usize;
        let l = log10_step(limit);
        let target = if s.dropped {
            self.limit - l as f64
        } else if (s.inflight as f64) < self.app_limited_ratio * limit as f64 {
            return self.limit();
        } else if queue <= l {
            self.limit + 6.0 * l as f64
        } else if queue < 3 * l {
            self.limit + l as f64
        } else if queue > 6 * l {
            self.limit - l as f64
        } else {
            return self.limit();
        };
        let target = target.max(1.0).min(self.max as f64);
        self.limit = ((1.0 - self.smoothing) * self.limit + self.smoothing * target).max(1.0);
        self.limit()
    }

    fn name(&self) -> &'static str {
        "vegas"
    }
}

/// Averages samples into windows before its inner limit sees them (Netflix `WindowedLimit` with an
/// average window).
///
/// A window closes after `size` samples; the inner limit then gets one sample: the mean RTT, the
/// largest in-flight count, and `dropped` if any call was dropped. Delay-based limits ([`Vegas`],
/// [`Gradient2`]) need this when single calls' latencies vary much more than queueing moves them.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::limit::{Limit, Sample, Vegas, Windowed};
/// let mut v = Windowed::new(Vegas::new(20), 4);
/// let s = Sample { rtt: Duration::from_millis(10), inflight: 20, dropped: false };
/// for _ in 0..3 { assert_eq!(v.update(s), 20); } // the window is still open
/// v.update(s); // closes: the inner limit sees one averaged sample
/// ```
#[derive(Clone, Debug)]
pub struct Windowed<L> {
    inner: L,
    size: usize,
    count: usize,
    rtt_sum: Duration,
    max_inflight: usize,
    dropped: bool,
    per_round_trip: bool,
}

impl<L: Limit> Windowed<L> {
    /// Feeds `inner` the average of every `size` samples (at least 1).
    pub fn new(inner: L, size: usize) -> Windowed<L> {
        Windowed {
            inner,
            size: size.max(1),
            count: 0,
            rtt_sum: Duration::ZERO,
            max_inflight: 0,
            dropped: false,
            per_round_trip: false,
        }
    }

    /// Closes a window after `limit` samples (one round trip of the limit, as TCP Vegas measures),
    /// and never fewer than the `size` given to [`new`](Self::new).
    pub fn per_round_trip(mut self) -> Self {
        self.per_round_trip = true;
        self
    }

    /// The wrapped limit.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

impl<L: Limit> Limit for Windowed<L> {
    fn limit(&self) -> usize {
        self.inner.limit()
    }

    fn update(&mut self, s: Sample) -> usize {
        self.count += 1;
        self.rtt_sum = self.rtt_sum.saturating_add(s.rtt);
        self.max_inflight = self.max_inflight.max(s.inflight);
        self.dropped |= s.dropped;
        let size = if self.per_round_trip {
            self.inner.limit().max(self.size)
        } else {
            self.size
        };
        if self.count < size {
            return self.inner.limit();
        }
        let window = Sample {
            rtt: self.rtt_sum / self.count as u32,
            inflight: self.max_inflight,
            dropped: self.dropped,
        };
        self.count = 0;
        self.rtt_sum = Duration::ZERO;
        self.max_inflight = 0;
        self.dropped = false;
        self.inner.update(window)
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

struct Shared {
    /// Calls holding a permit, in `0..=limit` except just after the limit shrinks. Acquire is a CAS
    /// against `limit`; release is a plain decrement. Both Relaxed: the count orders nothing else.
    inflight: AtomicUsize,
    /// The published limit, written under `algorithm`'s lock, read lock-free by `try_acquire`.
    limit: AtomicUsize,
    algorithm: Mutex<Box<dyn Limit>>,
    name: &'static str,
    clock: Clock,
    /// `clock` is the default real clock: calls are timed with
    /// [`fast_now`](crate::sched::fast_now) (the calibrated time-stamp counter where the kernel
    /// keeps time with it), not through the scheduler's dynamic `now`, two readings a call.
    real: bool,
    metrics: Option<Arc<PrimitiveMetrics>>,
    admitted: AtomicU64,
    rejected: AtomicU64,
    succeeded: AtomicU64,
    dropped: AtomicU64,
    ignored: AtomicU64,
}

impl Shared {
    #[inline]
    fn now(&self) -> Instant {
        if self.real {
            crate::sched::fast_now()
        } else {
            self.clock.now()
        }
    }
}

/// Applies a [`Limit`] to calls: at most `limit` in flight, each one's outcome a sample.
///
/// Clones share one in-flight count and one algorithm: a limit is per service, not per handle.
/// `try_acquire` is one load and one CAS on the common path; the algorithm runs under a lock only
/// when a permit is released.
///
/// ```
/// use backflow::resilience::limit::{Fixed, Limiter};
/// let limiter = Limiter::new(Fixed::new(1));
/// let other_handle = limiter.clone();
/// let permit = limiter.try_acquire().unwrap();
/// let refused = other_handle.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_after, None); // a concurrency limit cannot know when a call ends
/// drop(permit); // unused: ignored, the slot frees
/// assert!(other_handle.try_acquire().is_ok());
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("algorithm", &self.shared.name)
            .field("limit", &self.limit())
            .field("inflight", &self.inflight())
            .finish()
    }
}

impl Limiter {
    /// A limiter over `limit`, timing calls on the real clock.
    pub fn new(limit: impl Limit) -> Limiter {
        Limiter::builder(limit).build()
    }

    /// A limiter timing calls on `scheduler`'s clock ([`VirtualTime`](crate::sched::VirtualTime)
    /// in tests): `Limiter::builder(limit).scheduler(scheduler).build()`.
    pub fn with_clock<S: Scheduler + 'static>(limit: impl Limit, scheduler: S) -> Limiter {
        Limiter::builder(limit).scheduler(scheduler).build()
    }

    /// A limiter over `limit` with options: its clock, its metrics.
    ///
    /// ```
    /// use backflow::metrics::Registry;
    /// use backflow::resilience::limit::{Vegas, Limiter};
    ///
    /// let registry = Registry::new();
    /// let limiter = Limiter::builder(Vegas::new(20))
    ///     .metrics(registry.primitive("inventory", "adaptive_limit"))
    ///     .build();
    /// let permit = limiter.try_acquire().unwrap();
    /// assert!(registry.prometheus().contains(r#"backflow_limit{primitive="inventory",kind="adaptive_limit"} 20"#));
    /// permit.success();
    /// ```
    pub fn builder(limit: impl Limit) -> LimiterBuilder {
        LimiterBuilder {
            limit: Box::new(limit),
            clock: None,
            metrics: None,
        }
    }

    fn from_builder(b: LimiterBuilder) -> Limiter {
        let name = b.limit.name();
        let current = b.limit.limit().max(1);
        if let Some(m) = &b.metrics {
            m.set_limit(current as u64);
        }
        Limiter {
            shared: Arc::new(Shared {
                inflight: AtomicUsize::new(0),
                limit: AtomicUsize::new(current),
                algorithm: Mutex::new(b.limit),
                name,
                real: b.clock.is_none(),
                clock: b.clock.unwrap_or_else(real_clock),
                metrics: b.metrics,
                admitted: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                succeeded: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                ignored: AtomicU64::new(0),
            }),
        }
    }

    /// A permit if fewer than `limit` calls are in flight; otherwise a [`Rejected`] at once (never
    /// a queue), with no `retry_after`: when a slot frees depends on calls in flight.
    /// [`Rejected::to_error`] makes it an [`ErrorKind::Rejected`](crate::ErrorKind) error.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let s = &self.shared;
        let mut inflight = s.inflight.load(Ordering::Relaxed);
        loop {
            if inflight >= s.limit.load(Ordering::Relaxed) {
                s.rejected.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = &s.metrics {
                    m.record_rejected(1);
                }
                return Err(Rejected::new((), None));
            }
            match s.inflight.compare_exchange_weak(
                inflight,
                inflight + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => inflight = actual,
            }
        }
        self.admitted(inflight + 1);
        Ok(Permit {
            limiter: Some(self.clone()),
            start: s.now(),
            inflight: inflight + 1,
        })
    }

    fn admitted(&self, inflight: usize) {
        let s = &self.shared;
        s.admitted.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &s.metrics {
            m.record_admitted(1);
            m.set_in_flight(inflight as u64);
        }
    }

    /// A permit even at the limit: a stream with nothing in flight may always run one call, so
    /// it cannot starve while other streams hold every permit.
    pub(crate) fn acquire_over_limit(&self) -> Permit {
        let s = &self.shared;
        let inflight = s.inflight.fetch_add(1, Ordering::Relaxed) + 1;
        self.admitted(inflight);
        Permit {
            limiter: Some(self.clone()),
            start: s.now(),
            inflight,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.shared.limit.load(Ordering::Relaxed)
    }

    /// Calls holding a permit now.
    pub fn inflight(&self) -> usize {
        self.shared.inflight.load(Ordering::Relaxed)
    }

    /// Free slots now: `limit − inflight` (0 when over the limit after it shrank).
    pub fn available(&self) -> usize {
        self.limit().saturating_sub(self.inflight())
    }

    /// The counters and gauges of this limiter.
    pub fn stats(&self) -> LimiterStats {
        let s = &self.shared;
        LimiterStats {
            algorithm: s.name,
            limit: self.limit(),
            inflight: self.inflight(),
            admitted: s.admitted.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            succeeded: s.succeeded.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            ignored: s.ignored.load(Ordering::Relaxed),
        }
    }

    /// Whether two handles share one limit.
    pub fn same(&self, other: &Limiter) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    fn release(&self, outcome: Outcome, start: Instant, inflight: usize) {
        let s = &self.shared;
        let left = s.inflight.fetch_sub(1, Ordering::Relaxed) - 1;
        if let Some(m) = &s.metrics {
            m.set_in_flight(left as u64);
        }
        let dropped = match outcome {
            Outcome::Ignored => {
                s.ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Success => {
                s.succeeded.fetch_add(1, Ordering::Relaxed);
                false
            }
            Outcome::Dropped => {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
        };
        let rtt = s.now() - start;
        let mut algorithm = s.algorithm.lock();
        let next = algorithm
            .update(Sample {
                rtt,
                inflight,
                dropped,
            })
            .max(1);
        s.limit.store(next, Ordering::Relaxed);
        if let Some(m) = &s.metrics {
            m.set_limit(next as u64);
        }
    }
}

/// Options of a [`Limiter`], from [`Limiter::builder`].
pub struct LimiterBuilder {
    limit: Box<dyn Limit>,
    clock: Option<Clock>,
    metrics: Option<Arc<PrimitiveMetrics>>,
}

impl fmt::Debug for LimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterBuilder")
            .field("algorithm", &self.limit.name())
            .finish_non_exhaustive()
    }
}

impl LimiterBuilder {
    /// Times calls on `scheduler`'s clock (default: the real clock).
    pub fn scheduler<S: Scheduler + 'static>(mut self, scheduler: S) -> Self {
        self.clock = Some(Arc::new(scheduler));
        self
    }

    /// Reports admitted, rejected, the current limit and calls in flight to `metrics`.
    pub fn metrics(mut self, metrics: Arc<PrimitiveMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The limiter.
    pub fn build(self) -> Limiter {
        Limiter::from_builder(self)
    }
}

/// A snapshot of a [`Limiter`]'s counters (admitted, rejected, outcomes) and gauges (limit, in
/// flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimiterStats {
    /// The algorithm's name.
    pub algorithm: &'static str,
    /// The current limit.
    pub limit: usize,
    /// Calls in flight now.
    pub inflight: usize,
    /// Permits handed out.
    pub admitted: u64,
    /// Calls refused because the limit was reached.
    pub rejected: u64,
    /// Permits released with [`Permit::success`].
    pub succeeded: u64,
    /// Permits released with [`Permit::dropped`].
    pub dropped: u64,
    /// Permits dropped unused (or released with [`Permit::ignore`]).
    pub ignored: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Dropped,
    Ignored,
}

/// One call's slot under a [`Limiter`]: release it with its outcome.
///
/// Dropping it unused counts as [`ignore`](Permit::ignore): the slot frees and the algorithm learns
/// nothing (a call that failed for reasons that say nothing about load).
#[must_use = "a permit holds a slot until released"]
pub struct Permit {
    limiter: Option<Limiter>,
    start: Instant,
    inflight: usize,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("start", &self.start)
            .field("inflight", &self.inflight)
            .finish()
    }
}

impl Permit {
    /// The call succeeded: its RTT is a sample.
    pub fn success(mut self) {
        self.finish(Outcome::Success);
    }

    /// The call was dropped (timed out, rejected, failed from overload): the limit backs off.
    pub fn dropped(mut self) {
        self.finish(Outcome::Dropped);
    }

    /// The call ended for a reason that says nothing about load: free the slot, no sample.
    pub fn ignore(mut self) {
        self.finish(Outcome::Ignored);
    }

    /// When the call started, on the limiter's clock.
    pub fn started_at(&self) -> Instant {
        self.start
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release(outcome, self.start, self.inflight);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, inflight: usize) -> Sample {
        Sample {
            rtt: Duration::from_millis(ms),
            inflight,
            dropped: false,
        }
    }

    #[test]
    fn aimd_grows_only_when_used() {
        let mut aimd = Aimd::new(10).min_limit(1);
        assert_eq!(aimd.update(sample(1, 4)), 10, "idle: inflight·2 < limit");
        assert_eq!(aimd.update(sample(1, 5)), 11);
        assert_eq!(
            aimd.update(Sample {
                rtt: Duration::from_secs(6),
                ..sample(1, 11)
            }),
            9
        );
    }

    #[test]
    fn aimd_respects_bounds() {
        let mut aimd = Aimd::new(3).min_limit(2).max_limit(4);
        for _ in 0..10 {
            aimd.update(sample(1, 4));
        }
        assert_eq!(aimd.limit(), 4);
        for _ in 0..10 {
            aimd.update(Sample {
                dropped: true,
                ..sample(1, 4)
            });
        }
        assert_eq!(aimd.limit(), 2);
    }

    #[test]
    fn gradient2_holds_when_app_limited() {
        let mut g = Gradient2::new(40);
        for _ in 0..50 {
            assert_eq!(g.update(sample(10, 5)), 40);
        }
    }

    #[test]
    fn gradient2_halves_at_most() {
        let mut g = Gradient2::new(100).smoothing(1.0).min_limit(1);
        for _ in 0..20 {
            g.update(sample(10, 100));
        }
        let before = g.limit() as f64;
        let after = g.update(sample(10_000, 200)) as f64;
        assert!(after >= before * 0.5 + 4.0 - 1.0, "{before} -> {after}");
    }

    #[test]
    fn vegas_steps() {
        let mut v = Vegas::new(100);
        v.update(sample(10, 100));
        // no queue: + 6·log10(100) = +12
        assert_eq!(v.update(sample(10, 100)), 112);
        // queue = ceil(112 × (1 − 10/40)) = 84 > beta 12: − 2
        assert_eq!(v.update(sample(40, 112)), 110);
        // a drop: − log10
        assert_eq!(
            v.update(Sample {
                dropped: true,
                ..sample(10, 110)
            }),
            108
        );
        // app-limited: unchanged
        assert_eq!(v.update(sample(40, 10)), 108);
    }

    #[test]
    fn vegas_probes_rtt_noload() {
        let mut v = Vegas::new(10).seed(7);
        v.update(sample(5, 10));
        // the baseline moves up only through a probe, after at most 30 × limit samples
        let mut probed = false;
        for _ in 0..400 {
            v.update(sample(50, v.limit()));
            if v.rtt_noload() == Some(Duration::from_millis(50)) {
                probed = true;
                break;
            }
        }
        assert!(probed);
    }

    #[test]
    fn log10_steps() {
        assert_eq!(log10_step(0), 1);
        assert_eq!(log10_step(9), 1);
        assert_eq!(log10_step(99), 1);
        assert_eq!(log10_step(100), 2);
        assert_eq!(log10_step(999), 2);
    }

    #[test]
    fn windowed_averages() {
        let mut w = Windowed::new(
            Aimd::new(10)
                .min_limit(1)
                .timeout(Duration::from_millis(15)),
            2,
        );
        // one slow call in a window of two fast-enough ones averages under the timeout
        assert_eq!(w.update(sample(5, 10)), 10);
        assert_eq!(w.update(sample(20, 10)), 11);
        // any drop in the window is a drop
        w.update(sample(1, 11));
        assert_eq!(
            w.update(Sample {
                dropped: true,
                ..sample(1, 11)
            }),
            9
        );
    }

    #[test]
    fn permits_count_and_release() {
        let limiter = Limiter::new(Fixed::new(2));
        let a = limiter.try_acquire().unwrap();
        let b = limiter.clone().try_acquire().unwrap();
        assert_eq!(limiter.inflight(), 2);
        assert_eq!(limiter.available(), 0);
        assert!(limiter.try_acquire().is_err());
        a.success();
        b.dropped();
        let c = limiter.try_acquire().unwrap();
        drop(c);
        let stats = limiter.stats();
        assert_eq!(
            (
                stats.admitted,
                stats.rejected,
                stats.succeeded,
                stats.dropped,
                stats.ignored
            ),
            (3, 1, 1, 1, 1)
        );
        assert_eq!(stats.inflight, 0);
    }

    #[test]
    fn inflight_never_exceeds_limit_across_threads() {
        let limiter = Limiter::new(Fixed::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let limiter = limiter.clone();
                let peak = peak.clone();
                scope.spawn(move || {
                    for _ in 0..10_000 {
                        if let Ok(p) = limiter.try_acquire() {
                            peak.fetch_max(limiter.inflight(), Ordering::Relaxed);
                            p.success();
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 3);
        assert_eq!(limiter.inflight(), 0);
        let stats = limiter.stats();
        assert_eq!(stats.admitted, stats.succeeded);
        assert_eq!(stats.admitted + stats.rejected, 40_000);
    }
}
