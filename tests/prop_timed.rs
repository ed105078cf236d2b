//! Properties of the lossy timed operators (`sample`, `throttle_first`) over random emission
//! schedules and random demand, on virtual time:
//!
//! - every item is accounted for: emitted + dropped (per reason) == received, in the metrics and
//!   in what the subscriber and `on_drop` actually got;
//! - emitted items keep their order;
//! - every dropped item reaches `on_drop` exactly once, and nothing leaks or drops twice: items
//!   count their own drops, and at the end each was dropped exactly once;
//! - never more emitted than requested; `throttle_first` emissions are a window apart; `sample`
//!   emits only on ticks (or when flushing at the end).

mod timed_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow::metrics::{DropReason, StageMetrics};
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use proptest::prelude::*;
use timed_support::*;

/// An item that counts its own drops in a shared table.
struct Counted {
    id: usize,
    drops: Arc<Vec<AtomicU32>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.id)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Emit,
    Advance(u64),
    Request(u64),
}

#[derive(Clone, Copy, Debug)]
enum End {
    Complete,
    Error,
    Cancel,
}

#[derive(Clone, Copy, Debug)]
enum Stage {
    Sample,
    ThrottleFirst,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(Op::Emit),
            3 => (0..15u64).prop_map(Op::Advance),
            1 => (1..4u64).prop_map(Op::Request),
        ],
        0..80,
    )
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Complete), Just(End::Error), Just(End::Cancel)]
}

fn check(stage: Stage, period: u64, initial: u64, ops: &[Op], end: End) {
    let emits = ops.iter().filter(|op| matches!(op, Op::Emit)).count();
    let drops: Arc<Vec<AtomicU32>> = Arc::new((0..emits).map(|_| AtomicU32::new(0)).collect());
    let clock = VirtualTime::new();
    let hot = Hot::<Counted>::new();
    let metrics = Arc::new(StageMetrics::new("prop", 0));
    let dropped: Arc<Mutex<Vec<(usize, DropReason)>>> = Arc::new(Mutex::new(Vec::new()));
    let log = dropped.clone();
    let on_drop = move |item: Counted, reason| log.lock().unwrap().push((item.id, reason));
    let (sub, probe) = probe(&clock, initial);
    let window = Duration::from_millis(period);
    match stage {
        Stage::Sample => hot
            .flux()
            .sample(window)
            .scheduler(clock.clone())
            .on_drop(on_drop)
            .metrics(metrics.clone())
            .subscribe(sub),
        Stage::ThrottleFirst => hot
            .flux()
            .throttle_first(window)
            .scheduler(clock.clone())
            .on_drop(on_drop)
            .metrics(metrics.clone())
            .subscribe(sub),
    }

    let mut requested = initial;
    let mut next_id = 0;
    for op in ops {
        match op {
            Op::Emit => {
                hot.emit(Counted {
                    id: next_id,
                    drops: drops.clone(),
                });
                next_id += 1;
            }
            Op::Advance(n) => clock.advance_by(Duration::from_millis(*n)),
            Op::Request(n) => {
                requested += n;
                probe.request(*n);
            }
        }
    }
    let flush_at = now_ms(&clock);
    match end {
        End::Complete => hot.complete(),
        End::Error => hot.error(Error::msg("end")),
        End::Cancel => probe.cancel(),
    }
    if !matches!(end, End::Cancel) {
        // Whatever is still held goes once there is demand; then the end follows.
        requested = u64::MAX;
        probe.request(u64::MAX);
    }
    clock.advance_by(Duration::from_millis(100));

    let emitted: Vec<(u64, usize)> = probe.nexts_by(|item| item.id);
    let dropped = dropped.lock().unwrap().clone();
    let snap = metrics.snapshot();

    // Accounting: metrics, subscriber and on_drop agree, and add up.
    assert_eq!(snap.received as usize, emits);
    assert_eq!(snap.emitted as usize, emitted.len());
    assert_eq!(snap.dropped.total() as usize, dropped.len());
    assert_eq!(
        emitted.len() + dropped.len(),
        emits,
        "emitted + dropped == received"
    );
    for reason in DropReason::ALL {
        let seen = dropped.iter().filter(|(_, r)| *r == reason).count();
        assert_eq!(snap.dropped.get(reason) as usize, seen, "{reason}");
    }
    let allowed: &[DropReason] = match stage {
        Stage::Sample => &[DropReason::Overwritten, DropReason::Cancelled],
        Stage::ThrottleFirst => &[DropReason::Throttled, DropReason::NoDemand],
    };
    assert!(
        dropped.iter().all(|(_, r)| allowed.contains(r)),
        "{dropped:?}"
    );
    if matches!(stage, Stage::ThrottleFirst) {
        assert_eq!(snap.throttled, snap.dropped.get(DropReason::Throttled));
    }

    // Every item exactly once, in order.
    let emitted_ids: Vec<usize> = emitted.iter().map(|(_, id)| *id).collect();
    assert!(
        emitted_ids.windows(2).all(|w| w[0] < w[1]),
        "order: {emitted_ids:?}"
    );
    let dropped_ids: BTreeSet<usize> = dropped.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        dropped_ids.len(),
        dropped.len(),
        "an item reached on_drop twice"
    );
    let mut all: BTreeSet<usize> = emitted_ids.iter().copied().collect();
    assert!(
        all.is_disjoint(&dropped_ids),
        "an item was emitted and dropped"
    );
    all.extend(&dropped_ids);
    assert_eq!(
        all,
        (0..emits).collect::<BTreeSet<_>>(),
        "an item went missing"
    );

    // Demand and timing.
    assert!(emitted.len() as u64 <= requested);
    match stage {
        Stage::ThrottleFirst => {
            for w in emitted.windows(2) {
                assert!(w[1].0 - w[0].0 >= period, "window broken: {emitted:?}");
            }
        }
        Stage::Sample => {
            for (t, id) in &emitted {
                assert!(
                    t % period == 0 || *t == flush_at,
                    "#{id} emitted at {t}, neither a tick nor the flush at {flush_at}"
                );
            }
        }
    }

    // The end: a terminal signal unless cancelled, and the subscriber released either way.
    let terminals = probe.terminal_count();
    match end {
        End::Cancel => assert_eq!(terminals, 0),
        _ => assert_eq!(terminals, 1),
    }
    assert!(probe.is_released(), "rule 3.13");
    assert_eq!(clock.pending(), 0, "a timer outlived the stream");

    // Nothing leaked, nothing dropped twice: once the subscriber's items go, every item has been
    // dropped exactly once.
    drop(probe.take_values());
    for (id, count) in drops.iter().enumerate() {
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "item #{id} dropped {count:?} times"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sample_accounts_for_every_item(
        period in 1..20u64,
        initial in 0..3u64,
        ops in ops(),
        end in end(),
    ) {
        check(Stage::Sample, period, initial, &ops, end);
    }

    #[test]
    fn throttle_first_accounts_for_every_item(
        period in 1..20u64,
        initial in 0..3u64,
        ops in ops(),
        end in end(),
    ) {
        check(Stage::ThrottleFirst, period, initial, &ops, end);
    }
}
