//! The main demo: a producer twice as fast as its consumer, run through each backpressure strategy.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! ```
//!
//! The scenario is the one every backpressure article starts from (../shared/seeds/002): a producer
//! at 1000 requests/s, a consumer at 500/s, a queue limit of 1000. Without backpressure the queue
//! grows by 500 items every second until memory runs out; with it, something gives: the producer
//! waits, is told to retry later, or items are dropped by a stated rule.
//!
//! Time runs 20x faster here (producer 20 000/s, consumer 10 000/s, limit 1000, one second per
//! strategy, so each run covers 20 s of the article's timeline). Each strategy prints a table, and
//! the buffered items over time of every run are drawn in `target/producer_consumer.svg`.
//!
//! Every reading carries a 1 KiB payload and is counted while alive, so "peak memory" is what the
//! readings held at their peak, wherever they were: in a queue, a buffer, or being processed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use backflow::metrics::{DropReason, MetricsSnapshot, StageMetrics};
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
        about: "emitter + .drop_unrequested(): items pass only while the consumer has demand, the rest are shed at once",
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
        (
            flux.drop_unrequested().metrics(metrics.clone()),
            Some(metrics),
        )
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
    Arc::new(StageMetrics::new(strategy.name, capacity))
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
    let emitter_metrics = stage_metrics(strategy, LIMIT as u64);
    let (emitter, flux) = builder.metrics(emitter_metrics.clone()).build();
    let (pipeline, stage) = stages(flux);
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
        Some(metrics),
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
            let mut l = latency.lock().unwrap();
            for reading in &readings {
                let waited = done.duration_since(reading.born);
                l.sum += waited;
                l.max = l.max.max(waited);
                l.count += 1;
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
        metrics: Option<Arc<StageMetrics>>,
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
            metrics: metrics.map(|m| m.snapshot()),
            backlog,
            peak_buffered: samples.iter().map(|s| s.1).max().unwrap_or(0),
            peak_live: PEAK_LIVE.load(Ordering::Relaxed),
            mean_latency: latency.sum / latency.count.max(1),
            max_latency: latency.max,
            retry_hint: *self.retry_hint.lock().unwrap(),
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
    metrics: Option<MetricsSnapshot>,
    backlog: u64,
    peak_buffered: usize,
    peak_live: u64,
    mean_latency: Duration,
    max_latency: Duration,
    retry_hint: Option<Duration>,
    samples: Vec<(f64, usize)>,
}

impl Outcome {
    fn dropped(&self) -> Vec<(DropReason, u64)> {
        let Some(m) = &self.metrics else {
            return Vec::new();
        };
        // What is still held when the run is stopped is dropped as Cancelled: that is the
        // backlog, reported on its own.
        DropReason::ALL
            .into_iter()
            .filter(|r| *r != DropReason::Cancelled)
            .map(|r| (r, m.dropped.get(r)))
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

/// One panel per strategy, buffered items over time, each on its own scale with the limit dashed.
fn svg(outcomes: &[Outcome]) -> String {
    const WIDTH: f64 = 760.0;
    const PANEL: f64 = 110.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 50.0;
    const GAP: f64 = 30.0;
    const COLORS: [&str; 8] = [
        "#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f",
    ];
    let height = TOP + outcomes.len() as f64 * (PANEL + GAP) + 20.0;
    let plot_width = WIDTH - LEFT - RIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">Buffered items over time: producer 20 000/s, consumer 10 000/s, limit {LIMIT}</text>"#
    );
    for (i, o) in outcomes.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP);
        let bottom = top + PANEL;
        let scale_max = (o.peak_buffered.max(LIMIT) as f64 * 1.1).max(1.0);
        let x = |t: f64| LEFT + t / RUN.as_secs_f64() * plot_width;
        let y = |v: f64| bottom - v / scale_max * PANEL;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" font-weight="bold" fill="{color}">{}</text>"#,
            top - 6.0,
            o.name
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" fill="none" stroke="#ccc"/>"##
        );
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{ly:.1}" x2="{}" y2="{ly:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
            LEFT + plot_width,
            ly = y(LIMIT as f64)
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{LIMIT}</text>"#,
            LEFT - 6.0,
            y(LIMIT as f64) + 4.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">0</text>"#,
            LEFT - 6.0,
            bottom + 4.0
        );
        if o.peak_buffered > LIMIT {
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y(o.peak_buffered as f64) + 4.0,
                o.peak_buffered
            );
        }
        let points: Vec<String> = o
            .samples
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v as f64)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
    }
    let axis = TOP + outcomes.len() as f64 * (PANEL + GAP) - GAP + 16.0;
    for tenth in 0..=10 {
        let t = RUN.as_secs_f64() * tenth as f64 / 10.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{axis:.1}" text-anchor="middle">{t:.1} s</text>"#,
            LEFT + t / RUN.as_secs_f64() * plot_width
        );
    }
    out.push_str("</svg>\n");
    out
}

fn main() {
    println!(
        "Producer {:.0} items/s, consumer {:.0} items/s ({:?} per call + {:?} per item), limit {LIMIT}, \
         {:?} per strategy.\nThe seed's scenario (1000/s vs 500/s, limit 1000) with time running 20x faster.",
        PRODUCER_RATE,
        1.0 / (CALL_COST + ITEM_COST).as_secs_f64(),
        CALL_COST,
        ITEM_COST,
        RUN
    );
    let mut outcomes = Vec::new();
    for strategy in STRATEGIES {
        let outcome = (strategy.run)(strategy);
        outcome.print(strategy.about);
        outcomes.push(outcome);
    }
    summary(&outcomes);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/producer_consumer.svg");
    let written = std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
        .and_then(|()| std::fs::write(path, svg(&outcomes)));
    match written {
        Ok(()) => println!("\nChart of buffered items over time: {path}"),
        Err(e) => eprintln!("\ncould not write {path}: {e}"),
    }
}
