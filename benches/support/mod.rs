//! What several benches share (PERF.md): the known background load, the Disruptor peer, and
//! criterion's `main` with the load around it. Each bench that uses it says `mod support;`.
//!
//! # Load
//!
//! With `BACKFLOW_BENCH_LOAD=N` in the environment, [`main`] starts `N` busy-looping threads before
//! the first group and stops them after the last: the "loaded" condition of PERF.md, which
//! `scripts/bench-report --loaded` sets (`N = 2`: both cores of the reference machine busy). Without
//! it (or with `0`) nothing runs in the background.
#![allow(dead_code)] // each bench uses what it needs

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use disruptor::Producer as _;

pub mod paired;

/// The environment variable naming how many busy threads to run alongside the bench.
pub const LOAD_VAR: &str = "BACKFLOW_BENCH_LOAD";

/// Busy-looping background threads, stopped and joined on drop.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl Load {
    /// Starts `threads` busy loops (none for 0).
    pub fn start(threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|i| {
                let stop = stop.clone();
                thread::Builder::new()
                    .name(format!("bench-load-{i}"))
                    .spawn(move || {
                        // Integer work the compiler cannot drop, with a flag check per round.
                        let mut x = i as u64 + 1;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..1024 {
                                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                            }
                            spin_loop();
                        }
                        x
                    })
                    .expect("spawn a load thread")
            })
            .collect();
        Load { stop, threads }
    }

    /// The load [`LOAD_VAR`] asks for (none when unset, empty or 0).
    pub fn from_env() -> Load {
        let threads = match std::env::var(LOAD_VAR) {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{LOAD_VAR}={v:?}: expected a thread count")),
            _ => 0,
        };
        if threads > 0 {
            eprintln!("bench support: {threads} busy-looping background threads ({LOAD_VAR})");
        }
        Load::start(threads)
    }

    /// How many background threads run.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            black_box(t.join().expect("a load thread panicked"));
        }
    }
}

/// criterion's `main` (what `criterion_main!` expands to) with the [`Load`] from the environment
/// running around every group: `fn main() { support::main(&[benches]) }`.
pub fn main(groups: &[fn()]) {
    let _load = Load::from_env();
    for group in groups {
        group();
    }
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

/// The Disruptor peer (crates.io `disruptor` 4.x): this thread publishes `items` `u64`s, one
/// `publish` each, into a single-producer ring of `capacity` slots; one consumer thread, managed by
/// the Disruptor, sums them with `wait`'s strategy when it finds nothing new. Returns the sum.
///
/// Dropping the producer waits until the consumer has processed every published event and joins
/// its thread, so the run ends when the last item is consumed, as every other peer's does.
pub fn disruptor_sum<W>(items: u64, capacity: usize, wait: W) -> u64
where
    W: disruptor::wait_strategies::WaitStrategy + 'static,
{
    assert!(items > 0);
    let result = Arc::new(AtomicU64::new(0));
    let out = result.clone();
    let last = (items - 1) as disruptor::Sequence;
    let mut sum = 0u64;
    let consume = move |event: &u64, sequence: disruptor::Sequence, _end_of_batch: bool| {
        sum = sum.wrapping_add(*event);
        if sequence == last {
            out.store(sum, Ordering::Release);
        }
    };
    let mut producer = disruptor::build_single_producer(capacity, || 0u64, wait)
        .handle_events_with(consume)
        .build();
    for i in 0..items {
        producer.publish(|slot| *slot = i);
    }
    drop(producer);
    result.load(Ordering::Acquire)
}

/// The Disruptor's busy-spinning consumer (`BusySpinWithSpinLoopHint`).
pub fn disruptor_busy_spin(items: u64, capacity: usize) -> u64 {
    disruptor_sum(
        items,
        capacity,
        disruptor::wait_strategies::BusySpinWithSpinLoopHint,
    )
}

/// The Disruptor's sleeping consumer (`Sleep`, 1 µs asked per wait): its only non-spinning
/// wait strategy.
pub fn disruptor_sleep(items: u64, capacity: usize) -> u64 {
    disruptor_sum(
        items,
        capacity,
        disruptor::wait_strategies::Sleep::new(Duration::from_micros(1)),
    )
}

/// The Disruptor's multi-producer ring (`build_multi_producer`: producers claim sequences with a
/// read-modify-write, as every multi-producer hand-off must), `producers` threads sharing
/// `items` `u64`s, one `publish` each, and one consumer thread summing with `wait`'s strategy.
/// The like-for-like peer of an `Emitter`, which is multi-producer by type (`Clone + Sync`).
/// Returns the sum.
pub fn disruptor_multi_sum<W>(items: u64, capacity: usize, producers: u64, wait: W) -> u64
where
    W: disruptor::wait_strategies::WaitStrategy + 'static,
{
    assert!(items > 0 && producers > 0);
    let result = Arc::new(AtomicU64::new(0));
    let out = result.clone();
    let mut seen = 0u64;
    let mut sum = 0u64;
    let consume = move |event: &u64, _sequence: disruptor::Sequence, _end_of_batch: bool| {
        sum = sum.wrapping_add(*event);
        seen += 1;
        if seen == items {
            out.store(sum, Ordering::Release);
        }
    };
    let producer = disruptor::build_multi_producer(capacity, || 0u64, wait)
        .handle_events_with(consume)
        .build();
    thread::scope(|scope| {
        for p in 0..producers {
            let mut producer = producer.clone();
            scope.spawn(move || {
                for i in (p..items).step_by(producers as usize) {
                    producer.publish(|slot| *slot = i);
                }
            });
        }
    });
    // The last handle: dropping it waits for the consumer to process every event.
    drop(producer);
    result.load(Ordering::Acquire)
}

/// [`disruptor_multi_sum`] with the busy-spinning consumer (`BusySpinWithSpinLoopHint`).
pub fn disruptor_multi_busy_spin(items: u64, capacity: usize, producers: u64) -> u64 {
    disruptor_multi_sum(
        items,
        capacity,
        producers,
        disruptor::wait_strategies::BusySpinWithSpinLoopHint,
    )
}
