//! No busy idle: a consumer with nothing to consume goes to sleep. The wait strategy spins only a
//! short bounded time before it parks (`src/wait.rs`), so a consumer that waits 200 ms for an item
//! that never comes uses well under 10 ms of CPU time.
//!
//! This is a resource bound, not a speed assertion: it reads the waiting thread's own CPU clock
//! (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`), which does not advance while the thread is parked,
//! however loaded the machine is.
#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use backflow::sched::{self, Scheduler};

/// The calling thread's CPU time (user + system).
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported on
    // Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

const IDLE: Duration = Duration::from_millis(200);
const BUDGET: Duration = Duration::from_millis(10);

#[test]
fn a_blocking_iterator_waiting_for_an_item_that_never_comes_sleeps() {
    let (emitter, flux) = backflow::emitter::<u64>(16);
    let (ready, started) = mpsc::channel();
    let consumer = thread::spawn(move || {
        let mut items = flux.into_blocking_iter();
        // One item first, so that the hand-off is warm (the consumer has waited and woken once).
        let first = items.next();
        let before = thread_cpu();
        ready.send(()).unwrap();
        let next = items.next(); // waits ~200 ms for an item that never comes, then the end
        let used = thread_cpu() - before;
        (first.map(|r| r.unwrap()), next.is_none(), used)
    });
    emitter.emit(1).unwrap();
    started.recv().unwrap();
    thread::sleep(IDLE);
    emitter.complete();
    let (first, ended, used) = consumer.join().unwrap();
    assert_eq!(first, Some(1));
    assert!(ended, "the stream completes after the idle spell");
    assert!(
        used < BUDGET,
        "the waiting consumer used {used:?} of CPU in {IDLE:?} (budget {BUDGET:?})"
    );
}

/// The scheduler thread's CPU time, read by a task running on it.
fn cpu_of(scheduler: &impl Scheduler) -> Duration {
    let (tx, rx) = mpsc::channel();
    scheduler.schedule(move || tx.send(thread_cpu()).unwrap());
    rx.recv().unwrap()
}

#[test]
fn a_publish_on_stage_with_no_traffic_lets_its_thread_sleep() {
    let single = sched::single();
    let (emitter, flux) = backflow::emitter::<u64>(16);
    let (seen_tx, seen) = mpsc::channel();
    let _handle = flux.publish_on(single.clone()).subscribe_with(
        move |x| seen_tx.send(x).unwrap(),
        |e| panic!("{e}"),
        || {},
    );
    // Traffic first: the drain runs (and lingers) on the scheduler thread, then goes idle.
    for i in 0..100 {
        emitter.emit(i).unwrap();
    }
    for i in 0..100 {
        assert_eq!(seen.recv().unwrap(), i);
    }
    let before = cpu_of(&single);
    thread::sleep(IDLE);
    let used = cpu_of(&single) - before;
    assert!(
        used < BUDGET,
        "the idle publish_on thread used {used:?} of CPU in {IDLE:?} (budget {BUDGET:?})"
    );
    // And it still wakes up for the next item.
    emitter.emit(100).unwrap();
    assert_eq!(seen.recv().unwrap(), 100);
}
