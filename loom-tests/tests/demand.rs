//! `Demand` + `DrainGate`: the drain-loop pattern every stage uses (see `src/source/pull.rs`).
//!
//! A tiny stage serves a source of `len` items against demand. `request` adds credits and tries
//! to drain; `cancel` flags and tries to drain; whoever enters the gate owns the subscriber state
//! (a loom `UnsafeCell`, so loom flags any access outside the gate) and loops until the gate is
//! released. After every thread has returned, nothing may be left undrained (no lost wake-up).
//!
//! Each model runs twice: with the pass reading the demand once (a snapshot, settled at its end)
//! and *live*, as `pull.rs` does: the credits left are `demand.get() - emitted`, re-read before
//! every item (so requests made meanwhile extend the pass), settled once when they run out.
#![cfg(loom)]

use backflow::demand::{Demand, DrainGate};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// What the subscriber has seen; touched only by the gate's owner.
#[derive(Default)]
struct Downstream {
    /// Items delivered (`on_next`).
    delivered: usize,
    /// `on_complete` signals.
    terminals: usize,
    /// False once the stage dropped its subscriber (cancel or terminal, rule 3.13).
    subscribed: bool,
    /// `on_next` signals that arrived after the subscriber was dropped (must stay 0).
    after_drop: usize,
}

struct Stage {
    demand: Demand,
    gate: DrainGate,
    cancelled: AtomicBool,
    len: usize,
    /// When set, `on_next` calls `request(1)` re-entrantly (the rule 3.3 trampoline).
    request_in_on_next: bool,
    /// When set, the pass re-reads the demand before every item (`pull.rs`'s `emit`).
    live: bool,
    downstream: UnsafeCell<Downstream>,
}

impl Stage {
    fn new(len: usize, request_in_on_next: bool, live: bool) -> Arc<Self> {
        Arc::new(Stage {
            live,
            demand: Demand::new(),
            gate: DrainGate::new(),
            cancelled: AtomicBool::new(false),
            len,
            request_in_on_next,
            downstream: UnsafeCell::new(Downstream {
                subscribed: true,
                ..Downstream::default()
            }),
        })
    }

    fn request(&self, n: u64) {
        self.demand.add(n);
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.drain();
        }
    }

    fn drain(&self) {
        if !self.gate.enter() {
            return;
        }
        let mut missed = 1;
        loop {
            self.pass();
            missed = self.gate.leave(missed);
            if missed == 0 {
                return;
            }
        }
    }

    fn pass(&self) {
        // SAFETY (test): we own the gate; loom checks that no other thread touches the cell.
        let deliver = |f: &mut dyn FnMut(&mut Downstream)| {
            self.downstream.with_mut(|d| f(unsafe { &mut *d }))
        };
        let mut subscribed = true;
        deliver(&mut |d| subscribed = d.subscribed);
        if !subscribed {
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            deliver(&mut |d| d.subscribed = false);
            return;
        }
        let mut requested = self.demand.get();
        let mut emitted = 0;
        loop {
            if self.live {
                requested = self.demand.get();
            }
            let mut delivered = 0;
            deliver(&mut |d| delivered = d.delivered);
            if emitted == requested || delivered == self.len {
                break;
            }
            deliver(&mut |d| {
                if !d.subscribed {
                    d.after_drop += 1;
                }
                d.delivered += 1;
            });
            emitted += 1;
            if self.request_in_on_next {
                // Re-entrant: the gate is ours, so this only records a missed pass.
                self.request(1);
            }
        }
        if emitted > 0 {
            self.demand.produced(emitted);
        }
        deliver(&mut |d| {
            if d.delivered == self.len {
                d.terminals += 1;
                d.subscribed = false;
            }
        });
    }

    fn downstream(&self) -> (usize, usize, bool, usize) {
        assert!(!self.gate.is_busy(), "a drain request was left behind");
        self.downstream.with(|d| {
            // SAFETY (test): every thread has returned; the gate is released.
            let d = unsafe { &*d };
            (d.delivered, d.terminals, d.subscribed, d.after_drop)
        })
    }
}

#[test]
fn request_races_request() {
    for live in [false, true] {
        loom::model(move || {
            let stage = Stage::new(3, false, live);
            let other = stage.clone();
            let requester = thread::spawn(move || other.request(1));
            stage.request(1);
            requester.join().unwrap();
            // Two credits, two items, no lost wake-up whichever thread drained.
            assert_eq!(stage.downstream(), (2, 0, true, 0));
            stage.request(1);
            assert_eq!(stage.downstream(), (3, 1, false, 0));
        });
    }
}

#[test]
fn terminal_exactly_once() {
    for live in [false, true] {
        loom::model(move || {
            let stage = Stage::new(2, false, live);
            let other = stage.clone();
            let requester = thread::spawn(move || other.request(1));
            stage.request(2);
            requester.join().unwrap();
            let (delivered, terminals, subscribed, after_drop) = stage.downstream();
            assert_eq!(
                (delivered, terminals, subscribed, after_drop),
                (2, 1, false, 0)
            );
        });
    }
}

#[test]
fn cancel_races_request() {
    for live in [false, true] {
        loom::model(move || {
            let stage = Stage::new(3, false, live);
            let other = stage.clone();
            let canceller = thread::spawn(move || other.cancel());
            stage.request(2);
            canceller.join().unwrap();
            let (delivered, terminals, subscribed, after_drop) = stage.downstream();
            assert!(delivered <= 2);
            assert_eq!(terminals, 0);
            assert!(!subscribed, "cancel must drop the subscriber (rule 3.13)");
            assert_eq!(after_drop, 0);
            // After cancel, requests are no-ops.
            stage.request(5);
            assert_eq!(stage.downstream().0, delivered);
        });
    }
}

#[test]
fn reentrant_request_races_request() {
    for live in [false, true] {
        loom::model(move || {
            let stage = Stage::new(3, true, live);
            let other = stage.clone();
            let requester = thread::spawn(move || other.request(1));
            stage.request(1);
            requester.join().unwrap();
            // Every on_next asked for one more: the source runs dry and completes once.
            assert_eq!(stage.downstream(), (3, 1, false, 0));
        });
    }
}
