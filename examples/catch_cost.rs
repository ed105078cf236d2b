//! The chains of the `pipeline` and `sync_ops` benches, run once each, for instruction counts
//! under `valgrind --tool=callgrind` (deterministic on a loaded machine, unlike timings).
//!
//! `cargo build --release --example catch_cost`, then
//! `valgrind --tool=callgrind --toggle-collect='catch_cost::main' target/release/examples/catch_cost
//! <case>` with `<case>` one of
//! `pipeline_iterator`, `pipeline_unbounded`, `pipeline_256`, `sync_ops_iterator`,
//! `sync_ops_unbounded`, `sync_ops_256`, `hand_written` (a hand-written upstream calling `on_next`
//! item by item: the path that cannot fuse). The `*_iterator` cases are the benches' `Iterator`
//! chains (`pipeline_iterator` is the bench's `iterator_runtime_start`), the physical limit the
//! others are compared with. The chains are the benches' own (`benches/support/chains.rs`).

use std::hint::black_box;

use backflow::prelude::*;
use backflow::NoopSubscription;

const N: u64 = 1_000_000;

#[path = "../benches/support/chains.rs"]
mod chains;

use chains::{pipeline, pipeline_iterator_runtime_start, sync_ops, sync_ops_iterator};

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
        "pipeline_iterator" => pipeline_iterator_runtime_start(n),
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
