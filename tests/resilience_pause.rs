//! `pause_at(high, low)`: the watermarks' hysteresis, the hooks and the `paused` gauge, order and
//! completeness across threads, drops on cancel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::metrics::StageMetrics;
use backflow::prelude::*;
use backflow::DropReason;

/// Records every request its subscriber makes of the upstream.
struct Requests<P>(P, Arc<Mutex<Vec<u64>>>);

struct RecSub<S>(S, Arc<Mutex<Vec<u64>>>);
struct RecSubscription(SharedSubscription, Arc<Mutex<Vec<u64>>>);

impl Subscription for RecSubscription {
    fn request(&self, n: u64) {
        self.1.lock().unwrap().push(n);
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for RecSub<S> {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.0
            .on_subscribe(Arc::new(RecSubscription(s, self.1.clone())))
    }
    fn on_next(&mut self, x: T) {
        self.0.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.0.on_error(e)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

impl<P: Publisher> Publisher for Requests<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, s: S) {
        self.0.subscribe(RecSub(s, self.1.clone()))
    }
}

#[test]
fn hysteresis_no_request_between_the_watermarks() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let metrics = Arc::new(StageMetrics::new("consumer", 8));
    let (sub, probe) = TestSubscriber::<u32>::new(0);
    Flux::new(Requests(
        backflow::range(0..1000u32).into_inner(),
        requests.clone(),
    ))
    .pause_at(8, 2)
    .metrics(metrics.clone())
    .subscribe(sub);
    assert_eq!(*requests.lock().unwrap(), [8]);
    assert!(metrics.snapshot().paused);
    assert_eq!(metrics.snapshot().buffered, 8);
    for _ in 0..5 {
        probe.request(1); // 7, 6, 5, 4, 3 held: paused, no request
    }
    assert_eq!(*requests.lock().unwrap(), [8]);
    assert!(metrics.snapshot().paused);
    probe.request(1); // 2 held: resume, refill 6
    assert_eq!(*requests.lock().unwrap(), [8, 6]);
    assert!(
        metrics.snapshot().paused,
        "refilled to 8 at once: paused again"
    );
    assert_eq!(probe.values(), (0..6).collect::<Vec<_>>());
}

#[test]
fn a_fast_consumer_never_pauses() {
    let pauses = Arc::new(AtomicU64::new(0));
    let p = pauses.clone();
    let out = backflow::range(0..10_000u32)
        .pause_at(64, 16)
        .on_pause(move || {
            p.fetch_add(1, Ordering::Relaxed);
        })
        .collect()
        .unwrap();
    assert_eq!(out.len(), 10_000);
    // An unbounded consumer drains each item as it comes: the stage never holds 64.
    assert_eq!(pauses.load(Ordering::Relaxed), 0);
}

#[test]
fn across_threads_in_order_and_never_above_high() {
    let metrics = Arc::new(StageMetrics::new("s", 16));
    let (pauses, resumes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (p, r) = (pauses.clone(), resumes.clone());
    let m = metrics.clone();
    let out = backflow::range(0..20_000u32)
        .subscribe_on(backflow::sched::single())
        .pause_at(16, 4)
        .metrics(metrics.clone())
        .on_pause(move || {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .on_resume(move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .inspect(move |_| assert!(m.snapshot().buffered <= 16))
        .collect_with(Request::Batch(3))
        .unwrap();
    assert_eq!(out, (0..20_000).collect::<Vec<_>>());
    let (p, r) = (
        pauses.load(Ordering::SeqCst),
        resumes.load(Ordering::SeqCst),
    );
    assert!(p == r || p == r + 1, "pauses {p} and resumes {r} alternate");
}

#[test]
fn cancel_drops_what_is_held() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let (sub, probe) = TestSubscriber::<u32>::new(2);
    backflow::range(0..100u32)
        .pause_at(5, 1)
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .subscribe(sub);
    assert_eq!(probe.values(), [0, 1]);
    probe.cancel();
    let dropped = dropped.lock().unwrap();
    assert_eq!(dropped.len(), 5, "refilled to 5 after the two went out");
    assert!(dropped.iter().all(|(_, r)| *r == DropReason::Cancelled));
    let _ = probe.await_terminal(Duration::from_millis(1));
}

#[test]
fn an_error_waits_for_the_held_items() {
    let (sub, probe) = TestSubscriber::<u32>::new(0);
    backflow::range(0..3u32)
        .concat_with(backflow::error(Error::msg("late")))
        .pause_at(10, 2)
        .subscribe(sub);
    assert!(probe.terminal().is_none());
    probe.request(10);
    assert_eq!(probe.values(), [0, 1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "late");
}
