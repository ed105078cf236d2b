//! Error recovery: `on_error_resume`, `on_error_return`, `on_error_map`, `on_error_complete`.
//! Outputs on `range`, demand carried over to the fallback, cancel before and after the switch,
//! panics in the user's closures.

mod timed_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

fn boom() -> Error {
    Error::msg("boom")
}

// ---- on_error_resume ----

#[test]
fn resume_continues_with_the_fallback() {
    let out = backflow::range(0..3u32)
        .concat_with(backflow::error(boom()))
        .on_error_resume(|e| {
            assert_eq!(e.to_string(), "boom");
            backflow::range(10..13u32)
        })
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 10, 11, 12]);
}

#[test]
fn resume_passes_a_clean_run_unchanged() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let out = backflow::range(0..5u32)
        .on_error_resume(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            backflow::range(0..1u32)
        })
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3, 4]);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no error: no fallback");
}

#[test]
fn resume_carries_outstanding_demand_to_the_fallback() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let fb = fallback.clone();
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .on_error_resume(move |_| fb.flux())
        .subscribe(sub);
    assert_eq!(main.requests(), [5], "1:1 before the error");
    main.emit(1);
    main.emit(2);
    main.error(boom());
    assert!(fallback.is_subscribed());
    assert_eq!(
        fallback.requests(),
        [3],
        "5 requested, 2 delivered: 3 still owed"
    );
    fallback.emit(3);
    probe.request(4);
    assert_eq!(
        fallback.requests(),
        [3, 4],
        "later demand goes to the fallback"
    );
    assert_eq!(main.requests(), [5], "and not to the failed upstream");
    fallback.complete();
    assert_eq!(
        probe.events(),
        [Next(0, 1), Next(0, 2), Next(0, 3), Complete(0)]
    );
    assert!(probe.is_released());
}

#[test]
fn resume_with_no_demand_left_requests_nothing_until_asked() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let fb = fallback.clone();
    let (sub, probe) = probe(&clock, 1);
    main.flux()
        .on_error_resume(move |_| fb.flux())
        .subscribe(sub);
    main.emit(1);
    main.error(boom());
    assert!(fallback.is_subscribed());
    assert_eq!(
        fallback.requests(),
        Vec::<u64>::new(),
        "all demand was spent"
    );
    probe.request(2);
    assert_eq!(fallback.requests(), [2]);
}

#[test]
fn resume_unbounded_demand_stays_unbounded() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let fb = fallback.clone();
    let (sub, _probe) = probe(&clock, u64::MAX);
    main.flux()
        .on_error_resume(move |_| fb.flux())
        .subscribe(sub);
    main.emit(1);
    main.error(boom());
    assert_eq!(fallback.requests(), [u64::MAX]);
}

#[test]
fn resume_cancel_before_the_error_cancels_upstream_and_never_resumes() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .on_error_resume(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            backflow::range(0..3u32)
        })
        .subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
    main.error(boom());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(probe.is_released(), "rule 3.13");
    assert_eq!(probe.terminal_count(), 0);
}

#[test]
fn resume_cancel_after_the_switch_cancels_the_fallback() {
    let clock = VirtualTime::new();
    let (main, fallback) = (Hot::<u32>::new(), Hot::<u32>::new());
    let fb = fallback.clone();
    let (sub, probe) = probe(&clock, 5);
    main.flux()
        .on_error_resume(move |_| fb.flux())
        .subscribe(sub);
    main.error(boom());
    fallback.emit(7);
    probe.cancel();
    assert!(fallback.is_cancelled());
    assert_eq!(probe.values(), [7]);
    assert!(probe.is_released());
}

#[test]
fn resume_panicking_fallback_function_is_an_error() {
    let err = backflow::range(0..2u32)
        .concat_with(backflow::error(boom()))
        .on_error_resume(|_| -> Flux<backflow::source::Range<u32>> { panic!("no fallback") })
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("no fallback"), "{err}");
}

#[test]
fn resume_fallback_error_reaches_downstream() {
    let err = backflow::error::<u32>(boom())
        .on_error_resume(|_| backflow::error::<u32>(Error::new(ErrorKind::Closed, "second")))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[test]
fn resume_can_rethrow_selectively_with_boxed_branches() {
    let pick = |e: Error| match e.kind() {
        ErrorKind::Timeout => backflow::just(0u8).boxed(),
        _ => backflow::error(e).boxed(),
    };
    let ok = backflow::error::<u8>(Error::timeout("slow"))
        .on_error_resume(pick)
        .collect()
        .unwrap();
    assert_eq!(ok, vec![0]);
    let err = backflow::error::<u8>(boom())
        .on_error_resume(pick)
        .collect()
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");
}

#[test]
fn resume_chained_twice() {
    let out = backflow::error::<u32>(boom())
        .on_error_resume(|_| backflow::just(1u32).concat_with(backflow::error(boom())))
        .on_error_resume(|_| backflow::just(2u32))
        .collect_with(Request::Batch(1))
        .unwrap();
    assert_eq!(out, vec![1, 2]);
}

#[test]
fn resume_panicking_downstream_in_the_fallback_is_reported() {
    let (sub, probe) = TestSubscriber::builder()
        .initial_request(10)
        .panic_on_item(2)
        .build();
    backflow::range(0..1u32)
        .concat_with(backflow::error(boom()))
        .on_error_resume(|_| backflow::range(5..10u32))
        .subscribe(sub);
    let err = probe.error().expect("the panic comes back as on_error");
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

// ---- on_error_return ----

#[test]
fn return_replaces_the_error_with_an_item() {
    let out = backflow::range(0..3i64)
        .concat_with(backflow::error(boom()))
        .on_error_return(|e| -(e.to_string().len() as i64))
        .collect()
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, -4]);
}

#[test]
fn return_waits_for_demand() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 2);
    main.flux().on_error_return(|_| 99).subscribe(sub);
    main.emit(1);
    main.emit(2);
    main.error(boom());
    assert_eq!(
        probe.events(),
        [Next(0, 1), Next(0, 2)],
        "no demand left for the item"
    );
    probe.request(1);
    assert_eq!(
        probe.events(),
        [Next(0, 1), Next(0, 2), Next(0, 99), Complete(0)]
    );
}

#[test]
fn return_cancel_before_request_drops_the_item() {
    let clock = VirtualTime::new();
    let main = Hot::<Arc<()>>::new();
    let witness = Arc::new(());
    let w = witness.clone();
    let (sub, probe) = probe(&clock, 0);
    main.flux()
        .on_error_return(move |_| w.clone())
        .subscribe(sub);
    main.error(boom());
    // The witness here, and the item (the closure went with the failed upstream's subscriber).
    assert_eq!(Arc::strong_count(&witness), 2, "the item is held");
    probe.cancel();
    assert_eq!(Arc::strong_count(&witness), 1, "dropped on cancel");
    assert_eq!(probe.terminal_count(), 0);
    assert!(probe.is_released());
}

#[test]
fn return_request_zero_after_the_error_is_rule_3_09() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 0);
    main.flux().on_error_return(|_| 1).subscribe(sub);
    main.error(boom());
    probe.request(0);
    assert_eq!(probe.events(), [Err(0, ErrorKind::InvalidDemand)]);
}

#[test]
fn return_panicking_function_is_an_error() {
    let err = backflow::error::<u32>(boom())
        .on_error_return(|_| panic!("cannot recover"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

// ---- on_error_map ----

#[test]
fn map_error_transforms_the_error_only() {
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..2u32)
        .concat_with(backflow::error(boom()))
        .on_error_map(|e| Error::with_source(ErrorKind::Closed, "wrapped", e))
        .subscribe(sub);
    assert_eq!(probe.values(), vec![0, 1]);
    let err = probe.error().unwrap();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert_eq!(
        std::error::Error::source(&err).map(|s| s.to_string()),
        Some("boom".to_string())
    );
}

#[test]
fn map_error_passes_demand_and_completion_through() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 3);
    main.flux().on_error_map(|e| e).subscribe(sub);
    probe.request(4);
    assert_eq!(main.requests(), [3, 4]);
    main.complete();
    assert_eq!(probe.events(), [Complete(0)]);
    probe.cancel();
}

#[test]
fn map_error_panic_is_delivered_instead() {
    let err = backflow::error::<u32>(boom())
        .on_error_map(|_| panic!("mapper"))
        .collect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("mapper"));
}

#[test]
fn map_error_cancel_reaches_upstream() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 1);
    main.flux().on_error_map(|e| e).subscribe(sub);
    probe.cancel();
    assert!(main.is_cancelled());
}

// ---- on_error_complete ----

#[test]
fn complete_swallows_the_error() {
    let (sub, probe) = TestSubscriber::new(u64::MAX);
    backflow::range(0..3u32)
        .concat_with(backflow::error(boom()))
        .on_error_complete()
        .subscribe(sub);
    assert_eq!(probe.values(), vec![0, 1, 2]);
    assert!(probe.is_complete());
    probe.assert_protocol();
}

#[test]
fn complete_passes_demand_and_cancel() {
    let clock = VirtualTime::new();
    let main = Hot::<u32>::new();
    let (sub, probe) = probe(&clock, 2);
    main.flux().on_error_complete().subscribe(sub);
    assert_eq!(main.requests(), [2]);
    probe.cancel();
    assert!(main.is_cancelled());
}

#[test]
fn a_downstream_panic_is_not_recovered_from() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (sub, probe) = TestSubscriber::builder()
        .initial_request(10)
        .panic_on_item(1)
        .build();
    backflow::range(0..5u32)
        .on_error_resume(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            backflow::range(0..3u32)
        })
        .subscribe(sub);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the subscriber's bug is not the stream's error"
    );
    assert_eq!(probe.terminal_count(), 1);
}

#[test]
fn request_zero_is_not_recovered_from() {
    for recovered in [
        backflow::range(0..5u32)
            .on_error_resume(|_| backflow::range(0..1u32))
            .boxed(),
        backflow::range(0..5u32).on_error_return(|_| 0).boxed(),
        backflow::range(0..5u32).on_error_complete().boxed(),
        backflow::range(0..5u32)
            .on_error_map(|_| Error::msg("mapped"))
            .boxed(),
    ] {
        let (sub, probe) = TestSubscriber::new(0);
        recovered.subscribe(sub);
        probe.request(0);
        assert_eq!(
            probe.error().map(|e| e.kind()),
            Some(ErrorKind::InvalidDemand)
        );
    }
}
