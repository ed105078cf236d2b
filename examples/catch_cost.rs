//! The chains of the `pipeline` and `sync_ops` benches, run once each, for instruction counts
//! under `valgrind --tool=callgrind` (deterministic on a loaded machine, unlike timings).
//!
//! `cargo build --release --example catch_cost`, then
//! `valgrind --tool=callgrind target/release/examples/catch_cost <case>` with `<case>` one of
//! `pipeline_iterator`, `pipeline_unbounded`, `pipeline_256`, `sync_ops_iterator`,
//! `sync_ops_unbounded`, `sync_ops_256`, `hand_written` (a hand-written upstream calling `on_next`
//! item by item: the path that cannot fuse). The `*_iterator` cases are the benches' `Iterator`
//! chains, the physical limit the others are compared with.

use std::hint::black_box;

use backflow::prelude::*;
use backflow::NoopSubscription;

const N: u64 = 1_000_000;

fn pipeline(n: u64, request: Request) -> u64 {
    backflow::range(0..n)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .fold_with(request, 0u64, |a, x| a + x)
        .unwrap()
}

fn sync_ops(n: u64, request: Request) -> u64 {
    backflow::range(0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(move |x| *x < 2 * n - 100)
        .inspect(|x| {
            black_box(x);
        })
        .scan(0u64, |acc, x| acc.wrapping_add(x))
        .skip(1)
        .take(n)
        .fold_with(request, 0u64, |a, x| a.wrapping_add(x))
        .unwrap()
}

/// The `Iterator` twin of [`pipeline`] (the bench's `iterator_runtime_start`: a start the
/// compiler cannot see, as a range source's).
fn pipeline_iterator(n: u64) -> u64 {
    let start = black_box(0);
    (start..n).map(|x| x * 3).filter(|x| x % 2 == 0).sum()
}

/// The `Iterator` twin of [`sync_ops`] (the bench's `iterator`).
fn sync_ops_iterator(n: u64) -> u64 {
    (0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(|x| *x < 2 * n - 100)
        .inspect(|x| {
            black_box(x);
        })
        .scan(0u64, |acc, x| {
            *acc = acc.wrapping_add(x);
            Some(*acc)
        })
        .take(n as usize)
        .fold(0u64, |a, x| a.wrapping_add(x))
}

/// An upstream that ignores demand accounting's fast paths: `on_next` per item from its own loop.
struct Loop(u64);

impl Publisher for Loop {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(NoopSubscription::shared());
        for x in 0..self.0 {
            subscriber.on_next(black_box(x));
        }
        subscriber.on_complete();
    }
}

fn hand_written(n: u64) -> u64 {
    Flux::new(Loop(n))
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .fold_with(Request::Unbounded, 0u64, |a, x| a + x)
        .unwrap()
}

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let n = black_box(N);
    let sum = match case.as_str() {
        "pipeline_iterator" => pipeline_iterator(n),
        "pipeline_unbounded" => pipeline(n, Request::Unbounded),
        "pipeline_256" => pipeline(n, Request::Batch(256)),
        "sync_ops_iterator" => sync_ops_iterator(n),
        "sync_ops_unbounded" => sync_ops(n, Request::Unbounded),
        "sync_ops_256" => sync_ops(n, Request::Batch(256)),
        "hand_written" => hand_written(n),
        other => panic!("unknown case {other:?}"),
    };
    println!("{case}: {sum}");
}
