//! Schedulers: every task runs, the documented order holds, delayed tasks and cancel, virtual time
//! exactness, lifetime (no thread left behind) and panic isolation.
//!
//! Real-time tests wait on channels with generous timeouts and never assert on timing; the timer
//! tests share one lock because they observe the one shared timer thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::Duration;

use backflow::sched::{
    self, Immediate, Instant, Pool, Runnable, Scheduler, Single, Task, TaskHandle, VirtualTime,
    Worker,
};

const PATIENCE: Duration = Duration::from_secs(20);
const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Tests that start, use or count the shared timer thread run one at a time.
fn timer_lock() -> MutexGuard<'static, ()> {
    static TIMER: Mutex<()> = Mutex::new(());
    TIMER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Live threads of this process whose name starts with `prefix` (Linux: /proc/self/task).
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .count()
}

/// Polls `done` (1 ms apart) until it holds; panics after `PATIENCE`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for: {what}");
        thread::sleep(MS);
    }
}

fn take<T>(rx: &Receiver<T>, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| rx.recv_timeout(PATIENCE).expect("a task did not run"))
        .collect()
}

fn current() -> (ThreadId, Option<String>) {
    let me = thread::current();
    (me.id(), me.name().map(str::to_string))
}

// ---- immediate ----

#[test]
fn immediate_runs_on_the_calling_thread_at_once() {
    let s = sched::immediate();
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        s.schedule(move || tx.send((i, current().0)).unwrap());
        assert_eq!(rx.try_recv(), Ok((i, thread::current().id())));
    }
}

#[test]
fn immediate_runs_nested_but_its_worker_trampolines() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let nested = |s: Arc<dyn Scheduler>| {
        log.lock().unwrap().clear();
        let (l, inner) = (log.clone(), s.clone());
        s.schedule_task(Task::new(move || {
            l.lock().unwrap().push("outer start");
            let l2 = l.clone();
            inner.schedule_task(Task::new(move || l2.lock().unwrap().push("inner")));
            l.lock().unwrap().push("outer end");
        }));
        log.lock().unwrap().clone()
    };
    let s = sched::immediate();
    assert_eq!(
        nested(Arc::new(s.clone())),
        ["outer start", "inner", "outer end"]
    );
    assert_eq!(
        nested(Arc::new(s.worker())),
        ["outer start", "outer end", "inner"]
    );
}

#[test]
fn immediate_worker_never_overlaps_across_threads() {
    let worker = sched::immediate().worker();
    let running = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (worker, running, ran) = (worker.clone(), running.clone(), ran.clone());
            thread::spawn(move || {
                for _ in 0..2_000 {
                    let (running, ran) = (running.clone(), ran.clone());
                    worker.schedule(move || {
                        assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                        ran.fetch_add(1, Ordering::SeqCst);
                        running.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    // Whoever drained last returned only after the queue was empty.
    assert_eq!(ran.load(Ordering::SeqCst), 4_000);
}

// ---- single ----

#[test]
fn single_runs_every_task_fifo_on_its_thread() {
    let s = Single::with_name("t-single-fifo");
    let (tx, rx) = mpsc::channel();
    for i in 0..10_000 {
        let tx = tx.clone();
        s.schedule(move || tx.send((i, current())).unwrap());
    }
    let got = take(&rx, 10_000);
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..10_000).collect::<Vec<_>>()
    );
    let first = &got[0].1;
    assert_ne!(first.0, thread::current().id());
    assert_eq!(first.1.as_deref(), Some("t-single-fifo"));
    assert!(
        got.iter().all(|(_, t)| t == first),
        "one thread runs them all"
    );
}

#[test]
fn single_keeps_each_producers_order() {
    let s = sched::single();
    let (tx, rx) = mpsc::channel();
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let (s, tx) = (s.clone(), tx.clone());
            thread::spawn(move || {
                for i in 0..1_000 {
                    let tx = tx.clone();
                    s.schedule(move || tx.send((p, i)).unwrap());
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let got = take(&rx, 3_000);
    for p in 0..3 {
        let mine: Vec<_> = got
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(mine, (0..1_000).collect::<Vec<_>>());
    }
}

// ---- pool ----

#[test]
fn pool_runs_every_task_on_its_threads() {
    let pool = Pool::with_name(4, "t-pool-all");
    assert_eq!(pool.threads(), 4);
    let (tx, rx) = mpsc::channel();
    for i in 0..10_000 {
        let tx = tx.clone();
        pool.schedule(move || tx.send((i, current().1)).unwrap());
    }
    let mut got = take(&rx, 10_000);
    assert!(got.iter().all(|(_, name)| name
        .as_deref()
        .is_some_and(|n| n.starts_with("t-pool-all-"))));
    got.sort_unstable_by_key(|(i, _)| *i);
    assert!(got.iter().map(|(i, _)| *i).eq(0..10_000));
}

#[test]
fn pool_worker_is_fifo_on_one_thread() {
    let _guard = timer_lock();
    let pool = sched::pool(3);
    let worker = pool.worker();
    let (tx, rx) = mpsc::channel();
    for i in 0..5_000 {
        let tx = tx.clone();
        worker.schedule(move || tx.send((i, current().0)).unwrap());
    }
    // A delayed task on the worker joins the same thread.
    let tx2 = tx.clone();
    worker.schedule_after(MS, move || tx2.send((5_000, current().0)).unwrap());
    let got = take(&rx, 5_001);
    assert!(got.iter().map(|(i, _)| *i).eq(0..5_001));
    assert!(
        got.iter().all(|(_, t)| *t == got[0].1),
        "pinned to one thread"
    );
}

#[test]
fn pool_workers_spread_round_robin() {
    let pool = sched::pool(2);
    let ids: Vec<ThreadId> = (0..2)
        .map(|_| {
            let (tx, rx) = mpsc::channel();
            pool.worker()
                .schedule(move || tx.send(current().0).unwrap());
            take(&rx, 1)[0]
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn pool_default_uses_available_parallelism() {
    let expected = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(sched::pool_default().threads(), expected);
}

#[test]
#[should_panic(expected = "at least one thread")]
fn pool_of_zero_threads_panics() {
    let _ = sched::pool(0);
}

// ---- delayed tasks, cancel, the shared timer ----

#[test]
fn schedule_after_never_runs_early() {
    let _guard = timer_lock();
    let schedulers: Vec<Arc<dyn Scheduler>> = vec![
        Arc::new(sched::immediate()),
        Arc::new(sched::single()),
        Arc::new(sched::pool(2)),
        Arc::new(sched::pool(2).worker()),
        Arc::new(sched::immediate().worker()),
    ];
    for s in schedulers {
        let (tx, rx) = mpsc::channel();
        let deadline = s.now() + ms(3);
        let clock = s.clone();
        let handle = s.schedule_task_at(
            deadline,
            Task::new(move || tx.send(clock.now() >= deadline).unwrap()),
        );
        assert_eq!(take(&rx, 1), [true], "ran before its deadline");
        assert!(!handle.is_pending());
        assert!(!handle.cancel(), "too late to cancel a task that ran");
    }
}

#[test]
fn immediate_delayed_tasks_run_on_the_timer_thread() {
    let _guard = timer_lock();
    let s = sched::immediate();
    let (tx, rx) = mpsc::channel();
    s.schedule_after(MS, move || tx.send(current().1).unwrap());
    assert_eq!(take(&rx, 1), [Some("backflow-timer".to_string())]);
}

#[test]
fn a_due_deadline_runs_without_the_timer() {
    let s = sched::immediate();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let handle = s.schedule_at(s.now(), move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1, "ran inline, at once");
    assert!(!handle.cancel());
}

/// Dropped when the task that owns it is dropped.
struct DropFlag(Arc<AtomicUsize>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancel_prevents_the_run_and_drops_the_task() {
    let _guard = timer_lock();
    let schedulers: Vec<Arc<dyn Scheduler>> = vec![
        Arc::new(sched::immediate()),
        Arc::new(sched::single()),
        Arc::new(sched::pool(2)),
        Arc::new(VirtualTime::new()),
    ];
    for s in schedulers {
        let dropped = Arc::new(AtomicUsize::new(0));
        let flag = DropFlag(dropped.clone());
        let handle = s.schedule_task_after(
            Duration::from_secs(3600),
            Task::new(move || {
                let _keep = &flag;
                panic!("a cancelled task ran");
            }),
        );
        assert!(handle.is_pending());
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        assert!(handle.cancel());
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "cancel drops the task at once"
        );
        assert!(!handle.is_pending());
        assert!(!handle.cancel(), "a second cancel prevents nothing");
    }
}

#[test]
fn cancel_before_a_queued_task_starts_prevents_it() {
    // A task that is due but queued behind a busy one can still be cancelled.
    let s = sched::single();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    s.schedule(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    take(&started_rx, 1);
    let handle: TaskHandle = s.schedule_after(Duration::ZERO, || panic!("cancelled task ran"));
    assert!(handle.cancel());
    release_tx.send(()).unwrap();
    let (tx, rx) = mpsc::channel();
    s.schedule(move || tx.send("after").unwrap());
    assert_eq!(take(&rx, 1), ["after"]);
}

#[test]
fn timer_fires_in_deadline_order_ties_in_submission_order() {
    let _guard = timer_lock();
    let single = sched::single();
    let immediate = sched::immediate();
    // Hold the (shared) timer thread inside an immediate delayed task, so that every task below is
    // due before the timer looks at its heap again: the order is then the heap's alone.
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel();
    immediate.schedule_after(MS, move || {
        held_tx.send(()).unwrap();
        hold_rx.recv().unwrap();
    });
    take(&held_rx, 1);
    let base = single.now();
    let (tx, rx) = mpsc::channel();
    for (label, n) in [("30", 30), ("10", 10), ("20a", 20), ("20b", 20), ("15", 15)] {
        let tx = tx.clone();
        single.schedule_at(base + ms(n), move || tx.send(label).unwrap());
    }
    eventually("every deadline passed", || single.now() >= base + ms(30));
    hold_tx.send(()).unwrap();
    assert_eq!(take(&rx, 5), ["10", "15", "20a", "20b", "30"]);
}

// ---- virtual time ----

#[test]
fn virtual_time_runs_exactly_the_tasks_due() {
    let clock = VirtualTime::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for n in [10u64, 20] {
        let log = log.clone();
        clock.schedule_after(ms(n), move || log.lock().unwrap().push(n));
    }
    assert_eq!(clock.now(), Instant::EPOCH);
    clock.advance_by(ms(15));
    assert_eq!(*log.lock().unwrap(), [10]);
    assert_eq!(clock.now(), Instant::EPOCH + ms(15));
    clock.advance_by(ms(4));
    assert_eq!(*log.lock().unwrap(), [10]);
    clock.advance_by(MS);
    assert_eq!(*log.lock().unwrap(), [10, 20]);
    assert_eq!(clock.now(), Instant::EPOCH + ms(20));
    assert_eq!(clock.pending(), 0);
}

#[test]
fn virtual_time_ties_run_in_submission_order() {
    let clock = VirtualTime::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for label in ["a", "b", "c"] {
        let log = log.clone();
        clock.schedule_after(ms(10), move || log.lock().unwrap().push(label));
    }
    let l = log.clone();
    clock.schedule_after(ms(5), move || l.lock().unwrap().push("early"));
    clock.advance_by(ms(10));
    assert_eq!(*log.lock().unwrap(), ["early", "a", "b", "c"]);
}

#[test]
fn virtual_time_queues_immediate_tasks_until_run_pending() {
    let clock = VirtualTime::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    clock.schedule(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "schedule does not run at once"
    );
    assert_eq!(clock.pending(), 1);
    assert_eq!(clock.next_deadline(), Some(Instant::EPOCH));
    clock.run_pending();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        clock.now(),
        Instant::EPOCH,
        "run_pending does not move the clock"
    );
}

#[test]
fn virtual_time_runs_tasks_scheduled_within_the_window() {
    let clock = VirtualTime::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (c, l) = (clock.clone(), log.clone());
    clock.schedule_after(ms(10), move || {
        l.lock().unwrap().push(("outer", c.now()));
        for (label, delay) in [("+5", 5), ("+10", 10), ("+0", 0)] {
            let (c2, l2) = (c.clone(), l.clone());
            c.schedule_after(ms(delay), move || {
                l2.lock().unwrap().push((label, c2.now()))
            });
        }
    });
    clock.advance_by(ms(15));
    let at = |n: u64| Instant::EPOCH + ms(n);
    assert_eq!(
        *log.lock().unwrap(),
        [("outer", at(10)), ("+0", at(10)), ("+5", at(15))]
    );
    assert_eq!(clock.pending(), 1);
    assert_eq!(clock.next_deadline(), Some(at(20)));
    clock.advance_to(at(20));
    assert_eq!(log.lock().unwrap().last(), Some(&("+10", at(20))));
}

#[test]
fn virtual_time_never_goes_back() {
    let clock = VirtualTime::new();
    clock.advance_by(ms(10));
    clock.advance_to(Instant::EPOCH + ms(5));
    assert_eq!(clock.now(), Instant::EPOCH + ms(10));
    // A deadline in the past is due now.
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    clock.schedule_at(Instant::EPOCH, move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    clock.run_pending();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn virtual_time_advance_from_a_task_widens_the_window() {
    let clock = VirtualTime::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    clock.schedule_after(ms(30), move || l.lock().unwrap().push(30));
    let c = clock.clone();
    clock.schedule_after(ms(10), move || c.advance_by(ms(25)));
    clock.advance_by(ms(10));
    assert_eq!(*log.lock().unwrap(), [30]);
    assert_eq!(clock.now(), Instant::EPOCH + ms(35));
}

#[test]
fn virtual_time_cancel_and_handles() {
    let clock = VirtualTime::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (1..=3u64)
        .map(|n| {
            let r = ran.clone();
            clock.schedule_after(ms(n), move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert!(handles[1].cancel());
    assert_eq!(clock.pending(), 2);
    clock.advance_by(ms(3));
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert!(handles.iter().all(|h| !h.is_pending() && !h.cancel()));
}

#[test]
fn virtual_time_second_driver_waits_for_the_first() {
    let clock = VirtualTime::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    clock.schedule_after(MS, move || {
        entered_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    let c = clock.clone();
    let first = thread::spawn(move || c.advance_by(MS));
    take(&entered_rx, 1);
    let c = clock.clone();
    let (done_tx, done_rx) = mpsc::channel();
    let second = thread::spawn(move || {
        c.advance_by(MS);
        done_tx.send(c.now()).unwrap();
    });
    release_tx.send(()).unwrap();
    assert_eq!(take(&done_rx, 1), [Instant::EPOCH + ms(2)]);
    first.join().unwrap();
    second.join().unwrap();
}

// ---- lifetime: no thread left behind ----

/// Decrements its counter when the thread that holds it (in a thread-local) exits: before a join
/// of that thread returns.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    static ALIVE: std::cell::RefCell<Vec<Alive>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes `counter` count the thread that runs the next task of `s` until that thread exits.
fn track(s: &dyn Scheduler, counter: &Arc<AtomicUsize>) {
    counter.fetch_add(1, Ordering::SeqCst);
    let (c, (tx, rx)) = (counter.clone(), mpsc::channel());
    s.schedule_task(Task::new(move || {
        ALIVE.with(|alive| alive.borrow_mut().push(Alive(c)));
        tx.send(()).unwrap();
    }));
    take(&rx, 1);
}

#[test]
fn dropping_the_last_handle_joins_the_threads() {
    let single = Single::with_name("t-join-single");
    let pool = Pool::with_name(3, "t-join-pool");
    let (single_alive, pool_alive) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    track(&single, &single_alive);
    let worker: Worker = pool.worker();
    track(&worker, &pool_alive);
    track(&pool.worker(), &pool_alive);
    track(&pool.worker(), &pool_alive);
    // Queued tasks still run: the shutdown is graceful.
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        single.schedule(move || tx.send(i).unwrap());
    }
    drop(single);
    assert_eq!(single_alive.load(Ordering::SeqCst), 0, "joined by drop");
    assert_eq!(rx.try_iter().count(), 100);
    drop(pool);
    assert_eq!(pool_alive.load(Ordering::SeqCst), 3, "a worker is a handle");
    drop(worker);
    assert_eq!(pool_alive.load(Ordering::SeqCst), 0, "joined by drop");
    if cfg!(target_os = "linux") {
        eventually("no thread left", || {
            threads_named("t-join-single") + threads_named("t-join-pool-") == 0
        });
    }
}

#[test]
fn a_task_dropping_the_last_handle_does_not_deadlock() {
    let single = Single::with_name("t-self-drop");
    let alive = Arc::new(AtomicUsize::new(0));
    track(&single, &alive);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let own = single.clone();
    single.schedule(move || {
        go_rx.recv().unwrap();
        drop(own); // the last handle, dropped on the scheduler's own thread
    });
    drop(single);
    go_tx.send(()).unwrap();
    eventually("the thread exits", || alive.load(Ordering::SeqCst) == 0);
}

#[test]
fn a_pending_delayed_task_keeps_its_scheduler_alive() {
    let _guard = timer_lock();
    let single = Single::with_name("t-keep-alive");
    let alive = Arc::new(AtomicUsize::new(0));
    track(&single, &alive);
    let (tx, rx) = mpsc::channel();
    single.schedule_after(ms(2), move || tx.send(current().1).unwrap());
    drop(single);
    assert_eq!(take(&rx, 1), [Some("t-keep-alive".to_string())]);
    eventually("the thread exits", || alive.load(Ordering::SeqCst) == 0);
}

#[test]
fn cancelling_the_last_pending_task_releases_the_scheduler() {
    let _guard = timer_lock();
    let single = Single::with_name("t-cancel-rel");
    let alive = Arc::new(AtomicUsize::new(0));
    track(&single, &alive);
    let handle = single.schedule_after(Duration::from_secs(3600), || {});
    drop(single);
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "kept alive by the pending task"
    );
    assert!(handle.cancel());
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "joined by the cancelling thread"
    );
}

#[test]
fn the_timer_thread_stops_with_its_last_user() {
    let _guard = timer_lock();
    if cfg!(target_os = "linux") {
        eventually("earlier timers gone", || {
            threads_named("backflow-timer") == 0
        });
    }
    let single = sched::single();
    let immediate = sched::immediate();
    if cfg!(target_os = "linux") {
        assert_eq!(threads_named("backflow-timer"), 0, "started lazily");
    }
    let alive = Arc::new(AtomicUsize::new(1));
    let (tx, rx) = mpsc::channel();
    let (a, tx2) = (alive.clone(), tx.clone());
    single.schedule_after(MS, move || tx.send(current().1).unwrap());
    // Immediate's delayed tasks run on the timer thread itself: track it from there. Due no earlier
    // than the task above, it fires after it, when the timer no longer holds `single` (a fired task
    // lets go of its scheduler before an inline run and right after a hand-off).
    immediate.schedule_after(MS, move || {
        ALIVE.with(|alive| alive.borrow_mut().push(Alive(a)));
        tx2.send(current().1).unwrap();
    });
    let mut got = take(&rx, 2);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            Some("backflow-single".to_string()),
            Some("backflow-timer".to_string())
        ]
    );
    if cfg!(target_os = "linux") {
        assert_eq!(threads_named("backflow-timer"), 1, "one timer, shared");
    }
    drop(single);
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "still used by the immediate scheduler"
    );
    drop(immediate);
    assert_eq!(alive.load(Ordering::SeqCst), 0, "joined with its last user");
}

// ---- panics ----

#[test]
fn a_panicking_task_does_not_kill_the_worker() {
    let _guard = timer_lock();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let r = reported.clone();
    backflow::set_error_hook(move |e| {
        if e.to_string().contains("sched-test-boom") {
            r.lock().unwrap().push(e.kind());
        }
    });
    let schedulers: Vec<Arc<dyn Scheduler>> = vec![
        Arc::new(sched::immediate()),
        Arc::new(sched::immediate().worker()),
        Arc::new(sched::single()),
        Arc::new(sched::pool(1)),
        Arc::new(sched::pool(2).worker()),
    ];
    for s in &schedulers {
        let (tx, rx) = mpsc::channel();
        let before = tx.clone();
        s.schedule_task(Task::new(move || before.send(current().0).unwrap()));
        s.schedule_task(Task::new(|| panic!("sched-test-boom")));
        s.schedule_task(Task::new(move || tx.send(current().0).unwrap()));
        let ids = take(&rx, 2);
        assert_eq!(ids[0], ids[1], "the same thread went on after the panic");
    }
    // Delayed tasks and virtual time report the same way.
    let clock = VirtualTime::new();
    clock.schedule_after(MS, || panic!("sched-test-boom"));
    clock.advance_by(MS);
    let single = sched::single();
    single.schedule_after(MS, || panic!("sched-test-boom"));
    eventually("every panic reported", || {
        reported.lock().unwrap().len() == 7
    });
    backflow::clear_error_hook();
    assert!(reported
        .lock()
        .unwrap()
        .iter()
        .all(|k| *k == backflow::ErrorKind::Panicked));
}

// ---- the trait ----

/// A drain-loop-like runnable that reschedules itself on its worker, without allocating a task.
struct Countdown {
    left: AtomicUsize,
    worker: Worker,
    done: Mutex<Option<mpsc::Sender<()>>>,
}

impl Runnable for Countdown {
    fn run(self: Arc<Self>) {
        if self.left.fetch_sub(1, Ordering::SeqCst) > 1 {
            let worker = self.worker.clone();
            worker.schedule_task(Task::from_runnable(self));
        } else if let Some(done) = self.done.lock().unwrap().take() {
            done.send(()).unwrap();
        }
    }
}

#[test]
fn runnable_reschedules_itself() {
    let schedulers: Vec<Arc<dyn Scheduler>> = vec![
        Arc::new(sched::immediate()),
        Arc::new(sched::single()),
        Arc::new(sched::pool(2)),
    ];
    for s in schedulers {
        let (tx, rx) = mpsc::channel();
        let countdown = Arc::new(Countdown {
            left: AtomicUsize::new(1_000),
            worker: s.worker(),
            done: Mutex::new(Some(tx)),
        });
        s.worker()
            .schedule_task(Task::from_runnable(countdown.clone()));
        take(&rx, 1);
        assert_eq!(countdown.left.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn virtual_time_drives_a_rescheduling_runnable() {
    let clock = VirtualTime::new();
    let (tx, rx) = mpsc::channel();
    let countdown = Arc::new(Countdown {
        left: AtomicUsize::new(3),
        worker: clock.worker(),
        done: Mutex::new(Some(tx)),
    });
    clock.schedule_task(Task::from_runnable(countdown.clone()));
    clock.run_pending();
    assert_eq!(rx.try_recv(), Ok(()));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Immediate>();
    check::<Single>();
    check::<Pool>();
    check::<VirtualTime>();
    check::<Worker>();
    check::<TaskHandle>();
    check::<Instant>();
    check::<Arc<dyn Scheduler>>();
    fn send<T: Send>() {}
    send::<Task>();
}
