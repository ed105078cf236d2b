//! The spsc ring's head/tail protocol: items written before they are read, slots read before they
//! are reused, chunks published and released with one store, leftovers dropped exactly once.
#![cfg(loom)]

use backflow::queue::spsc::{self, Consumer, Producer};
use backflow_loom_tests::{DropLog, Tracked};
use loom::thread;

fn push_all(producer: &mut Producer<Tracked>, items: impl IntoIterator<Item = Tracked>) {
    for item in items {
        let mut item = item;
        while let Err(full) = producer.push(item) {
            item = full.into_inner();
            thread::yield_now();
        }
    }
}

fn pop_n(consumer: &mut Consumer<Tracked>, n: usize) -> Vec<usize> {
    let mut ids = Vec::new();
    while ids.len() < n {
        match consumer.pop() {
            Some(item) => ids.push(item.id),
            None => thread::yield_now(),
        }
    }
    ids
}

#[test]
fn push_pop() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (mut producer, mut consumer) = spsc::channel(1);
        let items: Vec<_> = (0..2).map(|id| log.item(id)).collect();
        let writer = thread::spawn(move || push_all(&mut producer, items));
        assert_eq!(pop_n(&mut consumer, 2), [0, 1]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn wrap_around() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (mut producer, mut consumer) = spsc::channel(2);
        let items: Vec<_> = (0..3).map(|id| log.item(id)).collect();
        let writer = thread::spawn(move || push_all(&mut producer, items));
        assert_eq!(pop_n(&mut consumer, 3), [0, 1, 2]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn chunk_commit_release() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (mut producer, mut consumer) = spsc::channel(2);
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            let mut next = 0;
            while next < 3 {
                let free = producer.slots().min(3 - next);
                match producer.write_chunk(free) {
                    Ok(mut chunk) if free > 0 => {
                        next += chunk.fill_from_iter((next..3).map(|id| writer_log.item(id)));
                        chunk.commit();
                    }
                    _ => thread::yield_now(),
                }
            }
        });
        let mut ids = Vec::new();
        while ids.len() < 3 {
            let held = consumer.len();
            if held == 0 {
                thread::yield_now();
                continue;
            }
            let mut chunk = consumer.read_chunk(held).unwrap();
            // Take one item, release, and leave the rest for the next chunk.
            ids.push(chunk.next().unwrap().id);
            chunk.release();
        }
        assert_eq!(ids, [0, 1, 2]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn chunk_up_to() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (mut producer, mut consumer) = spsc::channel(2);
        let writer_log = log.clone();
        let writer = thread::spawn(move || {
            let mut next = 0;
            while next < 3 {
                let mut chunk = producer.write_chunk_up_to(3 - next);
                if chunk.is_empty() {
                    drop(chunk);
                    thread::yield_now();
                    continue;
                }
                next += chunk.fill_from_iter((next..3).map(|id| writer_log.item(id)));
                chunk.commit();
            }
        });
        let mut ids = Vec::new();
        while ids.len() < 3 {
            let chunk = consumer.read_chunk_up_to(2);
            if chunk.is_empty() {
                drop(chunk);
                thread::yield_now();
                continue;
            }
            ids.extend(chunk.map(|item| item.id));
        }
        assert_eq!(ids, [0, 1, 2]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn leftovers_dropped_once() {
    loom::model(|| {
        let log = DropLog::new(3);
        let (mut producer, mut consumer) = spsc::channel(2);
        let items: Vec<_> = (0..2).map(|id| log.item(id)).collect();
        let late = log.item(2);
        let writer = thread::spawn(move || {
            push_all(&mut producer, items);
            // Full or not, this one either goes in or comes back and is dropped here.
            drop(producer.push(late));
        });
        // Pop at most one item, then hang up: the ring drops whatever is left when the last end
        // goes, on whichever thread that is.
        drop(consumer.pop());
        drop(consumer);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}

#[test]
fn abandoned_producer_leaves_everything_visible() {
    loom::model(|| {
        let log = DropLog::new(2);
        let (mut producer, mut consumer) = spsc::channel(2);
        let items: Vec<_> = (0..2).map(|id| log.item(id)).collect();
        let writer = thread::spawn(move || push_all(&mut producer, items));
        while !consumer.is_abandoned() {
            thread::yield_now();
        }
        let ids: Vec<_> = std::iter::from_fn(|| consumer.pop())
            .map(|item| item.id)
            .collect();
        assert_eq!(ids, [0, 1]);
        writer.join().unwrap();
        log.assert_each_dropped_once();
    });
}
