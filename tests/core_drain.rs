//! The shared source drain loop (src/source/pull.rs): demand, fusion, re-entrancy, cancel, panics.

use std::cell::Cell;
use std::sync::{Arc, Mutex, Weak};

use backflow::prelude::*;

/// What a recording subscriber saw.
#[derive(Default, Debug)]
struct Seen {
    items: Vec<u64>,
    completed: u32,
    errors: Vec<Error>,
    max_depth: u32,
}

thread_local! { static DEPTH: Cell<u32> = const { Cell::new(0) }; }

/// Requests `first` up front, then `per_item` from inside each on_next (0 = none); cancels after
/// `cancel_after` items if set.
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    sub: Option<SharedSubscription>,
    first: u64,
    per_item: u64,
    cancel_after: Option<usize>,
    _alive: Arc<()>,
}

fn recorder(first: u64, per_item: u64) -> (Recorder, Arc<Mutex<Seen>>, Weak<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let r = Recorder {
        seen: seen.clone(),
        sub: None,
        first,
        per_item,
        cancel_after: None,
        _alive: alive,
    };
    (r, seen, weak)
}

impl Subscriber<u64> for Recorder {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.sub = Some(s.clone());
        if self.first > 0 {
            s.request(self.first);
        }
    }
    fn on_next(&mut self, x: u64) {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let len = {
            let mut seen = self.seen.lock().unwrap();
            seen.items.push(x);
            seen.max_depth = seen.max_depth.max(depth);
            seen.items.len()
        };
        if self.cancel_after == Some(len) {
            self.sub.as_ref().unwrap().cancel();
        } else if self.per_item > 0 {
            self.sub.as_ref().unwrap().request(self.per_item);
        }
        DEPTH.with(|d| d.set(d.get() - 1));
    }
    fn on_error(&mut self, e: Error) {
        self.seen.lock().unwrap().errors.push(e);
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().completed += 1;
    }
}

#[test]
fn exact_demand_completes_without_another_request() {
    let (r, seen, _) = recorder(5, 0);
    backflow::range(0..5u64).subscribe(r);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.items, vec![0, 1, 2, 3, 4]);
    assert_eq!(seen.completed, 1);
}

#[test]
fn exact_demand_completes_for_iterators_without_exact_size() {
    let (r, seen, _) = recorder(3, 0);
    let items: Vec<u64> = vec![1, 2, 3, 4, 5, 6];
    // A filter makes the size hint inexact, so the source must look ahead to learn it is done.
    backflow::from_iter(items.into_iter().filter(|x| x % 2 == 0).collect::<Vec<_>>()).subscribe(r);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.items, vec![2, 4, 6]);
    assert_eq!(seen.completed, 1);
}

#[test]
fn empty_source_completes_without_request() {
    let (r, seen, _) = recorder(0, 0);
    backflow::range(3..3u64).subscribe(r);
    assert_eq!(seen.lock().unwrap().completed, 1);
    let (r, seen, _) = recorder(0, 0);
    backflow::from_iter(Vec::<u64>::new()).subscribe(r);
    assert_eq!(seen.lock().unwrap().completed, 1);
}

#[test]
fn no_items_without_demand() {
    let (r, seen, _) = recorder(0, 0);
    backflow::range(0..10u64).subscribe(r);
    let seen = seen.lock().unwrap();
    assert!(seen.items.is_empty());
    assert_eq!(seen.completed, 0);
}

#[test]
fn reentrant_request_one_keeps_depth_one_over_a_million_items() {
    let (r, seen, _) = recorder(1, 1);
    backflow::range(0..1_000_000u64).subscribe(r);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.items.len(), 1_000_000);
    assert_eq!(seen.max_depth, 1);
    assert_eq!(seen.completed, 1);
}

#[test]
fn filter_under_bounded_demand_delivers_exactly_the_demand() {
    for batch in [1u64, 2, 3, 7, 64, 1000] {
        let (r, seen, _) = recorder(batch, 0);
        let stream = backflow::range(0..10_000u64)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0);
        stream.subscribe(r);
        let seen = seen.lock().unwrap();
        let expected: Vec<u64> = (0..10_000u64)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .take(batch as usize)
            .collect();
        assert_eq!(seen.items, expected, "batch {batch}");
    }
}

#[test]
fn batched_sinks_match_the_iterator_model() {
    for request in [
        Request::Unbounded,
        Request::Batch(1),
        Request::Batch(3),
        Request::Batch(256),
    ] {
        let got = backflow::range(0..5000u64)
            .map(|x| x + 1)
            .filter(|x| x % 3 != 0)
            .collect_with(request)
            .unwrap();
        let want: Vec<u64> = (0..5000u64).map(|x| x + 1).filter(|x| x % 3 != 0).collect();
        assert_eq!(got, want, "{request:?}");
    }
}

#[test]
fn signed_and_narrow_ranges() {
    assert_eq!(
        backflow::range(-3..2i8).collect().unwrap(),
        vec![-3, -2, -1, 0, 1]
    );
    assert_eq!(
        backflow::range(250..255u8).collect().unwrap(),
        vec![250, 251, 252, 253, 254]
    );
    assert_eq!(
        backflow::range(i64::MAX - 2..i64::MAX).collect().unwrap(),
        vec![i64::MAX - 2, i64::MAX - 1]
    );
    assert_eq!(backflow::range(0..3000u16).collect().unwrap().len(), 3000);
}

#[test]
fn cancel_from_on_next_stops_and_releases_the_subscriber() {
    let (mut r, seen, alive) = recorder(u64::MAX, 0);
    r.cancel_after = Some(10);
    backflow::range(0..1_000_000u64).subscribe(r);
    let seen = seen.lock().unwrap();
    // Items of the run in flight may follow the cancel (rule 1.08), but the source stops soon after.
    assert!(
        seen.items.len() >= 10 && seen.items.len() <= 1024 + 10,
        "{}",
        seen.items.len()
    );
    assert_eq!(seen.completed, 0);
    assert!(
        alive.upgrade().is_none(),
        "rule 3.13: the source must drop the subscriber"
    );
}

#[test]
fn cancel_from_on_next_under_bounded_demand_is_exact() {
    let (mut r, seen, alive) = recorder(1, 1);
    r.cancel_after = Some(10);
    backflow::range(0..1_000u64).subscribe(r);
    assert_eq!(seen.lock().unwrap().items.len(), 10);
    assert!(alive.upgrade().is_none());
}

#[test]
fn terminated_subscription_releases_the_subscriber() {
    let (r, _, alive) = recorder(u64::MAX, 0);
    backflow::range(0..10u64).subscribe(r);
    assert!(alive.upgrade().is_none());
}

#[test]
fn request_zero_is_an_error_naming_rule_3_9() {
    let (r, seen, alive) = recorder(0, 0);
    let holder: Arc<Mutex<Option<SharedSubscription>>> = Arc::new(Mutex::new(None));
    struct Grab(Recorder, Arc<Mutex<Option<SharedSubscription>>>);
    impl Subscriber<u64> for Grab {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            *self.1.lock().unwrap() = Some(s.clone());
            self.0.on_subscribe(s)
        }
        fn on_next(&mut self, x: u64) {
            self.0.on_next(x)
        }
        fn on_error(&mut self, e: Error) {
            self.0.on_error(e)
        }
        fn on_complete(&mut self) {
            self.0.on_complete()
        }
    }
    backflow::range(0..10u64).subscribe(Grab(r, holder.clone()));
    let s = holder.lock().unwrap().take().unwrap();
    s.request(0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].kind(), ErrorKind::InvalidDemand);
    assert!(seen.errors[0].to_string().contains("3.9"));
    drop(seen);
    s.request(5); // after the terminal signal: a no-op
    assert!(alive.upgrade().is_none());
}

#[test]
fn unbounded_demand_saturates_without_wrapping() {
    let (r, seen, _) = recorder(u64::MAX - 1, 0);
    backflow::range(0..100u64).subscribe(r);
    assert_eq!(seen.lock().unwrap().items.len(), 100);
}

#[test]
fn a_panicking_operator_becomes_an_error_and_stops_the_source() {
    let pulled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let p = pulled.clone();
    let result = backflow::range(0..1_000_000u64)
        .map(move |x| {
            p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if x == 5 {
                panic!("five")
            }
            x
        })
        .collect_with(Request::Unbounded);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("five"));
    assert_eq!(pulled.load(std::sync::atomic::Ordering::Relaxed), 6);
}

#[test]
fn a_panicking_sink_gets_the_error_and_is_released() {
    let err = backflow::range(0..10u64)
        .for_each(|x| assert!(x < 3, "too big"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.to_string().contains("too big"));
}

#[test]
fn boxed_streams_keep_working() {
    let f: Flux<Boxed<u64>> = backflow::range(0..100u64).filter(|x| x % 10 == 0).boxed();
    assert_eq!(
        f.clone().collect_with(Request::Batch(2)).unwrap(),
        vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    );
    assert_eq!(f.map(|x| x / 10).fold(0, |a, x| a + x).unwrap(), 45);
}

#[test]
fn cancel_inside_the_last_item_suppresses_on_complete() {
    let (mut r, seen, alive) = recorder(5, 0);
    r.cancel_after = Some(5);
    backflow::range(0..5u64).subscribe(r);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.items.len(), 5);
    assert_eq!(seen.completed, 0, "no terminal signal after a cancel");
    assert!(alive.upgrade().is_none());
}

/// A panic that escapes a drain pass (here a subscriber whose `Drop` panics, dropped by the
/// source when it is cancelled) is reported, not unwound into whoever drained, and the gate is
/// released (issue 8 §1: the unwind guard of `DrainGate::run_owned`).
#[test]
fn a_panic_escaping_a_drain_pass_does_not_unwind_or_wedge_the_source() {
    struct DropBomb(Option<SharedSubscription>, Arc<Mutex<Vec<u64>>>);
    impl Subscriber<u64> for DropBomb {
        fn on_subscribe(&mut self, s: SharedSubscription) {
            s.request(1);
            self.0 = Some(s);
        }
        fn on_next(&mut self, x: u64) {
            self.1.lock().unwrap().push(x);
            // Re-entrant: recorded by the gate, served (the subscriber dropped) after we return.
            self.0.take().unwrap().cancel();
        }
        fn on_error(&mut self, e: Error) {
            panic!("{e}")
        }
        fn on_complete(&mut self) {}
    }
    impl Drop for DropBomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("a subscriber's destructor");
            }
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        backflow::range(0..10u64).subscribe(DropBomb(None, seen.clone()))
    }));
    assert!(
        run.is_ok(),
        "the destructor's panic unwound out of subscribe"
    );
    assert_eq!(*seen.lock().unwrap(), vec![0]);
}
