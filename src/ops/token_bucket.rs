//! The token bucket behind [`Flux::throttle`](crate::Flux::throttle), reusable by any rate limit.
//!
//! Time is an input, never read from a clock inside, so the bucket is plain arithmetic: exact,
//! deterministic and unit-testable. Levels are integers in units of `1 / tokens` of a token per
//! `per`: in `dt` nanoseconds the bucket gains `dt * tokens` units and a token costs `per` (in
//! nanoseconds) units, so refills never round and never drift, whatever `tokens` and `per` are.

use std::time::Duration;

use crate::sched::Instant;

/// A token bucket holding at most `burst` tokens, refilled at `tokens` per `per`, starting full.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    /// Units gained per nanosecond: the `tokens` of "`tokens` per `per`", at least 1.
    gain: u128,
    /// Units per token: `per` in nanoseconds, at least 1.
    unit: u128,
    /// Most units held: `burst * unit`.
    capacity: u128,
    /// Units held as of `updated`, in `0..=capacity`.
    level: u128,
    /// The instant `level` was last brought up to date; never moves back.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at `now`, refilled at `tokens` per `per`.
    ///
    /// # Panics
    ///
    /// If `tokens`, `per` or `burst` is zero.
    pub(crate) fn new(tokens: u64, per: Duration, burst: u64, now: Instant) -> Self {
        assert!(tokens > 0, "a rate of 0 tokens per period never refills");
        assert!(!per.is_zero(), "a rate per zero time is infinite");
        assert!(burst > 0, "a burst of 0 tokens admits nothing");
        let unit = per.as_nanos();
        let capacity = u128::from(burst).saturating_mul(unit);
        TokenBucket {
            gain: u128::from(tokens),
            unit,
            capacity,
            level: capacity,
            updated: now,
        }
    }

    /// The most tokens the bucket holds.
    #[allow(dead_code)]
    pub(crate) fn burst(&self) -> u64 {
        u64::try_from(self.capacity / self.unit).unwrap_or(u64::MAX)
    }

    fn refill(&mut self, now: Instant) {
        if now > self.updated {
            let elapsed = (now - self.updated).as_nanos();
            self.level = self
                .level
                .saturating_add(elapsed.saturating_mul(self.gain))
                .min(self.capacity);
            self.updated = now;
        }
    }

    /// Whole tokens available at `now`.
    pub(crate) fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        u64::try_from(self.level / self.unit).unwrap_or(u64::MAX)
    }

    /// Takes `permits` tokens at `now` if the bucket holds them; otherwise takes nothing and returns
    /// how long until it will (the deficit over the refill rate, rounded up to the nanosecond):
    /// the `retry_after` of a rejection. `Duration::MAX` if `permits` exceeds the burst (never).
    pub(crate) fn try_acquire(&mut self, now: Instant, permits: u64) -> Result<(), Duration> {
        self.refill(now);
        let cost = u128::from(permits).saturating_mul(self.unit);
        if cost <= self.level {
            self.level -= cost;
            Ok(())
        } else if cost > self.capacity {
            Err(Duration::MAX)
        } else {
            let deficit = cost - self.level;
            let nanos = deficit.div_ceil(self.gain);
            Err(u64::try_from(nanos).map_or(Duration::MAX, Duration::from_nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let mut b = TokenBucket::new(2, Duration::from_millis(100), 3, at(0));
        assert_eq!(b.available(at(0)), 3);
        for _ in 0..3 {
            assert_eq!(b.try_acquire(at(0), 1), Ok(()));
        }
        assert_eq!(
            b.try_acquire(at(0), 1),
            Err(Duration::from_millis(50)),
            "2 per 100 ms: one every 50 ms"
        );
        assert_eq!(b.try_acquire(at(20), 1), Err(Duration::from_millis(30)));
        assert_eq!(b.try_acquire(at(50), 1), Ok(()));
        assert_eq!(b.available(at(1_000)), 3, "never above the burst");
    }

    #[test]
    fn uneven_rates_do_not_drift() {
        // 3 per 10 ms: a token every 3.333.. ms; after 10 ms exactly 3 tokens, not 2.
        let mut b = TokenBucket::new(3, Duration::from_millis(10), 3, at(0));
        for _ in 0..3 {
            b.try_acquire(at(0), 1).unwrap();
        }
        let mut t = Instant::EPOCH;
        for _ in 0..1000 {
            t += Duration::from_micros(10);
            b.available(t);
        }
        assert_eq!(b.available(at(10)), 3);
        assert_eq!(b.try_acquire(at(10), 3), Ok(()));
        assert_eq!(
            b.try_acquire(at(10), 1),
            Err(Duration::from_nanos(3_333_334))
        );
    }

    #[test]
    fn permits_above_the_burst_never_come() {
        let mut b = TokenBucket::new(1, Duration::from_secs(1), 2, at(0));
        assert_eq!(b.try_acquire(at(0), 3), Err(Duration::MAX));
        assert_eq!(b.available(at(0)), 2, "a refused acquire takes nothing");
        assert_eq!(b.burst(), 2);
    }

    #[test]
    fn time_never_goes_back() {
        let mut b = TokenBucket::new(1, Duration::from_secs(1), 1, at(5_000));
        b.try_acquire(at(5_000), 1).unwrap();
        assert_eq!(b.available(at(1_000)), 0);
        assert_eq!(b.try_acquire(at(5_500), 1), Err(Duration::from_millis(500)));
    }

    #[test]
    fn huge_values_saturate() {
        let mut b = TokenBucket::new(u64::MAX, Duration::MAX, u64::MAX, Instant::EPOCH);
        assert_eq!(b.try_acquire(Instant::EPOCH, u64::MAX), Ok(()));
        let far = Instant::EPOCH + Duration::MAX;
        assert!(b.available(far) > 0);
    }
}
