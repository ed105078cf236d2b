//! Peak memory of a fast producer against a slow consumer through each holding stage, for a small
//! and a huge number of items (PERF.md: the ratio must stay ≤ 1.1 — memory is bounded by the
//! stage's capacity, not by how many items flow).
//!
//! ```sh
//! cargo run --release --example memory_bound                        # 1M vs 100M, every stage
//! cargo run --release --example memory_bound -- compare 1000000 10000000 drop_oldest
//! cargo run --release --example memory_bound -- run buffer 1000000  # one child run
//! ```
//!
//! Each measurement runs in a child process of its own (this example re-executes itself with
//! `run <stage> <n>`), which reads its peak resident set (`VmHWM` in `/proc/self/status`) at the
//! end, so runs do not inherit each other's high-water mark. Linux only.
//!
//! The shape of a run: a producer thread emits `0..n` (runs of up to 256 items through
//! `on_next_iter`, as fast as the stage's demand allows) into the stage, capacity 1024; a consumer
//! thread takes items through a 64-slot hand-off, requesting 32 at a time, and does a little work on
//! each, so the producer is the faster side. `buffer` must deliver every item in order; the lossy
//! stages deliver a subsequence in order.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use backflow::prelude::*;
use backflow::queue::spsc;

const CAPACITY: usize = 1024;
const HANDOFF: usize = 64;
const STAGES: [&str; 4] = ["buffer", "drop_oldest", "drop_newest", "latest"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => {
            let stage = args.get(1).expect("run <stage> <n>");
            let n = args
                .get(2)
                .and_then(|n| n.parse().ok())
                .expect("run <stage> <n>");
            child(stage, n);
        }
        Some("compare") => {
            let small = args
                .get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000);
            let large = args
                .get(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(100_000_000);
            let stages: Vec<&str> = if args.len() > 3 {
                args[3..].iter().map(String::as_str).collect()
            } else {
                STAGES.to_vec()
            };
            driver(small, large, &stages);
        }
        None => driver(1_000_000, 100_000_000, &STAGES),
        Some(other) => panic!(
            "unknown command {other}: use `run <stage> <n>` or `compare [small large [stages..]]`"
        ),
    }
}

/// One line of a child's report.
struct Report {
    peak_kib: u64,
    delivered: u64,
    secs: f64,
}

fn driver(small: u64, large: u64, stages: &[&str]) {
    let exe = std::env::current_exe().expect("own path");
    println!("peak RSS (VmHWM) of a run of n items, capacity {CAPACITY}; ratio = large / small (target ≤ 1.1)");
    println!(
        "{:<12} {:>14} {:>14} {:>7} {:>14} {:>10}",
        "stage",
        format!("{small} (KiB)"),
        format!("{large} (KiB)"),
        "ratio",
        "delivered",
        "secs"
    );
    let mut worst: f64 = 0.0;
    for stage in stages {
        let measure = |n: u64| -> Report {
            let out = Command::new(&exe)
                .args(["run", stage, &n.to_string()])
                .output()
                .expect("child run");
            assert!(
                out.status.success(),
                "{stage} {n}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| -> f64 {
                text.split_whitespace()
                    .skip_while(|w| *w != name)
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {name} in {text:?}"))
            };
            Report {
                peak_kib: field("peak_kib") as u64,
                delivered: field("delivered") as u64,
                secs: field("secs"),
            }
        };
        let a = measure(small);
        let b = measure(large);
        let ratio = b.peak_kib as f64 / a.peak_kib as f64;
        worst = worst.max(ratio);
        println!(
            "{:<12} {:>14} {:>14} {:>7.3} {:>14} {:>10.2}",
            stage, a.peak_kib, b.peak_kib, ratio, b.delivered, b.secs
        );
    }
    println!(
        "worst ratio {worst:.3}: {}",
        if worst <= 1.1 {
            "bounded (≤ 1.1)"
        } else {
            "NOT bounded"
        }
    );
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn child(stage: &str, n: u64) {
    let start = Instant::now();
    let delivered = match stage {
        "buffer" => run(n, true, |f| f.buffer(CAPACITY)),
        "drop_oldest" => run(n, false, |f| f.drop_oldest(CAPACITY)),
        "drop_newest" => run(n, false, |f| f.drop_newest(CAPACITY)),
        "latest" => run(n, false, |f| f.latest()),
        other => panic!("unknown stage {other}; one of {STAGES:?}"),
    };
    println!(
        "peak_kib {} delivered {delivered} secs {:.3}",
        peak_kib(),
        start.elapsed().as_secs_f64()
    );
}

/// A hot source: a producer thread emits `0..n` in runs, never more than requested.
struct Firehose {
    n: u64,
    producer: Mutex<Option<thread::JoinHandle<()>>>,
}

#[derive(Default)]
struct Credit {
    requested: AtomicU64,
    cancelled: AtomicBool,
}

struct CreditSubscription(Arc<Credit>);

impl Subscription for CreditSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .0
            .requested
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                Some(r.saturating_add(n))
            });
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
    }
}

impl Publisher for Firehose {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let n = self.n;
        let handle = thread::spawn(move || {
            let credit = Arc::new(Credit::default());
            subscriber.on_subscribe(Arc::new(CreditSubscription(credit.clone())));
            let mut next = 0u64;
            while next < n && !credit.cancelled.load(Ordering::Acquire) {
                let outstanding = credit
                    .requested
                    .load(Ordering::Acquire)
                    .saturating_sub(next);
                if outstanding == 0 {
                    std::hint::spin_loop();
                    thread::yield_now();
                    continue;
                }
                let run = outstanding.min(256).min(n - next);
                next += subscriber.on_next_iter(next..next + run);
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

/// Runs `n` items through `stage`; returns how many the consumer got (checking their order).
fn run<P>(n: u64, lossless: bool, stage: impl FnOnce(Flux<Arc<Firehose>>) -> Flux<P>) -> u64
where
    P: Publisher<Item = u64>,
{
    let firehose = Arc::new(Firehose {
        n,
        producer: Mutex::new(None),
    });
    let (ring, mut out) = spsc::channel(HANDOFF);
    let subscription = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
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
    let (mut delivered, mut next_expected, mut since_request) = (0u64, 0u64, 0);
    loop {
        match out.pop() {
            Some(x) => {
                if lossless {
                    assert_eq!(x, next_expected, "buffer lost or reordered an item");
                } else {
                    assert!(x >= next_expected, "out of order");
                }
                next_expected = x + 1;
                for i in 0..4u32 {
                    std::hint::black_box(i);
                }
                delivered += 1;
                since_request += 1;
                if since_request == HANDOFF / 2 {
                    since_request = 0;
                    handle.request((HANDOFF / 2) as u64);
                }
            }
            None if done.load(Ordering::Acquire) && out.is_empty() => break,
            None => std::hint::spin_loop(),
        }
    }
    let producer = firehose.producer.lock().unwrap().take();
    producer.expect("subscribed").join().unwrap();
    if lossless {
        assert_eq!(delivered, n, "buffer delivers everything");
    }
    delivered
}
