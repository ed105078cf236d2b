//! Delays between attempts: [`Backoff`], [`ExponentialBackoff`] with [`Jitter`], and the
//! [`RetryBudget`] that keeps retries from amplifying an outage.
//!
//! A backoff is any `IntoIterator<Item = Duration>` that can be cloned: each subscription of a
//! [`retry_when`](crate::Flux::retry_when) stage draws a fresh iterator, waits its `k`-th delay
//! before the `k`-th retry, and gives up when the iterator ends. `vec![ms(10), ms(100)]` is a
//! backoff of two retries; `std::iter::repeat(ms(50)).take(5)` is a constant one.
//!
//! [`ExponentialBackoff`] is the default the literature recommends (Marc Brooker, "Exponential
//! Backoff And Jitter"): the `k`-th delay is `min(max, min_delay · factor^k)` with *full jitter*
//! (uniform in `[min_delay, that]`), so clients that failed together do not retry together.
//! Equal and decorrelated jitter, and none, are available. Jitter comes from a tiny seeded
//! generator ([`SplitMix64`](super::SplitMix64)): with [`seed`](ExponentialBackoff::seed) the
//! delays are reproducible.

use std::fmt;
use std::time::Duration;

use crate::resilience::SplitMix64;
use crate::sync::{AtomicU64, Ordering, StdArc};

/// A source of delays between attempts: any cloneable `IntoIterator<Item = Duration>`.
///
/// Each subscription calls [`delays`](Backoff::delays) once and takes one delay per retry; the
/// iterator's end means "give up".
pub trait Backoff: Send + Sync + 'static {
    /// The delays of one run.
    type Delays: Iterator<Item = Duration> + Send + 'static;
    /// A fresh run of delays.
    fn delays(&self) -> Self::Delays;
}

impl<B> Backoff for B
where
    B: IntoIterator<Item = Duration> + Clone + Send + Sync + 'static,
    B::IntoIter: Send + 'static,
{
    type Delays = B::IntoIter;
    fn delays(&self) -> B::IntoIter {
        self.clone().into_iter()
    }
}

/// How [`ExponentialBackoff`] randomises each delay `d = min(max, min_delay · factor^k)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Exactly `d`: clients that failed together retry together (use only with one client).
    None,
    /// Uniform in `[min_delay, d]`: the most spread, the least total work (Brooker's default).
    #[default]
    Full,
    /// `d/2` plus uniform in `[0, d/2]`: never much shorter than `d`.
    Equal,
    /// Uniform in `[min_delay, 3 · previous]`, capped at `max`: AWS's "decorrelated jitter".
    Decorrelated,
}

/// Exponential backoff with jitter, clamped to `[min_delay, max]`, for a bounded number of retries.
///
/// Defaults: `min_delay` 100 ms, `max` 10 s, factor 2, [`Jitter::Full`], 3 retries, seeded from
/// the clock. Clones share a run counter, so with a [`seed`](Self::seed) each subscription gets
/// its own reproducible sequence (subscription `i` uses the `i`-th derived seed).
///
/// ```
/// use std::time::Duration;
/// use backflow::resilience::retry::{ExponentialBackoff, Jitter};
///
/// let ms = Duration::from_millis;
/// let plain = ExponentialBackoff::new(ms(10), ms(100)).jitter(Jitter::None).retries(5);
/// assert_eq!(plain.into_iter().collect::<Vec<_>>(), [ms(10), ms(20), ms(40), ms(80), ms(100)]);
///
/// let jittered = ExponentialBackoff::new(ms(10), ms(100)).seed(7).retries(5);
/// for (k, d) in jittered.into_iter().enumerate() {
///     assert!(d >= ms(10) && d <= (ms(10) * (1 << k)).min(ms(100)));
/// }
/// ```
#[derive(Clone)]
pub struct ExponentialBackoff {
    min_delay: Duration,
    max: Duration,
    factor: f64,
    jitter: Jitter,
    retries: u64,
    seed: Option<u64>,
    /// Runs drawn so far by this backoff and its clones (each run derives its own seed).
    runs: StdArc<AtomicU64>,
}

impl fmt::Debug for ExponentialBackoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExponentialBackoff")
            .field("min_delay", &self.min_delay)
            .field("max", &self.max)
            .field("factor", &self.factor)
            .field("jitter", &self.jitter)
            .field("retries", &self.retries)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl ExponentialBackoff {
    /// Delays from `min_delay` doubling up to `max`, full jitter, 3 retries.
    ///
    /// # Panics
    ///
    /// If `max < min_delay`.
    pub fn new(min_delay: Duration, max: Duration) -> Self {
        assert!(
            max >= min_delay,
            "backoff max {max:?} below its min {min_delay:?}"
        );
        ExponentialBackoff {
            min_delay,
            max,
            factor: 2.0,
            jitter: Jitter::Full,
            retries: 3,
            seed: None,
            runs: StdArc::new(AtomicU64::new(0)),
        }
    }

    /// The growth factor per retry (default 2).
    ///
    /// # Panics
    ///
    /// If `factor < 1` or is not finite.
    pub fn factor(mut self, factor: f64) -> Self {
        assert!(
            factor.is_finite() && factor >= 1.0,
            "backoff factor must be >= 1"
        );
        self.factor = factor;
        self
    }

    /// How each delay is randomised (default [`Jitter::Full`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many retries a run allows (default 3); `u64::MAX` never gives up.
    #[doc(alias = "maxAttempts")]
    #[doc(alias = "max_retries")]
    pub fn retries(mut self, retries: u64) -> Self {
        self.retries = retries;
        self
    }

    /// Makes the jitter reproducible: runs draw seeds derived from `seed` in order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The shortest delay.
    pub fn min_delay(&self) -> Duration {
        self.min_delay
    }

    /// The longest delay.
    pub fn max_delay(&self) -> Duration {
        self.max
    }
}

impl IntoIterator for ExponentialBackoff {
    type Item = Duration;
    type IntoIter = ExponentialDelays;

    fn into_iter(self) -> ExponentialDelays {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let rng = match self.seed {
            Some(seed) => {
                // Derive the run's seed by mixing the run number in.
                let mut mix = SplitMix64::new(seed ^ run.wrapping_mul(0xA076_1D64_78BD_642F));
                SplitMix64::new(mix.next_u64())
            }
            None => SplitMix64::from_entropy(),
        };
        ExponentialDelays {
            previous: self.min_delay,
            attempt: 0,
            rng,
            config: self,
        }
    }
}

/// One run of an [`ExponentialBackoff`]'s delays.
#[derive(Clone, Debug)]
pub struct ExponentialDelays {
    config: ExponentialBackoff,
    attempt: u64,
    previous: Duration,
    rng: SplitMix64,
}

impl Iterator for ExponentialDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let c = &self.config;
        if self.attempt >= c.retries {
            return None;
        }
        let exp = c.factor.powf(self.attempt.min(1024) as f64);
        let ceiling = c.min_delay.as_secs_f64() * exp;
        let ceiling = if ceiling >= c.max.as_secs_f64() {
            c.max
        } else {
            Duration::from_secs_f64(ceiling)
        };
        let delay = match c.jitter {
            Jitter::None => ceiling,
            Jitter::Full => self.rng.duration_between(c.min_delay, ceiling),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + self.rng.duration_between(Duration::ZERO, ceiling - half)
            }
            Jitter::Decorrelated => {
                let high = self.previous.saturating_mul(3).min(c.max);
                self.rng.duration_between(c.min_delay, high)
            }
        };
        let delay = delay.clamp(c.min_delay, c.max);
        self.previous = delay;
        self.attempt += 1;
        Some(delay)
    }
}

/// gRPC's retry throttling (proposal A6): a shared token budget that stops retrying while most
/// calls fail, so retries cannot multiply the load on a service that is already down.
///
/// The budget holds up to `max_tokens` (it starts full). Each failure takes one token, each
/// success gives back `token_ratio`; a retry is allowed only while more than half the tokens are
/// left. Clones share the budget: give one to every client of a service.
///
/// ```
/// use backflow::resilience::retry::RetryBudget;
///
/// let budget = RetryBudget::new(10, 0.1);
/// for _ in 0..4 {
///     assert!(budget.record_failure()); // 9, 8, 7, 6 tokens: retry
/// }
/// assert!(!budget.record_failure()); // 5 tokens = half: stop retrying
/// for _ in 0..10 {
///     budget.record_success(); // +0.1 each
/// }
/// assert!(budget.can_retry());
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: StdArc<BudgetInner>,
}

struct BudgetInner {
    /// Thousandths of a token, in `0..=max`. Relaxed RMWs: it guards nothing else.
    milli: AtomicU64,
    max: u64,
    ratio: u64,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("tokens", &self.tokens())
            .field("max_tokens", &(self.inner.max / 1000))
            .finish()
    }
}

impl RetryBudget {
    /// A full budget of `max_tokens`, refilled by `token_ratio` per success (gRPC's defaults in
    /// its examples: 10 and 0.1).
    ///
    /// # Panics
    ///
    /// If `max_tokens` is 0 or `token_ratio` is negative or not finite.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Self {
        assert!(max_tokens > 0, "a retry budget needs tokens");
        assert!(
            token_ratio.is_finite() && token_ratio >= 0.0,
            "token ratio must be >= 0"
        );
        let max = u64::from(max_tokens) * 1000;
        RetryBudget {
            inner: StdArc::new(BudgetInner {
                milli: AtomicU64::new(max),
                max,
                ratio: (token_ratio * 1000.0).round() as u64,
            }),
        }
    }

    /// The tokens left.
    pub fn tokens(&self) -> f64 {
        self.inner.milli.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Whether a retry is allowed now (more than half the tokens left).
    pub fn can_retry(&self) -> bool {
        self.inner.milli.load(Ordering::Relaxed) > self.inner.max / 2
    }

    /// A call failed: takes a token; returns whether a retry is allowed.
    pub fn record_failure(&self) -> bool {
        let after = self
            .inner
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_sub(1000))
            })
            .map_or(0, |before| before.saturating_sub(1000));
        after > self.inner.max / 2
    }

    /// A call succeeded: gives back `token_ratio` tokens (up to the maximum).
    pub fn record_success(&self) {
        let (ratio, max) = (self.inner.ratio, self.inner.max);
        let _ = self
            .inner
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_add(ratio).min(max))
            });
    }
}
