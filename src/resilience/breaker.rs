//! A circuit breaker: stop calling a dependency that keeps failing, probe it, close again.
//!
//! # The state machine (resilience4j's)
//!
//! - **Closed**: every call is admitted; outcomes go into a sliding window (the last `n` calls, or
//!   the calls of the last `n` seconds). Once the window holds at least `minimum_calls` calls
//!   (for a count window: at most its size) and the failure rate, or the slow-call rate, is at or
//!   above its threshold, the breaker **opens**.
//! - **Open**: every call is refused at once with [`Rejected`] whose `retry_after` is the time
//!   left until the breaker half-opens. After `open_duration` the next call finds it
//!   **half-open** (the transition happens on that call or on [`state`](CircuitBreaker::state);
//!   no timer runs).
//! - **Half-open**: up to `half_open_calls` trial calls are admitted, the rest refused
//!   (`retry_after: None`, the trial's end is not known). When all trials have reported, the
//!   breaker opens again if their failure (or slow-call) rate reaches the threshold, and closes
//!   with an empty window otherwise.
//!
//! Each state has a generation: an outcome reported by a call admitted under an earlier
//! generation (a slow call from before the breaker opened) is ignored, so late results never
//! decide a half-open trial. A [`BreakerPermit`] dropped without an outcome frees its trial slot.
//!
//! Defaults are resilience4j's: failure rate 50%, slow-call rate 100% of calls slower than 60 s,
//! a count window of 100 calls, minimum 100 calls, open 60 s, 10 half-open calls.
//!
//! The state sits behind one short lock (a few instructions per call, never held while user code
//! or a listener runs). Transitions are observable through [`on_transition`](CircuitBreakerBuilder::on_transition)
//! and the `state` gauge of the breaker's metrics (0 closed, 1 open, 2 half-open).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::error::Rejected;
use crate::metrics::PrimitiveMetrics;
use crate::resilience::{real_clock, Clock};
use crate::sched::{Instant, Scheduler};
use crate::sync::{Mutex, StdArc};

/// The three states of a [`CircuitBreaker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass; outcomes are counted.
    Closed,
    /// Calls are refused until the open time has passed.
    Open,
    /// A few trial calls pass; their outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// What the closed state's sliding window holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlidingWindow {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `n` whole seconds (one-second buckets).
    Time(u32),
}

type Listener = StdArc<dyn Fn(BreakerState, BreakerState) + Send + Sync>;

/// Builds a [`CircuitBreaker`]; every setting defaults to resilience4j's.
#[derive(Clone)]
pub struct CircuitBreakerBuilder {
    failure_rate: f64,
    slow_call_rate: f64,
    slow_call_duration: Duration,
    window: SlidingWindow,
    minimum_calls: u32,
    open_duration: Duration,
    half_open_calls: u32,
    clock: Option<Clock>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
    listener: Option<Listener>,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("failure_rate", &self.failure_rate)
            .field("slow_call_rate", &self.slow_call_rate)
            .field("slow_call_duration", &self.slow_call_duration)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("open_duration", &self.open_duration)
            .field("half_open_calls", &self.half_open_calls)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        CircuitBreakerBuilder {
            failure_rate: 50.0,
            slow_call_rate: 100.0,
            slow_call_duration: Duration::from_secs(60),
            window: SlidingWindow::Count(100),
            minimum_calls: 100,
            open_duration: Duration::from_secs(60),
            half_open_calls: 10,
            clock: None,
            metrics: None,
            listener: None,
        }
    }
}

impl CircuitBreakerBuilder {
    /// Open at this failure rate, in percent of the window's calls (default 50).
    #[doc(alias = "failureRateThreshold")]
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.failure_rate = percent;
        self
    }

    /// Open at this rate of slow calls, in percent (default 100: only when every call is slow).
    #[doc(alias = "slowCallRateThreshold")]
    pub fn slow_call_rate(mut self, percent: f64) -> Self {
        self.slow_call_rate = percent;
        self
    }

    /// A call at least this long is slow (default 60 s).
    #[doc(alias = "slowCallDurationThreshold")]
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.slow_call_duration = duration;
        self
    }

    /// The closed state's sliding window (default the last 100 calls).
    #[doc(alias = "slidingWindowSize")]
    #[doc(alias = "slidingWindowType")]
    pub fn window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// The fewest calls in the window before a rate counts (default 100).
    #[doc(alias = "minimumNumberOfCalls")]
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// How long the breaker stays open (default 60 s).
    #[doc(alias = "waitDurationInOpenState")]
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.open_duration = duration;
        self
    }

    /// How many trial calls the half-open state admits (default 10).
    #[doc(alias = "permittedNumberOfCallsInHalfOpenState")]
    pub fn half_open_calls(mut self, calls: u32) -> Self {
        self.half_open_calls = calls;
        self
    }

    /// Reads time from `scheduler` (a [`VirtualTime`](crate::sched::VirtualTime) in tests).
    pub fn scheduler<S: Scheduler + 'static>(mut self, scheduler: S) -> Self {
        self.clock = Some(StdArc::new(scheduler));
        self
    }

    /// Reports admissions, rejections, the state gauge and in-flight calls to `metrics`.
    pub fn metrics(mut self, metrics: StdArc<PrimitiveMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Calls `listener(from, to)` after each transition (outside the breaker's lock; a panic in
    /// it goes to the error hook).
    #[doc(alias = "onStateTransition")]
    pub fn on_transition<F>(mut self, listener: F) -> Self
    where
        F: Fn(BreakerState, BreakerState) + Send + Sync + 'static,
    {
        self.listener = Some(StdArc::new(listener));
        self
    }

    /// The breaker, closed.
    ///
    /// # Panics
    ///
    /// If a window size or `half_open_calls` is 0, or a rate is not in `(0, 100]`.
    pub fn build(self) -> CircuitBreaker {
        let size = match self.window {
            SlidingWindow::Count(n) | SlidingWindow::Time(n) => n,
        };
        assert!(size > 0, "a sliding window of size 0 holds no call");
        assert!(
            self.half_open_calls > 0,
            "half-open must admit a trial call"
        );
        for rate in [self.failure_rate, self.slow_call_rate] {
            assert!(
                rate > 0.0 && rate <= 100.0,
                "a rate threshold is a percentage in (0, 100]"
            );
        }
        let minimum_calls = match self.window {
            SlidingWindow::Count(n) => self.minimum_calls.min(n),
            SlidingWindow::Time(_) => self.minimum_calls,
        }
        .max(1);
        if let Some(m) = &self.metrics {
            m.set_state(BreakerState::Closed.code());
            m.set_limit(u64::from(self.half_open_calls));
        }
        CircuitBreaker {
            inner: StdArc::new(Inner {
                machine: Mutex::new(Machine {
                    state: BreakerState::Closed,
                    generation: 0,
                    window: Window::new(self.window),
                    open_until: Instant::EPOCH,
                    trials_left: 0,
                    trial: Counts::default(),
                    in_flight: 0,
                }),
                clock: self.clock.unwrap_or_else(real_clock),
                failure_rate: self.failure_rate,
                slow_call_rate: self.slow_call_rate,
                slow_call_duration: self.slow_call_duration,
                minimum_calls,
                open_duration: self.open_duration,
                half_open_calls: self.half_open_calls,
                metrics: self.metrics,
                listener: self.listener,
            }),
        }
    }
}

/// Calls, failures and slow calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    calls: u64,
    failures: u64,
    slow: u64,
}

impl Counts {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls += 1;
        self.failures += failure as u64;
        self.slow += slow as u64;
    }

    fn sub(&mut self, other: Counts) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

enum Window {
    /// The last `size` outcomes `(failure, slow)`, oldest first, and their totals.
    Count {
        size: usize,
        calls: VecDeque<(bool, bool)>,
        totals: Counts,
    },
    /// One bucket per second `(second, counts)`, oldest first, and their totals.
    Time {
        seconds: u64,
        buckets: VecDeque<(u64, Counts)>,
        totals: Counts,
    },
}

impl Window {
    fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(n) => Window::Count {
                size: n as usize,
                calls: VecDeque::with_capacity(n as usize),
                totals: Counts::default(),
            },
            SlidingWindow::Time(s) => Window::Time {
                seconds: u64::from(s),
                buckets: VecDeque::new(),
                totals: Counts::default(),
            },
        }
    }

    fn clear(&mut self) {
        match self {
            Window::Count { calls, totals, .. } => {
                calls.clear();
                *totals = Counts::default();
            }
            Window::Time {
                buckets, totals, ..
            } => {
                buckets.clear();
                *totals = Counts::default();
            }
        }
    }

    /// Drops what fell out of a time window by `now`.
    fn expire(&mut self, now: Instant) {
        if let Window::Time {
            seconds,
            buckets,
            totals,
        } = self
        {
            let second = now.since_epoch().as_secs();
            while let Some(&(s, counts)) = buckets.front() {
                if s + *seconds > second {
                    break;
                }
                buckets.pop_front();
                totals.sub(counts);
            }
        }
    }

    fn record(&mut self, now: Instant, failure: bool, slow: bool) {
        self.expire(now);
        match self {
            Window::Count {
                size,
                calls,
                totals,
            } => {
                if calls.len() == *size {
                    let (f, s) = calls.pop_front().expect("full");
                    let mut old = Counts::default();
                    old.add(f, s);
                    totals.sub(old);
                }
                calls.push_back((failure, slow));
                totals.add(failure, slow);
            }
            Window::Time {
                buckets, totals, ..
            } => {
                let second = now.since_epoch().as_secs();
                match buckets.back_mut() {
                    Some((s, counts)) if *s == second => counts.add(failure, slow),
                    _ => {
                        let mut counts = Counts::default();
                        counts.add(failure, slow);
                        buckets.push_back((second, counts));
                    }
                }
                totals.add(failure, slow);
            }
        }
    }

    fn totals(&self) -> Counts {
        match self {
            Window::Count { totals, .. } | Window::Time { totals, .. } => *totals,
        }
    }
}

struct Machine {
    state: BreakerState,
    /// Bumped by every transition; permits carry the generation that admitted them.
    generation: u64,
    window: Window,
    /// While open: when the breaker half-opens.
    open_until: Instant,
    /// While half-open: trial slots not yet handed out.
    trials_left: u32,
    /// While half-open: outcomes of the trials so far.
    trial: Counts,
    /// Permits admitted and not yet reported or dropped.
    in_flight: u64,
}

struct Inner {
    machine: Mutex<Machine>,
    clock: Clock,
    failure_rate: f64,
    slow_call_rate: f64,
    slow_call_duration: Duration,
    minimum_calls: u32,
    open_duration: Duration,
    half_open_calls: u32,
    metrics: Option<StdArc<PrimitiveMetrics>>,
    listener: Option<Listener>,
}

/// A transition made under the lock, announced after it.
type Transition = Option<(BreakerState, BreakerState)>;

impl Inner {
    fn trips(&self, counts: Counts) -> bool {
        let calls = counts.calls as f64;
        counts.failures as f64 * 100.0 >= self.failure_rate * calls
            || counts.slow as f64 * 100.0 >= self.slow_call_rate * calls
    }

    fn go(&self, m: &mut Machine, to: BreakerState, now: Instant) -> Transition {
        let from = m.state;
        m.state = to;
        m.generation += 1;
        match to {
            BreakerState::Closed => m.window.clear(),
            BreakerState::Open => m.open_until = now + self.open_duration,
            BreakerState::HalfOpen => {
                m.trials_left = self.half_open_calls;
                m.trial = Counts::default();
            }
        }
        Some((from, to))
    }

    /// The time-driven transition: open → half-open once the open time has passed.
    fn tick(&self, m: &mut Machine, now: Instant) -> Transition {
        if m.state == BreakerState::Open && now >= m.open_until {
            self.go(m, BreakerState::HalfOpen, now)
        } else {
            None
        }
    }

    fn announce(&self, transitions: [Transition; 2], in_flight: u64) {
        if let Some(m) = &self.metrics {
            m.set_in_flight(in_flight);
        }
        for (from, to) in transitions.into_iter().flatten() {
            if let Some(m) = &self.metrics {
                m.set_state(to.code());
            }
            if let Some(listener) = &self.listener {
                if let Err(panic) = crate::protocol::catch("on_transition", || listener(from, to)) {
                    crate::error::report_undeliverable(&panic);
                }
            }
        }
    }
}

/// A circuit breaker shared by its clones. See the [module docs](self) for the state machine.
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::breaker::{BreakerState, CircuitBreaker, SlidingWindow};
/// use backflow::sched::VirtualTime;
///
/// let clock = VirtualTime::new();
/// let breaker = CircuitBreaker::builder()
///     .window(SlidingWindow::Count(4))
///     .minimum_calls(4)
///     .open_duration(Duration::from_secs(10))
///     .half_open_calls(1)
///     .scheduler(clock.clone())
///     .build();
/// for ok in [true, false, true, false] {
///     let _ = breaker.call(|| if ok { Ok(()) } else { Err("boom") });
/// }
/// assert_eq!(breaker.state(), BreakerState::Open); // 2 of 4 failed: 50%
/// let refused = breaker.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_after, Some(Duration::from_secs(10)));
/// clock.advance_by(Duration::from_secs(10));
/// let trial = breaker.try_acquire().unwrap(); // half-open: one trial call
/// assert_eq!(breaker.state(), BreakerState::HalfOpen);
/// trial.success();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: StdArc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.inner.machine.lock().state)
            .finish_non_exhaustive()
    }
}

/// A call [`CircuitBreaker::call`] did not complete: refused by the breaker (the item handed
/// back), or failed.
pub enum CallError<E, T = ()> {
    /// The breaker refused the call; nothing ran.
    Rejected(Rejected<T>),
    /// The call ran and failed (recorded as a failure).
    Failed(E),
}

impl<E: fmt::Debug, T> fmt::Debug for CallError<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => f.debug_tuple("Rejected").field(r).finish(),
            CallError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<E: fmt::Display, T> fmt::Display for CallError<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => write!(f, "circuit breaker open ({r})"),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display, T> std::error::Error for CallError<E, T> {}

impl<E, T> CallError<E, T> {
    /// Whether the breaker refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }

    /// The refusal's hint, if the breaker refused.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            CallError::Rejected(r) => r.retry_after,
            CallError::Failed(_) => None,
        }
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::builder().build()
    }
}

impl CircuitBreaker {
    /// A builder with resilience4j's defaults.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// The state now (applying the open → half-open transition if its time has come).
    pub fn state(&self) -> BreakerState {
        let now = self.inner.clock.now();
        let (state, t, in_flight) = {
            let mut m = self.inner.machine.lock();
            let t = self.inner.tick(&mut m, now);
            (m.state, t, m.in_flight)
        };
        self.inner.announce([t, None], in_flight);
        state
    }

    /// Whether `self` and `other` are handles to the same breaker.
    pub fn same_as(&self, other: &CircuitBreaker) -> bool {
        StdArc::ptr_eq(&self.inner, &other.inner)
    }

    /// Asks to make one call: a [`BreakerPermit`] to report its outcome on, or a refusal.
    #[doc(alias = "tryAcquirePermission")]
    pub fn try_acquire(&self) -> Result<BreakerPermit, Rejected> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let (result, t, in_flight) = {
            let mut m = inner.machine.lock();
            let t = inner.tick(&mut m, now);
            let result = match m.state {
                BreakerState::Closed => Ok(()),
                BreakerState::Open => Err(Some(m.open_until - now)),
                BreakerState::HalfOpen if m.trials_left > 0 => {
                    m.trials_left -= 1;
                    Ok(())
                }
                BreakerState::HalfOpen => Err(None),
            };
            if result.is_ok() {
                m.in_flight += 1;
            }
            (result.map(|()| m.generation), t, m.in_flight)
        };
        inner.announce([t, None], in_flight);
        match result {
            Ok(generation) => {
                if let Some(m) = &inner.metrics {
                    m.record_admitted(1);
                }
                Ok(BreakerPermit {
                    breaker: self.clone(),
                    generation,
                    start: now,
                    done: false,
                })
            }
            Err(retry_after) => {
                if let Some(m) = &inner.metrics {
                    m.record_rejected(1);
                }
                Err(Rejected::new((), retry_after))
            }
        }
    }

    /// Runs `f` if the breaker admits a call, recording `Ok` as a success and `Err` (or a panic,
    /// which is resumed) as a failure; its duration decides whether it was slow.
    #[doc(alias = "executeCallable")]
    #[doc(alias = "decorateSupplier")]
    pub fn call<R, E>(&self, f: impl FnOnce() -> Result<R, E>) -> Result<R, CallError<E>> {
        self.call_with((), |()| f())
    }

    /// [`call`](Self::call) for a call that consumes `item`: a refusal hands `item` back.
    pub fn call_with<T, R, E>(
        &self,
        item: T,
        f: impl FnOnce(T) -> Result<R, E>,
    ) -> Result<R, CallError<E, T>> {
        let permit = match self.try_acquire() {
            Ok(permit) => permit,
            Err(refused) => return Err(CallError::Rejected(refused.with_item(item))),
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item))) {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(error)) => {
                permit.failure();
                Err(CallError::Failed(error))
            }
            Err(panic) => {
                permit.failure();
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Records the outcome of a call admitted under `generation`, started at `start`.
    fn record(&self, generation: u64, start: Instant, failure: bool) {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let slow = now - start >= inner.slow_call_duration;
        let (t1, t2, in_flight) = {
            let mut m = inner.machine.lock();
            m.in_flight = m.in_flight.saturating_sub(1);
            let t1 = inner.tick(&mut m, now);
            let mut t2 = None;
            if m.generation == generation {
                match m.state {
                    BreakerState::Closed => {
                        m.window.record(now, failure, slow);
                        let totals = m.window.totals();
                        if totals.calls >= u64::from(inner.minimum_calls) && inner.trips(totals) {
                            t2 = inner.go(&mut m, BreakerState::Open, now);
                        }
                    }
                    BreakerState::HalfOpen => {
                        m.trial.add(failure, slow);
                        if m.trial.calls >= u64::from(inner.half_open_calls) {
                            let to = if inner.trips(m.trial) {
                                BreakerState::Open
                            } else {
                                BreakerState::Closed
                            };
                            t2 = inner.go(&mut m, to, now);
                        }
                    }
                    BreakerState::Open => {}
                }
            }
            (t1, t2, m.in_flight)
        };
        inner.announce([t1, t2], in_flight);
    }

    /// A permit dropped without an outcome: frees its trial slot if it was a trial.
    fn release(&self, generation: u64) {
        let in_flight = {
            let mut m = self.inner.machine.lock();
            m.in_flight = m.in_flight.saturating_sub(1);
            if m.generation == generation && m.state == BreakerState::HalfOpen {
                m.trials_left += 1;
            }
            m.in_flight
        };
        self.inner.announce([None, None], in_flight);
    }

    /// Records a success of a call made without a permit (resilience4j's `onSuccess`), in the
    /// current state.
    pub fn record_success(&self) {
        let (generation, now) = self.current();
        self.inner.machine.lock().in_flight += 1;
        self.record(generation, now, false);
    }

    /// Records a failure of a call made without a permit (resilience4j's `onError`).
    pub fn record_failure(&self) {
        let (generation, now) = self.current();
        self.inner.machine.lock().in_flight += 1;
        self.record(generation, now, true);
    }

    fn current(&self) -> (u64, Instant) {
        let now = self.inner.clock.now();
        let (generation, t, in_flight) = {
            let mut m = self.inner.machine.lock();
            let t = self.inner.tick(&mut m, now);
            (m.generation, t, m.in_flight)
        };
        self.inner.announce([t, None], in_flight);
        (generation, now)
    }

    /// Closes the breaker and empties its window.
    pub fn reset(&self) {
        let now = self.inner.clock.now();
        let (t, in_flight) = {
            let mut m = self.inner.machine.lock();
            let t = self.inner.go(&mut m, BreakerState::Closed, now);
            (t, m.in_flight)
        };
        self.inner.announce([t, None], in_flight);
    }

    /// The failure rate of the closed window in percent, once it holds the minimum number of
    /// calls.
    pub fn failure_rate(&self) -> Option<f64> {
        let now = self.inner.clock.now();
        let mut m = self.inner.machine.lock();
        m.window.expire(now);
        let totals = m.window.totals();
        (totals.calls >= u64::from(self.inner.minimum_calls) && totals.calls > 0)
            .then(|| totals.failures as f64 * 100.0 / totals.calls as f64)
    }
}

/// Permission to make one call through a [`CircuitBreaker`]: report how it went with
/// [`success`](Self::success) or [`failure`](Self::failure). Dropped unreported, it is ignored
/// (and, in half-open, its trial slot is given to another call).
pub struct BreakerPermit {
    breaker: CircuitBreaker,
    generation: u64,
    start: Instant,
    done: bool,
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl BreakerPermit {
    /// The call succeeded (it counts as slow if it took at least the slow-call duration).
    #[doc(alias = "onSuccess")]
    pub fn success(mut self) {
        self.done = true;
        self.breaker.record(self.generation, self.start, false);
    }

    /// The call failed.
    #[doc(alias = "onError")]
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.record(self.generation, self.start, true);
    }

    /// Records `ok` as a success, otherwise a failure.
    pub fn record(self, ok: bool) {
        if ok {
            self.success()
        } else {
            self.failure()
        }
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.release(self.generation);
        }
    }
}
