//! `timeout`'s three-state flag (src/ops/timeout.rs): the upstream side holds `BUSY` while it
//! signals the downstream; whoever moves the flag from `IDLE` to `DONE` (the timer, the
//! upstream's terminal, a cancel) owns the last signal and releases the downstream; a cancel that
//! finds `BUSY` is finished by the upstream side when it puts `IDLE` back (the SeqCst pair of
//! `state` and `cancel_requested`).
//!
//! The timer runs on a `VirtualTime` advanced from a model thread, so it fires on a thread of its
//! own. After every thread has returned: exactly one terminal signal (or none after a cancel), no
//! two downstream signals unordered (loom cell), and the downstream released (rule 3.13).
#![cfg(loom)]

use std::time::Duration;

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use backflow_loom_tests::manual::{downstream, Manual};

const LIMIT: Duration = Duration::from_secs(1);

/// An item and the completion race the timer firing past the limit.
#[test]
fn timer_races_an_item_and_the_completion() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let upstream = Manual::new();
        let (down, probe) = downstream(u64::MAX);
        Flux::new(upstream.clone())
            .timeout(LIMIT)
            .scheduler(clock.clone())
            .subscribe(down);
        let producer = upstream.spawn(vec![7], true);
        let timer_clock = clock.clone();
        let timer = loom::thread::spawn(move || timer_clock.advance_by(LIMIT * 2));
        producer.join().unwrap();
        timer.join().unwrap();
        let record = probe.record();
        assert_eq!(record.terminals(), 1, "{record:?}");
        if record.completed == 1 {
            assert_eq!(record.items, vec![7]);
        } else {
            assert_eq!(record.errors, vec![ErrorKind::Timeout]);
            assert!(
                upstream.upstream.is_cancelled(),
                "a time-out cancels upstream"
            );
        }
        assert!(probe.released(), "downstream released (3.13)");
    });
}

/// A cancel from the main thread races an item passing (`BUSY`): the downstream is released
/// either by the cancel or by the upstream side leaving `BUSY`, never left behind, and no
/// terminal signal follows the cancel.
#[test]
fn cancel_races_an_item_in_flight() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let upstream = Manual::new();
        let (down, probe) = downstream(u64::MAX);
        Flux::new(upstream.clone())
            .timeout(LIMIT)
            .scheduler(clock.clone())
            .subscribe(down);
        let producer = upstream.spawn(vec![1, 2], false);
        probe.handle().cancel();
        producer.join().unwrap();
        let record = probe.record();
        assert_eq!(record.terminals(), 0, "{record:?}");
        assert!(upstream.upstream.is_cancelled());
        assert!(probe.released(), "downstream released (3.13)");
        // The cancel stopped the timer: nothing fires later.
        clock.advance_by(LIMIT * 4);
        assert_eq!(probe.record().terminals(), 0);
        assert_eq!(clock.pending(), 0, "the timer was cancelled");
    });
}
