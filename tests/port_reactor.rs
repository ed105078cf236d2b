//! Three pipelines written the way a Reactor user writes them, ported one operator per operator,
//! with the outputs Reactor's documentation gives for them.
//!
//! 1. Error-resume fallback (`onErrorResume`): a primary source fails mid-stream and the
//!    subscriber sees the primary's items, then the fallback's, and completes — never the error.
//! 2. A `bufferTimeout` batching sink: a producer with bursts and pauses feeds a database-style
//!    sink in batches of at most `n`, cut early by the time limit.
//! 3. A `groupBy` / `flatMap` per-key aggregation: word counts per first letter.

mod timed_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

/// Reactor:
/// ```java
/// Flux.just(1, 2, 3).concatWith(Flux.error(new IOException("primary down")))
///     .onErrorResume(e -> Flux.just(100, 200))
///     .map(x -> x * 10)
/// // emits 10, 20, 30, 1000, 2000 then completes (onErrorResume "subscribes to a fallback
/// // publisher when any error occurs")
/// ```
#[test]
fn error_resume_fallback() {
    let seen_error = Arc::new(Mutex::new(None));
    let s = seen_error.clone();
    let out = backflow::from_iter(vec![1, 2, 3])
        .concat_with(backflow::error(Error::msg("primary down")))
        .on_error_resume(move |e| {
            *s.lock().unwrap() = Some(e.to_string());
            backflow::from_iter(vec![100, 200])
        })
        .map(|x| x * 10)
        .collect()
        .unwrap();
    assert_eq!(out, vec![10, 20, 30, 1000, 2000]);
    assert_eq!(seen_error.lock().unwrap().as_deref(), Some("primary down"));
}

/// Reactor (with a `VirtualTimeScheduler`):
/// ```java
/// // 7 items at t=0, one at 5ms, one at 40ms, then complete at 50ms
/// source.bufferTimeout(3, Duration.ofMillis(10))
///     .subscribe(batch -> db.insert(batch));
/// // batches: [0,1,2]@0 [3,4,5]@0 [6,7]@10 (cut by time, 10ms after item 6) [8]@50 (on completion)
/// ```
#[test]
fn buffer_timeout_batching_sink() {
    let clock = VirtualTime::new();
    let source = Hot::<u32>::new();
    type Inserts = Arc<Mutex<Vec<(u64, Vec<u32>)>>>;
    let inserted: Inserts = Arc::new(Mutex::new(Vec::new()));
    let (db, c) = (inserted.clone(), clock.clone());
    source
        .flux()
        .chunks_timeout(3, ms(10))
        .scheduler(clock.clone())
        .subscribe_with(
            move |batch| db.lock().unwrap().push((now_ms(&c), batch)),
            |e| panic!("{e}"),
            || {},
        );
    for i in 0..7 {
        source.emit(i);
    }
    at(&clock, 5);
    source.emit(7);
    at(&clock, 40);
    source.emit(8);
    at(&clock, 50);
    source.complete();
    assert_eq!(
        *inserted.lock().unwrap(),
        [
            (0, vec![0, 1, 2]),
            (0, vec![3, 4, 5]),
            (10, vec![6, 7]),
            (50, vec![8]),
        ]
    );
}

/// Reactor:
/// ```java
/// Flux.fromIterable(words)
///     .groupBy(w -> w.charAt(0))
///     .flatMap(g -> g.count().map(n -> Tuples.of(g.key(), n)))
/// // one (letter, count) per distinct first letter
/// ```
#[test]
fn group_by_flat_map_per_key_aggregation() {
    let words = "apple avocado banana blueberry cherry apricot bean cranberry date"
        .split(' ')
        .collect::<Vec<_>>();
    let counts = backflow::from_iter(words)
        .group_by(|w| w.chars().next().unwrap())
        .flat_map(|g| {
            let letter = *g.key();
            g.count().map(move |n| (letter, n))
        })
        .collect()
        .unwrap()
        .into_iter()
        .collect::<BTreeMap<_, _>>();
    assert_eq!(
        counts,
        BTreeMap::from([('a', 3), ('b', 3), ('c', 2), ('d', 1)])
    );
}
