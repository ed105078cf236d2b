//! `sched::Tokio` on real tokio runtimes: hops onto tokio consumed as a `Stream`, timed operators on
//! paused tokio time, worker order, cancellation, blocking passes, and runtime shutdown mid-stream.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use backflow::prelude::*;
use backflow::sched::{Scheduler, Tokio};
use futures::StreamExt;

/// Generous bound for "does not hang" checks only; nothing here asserts speed.
const HANG: Duration = Duration::from_secs(60);

fn on_tokio_worker() -> bool {
    std::thread::current()
        .name()
        // tokio's default worker name ("tokio-rt-worker" since 1.5x, "tokio-runtime-worker" before).
        .is_some_and(|name| name.starts_with("tokio-r"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_hops_onto_tokio_and_is_consumed_as_a_stream() {
    let off_tokio = Arc::new(AtomicUsize::new(0));
    let seen = off_tokio.clone();
    let mut stream = backflow::range(0..10_000u64)
        .map(|x| x * 3)
        .publish_on(Tokio::current())
        .inspect(move |_| {
            if !on_tokio_worker() {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .into_stream();
    let mut expected = 0;
    while let Some(item) = stream.next().await {
        assert_eq!(item.unwrap(), expected * 3);
        expected += 1;
    }
    assert_eq!(expected, 10_000);
    assert_eq!(
        off_tokio.load(Ordering::Relaxed),
        0,
        "every item on a tokio worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_on_and_publish_on_tokio_keep_order_and_lose_nothing() {
    let on = Tokio::current();
    let items: Vec<u64> = backflow::range(0..50_000u64)
        .subscribe_on(on.clone())
        .filter(|x| x % 7 != 0)
        .publish_on(on)
        .prefetch(16)
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    let expected: Vec<u64> = (0..50_000).filter(|x| x % 7 != 0).collect();
    assert_eq!(items, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_its_tasks_in_order_one_at_a_time_across_passes() {
    let worker = Tokio::current().worker();
    let log = Arc::new(Mutex::new(Vec::new()));
    let busy = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = Arc::new(Mutex::new(Some(done_tx)));
    // Far more than one pass's budget: later tasks run in fresh passes, still in order.
    for i in 0..1_000 {
        let (log, busy, done_tx) = (log.clone(), busy.clone(), done_tx.clone());
        worker.schedule(move || {
            assert!(!busy.swap(true, Ordering::SeqCst), "two tasks at once");
            log.lock().unwrap().push(i);
            busy.store(false, Ordering::SeqCst);
            if i == 999 {
                let _ = done_tx.lock().unwrap().take().unwrap().send(());
            }
        });
    }
    done_rx.await.unwrap();
    assert_eq!(*log.lock().unwrap(), (0..1_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn interval_ticks_on_paused_tokio_time() {
    let on = Tokio::current();
    let start = tokio::time::Instant::now();
    let ticks: Vec<(u64, Duration)> = backflow::interval(Duration::from_millis(10))
        .scheduler(on.clone())
        .take(5)
        .publish_on(on)
        .into_stream()
        .map(|tick| (tick.unwrap(), start.elapsed()))
        .collect()
        .await;
    // Paused time auto-advances to each timer exactly: the instants are the schedule itself.
    let expected: Vec<(u64, Duration)> = (0..5u64)
        .map(|k| (k, Duration::from_millis(10 * (k + 1))))
        .collect();
    assert_eq!(ticks, expected);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttle_spaces_items_by_tokio_time() {
    let on = Tokio::current();
    let start = tokio::time::Instant::now();
    let items: Vec<(u32, Duration)> = backflow::range(0..5u32)
        .throttle(1, Duration::from_millis(100))
        .scheduler(on.clone())
        .publish_on(on)
        .into_stream()
        .map(|item| (item.unwrap(), start.elapsed()))
        .collect()
        .await;
    let expected: Vec<(u32, Duration)> = (0..5u32)
        .map(|k| (k, Duration::from_millis(100 * u64::from(k))))
        .collect();
    assert_eq!(items, expected);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeout_fires_on_tokio_time_and_not_before() {
    let on = Tokio::current();
    let start = tokio::time::Instant::now();
    let mut silent = backflow::never::<u32>()
        .timeout(Duration::from_secs(30))
        .scheduler(on.clone())
        .into_stream();
    let error = silent.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), Duration::from_secs(30));

    // Items every 10 ms never trip a 25 ms timeout: each one re-arms it (and cancels the last).
    let ticks: Vec<u64> = backflow::interval(Duration::from_millis(10))
        .scheduler(on.clone())
        .take(20)
        .timeout(Duration::from_millis(25))
        .scheduler(on)
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(ticks, (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sample_emits_the_latest_item_per_period_on_tokio_time() {
    let on = Tokio::current();
    // Ticks at 15, 30, 45, ... ms (values 0, 1, 2, ...); samples at 40 and 80 ms see 30 ms (1) and
    // 75 ms (4); no tick shares an instant with a sample before the source completes at 105 ms.
    let sampled: Vec<u64> = backflow::interval(Duration::from_millis(15))
        .scheduler(on.clone())
        .take(7)
        .sample(Duration::from_millis(40))
        .scheduler(on)
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    // And the last item (6, at 105 ms) comes out with the completion, like Reactor's sample.
    assert_eq!(sampled, [1, 4, 6]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn now_reads_paused_tokio_time_and_delayed_tasks_wait_for_it() {
    let on = Tokio::current();
    let t0 = on.now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    on.schedule_after(Duration::from_secs(3600), move || {
        let _ = tx.send(());
    });
    rx.await.unwrap();
    assert_eq!(on.now() - t0, Duration::from_secs(3600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_delayed_task_never_runs() {
    let on = Tokio::current();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let handle = on.schedule_after(Duration::from_millis(20), move || {
        flag.store(true, Ordering::SeqCst)
    });
    assert!(handle.is_pending());
    assert!(handle.cancel());
    assert!(!handle.cancel());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!ran.load(Ordering::SeqCst));

    // And one not cancelled runs once.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let kept = on
        .worker()
        .schedule_after(Duration::from_millis(5), move || {
            let _ = tx.send(());
        });
    rx.await.unwrap();
    assert!(!kept.is_pending());
    assert!(!kept.cancel());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_already_due_runs_on_tokio_not_nested_in_the_caller() {
    let on = Tokio::current();
    for scheduler in [on.clone(), Tokio::current()] {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let caller = std::thread::current().id();
        // This test's body runs on the runtime's block_on thread, not on a worker.
        scheduler.schedule_after(Duration::ZERO, move || {
            let _ = tx.send((std::thread::current().id() != caller, on_tokio_worker()));
        });
        assert_eq!(rx.await.unwrap(), (true, true));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    on.worker().schedule_after(Duration::ZERO, move || {
        let _ = tx.send(on_tokio_worker());
    });
    assert!(rx.await.unwrap());
}

#[test]
fn blocking_passes_leave_the_async_workers_free() {
    // One async worker. The pipeline's user code blocks until an async task sends it a value: on
    // that lone worker it would wait for itself; on the blocking pool it does not.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (value_tx, value_rx) = mpsc::channel::<u32>();
    let value_rx = Arc::new(Mutex::new(value_rx));
    let blocking = Tokio::new(runtime.handle().clone()).blocking();
    let (out_tx, out_rx) = mpsc::channel();
    runtime.spawn(async move {
        let mut stream = backflow::range(0..3u32)
            .publish_on(blocking)
            .map(move |x| x + value_rx.lock().unwrap().recv().unwrap())
            .into_stream();
        let mut got = Vec::new();
        while let Some(x) = stream.next().await {
            got.push(x.unwrap());
        }
        out_tx.send(got).unwrap();
    });
    runtime.spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            value_tx.send(10).unwrap();
        }
    });
    assert_eq!(out_rx.recv_timeout(HANG).unwrap(), [10, 11, 12]);
}

#[test]
fn a_runtime_shut_down_mid_stream_lets_an_outside_consumer_finish() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on = Tokio::new(runtime.handle().clone());
    let probe = on.clone();
    let mut items = backflow::range(0..100_000u64)
        .subscribe_on(on.clone())
        .publish_on(on)
        .prefetch(16)
        .into_blocking_iter();
    let (tx, rx) = mpsc::channel();
    let consumer = std::thread::spawn(move || {
        let mut n = 0u64;
        for item in items.by_ref() {
            assert_eq!(item.unwrap(), n);
            n += 1;
            if n == 1_000 {
                tx.send(()).unwrap();
            }
        }
        n
    });
    rx.recv_timeout(HANG).expect("the stream started");
    drop(runtime); // mid-stream
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(consumer.join()));
    let n = done_rx
        .recv_timeout(HANG)
        .expect("no hang")
        .expect("no panic");
    assert_eq!(n, 100_000, "nothing lost across the shutdown");
    assert!(probe.is_shut_down());
}

#[test]
fn a_runtime_shut_down_under_a_stream_consumer_cancels_the_stream() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on = Tokio::new(runtime.handle().clone());
    let (emitter, source) = backflow::emitter::<u64>(64);
    let (started_tx, started_rx) = mpsc::channel();
    runtime.spawn(async move {
        let mut stream = source.publish_on(on).into_stream();
        let mut first = true;
        while let Some(item) = stream.next().await {
            item.unwrap();
            if first {
                first = false;
                started_tx.send(()).unwrap();
            }
        }
    });
    let producer = std::thread::spawn(move || {
        let mut i = 0;
        // Offers until the consumer's end closes the stream.
        while !emitter.is_closed() {
            let _ = emitter.emit_timeout(i, Duration::from_millis(10));
            i += 1;
        }
    });
    started_rx.recv_timeout(HANG).expect("the stream started");
    drop(runtime); // drops the consuming task, hence its FluxStream: a cancel upstream
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(producer.join()));
    done_rx
        .recv_timeout(HANG)
        .expect("the producer saw the cancel")
        .expect("no panic");
}

#[test]
fn timers_pending_at_shutdown_move_to_backflows_timer() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let on = Tokio::new(runtime.handle().clone());
    let ticks = backflow::interval(Duration::from_millis(2))
        .scheduler(on.clone())
        .take(50)
        .publish_on(on.clone())
        .into_blocking_iter();
    let (tx, rx) = mpsc::channel();
    let consumer = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for tick in ticks {
            seen.push(tick.unwrap());
            if seen.len() == 5 {
                tx.send(()).unwrap();
            }
        }
        seen
    });
    rx.recv_timeout(HANG).expect("ticking");
    runtime.shutdown_background();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(consumer.join()));
    let seen = done_rx
        .recv_timeout(HANG)
        .expect("no hang")
        .expect("no panic");
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    // After shutdown a delayed task still runs, once, when due.
    let (tx, rx) = mpsc::channel();
    on.schedule_after(Duration::from_millis(1), move || tx.send(()).unwrap());
    rx.recv_timeout(HANG).expect("ran on backflow's timer");
    assert!(on.is_shut_down());
}
