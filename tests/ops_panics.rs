//! A panic is caught by the stage whose user code panicked (issue 8 §1), whatever the upstream:
//! here a hand-written `Publisher` that calls `on_next` (or hands a run to `on_next_iter`) from its
//! own loop, ignores `cancel`, and completes at the end. Each operator family must answer with one
//! `on_error(Panicked)` downstream, `cancel` upstream, nothing after it, and no unwinding into the
//! upstream's loop (a panic escaping `subscribe` fails the test). Before the fix the panic unwound
//! out of `subscribe`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use backflow::prelude::*;

/// How the hand-written upstream delivers.
#[derive(Clone, Copy, Debug)]
enum Mode {
    OnNext,
    TryOnNext,
    Run,
}

/// A hand-written upstream: all `n` items from its own loop, then `on_complete`, cancel or not.
struct Hostile {
    n: u64,
    mode: Mode,
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
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(Flag(self.cancelled.clone())));
        match self.mode {
            Mode::OnNext => (0..self.n).for_each(|x| subscriber.on_next(x)),
            Mode::TryOnNext => (0..self.n).for_each(|x| {
                subscriber.try_on_next(x);
            }),
            Mode::Run => {
                subscriber.on_next_iter(0..self.n);
            }
        }
        subscriber.on_complete();
    }
}

#[derive(Default, Debug)]
struct Log {
    items: Vec<u64>,
    errors: Vec<Error>,
    completes: usize,
}

struct Recorder(Arc<Mutex<Log>>);

impl Subscriber<u64> for Recorder {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        self.0.lock().unwrap().items.push(x);
    }
    fn on_error(&mut self, e: Error) {
        self.0.lock().unwrap().errors.push(e);
    }
    fn on_complete(&mut self) {
        self.0.lock().unwrap().completes += 1;
    }
}

const PANIC_AT: u64 = 5;
const N: u64 = 20;

/// Subscribes `build(upstream)` with a recorder; returns the log and whether upstream was cancelled.
fn run<P>(mode: Mode, build: impl FnOnce(Flux<Hostile>) -> Flux<P>) -> (Log, bool)
where
    P: Publisher<Item = u64>,
{
    let cancelled = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let upstream = Flux::new(Hostile {
        n: N,
        mode,
        cancelled: cancelled.clone(),
    });
    build(upstream).subscribe(Recorder(log.clone()));
    let log = std::mem::take(&mut *log.lock().unwrap());
    (log, cancelled.load(Ordering::SeqCst))
}

/// One panic, caught by the stage: exactly one `Panicked` error, no completion, upstream cancelled,
/// and nothing delivered after the panic.
fn assert_caught(mode: Mode, log: &Log, cancelled: bool, max_items: usize) {
    assert_eq!(log.errors.len(), 1, "{mode:?}: one terminal error: {log:?}");
    assert_eq!(log.errors[0].kind(), ErrorKind::Panicked, "{mode:?}");
    assert_eq!(log.completes, 0, "{mode:?}: no completion after the error");
    assert!(cancelled, "{mode:?}: the upstream is cancelled");
    assert!(
        log.items.len() <= max_items,
        "{mode:?}: items after the panic: {log:?}"
    );
}

const MODES: [Mode; 3] = [Mode::OnNext, Mode::TryOnNext, Mode::Run];

fn boom(x: u64) {
    if x == PANIC_AT {
        panic!("user code at {x}");
    }
}

#[test]
fn map_catches_its_closure() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.map(|x| {
                boom(x);
                x
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
        assert_eq!(log.items, (0..PANIC_AT).collect::<Vec<_>>());
    }
}

#[test]
fn filter_catches_its_predicate() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.filter(|x| {
                boom(*x);
                true
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
    }
}

#[test]
fn inspect_catches_its_closure() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| f.inspect(|x| boom(*x)));
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
    }
}

#[test]
fn filter_map_and_try_map_catch_their_closures() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.filter_map(|x| {
                boom(x);
                Some(x)
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
        let (log, cancelled) = run(mode, |f| {
            f.try_map(|x| {
                boom(x);
                Ok(x)
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
    }
}

#[test]
fn take_while_and_skip_while_catch_their_predicates() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.take_while(|x| {
                boom(*x);
                true
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
        let (log, cancelled) = run(mode, |f| {
            f.skip_while(|x| {
                boom(*x);
                true
            })
        });
        assert_caught(mode, &log, cancelled, 0);
    }
}

/// An item whose `PartialEq` panics: user code that `distinct_until_changed` runs.
#[derive(Clone, Debug)]
struct Touchy(u64);

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        boom(self.0);
        self.0 == other.0
    }
}

#[test]
fn distinct_until_changed_catches_the_items_eq() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.map(Touchy).distinct_until_changed().map(|t: Touchy| t.0)
        });
        // `last == item` runs `eq` on the previous item: it panics on the item after PANIC_AT.
        assert_caught(mode, &log, cancelled, PANIC_AT as usize + 1);
    }
}

#[test]
fn scan_and_reduce_catch_their_accumulators() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            f.scan(0u64, |acc, x| {
                boom(x);
                acc + x
            })
        });
        // The seed, then one sum per item before the panic.
        assert_caught(mode, &log, cancelled, PANIC_AT as usize + 1);
        let (log, cancelled) = run(mode, |f| {
            f.reduce(|acc, x| {
                boom(x);
                acc + x
            })
        });
        assert_caught(mode, &log, cancelled, 0);
    }
}

/// A sink that panics at one item: the nearest stage that runs it catches, and the sink hears
/// of its own panic (rule 2.13).
struct PanickySink(Arc<Mutex<Log>>);

impl Subscriber<u64> for PanickySink {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        boom(x);
        self.0.lock().unwrap().items.push(x);
    }
    fn on_error(&mut self, e: Error) {
        self.0.lock().unwrap().errors.push(e);
    }
    fn on_complete(&mut self) {
        self.0.lock().unwrap().completes += 1;
    }
}

#[test]
fn a_panicking_subscriber_is_caught_by_the_stage_that_called_it() {
    for mode in MODES {
        let cancelled = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Log::default()));
        Flux::new(Hostile {
            n: N,
            mode,
            cancelled: cancelled.clone(),
        })
        .map(|x| x)
        .subscribe(PanickySink(log.clone()));
        let log = std::mem::take(&mut *log.lock().unwrap());
        assert_caught(
            mode,
            &log,
            cancelled.load(Ordering::SeqCst),
            PANIC_AT as usize,
        );
    }
}

/// Every item is dropped exactly once, whether it was delivered, dropped by the panicking
/// closure's unwinding, or arrived after the stage stopped.
#[test]
fn items_are_dropped_once_around_a_panic() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted(#[allow(dead_code)] u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let log = Arc::new(Mutex::new(Log::default()));
    let cancelled = Arc::new(AtomicBool::new(false));
    Flux::new(Hostile {
        n: N,
        mode: Mode::OnNext,
        cancelled: cancelled.clone(),
    })
    .map(Counted)
    .map(|c: Counted| {
        boom(c.0);
        c
    })
    .map(|c: Counted| c.0)
    .subscribe(Recorder(log.clone()));
    // Each of the N items is made once (by the first map) and dropped once: delivered, unwound
    // with the panic, or dropped by the stopped stage.
    assert_eq!(DROPS.load(Ordering::SeqCst), N as usize);
    assert_eq!(log.lock().unwrap().items.len(), PANIC_AT as usize);
    assert!(cancelled.load(Ordering::SeqCst));
}

/// A subscriber that claims a run used more credits than it had items (issue 8 §2.5).
struct OverReports {
    log: Arc<Mutex<Log>>,
    requested: u64,
}

impl Subscriber<u64> for OverReports {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(self.requested);
    }
    fn on_next(&mut self, x: u64) {
        self.log.lock().unwrap().items.push(x);
    }
    fn on_next_iter<I: Iterator<Item = u64>>(&mut self, items: I) -> u64 {
        let mut log = self.log.lock().unwrap();
        log.items.extend(items);
        u64::MAX
    }
    fn on_error(&mut self, e: Error) {
        self.log.lock().unwrap().errors.push(e);
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().completes += 1;
    }
}

/// Over-reported credits are clamped to the items the run held: the buffer's drain keeps exact
/// demand (rule 1.01) instead of underflowing its accounting.
#[test]
fn buffer_clamps_credits_a_subscriber_over_reports() {
    let log = Arc::new(Mutex::new(Log::default()));
    backflow::range(0..10u64).buffer(8).subscribe(OverReports {
        log: log.clone(),
        requested: 3,
    });
    let log = log.lock().unwrap();
    assert_eq!(log.items, vec![0, 1, 2], "exactly the demand");
    assert!(log.errors.is_empty(), "no error: {:?}", log.errors);
    assert_eq!(log.completes, 0);
}

/// Counts how runs arrive: `.boxed()` must still hand runs to `on_next_iter` (issue 8 §2.6).
struct Runs(Arc<Mutex<(u64, u64)>>);

impl Subscriber<u64> for Runs {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _x: u64) {
        self.0.lock().unwrap().1 += 1;
    }
    fn on_next_iter<I: Iterator<Item = u64>>(&mut self, items: I) -> u64 {
        let n = items.count() as u64;
        self.0.lock().unwrap().0 += n;
        n
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {}
}

#[test]
fn boxed_streams_keep_fusion() {
    let seen = Arc::new(Mutex::new((0, 0)));
    backflow::range(0..1000u64)
        .map(|x| x + 1)
        .boxed()
        .subscribe(Runs(seen.clone()));
    assert_eq!(
        *seen.lock().unwrap(),
        (1000, 0),
        "(items in runs, items one by one)"
    );
    let seen = Arc::new(Mutex::new((0, 0)));
    backflow::range(0..1000u64).subscribe(Box::new(Runs(seen.clone())));
    assert_eq!(
        *seen.lock().unwrap(),
        (1000, 0),
        "a boxed subscriber forwards runs"
    );
}

/// The fan-in combiners and the higher-order mappers run user code inside the operator's own
/// drain, which catches it: the same answer over a hand-written upstream.
#[test]
fn combiners_and_mappers_catch_their_closures() {
    for mode in MODES {
        let (log, cancelled) = run(mode, |f| {
            backflow::zip_with(f, backflow::range(0..N), |x, _y| {
                boom(x);
                x
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
        let (log, cancelled) = run(mode, |f| {
            // Latest values only: the items may coalesce, so it panics on whichever comes.
            backflow::combine_latest(f, backflow::just(0u64), |x, _y| {
                boom(PANIC_AT);
                *x
            })
        });
        assert_caught(mode, &log, cancelled, 0);
        let (log, cancelled) = run(mode, |f| {
            f.flat_map(|x| {
                boom(x);
                backflow::just(x)
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
        let (log, cancelled) = run(mode, |f| {
            f.concat_map(|x| {
                boom(x);
                backflow::just(x)
            })
        });
        assert_caught(mode, &log, cancelled, PANIC_AT as usize);
    }
}
