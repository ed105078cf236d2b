//! The cold sources (`just`, `empty`, `error`, `never`, `generate`), the synchronous operators and
//! `subscribe_with`, rule by rule: signals, demand passed upstream (measured with a recording
//! publisher), early termination, cancellation and release of the subscriber (rule 3.13), panics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use backflow::prelude::*;

// ---- test doubles ----

/// What a stage asked of its upstream.
#[derive(Default)]
struct Probe {
    requests: Mutex<Vec<u64>>,
    cancels: AtomicUsize,
}

impl Probe {
    fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
    fn cancelled(&self) -> bool {
        self.cancels.load(Ordering::SeqCst) > 0
    }
}

struct ProbeSubscription(Arc<Probe>);

impl Subscription for ProbeSubscription {
    fn request(&self, n: u64) {
        self.0.requests.lock().unwrap().push(n);
    }
    fn cancel(&self) {
        self.0.cancels.fetch_add(1, Ordering::SeqCst);
    }
}

type Slot<T> = Arc<Mutex<Option<Box<dyn Subscriber<T>>>>>;

/// A publisher driven by hand: the test delivers each signal to whatever subscribed.
struct Manual<T> {
    probe: Arc<Probe>,
    slot: Slot<T>,
}

impl<T> Clone for Manual<T> {
    fn clone(&self) -> Self {
        Manual {
            probe: self.probe.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl<T: 'static> Publisher for Manual<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

impl<T: 'static> Manual<T> {
    fn new() -> Self {
        Manual {
            probe: Arc::default(),
            slot: Arc::default(),
        }
    }
    fn flux(&self) -> Flux<Manual<T>> {
        Flux::new(self.clone())
    }
    fn with<R>(&self, f: impl FnOnce(&mut dyn Subscriber<T>) -> R) -> R {
        let mut slot = self.slot.lock().unwrap();
        f(slot.as_mut().expect("subscribed").as_mut())
    }
    fn start(&self) {
        let subscription = Arc::new(ProbeSubscription(self.probe.clone()));
        self.with(|s| s.on_subscribe(subscription))
    }
    fn next(&self, item: T) {
        self.with(|s| s.on_next(item))
    }
    fn try_next(&self, item: T) -> bool {
        self.with(|s| s.try_on_next(item))
    }
    fn complete(&self) {
        self.with(|s| s.on_complete())
    }
    fn error(&self, error: Error) {
        self.with(|s| s.on_error(error))
    }
    /// The upstream lets go of its subscriber (what a compliant source does after cancel).
    fn release(&self) {
        self.slot.lock().unwrap().take();
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Signal<T> {
    Next(T),
    Error(ErrorKind),
    Complete,
}
use Signal::{Complete, Next};

type Hook<T> = Box<dyn FnMut(&T, &SharedSubscription) + Send>;

/// What a recording subscriber saw, shared with the test.
struct Log<T> {
    signals: Mutex<Vec<Signal<T>>>,
    subscription: Mutex<Option<SharedSubscription>>,
    subscribes: AtomicUsize,
    /// Inside a signal handler: a nested signal would find it set (rules 1.03 / 3.03).
    busy: AtomicBool,
    /// Dropped with the subscriber: `Weak::upgrade` tells whether it was released (rule 3.13).
    alive: Mutex<Weak<()>>,
}

impl<T: Clone> Log<T> {
    fn signals(&self) -> Vec<Signal<T>> {
        self.signals.lock().unwrap().clone()
    }
    fn items(&self) -> Vec<T> {
        self.signals()
            .into_iter()
            .filter_map(|s| match s {
                Next(x) => Some(x),
                _ => None,
            })
            .collect()
    }
    fn subscription(&self) -> SharedSubscription {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("on_subscribe came")
    }
    fn request(&self, n: u64) {
        self.subscription().request(n)
    }
    fn cancel(&self) {
        self.subscription().cancel()
    }
    /// Drops the log's own handle, so only the stage's references keep the subscriber alive.
    fn forget_subscription(&self) {
        self.subscription.lock().unwrap().take();
    }
    fn released(&self) -> bool {
        self.alive.lock().unwrap().upgrade().is_none()
    }
}

struct Rec<T> {
    log: Arc<Log<T>>,
    initial: u64,
    on_next: Option<Hook<T>>,
    cancel_on_subscribe: bool,
    _alive: Arc<()>,
}

impl<T: Clone + Send + 'static> Rec<T> {
    fn new(initial: u64) -> (Self, Arc<Log<T>>) {
        let alive = Arc::new(());
        let log = Arc::new(Log {
            signals: Mutex::default(),
            subscription: Mutex::default(),
            subscribes: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            alive: Mutex::new(Arc::downgrade(&alive)),
        });
        let rec = Rec {
            log: log.clone(),
            initial,
            on_next: None,
            cancel_on_subscribe: false,
            _alive: alive,
        };
        (rec, log)
    }

    fn on_next_do(mut self, hook: impl FnMut(&T, &SharedSubscription) + Send + 'static) -> Self {
        self.on_next = Some(Box::new(hook));
        self
    }

    fn enter(&self) {
        assert!(
            !self.log.busy.swap(true, Ordering::SeqCst),
            "signals overlap or nest"
        );
    }
    fn leave(&self) {
        self.log.busy.store(false, Ordering::SeqCst);
    }
    fn push(&self, signal: Signal<T>) {
        let mut signals = self.log.signals.lock().unwrap();
        assert!(
            !matches!(signals.last(), Some(Signal::Error(_) | Complete)),
            "signal after a terminal signal"
        );
        signals.push(signal);
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for Rec<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.enter();
        self.log.subscribes.fetch_add(1, Ordering::SeqCst);
        *self.log.subscription.lock().unwrap() = Some(subscription.clone());
        if self.cancel_on_subscribe {
            subscription.cancel();
        } else if self.initial > 0 {
            subscription.request(self.initial);
        }
        self.leave();
    }
    fn on_next(&mut self, item: T) {
        self.enter();
        self.push(Next(item.clone()));
        if let Some(hook) = &mut self.on_next {
            let subscription = self.log.subscription();
            hook(&item, &subscription);
        }
        self.leave();
    }
    fn on_error(&mut self, error: Error) {
        self.enter();
        self.push(Signal::Error(error.kind()));
        self.leave();
    }
    fn on_complete(&mut self) {
        self.enter();
        self.push(Complete);
        self.leave();
    }
}

// ---- sources ----

#[test]
fn just_waits_for_demand_then_completes() {
    let (rec, log) = Rec::new(0);
    backflow::just(7u8).subscribe(rec);
    assert_eq!(log.signals(), vec![]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(7), Complete]);
    assert!(log.released());
}

#[test]
fn just_is_cold() {
    let one = backflow::just(String::from("x"));
    assert_eq!(one.clone().collect().unwrap(), vec!["x"]);
    assert_eq!(one.collect().unwrap(), vec!["x"]);
}

#[test]
fn spec_1_05_empty_completes_without_request() {
    let (rec, log) = Rec::<u8>::new(0);
    backflow::empty().subscribe(rec);
    assert_eq!(log.subscribes.load(Ordering::SeqCst), 1);
    assert_eq!(log.signals(), vec![Complete]);
}

#[test]
fn spec_1_09_error_signals_without_request() {
    let (rec, log) = Rec::<u8>::new(0);
    backflow::error(Error::msg("boom")).subscribe(rec);
    assert_eq!(log.subscribes.load(Ordering::SeqCst), 1);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::Custom)]);
}

#[test]
fn never_only_subscribes() {
    let (rec, log) = Rec::<u8>::new(5);
    backflow::never().subscribe(rec);
    log.request(u64::MAX);
    assert_eq!(log.subscribes.load(Ordering::SeqCst), 1);
    assert_eq!(log.signals(), vec![]);
    assert!(!log.released());
}

#[test]
fn spec_3_13_never_cancel_releases_the_subscriber() {
    let (rec, log) = Rec::<u8>::new(1);
    backflow::never().subscribe(rec);
    log.cancel();
    log.cancel(); // rule 3.7: idempotent
    assert!(log.released());
    log.request(1); // rule 3.6: a no-op after cancel
    assert_eq!(log.signals(), vec![]);
}

#[test]
fn never_cancel_inside_on_subscribe_releases_the_subscriber() {
    let (mut rec, log) = Rec::<u8>::new(0);
    rec.cancel_on_subscribe = true;
    backflow::never().subscribe(rec);
    assert!(log.released());
}

#[test]
fn spec_3_09_never_request_zero_fails() {
    let (rec, log) = Rec::<u8>::new(0);
    backflow::never().subscribe(rec);
    log.request(0);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);
    assert!(log.released());
}

#[test]
fn generate_runs_its_step_only_against_demand() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let naturals = backflow::generate(0u64, move |n| {
        c.fetch_add(1, Ordering::SeqCst);
        *n += 1;
        Some(Ok(*n))
    });
    let (rec, log) = Rec::new(0);
    naturals.subscribe(rec);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no step before a request");
    log.request(3);
    assert_eq!(log.items(), vec![1, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "no lookahead");
    log.request(2);
    assert_eq!(log.items(), vec![1, 2, 3, 4, 5]);
    log.cancel();
    assert!(log.released());
}

#[test]
fn generate_gives_each_subscriber_its_own_state() {
    let counter = backflow::generate(10u32, |n| {
        *n += 1;
        (*n <= 13).then_some(Ok(*n))
    });
    assert_eq!(counter.clone().collect().unwrap(), vec![11, 12, 13]);
    assert_eq!(counter.collect().unwrap(), vec![11, 12, 13]);
}

#[test]
fn generate_ends_with_its_step() {
    let steps = Arc::new(AtomicU64::new(0));
    let s = steps.clone();
    let two_then_fail = backflow::generate(0u32, move |n| {
        s.fetch_add(1, Ordering::SeqCst);
        *n += 1;
        Some(if *n <= 2 {
            Ok(*n)
        } else {
            Err(Error::msg("three"))
        })
    });
    let (rec, log) = Rec::new(10);
    two_then_fail.subscribe(rec);
    assert_eq!(
        log.signals(),
        vec![Next(1), Next(2), Signal::Error(ErrorKind::Custom)]
    );
    assert_eq!(
        steps.load(Ordering::SeqCst),
        3,
        "never called after an error"
    );

    // `None` completes, on the request that finds it.
    let (rec, log) = Rec::new(2);
    backflow::generate(0u32, |n| {
        *n += 1;
        (*n <= 2).then_some(Ok(*n))
    })
    .subscribe(rec);
    assert_eq!(log.signals(), vec![Next(1), Next(2)]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(1), Next(2), Complete]);
}

#[test]
fn generate_panic_becomes_panicked() {
    let out = backflow::generate((), |_| -> Option<Result<u8, Error>> { panic!("step") }).collect();
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Panicked);
}

#[test]
fn spec_3_09_request_zero_fails_every_source() {
    let (rec, log) = Rec::new(0);
    backflow::just(1u8).subscribe(rec);
    log.request(0);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);

    let (rec, log) = Rec::new(0);
    backflow::generate((), |_| Some(Ok(1u8))).subscribe(rec);
    log.request(0);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);
}

// ---- 1:1 operators: try_map, inspect ----

#[test]
fn try_map_passes_demand_unchanged() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(3);
    up.flux().try_map(|x| Ok(x * 2)).subscribe(rec);
    up.start();
    log.request(2);
    assert_eq!(up.probe.requests(), vec![3, 2]);
    up.next(1);
    assert!(up.try_next(2));
    up.complete();
    assert_eq!(log.signals(), vec![Next(2), Next(4), Complete]);
}

#[test]
fn try_map_error_cancels_upstream_and_ignores_later_signals() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(10);
    up.flux()
        .try_map(|x| {
            if x == 2 {
                Err(Error::msg("two"))
            } else {
                Ok(x)
            }
        })
        .subscribe(rec);
    up.start();
    up.next(1);
    up.next(2);
    assert!(up.probe.cancelled());
    assert!(log.released());
    up.next(3); // in flight after the cancel
    up.complete();
    up.error(Error::msg("late")); // goes to the error hook, not downstream
    assert_eq!(
        log.signals(),
        vec![Next(1), Signal::Error(ErrorKind::Custom)]
    );
}

#[test]
fn try_map_error_on_the_fused_path() {
    let out = backflow::range(0..10u32)
        .try_map(|x| if x < 3 { Ok(x) } else { Err(Error::msg("3")) })
        .filter(|_| true)
        .collect();
    assert_eq!(out.unwrap_err().to_string(), "3");
}

#[test]
fn inspect_sees_each_item_and_passes_demand_unchanged() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(2);
    up.flux()
        .inspect(move |x| s.lock().unwrap().push(*x))
        .subscribe(rec);
    up.start();
    up.next(5);
    assert!(up.try_next(6));
    assert_eq!(up.probe.requests(), vec![2]);
    assert_eq!(*seen.lock().unwrap(), vec![5, 6]);
    assert_eq!(log.items(), vec![5, 6]);
}

// ---- filtering operators: filter_map, skip, skip_while, distinct_until_changed ----

#[test]
fn filter_map_replenishes_discards_and_reports_them_on_the_fused_path() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(4);
    up.flux()
        .filter_map(|x| (x % 2 == 0).then_some(x * 10))
        .subscribe(rec);
    up.start();
    up.next(1); // discarded: one credit back upstream
    up.next(2);
    assert_eq!(up.probe.requests(), vec![4, 1]);
    assert!(!up.try_next(3), "a discard uses no credit");
    assert!(up.try_next(4));
    assert_eq!(
        up.probe.requests(),
        vec![4, 1],
        "the fused path does not request"
    );
    assert_eq!(log.items(), vec![20, 40]);
}

#[test]
fn skip_replenishes_one_credit_per_skipped_item() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(3);
    up.flux().skip(2).subscribe(rec);
    up.start();
    assert_eq!(up.probe.requests(), vec![3], "nothing extra up front");
    up.next(0);
    up.next(1);
    assert_eq!(up.probe.requests(), vec![3, 1, 1]);
    up.next(2);
    up.next(3);
    assert_eq!(up.probe.requests(), vec![3, 1, 1]);
    assert_eq!(log.items(), vec![2, 3]);
}

#[test]
fn skip_reports_skipped_items_on_the_fused_path() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(1);
    up.flux().skip(2).subscribe(rec);
    up.start();
    assert!(!up.try_next(0));
    assert!(!up.try_next(1));
    assert!(up.try_next(2));
    assert_eq!(up.probe.requests(), vec![1]);
    assert_eq!(log.items(), vec![2]);
    assert_eq!(
        backflow::range(0..10u8).skip(7).collect().unwrap(),
        vec![7, 8, 9]
    );
    assert!(backflow::range(0..3u8)
        .skip(7)
        .collect()
        .unwrap()
        .is_empty());
}

#[test]
fn skip_while_replenishes_then_passes_everything() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(2);
    up.flux().skip_while(|x| *x < 3).subscribe(rec);
    up.start();
    up.next(1);
    assert!(!up.try_next(2));
    up.next(5);
    assert!(up.try_next(1), "the predicate is not asked again");
    assert_eq!(up.probe.requests(), vec![2, 1]);
    assert_eq!(log.items(), vec![5, 1]);
}

#[test]
fn distinct_until_changed_replenishes_repeats() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(3);
    up.flux().distinct_until_changed().subscribe(rec);
    up.start();
    up.next(1);
    up.next(1);
    assert!(!up.try_next(1));
    assert!(up.try_next(2));
    up.next(1);
    assert_eq!(up.probe.requests(), vec![3, 1]);
    assert_eq!(log.items(), vec![1, 2, 1]);
    let runs = backflow::from_iter(vec![0, 0, 1, 1, 1, 0]).distinct_until_changed();
    assert_eq!(runs.collect().unwrap(), vec![0, 1, 0]);
}

// ---- early termination: take, take_while ----

#[test]
fn take_caps_upstream_demand_at_what_remains() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(2);
    up.flux().take(5).subscribe(rec);
    up.start();
    log.request(10);
    log.request(1);
    assert_eq!(up.probe.requests(), vec![2, 3]);

    let up = Manual::<u32>::new();
    let (rec, _log) = Rec::new(u64::MAX);
    up.flux().take(5).subscribe(rec);
    up.start();
    assert_eq!(
        up.probe.requests(),
        vec![5],
        "unbounded downstream, bounded upstream"
    );
}

#[test]
fn take_completes_and_cancels_after_n_then_ignores_upstream() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(u64::MAX);
    up.flux().take(2).subscribe(rec);
    up.start();
    up.next(1);
    assert!(!up.probe.cancelled());
    up.next(2);
    assert!(up.probe.cancelled());
    assert_eq!(log.signals(), vec![Next(1), Next(2), Complete]);
    assert!(log.released());
    up.next(3);
    up.complete();
    assert_eq!(log.signals(), vec![Next(1), Next(2), Complete]);
    assert_eq!(up.probe.cancels.load(Ordering::SeqCst), 1);
}

#[test]
fn take_zero_completes_at_once_and_cancels() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().take(0).subscribe(rec);
    up.start();
    assert!(up.probe.cancelled());
    assert_eq!(log.signals(), vec![Complete]);
    assert!(up.probe.requests().is_empty());
    assert!(backflow::range(0..3u8)
        .take(0)
        .collect()
        .unwrap()
        .is_empty());
}

#[test]
fn take_counts_items_the_downstream_discards() {
    let out = backflow::range(0..100u32)
        .take(5)
        .filter(|x| x % 2 == 1)
        .collect()
        .unwrap();
    assert_eq!(out, vec![1, 3]);
}

#[test]
fn take_gives_no_complete_to_a_downstream_that_cancelled_on_the_last_item() {
    let (rec, log) = Rec::new(10);
    let rec = rec.on_next_do(|x, s| {
        if *x == 2 {
            s.cancel()
        }
    });
    backflow::range(0..10u32).take(3).subscribe(rec);
    assert_eq!(log.signals(), vec![Next(0), Next(1), Next(2)]);
}

#[test]
fn spec_3_09_take_passes_request_zero_upstream() {
    let (rec, log) = Rec::new(0);
    backflow::range(0..10u32).take(3).subscribe(rec);
    log.request(0);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);
}

#[test]
fn take_while_completes_and_cancels_at_the_first_miss() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(5);
    up.flux().take_while(|x| *x < 3).subscribe(rec);
    up.start();
    up.next(1);
    assert!(up.try_next(2));
    up.next(3);
    assert!(up.probe.cancelled());
    assert!(log.released());
    up.next(0);
    up.complete();
    assert_eq!(log.signals(), vec![Next(1), Next(2), Complete]);
    assert_eq!(up.probe.requests(), vec![5], "1:1 demand");
}

// ---- scan ----

#[test]
fn scan_emits_the_seed_on_the_first_credit_without_asking_upstream() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().scan(100u32, |acc, x| acc + x).subscribe(rec);
    up.start();
    assert_eq!(log.signals(), vec![]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(100)]);
    assert!(
        up.probe.requests().is_empty(),
        "the seed is not an upstream item"
    );
    log.request(2);
    assert_eq!(up.probe.requests(), vec![2], "1:1 once the seed is out");
    up.next(1);
    assert!(up.try_next(2));
    up.complete();
    assert_eq!(
        log.signals(),
        vec![Next(100), Next(101), Next(103), Complete]
    );
}

#[test]
fn scan_forwards_demand_beyond_the_seed() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(3);
    up.flux().scan(0u32, |acc, x| acc + x).subscribe(rec);
    up.start();
    assert_eq!(log.items(), vec![0]);
    assert_eq!(up.probe.requests(), vec![2]);

    let up = Manual::<u32>::new();
    let (rec, _log) = Rec::new(u64::MAX);
    up.flux().scan(0u32, |acc, x| acc + x).subscribe(rec);
    up.start();
    assert_eq!(
        up.probe.requests(),
        vec![u64::MAX],
        "unbounded stays unbounded"
    );
}

#[test]
fn scan_holds_an_early_terminal_behind_the_seed() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().scan(7u32, |acc, x| acc + x).subscribe(rec);
    up.start();
    up.complete();
    assert_eq!(log.signals(), vec![]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(7), Complete]);
    assert!(log.released());

    let (rec, log) = Rec::new(0);
    backflow::error::<u32>(Error::msg("x"))
        .scan(7u32, |acc, x| acc + x)
        .subscribe(rec);
    assert_eq!(log.signals(), vec![]);
    log.request(5);
    assert_eq!(
        log.signals(),
        vec![Next(7), Signal::Error(ErrorKind::Custom)]
    );
}

#[test]
fn scan_cancel_before_the_seed_releases_the_downstream() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().scan(0u32, |acc, x| acc + x).subscribe(rec);
    up.start();
    log.cancel();
    assert!(up.probe.cancelled());
    assert!(log.released());
    log.request(1);
    assert_eq!(log.signals(), vec![]);
}

#[test]
fn scan_cancel_while_running_releases_the_downstream() {
    let (rec, log) = Rec::new(3);
    backflow::range(0..100u32)
        .scan(0u32, |acc, x| acc + x)
        .subscribe(rec);
    assert_eq!(log.items(), vec![0, 0, 1]);
    log.cancel();
    assert!(log.released());
    log.request(5);
    assert_eq!(log.items(), vec![0, 0, 1]);
}

#[test]
fn scan_request_zero_fails_before_and_after_the_seed() {
    let (rec, log) = Rec::new(0);
    backflow::range(0..3u32)
        .scan(0, |a, x| a + x)
        .subscribe(rec);
    log.request(0);
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);
    assert!(log.released());

    let (rec, log) = Rec::new(1);
    backflow::range(0..3u32)
        .scan(0, |a, x| a + x)
        .subscribe(rec);
    log.request(0);
    assert_eq!(
        log.signals(),
        vec![Next(0), Signal::Error(ErrorKind::InvalidDemand)]
    );
}

#[test]
fn scan_with_a_synchronous_source() {
    let out = backflow::range(1..5u64)
        .scan(0, |a, x| a + x)
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1, 3, 6, 10]);
    let out = backflow::empty::<u64>()
        .scan(1, |a, x| a * x)
        .collect()
        .unwrap();
    assert_eq!(out, vec![1]);
    let out = backflow::range(1..5u64)
        .scan(1, |a, x| a * x)
        .collect_with(Request::Batch(1))
        .unwrap();
    assert_eq!(out, vec![1, 1, 2, 6, 24]);
}

// ---- reduce and count ----

#[test]
fn reduce_requests_unbounded_and_holds_the_result_until_requested() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().reduce(|a, b| a + b).subscribe(rec);
    up.start();
    assert_eq!(up.probe.requests(), vec![u64::MAX]);
    up.next(1);
    up.next(2);
    up.complete();
    assert_eq!(log.signals(), vec![]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(3), Complete]);
    assert!(log.released());
    log.request(1);
    assert_eq!(log.signals(), vec![Next(3), Complete]);
}

#[test]
fn reduce_with_demand_already_there_emits_on_complete() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(1);
    up.flux().reduce(|a, b| a.max(b)).subscribe(rec);
    up.start();
    up.next(4);
    up.next(9);
    up.next(2);
    assert_eq!(log.signals(), vec![]);
    up.complete();
    assert_eq!(log.signals(), vec![Next(9), Complete]);
}

#[test]
fn reduce_of_nothing_completes_without_request() {
    let (rec, log) = Rec::<u32>::new(0);
    backflow::empty().reduce(|a, b| a + b).subscribe(rec);
    assert_eq!(log.signals(), vec![Complete]);
}

#[test]
fn reduce_forwards_an_error_at_once() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().reduce(|a, b| a + b).subscribe(rec);
    up.start();
    up.next(1);
    up.error(Error::msg("x"));
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::Custom)]);
    assert!(log.released());
}

#[test]
fn reduce_result_requested_from_another_thread() {
    let (rec, log) = Rec::new(0);
    backflow::range(0..100u64)
        .reduce(|a, b| a + b)
        .subscribe(rec);
    let subscription = log.subscription();
    std::thread::spawn(move || subscription.request(1))
        .join()
        .unwrap();
    assert_eq!(log.signals(), vec![Next(4950), Complete]);
}

#[test]
fn reduce_cancel_releases_the_downstream_and_cancels_upstream() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().reduce(|a, b| a + b).subscribe(rec);
    up.start();
    up.next(1);
    log.cancel();
    assert!(up.probe.cancelled());
    assert!(log.released());
    up.complete();
    log.request(1);
    assert_eq!(log.signals(), vec![]);
}

#[test]
fn reduce_gives_no_complete_to_a_downstream_that_cancels_on_the_result() {
    let (rec, log) = Rec::new(1);
    let rec = rec.on_next_do(|_, s| s.cancel());
    backflow::range(0..4u32).reduce(|a, b| a + b).subscribe(rec);
    assert_eq!(log.signals(), vec![Next(6)]);
    assert!(log.released());
}

#[test]
fn spec_3_09_reduce_request_zero_fails_and_cancels_upstream() {
    let up = Manual::<u32>::new();
    let (rec, log) = Rec::new(0);
    up.flux().reduce(|a, b| a + b).subscribe(rec);
    up.start();
    log.request(0);
    assert!(up.probe.cancelled());
    assert_eq!(log.signals(), vec![Signal::Error(ErrorKind::InvalidDemand)]);
}

#[test]
fn spec_2_13_reduce_downstream_panicking_on_the_result_hears_of_it() {
    struct Panicky(Arc<Mutex<Vec<ErrorKind>>>);
    impl Subscriber<u32> for Panicky {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1)
        }
        fn on_next(&mut self, _: u32) {
            panic!("downstream")
        }
        fn on_error(&mut self, e: Error) {
            self.0.lock().unwrap().push(e.kind())
        }
        fn on_complete(&mut self) {
            self.0.lock().unwrap().push(ErrorKind::Closed)
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    backflow::range(0..3u32)
        .reduce(|a, b| a + b)
        .subscribe(Panicky(seen.clone()));
    assert_eq!(*seen.lock().unwrap(), vec![ErrorKind::Panicked]);
}

#[test]
fn count_counts_and_holds_like_reduce() {
    let up = Manual::<&str>::new();
    let (rec, log) = Rec::new(0);
    up.flux().count().subscribe(rec);
    up.start();
    assert_eq!(up.probe.requests(), vec![u64::MAX]);
    up.next("a");
    up.next("b");
    up.complete();
    assert_eq!(log.signals(), vec![]);
    log.request(1);
    assert_eq!(log.signals(), vec![Next(2u64), Complete]);

    assert_eq!(backflow::empty::<u8>().count().collect().unwrap(), vec![0]);
    assert_eq!(
        backflow::range(0..1000u32).count().collect().unwrap(),
        vec![1000]
    );
}

// ---- panics in user closures ----

#[test]
fn panics_in_closures_become_panicked_errors() {
    fn boom(x: u32) -> bool {
        if x == 3 {
            panic!("three")
        }
        true
    }
    let p = |r: Result<Vec<u32>, Error>| r.unwrap_err().kind();
    let src = || backflow::range(0..10u32);
    assert_eq!(
        p(src().try_map(|x| Ok(boom(x) as u32)).collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src().filter_map(|x| boom(x).then_some(x)).collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src()
            .inspect(|x| {
                boom(*x);
            })
            .collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src().take_while(|x| boom(*x)).collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src().skip_while(|x| boom(*x) && *x < 5).collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src().scan(0, |_, x| x * boom(x) as u32).collect()),
        ErrorKind::Panicked
    );
    assert_eq!(
        p(src().reduce(|a, x| a + x * boom(x) as u32).collect()),
        ErrorKind::Panicked
    );
}

#[test]
fn a_panic_cancels_upstream() {
    let pulled = Arc::new(AtomicU64::new(0));
    let p = pulled.clone();
    let out = backflow::generate(0u32, move |n| {
        p.fetch_add(1, Ordering::SeqCst);
        *n += 1;
        Some(Ok(*n))
    })
    .scan(0u32, |_, x| if x == 5 { panic!("five") } else { x })
    .collect();
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Panicked);
    assert_eq!(pulled.load(Ordering::SeqCst), 5);
}

// ---- re-entrant requests ----

#[test]
fn spec_3_03_reentrant_requests_through_a_chain_do_not_nest() {
    let (rec, log) = Rec::new(1);
    let rec = rec.on_next_do(|_, s| s.request(1));
    backflow::range(0..10_000u64)
        .map(|x| x + 1)
        .filter(|x| x % 3 != 0)
        .skip(5)
        .take_while(|x| *x < 9_000)
        .distinct_until_changed()
        .inspect(|_| {})
        .scan(0u64, |a, x| a + x)
        .take(4_000)
        .subscribe(rec);
    let expected: Vec<u64> = std::iter::once(0)
        .chain(
            (0..10_000u64)
                .map(|x| x + 1)
                .filter(|x| x % 3 != 0)
                .skip(5)
                .take_while(|x| *x < 9_000)
                .scan(0u64, |a, x| {
                    *a += x;
                    Some(*a)
                }),
        )
        .take(4_000)
        .collect();
    assert_eq!(log.items(), expected);
    assert_eq!(log.signals().last(), Some(&Complete));
}

#[test]
fn reentrant_requests_for_a_held_result() {
    let (rec, log) = Rec::new(1);
    let rec = rec.on_next_do(|_, s| s.request(1));
    backflow::range(0..10u32).count().subscribe(rec);
    assert_eq!(log.signals(), vec![Next(10), Complete]);
}

// ---- subscribe_with ----

#[derive(Default)]
struct Callbacks {
    items: Mutex<Vec<u32>>,
    errors: Mutex<Vec<ErrorKind>>,
    completes: AtomicUsize,
}

fn subscribe_with(
    flux: Flux<impl Publisher<Item = u32>>,
    request: Request,
    cb: &Arc<Callbacks>,
    mut on_item: impl FnMut(u32) + Send + 'static,
) -> Disposable {
    let (a, b, c) = (cb.clone(), cb.clone(), cb.clone());
    flux.subscribe_with_request(
        request,
        move |x| {
            a.items.lock().unwrap().push(x);
            on_item(x)
        },
        move |e| b.errors.lock().unwrap().push(e.kind()),
        move || {
            c.completes.fetch_add(1, Ordering::SeqCst);
        },
    )
}

#[test]
fn subscribe_with_delivers_items_then_one_terminal() {
    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(backflow::range(0..5u32), Request::Batch(2), &cb, |_| {});
    assert_eq!(*cb.items.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(cb.completes.load(Ordering::SeqCst), 1);
    assert!(d.is_disposed());

    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(
        backflow::error(Error::msg("x")),
        Request::default(),
        &cb,
        |_| {},
    );
    assert_eq!(*cb.errors.lock().unwrap(), vec![ErrorKind::Custom]);
    assert_eq!(cb.completes.load(Ordering::SeqCst), 0);
    assert!(d.is_disposed());
}

#[test]
fn subscribe_with_requests_in_batches() {
    let up = Manual::<u32>::new();
    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(up.flux(), Request::Batch(4), &cb, |_| {});
    up.start();
    assert_eq!(up.probe.requests(), vec![4]);
    for x in 0..3 {
        up.next(x);
    }
    assert_eq!(up.probe.requests(), vec![4, 3], "top up after 75%");
    up.complete();
    assert!(d.is_disposed());

    let up = Manual::<u32>::new();
    let _d = subscribe_with(up.flux(), Request::Unbounded, &cb, |_| {});
    up.start();
    assert_eq!(up.probe.requests(), vec![u64::MAX]);
}

#[test]
fn subscribe_with_cancel_before_on_subscribe_cancels_when_it_arrives() {
    let up = Manual::<u32>::new();
    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(up.flux(), Request::default(), &cb, |_| {});
    assert!(!d.is_disposed());
    d.cancel();
    assert!(d.is_disposed());
    up.start();
    assert!(up.probe.cancelled());
    assert!(up.probe.requests().is_empty());
}

#[test]
fn subscribe_with_cancel_stops_callbacks() {
    let up = Manual::<u32>::new();
    let cb = Arc::new(Callbacks::default());
    let handle: Arc<Mutex<Option<Disposable>>> = Arc::default();
    let h = handle.clone();
    let d = subscribe_with(up.flux(), Request::default(), &cb, move |x| {
        if x == 1 {
            h.lock().unwrap().as_ref().unwrap().cancel()
        }
    });
    *handle.lock().unwrap() = Some(d.clone());
    up.start();
    up.next(0);
    up.next(1);
    assert!(up.probe.cancelled());
    up.next(2); // in flight
    up.complete();
    assert_eq!(*cb.items.lock().unwrap(), vec![0, 1]);
    assert_eq!(cb.completes.load(Ordering::SeqCst), 0);
    d.cancel();
    assert_eq!(
        up.probe.cancels.load(Ordering::SeqCst),
        1,
        "cancel is idempotent"
    );
}

#[test]
fn subscribe_with_cancel_stops_a_synchronous_source() {
    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(backflow::never(), Request::Unbounded, &cb, |_| {});
    d.cancel();
    assert!(d.is_disposed());
    let cb = Arc::new(Callbacks::default());
    // Cancelled from another clone of the handle, while items flow.
    let slot: Arc<Mutex<Option<Disposable>>> = Arc::default();
    let s = slot.clone();
    let up = Manual::<u32>::new();
    let d = subscribe_with(up.flux(), Request::Batch(8), &cb, move |_| {
        if let Some(d) = s.lock().unwrap().as_ref() {
            d.cancel()
        }
    });
    up.start();
    up.next(0);
    *slot.lock().unwrap() = Some(d.clone());
    up.next(1);
    up.next(2);
    assert_eq!(*cb.items.lock().unwrap(), vec![0, 1]);
}

#[test]
fn subscribe_with_panic_in_on_next_comes_back_as_an_error() {
    let cb = Arc::new(Callbacks::default());
    let d = subscribe_with(backflow::range(0..10u32), Request::default(), &cb, |x| {
        if x == 2 {
            panic!("two")
        }
    });
    assert_eq!(*cb.items.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(*cb.errors.lock().unwrap(), vec![ErrorKind::Panicked]);
    assert!(d.is_disposed());
}

#[test]
fn subscribe_with_releases_the_upstream_handle() {
    let up = Manual::<u32>::new();
    let cb = Arc::new(Callbacks::default());
    let _d = subscribe_with(up.flux(), Request::default(), &cb, |_| {});
    up.start();
    let weak = Arc::downgrade(&up.probe);
    up.complete();
    up.release();
    // The probe is held by `up` (and its subscription was released by the sink on terminal).
    assert_eq!(Arc::strong_count(&weak.upgrade().unwrap()), 2);
}

#[test]
fn weak_helper_sanity() {
    // The release checks above rely on the recorder's token: a dropped recorder is seen as released.
    let (rec, log) = Rec::<u8>::new(0);
    assert!(!log.released());
    drop(rec);
    assert!(log.released());
    log.forget_subscription();
}

// ---- races between the downstream's thread and the upstream's ----

#[test]
fn reduce_result_emitted_exactly_once_whoever_comes_last() {
    for _ in 0..200 {
        let up = Manual::<u32>::new();
        let (rec, log) = Rec::new(0);
        up.flux().reduce(|a, b| a + b).subscribe(rec);
        up.start();
        let subscription = log.subscription();
        let requester = std::thread::spawn(move || subscription.request(1));
        up.next(1);
        up.next(2);
        up.complete();
        requester.join().unwrap();
        assert_eq!(log.signals(), vec![Next(3), Complete]);
    }
}

#[test]
fn scan_seed_and_upstream_terminal_race() {
    for i in 0..200u32 {
        let up = Manual::<u32>::new();
        let (rec, log) = Rec::new(0);
        up.flux().scan(i, |a, x| a + x).subscribe(rec);
        up.start();
        let subscription = log.subscription();
        let requester = std::thread::spawn(move || subscription.request(2));
        up.complete();
        requester.join().unwrap();
        assert_eq!(log.signals(), vec![Next(i), Complete]);
        assert!(log.released());
    }
}

#[test]
fn scan_items_after_a_seed_emitted_on_another_thread() {
    for _ in 0..200 {
        let up = Manual::<u32>::new();
        let (rec, log) = Rec::new(0);
        up.flux().scan(0, |a, x| a + x).subscribe(rec);
        up.start();
        let subscription = log.subscription();
        std::thread::spawn(move || subscription.request(3))
            .join()
            .unwrap();
        assert_eq!(up.probe.requests(), vec![2]);
        up.next(5);
        up.next(6);
        up.complete();
        assert_eq!(log.signals(), vec![Next(0), Next(5), Next(11), Complete]);
    }
}

#[test]
fn take_caps_concurrent_requests() {
    for _ in 0..100 {
        let up = Manual::<u32>::new();
        let (rec, log) = Rec::new(0);
        up.flux().take(10).subscribe(rec);
        up.start();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = log.subscription();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        s.request(1)
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(up.probe.requests().iter().sum::<u64>(), 10);
    }
}

// ---- the fused path: runs of items from a synchronous source ----

/// A source that counts how many items were produced.
fn counted(steps: &Arc<AtomicU64>) -> Flux<impl Publisher<Item = u64>> {
    let steps = steps.clone();
    backflow::generate(0u64, move |n| {
        steps.fetch_add(1, Ordering::SeqCst);
        *n += 1;
        Some(Ok(*n))
    })
}

#[test]
fn fused_take_pulls_only_what_it_passes_on() {
    let steps = Arc::new(AtomicU64::new(0));
    let out = counted(&steps)
        .take(5)
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 4, 5]);
    assert_eq!(steps.load(Ordering::SeqCst), 5);
}

#[test]
fn fused_take_while_and_try_map_stop_pulling_at_their_end() {
    let steps = Arc::new(AtomicU64::new(0));
    let out = counted(&steps).take_while(|x| *x < 4).collect().unwrap();
    assert_eq!(out, vec![1, 2, 3]);
    assert_eq!(steps.load(Ordering::SeqCst), 4, "the first miss, no more");

    let steps = Arc::new(AtomicU64::new(0));
    let out = counted(&steps)
        .try_map(|x| if x < 3 { Ok(x) } else { Err(Error::msg("3")) })
        .collect();
    assert_eq!(out.unwrap_err().to_string(), "3");
    assert_eq!(steps.load(Ordering::SeqCst), 3);
}

#[test]
fn fused_filtering_operators_use_no_credit_for_discards() {
    // Batches of 2 through stages that discard most items: discards must not eat the batch.
    let out = backflow::range(0..1_000u32)
        .skip(10)
        .skip_while(|x| *x < 100)
        .filter_map(|x| (x % 10 == 0).then_some(x))
        .map(|x| x / 100)
        .distinct_until_changed()
        .collect_with(Request::Batch(2))
        .unwrap();
    assert_eq!(out, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn fused_scan_and_count_over_long_runs() {
    let sums = backflow::range(0..5_000u64)
        .scan(0u64, |a, x| a + x)
        .skip(4_999)
        .collect()
        .unwrap();
    assert_eq!(
        sums,
        vec![(0..4_999u64).sum::<u64>(), (0..5_000u64).sum::<u64>()]
    );
    let n = backflow::range(0..5_000u64)
        .filter(|x| x % 2 == 0)
        .count()
        .collect()
        .unwrap();
    assert_eq!(n, vec![2_500]);
}

#[test]
fn fused_take_stops_a_long_run_and_completes_once() {
    let (rec, log) = Rec::new(u64::MAX);
    backflow::range(0..10_000u32).take(1_500).subscribe(rec);
    assert_eq!(log.items(), (0..1_500).collect::<Vec<_>>());
    assert_eq!(log.signals().last(), Some(&Complete));
    assert!(log.released());
}
