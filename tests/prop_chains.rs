//! Random chains of the synchronous operators over random finite ranges, driven by random request
//! schedules (re-entrant requests from inside `on_next`, cancels at random points), checked against
//! the same chain computed on a plain `Vec` (the `Iterator` model):
//!
//! - the same items in the same order (a prefix of them when cancelled);
//! - never more `on_next` than requested (rule 1.01), never nested (rule 3.03);
//! - exactly one terminal signal, the model's, unless cancelled (rules 1.06, 1.07);
//! - nothing after `cancel` beyond what is in flight: signals may still arrive while the call in
//!   which the subscriber cancelled is running (a source hands items down in runs and checks its
//!   `cancelled` flag between runs, rule 1.08), but none once that call returned, and a `request`
//!   after `cancel` wakes nothing (rule 3.6).

use std::sync::{Arc, Mutex};

use backflow::prelude::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Map(i64),
    Div(i64),
    Filter(i64),
    FilterMap(i64),
    Inspect,
    TryMap(i64),
    Take(u64),
    Skip(u64),
    TakeWhile(i64),
    SkipWhile(i64),
    Scan,
    Distinct,
    Reduce,
    Count,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..4).prop_map(Op::Map),
        (2i64..4).prop_map(Op::Div),
        (2i64..5).prop_map(Op::Filter),
        (2i64..5).prop_map(Op::FilterMap),
        Just(Op::Inspect),
        (0i64..40).prop_map(Op::TryMap),
        (0u64..12).prop_map(Op::Take),
        (0u64..10).prop_map(Op::Skip),
        (0i64..40).prop_map(Op::TakeWhile),
        (0i64..40).prop_map(Op::SkipWhile),
        Just(Op::Scan),
        Just(Op::Distinct),
        Just(Op::Reduce),
        Just(Op::Count),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Complete,
    Failed,
}

/// The chain applied to a finite input, the way an iterator would run it.
fn model(input: Vec<i64>, ops: &[Op]) -> (Vec<i64>, End) {
    let mut items = input;
    let mut end = End::Complete;
    for op in ops {
        match *op {
            Op::Map(k) => items = items.into_iter().map(|x| x.wrapping_mul(k) + 1).collect(),
            Op::Div(k) => items = items.into_iter().map(|x| x / k).collect(),
            Op::Filter(m) => items.retain(|x| x % m != 0),
            Op::FilterMap(m) => {
                items = items
                    .into_iter()
                    .filter_map(|x| (x % m != 0).then_some(x - 1))
                    .collect()
            }
            Op::Inspect => {}
            Op::TryMap(v) => {
                if let Some(at) = items.iter().position(|x| *x == v) {
                    items.truncate(at);
                    end = End::Failed;
                }
            }
            Op::Take(n) => {
                if items.len() as u64 >= n {
                    items.truncate(n as usize);
                    end = End::Complete;
                }
            }
            Op::Skip(n) => items = items.into_iter().skip(n as usize).collect(),
            Op::TakeWhile(v) => {
                if let Some(at) = items.iter().position(|x| *x >= v) {
                    items.truncate(at);
                    end = End::Complete;
                }
            }
            Op::SkipWhile(v) => items = items.into_iter().skip_while(|x| *x < v).collect(),
            Op::Scan => {
                let mut acc = 0i64;
                let mut out = vec![0];
                for x in items {
                    acc = acc.wrapping_add(x);
                    out.push(acc);
                }
                items = out;
            }
            Op::Distinct => items.dedup(),
            Op::Reduce => {
                items = match (end, items.is_empty()) {
                    (End::Failed, _) | (_, true) => vec![],
                    _ => vec![items.iter().fold(0i64, |a, x| a.wrapping_add(*x))],
                }
            }
            Op::Count => {
                items = match end {
                    End::Failed => vec![],
                    End::Complete => vec![items.len() as i64],
                }
            }
        }
    }
    (items, end)
}

/// The same chain built from the operators (boxed at each step so any chain has one type).
fn build(lo: i64, hi: i64, ops: &[Op]) -> Flux<Boxed<i64>> {
    let mut flux = backflow::range(lo..hi).boxed();
    for op in ops {
        flux = match *op {
            Op::Map(k) => flux.map(move |x| x.wrapping_mul(k) + 1).boxed(),
            Op::Div(k) => flux.map(move |x| x / k).boxed(),
            Op::Filter(m) => flux.filter(move |x| x % m != 0).boxed(),
            Op::FilterMap(m) => flux
                .filter_map(move |x| (x % m != 0).then_some(x - 1))
                .boxed(),
            Op::Inspect => flux.inspect(|_| {}).boxed(),
            Op::TryMap(v) => flux
                .try_map(move |x| {
                    if x == v {
                        Err(Error::msg("hit"))
                    } else {
                        Ok(x)
                    }
                })
                .boxed(),
            Op::Take(n) => flux.take(n).boxed(),
            Op::Skip(n) => flux.skip(n).boxed(),
            Op::TakeWhile(v) => flux.take_while(move |x| *x < v).boxed(),
            Op::SkipWhile(v) => flux.skip_while(move |x| *x < v).boxed(),
            Op::Scan => flux.scan(0i64, |a, x| a.wrapping_add(x)).boxed(),
            Op::Distinct => flux.distinct_until_changed().boxed(),
            Op::Reduce => flux.reduce(|a, x| a.wrapping_add(x)).boxed(),
            Op::Count => flux.count().map(|n| n as i64).boxed(),
        }
    }
    flux
}

/// How the subscriber requests and cancels.
#[derive(Clone, Debug)]
struct Schedule {
    /// Requested from `on_subscribe` (0 = nothing).
    initial: u64,
    /// Requested from inside the k-th `on_next`: `reentrant[k % len]` (0 = nothing).
    reentrant: Vec<u64>,
    /// Requested from outside, one after the other, after `subscribe` returned.
    outside: Vec<u64>,
    /// Cancel from inside an `on_next`, counted from the first item or back from the model's last
    /// item (where a stage's own terminal signal is near)…
    cancel_inside: Option<At>,
    /// …or from outside, after this many outside requests.
    cancel_outside: Option<usize>,
}

fn demand() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 1u64..6, 1 => Just(u64::MAX), 1 => Just(u64::MAX - 1)]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        prop_oneof![Just(0u64), demand()],
        prop::collection::vec(prop_oneof![2 => Just(0u64), 2 => demand()], 1..6),
        prop::collection::vec(demand(), 0..8),
        prop::option::weighted(
            0.3,
            prop_oneof![
                (0usize..8).prop_map(At::FromStart),
                (0usize..3).prop_map(At::FromEnd)
            ],
        ),
        prop::option::weighted(0.2, 0usize..8),
    )
        .prop_map(
            |(initial, reentrant, outside, cancel_inside, cancel_outside)| Schedule {
                initial,
                reentrant,
                outside,
                cancel_inside,
                cancel_outside,
            },
        )
}

#[derive(Clone, Copy, Debug)]
enum At {
    FromStart(usize),
    FromEnd(usize),
}

#[derive(Default)]
struct Seen {
    items: Vec<i64>,
    terminal: Option<End>,
    terminals: usize,
    /// Total requested so far, saturating.
    requested: u64,
    cancelled: bool,
    /// The call in which the subscriber cancelled has returned: nothing is in flight any more.
    settled: bool,
    busy: bool,
    violations: Vec<String>,
    subscription: Option<SharedSubscription>,
}

struct Probe {
    seen: Arc<Mutex<Seen>>,
    schedule: Schedule,
    /// The index of the `on_next` that cancels, resolved against the model's length.
    cancel_at: Option<usize>,
}

enum Then {
    Nothing,
    Request(u64),
    Cancel,
}

impl Probe {
    fn enter(&self, what: &str) {
        let mut seen = self.seen.lock().unwrap();
        if seen.busy {
            seen.violations
                .push(format!("{what} nested in another signal"));
        }
        if seen.settled {
            seen.violations.push(format!("{what} after cancel"));
        }
        if seen.terminals > 0 {
            seen.violations
                .push(format!("{what} after a terminal signal"));
        }
        seen.busy = true;
    }

    fn leave(&self, then: Then) {
        let subscription = {
            let mut seen = self.seen.lock().unwrap();
            seen.busy = false;
            match then {
                Then::Request(n) => seen.requested = seen.requested.saturating_add(n),
                Then::Cancel => seen.cancelled = true,
                Then::Nothing => {}
            }
            seen.subscription.clone()
        };
        match (then, subscription) {
            (Then::Request(n), Some(s)) => s.request(n),
            (Then::Cancel, Some(s)) => s.cancel(),
            _ => {}
        }
    }
}

impl Subscriber<i64> for Probe {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.enter("on_subscribe");
        self.seen.lock().unwrap().subscription = Some(subscription);
        let then = match self.schedule.initial {
            0 => Then::Nothing,
            n => Then::Request(n),
        };
        self.leave(then);
    }

    fn on_next(&mut self, item: i64) {
        self.enter("on_next");
        let k = {
            let mut seen = self.seen.lock().unwrap();
            seen.items.push(item);
            if seen.items.len() as u64 > seen.requested {
                let (n, requested) = (seen.items.len(), seen.requested);
                seen.violations
                    .push(format!("on_next #{n} with only {requested} requested"));
            }
            seen.items.len() - 1
        };
        let then = if self.cancel_at == Some(k) {
            Then::Cancel
        } else {
            match self.schedule.reentrant[k % self.schedule.reentrant.len()] {
                0 => Then::Nothing,
                n => Then::Request(n),
            }
        };
        self.leave(then);
    }

    fn on_error(&mut self, error: Error) {
        self.enter("on_error");
        {
            let mut seen = self.seen.lock().unwrap();
            seen.terminals += 1;
            seen.terminal = Some(End::Failed);
            if error.kind() != ErrorKind::Custom {
                seen.violations.push(format!("unexpected error {error}"));
            }
        }
        self.leave(Then::Nothing);
    }

    fn on_complete(&mut self) {
        self.enter("on_complete");
        {
            let mut seen = self.seen.lock().unwrap();
            seen.terminals += 1;
            seen.terminal = Some(End::Complete);
        }
        self.leave(Then::Nothing);
    }
}

/// The end of a call from outside the stream: whatever it set in motion has finished.
fn settle(seen: &Arc<Mutex<Seen>>) {
    let mut seen = seen.lock().unwrap();
    seen.settled = seen.cancelled;
}

fn outside(seen: &Arc<Mutex<Seen>>, then: Then) {
    let subscription = {
        let mut seen = seen.lock().unwrap();
        if seen.terminals > 0 {
            return;
        }
        match then {
            Then::Request(n) => seen.requested = seen.requested.saturating_add(n),
            Then::Cancel => seen.cancelled = true,
            Then::Nothing => {}
        }
        seen.subscription.clone().expect("subscribed")
    };
    match then {
        Then::Request(n) => subscription.request(n),
        Then::Cancel => subscription.cancel(),
        Then::Nothing => {}
    }
    settle(seen);
}

fn run(lo: i64, len: i64, ops: &[Op], schedule: &Schedule) -> Result<(), TestCaseError> {
    check(build(lo, lo + len, ops), lo, len, ops, schedule)
}

/// Runs `flux`, which must be the chain `ops` over `lo..lo + len`, against the model.
fn check(
    flux: impl Publisher<Item = i64>,
    lo: i64,
    len: i64,
    ops: &[Op],
    schedule: &Schedule,
) -> Result<(), TestCaseError> {
    let (expected, expected_end) = model((lo..lo + len).collect(), ops);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let cancel_at = match schedule.cancel_inside {
        Some(At::FromStart(k)) => Some(k),
        Some(At::FromEnd(k)) => expected.len().checked_sub(k + 1),
        None => None,
    };
    flux.subscribe(Probe {
        seen: seen.clone(),
        schedule: schedule.clone(),
        cancel_at,
    });
    settle(&seen);
    for (i, n) in schedule.outside.iter().enumerate() {
        if schedule.cancel_outside == Some(i) {
            outside(&seen, Then::Cancel);
        }
        outside(&seen, Then::Request(*n));
    }
    if schedule.cancel_outside.is_some() {
        outside(&seen, Then::Cancel);
    }
    // Whatever the schedule left undone: ask for everything, which must end the stream (and, after
    // a cancel, must wake nothing).
    outside(&seen, Then::Request(u64::MAX));

    let seen = seen.lock().unwrap();
    prop_assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    prop_assert!(!seen.busy);
    prop_assert!(seen.terminals <= 1);
    if seen.cancelled && seen.terminal.is_none() {
        // Items in flight after the cancel are still the model's items, in order.
        prop_assert!(
            expected.starts_with(&seen.items),
            "cancelled: {:?} is not a prefix of {:?}",
            seen.items,
            expected
        );
    } else {
        prop_assert_eq!(&seen.items, &expected);
        prop_assert_eq!(seen.terminal, Some(expected_end));
    }
    Ok(())
}

/// Parameters of two fixed-shape chains that are not boxed, so every stage sees the fused path
/// (`on_next_iter`): a boxed stage falls back to item-by-item delivery.
#[derive(Clone, Debug)]
struct Fused {
    map: i64,
    fail_at: i64,
    filter_map: i64,
    skip: u64,
    take_while: i64,
    div: i64,
    take: u64,
    skip_while: i64,
    count: bool,
}

fn fused() -> impl Strategy<Value = Fused> {
    (
        (1i64..4, 0i64..120, 2i64..5, 0u64..6, 0i64..120),
        (1i64..4, 0u64..40, -5i64..40, any::<bool>()),
    )
        .prop_map(
            |((map, fail_at, filter_map, skip, take_while), (div, take, skip_while, count))| {
                Fused {
                    map,
                    fail_at,
                    filter_map,
                    skip,
                    take_while,
                    div,
                    take,
                    skip_while,
                    count,
                }
            },
        )
}

/// range → map → try_map → filter_map → skip → take_while → inspect → (Div) map →
/// distinct_until_changed → scan → take → skip_while, as `Op`s for the model.
fn fused_ops(p: &Fused) -> Vec<Op> {
    vec![
        Op::Map(p.map),
        Op::TryMap(p.fail_at),
        Op::FilterMap(p.filter_map),
        Op::Skip(p.skip),
        Op::TakeWhile(p.take_while),
        Op::Inspect,
        Op::Div(p.div),
        Op::Distinct,
        Op::Scan,
        Op::Take(p.take),
        Op::SkipWhile(p.skip_while),
    ]
}

fn fused_chain(lo: i64, hi: i64, p: &Fused) -> Flux<impl Publisher<Item = i64>> {
    let (map, fail_at, fm, div, tw, sw) = (
        p.map,
        p.fail_at,
        p.filter_map,
        p.div,
        p.take_while,
        p.skip_while,
    );
    backflow::range(lo..hi)
        .map(move |x| x.wrapping_mul(map) + 1)
        .try_map(move |x| {
            if x == fail_at {
                Err(Error::msg("hit"))
            } else {
                Ok(x)
            }
        })
        .filter_map(move |x| (x % fm != 0).then_some(x - 1))
        .skip(p.skip)
        .take_while(move |x| *x < tw)
        .inspect(|_| {})
        .map(move |x| x / div)
        .distinct_until_changed()
        .scan(0i64, |a, x| a.wrapping_add(x))
        .take(p.take)
        .skip_while(move |x| *x < sw)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fused_chains_match_the_iterator_model(
        lo in -5i64..20,
        len in 0i64..2_000,
        p in fused(),
        schedule in schedule(),
    ) {
        let mut ops = fused_ops(&p);
        if p.count {
            ops.push(Op::Count);
            let chain = fused_chain(lo, lo + len, &p).count().map(|n| n as i64);
            check(chain, lo, len, &ops, &schedule)?;
        } else {
            check(fused_chain(lo, lo + len, &p), lo, len, &ops, &schedule)?;
        }
    }

    #[test]
    fn chains_match_the_iterator_model(
        lo in -5i64..20,
        len in 0i64..40,
        ops in prop::collection::vec(op(), 0..6),
        schedule in schedule(),
    ) {
        run(lo, len, &ops, &schedule)?;
    }

    #[test]
    fn chains_with_one_at_a_time_demand(
        lo in -5i64..20,
        len in 0i64..30,
        ops in prop::collection::vec(op(), 1..5),
    ) {
        let schedule = Schedule {
            initial: 1,
            reentrant: vec![1],
            outside: vec![],
            cancel_inside: None,
            cancel_outside: None,
        };
        run(lo, len, &ops, &schedule)?;
    }
}

#[test]
fn the_model_agrees_with_iterator_adapters() {
    let ops = [
        Op::Map(2),
        Op::Filter(3),
        Op::Skip(2),
        Op::Take(4),
        Op::Scan,
    ];
    let (items, end) = model((0..20).collect(), &ops);
    let direct: Vec<i64> = std::iter::once(0)
        .chain(
            (0..20i64)
                .map(|x| x * 2 + 1)
                .filter(|x| x % 3 != 0)
                .skip(2)
                .take(4)
                .scan(0, |a, x| {
                    *a += x;
                    Some(*a)
                }),
        )
        .collect();
    assert_eq!(items, direct);
    assert_eq!(end, End::Complete);
}
