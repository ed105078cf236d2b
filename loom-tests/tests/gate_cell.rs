//! `GateCell`: state reached only through a held drain gate (src/demand.rs).
//!
//! Two threads post work (an atomic counter standing for `request` / an upstream item) and drain;
//! the main thread enters with a first step (the `on_subscribe` protocol). The state sits in
//! loom's `UnsafeCell` (backflow's `sync` shim under `cfg(loom)`), so loom flags any access that is
//! not ordered by the gate. After every thread returns, the last pass must have seen every post
//! (no lost wake-up) and the gate must be released.
#![cfg(loom)]

use backflow::demand::GateCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

#[derive(Default)]
struct State {
    /// Posts seen by the latest pass.
    seen: usize,
    /// Whether the first step ran (it does when the main thread found the gate free).
    started: bool,
}

#[test]
fn every_post_is_seen_by_a_pass() {
    loom::model(|| {
        let cell = Arc::new(GateCell::new(State::default()));
        let posted = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (cell, posted) = (cell.clone(), posted.clone());
                thread::spawn(move || {
                    posted.fetch_add(1, Ordering::Release);
                    cell.drain(|s| s.seen = posted.load(Ordering::Acquire));
                })
            })
            .collect();
        let first = cell.enter_with(
            |s| s.started = true,
            |s| s.seen = posted.load(Ordering::Acquire),
        );
        for w in workers {
            w.join().unwrap();
        }
        let cell = Arc::try_unwrap(cell).ok().expect("threads joined");
        assert!(!cell.is_busy());
        let state = cell.into_inner();
        assert_eq!(state.seen, 2, "a post was never drained");
        assert_eq!(state.started, first.is_some());
    });
}
