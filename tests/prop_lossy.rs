//! Property tests of the holding stages (`buffer`, `drop_oldest`, `drop_newest`,
//! `buffer_with(.., Overflow::Error)`), under both error modes.
//!
//! A hand-driven hot upstream and a recording downstream are played from one thread, so every
//! interleaving of upstream pushes (single items and fused runs) and downstream requests is
//! deterministic. Each case checks:
//!
//! - the stage does exactly what a reference model (a `VecDeque` with the overflow policy) does:
//!   same items delivered, same items dropped for the same reasons, same terminal;
//! - emitted + dropped (counted per reason in the metrics) == received; the per-reason counts match
//!   what `on_drop` saw;
//! - emitted items are a subsequence of the input (order kept); no more than requested;
//! - `buffered` never exceeds the capacity;
//! - every item is dropped exactly once in the end (items count their own drops): nothing leaks,
//!   nothing is dropped twice;
//! - `buffer(n)` drops nothing and, drained to the end, delivers everything.

mod support_lossy;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use backflow::metrics::{DropReason, StageMetrics};
use backflow::ops::ErrorMode;
use backflow::prelude::*;
use proptest::prelude::*;
use support_lossy::{hot, Counted, DropCounts, Recorder};

#[derive(Clone, Copy, Debug)]
enum Step {
    Push,
    /// A run of this many items through `on_next_iter`.
    Run(usize),
    Request(u64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// Complete, then the downstream asks for everything.
    Complete,
    /// Error, then the downstream asks for everything.
    Error,
    /// The downstream cancels; two more items arrive in flight.
    Cancel,
}

#[derive(Clone, Debug, PartialEq)]
enum Terminal {
    None,
    Complete,
    Error(ErrorKind),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Push),
        2 => (1usize..12).prop_map(Step::Run),
        3 => (1u64..6).prop_map(Step::Request),
        1 => Just(Step::Request(u64::MAX)),
    ]
}

fn policy() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::Backpressure),
        Just(Overflow::DropOldest),
        Just(Overflow::DropNewest),
        Just(Overflow::Error),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Complete), Just(End::Error), Just(End::Cancel)]
}

/// The reference: what a holding stage must do, item by item, in one thread.
struct Model {
    policy: Overflow,
    immediate: bool,
    capacity: usize,
    held: VecDeque<usize>,
    demand: u64,
    delivered: Vec<usize>,
    drops: Vec<(usize, DropReason)>,
    /// Items still arrive but are dropped as `Cancelled` (after cancel, or after the stage failed).
    closed: bool,
    /// The stage failed (Error policy): no more items are taken from a run.
    failed: bool,
    pending: Option<Terminal>,
    terminal: Terminal,
}

impl Model {
    fn new(policy: Overflow, immediate: bool, capacity: usize, initial: u64) -> Self {
        Model {
            policy,
            immediate,
            capacity,
            held: VecDeque::new(),
            demand: initial,
            delivered: vec![],
            drops: vec![],
            closed: false,
            failed: false,
            pending: None,
            terminal: Terminal::None,
        }
    }

    fn finished(&self) -> bool {
        self.terminal != Terminal::None
    }

    fn push(&mut self, id: usize) {
        if self.closed || self.finished() {
            self.drops.push((id, DropReason::Cancelled));
            return;
        }
        if self.held.len() == self.capacity {
            match self.policy {
                Overflow::DropOldest => {
                    let oldest = self.held.pop_front().unwrap();
                    self.drops.push((oldest, DropReason::Evicted));
                }
                Overflow::DropNewest => {
                    self.drops.push((id, DropReason::Overflow));
                    return;
                }
                Overflow::Error | Overflow::Backpressure => {
                    self.drops.push((id, DropReason::Overflow));
                    self.closed = true;
                    self.failed = true;
                    self.end(Terminal::Error(ErrorKind::Overflow));
                    return;
                }
            }
        }
        self.held.push_back(id);
        self.drain();
    }

    fn request(&mut self, n: u64) {
        self.demand = self.demand.saturating_add(n);
        self.drain();
    }

    fn end(&mut self, terminal: Terminal) {
        if self.pending.is_some() || self.finished() {
            return;
        }
        if self.immediate && matches!(terminal, Terminal::Error(_)) {
            self.flush();
            self.terminal = terminal;
            return;
        }
        self.pending = Some(terminal);
        self.drain();
    }

    fn cancel(&mut self) {
        if !self.finished() {
            self.flush();
            self.terminal = Terminal::None;
        }
        self.closed = true;
        self.pending = None;
    }

    fn flush(&mut self) {
        for id in self.held.drain(..) {
            self.drops.push((id, DropReason::Cancelled));
        }
    }

    fn drain(&mut self) {
        if self.finished() {
            return;
        }
        while self.demand > 0 && !self.held.is_empty() {
            let id = self.held.pop_front().unwrap();
            self.delivered.push(id);
            if self.demand != u64::MAX {
                self.demand -= 1;
            }
        }
        if self.held.is_empty() {
            if let Some(t) = self.pending.take() {
                self.terminal = t;
            }
        }
    }
}

struct Case {
    policy: Overflow,
    immediate: bool,
    capacity: usize,
    initial: u64,
    steps: Vec<Step>,
    end: End,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let Case {
        policy,
        immediate,
        capacity,
        initial,
        steps,
        end,
    } = case;
    let counts = DropCounts::new(steps.len() * 12 + 4);
    let mut next_id = 0usize;
    let mut make = || {
        next_id += 1;
        counts.item(next_id - 1)
    };
    let drops: Arc<Mutex<Vec<(usize, DropReason)>>> = Arc::default();
    let metrics = Arc::new(StageMetrics::new("prop", capacity as u64));
    let mode = if immediate {
        ErrorMode::Immediate
    } else {
        ErrorMode::AfterDrain
    };
    let (source, connector) = hot::<Counted>();
    let (recorder, probe) = Recorder::new(initial);
    let log = drops.clone();
    source
        .buffer_with(capacity, policy)
        .on_drop(move |item: Counted, reason| log.lock().unwrap().push((item.id, reason)))
        .metrics(metrics.clone())
        .error_mode(mode)
        .subscribe(recorder);
    let mut up = connector.connect();
    let mut model = Model::new(policy, immediate, capacity, initial);
    let mut requested = initial;
    let mut sent = Vec::new();

    let delivered_ids = |probe: &support_lossy::Probe<Counted>| -> Vec<usize> {
        probe
            .seen
            .values
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect()
    };
    let bounded = policy == Overflow::Backpressure;

    for step in steps {
        match step {
            // `buffer`'s upstream is compliant: it sends only what the stage asked for. (Were the
            // stage to ask for more than it can hold, the model would see an overflow.)
            Step::Push => {
                if bounded && up.outstanding() == 0 {
                    continue;
                }
                let item = make();
                let id = item.id;
                up.push(item);
                sent.push(id);
                model.push(id);
            }
            Step::Run(len) => {
                let len = if bounded {
                    len.min(up.outstanding().min(usize::MAX as u64) as usize)
                } else {
                    len
                };
                let items: Vec<Counted> = (0..len).map(|_| make()).collect();
                let ids: Vec<usize> = items.iter().map(|c| c.id).collect();
                let used = up.push_run(items) as usize;
                // The stage takes the run item by item in effect, and stops taking it once failed.
                let mut model_used = 0;
                for &id in &ids {
                    if model.failed {
                        break;
                    }
                    sent.push(id);
                    model.push(id);
                    model_used += 1;
                }
                prop_assert_eq!(used, model_used, "run consumed");
            }
            Step::Request(n) => {
                requested = requested.saturating_add(n);
                probe.request(n);
                model.request(n);
            }
        }
        let snap = metrics.snapshot();
        prop_assert!(
            snap.buffered <= capacity as u64,
            "buffered {}",
            snap.buffered
        );
        if bounded {
            // Memory bound: what is held plus what upstream may still send fits the capacity.
            let held = up.sent - snap.emitted - snap.dropped.total();
            prop_assert!(held + up.outstanding() <= capacity as u64);
        }
        prop_assert_eq!(delivered_ids(&probe), model.delivered.clone());
        prop_assert_eq!(drops.lock().unwrap().clone(), model.drops.clone());
        prop_assert_eq!(up.is_cancelled(), model.failed);
    }

    match end {
        End::Complete => {
            up.complete();
            model.end(Terminal::Complete);
        }
        End::Error => {
            up.error(Error::msg("upstream failed"));
            model.end(Terminal::Error(ErrorKind::Custom));
        }
        End::Cancel => {
            probe.cancel();
            model.cancel();
            prop_assert!(up.is_cancelled());
            for _ in 0..2 {
                let item = make();
                sent.push(item.id);
                model.push(item.id);
                up.push(item);
            }
        }
    }
    if end != End::Cancel {
        requested = u64::MAX;
        probe.request(u64::MAX);
        model.request(u64::MAX);
    }

    // Same items, same drops, same terminal as the model.
    let delivered = delivered_ids(&probe);
    prop_assert_eq!(&delivered, &model.delivered);
    prop_assert_eq!(drops.lock().unwrap().clone(), model.drops.clone());
    let terminal = match (probe.completed(), probe.error()) {
        (true, None) => Terminal::Complete,
        (false, Some(e)) => Terminal::Error(e.kind()),
        (false, None) => Terminal::None,
        (true, Some(_)) => return Err(TestCaseError::fail("two terminals")),
    };
    prop_assert_eq!(&terminal, &model.terminal);
    probe.assert_clean();
    prop_assert!(
        probe.released(),
        "rule 3.13: the downstream is dropped at the end"
    );

    // Order kept: delivered is a subsequence of what was sent, no more than requested.
    let mut input = sent.iter();
    for id in &delivered {
        prop_assert!(input.any(|s| s == id), "{} out of order", id);
    }
    prop_assert!(delivered.len() as u64 <= requested);

    // Accounting: every received item was emitted or dropped, counted by reason.
    let snap = metrics.snapshot();
    prop_assert_eq!(snap.received, sent.len() as u64);
    prop_assert_eq!(snap.emitted, delivered.len() as u64);
    prop_assert_eq!(snap.emitted + snap.dropped.total(), snap.received);
    let logged = drops.lock().unwrap().clone();
    for reason in DropReason::ALL {
        let n = logged.iter().filter(|&&(_, r)| r == reason).count() as u64;
        prop_assert_eq!(snap.dropped.get(reason), n, "{:?}", reason);
    }
    match policy {
        Overflow::Backpressure => {
            prop_assert!(logged.iter().all(|&(_, r)| r == DropReason::Cancelled));
            // Only a cancel, or an error that overtakes the held items (Immediate), drops any.
            if end == End::Complete || (end == End::Error && !immediate) {
                prop_assert!(logged.is_empty(), "buffer drops nothing");
                prop_assert_eq!(&delivered, &sent, "buffer delivers everything");
            }
        }
        Overflow::DropOldest => prop_assert!(logged
            .iter()
            .all(|&(_, r)| matches!(r, DropReason::Evicted | DropReason::Cancelled))),
        Overflow::DropNewest | Overflow::Error => prop_assert!(logged
            .iter()
            .all(|&(_, r)| matches!(r, DropReason::Overflow | DropReason::Cancelled))),
    }

    // Release everything; then every item ever made was dropped exactly once.
    drop(up);
    drop(probe);
    for id in 0..next_id {
        prop_assert_eq!(
            counts.get(id),
            1,
            "item {} dropped {} times",
            id,
            counts.get(id)
        );
    }
    Ok(())
}

/// Errors that arrive after the stage failed have nobody to go to; keep them off stderr.
fn quiet() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| backflow::set_error_hook(|_| {}));
}

proptest! {
    // 512 cases by default; PROPTEST_CASES overrides.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn holding_stages_match_the_model(
        policy in policy(),
        immediate in any::<bool>(),
        capacity in 1usize..6,
        initial in prop_oneof![Just(0u64), 1u64..4],
        steps in prop::collection::vec(step(), 0..40),
        end in end(),
    ) {
        quiet();
        check(Case { policy, immediate, capacity, initial, steps, end })?;
    }
}
