//! Rule 3.9 regressions: `request(0)` made while items are flowing must end the stream with
//! `on_error(InvalidDemand)`, whichever stage would otherwise have ended it first.

use std::time::Duration;

use backflow::prelude::*;

const LONG: Duration = Duration::from_secs(10);

/// Rule 3.9 with a drain already running: `request(0)` from inside `on_next` under unbounded demand
/// used to be noticed only after the drain had served all of its demand, so a finite source
/// completed instead of failing and an infinite one never signalled the error at all. Items of the
/// run already under way may still arrive (rule 1.08); then comes the error, never on_complete.
#[test]
fn request_zero_inside_an_unbounded_drain_signals_invalid_demand() {
    for upstream_len in [1_000u64, u64::MAX] {
        let (subscriber, probe) = TestSubscriber::builder()
            .initial_request(u64::MAX)
            .keep_values(false)
            .on_each(|probe, count| {
                if count == 3 {
                    probe.request(0)
                }
            })
            .build();
        backflow::range(0..upstream_len).subscribe(subscriber);
        let error = probe.await_error(LONG).unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidDemand);
        assert!(error.to_string().contains("3.9"), "{error}");
        assert!(probe.next_count() >= 3);
        probe.await_dropped(LONG).unwrap();
        probe.assert_protocol();
    }
}

/// The same through an operator chain, with bounded demand.
#[test]
fn request_zero_inside_a_bounded_drain_signals_invalid_demand() {
    let (subscriber, probe) = TestSubscriber::builder()
        .initial_request(500)
        .on_each(|probe, count| {
            if count == 2 {
                probe.request(0)
            }
        })
        .build();
    backflow::range(0..1_000u32)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .subscribe(subscriber);
    assert_eq!(
        probe.await_error(LONG).unwrap().kind(),
        ErrorKind::InvalidDemand
    );
    assert_eq!(probe.values()[..2], [2, 4]);
    assert!(probe.next_count() <= 500);
    probe.assert_protocol();
}

/// Rule 3.6: after cancel, `request(0)` is a no-op, not an error.
#[test]
fn request_zero_after_cancel_is_a_no_op() {
    let (subscriber, probe) = TestSubscriber::new(1);
    backflow::range(0..10u8).subscribe(subscriber);
    probe.cancel();
    probe.request(0);
    probe.expect_no_signal(Duration::from_millis(5)).unwrap();
    assert!(probe.terminal().is_none());
    assert_eq!(probe.values(), vec![0]);
}

/// The same breach in the `Stream` bridge, which has a drain loop of its own: `request(0)` from
/// inside `on_next` under unbounded demand must end in on_error, even over an endless stream.
#[test]
fn request_zero_inside_a_stream_drain_signals_invalid_demand() {
    for endless in [false, true] {
        let (subscriber, probe) = TestSubscriber::builder()
            .initial_request(u64::MAX)
            .keep_values(false)
            .on_each(|probe, count| {
                if count == 3 {
                    probe.request(0)
                }
            })
            .build();
        let items = if endless { u64::MAX } else { 100 };
        backflow::from_stream(futures::stream::iter(0..items)).subscribe(subscriber);
        let error = probe.await_error(LONG).unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidDemand);
        assert_eq!(probe.next_count(), 3);
        probe.await_dropped(LONG).unwrap();
        probe.assert_protocol();
    }
}

/// `take` may reach its count inside the run of items the source delivers before it answers the
/// `request(0)`; it used to complete then, and the error went to the hook. It answers itself now.
#[test]
fn request_zero_before_take_reaches_its_count_signals_invalid_demand() {
    for upstream_len in [150u64, u64::MAX] {
        let (subscriber, probe) = TestSubscriber::builder()
            .initial_request(u64::MAX)
            .on_each(|probe, count| {
                if count == 1 {
                    probe.request(0)
                }
            })
            .build();
        backflow::range(0..upstream_len)
            .take(100)
            .subscribe(subscriber);
        let error = probe.await_error(LONG).unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidDemand);
        assert!(probe.next_count() <= 100);
        probe.await_dropped(LONG).unwrap();
        probe.assert_protocol();
    }
}
