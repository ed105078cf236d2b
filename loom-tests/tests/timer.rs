//! `TimerSlot` generations (src/ops/timed.rs), through `timeout`: the timer task re-arms the slot
//! (`fired`, `arm`, schedule, `set`) on the clock's thread while the upstream's completion stops
//! it (`stop`) on another. A `set` that comes after the `stop` must cancel the task it got, and a
//! late `fired` of an old generation must not free a newer timer: afterwards no timer is left
//! pending on the clock, whatever the interleaving, and the stage lets go of its downstream.
#![cfg(loom)]

use std::time::Duration;

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use backflow_loom_tests::manual::{downstream, Manual};

const LIMIT: Duration = Duration::from_secs(1);

#[test]
fn rearm_races_stop() {
    loom::model(|| {
        let clock = VirtualTime::new();
        let upstream = Manual::new();
        let (down, probe) = downstream(u64::MAX);
        Flux::new(upstream.clone())
            .timeout(LIMIT)
            .scheduler(clock.clone())
            .subscribe(down);
        // An item at 0.5 s moves the deadline to 1.5 s: the timer due at 1 s re-arms.
        clock.advance_by(LIMIT / 2);
        let mut subscriber = upstream.take();
        subscriber.on_next(1);
        let timer_clock = clock.clone();
        let timer = loom::thread::spawn(move || timer_clock.advance_by(LIMIT * 3 / 4));
        let producer = loom::thread::spawn(move || subscriber.on_complete());
        timer.join().unwrap();
        producer.join().unwrap();
        let record = probe.record();
        assert_eq!(record.items, vec![1]);
        assert_eq!(record.completed, 1, "{record:?}");
        assert!(record.errors.is_empty());
        assert_eq!(
            clock.pending(),
            0,
            "a timer armed after the stop was not cancelled"
        );
        clock.advance_by(LIMIT * 4);
        assert_eq!(probe.record().terminals(), 1);
        assert!(probe.released(), "downstream released (3.13)");
    });
}
