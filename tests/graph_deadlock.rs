//! Graphs with cycles of waiting: a diamond (one broadcast, two `publish_on` branches, joined by
//! `zip`) with small prefetches at every stage. A design that requests greedily, or that serves the
//! hub only when *one* branch asks, deadlocks here; ours completes.
//!
//! A deadlock would hang, so each graph runs on a helper thread and the test waits with a generous
//! bound; nothing asserts how long the run takes.

use std::sync::mpsc;
use std::time::Duration;

use backflow::ops::Lane;
use backflow::prelude::*;

const BOUND: Duration = Duration::from_secs(120);

fn finishes<T: Send + 'static>(graph: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(graph());
    });
    rx.recv_timeout(BOUND)
        .expect("the graph did not complete: deadlock")
}

#[test]
fn zip_of_two_publish_on_branches_of_one_broadcast() {
    for (hub_prefetch, branch_prefetch) in [(1, 1), (2, 1), (1, 2), (4, 2), (16, 3)] {
        let pairs = finishes(move || {
            let pool = backflow::sched::pool(2);
            let hub = backflow::range(0..20_000u64)
                .broadcast_with(hub_prefetch)
                .auto_connect(2);
            let left = hub
                .lane(Lane::Lossless)
                .publish_on(pool.clone())
                .prefetch(branch_prefetch)
                .map(|x| x * 2);
            let right = hub
                .lane(Lane::Lossless)
                .publish_on(pool)
                .prefetch(branch_prefetch)
                .map(|x| x * 3);
            left.zip(right).collect().unwrap()
        });
        assert_eq!(
            pairs.len(),
            20_000,
            "hub {hub_prefetch}, branch {branch_prefetch}"
        );
        assert!(pairs
            .iter()
            .enumerate()
            .all(|(i, &(a, b))| a == 2 * i as u64 && b == 3 * i as u64));
    }
}

#[test]
fn merge_of_two_publish_on_branches_of_one_share() {
    let total = finishes(|| {
        let hub = backflow::range(0..50_000u64)
            .broadcast_with(2)
            .auto_connect(2);
        let a = hub
            .lane(Lane::Lossless)
            .publish_on(backflow::sched::single())
            .prefetch(1);
        let b = hub
            .lane(Lane::Lossless)
            .publish_on(backflow::sched::single())
            .prefetch(1);
        backflow::merge(vec![a.boxed(), b.boxed()])
            .fold_with(Request::Batch(3), 0u64, |s, x| s + x)
            .unwrap()
    });
    assert_eq!(total, 2 * (0..50_000u64).sum::<u64>());
}

/// When the branches consume at different rates (one keeps 1 item in 2), a lossless diamond with
/// bounded buffers must stall: the fast branch's surplus fills every buffer. A lossy lane on the
/// branch with the surplus keeps it moving: the graph completes and the drops are counted.
///
/// The lane must hold at least what the zip asks the other branch for ahead (its prefetch, 32).
/// The lossless branch may run that far ahead while the lossy branch's worker is busy or not yet
/// started (at subscription the hub's first bursts run on the subscribing thread); a smaller lane
/// evicts items the lossy branch then lacks for pairing, so it falls behind, while the lossless
/// branch, its zip queue full, asks the hub for nothing more: a deadlock the graph is built for,
/// not one of the hub's. With `ZIP_PREFETCH` items held, the lossy branch evicts only while it has
/// about as many items waiting as the zip holds for the other branch, so it never falls behind by
/// more than an item and the zip keeps pairing and asking for more.
#[test]
fn a_skewed_diamond_completes_with_a_lossy_lane() {
    let (pairs, dropped) = finishes(|| {
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let d = drops.clone();
        let hub = backflow::range(0..20_000u64)
            .broadcast_with(4)
            .auto_connect(2);
        let every = hub
            .lane(Lane::DropOldest(backflow::ops::ZIP_PREFETCH))
            .on_drop(move |_, _| {
                d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
        let evens = hub.lane(Lane::Lossless).filter(|x| x % 2 == 0);
        let pairs = every
            .publish_on(backflow::sched::single())
            .prefetch(2)
            .zip(evens)
            .collect()
            .unwrap();
        (pairs, drops.load(std::sync::atomic::Ordering::Relaxed))
    });
    assert!(!pairs.is_empty());
    assert!(
        pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
        "pairs keep order"
    );
    assert!(pairs.iter().all(|(_, even)| even % 2 == 0));
    assert!(pairs.len() as u64 + dropped <= 20_000);
}
