//! The `publish_on` hand-off, model-checked on the real operator (`src/ops/publish_on.rs`).
//!
//! The upstream side pushes into the spsc ring and signals the stage's `DrainGate`; whoever moves
//! the gate from 0 schedules the drain, which owns the consumer end and the downstream subscriber
//! (a loom `UnsafeCell`, so two drains at once would be flagged) and loops until it has seen every
//! signal. A push that lands while a drain is finishing a pass and leaving must be delivered:
//! after every thread has returned, everything requested has arrived (no lost wake-up).
//!
//! Most models schedule the drain on an inline scheduler, so the drain runs on whichever thread
//! won the gate (the producer's, or the requester's): that makes the gate the only thing that
//! keeps drains apart. One model runs the drain on a real `single()` worker thread.
#![cfg(loom)]

use std::sync::Mutex as StdMutex;

use backflow::prelude::*;
use backflow::sched::{self, Instant, Scheduler, Task, TaskHandle, Worker};
use backflow_loom_tests::{DropLog, Tracked};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{mpsc, Arc};
use loom::thread;

/// Runs each task at once, on the thread that schedules it.
#[derive(Clone)]
struct Inline;

impl Scheduler for Inline {
    fn schedule_task(&self, task: Task) {
        task.run()
    }
    fn schedule_task_at(&self, _deadline: Instant, _task: Task) -> TaskHandle {
        unreachable!("publish_on schedules no delayed work")
    }
    fn now(&self) -> Instant {
        Instant::EPOCH
    }
    fn worker(&self) -> Worker {
        Worker::new(Inline)
    }
}

/// What the upstream side does once it has been subscribed, on its own thread.
enum Step {
    /// `on_next` per item.
    Next(usize),
    /// One fused run (`on_next_iter`) of the items `from..to`.
    Run(usize, usize),
    /// Wait until the stage has requested at least this many items in total.
    AwaitDemand(u64),
    Complete,
}

/// A hand-driven upstream: `subscribe` hands the subscriber to a script the test runs on a thread.
struct Manual {
    log: DropLog,
    /// Total demand the stage requested (loom-visible: the drain requests from any thread).
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicU64>,
    script: StdMutex<Option<Vec<Step>>>,
    /// Where `subscribe` leaves the script, bound to the subscriber, for the test to run.
    runner: std::sync::Arc<StdMutex<Option<Runner>>>,
}

type Runner = Box<dyn FnOnce() + Send>;

struct ManualSubscription {
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicU64>,
}

impl Subscription for ManualSubscription {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n, Ordering::AcqRel);
    }
    fn cancel(&self) {
        self.cancelled.fetch_add(1, Ordering::AcqRel);
    }
}

impl Publisher for Manual {
    type Item = Tracked;
    fn subscribe<S: Subscriber<Tracked> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(std::sync::Arc::new(ManualSubscription {
            requested: self.requested.clone(),
            cancelled: self.cancelled.clone(),
        }));
        let script = self.script.lock().unwrap().take().expect("one subscriber");
        let log = self.log.clone();
        let requested = self.requested.clone();
        *self.runner.lock().unwrap() = Some(Box::new(move || {
            for step in script {
                match step {
                    Step::Next(id) => subscriber.on_next(log.item(id)),
                    Step::Run(from, to) => {
                        subscriber.on_next_iter((from..to).map(|id| log.item(id)));
                    }
                    Step::AwaitDemand(total) => {
                        while requested.load(Ordering::Acquire) < total {
                            thread::yield_now();
                        }
                    }
                    Step::Complete => subscriber.on_complete(),
                }
            }
        }));
    }
}

/// What the downstream saw. A std mutex is enough: it is locked only inside signal handlers, with
/// no loom operation inside, and two handlers never overlap unless the gate is broken (which the
/// loom cell around the downstream reports first).
#[derive(Default)]
struct Seen {
    items: Vec<usize>,
    completed: usize,
    errors: usize,
    released: bool,
}

struct Downstream {
    seen: std::sync::Arc<StdMutex<Seen>>,
    initial: u64,
    per_item: u64,
    subscription: Option<SharedSubscription>,
    handle: std::sync::Arc<StdMutex<Option<SharedSubscription>>>,
    done: Option<mpsc::Sender<()>>,
}

impl Subscriber<Tracked> for Downstream {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self.handle.lock().unwrap() = Some(subscription.clone());
        if self.initial > 0 {
            subscription.request(self.initial);
        }
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, item: Tracked) {
        self.seen.lock().unwrap().items.push(item.id);
        if self.per_item > 0 {
            self.subscription.as_ref().unwrap().request(self.per_item);
        }
    }
    fn on_error(&mut self, _error: Error) {
        self.seen.lock().unwrap().errors += 1;
        self.subscription = None;
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().completed += 1;
        self.subscription = None;
        if let Some(done) = self.done.take() {
            done.send(()).unwrap();
        }
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        self.seen.lock().unwrap().released = true;
    }
}

/// One model run: the stage, subscribed, with its upstream script ready to run.
struct Harness {
    log: DropLog,
    seen: std::sync::Arc<StdMutex<Seen>>,
    handle: Option<SharedSubscription>,
    upstream: Runner,
    cancelled: Arc<AtomicU64>,
}

fn subscribe<Sc: Scheduler>(
    scheduler: Sc,
    prefetch: usize,
    items: usize,
    script: Vec<Step>,
    initial: u64,
    per_item: u64,
    done: Option<mpsc::Sender<()>>,
) -> Harness {
    let log = DropLog::new(items);
    let cancelled = Arc::new(AtomicU64::new(0));
    let runner = std::sync::Arc::new(StdMutex::new(None));
    let manual = Manual {
        log: log.clone(),
        requested: Arc::new(AtomicU64::new(0)),
        cancelled: cancelled.clone(),
        script: StdMutex::new(Some(script)),
        runner: runner.clone(),
    };
    let seen = std::sync::Arc::new(StdMutex::new(Seen::default()));
    let handle = std::sync::Arc::new(StdMutex::new(None));
    let stage = Flux::new(manual).publish_on(scheduler).prefetch(prefetch);
    stage.subscribe(Downstream {
        seen: seen.clone(),
        initial,
        per_item,
        subscription: None,
        handle: handle.clone(),
        done,
    });
    let upstream = runner.lock().unwrap().take().expect("subscribed");
    let handle = handle.lock().unwrap().take();
    Harness {
        log,
        seen,
        handle,
        upstream,
        cancelled,
    }
}

#[test]
fn pushes_racing_a_request_are_all_delivered() {
    loom::model(|| {
        let script = vec![Step::Next(0), Step::Next(1), Step::Complete];
        let h = subscribe(Inline, 2, 2, script, 1, 0, None);
        let producer = thread::spawn(h.upstream);
        // The second credit races the pushes: whichever thread drains, nothing is lost.
        h.handle.as_ref().unwrap().request(1);
        producer.join().unwrap();
        drop(h.handle);
        let seen = h.seen.lock().unwrap();
        assert_eq!(seen.items, [0, 1]);
        assert_eq!((seen.completed, seen.errors), (1, 0));
        assert!(seen.released, "released after the terminal signal");
        drop(seen);
        h.log.assert_each_dropped_once();
    });
}

#[test]
fn a_fused_run_racing_a_request_is_delivered() {
    loom::model(|| {
        let script = vec![Step::Run(0, 2), Step::Run(2, 3), Step::Complete];
        let h = subscribe(Inline, 3, 3, script, 1, 0, None);
        let producer = thread::spawn(h.upstream);
        h.handle.as_ref().unwrap().request(2);
        producer.join().unwrap();
        drop(h.handle);
        let seen = h.seen.lock().unwrap();
        assert_eq!(seen.items, [0, 1, 2]);
        assert_eq!(seen.completed, 1);
        drop(seen);
        h.log.assert_each_dropped_once();
    });
}

#[test]
fn top_ups_reach_a_producer_waiting_for_demand() {
    loom::model(|| {
        // A ring of one: the second item can only come after the drain took the first and asked
        // for more, from whichever thread ran that drain.
        let script = vec![
            Step::Next(0),
            Step::AwaitDemand(2),
            Step::Next(1),
            Step::Complete,
        ];
        let h = subscribe(Inline, 1, 2, script, 1, 0, None);
        let producer = thread::spawn(h.upstream);
        h.handle.as_ref().unwrap().request(1);
        producer.join().unwrap();
        drop(h.handle);
        let seen = h.seen.lock().unwrap();
        assert_eq!(seen.items, [0, 1]);
        assert_eq!(seen.completed, 1);
        drop(seen);
        h.log.assert_each_dropped_once();
    });
}

#[test]
fn cancel_racing_pushes_drops_every_item_once() {
    loom::model(|| {
        let script = vec![Step::Next(0), Step::Next(1), Step::Complete];
        let h = subscribe(Inline, 2, 2, script, 1, 0, None);
        let producer = thread::spawn(h.upstream);
        h.handle.as_ref().unwrap().cancel();
        producer.join().unwrap();
        drop(h.handle);
        assert_eq!(
            h.cancelled.load(Ordering::Acquire),
            1,
            "upstream cancelled once"
        );
        let seen = h.seen.lock().unwrap();
        assert!(seen.released, "cancel releases the subscriber");
        assert!(seen.items.len() <= 1, "only what was requested");
        assert_eq!(seen.errors, 0);
        drop(seen);
        h.log.assert_each_dropped_once();
    });
}

#[test]
fn the_drain_on_a_worker_thread_never_misses_a_push() {
    loom::model(|| {
        // The downstream asks for one item at a time from inside on_next, on the worker; the test
        // thread pushes while that drain finishes its pass and leaves.
        let (done_tx, done) = mpsc::channel();
        let single = sched::single();
        let script = vec![Step::Next(0), Step::Next(1), Step::Complete];
        let h = subscribe(single.clone(), 2, 2, script, 1, 1, Some(done_tx));
        (h.upstream)();
        done.recv().unwrap();
        drop(h.handle);
        drop(single);
        let seen = h.seen.lock().unwrap();
        assert_eq!(seen.items, [0, 1]);
        assert_eq!(seen.completed, 1);
    });
}

/// Pull fusion with an emitter upstream: the drain refills its empty ring by running the
/// emitter's drain, and the producer only wakes the stage (a SeqCst load of its gate, ordered by
/// the push's claim; the drain looks at the emitter once more after it leaves, behind a fence). A
/// push that lands while a drain started by the request is leaving must still be delivered: a
/// second handle keeps the stream open, so no completion can rescue a stranded item.
#[test]
fn a_fused_emitter_push_racing_a_leaving_drain_is_delivered() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (emitter, flux) = backflow::emitter::<Tracked>(2);
        let keep_open = emitter.clone();
        let seen = std::sync::Arc::new(StdMutex::new(Seen::default()));
        let handle = std::sync::Arc::new(StdMutex::new(None));
        flux.publish_on(Inline).prefetch(2).subscribe(Downstream {
            seen: seen.clone(),
            initial: 0,
            per_item: 0,
            subscription: None,
            handle: handle.clone(),
            done: None,
        });
        let handle = handle.lock().unwrap().take().expect("subscribed");
        let producer = {
            let log = log.clone();
            thread::spawn(move || {
                assert!(emitter.try_emit(log.item(0)).is_ok());
                assert!(emitter.try_emit(log.item(1)).is_ok());
            })
        };
        handle.request(2);
        producer.join().unwrap();
        assert_eq!(seen.lock().unwrap().items, [0, 1], "an item was stranded");
        drop(keep_open);
        assert_eq!(seen.lock().unwrap().completed, 1);
        drop(handle);
        log.assert_each_dropped_once();
    });
}
