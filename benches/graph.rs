//! Group `graph`: fan-in across threads. Four producer threads, 2.5M `u64` each (10M in all),
//! merged into one consumer that sums them.
//!
//! - `backflow_merge4`: `backflow::merge` over four inputs, each a hot publisher whose items come
//!   from its own producer thread (a hand-made, Emitter-like source: `on_next` item by item
//!   against the demand the merge grants, parking when there is none). The merge's default
//!   prefetch (256) bounds each input; the sink requests unbounded. The drain runs on whichever
//!   thread signals it (usually a producer), the sum lands in the blocking `fold` on the bench
//!   thread.
//! - `futures_select_all`: the same four threads, each sending into its own bounded
//!   `futures::channel::mpsc` channel (capacity 256, `SinkExt::send` under `block_on`); the
//!   consumer folds `futures::stream::select_all` of the receivers under `block_on`.
//!
//! `subscribe_on` / an `Emitter` were not in this tree when this was written, so the producer
//! thread is spawned by the hand-made publisher; it does what an emitter's producer would.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};

use backflow::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 2_500_000;
const TOTAL: u64 = PRODUCERS * PER_PRODUCER;
const CAPACITY: usize = 256;

/// A hot source: each subscription starts a producer thread that emits `items` against demand.
struct ProducerThread {
    items: std::ops::Range<u64>,
}

/// The producer's side of the demand hand-off: requests add credits and unpark it if it parked.
struct Credits {
    demand: AtomicU64,
    cancelled: AtomicBool,
    /// Set (SeqCst) by the producer before its last demand check before parking; a requester
    /// that adds demand (SeqCst) and then sees it set unparks the producer (no lost wake-up).
    parked: AtomicBool,
    producer: Mutex<Option<Thread>>,
}

impl Credits {
    fn wake(&self) {
        if self.parked.load(Ordering::SeqCst) {
            if let Some(t) = self.producer.lock().unwrap().as_ref() {
                t.unpark();
            }
        }
    }

    /// Waits until there is demand (or a cancel); returns the credits available.
    fn wait(&self) -> u64 {
        let mut spins = 0;
        loop {
            let d = self.demand.load(Ordering::SeqCst);
            if d > 0 || self.cancelled.load(Ordering::SeqCst) {
                return d;
            }
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            self.parked.store(true, Ordering::SeqCst);
            if self.demand.load(Ordering::SeqCst) == 0 && !self.cancelled.load(Ordering::SeqCst) {
                thread::park();
            }
            self.parked.store(false, Ordering::SeqCst);
        }
    }
}

struct CreditsHandle(Arc<Credits>);

impl Subscription for CreditsHandle {
    fn request(&self, n: u64) {
        let _ = self
            .0
            .demand
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_add(n))
            });
        self.0.wake();
    }

    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.wake();
    }
}

impl Publisher for ProducerThread {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let items = self.items.clone();
        let credits = Arc::new(Credits {
            demand: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            producer: Mutex::new(None),
        });
        thread::spawn(move || {
            *credits.producer.lock().unwrap() = Some(thread::current());
            subscriber.on_subscribe(Arc::new(CreditsHandle(credits.clone())));
            let mut next = items.start;
            while next < items.end {
                let granted = credits.wait();
                if credits.cancelled.load(Ordering::SeqCst) {
                    return;
                }
                let run = granted.min(items.end - next);
                for x in next..next + run {
                    subscriber.on_next(x);
                }
                next += run;
                credits.demand.fetch_sub(run, Ordering::SeqCst);
            }
            subscriber.on_complete();
        });
    }
}

fn backflow_merge4() -> u64 {
    let sources: Vec<ProducerThread> = (0..PRODUCERS)
        .map(|i| ProducerThread {
            items: i * PER_PRODUCER..(i + 1) * PER_PRODUCER,
        })
        .collect();
    backflow::merge(sources)
        .fold_with(Request::Unbounded, 0u64, |a, x| a.wrapping_add(x))
        .unwrap()
}

fn futures_select_all() -> u64 {
    use futures::{SinkExt, StreamExt};
    let mut receivers = Vec::new();
    let mut producers = Vec::new();
    for i in 0..PRODUCERS {
        let (mut tx, rx) = futures::channel::mpsc::channel::<u64>(CAPACITY);
        receivers.push(rx);
        producers.push(thread::spawn(move || {
            futures::executor::block_on(async move {
                for x in i * PER_PRODUCER..(i + 1) * PER_PRODUCER {
                    tx.send(x).await.unwrap();
                }
            })
        }));
    }
    let sum = futures::executor::block_on(
        futures::stream::select_all(receivers).fold(0u64, |a, x| async move { a.wrapping_add(x) }),
    );
    for p in producers {
        p.join().unwrap();
    }
    sum
}

fn graph(c: &mut Criterion) {
    let expected = (0..TOTAL).fold(0u64, |a, x| a.wrapping_add(x));
    assert_eq!(backflow_merge4(), expected);
    assert_eq!(futures_select_all(), expected);

    let mut group = c.benchmark_group("graph");
    group.throughput(Throughput::Elements(TOTAL));
    group.sample_size(10);
    group.bench_function("backflow_merge4", |b| b.iter(backflow_merge4));
    group.bench_function("futures_select_all", |b| b.iter(futures_select_all));
    group.finish();
}

criterion_group!(benches, graph);
criterion_main!(benches);
