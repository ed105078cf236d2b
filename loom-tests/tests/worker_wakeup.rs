//! Model check of the scheduler wake-up protocol: a worker that parks when idle is always woken
//! when work arrives, a closing scheduler runs what is queued and its thread can be joined, and an
//! immediate worker's trampoline runs every task once, never two at once.
//!
//! Two threads per model: the test thread and the scheduler's worker thread (or a second
//! submitter). A lost wake-up shows up as a loom deadlock (every thread blocked).
#![cfg(loom)]

use backflow::sched::{self, Scheduler};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{mpsc, Arc};

#[test]
fn a_task_pushed_while_the_worker_parks_is_run() {
    loom::model(|| {
        let single = sched::single();
        let (tx, rx) = mpsc::channel();
        single.schedule(move || tx.send(1).unwrap());
        assert_eq!(rx.recv().unwrap(), 1);
        drop(single);
    });
}

#[test]
fn the_worker_is_woken_again_after_it_parked() {
    loom::model(|| {
        let single = sched::single();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        single.schedule(move || tx.send(1).unwrap());
        assert_eq!(rx.recv().unwrap(), 1);
        // The worker has run the first task and is parking, or parked, or about to check the queue.
        single.schedule(move || tx2.send(2).unwrap());
        assert_eq!(rx.recv().unwrap(), 2);
    });
}

#[test]
fn closing_runs_what_is_queued_then_joins() {
    loom::model(|| {
        let single = sched::single();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let ran = ran.clone();
            single.schedule(move || {
                ran.fetch_add(1, Ordering::Relaxed);
            });
        }
        drop(single); // joins: the join's happens-before makes the Relaxed count visible
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn an_immediate_worker_runs_each_task_once_never_two_at_once() {
    loom::model(|| {
        let worker = sched::immediate().worker();
        let running = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let task = {
            let (running, ran) = (running.clone(), ran.clone());
            move || {
                assert_eq!(
                    running.fetch_add(1, Ordering::AcqRel),
                    0,
                    "two tasks at once"
                );
                ran.fetch_add(1, Ordering::AcqRel);
                running.fetch_sub(1, Ordering::AcqRel);
            }
        };
        let other = {
            let (worker, task) = (worker.clone(), task.clone());
            loom::thread::spawn(move || worker.schedule(task))
        };
        worker.schedule(task);
        other.join().unwrap();
        // Whichever thread drained last returned only after the queue was empty.
        assert_eq!(ran.load(Ordering::Acquire), 2);
    });
}
