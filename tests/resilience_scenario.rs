//! Seed 000 as a test: the inventory example's simulation (examples/inventory.rs, on virtual
//! time) must keep telling its story — the retry storm multiplies the load and loses orders,
//! backoff with jitter serves every order, the breaker spares the broken database.

#[allow(dead_code)]
#[path = "../examples/inventory.rs"]
mod inventory;

use inventory::{run, Client};

#[test]
fn backoff_beats_the_retry_storm_and_the_breaker_spares_the_outage() {
    let storm = run(Client::NoBackoff);
    let backoff = run(Client::Backoff);
    let breaker = run(Client::BackoffAndBreaker);
    for s in [&storm, &backoff, &breaker] {
        assert_eq!(s.offered, 6400);
        assert_eq!(s.succeeded + s.failed, s.offered, "every order ends");
    }
    // The storm: more calls per order, a higher peak, and lost orders.
    assert!(storm.calls as f64 / storm.offered as f64 > 4.0);
    assert!(storm.peak_calls_per_second > 2 * backoff.peak_calls_per_second - 1_000);
    assert!(storm.failed > 1_000);
    // Backoff + jitter: nothing lost, the service near capacity.
    assert_eq!(backoff.failed, 0);
    assert!(backoff.in_flight_sum as f64 / backoff.samples as f64 > 75.0);
    // The breaker fails fast during the outage instead of calling the broken database.
    assert!(breaker.errors * 10 < backoff.errors);
    assert!(breaker.failed_fast > 0);
    assert!(breaker.failed * 100 < breaker.offered);
    // Deterministic: the same run twice gives the same figures.
    let again = run(Client::Backoff);
    assert_eq!(
        (again.calls, again.retried),
        (backoff.calls, backoff.retried)
    );
}
