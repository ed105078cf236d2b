//! `TestSubscriber` and its probe: what they record, how they wait, which breaches they flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow::sink::{ProbeErrorKind, Terminal};
use backflow::NoopSubscription;

/// Generous: these waits succeed at once on a correct run; the bound only matters when a test fails.
const LONG: Duration = Duration::from_secs(10);
/// The window of "nothing arrives" checks on synchronous streams, where a late signal cannot come.
const QUIET: Duration = Duration::from_millis(5);

/// A subscription that records what the subscriber asks of it.
#[derive(Default)]
struct Recording {
    requests: Mutex<Vec<u64>>,
    cancelled: AtomicBool,
}

impl Subscription for Recording {
    fn request(&self, n: u64) {
        self.requests.lock().unwrap().push(n);
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

#[test]
fn smoke() {
    let (subscriber, probe) = TestSubscriber::new(3);
    backflow::range(0..10u32).subscribe(subscriber);
    probe.await_values(3, LONG).unwrap();
    assert_eq!(probe.values(), vec![0, 1, 2]);
    assert_eq!(probe.requested(), 3);
    probe.expect_no_signal(QUIET).unwrap();
    probe.request(u64::MAX);
    probe.await_complete(LONG).unwrap();
    assert_eq!(probe.values(), (0..10).collect::<Vec<_>>());
    assert!(probe.is_complete());
    assert!(probe.error().is_none());
    assert_eq!(probe.subscribe_count(), 1);
    assert_eq!(probe.max_depth(), 1);
    assert_eq!(probe.threads(), vec![std::thread::current().id()]);
    probe.assert_protocol();
}

#[test]
fn requests_and_cancel_before_on_subscribe_are_replayed() {
    let (mut subscriber, probe) = TestSubscriber::<u8>::new(2);
    probe.request(5);
    probe.cancel();
    let recording = Arc::new(Recording::default());
    subscriber.on_subscribe(recording.clone());
    assert_eq!(*recording.requests.lock().unwrap(), vec![2, 5]);
    assert!(recording.cancelled.load(Ordering::SeqCst));
    assert_eq!(probe.requested(), 7);
    assert!(probe.is_cancelled());
}

#[test]
fn second_on_subscribe_is_cancelled() {
    let (mut subscriber, probe) = TestSubscriber::<u8>::new(1);
    let first = Arc::new(Recording::default());
    let second = Arc::new(Recording::default());
    subscriber.on_subscribe(first.clone());
    subscriber.on_subscribe(second.clone());
    assert!(!first.cancelled.load(Ordering::SeqCst));
    assert!(second.cancelled.load(Ordering::SeqCst));
    assert!(second.requests.lock().unwrap().is_empty());
    assert_eq!(probe.subscribe_count(), 2);
    assert!(probe.violations()[0].starts_with("[1.09]"));
}

#[test]
fn await_values_times_out_with_what_it_saw() {
    let (mut subscriber, probe) = TestSubscriber::<u8>::new(4);
    subscriber.on_subscribe(NoopSubscription::shared());
    subscriber.on_next(7);
    let err = probe.await_values(2, Duration::from_millis(1)).unwrap_err();
    assert_eq!(err.kind(), ProbeErrorKind::Timeout);
    let shown = err.to_string();
    assert!(shown.contains("2 items"), "{shown}");
    assert!(
        shown.contains("1 items of 4 requested, no terminal signal"),
        "{shown}"
    );
}

#[test]
fn await_values_stops_at_an_early_end() {
    let (subscriber, probe) = TestSubscriber::new(10);
    backflow::range(0..2u8).subscribe(subscriber);
    let err = probe.await_values(3, LONG).unwrap_err();
    assert_eq!(err.kind(), ProbeErrorKind::Terminated);
    assert!(err.to_string().contains("on_complete"), "{err}");
}

#[test]
fn await_complete_and_await_error_tell_the_ends_apart() {
    let (subscriber, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..3u8)
        .map(|x| if x == 1 { panic!("one") } else { x })
        .subscribe(subscriber);
    let err = probe.await_complete(LONG).unwrap_err();
    assert_eq!(err.kind(), ProbeErrorKind::Terminated);
    assert_eq!(probe.await_error(LONG).unwrap().kind(), ErrorKind::Panicked);
    assert!(matches!(probe.terminal(), Some(Terminal::Error(_))));

    let (subscriber, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..3u8).subscribe(subscriber);
    assert_eq!(
        probe.await_error(LONG).unwrap_err().kind(),
        ProbeErrorKind::Terminated
    );
}

#[test]
fn expect_no_signal_reports_the_signal_that_came() {
    let (mut subscriber, probe) = TestSubscriber::<u64>::new(u64::MAX);
    subscriber.on_subscribe(NoopSubscription::shared());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Signals keep coming until the probe has seen one, so the window cannot miss them.
    let producer = std::thread::spawn(move || {
        let mut i = 0;
        while !flag.load(Ordering::SeqCst) {
            subscriber.on_next(i);
            i += 1;
            std::thread::yield_now();
        }
    });
    let err = probe.expect_no_signal(LONG).unwrap_err();
    stop.store(true, Ordering::SeqCst);
    producer.join().unwrap();
    assert_eq!(err.kind(), ProbeErrorKind::UnexpectedSignal);
    assert!(err.to_string().contains("on_next"), "{err}");
}

#[test]
fn flags_items_beyond_demand_and_signals_after_the_end() {
    let (mut subscriber, probe) = TestSubscriber::<u8>::new(1);
    subscriber.on_next(0); // before on_subscribe
    subscriber.on_subscribe(NoopSubscription::shared());
    subscriber.on_next(1);
    subscriber.on_next(2); // 2 items, 1 requested
    subscriber.on_complete();
    subscriber.on_error(Error::msg("late"));
    assert!(probe.demand_exceeded());
    assert_eq!(probe.signals_before_subscribe(), 1);
    assert_eq!(probe.terminal_count(), 2);
    assert_eq!(probe.signals_after_terminal(), 1);
    assert!(probe.is_complete(), "the first terminal signal wins");
    let violations = probe.violations().join("\n");
    for rule in ["[1.09]", "[1.01]", "[1.07]"] {
        assert!(
            violations.contains(rule),
            "{rule} missing from {violations}"
        );
    }
    let result = std::panic::catch_unwind(|| probe.assert_protocol());
    assert!(result.is_err());
}

#[test]
fn cancel_after_stops_the_stream_and_releases_the_subscriber() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(100)
        .cancel_after(4)
        .build();
    let liveness = probe.liveness();
    backflow::range(0..50u32).subscribe(subscriber);
    // Items already on their way when the cancel is made may still arrive (rule 1.08).
    let values = probe.values();
    assert_eq!(values[..4], [0, 1, 2, 3]);
    assert_eq!(probe.next_after_cancel(), values.len() as u64 - 4);
    assert!(probe.is_cancelled());
    assert!(probe.terminal().is_none());
    probe.await_dropped(LONG).unwrap();
    assert!(liveness.upgrade().is_none());
    probe.assert_protocol();
}

#[test]
fn request_after_each_drives_a_stream_one_by_one() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(1)
        .request_after_each(1)
        .build();
    backflow::range(0..20u32).subscribe(subscriber);
    probe.await_complete(LONG).unwrap();
    assert_eq!(probe.next_count(), 20);
    assert_eq!(probe.requested(), 21);
    assert_eq!(probe.max_depth(), 1);
    probe.assert_protocol();
}

#[test]
fn panic_on_item_is_reported_by_the_source() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(10)
        .panic_on_item(2)
        .build();
    backflow::range(0..10u32).subscribe(subscriber);
    assert_eq!(probe.values(), vec![0, 1]);
    let error = probe.await_error(LONG).unwrap();
    assert_eq!(error.kind(), ErrorKind::Panicked);
    assert!(error.to_string().contains("panic_on_item(2)"), "{error}");
    probe.await_dropped(LONG).unwrap();
    probe.assert_protocol();
}

#[test]
fn on_each_can_cancel_from_inside_on_next() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(u64::MAX)
        .on_each(|probe, count| {
            if count == 5 {
                probe.cancel()
            }
        })
        .build();
    backflow::range(0..1_000u32).subscribe(subscriber);
    assert!(probe.is_cancelled());
    assert_eq!(probe.next_after_cancel(), probe.next_count() - 5);
    assert!(probe.terminal().is_none());
    probe.await_dropped(LONG).unwrap();
}

#[test]
fn keep_values_false_still_counts() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(u64::MAX)
        .keep_values(false)
        .build();
    backflow::range(0..1_000u32).subscribe(subscriber);
    assert_eq!(probe.next_count(), 1_000);
    assert!(probe.with_values(|v| v.is_empty()));
}

#[test]
fn records_the_threads_signals_arrived_on() {
    let (subscriber, probe) = TestSubscriber::new(u64::MAX);
    let worker = std::thread::spawn(move || {
        backflow::range(0..3u8).subscribe(subscriber);
        std::thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(probe.threads(), vec![worker]);
}

#[test]
fn probe_requests_from_several_threads_at_once() {
    let (subscriber, probe) = TestSubscriber::builder().keep_values(false).build();
    backflow::range(0..4_000u32).subscribe(subscriber);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    probe.await_complete(LONG).unwrap();
    assert_eq!(probe.next_count(), 4_000);
    assert_eq!(probe.overlaps(), 0);
    probe.assert_protocol();
}

/// Re-entrant `request(1)` from inside every `on_next`, a million times: the source trampolines
/// the requests in its drain loop, so no handler ever runs inside another (rule 3.03) and the stack
/// does not grow.
#[test]
fn reentrant_request_depth_stays_one() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(1)
        .request_after_each(1)
        .keep_values(false)
        .build();
    backflow::range(0..1_000_000u64).subscribe(subscriber);
    probe.await_complete(LONG).unwrap();
    assert_eq!(probe.next_count(), 1_000_000);
    assert_eq!(probe.max_depth(), 1);
    probe.assert_protocol();
}
