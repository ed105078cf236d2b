//! Group `ring` (PERF.md): 10M `u64` from a producer thread to a consumer thread through a ring of
//! capacity 1024, both sides spinning on full / empty. Ours (`backflow_spsc`, `backflow_spsc_chunk`)
//! against rtrb (single items and chunks), crossbeam-queue's `ArrayQueue` and std's `sync_channel`.
//! Targets: single push/pop ≥ 1.0× rtrb; chunked ≥ 1.0× rtrb chunks.
//!
//! With `BACKFLOW_BENCH_LOAD=2` two busy threads run alongside (`benches/support`, PERF.md's
//! loaded condition).
//!
//! Group `ring_paired` (after the criterion groups, not criterion's): ours and rtrb, single and
//! chunked, timed in alternating pairs so that both sides of each ratio see the same machine; see
//! [`ring_paired`]. `BACKFLOW_RING_PAIRS=N` sets the pairs (default 20, 0 skips it).
//!
//! Group `ring_same_thread` (not in PERF.md): the same rings driven from one thread, a cost per
//! operation that a busy machine cannot blur.
//!
//! Every peer runs the same shape of loop: the chunked variants reserve whatever is free (write) or
//! take whatever is held (read) in one chunk, each through its own API for that (rtrb: `slots()`
//! then a chunk of that size; backflow: `write_chunk_up_to` / `read_chunk_up_to`). A side that finds the ring full / empty spins, and
//! after [`SPINS`] failed tries in a row yields its thread: on a machine with fewer free cores
//! than threads, pure spinning measures the scheduler's time slice, not the ring.

use std::hint::{black_box, spin_loop};
use std::sync::mpsc::{sync_channel, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread;

use backflow::queue::spsc;
use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;

mod support;

const ITEMS: u64 = 10_000_000;
const CAPACITY: usize = 1024;
/// Failed tries in a row before a waiting side yields its thread.
const SPINS: u32 = 128;

/// One wait of a side that found the ring full / empty for the `tries`-th time in a row.
#[inline]
fn wait(tries: &mut u32) {
    *tries += 1;
    if *tries < SPINS {
        spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Runs `produce` on a new thread and `consume` here; returns what `consume` returns.
fn across_threads<P, C>(produce: P, consume: C) -> u64
where
    P: FnOnce() + Send,
    C: FnOnce() -> u64,
{
    thread::scope(|scope| {
        scope.spawn(produce);
        consume()
    })
}

fn backflow_spsc() -> u64 {
    let (mut producer, mut consumer) = spsc::channel::<u64>(CAPACITY);
    across_threads(
        move || {
            for i in 0..ITEMS {
                let (mut item, mut tries) = (i, 0);
                while let Err(full) = producer.push(item) {
                    item = full.into_inner();
                    wait(&mut tries);
                }
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                match consumer.pop() {
                    Some(x) => {
                        sum = sum.wrapping_add(x);
                        received += 1;
                        tries = 0;
                    }
                    None => wait(&mut tries),
                }
            }
            sum
        },
    )
}

fn backflow_spsc_chunk() -> u64 {
    let (mut producer, mut consumer) = spsc::channel::<u64>(CAPACITY);
    across_threads(
        move || {
            let (mut next, mut tries) = (0u64, 0);
            while next < ITEMS {
                let mut chunk = producer.write_chunk_up_to((ITEMS - next) as usize);
                if chunk.is_empty() {
                    wait(&mut tries);
                    continue;
                }
                tries = 0;
                next += chunk.fill_from_iter(next..) as u64;
                chunk.commit();
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                let chunk = consumer.read_chunk_up_to(usize::MAX);
                if chunk.is_empty() {
                    wait(&mut tries);
                    continue;
                }
                tries = 0;
                received += chunk.len() as u64;
                for x in chunk {
                    sum = sum.wrapping_add(x);
                }
            }
            sum
        },
    )
}

fn rtrb_single() -> u64 {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    across_threads(
        move || {
            for i in 0..ITEMS {
                let (mut item, mut tries) = (i, 0);
                while let Err(rtrb::PushError::Full(back)) = producer.push(item) {
                    item = back;
                    wait(&mut tries);
                }
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                match consumer.pop() {
                    Ok(x) => {
                        sum = sum.wrapping_add(x);
                        received += 1;
                        tries = 0;
                    }
                    Err(_) => wait(&mut tries),
                }
            }
            sum
        },
    )
}

fn rtrb_chunk() -> u64 {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    across_threads(
        move || {
            let (mut next, mut tries) = (0u64, 0);
            while next < ITEMS {
                let free = producer.slots().min((ITEMS - next) as usize);
                if free == 0 {
                    wait(&mut tries);
                    continue;
                }
                tries = 0;
                let chunk = producer.write_chunk_uninit(free).unwrap();
                next += chunk.fill_from_iter(next..) as u64;
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                let held = consumer.slots();
                if held == 0 {
                    wait(&mut tries);
                    continue;
                }
                tries = 0;
                for x in consumer.read_chunk(held).unwrap().into_iter() {
                    sum = sum.wrapping_add(x);
                }
                received += held as u64;
            }
            sum
        },
    )
}

fn crossbeam_array_queue() -> u64 {
    let queue = Arc::new(ArrayQueue::<u64>::new(CAPACITY));
    let producer = queue.clone();
    across_threads(
        move || {
            for i in 0..ITEMS {
                let (mut item, mut tries) = (i, 0);
                while let Err(back) = producer.push(item) {
                    item = back;
                    wait(&mut tries);
                }
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                match queue.pop() {
                    Some(x) => {
                        sum = sum.wrapping_add(x);
                        received += 1;
                        tries = 0;
                    }
                    None => wait(&mut tries),
                }
            }
            sum
        },
    )
}

fn std_sync_channel() -> u64 {
    let (sender, receiver) = sync_channel::<u64>(CAPACITY);
    across_threads(
        move || {
            for i in 0..ITEMS {
                let (mut item, mut tries) = (i, 0);
                loop {
                    match sender.try_send(item) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            item = back;
                            wait(&mut tries);
                        }
                        Err(TrySendError::Disconnected(_)) => unreachable!("receiver alive"),
                    }
                }
            }
        },
        move || {
            let (mut sum, mut received, mut tries) = (0u64, 0, 0);
            while received < ITEMS {
                match receiver.try_recv() {
                    Ok(x) => {
                        sum = sum.wrapping_add(x);
                        received += 1;
                        tries = 0;
                    }
                    Err(TryRecvError::Empty) => wait(&mut tries),
                    Err(TryRecvError::Disconnected) => unreachable!("sender alive"),
                }
            }
            sum
        },
    )
}

/// One full run of a peer: moves `ITEMS` across threads, returns the consumer's sum.
type Run = fn() -> u64;

fn ring(c: &mut Criterion) {
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(ITEMS));
    let peers: [(&str, Run); 6] = [
        ("backflow_spsc", backflow_spsc),
        ("backflow_spsc_chunk", backflow_spsc_chunk),
        ("rtrb", rtrb_single),
        ("rtrb_chunk", rtrb_chunk),
        ("crossbeam_array_queue", crossbeam_array_queue),
        ("std_sync_channel", std_sync_channel),
    ];
    for (id, run) in peers {
        assert_eq!(run(), expected, "{id} lost or duplicated items");
        group.bench_function(id, |b| b.iter(|| black_box(run())));
    }
    group.finish();
}

/// Items per round trip in `ring_same_thread`: pushed, then popped, on one thread.
const BATCH: usize = 64;
/// Items moved through the ring per iteration of `ring_same_thread`.
const SAME_THREAD_ITEMS: u64 = 1_000_000;

/// Group `ring_same_thread`: the per-operation cost without the second core. One thread pushes a
/// batch and pops it back (single items), or commits and reads chunks of up to 700 items. On a
/// shared, oversubscribed machine the two-thread `ring` group measures the scheduler as much as
/// the ring; this group isolates the instructions each push and pop costs.
fn ring_same_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_same_thread");
    group.throughput(Throughput::Elements(SAME_THREAD_ITEMS));
    group.bench_function("backflow_spsc", |b| {
        let (mut producer, mut consumer) = spsc::channel::<u64>(CAPACITY);
        b.iter(|| {
            let (mut sum, mut i) = (0u64, 0);
            while i < SAME_THREAD_ITEMS {
                for _ in 0..BATCH {
                    producer.push(black_box(i)).unwrap();
                    i += 1;
                }
                for _ in 0..BATCH {
                    sum = sum.wrapping_add(consumer.pop().unwrap());
                }
            }
            sum
        })
    });
    group.bench_function("rtrb", |b| {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
        b.iter(|| {
            let (mut sum, mut i) = (0u64, 0);
            while i < SAME_THREAD_ITEMS {
                for _ in 0..BATCH {
                    producer.push(black_box(i)).unwrap();
                    i += 1;
                }
                for _ in 0..BATCH {
                    sum = sum.wrapping_add(consumer.pop().unwrap());
                }
            }
            sum
        })
    });
    group.bench_function("backflow_spsc_chunk", |b| {
        let (mut producer, mut consumer) = spsc::channel::<u64>(CAPACITY);
        b.iter(|| {
            let (mut sum, mut i) = (0u64, 0);
            while i < SAME_THREAD_ITEMS {
                let mut chunk = producer.write_chunk_up_to(700);
                i += chunk.fill_from_iter(black_box(i)..) as u64;
                chunk.commit();
                for x in consumer.read_chunk_up_to(usize::MAX) {
                    sum = sum.wrapping_add(x);
                }
            }
            sum
        })
    });
    group.bench_function("rtrb_chunk", |b| {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
        b.iter(|| {
            let (mut sum, mut i) = (0u64, 0);
            while i < SAME_THREAD_ITEMS {
                let free = producer.slots().min(700);
                let chunk = producer.write_chunk_uninit(free).unwrap();
                i += chunk.fill_from_iter(black_box(i)..) as u64;
                let held = consumer.slots();
                for x in consumer.read_chunk(held).unwrap().into_iter() {
                    sum = sum.wrapping_add(x);
                }
            }
            sum
        })
    });
    group.finish();
}

criterion_group!(benches, ring, ring_same_thread);

/// Pairs `ring_paired` times when `BACKFLOW_RING_PAIRS` does not say.
const PAIRS: usize = 20;

/// The environment variable with the number of pairs `ring_paired` times (0: none).
const PAIRS_VAR: &str = "BACKFLOW_RING_PAIRS";

/// Group `ring_paired`: ours and rtrb timed in alternating pairs, one full run of each per pair
/// (`benches/support/paired.rs` says why). The single-item `ring` figures are bimodal for *both*
/// rings: criterion's blocks, taken seconds apart, can sample different machine states. Writes
/// `$CRITERION_HOME/ring_paired.json`, which `scripts/bench-report` reads.
fn ring_paired() {
    use support::paired::pairing;
    // A criterion filter that names neither the `ring` group nor this one skips it:
    // `cargo bench --bench ring -- ring_same_thread` times only that group.
    if !support::paired::enabled(|f| f.contains("ring/") || f.contains("paired") || f == "ring") {
        return;
    }
    let work = support::paired::Workload {
        items: ITEMS,
        expected: (0..ITEMS).fold(0u64, u64::wrapping_add),
    };
    support::paired::run(
        "ring_paired",
        support::paired::pairs_from_env(PAIRS_VAR, PAIRS),
        work,
        &[
            pairing("single", "rtrb", backflow_spsc, rtrb_single),
            pairing("chunk", "rtrb", backflow_spsc_chunk, rtrb_chunk),
        ],
    );
}

fn main() {
    support::main(&[benches, ring_paired]);
}
