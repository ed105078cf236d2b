//! The `subscribe_on` forwarder (src/ops/subscribe_on.rs): requests from any thread add to a
//! pending count and the one that opens the gate schedules a forwarding task, which loops until it
//! saw every request; unbounded demand is forwarded once (issue 8 §2.6), `request(0)` always.
//!
//! The scheduler runs each task inline on the thread that schedules it, so the gate alone keeps two
//! forwardings apart, and requests race each other on two threads.
#![cfg(loom)]

use backflow::prelude::*;
use backflow::sched::{Instant, Scheduler, Task, TaskHandle, Worker};
use backflow_loom_tests::manual::{downstream, Manual};
use loom::sync::atomic::Ordering;

/// Runs each task at once, on the thread that schedules it.
#[derive(Clone)]
struct Inline;

impl Scheduler for Inline {
    fn schedule_task(&self, task: Task) {
        task.run()
    }
    fn schedule_task_at(&self, _deadline: Instant, _task: Task) -> TaskHandle {
        unreachable!("subscribe_on schedules no delayed work")
    }
    fn now(&self) -> Instant {
        Instant::EPOCH
    }
    fn worker(&self) -> Worker {
        Worker::new(Inline)
    }
}

/// Two threads request 1 and 2: the upstream gets exactly 3, in one or two calls.
#[test]
fn concurrent_requests_are_forwarded_exactly() {
    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(0);
        Flux::new(upstream.clone())
            .subscribe_on(Inline)
            .subscribe(down);
        let handle = probe.handle();
        let other = loom::thread::spawn(move || handle.request(1));
        probe.handle().request(2);
        other.join().unwrap();
        let up = &upstream.upstream;
        assert_eq!(up.requested(), 3);
        assert!((1..=2).contains(&up.request_calls.load(Ordering::SeqCst)));
        drop(upstream.take());
        assert!(probe.released());
    });
}

/// Unbounded demand from one thread races a request of 1 and a later one from another: the
/// upstream hears `u64::MAX` exactly once, plus at most the 1 that came before it.
#[test]
fn unbounded_demand_is_forwarded_once() {
    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(0);
        Flux::new(upstream.clone())
            .subscribe_on(Inline)
            .subscribe(down);
        let handle = probe.handle();
        let other = loom::thread::spawn(move || {
            handle.request(1);
            handle.request(1);
        });
        probe.handle().request(u64::MAX);
        other.join().unwrap();
        probe.handle().request(5);
        let up = &upstream.upstream;
        assert_eq!(up.unbounded_calls.load(Ordering::SeqCst), 1);
        let calls = up.request_calls.load(Ordering::SeqCst);
        assert!((1..=3).contains(&calls), "{calls} calls");
        drop(upstream.take());
        assert!(probe.released());
    });
}
