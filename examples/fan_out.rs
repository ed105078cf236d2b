//! Fan-out where one slow consumer does not stall the others.
//!
//! One source is broadcast to three consumers, each on its own thread: two fast ones and a slow
//! one (200 µs per item). Each consumer's subscriber only hands items to its thread, which
//! requests more as it works, so demand is the consumer's real pace.
//!
//! - Run 1: the slow consumer subscribes on a lossy lane (`Lane::DropOldest(16)`). It is left out
//!   of the hub's slowest-subscriber minimum: the fast consumers finish at full speed, and the
//!   slow one sees the items that are fresh when it asks, the rest evicted (and counted).
//! - Run 2: the same consumer subscribes losslessly. Now it sets the pace: the fast consumers
//!   wait for it, and nothing is dropped.
//!
//! `cargo run --release --example fan_out`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use backflow::metrics::StageMetrics;
use backflow::ops::Lane;
use backflow::prelude::*;

const ITEMS: u64 = 10_000;
const SLOW_WORK: Duration = Duration::from_micros(200);
const FAST_BATCH: u64 = 64;
const LANE: usize = 16;

/// Where a consumer's subscriber leaves items for the consumer's thread.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    ready: Condvar,
}

#[derive(Default)]
struct InboxState {
    items: VecDeque<u64>,
    done: bool,
    subscription: Option<SharedSubscription>,
}

/// The subscriber: hands every signal to the inbox; the consumer thread does the work and the
/// requesting.
struct Handoff(Arc<Inbox>);

impl Subscriber<u64> for Handoff {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.0.state.lock().unwrap().subscription = Some(subscription);
    }
    fn on_next(&mut self, item: u64) {
        self.0.state.lock().unwrap().items.push_back(item);
        self.0.ready.notify_one();
    }
    fn on_error(&mut self, error: Error) {
        eprintln!("consumer failed: {error}");
        self.on_complete();
    }
    fn on_complete(&mut self) {
        self.0.state.lock().unwrap().done = true;
        self.0.ready.notify_one();
    }
}

struct Report {
    name: &'static str,
    delivered: u64,
    finished_after: Duration,
}

/// Runs a consumer on this thread: requests `batch` at a time, does `work` per item, until the
/// stream ends.
fn consume(
    name: &'static str,
    inbox: Arc<Inbox>,
    batch: u64,
    work: fn(u64),
    start: Instant,
) -> Report {
    let subscription = inbox
        .state
        .lock()
        .unwrap()
        .subscription
        .clone()
        .expect("subscribed");
    let mut credit = 0;
    let mut delivered = 0;
    loop {
        if credit == 0 {
            // May deliver on this thread, into the inbox: no lock is held here.
            subscription.request(batch);
            credit = batch;
        }
        let next = {
            let mut state = inbox.state.lock().unwrap();
            loop {
                if let Some(item) = state.items.pop_front() {
                    break Some(item);
                }
                if state.done {
                    break None;
                }
                state = inbox.ready.wait(state).unwrap();
            }
        };
        let Some(item) = next else { break };
        credit -= 1;
        delivered += 1;
        work(item);
    }
    Report {
        name,
        delivered,
        finished_after: start.elapsed(),
    }
}

fn fast_work(item: u64) {
    std::hint::black_box(item.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
}

fn slow_work(item: u64) {
    std::hint::black_box(item);
    thread::sleep(SLOW_WORK);
}

fn run(title: &str, slow_lane: Lane) {
    println!("\n== {title} ==");
    let hub = backflow::range(0..ITEMS).broadcast();
    let dropped = Arc::new(AtomicU64::new(0));
    let lane_metrics = Arc::new(StageMetrics::new("slow lane", LANE as u64));
    let d = dropped.clone();
    let slow_publisher = hub
        .lane(slow_lane)
        .on_drop(move |_, _| {
            d.fetch_add(1, Ordering::Relaxed);
        })
        .metrics(lane_metrics.clone());

    let inboxes: Vec<Arc<Inbox>> = (0..3).map(|_| Arc::default()).collect();
    hub.clone().subscribe(Handoff(inboxes[0].clone()));
    hub.clone().subscribe(Handoff(inboxes[1].clone()));
    slow_publisher.subscribe(Handoff(inboxes[2].clone()));

    let start = Instant::now();
    hub.connect(); // fills the hub's window; from here on the consumers' requests drive it
    let consumers = [
        ("fast-1", FAST_BATCH, fast_work as fn(u64)),
        ("fast-2", FAST_BATCH, fast_work),
        // The slow consumer asks for one item at a time, so it always gets the freshest one
        // its lane holds.
        ("slow", 1, slow_work),
    ];
    let threads: Vec<_> = consumers
        .into_iter()
        .zip(inboxes)
        .map(|((name, batch, work), inbox)| {
            thread::spawn(move || consume(name, inbox, batch, work, start))
        })
        .collect();
    let reports: Vec<Report> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let wall = start.elapsed();

    println!(
        "{:<10} {:>10} {:>10} {:>16}",
        "consumer", "delivered", "dropped", "finished after"
    );
    for report in &reports {
        let dropped = if report.name == "slow" {
            dropped.load(Ordering::Relaxed)
        } else {
            0
        };
        println!(
            "{:<10} {:>10} {:>10} {:>13.1} ms",
            report.name,
            report.delivered,
            dropped,
            report.finished_after.as_secs_f64() * 1e3
        );
    }
    let lane = lane_metrics.snapshot();
    println!(
        "slow lane metrics: received {}, emitted {}, evicted {}",
        lane.received,
        lane.emitted,
        lane.dropped.get(backflow::DropReason::Evicted)
    );
    println!("wall time: {:.1} ms", wall.as_secs_f64() * 1e3);
    for report in &reports {
        assert_eq!(
            report.delivered
                + if report.name == "slow" {
                    dropped.load(Ordering::Relaxed)
                } else {
                    0
                },
            ITEMS,
            "every item is delivered or counted as dropped"
        );
    }
}

fn main() {
    println!(
        "one source of {ITEMS} items, broadcast to two fast consumers and a slow one ({} µs per item)",
        SLOW_WORK.as_micros()
    );
    run(
        &format!("slow consumer on a lossy lane (Lane::DropOldest({LANE}))"),
        Lane::DropOldest(LANE),
    );
    run("slow consumer lossless (it sets the pace)", Lane::Lossless);
}
