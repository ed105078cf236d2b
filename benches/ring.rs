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

/// Group `ring_paired`: ours and rtrb timed in alternating pairs, one full run of each per pair.
///
/// The single-item `ring` figures are bimodal for *both* rings, and the mode changes over time
/// with nothing in the code changing (on this 2-vCPU VM the consumer either chases the producer
/// item by item or works a cache line behind it, and which one a run lands in moves with where the
/// host places the two vCPUs). criterion times every sample of one peer before the next peer
/// starts, so the two sides of a ratio can sample different modes. Here each pair times both within
/// ~100 ms, first ours then rtrb, then the other way round in the next pair, and the figure is the
/// median of the per-pair ratios: both sides see the same machine. It prints one line per pair and
/// a summary, and writes the summary as JSON to `$CRITERION_HOME/ring_paired.json` (default
/// `target/criterion`), which `scripts/bench-report` reads.
fn ring_paired() {
    let pairs = match std::env::var(PAIRS_VAR) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<usize>()
            .unwrap_or_else(|_| panic!("{PAIRS_VAR}={v:?}: expected a count")),
        _ => PAIRS,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listing = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    // A criterion filter (a positional argument) that names neither the `ring` group nor this one
    // skips it: `cargo bench --bench ring -- ring_same_thread` times only that group.
    let filter = positional_filter(&args);
    let wanted = filter.map_or(true, |f| {
        f.contains("ring/") || f.contains("paired") || f == "ring"
    });
    if pairs == 0 || listing || !wanted {
        return;
    }
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let kinds: [(&str, Run, Run); 2] = [
        ("single", backflow_spsc, rtrb_single),
        ("chunk", backflow_spsc_chunk, rtrb_chunk),
    ];
    let mut summaries = Vec::new();
    for (kind, ours, peer) in kinds {
        let time = |run: Run| {
            let started = std::time::Instant::now();
            assert_eq!(black_box(run()), expected, "ring_paired/{kind} lost items");
            started.elapsed().as_secs_f64()
        };
        // One untimed pair first: thread start-up, page faults, the frequency ramp.
        time(ours);
        time(peer);
        let mut ratios = Vec::with_capacity(pairs);
        let (mut ours_s, mut peer_s) = (Vec::new(), Vec::new());
        for pair in 0..pairs {
            let (a, b) = if pair % 2 == 0 {
                let a = time(ours);
                (a, time(peer))
            } else {
                let b = time(peer);
                (time(ours), b)
            };
            ours_s.push(a);
            peer_s.push(b);
            ratios.push(b / a);
            println!(
                "ring_paired/{kind} pair {pair:>2}: backflow {:>6.1} M/s  rtrb {:>6.1} M/s  ratio {:.2}x",
                rate(a),
                rate(b),
                b / a
            );
        }
        let ratio = median(&mut ratios.clone());
        let lower_quartile = quantile(&mut ratios.clone(), 0.25);
        let upper_quartile = quantile(&mut ratios.clone(), 0.75);
        let ahead = ratios.iter().filter(|r| **r >= 1.0).count();
        let (ours_median, peer_median) = (median(&mut ours_s.clone()), median(&mut peer_s));
        let ours_slowest = ours_s.iter().copied().fold(0.0, f64::max);
        println!(
            "ring_paired/{kind}: median ratio {ratio:.2}x (quartiles {lower_quartile:.2}-{upper_quartile:.2}), \
             ours ahead in {ahead} of {pairs} pairs; medians backflow {:.1} M/s, rtrb {:.1} M/s; \
             our slowest {:.1} M/s",
            rate(ours_median),
            rate(peer_median),
            rate(ours_slowest)
        );
        summaries.push(format!(
            "\"{kind}\": {{\"pairs\": {pairs}, \"median_ratio\": {ratio}, \"lower_quartile\": \
             {lower_quartile}, \"upper_quartile\": {upper_quartile}, \"ours_ahead\": {ahead}, \
             \"ours_median_s\": {ours_median}, \"peer_median_s\": {peer_median}, \
             \"ours_slowest_s\": {ours_slowest}, \"items\": {ITEMS}}}"
        ));
    }
    let home = std::env::var("CRITERION_HOME").unwrap_or_else(|_| "target/criterion".into());
    let _ = std::fs::create_dir_all(&home);
    let path = std::path::Path::new(&home).join("ring_paired.json");
    std::fs::write(&path, format!("{{{}}}\n", summaries.join(", ")))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// criterion's positional filter among the bench's arguments, if any (the value of an option
/// such as `--warm-up-time 1` is not one).
fn positional_filter(args: &[String]) -> Option<&str> {
    // criterion 0.5's options that take a value.
    const VALUED: [&str; 16] = [
        "--color",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--profile-time",
        "--format",
    ];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if VALUED.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// Items per second of one run, in millions.
fn rate(seconds: f64) -> f64 {
    ITEMS as f64 / seconds / 1e6
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

fn main() {
    support::main(&[benches, ring_paired]);
}
