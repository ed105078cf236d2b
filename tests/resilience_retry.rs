//! Retry and repeat: no item delivered twice across resubscriptions, the Retry-After hint, the
//! jitter's bounds, the budget, cancellation while waiting; all on virtual time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow::prelude::*;
use backflow::resilience::retry::{ExponentialBackoff, Jitter, RetryBudget};
use backflow::sched::VirtualTime;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A cold source of `0..len` that fails right after item `fail_at[k]` on its `k`-th run.
fn flaky(
    len: u32,
    fail_at: Vec<u32>,
) -> (
    impl Publisher<Item = u32> + Send + Sync + 'static,
    Arc<AtomicU32>,
) {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let fail_at = Arc::new(fail_at);
    let source = backflow::range(0..len + 1)
        .map(move |x| {
            if x == 0 {
                r.fetch_add(1, Ordering::SeqCst);
            }
            x
        })
        .boxed();
    let runs2 = runs.clone();
    let f = fail_at.clone();
    let source = source
        .try_map(move |x| {
            let run = runs2.load(Ordering::SeqCst) as usize - 1;
            match f.get(run) {
                Some(&at) if x == at + 1 => Err(Error::msg(format!("run {run} failed"))),
                _ if x == len => Err(Error::msg("unreachable end")),
                _ => Ok(x),
            }
        })
        .take(len as u64);
    (source.into_inner(), runs)
}

#[test]
fn no_item_is_delivered_twice_across_resubscriptions() {
    let (source, runs) = flaky(10, vec![2, 2, 5, 8]);
    let out = Flux::new(source).retry(10).collect().unwrap();
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[test]
fn no_item_twice_with_small_demand() {
    let (source, _) = flaky(20, vec![3, 7, 7, 15]);
    let out = Flux::new(source)
        .retry(10)
        .collect_with(Request::Batch(2))
        .unwrap();
    assert_eq!(out, (0..20).collect::<Vec<_>>());
}

#[test]
fn replay_delivers_again_like_reactor() {
    let (source, _) = flaky(4, vec![1]);
    let out = Flux::new(source).retry(1).replay().collect().unwrap();
    assert_eq!(out, [0, 1, 0, 1, 2, 3]);
}

#[test]
fn exhausted_keeps_the_last_error() {
    let (source, runs) = flaky(5, vec![0, 1, 2]);
    let e = Flux::new(source).retry(2).collect().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RetryExhausted);
    assert_eq!(e.last().unwrap().to_string(), "run 2 failed");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[test]
fn retry_zero_fails_at_once_and_completion_passes() {
    let e = backflow::error::<u32>(Error::msg("x"))
        .retry(0)
        .collect()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RetryExhausted);
    assert_eq!(
        backflow::range(0..3u32).retry(5).collect().unwrap(),
        [0, 1, 2]
    );
}

#[test]
fn retry_when_waits_each_delay_on_the_scheduler() {
    let clock = VirtualTime::new();
    let subscribed = Arc::new(AtomicU32::new(0));
    let s = subscribed.clone();
    let source = backflow::error::<u32>(Error::msg("down")).map(move |x| x);
    let counting = CountSubscribes(source.into_inner(), s);
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    Flux::new(counting)
        .retry_when(vec![ms(10), ms(20), ms(40)])
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
    clock.advance_by(ms(9));
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
    clock.advance_by(ms(1));
    assert_eq!(subscribed.load(Ordering::SeqCst), 2);
    clock.advance_by(ms(20));
    assert_eq!(subscribed.load(Ordering::SeqCst), 3);
    clock.advance_by(ms(39));
    assert!(probe.terminal().is_none());
    clock.advance_by(ms(1));
    assert_eq!(subscribed.load(Ordering::SeqCst), 4);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::RetryExhausted);
}

#[test]
fn the_retry_after_hint_is_honoured_and_capped() {
    let clock = VirtualTime::new();
    let hinted = Error::with_retry_after(ErrorKind::Rejected, "busy", Some(Duration::from_secs(5)));
    let subscribed = Arc::new(AtomicU32::new(0));
    let source = CountSubscribes(
        backflow::error::<u32>(hinted).into_inner(),
        subscribed.clone(),
    );
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    Flux::new(source)
        .retry_when(vec![ms(10), ms(10)])
        .max_delay(Duration::from_secs(2))
        .scheduler(clock.clone())
        .subscribe(sub);
    clock.advance_by(ms(1999));
    assert_eq!(
        subscribed.load(Ordering::SeqCst),
        1,
        "max(10 ms, 5 s) capped at 2 s"
    );
    clock.advance_by(ms(1));
    assert_eq!(subscribed.load(Ordering::SeqCst), 2);
    clock.advance_by(Duration::from_secs(2));
    assert_eq!(subscribed.load(Ordering::SeqCst), 3);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::RetryExhausted);
    // The exhausted error keeps the hint of the last one.
    assert_eq!(
        probe.error().unwrap().retry_after(),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn jitter_stays_within_its_bounds() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let backoff = ExponentialBackoff::new(ms(10), ms(1000))
            .jitter(jitter)
            .retries(12)
            .seed(42);
        for _run in 0..50 {
            let mut previous = ms(10);
            for (k, d) in backoff.clone().into_iter().enumerate() {
                let ceiling = (ms(10) * (1u32 << k)).min(ms(1000));
                assert!(
                    d >= ms(10) && d <= ms(1000),
                    "{jitter:?}: {d:?} out of [min, max]"
                );
                match jitter {
                    Jitter::None => assert_eq!(d, ceiling),
                    Jitter::Full => assert!(d <= ceiling),
                    Jitter::Equal => assert!(d >= ceiling / 2 && d <= ceiling),
                    Jitter::Decorrelated => assert!(d <= (previous * 3).min(ms(1000))),
                }
                previous = d;
            }
        }
    }
}

#[test]
fn jitter_is_reproducible_with_a_seed_and_spread() {
    let a = ExponentialBackoff::new(ms(10), ms(10_000))
        .retries(8)
        .seed(1);
    let b = ExponentialBackoff::new(ms(10), ms(10_000))
        .retries(8)
        .seed(1);
    let runs_a: Vec<Vec<Duration>> = (0..3).map(|_| a.clone().into_iter().collect()).collect();
    let runs_b: Vec<Vec<Duration>> = (0..3).map(|_| b.clone().into_iter().collect()).collect();
    assert_eq!(runs_a, runs_b, "same seed, same runs");
    assert_ne!(runs_a[0], runs_a[1], "each run draws its own jitter");
    assert_eq!(runs_a[0].len(), 8);
}

#[test]
fn the_budget_stops_retries_when_exhausted() {
    let budget = RetryBudget::new(4, 0.5);
    let subscribed = Arc::new(AtomicU32::new(0));
    let source = CountSubscribes(
        backflow::error::<u32>(Error::msg("down")).into_inner(),
        subscribed.clone(),
    );
    let e = Flux::new(source)
        .retry(100)
        .budget(&budget)
        .collect()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RetryExhausted);
    // 4 tokens: failures leave 3 (retry), then 2 = half (stop).
    assert_eq!(subscribed.load(Ordering::SeqCst), 2);
    assert!(!budget.can_retry());
    // Shared: a second stream gets no retry at all now.
    let source = CountSubscribes(
        backflow::error::<u32>(Error::msg("down")).into_inner(),
        subscribed.clone(),
    );
    let _ = Flux::new(source).retry(100).budget(&budget).collect();
    assert_eq!(subscribed.load(Ordering::SeqCst), 3);
    // Successes refill it: 1 token + 3 × 0.5 = 2.5 > half.
    for _ in 0..3 {
        backflow::range(0..1u32)
            .retry(1)
            .budget(&budget)
            .collect()
            .unwrap();
    }
    assert!(budget.can_retry());
}

#[test]
fn retry_if_retries_only_some_errors() {
    let subscribed = Arc::new(AtomicU32::new(0));
    let source = CountSubscribes(
        backflow::error::<u32>(Error::msg("fatal")).into_inner(),
        subscribed.clone(),
    );
    let e = Flux::new(source)
        .retry(5)
        .retry_if(|e| e.kind() == ErrorKind::Rejected)
        .collect()
        .unwrap_err();
    assert_eq!(e.to_string(), "fatal");
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
}

#[test]
fn cancel_while_waiting_cancels_the_timer_and_releases_the_subscriber() {
    let clock = VirtualTime::new();
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    let alive = probe.liveness();
    backflow::error::<u32>(Error::msg("down"))
        .retry_when(vec![Duration::from_secs(60)])
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(clock.pending(), 1);
    probe.cancel();
    assert_eq!(clock.pending(), 0);
    assert!(alive.upgrade().is_none(), "rule 3.13");
    clock.advance_by(Duration::from_secs(120));
    assert!(probe.terminal().is_none());
}

#[test]
fn a_panicking_downstream_is_not_retried() {
    let subscribed = Arc::new(AtomicU32::new(0));
    let source = CountSubscribes(backflow::range(0..5u32).into_inner(), subscribed.clone());
    let (sub, probe) = TestSubscriber::<u32>::builder()
        .initial_request(u64::MAX)
        .panic_on_item(1)
        .build();
    Flux::new(source).retry(5).subscribe(sub);
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
}

#[test]
fn retry_metrics_count_resubscriptions_and_give_ups() {
    let registry = backflow::metrics::Registry::new();
    let m = registry.primitive("inventory-calls", "retry");
    let _ = backflow::error::<u32>(Error::msg("x"))
        .retry(3)
        .metrics(m)
        .collect();
    let snap = &registry.primitive_snapshot()[0];
    assert_eq!((snap.admitted, snap.rejected), (3, 1));
}

#[test]
fn repeat_runs_n_more_times_and_stops_on_error() {
    assert_eq!(
        backflow::range(0..3u32).repeat(1).collect().unwrap(),
        [0, 1, 2, 0, 1, 2]
    );
    assert_eq!(
        backflow::range(0..3u32).repeat(0).collect().unwrap(),
        [0, 1, 2]
    );
    let subscribed = Arc::new(AtomicU32::new(0));
    let source = CountSubscribes(
        backflow::error::<u32>(Error::msg("x")).into_inner(),
        subscribed.clone(),
    );
    assert!(Flux::new(source).repeat(5).collect().is_err());
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
}

#[test]
fn repeat_with_demand_across_runs() {
    let out = backflow::range(0..5u32)
        .repeat(3)
        .collect_with(Request::Batch(3))
        .unwrap();
    assert_eq!(out.len(), 20);
    let long = backflow::just(1u8)
        .repeat(10_000)
        .count()
        .collect()
        .unwrap();
    assert_eq!(long, [10_001], "synchronous runs trampoline, not recurse");
}

#[test]
fn repeat_when_waits_between_runs() {
    let clock = VirtualTime::new();
    let (sub, probe) = TestSubscriber::<u32>::new(u64::MAX);
    backflow::range(0..2u32)
        .repeat_when(vec![ms(100), ms(50)])
        .scheduler(clock.clone())
        .subscribe(sub);
    assert_eq!(probe.values(), [0, 1]);
    clock.advance_by(ms(99));
    assert_eq!(probe.values(), [0, 1]);
    clock.advance_by(ms(1));
    assert_eq!(probe.values(), [0, 1, 0, 1]);
    clock.advance_by(ms(50));
    assert_eq!(probe.values(), [0, 1, 0, 1, 0, 1]);
    assert!(probe.is_complete());
}

/// Counts how many times it was subscribed.
struct CountSubscribes<P>(P, Arc<AtomicU32>);

impl<P: Publisher> Publisher for CountSubscribes<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, s: S) {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.subscribe(s)
    }
}
