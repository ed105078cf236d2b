//! The main demo: a producer twice as fast as its consumer, run through each backpressure strategy.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! cargo run --release --example producer_consumer -- --serve 127.0.0.1:9898
//! ```
//!
//! The scenario is the one every backpressure article starts from (../shared/seeds/002): a producer
//! at 1000 requests/s, a consumer at 500/s, a queue limit of 1000. Without backpressure the queue
//! grows by 500 items every second until memory runs out; with it, something gives: the producer
//! waits, is told to retry later, or items are dropped by a stated rule.
//!
//! Time runs 20x faster here (producer 20 000/s, consumer 10 000/s, limit 1000, one second per
//! strategy, so each run covers 20 s of the article's timeline). Each strategy prints a table, and
//! `target/producer_consumer.svg` (drawn with plotters) shows the buffered items over time of every
//! run, on one shared scale with the limit marked, and the p99 latency of each 50 ms interval.
//!
//! With `--serve ADDR` the demo keeps going, round after round, and serves the Prometheus text of
//! every stage's metrics at `http://ADDR/metrics` while the strategies run (it prints the bound
//! address first: port 0 picks a free one). Each stage keeps one `StageMetrics` for the whole
//! process, so its counters keep growing across rounds, as a long-running service's would.
//!
//! Every reading carries a 1 KiB payload and is counted while alive, so "peak memory" is what the
//! readings held at their peak, wherever they were: in a queue, a buffer, or being processed.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use backflow::metrics::{DropReason, MetricsSnapshot, Registry, StageMetrics};
use backflow::ops::Overflow;
use backflow::prelude::*;
use backflow::source::{Emitter, EmitterBuilder, EmitterSource};

/// Items the producer makes per second.
const PRODUCER_RATE: f64 = 20_000.0;
/// What one call into the consumer costs, whatever it carries (a request round trip, a commit).
const CALL_COST: Duration = Duration::from_micros(60);
/// What each item costs the consumer on top. One item per call: 100 us, 10 000 items/s.
const ITEM_COST: Duration = Duration::from_micros(40);
/// The queue limit of the scenario.
const LIMIT: usize = 1_000;
/// How long each strategy runs.
const RUN: Duration = Duration::from_secs(1);
/// The consumer's own window: it asks for this many signals and tops up by half as it goes.
const WINDOW: u64 = 32;
/// How often the buffered items are sampled for the chart.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// Bytes a reading holds.
const PAYLOAD: usize = 1024;
/// The latency chart's interval: one p99 per this much of the run.
const LATENCY_EVERY: Duration = Duration::from_millis(50);

// ---- the strategies: one small function each ----

/// A strategy: a name, what it does, and the function that runs it.
struct Strategy {
    name: &'static str,
    about: &'static str,
    run: fn(&Strategy) -> Outcome,
}

const STRATEGIES: &[Strategy] = &[
    Strategy {
        name: "no backpressure",
        about: "an unbounded std::sync::mpsc channel: every item is queued, the queue grows without bound",
        run: no_backpressure,
    },
    Strategy {
        name: "bounded buffer",
        about: "Emitter::emit on a 1000-item emitter: the producer waits for room (bounded buffer, blocking producer)",
        run: bounded_buffer,
    },
    Strategy {
        name: "reject",
        about: "Emitter::try_emit: a full emitter hands the item back at once with a retry-after hint (503 + Retry-After)",
        run: reject,
    },
    Strategy {
        name: "drop_oldest",
        about: "Overflow::DropOldest: a full emitter evicts its oldest item; the freshest 1000 are kept",
        run: drop_oldest,
    },
    Strategy {
        name: "drop_newest",
        about: "Overflow::DropNewest: a full emitter drops the incoming item; the held 1000 are kept",
        run: drop_newest,
    },
    Strategy {
        name: "buffer(1000)",
        about: "emitter + .buffer(1000): the operator holds 1000, requests only what it can hold; the producer waits (emit)",
        run: buffer_operator,
    },
    Strategy {
        name: "drop_oldest(1000)",
        about: "emitter + .drop_oldest(1000): the operator takes everything and evicts its oldest held item when full",
        run: drop_oldest_operator,
    },
    Strategy {
        name: "drop_newest(1000)",
        about: "emitter + .drop_newest(1000): the operator takes everything and refuses the incoming item when full",
        run: drop_newest_operator,
    },
    Strategy {
        name: "drop (shed)",
        about: "emitter + .drop(): items pass only while the consumer has demand, the rest are shed at once",
        run: shed,
    },
    Strategy {
        name: "sample",
        about: "emitter + .sample(1 ms): the consumer sees the latest reading once per millisecond; the rest are overwritten",
        run: sample,
    },
    Strategy {
        name: "throttle",
        about: "emitter + .throttle(9 000, 1 s): the consumer is fed at a steady 9 000/s; the producer waits (emit)",
        run: throttle,
    },
    Strategy {
        name: "batch (chunks)",
        about: "emitter + .chunks(50): the consumer pays its per-call cost once per 50 items and keeps up",
        run: batch,
    },
];

fn no_backpressure(strategy: &Strategy) -> Outcome {
    let (tx, rx) = mpsc::channel::<Reading>();
    let queued = Arc::new(AtomicU64::new(0));
    let sent = queued.clone();
    let taken = queued.clone();
    let trial = Trial::start(strategy, move || sent.load(Ordering::Relaxed) as usize);
    let consumer = trial.consume_channel(rx, taken);
    let producer = trial.produce(move |reading| {
        queued.fetch_add(1, Ordering::Relaxed);
        match tx.send(reading) {
            Ok(()) => Offer::Taken,
            Err(_) => Offer::Stop,
        }
    });
    trial.finish(producer, consumer, || {}, None)
}

fn bounded_buffer(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::Emit, plain)
}

fn reject(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::TryEmit, plain)
}

fn drop_oldest(strategy: &Strategy) -> Outcome {
    let builder = Emitter::builder(LIMIT).overflow(Overflow::DropOldest);
    through(strategy, builder, HandOver::Emit, plain)
}

fn drop_newest(strategy: &Strategy) -> Outcome {
    let builder = Emitter::builder(LIMIT).overflow(Overflow::DropNewest);
    through(strategy, builder, HandOver::Emit, plain)
}

fn buffer_operator(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(16), HandOver::Emit, |flux| {
        let metrics = stage_metrics(strategy, LIMIT as u64);
        (flux.buffer(LIMIT).metrics(metrics.clone()), Some(metrics))
    })
}

fn drop_oldest_operator(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(16), HandOver::Emit, |flux| {
        let metrics = stage_metrics(strategy, LIMIT as u64);
        (
            flux.drop_oldest(LIMIT).metrics(metrics.clone()),
            Some(metrics),
        )
    })
}

fn drop_newest_operator(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(16), HandOver::Emit, |flux| {
        let metrics = stage_metrics(strategy, LIMIT as u64);
        (
            flux.drop_newest(LIMIT).metrics(metrics.clone()),
            Some(metrics),
        )
    })
}

fn shed(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::Emit, |flux| {
        let metrics = stage_metrics(strategy, 0);
        (flux.drop().metrics(metrics.clone()), Some(metrics))
    })
}

fn sample(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::Emit, |flux| {
        let metrics = stage_metrics(strategy, 1);
        let sampled = flux.sample(Duration::from_millis(1));
        (sampled.metrics(metrics.clone()), Some(metrics))
    })
}

fn throttle(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::Emit, |flux| {
        (flux.throttle(9_000, Duration::from_secs(1)), None)
    })
}

fn batch(strategy: &Strategy) -> Outcome {
    through(strategy, Emitter::builder(LIMIT), HandOver::Emit, |flux| {
        (flux.chunks(50), None)
    })
}

// ---- the emitter in front of every strategy but the first ----

/// How the producer offers to the emitter.
#[derive(Clone, Copy)]
enum HandOver {
    /// `emit`: wait for room (or apply the emitter's overflow policy).
    Emit,
    /// `try_emit`: take a refusal and move on, keeping its retry-after hint.
    TryEmit,
}

type Source = Flux<EmitterSource<Reading>>;

/// No stage after the emitter.
fn plain(flux: Source) -> (Source, Option<Arc<StageMetrics>>) {
    (flux, None)
}

fn stage_metrics(strategy: &Strategy, capacity: u64) -> Arc<StageMetrics> {
    named_metrics(strategy.name.to_string(), capacity)
}

/// Every stage's metrics, for `/metrics`.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// The metrics of the stage called `name`: made and registered the first time, the same ones on
/// every later run (one series per stage for the whole process).
fn named_metrics(name: String, capacity: u64) -> Arc<StageMetrics> {
    static BY_NAME: OnceLock<Mutex<HashMap<String, Arc<StageMetrics>>>> = OnceLock::new();
    let mut by_name = BY_NAME.get_or_init(Default::default).lock().unwrap();
    by_name
        .entry(name)
        .or_insert_with_key(|name| registry().stage(name.clone(), capacity))
        .clone()
}

/// Runs the producer into an emitter built by `builder`, through the stages `stages` adds after
/// it, into the consumer. Drops are reported from the stage's metrics when it has some (the
/// emitter's otherwise); buffered counts what the emitter and that stage hold.
fn through<Q>(
    strategy: &Strategy,
    builder: EmitterBuilder<Reading>,
    hand_over: HandOver,
    stages: impl FnOnce(Source) -> (Q, Option<Arc<StageMetrics>>),
) -> Outcome
where
    Q: Publisher,
    Q::Item: Batch,
{
    let emitter_metrics = named_metrics(format!("{} emitter", strategy.name), LIMIT as u64);
    let (emitter, flux) = builder.metrics(emitter_metrics.clone()).build();
    let (pipeline, stage) = stages(flux);
    // Earlier rounds counted on the same metrics: this run reports what it adds.
    let baseline = stage.as_ref().unwrap_or(&emitter_metrics).snapshot();
    let gauge = (emitter.clone(), stage.clone());
    let trial = Trial::start(strategy, move || {
        let held_by_stage = gauge.1.as_ref().map_or(0, |m| m.snapshot().buffered);
        gauge.0.len() + held_by_stage as usize
    });
    let (consumer, subscription) = trial.consume(pipeline);
    let hint = trial.retry_hint.clone();
    let producer = trial.produce(move |reading| {
        let offered = match hand_over {
            HandOver::Emit => emitter.emit(reading),
            HandOver::TryEmit => emitter.try_emit(reading),
        };
        match offered {
            Ok(()) => Offer::Taken,
            Err(refused) if refused.is_full() => {
                if let Some(after) = refused.retry_after() {
                    *hint.lock().unwrap() = Some(after);
                }
                Offer::Refused
            }
            // Closed: the run is over.
            Err(_) => Offer::Stop,
        }
    });
    let metrics = stage.unwrap_or(emitter_metrics);
    trial.finish(
        producer,
        consumer,
        move || subscription.cancel(),
        Some((metrics, baseline)),
    )
}

// ---- the readings, counted while alive ----

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK_LIVE: AtomicU64 = AtomicU64::new(0);

/// One unit of work: its birth time (for latency) and a payload that costs memory.
struct Reading {
    born: Instant,
    _payload: Box<[u8]>,
}

impl Reading {
    fn new() -> Self {
        let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
        PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
        Reading {
            born: Instant::now(),
            _payload: vec![0u8; PAYLOAD].into_boxed_slice(),
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a consumer call carries: one reading, or a chunk of them.
trait Batch: Send + 'static {
    fn readings(self) -> Vec<Reading>;
}

impl Batch for Reading {
    fn readings(self) -> Vec<Reading> {
        vec![self]
    }
}

impl Batch for Vec<Reading> {
    fn readings(self) -> Vec<Reading> {
        self
    }
}

// ---- one run of a strategy ----

/// What the producer's hand-over did with a reading.
enum Offer {
    Taken,
    Refused,
    Stop,
}

/// The shared clock, counters and sampler of one run.
struct Trial {
    name: &'static str,
    start: Instant,
    end: Instant,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
    latency: Arc<Mutex<Latency>>,
    retry_hint: Arc<Mutex<Option<Duration>>>,
    sampler: thread::JoinHandle<Vec<(f64, usize)>>,
}

#[derive(Default)]
struct Latency {
    sum: Duration,
    max: Duration,
    count: u32,
    /// (seconds into the run, wait in ms) of every delivered reading.
    waits: Vec<(f64, f64)>,
}

/// The producer's and consumer's threads.
type Producer = thread::JoinHandle<(u64, u64, u64)>;
type Consumer = thread::JoinHandle<()>;

impl Trial {
    fn start(strategy: &Strategy, buffered: impl Fn() -> usize + Send + 'static) -> Trial {
        LIVE.store(0, Ordering::Relaxed);
        PEAK_LIVE.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let end = start + RUN;
        let sampler = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = start;
            while next <= end {
                samples.push((next.duration_since(start).as_secs_f64(), buffered()));
                next += SAMPLE_EVERY;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        Trial {
            name: strategy.name,
            start,
            end,
            stop: Arc::new(AtomicBool::new(false)),
            delivered: Arc::new(AtomicU64::new(0)),
            latency: Arc::new(Mutex::new(Latency::default())),
            retry_hint: Arc::new(Mutex::new(None)),
            sampler,
        }
    }

    /// Runs the producer at `PRODUCER_RATE` until the run ends: returns (offered, taken, refused).
    fn produce(&self, mut offer: impl FnMut(Reading) -> Offer + Send + 'static) -> Producer {
        let (start, stop) = (self.start, self.stop.clone());
        thread::spawn(move || {
            let (mut offered, mut taken, mut refused) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * PRODUCER_RATE) as u64;
                while offered < due && !stop.load(Ordering::Relaxed) {
                    offered += 1;
                    match offer(Reading::new()) {
                        Offer::Taken => taken += 1,
                        Offer::Refused => refused += 1,
                        Offer::Stop => return (offered, taken, refused),
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
            (offered, taken, refused)
        })
    }

    /// The consumer's work: `CALL_COST` per call plus `ITEM_COST` per reading, paced on a
    /// deadline (so oversleeping is made up for), sleeping when more than a millisecond ahead.
    fn worker(&self) -> impl FnMut(Vec<Reading>) + Send + 'static {
        let (delivered, latency) = (self.delivered.clone(), self.latency.clone());
        let start = self.start;
        let mut free_at = Instant::now();
        move |readings| {
            let now = Instant::now();
            let cost = CALL_COST + ITEM_COST * readings.len() as u32;
            // Keep the deadline chain through short oversleeps; restart it after real idleness.
            if now.saturating_duration_since(free_at) > Duration::from_millis(2) {
                free_at = now;
            }
            free_at += cost;
            let ahead = free_at.saturating_duration_since(now);
            if ahead >= Duration::from_millis(1) {
                thread::sleep(ahead);
            }
            let done = Instant::now();
            let at = done.duration_since(start).as_secs_f64();
            let mut l = latency.lock().unwrap();
            for reading in &readings {
                let waited = done.duration_since(reading.born);
                l.sum += waited;
                l.max = l.max.max(waited);
                l.count += 1;
                l.waits.push((at, waited.as_secs_f64() * 1e3));
            }
            delivered.fetch_add(readings.len() as u64, Ordering::Relaxed);
        }
    }

    /// A consumer thread fed by a plain channel (no demand at all).
    fn consume_channel(&self, rx: Receiver<Reading>, queued: Arc<AtomicU64>) -> Consumer {
        let mut work = self.worker();
        let end = self.end;
        thread::spawn(move || {
            while let Ok(reading) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
                queued.fetch_sub(1, Ordering::Relaxed);
                work(reading.readings());
                if Instant::now() >= end {
                    break;
                }
            }
        })
    }

    /// A consumer thread fed by a stream: it asks for `WINDOW` signals and tops up by half as it
    /// works through them, so demand, not the producer, decides how much comes its way.
    fn consume<P>(&self, pipeline: P) -> (Consumer, SharedSubscription)
    where
        P: Publisher,
        P::Item: Batch,
    {
        let (tx, rx) = mpsc::sync_channel(WINDOW as usize);
        let slot = Arc::new(Mutex::new(None));
        pipeline.subscribe(Window {
            tx,
            slot: slot.clone(),
        });
        let subscription: SharedSubscription = slot.lock().unwrap().take().expect("subscribed");
        let upstream = subscription.clone();
        let mut work = self.worker();
        let end = self.end;
        let consumer = thread::spawn(move || {
            let mut since_top_up = 0;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(batch) => work(batch.readings()),
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
                if Instant::now() >= end {
                    break;
                }
                since_top_up += 1;
                if since_top_up == WINDOW / 2 {
                    upstream.request(since_top_up);
                    since_top_up = 0;
                }
            }
        });
        (consumer, subscription)
    }

    /// Waits out the run, stops everything, and gathers the outcome.
    fn finish(
        self,
        producer: Producer,
        consumer: Consumer,
        cancel: impl FnOnce(),
        metrics: Option<(Arc<StageMetrics>, MetricsSnapshot)>,
    ) -> Outcome {
        thread::sleep(self.end.saturating_duration_since(Instant::now()));
        let backlog = LIVE.load(Ordering::Relaxed);
        consumer.join().unwrap();
        self.stop.store(true, Ordering::Relaxed);
        cancel(); // wakes a producer blocked on a full emitter, with Closed
        let (offered, taken, refused) = producer.join().unwrap();
        let samples = self.sampler.join().unwrap();
        let latency = self.latency.lock().unwrap();
        Outcome {
            name: self.name,
            offered,
            taken,
            refused,
            delivered: self.delivered.load(Ordering::Relaxed),
            metrics: metrics.map(|(m, baseline)| (m.snapshot(), baseline)),
            backlog,
            peak_buffered: samples.iter().map(|s| s.1).max().unwrap_or(0),
            peak_live: PEAK_LIVE.load(Ordering::Relaxed),
            mean_latency: latency.sum / latency.count.max(1),
            max_latency: latency.max,
            retry_hint: *self.retry_hint.lock().unwrap(),
            p99: p99_per_interval(&latency.waits),
            samples,
        }
    }
}

/// The consumer's subscriber: hands each signal to the consumer thread. It never holds more than
/// it requested, so the bounded hand-off channel never refuses.
struct Window<B> {
    tx: SyncSender<B>,
    slot: Arc<Mutex<Option<SharedSubscription>>>,
}

impl<B: Batch> Subscriber<B> for Window<B> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        subscription.request(WINDOW);
        *self.slot.lock().unwrap() = Some(subscription);
    }
    fn on_next(&mut self, batch: B) {
        // After the run the consumer is gone: the reading is simply dropped.
        let _ = self.tx.try_send(batch);
    }
    fn on_error(&mut self, error: Error) {
        eprintln!("stream failed: {error}");
    }
    fn on_complete(&mut self) {}
}

// ---- reporting ----

struct Outcome {
    name: &'static str,
    offered: u64,
    taken: u64,
    refused: u64,
    delivered: u64,
    /// The stage's metrics at the end of the run, and at its start.
    metrics: Option<(MetricsSnapshot, MetricsSnapshot)>,
    backlog: u64,
    peak_buffered: usize,
    peak_live: u64,
    mean_latency: Duration,
    max_latency: Duration,
    retry_hint: Option<Duration>,
    samples: Vec<(f64, usize)>,
    /// (interval midpoint in s, p99 wait in ms) for each interval with deliveries.
    p99: Vec<(f64, f64)>,
}

/// The 99th percentile wait of the readings delivered in each `LATENCY_EVERY` interval.
fn p99_per_interval(waits: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let width = LATENCY_EVERY.as_secs_f64();
    let mut bins: Vec<Vec<f64>> = Vec::new();
    for &(at, wait) in waits {
        let bin = (at / width) as usize;
        if bins.len() <= bin {
            bins.resize_with(bin + 1, Vec::new);
        }
        bins[bin].push(wait);
    }
    bins.into_iter()
        .enumerate()
        .filter(|(_, waits)| !waits.is_empty())
        .map(|(i, mut waits)| {
            waits.sort_by(f64::total_cmp);
            let rank = ((waits.len() as f64 * 0.99).ceil() as usize).clamp(1, waits.len());
            ((i as f64 + 0.5) * width, waits[rank - 1])
        })
        .collect()
}

impl Outcome {
    fn dropped(&self) -> Vec<(DropReason, u64)> {
        let Some((m, baseline)) = &self.metrics else {
            return Vec::new();
        };
        // What is still held when the run is stopped is dropped as Cancelled: that is the
        // backlog, reported on its own.
        DropReason::ALL
            .into_iter()
            .filter(|r| *r != DropReason::Cancelled)
            .map(|r| (r, m.dropped.get(r) - baseline.dropped.get(r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn print(&self, about: &str) {
        println!("\n== {} ==\n   {about}", self.name);
        let rows: Vec<(&str, String)> = vec![
            ("offered by the producer", count(self.offered)),
            ("accepted (Ok)", count(self.taken)),
            ("refused (handed back)", count(self.refused)),
            ("delivered to the consumer", count(self.delivered)),
            (
                "dropped by reason",
                match self.dropped().as_slice() {
                    [] => "none".into(),
                    drops => drops
                        .iter()
                        .map(|(r, n)| format!("{r}: {}", count(*n)))
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            ),
            ("backlog at the end", count(self.backlog)),
            ("peak buffered", count(self.peak_buffered as u64)),
            (
                "peak memory (live readings)",
                bytes(self.peak_live * PAYLOAD as u64),
            ),
            (
                "latency mean / max",
                format!("{:.1?} / {:.1?}", self.mean_latency, self.max_latency),
            ),
        ];
        let mut rows = rows;
        if let Some(hint) = self.retry_hint {
            rows.push(("last retry-after hint", format!("{hint:.1?}")));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in rows {
            println!("   {key:<width$}  {value:>12}");
        }
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", n as f64 / 1024.0)
    }
}

fn summary(outcomes: &[Outcome]) {
    println!(
        "\n{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "strategy",
        "offered",
        "delivered",
        "refused",
        "dropped",
        "peak buf",
        "peak mem",
        "max wait"
    );
    for o in outcomes {
        let dropped: u64 = o.dropped().iter().map(|(_, n)| n).sum();
        println!(
            "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
            o.name,
            o.offered,
            o.delivered,
            o.refused,
            dropped,
            o.peak_buffered,
            bytes(o.peak_live * PAYLOAD as u64),
            format!("{:.0?}", o.max_latency),
        );
    }
}

// ---- the chart (plotters) ----

/// One colour per strategy, in `STRATEGIES` order.
const COLORS: [(u8, u8, u8); 12] = [
    (214, 39, 40),
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (23, 190, 207),
    (127, 127, 127),
    (188, 189, 34),
    (227, 119, 194),
    (0, 0, 128),
    (0, 128, 128),
];

fn color(i: usize) -> plotters::style::RGBColor {
    let (r, g, b) = COLORS[i % COLORS.len()];
    plotters::style::RGBColor(r, g, b)
}

/// Small multiples of buffered items over time, one per strategy, all on one y-scale with the
/// limit marked; below them, the p99 latency of each interval, every strategy on one log scale.
fn chart(outcomes: &[Outcome], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    const COLS: usize = 3;
    const WIDTH: u32 = 1200;
    const CELL: u32 = 230;
    const LATENCY: u32 = 520;
    let rows = outcomes.len().div_ceil(COLS);
    let grid_height = 50 + CELL * rows as u32;
    let root = SVGBackend::new(path, (WIDTH, grid_height + LATENCY)).into_drawing_area();
    root.fill(&WHITE)?;
    let (grid, latency) = root.split_vertically(grid_height);

    let grid = grid.titled(
        &format!(
            "Buffered items over time: producer {:.0}/s, consumer {:.0}/s, limit {LIMIT} (one shared scale)",
            PRODUCER_RATE,
            1.0 / (CALL_COST + ITEM_COST).as_secs_f64()
        ),
        ("sans-serif", 22),
    )?;
    let peak = outcomes.iter().map(|o| o.peak_buffered).max().unwrap_or(0);
    let y_max = (peak.max(LIMIT) as f64 * 1.08).ceil();
    let run = RUN.as_secs_f64();
    for (i, (o, cell)) in outcomes
        .iter()
        .zip(grid.split_evenly((rows, COLS)))
        .enumerate()
    {
        let mut panel = ChartBuilder::on(&cell)
            .caption(o.name, ("sans-serif", 17).into_font().color(&color(i)))
            .margin_left(6)
            .margin_right(16)
            .margin_bottom(4)
            .x_label_area_size(26)
            .y_label_area_size(58)
            .build_cartesian_2d(0f64..run, 0f64..y_max)?;
        panel
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|t| format!("{t:.1} s"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 12))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(230, 230, 230))
            .draw()?;
        panel.draw_series(DashedLineSeries::new(
            [(0.0, LIMIT as f64), (run, LIMIT as f64)],
            6,
            4,
            RGBColor(90, 90, 90).stroke_width(1),
        ))?;
        // Anchored at its bottom right, just above the line: it never sits on it.
        panel.draw_series(std::iter::once(Text::new(
            format!("limit {LIMIT}"),
            (run * 0.98, LIMIT as f64 + y_max * 0.02),
            ("sans-serif", 12)
                .into_font()
                .color(&RGBColor(90, 90, 90))
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        )))?;
        panel.draw_series(LineSeries::new(
            o.samples.iter().map(|&(t, v)| (t, v as f64)),
            color(i).stroke_width(2),
        ))?;
    }

    // p99 latency, log scale: a plot on the left, the legend beside it on the right.
    let (plot, legend) = latency.split_horizontally(WIDTH - 230);
    let highest = outcomes
        .iter()
        .flat_map(|o| o.p99.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let lowest = outcomes
        .iter()
        .flat_map(|o| o.p99.iter().map(|p| p.1))
        .fold(highest, f64::min)
        .max(0.01);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!(
                "p99 latency (birth to consumed) per {} ms interval",
                LATENCY_EVERY.as_millis()
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..run, (lowest * 0.8..highest * 1.25).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(11)
        .x_label_formatter(&|t| format!("{t:.1} s"))
        .y_label_formatter(&|ms| {
            if *ms >= 1.0 {
                format!("{ms:.0} ms")
            } else {
                format!("{ms:.2} ms")
            }
        })
        .y_desc("p99 wait")
        .x_desc("time into the run")
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, o) in outcomes.iter().enumerate() {
        chart.draw_series(LineSeries::new(
            o.p99.iter().copied(),
            color(i).stroke_width(2),
        ))?;
    }
    for (i, o) in outcomes.iter().enumerate() {
        let y = 70 + 28 * i as i32;
        legend.draw(&PathElement::new(
            vec![(8, y), (38, y)],
            color(i).stroke_width(3),
        ))?;
        legend.draw(&Text::new(
            o.name,
            (46, y - 8),
            ("sans-serif", 15).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

// ---- the live scrape ----

/// Serves `/metrics` (the Prometheus text of every stage) on `addr` from a thread of its own;
/// prints the bound address (port 0 picks a free one).
fn serve(addr: &str) -> std::io::Result<()> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
    println!("serving http://{bound}/metrics");
    std::io::stdout().flush()?;
    thread::spawn(move || {
        let content_type = tiny_http::Header::from_bytes(
            &b"Content-Type"[..],
            &b"text/plain; version=0.0.4; charset=utf-8"[..],
        )
        .expect("a valid header");
        for request in server.incoming_requests() {
            let response = if request.url() == "/metrics" {
                tiny_http::Response::from_string(registry().prometheus())
                    .with_header(content_type.clone())
            } else {
                tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
            };
            let _ = request.respond(response);
        }
    });
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serving = match args.as_slice() {
        [] => None,
        [flag, addr] if flag == "--serve" => Some(addr.clone()),
        _ => {
            eprintln!("usage: producer_consumer [--serve ADDR]");
            std::process::exit(2);
        }
    };
    if let Some(addr) = &serving {
        if let Err(e) = serve(addr) {
            eprintln!("cannot serve on {addr}: {e}");
            std::process::exit(1);
        }
    }
    println!(
        "Producer {:.0} items/s, consumer {:.0} items/s ({:?} per call + {:?} per item), limit {LIMIT}, \
         {:?} per strategy.\nThe seed's scenario (1000/s vs 500/s, limit 1000) with time running 20x faster.",
        PRODUCER_RATE,
        1.0 / (CALL_COST + ITEM_COST).as_secs_f64(),
        CALL_COST,
        ITEM_COST,
        RUN
    );
    for round in 1.. {
        if serving.is_some() {
            println!("\n######## round {round} ########");
        }
        let mut outcomes = Vec::new();
        for strategy in STRATEGIES {
            let outcome = (strategy.run)(strategy);
            outcome.print(strategy.about);
            outcomes.push(outcome);
        }
        summary(&outcomes);
        if round == 1 {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/producer_consumer.svg");
            let written = std::fs::create_dir_all(path.parent().expect("in target/"))
                .map_err(Into::into)
                .and_then(|()| chart(&outcomes, &path));
            match written {
                Ok(()) => println!(
                    "\nChart (buffered over time, p99 latency): {}",
                    path.display()
                ),
                Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
            }
        }
        let _ = std::io::stdout().flush();
        if serving.is_none() {
            break;
        }
    }
}
