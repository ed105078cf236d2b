//! A simulated service for adaptive concurrency limits, on virtual time: one harness for the tests
//! (`tests/resilience_adaptive.rs`) and the example (`examples/adaptive.rs`).
//!
//! The service has `C` workers and a mean service time `S`; calls arrive as a Poisson process at
//! `ρ·C/S` (ρ = offered load as a multiple of capacity). Each call's service time is Erlang
//! (shape `k`) with mean `S`, stretched by the service's contention when it starts: `n` calls in
//! the service (itself included) cost `1 + slope·(n − C)/C` times as much past `C`, and past the
//! cliff at `1.5·C` the service thrashes (×10). A client gives up after `timeout`: such a call is a
//! drop (`Permit::dropped`) and counts against goodput. Everything is driven by a seeded PRNG and a
//! discrete-event queue, and the limiter reads a `VirtualTime` clock the simulation moves: the same
//! seed gives the same trace.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use backflow::resilience::limit::{Limit, Limiter, Permit};
use backflow::sched::{Instant, VirtualTime};

pub mod limits;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Workers (the true capacity), before `capacity_step`.
    pub capacity: usize,
    /// `(at, new capacity)`: the capacity changes once, at `at`.
    pub capacity_step: Option<(Duration, usize)>,
    /// Mean service time.
    pub service: Duration,
    /// Erlang shape of the service time (1 = exponential).
    pub erlang_k: u32,
    /// Offered load, as a multiple of capacity / service time.
    pub load: f64,
    /// Latency growth past capacity: `1 + slope·(n − C)/C`.
    pub slope: f64,
    /// The service-time multiplier past the cliff at `1.5·C` (thrashing).
    pub cliff: f64,
    /// A client gives up after this long: a drop.
    pub timeout: Duration,
    /// How long to run.
    pub duration: Duration,
    /// Seeds every random draw.
    pub seed: u64,
}

impl Scenario {
    /// C = 50, S = 10 ms, Erlang-32 (a steady service: CV 0.18), processor sharing past C
    /// (slope 1: throughput stays C/S), thrashing ×10 past 1.5·C, client timeout 5·S, 4 s of
    /// virtual time.
    pub fn new(load: f64, seed: u64) -> Scenario {
        Scenario {
            capacity: 50,
            capacity_step: None,
            service: Duration::from_millis(10),
            erlang_k: 32,
            load,
            slope: 1.0,
            cliff: 10.0,
            timeout: Duration::from_millis(50),
            duration: Duration::from_secs(4),
            seed,
        }
    }

    /// Calls per second the service completes at its capacity: `C / S`.
    pub fn capacity_rate(&self) -> f64 {
        self.capacity as f64 / self.service.as_secs_f64()
    }

    /// The virtual time by which `n` calls complete at capacity.
    pub fn time_for(&self, completions: usize) -> Duration {
        Duration::from_secs_f64(completions as f64 / self.capacity_rate())
    }

    /// Capacity `C` at virtual time `t`.
    pub fn capacity_at(&self, t: Duration) -> usize {
        match self.capacity_step {
            Some((at, c)) if t >= at => c,
            _ => self.capacity,
        }
    }

    fn arrival_rate_per_sec(&self) -> f64 {
        // Offered load is relative to the initial capacity: a capacity step leaves arrivals alone.
        self.load * self.capacity as f64 / self.service.as_secs_f64()
    }

    fn stretch(&self, n: usize, t: Duration) -> f64 {
        let c = self.capacity_at(t) as f64;
        let n = n as f64;
        if n <= c {
            1.0
        } else if n <= 1.5 * c {
            1.0 + self.slope * (n - c) / c
        } else {
            self.cliff
        }
    }
}

/// What happened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// `(virtual time, limit)` after every completion, and at the start.
    pub limits: Vec<(Duration, usize)>,
    /// Calls offered.
    pub offered: u64,
    /// Calls the limiter refused.
    pub rejected: u64,
    /// Calls that completed within the client timeout.
    pub succeeded: u64,
    /// Calls the client gave up on.
    pub timed_out: u64,
    /// `(completion time, latency)` of every admitted call that succeeded.
    pub latencies: Vec<(Duration, Duration)>,
}

impl Trace {
    /// Successful calls per second over `[from, to)`.
    pub fn goodput(&self, from: Duration, to: Duration) -> f64 {
        let n = self
            .latencies
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .count();
        n as f64 / (to - from).as_secs_f64()
    }

    /// The `q`-quantile of the latencies of calls that completed in `[from, to)`.
    pub fn latency_quantile(&self, q: f64, from: Duration, to: Duration) -> Duration {
        let mut l: Vec<Duration> = self
            .latencies
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, l)| *l)
            .collect();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l.sort();
        l[((l.len() - 1) as f64 * q).round() as usize]
    }

    /// The time-weighted mean of the limit over `[from, to)`.
    pub fn mean_limit(&self, from: Duration, to: Duration) -> f64 {
        let mut total = 0.0;
        for (i, &(t, limit)) in self.limits.iter().enumerate() {
            let end = self.limits.get(i + 1).map_or(to, |&(next, _)| next).min(to);
            let start = t.max(from);
            if end > start {
                total += limit as f64 * (end - start).as_secs_f64();
            }
        }
        total / (to - from).as_secs_f64()
    }

    /// The lowest and highest limit from the `after`-th completion on.
    pub fn limit_range_after(&self, after: usize) -> (usize, usize) {
        let tail = &self.limits[(after + 1).min(self.limits.len() - 1)..];
        let low = tail.iter().map(|&(_, l)| l).min().unwrap_or(0);
        let high = tail.iter().map(|&(_, l)| l).max().unwrap_or(0);
        (low, high)
    }

    /// The time of the first completion at or after `at` from which the limit stays within
    /// `[low, high]` until the end; `None` if it never settles there.
    pub fn settled_at(&self, at: Duration, low: usize, high: usize) -> Option<Duration> {
        let mut since = None;
        for &(t, limit) in self.limits.iter().filter(|(t, _)| *t >= at) {
            if (low..=high).contains(&limit) {
                since.get_or_insert(t);
            } else {
                since = None;
            }
        }
        since
    }
}

/// xorshift64*: the simulation's only source of randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in `(0, 1]`.
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }

    pub fn erlang(&mut self, k: u32, mean: f64) -> f64 {
        (0..k).map(|_| self.exponential(mean / k as f64)).sum()
    }
}

enum Event {
    Arrival,
    /// The client hears back, or gives up at its timeout (`id` into the call table).
    Reply(usize),
    /// The service finishes a call and frees its worker.
    Done,
}

struct Call {
    permit: Option<Permit>,
    started: Duration,
}

/// Runs `scenario` with `limit` protecting the service, or unprotected when `limit` is `None`.
pub fn run(scenario: &Scenario, limit: Option<Box<dyn Limit>>) -> Trace {
    let clock = VirtualTime::new();
    let limiter = limit.map(|l| Limiter::with_clock(l, clock.clone()));
    let mut rng = Rng::new(scenario.seed);
    let mut trace = Trace::default();
    let mut events: BinaryHeap<Reverse<(Duration, u64, usize)>> = BinaryHeap::new();
    let mut kinds: Vec<Option<Event>> = Vec::new();
    let mut calls: Vec<Option<Call>> = Vec::new();
    let mut in_service = 0usize;
    let mut seq = 0u64;
    let push =
        |events: &mut BinaryHeap<_>, kinds: &mut Vec<Option<Event>>, seq: &mut u64, at, kind| {
            kinds.push(Some(kind));
            *seq += 1;
            events.push(Reverse((at, *seq, kinds.len() - 1)));
        };
    let rate = scenario.arrival_rate_per_sec();
    let first = Duration::from_secs_f64(rng.exponential(1.0 / rate));
    push(&mut events, &mut kinds, &mut seq, first, Event::Arrival);
    if let Some(l) = &limiter {
        trace.limits.push((Duration::ZERO, l.limit()));
    }
    while let Some(Reverse((now, _, index))) = events.pop() {
        if now > scenario.duration {
            break;
        }
        clock.advance_to(Instant::EPOCH + now);
        match kinds[index].take().expect("each event runs once") {
            Event::Arrival => {
                trace.offered += 1;
                let next = now + Duration::from_secs_f64(rng.exponential(1.0 / rate));
                push(&mut events, &mut kinds, &mut seq, next, Event::Arrival);
                let permit = match &limiter {
                    Some(l) => match l.try_acquire() {
                        Ok(p) => Some(p),
                        Err(_) => {
                            trace.rejected += 1;
                            continue;
                        }
                    },
                    None => None,
                };
                in_service += 1;
                let base = rng.erlang(scenario.erlang_k, scenario.service.as_secs_f64());
                let took = Duration::from_secs_f64(base * scenario.stretch(in_service, now));
                calls.push(Some(Call {
                    permit,
                    started: now,
                }));
                let id = calls.len() - 1;
                // The client stops waiting at its timeout; the service holds the worker until done.
                let reply = now + took.min(scenario.timeout + Duration::from_nanos(1));
                push(&mut events, &mut kinds, &mut seq, reply, Event::Reply(id));
                push(&mut events, &mut kinds, &mut seq, now + took, Event::Done);
            }
            Event::Done => in_service -= 1,
            Event::Reply(id) => {
                let call = calls[id].take().expect("each call ends once");
                let latency = now - call.started;
                if latency <= scenario.timeout {
                    trace.succeeded += 1;
                    trace.latencies.push((now, latency));
                    if let Some(p) = call.permit {
                        p.success();
                    }
                } else {
                    trace.timed_out += 1;
                    if let Some(p) = call.permit {
                        p.dropped();
                    }
                }
                if let Some(l) = &limiter {
                    trace.limits.push((now, l.limit()));
                }
            }
        }
    }
    trace
}
