//! Hostile users (issue 8 §1): random chains of closure-taking operators where a random closure
//! panics at a random item, random subscribers that panic in a random callback, over a
//! hand-written upstream `Publisher` (which may or may not honour `cancel`) or a backflow source.
//!
//! Every run must: return from `subscribe` normally (nothing unwinds into the upstream), finish
//! within a deadline (no thread stuck), end with exactly one terminal signal downstream (an
//! `on_error(Panicked)` when a user panicked before the end, `on_complete` otherwise), deliver
//! nothing after it, cancel a hand-written upstream when a user panicked, and drop every item
//! exactly once (an item type that counts its creations and its drops).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::Duration;

use backflow::prelude::*;
use proptest::prelude::*;

/// Per-run bookkeeping shared by the items, the closures and the subscriber.
#[derive(Default)]
struct Ctx {
    created: AtomicUsize,
    dropped: AtomicUsize,
    /// A user callback panicked before the stream's end.
    triggered: AtomicBool,
    /// The subscriber has had its terminal signal (a panic after it ends nothing).
    ended: AtomicBool,
    /// The hand-written upstream has sent its own end (cancelling it is moot from then on).
    upstream_done: AtomicBool,
    /// A user callback panicked before the upstream's end.
    triggered_early: AtomicBool,
}

impl Ctx {
    fn trigger(&self) {
        if !self.ended.load(Ordering::SeqCst) {
            self.triggered.store(true, Ordering::SeqCst);
        }
        if !self.upstream_done.load(Ordering::SeqCst) {
            self.triggered_early.store(true, Ordering::SeqCst);
        }
    }
}

/// An item that counts its creations (new and clone) and drops.
struct Tracked {
    v: u64,
    ctx: Arc<Ctx>,
}

impl Tracked {
    fn new(v: u64, ctx: &Arc<Ctx>) -> Self {
        ctx.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            v,
            ctx: ctx.clone(),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.v, &self.ctx)
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.v == other.v
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.ctx.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics (after recording it) when the item's value is `at`.
fn hit(at: Option<u64>, t: &Tracked) {
    if at == Some(t.v) {
        t.ctx.trigger();
        panic!("hostile closure at {}", t.v);
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Map(Option<u64>),
    Filter(Option<u64>),
    Inspect(Option<u64>),
    FilterMap(Option<u64>),
    TakeWhile(Option<u64>, u64),
    SkipWhile(Option<u64>, u64),
    Scan(Option<u64>),
    TryMap(Option<u64>),
    Distinct,
    Reduce(Option<u64>),
}

fn at() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![3 => Just(None), 2 => (0u64..40).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        at().prop_map(Op::Map),
        at().prop_map(Op::Filter),
        at().prop_map(Op::Inspect),
        at().prop_map(Op::FilterMap),
        (at(), 0u64..50).prop_map(|(a, l)| Op::TakeWhile(a, l)),
        (at(), 0u64..10).prop_map(|(a, k)| Op::SkipWhile(a, k)),
        at().prop_map(Op::Scan),
        at().prop_map(Op::TryMap),
        Just(Op::Distinct),
        at().prop_map(Op::Reduce),
    ]
}

type Chain = Flux<Boxed<Tracked>>;

fn apply(flux: Chain, op: Op, ctx: &Arc<Ctx>) -> Chain {
    let ctx = ctx.clone();
    match op {
        Op::Map(a) => flux
            .map(move |t: Tracked| {
                hit(a, &t);
                Tracked::new(t.v + 1, &ctx)
            })
            .boxed(),
        Op::Filter(a) => flux
            .filter(move |t: &Tracked| {
                hit(a, t);
                t.v % 3 != 0
            })
            .boxed(),
        Op::Inspect(a) => flux.inspect(move |t: &Tracked| hit(a, t)).boxed(),
        Op::FilterMap(a) => flux
            .filter_map(move |t: Tracked| {
                hit(a, &t);
                (t.v % 4 != 0).then(|| Tracked::new(t.v, &ctx))
            })
            .boxed(),
        Op::TakeWhile(a, limit) => flux
            .take_while(move |t: &Tracked| {
                hit(a, t);
                t.v < limit
            })
            .boxed(),
        Op::SkipWhile(a, k) => flux
            .skip_while(move |t: &Tracked| {
                hit(a, t);
                t.v < k
            })
            .boxed(),
        Op::Scan(a) => {
            let seed = Tracked::new(0, &ctx);
            flux.scan(seed, move |acc: Tracked, t: Tracked| {
                hit(a, &t);
                Tracked::new(acc.v.wrapping_add(t.v) % 64, &t.ctx)
            })
            .boxed()
        }
        Op::TryMap(a) => flux
            .try_map(move |t: Tracked| {
                hit(a, &t);
                Ok(t)
            })
            .boxed(),
        Op::Distinct => flux.distinct_until_changed().boxed(),
        Op::Reduce(a) => flux
            .reduce(move |acc: Tracked, t: Tracked| {
                hit(a, &t);
                Tracked::new(acc.v.max(t.v), &t.ctx)
            })
            .boxed(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    OnNext,
    TryOnNext,
    Run,
}

/// A hand-written upstream: pushes every item from its own loop (ignoring demand), stops early
/// on `cancel` only if `honours_cancel`, then completes.
struct Hostile {
    n: u64,
    mode: Mode,
    honours_cancel: bool,
    ctx: Arc<Ctx>,
    cancelled: Arc<AtomicBool>,
}

struct Flag(Arc<AtomicBool>);

impl Subscription for Flag {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Hostile {
    type Item = Tracked;
    fn subscribe<S: Subscriber<Tracked> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(Flag(self.cancelled.clone())));
        let stop = || self.honours_cancel && self.cancelled.load(Ordering::SeqCst);
        let items = (0..self.n).map(|v| Tracked::new(v, &self.ctx));
        match self.mode {
            Mode::OnNext => {
                for item in items {
                    if stop() {
                        break;
                    }
                    subscriber.on_next(item);
                }
            }
            Mode::TryOnNext => {
                for item in items {
                    if stop() {
                        break;
                    }
                    subscriber.try_on_next(item);
                }
            }
            Mode::Run => {
                // Two runs, so a cancel between them can be honoured.
                let half = self.n / 2;
                subscriber.on_next_iter((0..half).map(|v| Tracked::new(v, &self.ctx)));
                if !stop() {
                    subscriber.on_next_iter((half..self.n).map(|v| Tracked::new(v, &self.ctx)));
                }
            }
        }
        if !stop() {
            self.ctx.upstream_done.store(true, Ordering::SeqCst);
            subscriber.on_complete();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Source {
    Hostile(Mode, bool),
    Range,
    Iter,
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        3 => (
            prop_oneof![Just(Mode::OnNext), Just(Mode::TryOnNext), Just(Mode::Run)],
            any::<bool>()
        )
            .prop_map(|(m, h)| Source::Hostile(m, h)),
        1 => Just(Source::Range),
        1 => Just(Source::Iter),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum PanicIn {
    Nowhere,
    OnSubscribe,
    OnNext(usize),
    OnError,
    OnComplete,
}

fn panic_in() -> impl Strategy<Value = PanicIn> {
    prop_oneof![
        3 => Just(PanicIn::Nowhere),
        1 => Just(PanicIn::OnSubscribe),
        2 => (0usize..30).prop_map(PanicIn::OnNext),
        1 => Just(PanicIn::OnError),
        1 => Just(PanicIn::OnComplete),
    ]
}

#[derive(Default, Debug)]
struct SinkLog {
    items: usize,
    completes: usize,
    errors: Vec<ErrorKind>,
    after_terminal: usize,
}

/// A subscriber that requests in batches (or unbounded) and panics where it is told to.
struct Sink {
    log: Arc<Mutex<SinkLog>>,
    ctx: Arc<Ctx>,
    panic_in: PanicIn,
    batch: Option<u64>,
    left: u64,
    subscription: Option<SharedSubscription>,
}

impl Sink {
    fn terminal(&self) -> bool {
        let log = self.log.lock().unwrap();
        log.completes + log.errors.len() > 0
    }
}

impl Subscriber<Tracked> for Sink {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        let n = self.batch.unwrap_or(u64::MAX);
        self.left = n;
        self.subscription = Some(s.clone());
        if self.panic_in == PanicIn::OnSubscribe {
            self.ctx.trigger();
            panic!("hostile on_subscribe");
        }
        s.request(n);
    }
    fn on_next(&mut self, item: Tracked) {
        if self.terminal() {
            self.log.lock().unwrap().after_terminal += 1;
        }
        let index = {
            let mut log = self.log.lock().unwrap();
            log.items += 1;
            log.items - 1
        };
        if self.panic_in == PanicIn::OnNext(index) {
            self.ctx.trigger();
            panic!("hostile on_next at {index}");
        }
        drop(item);
        if let Some(batch) = self.batch {
            self.left -= 1;
            if self.left == 0 {
                self.left = batch;
                if let Some(s) = &self.subscription {
                    s.request(batch);
                }
            }
        }
    }
    fn on_error(&mut self, e: Error) {
        self.ctx.ended.store(true, Ordering::SeqCst);
        self.subscription = None;
        self.log.lock().unwrap().errors.push(e.kind());
        if self.panic_in == PanicIn::OnError {
            panic!("hostile on_error");
        }
    }
    fn on_complete(&mut self) {
        self.ctx.ended.store(true, Ordering::SeqCst);
        self.subscription = None;
        self.log.lock().unwrap().completes += 1;
        if self.panic_in == PanicIn::OnComplete {
            panic!("hostile on_complete");
        }
    }
}

#[derive(Debug)]
struct Outcome {
    unwound: bool,
    log: SinkLog,
    created: usize,
    dropped: usize,
    triggered: bool,
    triggered_early: bool,
    upstream_cancelled: Option<bool>,
}

fn run(source: Source, n: u64, ops: Vec<Op>, panic_in: PanicIn, batch: Option<u64>) -> Outcome {
    let ctx = Arc::new(Ctx::default());
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let cancelled = Arc::new(AtomicBool::new(false));
    let unwound = {
        let c = ctx.clone();
        let mut chain: Chain = match source {
            Source::Hostile(mode, honours_cancel) => Flux::new(Hostile {
                n,
                mode,
                honours_cancel,
                ctx: ctx.clone(),
                cancelled: cancelled.clone(),
            })
            .boxed(),
            Source::Range => backflow::range(0..n)
                .map(move |v| Tracked::new(v, &c))
                .boxed(),
            Source::Iter => {
                let items: Vec<Tracked> = (0..n).map(|v| Tracked::new(v, &c)).collect();
                backflow::from_iter(items).boxed()
            }
        };
        // A hand-written upstream calling a panicking subscriber directly involves no stage of
        // ours: keep at least one between them.
        let mut ops = ops;
        if ops.is_empty() && matches!(source, Source::Hostile(..)) {
            ops.push(Op::Map(None));
        }
        for op in ops {
            chain = apply(chain, op, &ctx);
        }
        let sink = Sink {
            log: log.clone(),
            ctx: ctx.clone(),
            panic_in,
            batch,
            left: 0,
            subscription: None,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.subscribe(sink))).is_err()
    };
    let log = std::mem::take(&mut *log.lock().unwrap());
    Outcome {
        unwound,
        log,
        created: ctx.created.load(Ordering::SeqCst),
        dropped: ctx.dropped.load(Ordering::SeqCst),
        triggered: ctx.triggered.load(Ordering::SeqCst),
        triggered_early: ctx.triggered_early.load(Ordering::SeqCst),
        upstream_cancelled: matches!(source, Source::Hostile(..))
            .then(|| cancelled.load(Ordering::SeqCst)),
    }
}

fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Expected panics and undeliverable errors would flood the output.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("hostile") {
                default(info)
            }
        }));
        backflow::set_error_hook(|_| {});
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn hostile_users_end_cleanly(
        source in source(),
        n in 0u64..40,
        ops in prop::collection::vec(op(), 0..5),
        panic_in in panic_in(),
        batch in prop_oneof![Just(None), (1u64..8).prop_map(Some)],
    ) {
        quiet();
        let (tx, rx) = mpsc::channel();
        let case = format!("{source:?} n={n} {ops:?} {panic_in:?} {batch:?}");
        std::thread::spawn(move || {
            let _ = tx.send(run(source, n, ops, panic_in, batch));
        });
        let out = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| TestCaseError::fail(format!("stuck: {case}")))?;
        prop_assert!(!out.unwound, "a panic unwound out of subscribe: {out:?}");
        prop_assert_eq!(out.log.after_terminal, 0, "signals after the terminal: {:?}", out);
        let terminals = out.log.completes + out.log.errors.len();
        prop_assert_eq!(terminals, 1, "exactly one terminal signal: {:?}", out);
        if out.triggered {
            prop_assert_eq!(&out.log.errors, &vec![ErrorKind::Panicked], "{:?}", out);
            if let (true, Some(cancelled)) = (out.triggered_early, out.upstream_cancelled) {
                prop_assert!(cancelled, "the hand-written upstream is cancelled: {:?}", out);
            }
        } else {
            prop_assert_eq!(out.log.completes, 1, "{:?}", out);
        }
        prop_assert_eq!(out.created, out.dropped, "every item dropped exactly once: {:?}", out);
    }
}
