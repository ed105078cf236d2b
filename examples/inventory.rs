//! Seed 000: OrderService calls InventoryService, which takes at most 100 requests at once.
//!
//! ```text
//! cargo run --example inventory
//! ```
//!
//! InventoryService guards itself with a [`Bulkhead`] of 100 slots (the seed's
//! `active_requests >= max_concurrent_requests` counter) and rejects the rest at once with
//! `Rejected { retry_after }`. Each admitted check takes 50–200 ms. OrderService receives 1000
//! orders per second for 10 seconds, 1.25× what the service can take (100 slots / 125 ms mean =
//! 800 per second), and retries a rejected check up to 8 times, three ways:
//!
//! 1. **no backoff**: retry on the next millisecond (the seed's "time out and retry immediately");
//! 2. **backoff + jitter**: [`ExponentialBackoff`] (50 ms doubling to 2 s, full jitter), never
//!    sooner than the service's `retry_after`;
//! 3. **backoff + jitter + breaker**: the same, through a client-side [`CircuitBreaker`] (50% of
//!    the last 100 calls, open 1 s, 10 half-open calls), which fails fast while open and says
//!    when to come back.
//!
//! Everything runs on a [`VirtualTime`] clock, so the 10 virtual seconds take a fraction of a
//! real one and every figure is the same on every run (the generator is seeded).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::resilience::breaker::{CircuitBreaker, SlidingWindow};
use backflow::resilience::bulkhead::Bulkhead;
use backflow::resilience::retry::{ExponentialBackoff, ExponentialDelays, Jitter};
use backflow::resilience::SplitMix64;
use backflow::sched::{Scheduler, VirtualTime};

const CAPACITY: u64 = 100;
/// The spike: 2x the capacity for 2 s, then half of it for 8 s.
const PHASES: [(u64, u64); 2] = [(1600, 2), (400, 8)];
const SECONDS: u64 = 10;
/// The inventory database is down from 4 s to 5 s: admitted checks fail after 20 ms.
const OUTAGE: std::ops::Range<Duration> = Duration::from_secs(4)..Duration::from_secs(5);
const MAX_RETRIES: u64 = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    NoBackoff,
    Backoff,
    BackoffAndBreaker,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::NoBackoff => "no backoff (retry next ms)",
            Client::Backoff => "backoff + jitter",
            Client::BackoffAndBreaker => "backoff + jitter + breaker",
        }
    }
}

#[derive(Default, Clone)]
struct Stats {
    offered: u64,
    calls: u64,
    admitted: u64,
    rejected: u64,
    retried: u64,
    succeeded: u64,
    failed: u64,
    failed_fast: u64,
    errors: u64,
    /// Sum and count of in-flight samples (every 10 ms) while orders arrive, and the peak.
    in_flight_sum: u64,
    samples: u64,
    peak_calls_per_second: u64,
    calls_this_second: u64,
    breaker_opened: u64,
}

struct World {
    clock: VirtualTime,
    client: Client,
    service: Bulkhead,
    breaker: Option<CircuitBreaker>,
    backoff: ExponentialBackoff,
    rng: Mutex<SplitMix64>,
    stats: Mutex<Stats>,
}

/// One order and what is left of its retries.
struct Order {
    tries: u64,
    delays: ExponentialDelays,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One call from OrderService to InventoryService.
fn check_stock(world: &Arc<World>, order: Order) {
    let permit = match &world.breaker {
        Some(breaker) => match breaker.try_acquire() {
            Ok(permit) => Some(permit),
            Err(open) => {
                world.stats.lock().unwrap().failed_fast += 1;
                return retry_later(world, order, open.retry_after);
            }
        },
        None => None,
    };
    {
        let mut s = world.stats.lock().unwrap();
        s.calls += 1;
        s.calls_this_second += 1;
    }
    match world.service.try_enter() {
        Ok(slot) => {
            world.stats.lock().unwrap().admitted += 1;
            let now = world.clock.now().since_epoch();
            if OUTAGE.contains(&now) {
                // The database is down: the check fails after a short timeout.
                let w = world.clone();
                world.clock.schedule_after(ms(20), move || {
                    drop(slot);
                    if let Some(permit) = permit {
                        permit.failure();
                    }
                    w.stats.lock().unwrap().errors += 1;
                    retry_later(&w, order, None);
                });
                return;
            }
            let service_time = world.rng.lock().unwrap().duration_between(ms(50), ms(200));
            let w = world.clone();
            world.clock.schedule_after(service_time, move || {
                drop(slot);
                if let Some(permit) = permit {
                    permit.success();
                }
                w.stats.lock().unwrap().succeeded += 1;
            });
        }
        Err(overloaded) => {
            world.stats.lock().unwrap().rejected += 1;
            // "Slow down" is not a failure of the service: the breaker does not count it (the
            // permit is dropped unreported); the backoff and the hint deal with it.
            drop(permit);
            retry_later(world, order, overloaded.retry_after);
        }
    }
}

fn retry_later(world: &Arc<World>, mut order: Order, retry_after: Option<Duration>) {
    if order.tries == MAX_RETRIES {
        world.stats.lock().unwrap().failed += 1;
        return;
    }
    order.tries += 1;
    let delay = match world.client {
        Client::NoBackoff => ms(1),
        Client::Backoff | Client::BackoffAndBreaker => {
            let jittered = order.delays.next().expect("as many delays as retries");
            // SEMANTICS §5: min(cap, max(jittered, retry_after)).
            jittered
                .max(retry_after.unwrap_or_default())
                .min(world.backoff.max_delay())
        }
    };
    world.stats.lock().unwrap().retried += 1;
    let w = world.clone();
    world
        .clock
        .schedule_after(delay, move || check_stock(&w, order));
}

fn run(client: Client) -> Stats {
    let clock = VirtualTime::new();
    let breaker = (client == Client::BackoffAndBreaker).then(|| {
        CircuitBreaker::builder()
            .window(SlidingWindow::Count(100))
            .minimum_calls(100)
            .failure_rate(50.0)
            .open_duration(Duration::from_secs(1))
            .half_open_calls(10)
            .scheduler(clock.clone())
            .build()
    });
    let world = Arc::new(World {
        clock: clock.clone(),
        client,
        service: Bulkhead::builder(CAPACITY).scheduler(clock.clone()).build(),
        breaker: breaker.clone(),
        backoff: ExponentialBackoff::new(ms(100), Duration::from_secs(5))
            .jitter(Jitter::Full)
            .retries(MAX_RETRIES)
            .seed(2026),
        rng: Mutex::new(SplitMix64::new(17)),
        stats: Mutex::new(Stats::default()),
    });
    // Arrivals, evenly spaced within each phase.
    let mut start = Duration::ZERO;
    let mut arrivals = Vec::new();
    for (per_second, seconds) in PHASES {
        let gap = Duration::from_secs(1) / per_second as u32;
        for i in 0..per_second * seconds {
            arrivals.push(start + gap * i as u32);
        }
        start += Duration::from_secs(seconds);
    }
    for at in arrivals {
        let w = world.clone();
        clock.schedule_after(at, move || {
            w.stats.lock().unwrap().offered += 1;
            let order = Order {
                tries: 0,
                delays: w.backoff.clone().into_iter(),
            };
            check_stock(&w, order);
        });
    }
    // Samples: the service's in-flight calls every 10 ms, calls per second every second.
    let mut was_open = false;
    let mut t = Duration::ZERO;
    while clock.pending() > 0 {
        t += ms(10);
        clock.advance_to(backflow::sched::Instant::from_epoch(t));
        let mut s = world.stats.lock().unwrap();
        if t <= Duration::from_secs(SECONDS) {
            s.in_flight_sum += world.service.in_flight();
            s.samples += 1;
        }
        if t.as_millis() % 1000 == 0 {
            s.peak_calls_per_second = s.peak_calls_per_second.max(s.calls_this_second);
            s.calls_this_second = 0;
        }
        if let Some(b) = &breaker {
            let open = b.state() == backflow::resilience::breaker::BreakerState::Open;
            if open && !was_open {
                s.breaker_opened += 1;
            }
            was_open = open;
        }
    }
    let stats = world.stats.lock().unwrap().clone();
    stats
}

fn main() {
    println!(
        "InventoryService: {CAPACITY} concurrent, 50-200 ms per check (capacity ~800/s); \
         OrderService: 1600 orders/s for 2 s, then 400/s for 8 s; up to {MAX_RETRIES} retries"
    );
    println!();
    println!(
        "| client | offered | calls | calls / offered | peak calls/s | admitted | rejected | errors | retried | failed fast | succeeded | failed | mean in flight |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for client in [
        Client::NoBackoff,
        Client::Backoff,
        Client::BackoffAndBreaker,
    ] {
        let s = run(client);
        assert_eq!(s.succeeded + s.failed, s.offered, "every order ends");
        assert_eq!(
            s.admitted,
            s.succeeded + s.errors,
            "every admitted check ends"
        );
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            client.name(),
            s.offered,
            s.calls,
            s.calls as f64 / s.offered as f64,
            s.peak_calls_per_second,
            s.admitted,
            s.rejected,
            s.errors,
            s.retried,
            s.failed_fast,
            s.succeeded,
            s.failed,
            s.in_flight_sum as f64 / s.samples.max(1) as f64,
        );
        if client == Client::BackoffAndBreaker {
            println!("  (the breaker opened {} times)", s.breaker_opened);
        }
    }
}
