//! The conformance verifier over every resilience operator (issue 9): `rate_limit`, `retry`,
//! `retry_when`, `repeat`, `repeat_when`, `circuit_breaker`, `circuit_breaker_map`, `shed`,
//! `pause_at`; with limits that never bind, and, for retries, a source that fails once.

#[macro_use]
mod tck_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow::prelude::*;
use backflow::resilience::breaker::CircuitBreaker;
use backflow::resilience::rate::RateLimiter;
use backflow::resilience::retry::ExponentialBackoff;
use backflow::resilience::shed::{LoadShedder, Priority};
use backflow::tck::PublisherOptions;
use tck_common::failing;

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

/// `0..n`, failing once right after its first item on its first run.
fn fails_once(n: u64) -> impl Publisher<Item = u64> + Send + Sync + 'static {
    let failed = Arc::new(AtomicBool::new(false));
    backflow::range(0..n)
        .try_map(move |x| {
            if x == 1 && !failed.swap(true, Ordering::SeqCst) {
                Err(Error::msg("transient"))
            } else {
                Ok(x)
            }
        })
        .into_inner()
}

fn unbinding_limiter() -> RateLimiter {
    RateLimiter::builder(1_000_000_000, Duration::from_secs(1))
        .burst(1_000_000)
        .build()
}

publisher_tck!(
    rate_limit_unbinding,
    |n| backflow::range(0..n).rate_limit(&unbinding_limiter()),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().rate_limit(&unbinding_limiter()))
);
publisher_tck!(
    retry_of_a_source_that_fails_once,
    |n| Flux::new(fails_once(n)).retry(3),
    sync().failing_factory(|| failing::<u64>().retry(2))
);
publisher_tck!(
    retry_when_of_a_source_that_fails_once,
    |n| Flux::new(fails_once(n)).retry_when(ExponentialBackoff::new(
        Duration::from_millis(1),
        Duration::from_millis(5)
    )),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().retry_when(vec![Duration::from_millis(1)]))
);
publisher_tck!(
    repeat_of_one_item,
    |n| backflow::range(0..n.min(1)).repeat(n.saturating_sub(1)),
    sync().failing_factory(|| failing::<u64>().repeat(3))
);
publisher_tck!(
    repeat_when_of_one_item,
    |n| backflow::range(0..n.min(1)).repeat_when(
        // One run after a timer, the others at once (the verifier runs long streams).
        std::iter::once(Duration::from_millis(1))
            .chain(std::iter::repeat(Duration::ZERO))
            .take(n.saturating_sub(1) as usize)
    ),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().repeat_when(vec![Duration::from_millis(1)]))
);
publisher_tck!(
    circuit_breaker_closed,
    |n| backflow::range(0..n).circuit_breaker(&CircuitBreaker::default()),
    sync().failing_factory(|| failing::<u64>().circuit_breaker(&CircuitBreaker::default()))
);
publisher_tck!(
    circuit_breaker_map_closed,
    |n| backflow::range(0..n)
        .circuit_breaker_map(&CircuitBreaker::default(), Ok::<u64, ()>)
        .map(|r| r.unwrap_or(u64::MAX)),
    sync().failing_factory(|| failing::<u64>()
        .circuit_breaker_map(&CircuitBreaker::default(), Ok::<u64, ()>)
        .map(|r| r.unwrap_or(u64::MAX)))
);
publisher_tck!(
    shed_of_half_the_items,
    |n| backflow::range(0..2 * n).shed(&LoadShedder::new(|| 0.5).above(0.4, Priority::High), |x| {
        if x % 2 == 0 {
            Priority::Critical
        } else {
            Priority::Low
        }
    }),
    sync().failing_factory(|| failing::<u64>().shed(&LoadShedder::new(|| 0.0), |_| Priority::Low))
);
publisher_tck!(
    pause_at_16_4,
    |n| backflow::range(0..n).pause_at(16, 4),
    sync().failing_factory(|| failing::<u64>().pause_at(16, 4))
);
publisher_tck!(
    pause_at_across_threads,
    |n| backflow::range(0..n)
        .subscribe_on(backflow::sched::single())
        .pause_at(4, 1),
    PublisherOptions::default().failing_factory(|| failing::<u64>()
        .subscribe_on(backflow::sched::single())
        .pause_at(4, 1))
);
