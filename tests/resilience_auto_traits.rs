//! Every public resilience type is `Send + Sync` (they are shared between threads by design), and
//! the operators' publishers are `Send + Sync` when their upstream is.

use backflow::error::Rejected;
use backflow::metrics::PrimitiveMetrics;
use backflow::resilience::breaker::{BreakerPermit, CircuitBreaker, CircuitBreakerBuilder};
use backflow::resilience::bulkhead::{Bulkhead, BulkheadPermit, Bulkheads};
use backflow::resilience::rate::{KeyedRateLimiter, RateLimiter, RateLimiterBuilder};
use backflow::resilience::retry::{ExponentialBackoff, ExponentialDelays, RetryBudget};
use backflow::resilience::shed::{LoadShedder, PoolPermit, Priority, PriorityPool};
use backflow::resilience::SplitMix64;

fn send_sync<T: Send + Sync>() {}

#[test]
fn primitives_are_send_and_sync() {
    send_sync::<Rejected<String>>();
    send_sync::<PrimitiveMetrics>();
    send_sync::<RateLimiter>();
    send_sync::<RateLimiterBuilder>();
    send_sync::<KeyedRateLimiter<String>>();
    send_sync::<CircuitBreaker>();
    send_sync::<CircuitBreakerBuilder>();
    send_sync::<BreakerPermit>();
    send_sync::<Bulkhead>();
    send_sync::<BulkheadPermit>();
    send_sync::<Bulkheads<&'static str>>();
    send_sync::<ExponentialBackoff>();
    send_sync::<ExponentialDelays>();
    send_sync::<RetryBudget>();
    send_sync::<LoadShedder<Priority>>();
    send_sync::<PriorityPool<Priority>>();
    send_sync::<PoolPermit<Priority>>();
    send_sync::<SplitMix64>();
}

#[test]
fn operators_are_send_and_sync() {
    fn publisher<P: Send + Sync>(_: &P) {}
    let range = || backflow::range(0..3u32);
    publisher(&range().rate_limit(&RateLimiter::new(1, std::time::Duration::from_secs(1))));
    publisher(&range().retry(1));
    publisher(&range().retry_when(ExponentialBackoff::default()));
    publisher(&range().repeat(1));
    publisher(&range().circuit_breaker(&CircuitBreaker::default()));
    publisher(&range().circuit_breaker_map(&CircuitBreaker::default(), Ok::<u32, ()>));
    publisher(&range().shed(&LoadShedder::new(|| 0.0), |_| Priority::Low));
    publisher(&range().pause_at(4, 1));
}
