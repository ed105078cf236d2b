//! Lifecycle hooks (`do_on_*`, `do_finally`) and the lifecycle sources (`defer`, `using`): each
//! hook sees its signal once, demand passes through unchanged, panics in hooks are caught, and
//! `do_finally` / `using`'s cleanup run exactly once even when a cancel races with completion.

mod timed_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use backflow::ops::SignalType;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

/// Errors that reached the global error hook whose message contains `tag` (tests run in
/// parallel, so each filters by its own tag).
fn hooked_errors() -> Arc<Mutex<Vec<String>>> {
    static HOOK: std::sync::OnceLock<Arc<Mutex<Vec<String>>>> = std::sync::OnceLock::new();
    HOOK.get_or_init(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        backflow::set_error_hook(move |e| s.lock().unwrap().push(e.to_string()));
        seen
    })
    .clone()
}

fn hooked_with(tag: &str) -> usize {
    hooked_errors()
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(tag))
        .count()
}

#[test]
fn every_hook_in_order_on_a_completing_stream() {
    let seen = log();
    let (a, b, c, d, e) = (
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
    );
    let out = backflow::range(0..3u32)
        .do_on_subscribe(move |_| push(&a, "subscribe"))
        .do_on_request(move |n| push(&b, format!("request {n}")))
        .do_on_complete(move || push(&c, "complete"))
        .do_on_error(move |_| push(&d, "error"))
        .do_finally(move |s| push(&e, format!("finally {s:?}")))
        .collect_with(Request::Batch(8))
        .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "subscribe");
    assert_eq!(seen[1], "request 8");
    assert_eq!(&seen[seen.len() - 2..], ["complete", "finally Complete"]);
}

#[test]
fn error_hooks_see_the_error() {
    let seen = log();
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let err = backflow::error::<u32>(Error::msg("boom"))
        .do_on_error(move |e| push(&a, format!("error {e}")))
        .do_on_complete(move || push(&b, "complete"))
        .do_finally(move |s| push(&c, format!("finally {s:?}")))
        .collect()
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");
    assert_eq!(*seen.lock().unwrap(), ["error boom", "finally Error"]);
}

#[test]
fn cancel_hooks_run_once_and_cancel_reaches_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let seen = log();
    let (a, b) = (seen.clone(), seen.clone());
    let (sub, probe) = probe(&clock, 2);
    hot.flux()
        .do_on_cancel(move || push(&a, "cancel"))
        .do_finally(move |s| push(&b, format!("finally {s:?}")))
        .subscribe(sub);
    assert_eq!(hot.requests(), [2], "1:1 demand");
    hot.emit(1);
    probe.cancel();
    probe.cancel();
    assert!(hot.is_cancelled());
    assert_eq!(*seen.lock().unwrap(), ["cancel", "finally Cancel"]);
    assert!(probe.is_released());
    assert_eq!(probe.values(), [1]);
}

#[test]
fn request_hook_sees_every_request_including_zero() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (sub, probe) = probe(&clock, 3);
    hot.flux()
        .do_on_request(move |n| s.lock().unwrap().push(n))
        .subscribe(sub);
    probe.request(5);
    probe.request(0);
    assert_eq!(*seen.lock().unwrap(), [3, 5, 0]);
    assert_eq!(
        hot.requests(),
        [3, 5, 0],
        "passed upstream unchanged; upstream answers 3.9"
    );
}

#[test]
fn finally_runs_once_when_cancel_races_with_completion() {
    for _ in 0..500 {
        let clock = VirtualTime::new();
        let hot = Hot::<u32>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let (sub, probe) = probe(&clock, 1);
        hot.flux()
            .do_finally(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .subscribe(sub);
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let h = hot.clone();
        let completer = std::thread::spawn(move || {
            b.wait();
            h.complete();
        });
        barrier.wait();
        probe.cancel();
        completer.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(probe.terminal_count() <= 1);
    }
}

#[test]
fn finally_runs_once_when_cancel_races_with_an_error() {
    for _ in 0..500 {
        let clock = VirtualTime::new();
        let hot = Hot::<u32>::new();
        let signals = Arc::new(Mutex::new(Vec::new()));
        let s = signals.clone();
        let (sub, probe) = probe(&clock, 1);
        hot.flux()
            .do_finally(move |signal| s.lock().unwrap().push(signal))
            .subscribe(sub);
        let h = hot.clone();
        let failer = std::thread::spawn(move || h.error(Error::msg("late")));
        probe.cancel();
        failer.join().unwrap();
        let signals = signals.lock().unwrap();
        assert_eq!(signals.len(), 1, "{signals:?}");
        assert!(matches!(signals[0], SignalType::Cancel | SignalType::Error));
    }
}

// ---- panics in hooks ----

#[test]
fn panicking_subscribe_hook_rejects_and_cancels_upstream() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let finally = Arc::new(Mutex::new(Vec::new()));
    let f = finally.clone();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .do_on_subscribe(|_| panic!("no subscribing today"))
        .do_finally(move |s| f.lock().unwrap().push(s))
        .subscribe(sub);
    assert!(hot.is_cancelled());
    assert_eq!(probe.events(), [Err(0, ErrorKind::Panicked)]);
    assert_eq!(*finally.lock().unwrap(), [SignalType::Error]);
}

#[test]
fn panicking_complete_hook_fails_the_stream() {
    let err = backflow::range(0..2u8)
        .do_on_complete(|| panic!("complete hook"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn panicking_error_hook_is_delivered_instead() {
    let err = backflow::error::<u8>(Error::msg("original"))
        .do_on_error(|_| panic!("error hook"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("error hook"));
}

#[test]
fn panicking_request_hook_cancels_upstream_and_is_reported() {
    hooked_errors(); // installed before the panic is reported
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, _probe) = probe(&clock, 1);
    hot.flux()
        .do_on_request(|_| panic!("request hook tag-r1"))
        .subscribe(sub);
    assert!(hot.is_cancelled());
    assert_eq!(
        hot.requests(),
        Vec::<u64>::new(),
        "the request did not go up"
    );
    assert_eq!(hooked_with("request hook tag-r1"), 1);
}

#[test]
fn panicking_cancel_hook_still_cancels_upstream() {
    hooked_errors(); // installed before the panic is reported
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 1);
    hot.flux()
        .do_on_cancel(|| panic!("cancel hook tag-c1"))
        .subscribe(sub);
    probe.cancel();
    assert!(hot.is_cancelled());
    assert_eq!(hooked_with("cancel hook tag-c1"), 1);
}

#[test]
fn panicking_finally_is_reported_after_the_stream_ended() {
    hooked_errors(); // installed before the panic is reported
    let out = backflow::range(0..2u8)
        .do_finally(|_| panic!("finally tag-f1"))
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1]);
    assert_eq!(hooked_with("finally tag-f1"), 1);
}

// ---- defer ----

#[test]
fn defer_builds_a_fresh_publisher_per_subscriber() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let source = backflow::defer(move || {
        let n = m.fetch_add(1, Ordering::SeqCst) as u32;
        backflow::range(0..n + 1)
    });
    assert_eq!(made.load(Ordering::SeqCst), 0, "lazy: nothing at assembly");
    assert_eq!(source.clone().collect().unwrap(), vec![0]);
    assert_eq!(source.collect().unwrap(), vec![0, 1]);
}

#[test]
fn defer_panic_rejects_the_subscriber() {
    let (sub, probe) = TestSubscriber::new(1);
    backflow::defer(|| -> Flux<backflow::source::Range<u8>> { panic!("no source") }).subscribe(sub);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
    assert_eq!(probe.subscribe_count(), 1, "on_subscribe first (rule 1.09)");
}

// ---- using ----

fn counted_using(
    hot: &Hot<u32>,
) -> (
    Flux<impl Publisher<Item = u32> + use<>>,
    Arc<Mutex<Vec<u32>>>,
) {
    let cleaned = Arc::new(Mutex::new(Vec::new()));
    let c = cleaned.clone();
    let h = hot.clone();
    let next_id = Arc::new(AtomicUsize::new(0));
    let source = backflow::using(
        move || next_id.fetch_add(1, Ordering::SeqCst) as u32,
        move |_id| h.flux(),
        move |id| c.lock().unwrap().push(id),
    );
    (source, cleaned)
}

#[test]
fn using_cleans_up_once_on_completion_before_it_goes_downstream() {
    let cleaned = Arc::new(Mutex::new(Vec::<String>::new()));
    let c = cleaned.clone();
    let seen_at_complete = Arc::new(Mutex::new(0));
    let (c2, s) = (cleaned.clone(), seen_at_complete.clone());
    backflow::using(
        || "res".to_string(),
        |r| backflow::from_iter(vec![r.len()]),
        move |r| c.lock().unwrap().push(r),
    )
    .subscribe_with(
        |_| {},
        |e| panic!("{e}"),
        move || *s.lock().unwrap() = c2.lock().unwrap().len(),
    );
    assert_eq!(*cleaned.lock().unwrap(), ["res"]);
    assert_eq!(
        *seen_at_complete.lock().unwrap(),
        1,
        "eager: cleaned before on_complete"
    );
}

#[test]
fn using_cleans_up_once_on_error_and_on_cancel() {
    let clock = VirtualTime::new();
    let hot = Hot::<u32>::new();
    let (source, cleaned) = counted_using(&hot);
    let (sub, failed) = probe(&clock, 1);
    source.subscribe(sub);
    hot.error(Error::msg("boom"));
    assert_eq!(failed.events(), [Err(0, ErrorKind::Custom)]);
    assert_eq!(*cleaned.lock().unwrap(), [0]);

    let hot = Hot::<u32>::new();
    let (source, cleaned) = counted_using(&hot);
    let (sub, probe) = probe(&clock, 1);
    source.subscribe(sub);
    probe.cancel();
    probe.cancel();
    assert!(hot.is_cancelled());
    assert_eq!(*cleaned.lock().unwrap(), [0]);
}

#[test]
fn using_cleans_up_once_when_cancel_races_with_completion() {
    let clock = VirtualTime::new();
    for _ in 0..500 {
        let hot = Hot::<u32>::new();
        let (source, cleaned) = counted_using(&hot);
        let (sub, probe) = probe(&clock, 1);
        source.subscribe(sub);
        let h = hot.clone();
        let completer = std::thread::spawn(move || h.complete());
        probe.cancel();
        completer.join().unwrap();
        assert_eq!(*cleaned.lock().unwrap(), [0]);
    }
}

#[test]
fn using_cleans_up_when_the_build_panics() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let (sub, probe) = TestSubscriber::new(1);
    backflow::using(
        || 7u8,
        |_| -> Flux<backflow::source::Range<u8>> { panic!("cannot build") },
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        },
    )
    .subscribe(sub);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
}

#[test]
fn using_each_subscriber_gets_its_own_resource() {
    let cleaned = Arc::new(Mutex::new(Vec::new()));
    let c = cleaned.clone();
    let next = Arc::new(AtomicUsize::new(0));
    let source = backflow::using(
        move || next.fetch_add(1, Ordering::SeqCst),
        |id| backflow::just(*id),
        move |id| c.lock().unwrap().push(id),
    );
    assert_eq!(source.clone().collect().unwrap(), vec![0]);
    assert_eq!(source.collect().unwrap(), vec![1]);
    assert_eq!(*cleaned.lock().unwrap(), [0, 1]);
}

#[test]
fn using_failing_cleanup_fails_a_completing_stream() {
    let err = backflow::using(|| (), |_| backflow::range(0..2u8), |_| panic!("cleanup"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}
