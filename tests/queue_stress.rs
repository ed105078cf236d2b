//! The rings under real threads: order, exactly-once delivery and drops, across millions of items.
//!
//! Counts are multiplied by `BACKFLOW_STRESS_SCALE` (default 1.0); `scripts/valgrind-rings` runs
//! these under valgrind with a small scale, `scripts/tsan` under ThreadSanitizer and `scripts/miri`
//! under Miri with a tiny one. Waiting sides spin briefly, then yield, so the tests
//! stay fast when both threads share one core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use backflow::error::{ChunkError, PushError};
use backflow::queue::{mpsc, overwrite, spsc};

/// `base` scaled by `BACKFLOW_STRESS_SCALE`, at least 1.
fn scaled(base: usize) -> usize {
    let scale = std::env::var("BACKFLOW_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    ((base as f64 * scale) as usize).max(1)
}

/// A wait that spins a little, then yields, so a peer sharing the core gets to run.
#[derive(Default)]
struct Wait(u32);

impl Wait {
    fn wait(&mut self) {
        self.0 += 1;
        // Under Miri (scripts/miri) a spin is thousands of interpreted steps and the peer only
        // runs when Miri preempts us: yield at once instead.
        if self.0 < 64 && !cfg!(miri) {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

fn push_blocking<T>(producer: &mut spsc::Producer<T>, item: T) {
    let mut item = item;
    let mut wait = Wait::default();
    while let Err(full) = producer.push(item) {
        item = full.into_inner();
        wait.wait();
    }
}

fn pop_blocking<T>(consumer: &mut spsc::Consumer<T>) -> T {
    let mut wait = Wait::default();
    loop {
        if let Some(item) = consumer.pop() {
            return item;
        }
        wait.wait();
    }
}

/// Counts drops of items by id.
#[derive(Clone)]
struct DropLog(Arc<Vec<AtomicUsize>>);

impl DropLog {
    fn new(items: usize) -> Self {
        DropLog(Arc::new((0..items).map(|_| AtomicUsize::new(0)).collect()))
    }

    fn item(&self, id: usize) -> Tracked {
        Tracked {
            id,
            log: self.clone(),
        }
    }

    fn assert_each_dropped_once(&self) {
        for (id, drops) in self.0.iter().enumerate() {
            assert_eq!(drops.load(Ordering::Relaxed), 1, "item {id}");
        }
    }
}

struct Tracked {
    id: usize,
    log: DropLog,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.0[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn smoke() {
    let (mut producer, mut consumer) = spsc::channel(1);
    assert_eq!(consumer.pop(), None);
    producer.push(7).unwrap();
    assert_eq!(producer.push(8), Err(PushError::Full(8)));
    assert_eq!(consumer.peek(), Some(&7));
    assert_eq!(consumer.pop(), Some(7));
    assert_eq!(consumer.pop(), None);

    let (mut producer, mut consumer) = overwrite::channel(1);
    assert_eq!(consumer.pop(), None);
    assert_eq!(producer.push_overwrite(7), None);
    assert_eq!(producer.push_overwrite(8), Some(7));
    assert_eq!(consumer.pop(), Some(8));
    assert_eq!(consumer.pop(), None);
}

#[test]
fn capacity() {
    for cap in 1..=scaled(40).max(3) {
        let (mut producer, mut consumer) = spsc::channel::<usize>(cap);
        assert_eq!(producer.capacity(), cap);
        assert_eq!(consumer.capacity(), cap);
        assert_eq!(producer.slots(), cap);
        for i in 0..cap {
            producer.push(i).unwrap();
        }
        assert!(producer.is_full());
        assert_eq!(producer.push(cap), Err(PushError::Full(cap)));
        assert_eq!(consumer.len(), cap);
        assert!(matches!(
            producer.write_chunk(1),
            Err(ChunkError::TooFewSlots(0))
        ));
        assert_eq!(consumer.pop(), Some(0));
        assert_eq!(producer.slots(), 1);

        let (producer, mut consumer) = mpsc::channel::<usize>(cap);
        assert_eq!(producer.capacity(), cap);
        for i in 0..cap {
            producer.push(i).unwrap();
        }
        assert_eq!(producer.push(cap), Err(PushError::Full(cap)));
        assert_eq!(consumer.len(), cap);
        assert_eq!(consumer.pop(), Some(0));
        producer.push(cap).unwrap();

        let (mut producer, consumer) = overwrite::channel::<usize>(cap);
        assert_eq!(producer.capacity(), cap);
        for i in 0..cap {
            assert_eq!(producer.push_overwrite(i), None);
        }
        assert_eq!(consumer.len(), cap);
        assert_eq!(producer.push_overwrite(cap), Some(0));
        assert_eq!(consumer.len(), cap);
    }
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity() {
    let _ = spsc::channel::<i32>(0);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_overwrite() {
    let _ = overwrite::channel::<i32>(0);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_mpsc() {
    let _ = mpsc::channel::<i32>(0);
}

#[test]
fn spsc() {
    let count = scaled(2_000_000);
    let (mut producer, mut consumer) = spsc::channel(64);
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..count {
                push_blocking(&mut producer, i);
            }
        });
        for i in 0..count {
            assert_eq!(pop_blocking(&mut consumer), i);
        }
        assert_eq!(consumer.pop(), None);
    });
}

#[test]
fn spsc_chunked() {
    let count = scaled(2_000_000);
    let (mut producer, mut consumer) = spsc::channel(100);
    thread::scope(|scope| {
        scope.spawn(move || {
            let (mut next, mut round, mut wait) = (0, 0usize, Wait::default());
            while next < count {
                // Vary the chunk size so chunks start and end everywhere in the buffer.
                round += 1;
                let want = (round % 37 + 1).min(count - next);
                match producer.write_chunk(want) {
                    Ok(mut chunk) => {
                        if round % 2 == 0 {
                            next += chunk.fill_from_iter(next..count);
                        } else {
                            let mut i = next;
                            next += chunk.fill_with(|| {
                                i += 1;
                                i - 1
                            });
                        }
                        chunk.commit();
                        wait.reset();
                    }
                    Err(ChunkError::TooFewSlots(_)) => wait.wait(),
                }
            }
        });
        let (mut expected, mut round, mut wait) = (0, 0usize, Wait::default());
        while expected < count {
            round += 1;
            let held = consumer.len().min(round % 41 + 1);
            if held == 0 {
                wait.wait();
                continue;
            }
            wait.reset();
            let mut chunk = consumer.read_chunk(held).unwrap();
            // Sometimes leave the tail of the chunk in the ring for the next read.
            let take = if round % 3 == 0 { held / 2 + 1 } else { held };
            for item in chunk.by_ref().take(take) {
                assert_eq!(item, expected);
                expected += 1;
            }
            assert_eq!(chunk.len(), held - take);
            chunk.release();
        }
        assert_eq!(consumer.pop(), None);
    });
}

#[test]
fn spsc_chunked_up_to() {
    let count = scaled(2_000_000);
    let (mut producer, mut consumer) = spsc::channel(100);
    thread::scope(|scope| {
        scope.spawn(move || {
            let (mut next, mut round, mut wait) = (0, 0usize, Wait::default());
            while next < count {
                round += 1;
                let mut chunk = producer.write_chunk_up_to((round % 53 + 1).min(count - next));
                if chunk.is_empty() {
                    wait.wait();
                    continue;
                }
                wait.reset();
                next += chunk.fill_from_iter(next..count);
                chunk.commit();
            }
        });
        let (mut expected, mut round, mut wait) = (0, 0usize, Wait::default());
        while expected < count {
            round += 1;
            let chunk = consumer.read_chunk_up_to(round % 59 + 1);
            if chunk.is_empty() {
                wait.wait();
                continue;
            }
            wait.reset();
            for item in chunk {
                assert_eq!(item, expected);
                expected += 1;
            }
        }
        assert_eq!(consumer.pop(), None);
    });
}

#[test]
fn spsc_zero_sized() {
    let count = scaled(1_000_000);
    let (mut producer, mut consumer) = spsc::channel::<()>(8);
    thread::scope(|scope| {
        scope.spawn(move || {
            for _ in 0..count {
                push_blocking(&mut producer, ());
            }
        });
        for _ in 0..count {
            pop_blocking(&mut consumer);
        }
        assert_eq!(consumer.pop(), None);
    });
}

#[test]
fn overwrite_eviction() {
    let count = scaled(1_000_000);
    let (mut producer, mut consumer) = overwrite::channel(7);
    let (popped, evicted) = thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut evicted = Vec::new();
            for i in 0..count {
                if let Some(old) = producer.push_overwrite(i) {
                    evicted.push(old);
                }
                if i % 64 == 0 {
                    // Let the consumer catch up now and then, so both pops and evictions happen.
                    thread::yield_now();
                }
            }
            evicted
        });
        let (mut popped, mut wait) = (Vec::new(), Wait::default());
        while !consumer.is_abandoned() {
            match consumer.pop() {
                Some(item) => {
                    popped.push(item);
                    wait.reset();
                }
                None => wait.wait(),
            }
        }
        popped.extend(std::iter::from_fn(|| consumer.pop()));
        (popped, writer.join().unwrap())
    });
    assert!(popped.windows(2).all(|w| w[0] < w[1]), "pops out of order");
    assert!(
        evicted.windows(2).all(|w| w[0] < w[1]),
        "evictions out of order"
    );
    let mut seen = vec![false; count];
    for &i in popped.iter().chain(&evicted) {
        assert!(!seen[i], "item {i} came out twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s), "an item was lost");
    assert_eq!(popped.last(), Some(&(count - 1)));
}

#[test]
fn mpsc_fan_in() {
    let per_producer = scaled(250_000);
    let producers = 4;
    let (producer, mut consumer) = mpsc::channel(64);
    thread::scope(|scope| {
        for p in 0..producers {
            let producer = producer.clone();
            scope.spawn(move || {
                let mut wait = Wait::default();
                for i in 0..per_producer {
                    let mut item = (p, i);
                    while let Err(full) = producer.push(item) {
                        item = full.into_inner();
                        wait.wait();
                    }
                    wait.reset();
                }
            });
        }
        drop(producer);
        let (mut next, mut wait) = (vec![0; producers], Wait::default());
        loop {
            match consumer.pop() {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} reordered or lost an item");
                    next[p] += 1;
                    wait.reset();
                }
                None if consumer.is_abandoned() && consumer.is_empty() => break,
                None => wait.wait(),
            }
        }
        assert!(next.iter().all(|&n| n == per_producer));
    });
}

#[test]
fn drops() {
    // Leftovers in the spsc ring are dropped once, whichever end goes last.
    for consumer_last in [false, true] {
        let log = DropLog::new(10);
        let (mut producer, mut consumer) = spsc::channel(8);
        for id in 0..8 {
            producer.push(log.item(id)).unwrap();
        }
        assert_eq!(consumer.pop().map(|t| t.id), Some(0));
        producer.push(log.item(8)).unwrap();
        drop(producer.push(log.item(9)).unwrap_err().into_inner());
        if consumer_last {
            drop(producer);
            drop(consumer);
        } else {
            drop(consumer);
            drop(producer);
        }
        log.assert_each_dropped_once();
    }

    // An uncommitted write chunk drops what was written into it; a committed one hands it over.
    let log = DropLog::new(5);
    let (mut producer, mut consumer) = spsc::channel(8);
    let mut chunk = producer.write_chunk(3).unwrap();
    assert_eq!(chunk.fill_from_iter((0..2).map(|id| log.item(id))), 2);
    drop(chunk);
    assert_eq!(consumer.pop().map(|t| t.id), None);
    let mut chunk = producer.write_chunk(3).unwrap();
    chunk.fill_from_iter((2..5).map(|id| log.item(id)));
    assert_eq!(chunk.commit(), 3);
    // A read chunk hands out one item; the rest stay in the ring and drop with it.
    let mut chunk = consumer.read_chunk(3).unwrap();
    assert_eq!(chunk.next().map(|t| t.id), Some(2));
    chunk.release();
    assert_eq!(consumer.len(), 2);
    drop((producer, consumer));
    log.assert_each_dropped_once();

    // The overwrite ring: evicted items go back to the producer, leftovers drop with the ring.
    let log = DropLog::new(6);
    let (mut producer, mut consumer) = overwrite::channel(3);
    let mut evicted = Vec::new();
    for id in 0..6 {
        evicted.extend(producer.push_overwrite(log.item(id)));
    }
    assert_eq!(evicted.iter().map(|t| t.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(consumer.pop().map(|t| t.id), Some(3));
    drop(evicted);
    drop((consumer, producer));
    log.assert_each_dropped_once();

    // The mpsc ring: rejected items come back, leftovers drop with the last end.
    let log = DropLog::new(4);
    let (producer, mut consumer) = mpsc::channel(2);
    let second = producer.clone();
    producer.push(log.item(0)).unwrap();
    second.push(log.item(1)).unwrap();
    assert_eq!(second.push(log.item(2)).unwrap_err().into_inner().id, 2);
    assert_eq!(consumer.pop().map(|t| t.id), Some(0));
    producer.push(log.item(3)).unwrap();
    drop((consumer, producer));
    drop(second);
    log.assert_each_dropped_once();
}

#[test]
fn drops_across_threads() {
    let count = scaled(200_000);
    let log = DropLog::new(count);
    let (mut producer, mut consumer) = spsc::channel(16);
    thread::scope(|scope| {
        let log = &log;
        scope.spawn(move || {
            for id in 0..count {
                let (mut item, mut wait) = (log.item(id), Wait::default());
                while let Err(full) = producer.push(item) {
                    if producer.is_abandoned() {
                        break; // the item comes back in `full` and is dropped here
                    }
                    item = full.into_inner();
                    wait.wait();
                }
            }
        });
        // Take half, then hang up: the rest is dropped by the producer or by the ring.
        for id in 0..count / 2 {
            assert_eq!(pop_blocking(&mut consumer).id, id);
        }
        drop(consumer);
    });
    log.assert_each_dropped_once();
}

/// Answers that only the asking side can falsify stay true: a producer that sees room can push,
/// a consumer that sees an item can pop, and no snapshot exceeds the capacity.
#[test]
fn linearizable() {
    let count = scaled(200_000);
    let cap = 4;
    let (mut producer, mut consumer) = spsc::channel(cap);
    thread::scope(|scope| {
        scope.spawn(move || {
            let (mut sent, mut wait) = (0, Wait::default());
            while sent < count {
                assert!(producer.slots() <= cap);
                if !producer.is_full() {
                    producer.push(sent).expect("room was seen");
                    sent += 1;
                    wait.reset();
                } else {
                    wait.wait();
                }
            }
        });
        let (mut received, mut wait) = (0, Wait::default());
        while received < count {
            assert!(consumer.len() <= cap);
            if !consumer.is_empty() {
                assert_eq!(consumer.peek(), Some(&received));
                assert_eq!(consumer.pop(), Some(received), "an item was seen");
                received += 1;
                wait.reset();
            } else {
                wait.wait();
            }
        }
    });

    let (mut producer, consumer) = overwrite::channel(cap);
    thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..count {
                producer.push_overwrite(i);
            }
        });
        let mut consumer = consumer;
        let (mut last, mut wait) = (None, Wait::default());
        while !consumer.is_abandoned() || !consumer.is_empty() {
            assert!(consumer.len() <= cap);
            match consumer.pop() {
                Some(item) => {
                    assert!(last < Some(item));
                    last = Some(item);
                    wait.reset();
                }
                None => wait.wait(),
            }
        }
        assert_eq!(last, Some(count - 1));
    });
}

#[test]
fn abandoned() {
    let (producer, consumer) = spsc::channel::<u8>(2);
    assert!(!producer.is_abandoned() && !consumer.is_abandoned());
    drop(consumer);
    assert!(producer.is_abandoned());
    let (producer, consumer) = overwrite::channel::<u8>(2);
    drop(producer);
    assert!(consumer.is_abandoned());
    let (producer, consumer) = mpsc::channel::<u8>(2);
    drop(consumer);
    assert!(producer.is_abandoned());
}

/// Every end is `Send`; `Sync` exactly where sharing `&end` is sound.
#[test]
fn auto_traits() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<spsc::Producer<std::cell::Cell<u8>>>();
    send::<spsc::Consumer<std::cell::Cell<u8>>>();
    sync::<spsc::Producer<std::cell::Cell<u8>>>();
    sync::<spsc::Consumer<u8>>();
    send::<overwrite::Producer<std::cell::Cell<u8>>>();
    send::<overwrite::Consumer<std::cell::Cell<u8>>>();
    send::<mpsc::Producer<std::cell::Cell<u8>>>();
    sync::<mpsc::Producer<std::cell::Cell<u8>>>();
    send::<mpsc::Consumer<std::cell::Cell<u8>>>();
}
