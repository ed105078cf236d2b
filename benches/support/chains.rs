//! The chains of the `pipeline` and `sync_ops` benches, in one place: the benches time them, and
//! `examples/catch_cost.rs` (which includes this file) counts their instructions under callgrind.
//! Each backflow chain has its `Iterator` twin, the physical limit it is compared with.

// Each bench includes the whole file and runs only its own chains.
#![allow(dead_code)]

use std::hint::black_box;

use backflow::prelude::*;

/// `range(0..n).map(x * 3).filter(even)`, summed.
pub fn pipeline(n: u64, request: Request) -> u64 {
    backflow::range(0..n)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .fold_with(request, 0u64, |a, x| a + x)
        .unwrap()
}

/// The `Iterator` twin of [`pipeline`] with a start the compiler cannot see (a range source keeps
/// its bounds in the subscription, so ours can never fold the constant 0 into the loop).
pub fn pipeline_iterator_runtime_start(n: u64) -> u64 {
    let start = black_box(0);
    (start..n).map(|x| x * 3).filter(|x| x % 2 == 0).sum()
}

/// The six-stage chain: `skip`, `filter_map`, `take_while`, `inspect`, `scan`, `take`.
pub fn sync_ops(n: u64, request: Request) -> u64 {
    backflow::range(0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(move |x| *x < 2 * n - 100)
        .inspect(|x| {
            black_box(x);
        })
        .scan(0u64, |acc, x| acc.wrapping_add(x))
        .skip(1) // the seed: Iterator::scan does not emit it
        .take(n)
        .fold_with(request, 0u64, |a, x| a.wrapping_add(x))
        .unwrap()
}

/// The `Iterator` twin of [`sync_ops`].
pub fn sync_ops_iterator(n: u64) -> u64 {
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
