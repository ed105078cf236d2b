//! Group `overflow` (PERF.md): a fast producer thread against a slower consumer thread, through a
//! lossy stage of capacity 1024, 1M `u64` per run. The producer emits as fast as it can (one item
//! per call); the consumer does a little work per item, so the stage overflows and must drop.
//!
//! Ours: `backflow_drop_oldest`, `backflow_drop_newest` — a producer thread calling `on_next`, the
//! stage, and a consumer thread that requests in batches of 8 and takes the items through a
//! 16-slot hand-off ring (the downstream's `on_next` may run on either thread; the hand-off keeps
//! the consumer's work on the consumer's thread). Peer: `crossbeam_force_push` — crossbeam-queue's
//! `ArrayQueue::force_push` (drop-oldest) with the consumer popping directly. (`backflow_sample` is
//! added by the `sample` operator's branch.)
//!
//! With `BACKFLOW_BENCH_LOAD=2` two busy threads run alongside (`benches/support`).
//!
//! Criterion times a whole run (all items pushed, everything held delivered). After the group a
//! summary prints what matters for a lossy stage, as ratios against crossbeam measured in the same
//! run: items delivered per second and the fraction dropped.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use backflow::prelude::*;
use backflow::queue::spsc;
use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;

mod support;

const ITEMS: u64 = 1_000_000;
const CAPACITY: usize = 1024;
/// The consumer's work per item (spin iterations): makes it slower than the producer.
const WORK: u32 = 48;
/// The downstream's batch: it requests `HANDOFF / 2` each time it has worked off that many.
const HANDOFF: usize = 16;

#[inline]
fn work() {
    for i in 0..WORK {
        black_box(i);
    }
}

/// A side that found nothing to do: spin a little, then let the other thread run.
#[inline]
fn wait(tries: &mut u32) {
    *tries += 1;
    if *tries < 64 {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// What one run delivered, and how long it took.
#[derive(Clone, Copy)]
struct Outcome {
    delivered: u64,
    elapsed: Duration,
}

fn crossbeam_force_push() -> Outcome {
    let queue = ArrayQueue::new(CAPACITY);
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let delivered = thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..ITEMS {
                black_box(queue.force_push(i));
            }
            done.store(true, Ordering::Release);
        });
        let (mut delivered, mut last, mut tries) = (0u64, None, 0);
        loop {
            match queue.pop() {
                Some(x) => {
                    assert!(last < Some(x), "out of order");
                    last = Some(x);
                    work();
                    delivered += 1;
                    tries = 0;
                }
                None if done.load(Ordering::Acquire) && queue.is_empty() => break delivered,
                None => wait(&mut tries),
            }
        }
    });
    Outcome {
        delivered,
        elapsed: start.elapsed(),
    }
}

/// A hot source: on subscribe, a producer thread emits `0..ITEMS` with `on_next` as fast as the
/// subscriber takes them (lossy stages request unbounded, so it never waits), then completes.
struct Firehose {
    producer: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Publisher for Firehose {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let handle = thread::spawn(move || {
            subscriber.on_subscribe(backflow::NoopSubscription::shared());
            for i in 0..ITEMS {
                subscriber.on_next(i);
            }
            subscriber.on_complete();
        });
        *self.producer.lock().unwrap() = Some(handle);
    }
}

/// The downstream: hands items to the consumer thread through a small ring.
struct Handoff {
    ring: spsc::Producer<u64>,
    subscription: Arc<Mutex<Option<SharedSubscription>>>,
    done: Arc<AtomicBool>,
}

impl Subscriber<u64> for Handoff {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(HANDOFF as u64);
        *self.subscription.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, x: u64) {
        self.ring.push(x).expect("never more than requested");
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {
        self.done.store(true, Ordering::Release);
    }
}

fn backflow<P>(stage: impl FnOnce(Flux<Arc<Firehose>>) -> Flux<P>) -> Outcome
where
    P: Publisher<Item = u64>,
{
    let firehose = Arc::new(Firehose {
        producer: Mutex::new(None),
    });
    let (ring, mut out) = spsc::channel(HANDOFF);
    let subscription = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    stage(Flux::new(firehose.clone())).subscribe(Handoff {
        ring,
        subscription: subscription.clone(),
        done: done.clone(),
    });
    let handle = loop {
        if let Some(s) = subscription.lock().unwrap().clone() {
            break s;
        }
        thread::yield_now();
    };
    let (mut delivered, mut last, mut since_request, mut tries) = (0u64, None, 0, 0);
    loop {
        match out.pop() {
            Some(x) => {
                assert!(last < Some(x), "out of order");
                last = Some(x);
                work();
                delivered += 1;
                tries = 0;
                since_request += 1;
                if since_request == HANDOFF / 2 {
                    since_request = 0;
                    handle.request((HANDOFF / 2) as u64);
                }
            }
            None if done.load(Ordering::Acquire) && out.is_empty() => break,
            None => wait(&mut tries),
        }
    }
    let elapsed = start.elapsed();
    let producer = firehose.producer.lock().unwrap().take();
    producer.expect("subscribed").join().unwrap();
    Outcome { delivered, elapsed }
}

fn backflow_drop_oldest() -> Outcome {
    backflow(|f| f.drop_oldest(CAPACITY))
}

fn backflow_drop_newest() -> Outcome {
    backflow(|f| f.drop_newest(CAPACITY))
}

/// The consumer sees the latest item once per tick; everything in between is overwritten.
fn backflow_sample() -> Outcome {
    backflow(|f| f.sample(std::time::Duration::from_micros(20)))
}

type Run = fn() -> Outcome;

const PEERS: [(&str, Run); 4] = [
    ("backflow_drop_oldest", backflow_drop_oldest),
    ("backflow_drop_newest", backflow_drop_newest),
    ("backflow_sample", backflow_sample),
    ("crossbeam_force_push", crossbeam_force_push),
];

fn overflow(c: &mut Criterion) {
    let mut group = c.benchmark_group("overflow");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(10);
    for (id, run) in PEERS {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run().elapsed).sum())
        });
    }
    group.finish();
    summary();
}

/// Delivered/s and drop rate of each peer (median of 3 runs), and the ratios against crossbeam.
fn summary() {
    let measure = |run: Run| {
        let mut outcomes: Vec<Outcome> = (0..3).map(|_| run()).collect();
        outcomes.sort_by(|a, b| {
            let rate = |o: &Outcome| o.delivered as f64 / o.elapsed.as_secs_f64();
            rate(a).total_cmp(&rate(b))
        });
        outcomes[1]
    };
    let results: Vec<(&str, Outcome)> = PEERS.iter().map(|&(id, run)| (id, measure(run))).collect();
    let rate = |o: &Outcome| o.delivered as f64 / o.elapsed.as_secs_f64();
    let dropped = |o: &Outcome| 1.0 - o.delivered as f64 / ITEMS as f64;
    let base = results
        .iter()
        .find(|(id, _)| *id == "crossbeam_force_push")
        .unwrap()
        .1;
    println!();
    println!(
        "overflow summary: {ITEMS} items, capacity {CAPACITY}, consumer work {WORK} spins/item (median of 3)"
    );
    println!(
        "{:<24} {:>14} {:>10} {:>18} {:>16}",
        "peer", "delivered/s", "dropped", "delivered/s ratio", "throughput ratio"
    );
    for (id, o) in &results {
        println!(
            "{:<24} {:>14.0} {:>9.1}% {:>17.2}x {:>15.2}x",
            id,
            rate(o),
            100.0 * dropped(o),
            rate(o) / rate(&base),
            base.elapsed.as_secs_f64() / o.elapsed.as_secs_f64(),
        );
    }
}

criterion_group!(benches, overflow);

fn main() {
    support::main(&[benches]);
}
