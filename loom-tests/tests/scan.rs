//! `scan`'s phase hand-off (src/ops/scan.rs): until the seed went down, a drain gate serialises
//! everything that touches the downstream (requests and cancels from any thread, the upstream's
//! terminal, which waits in `held` behind the seed: `PENDING` → `HELD`); the gate owner that
//! emits the seed switches the phase to `RUNNING` (CAS), after which only the upstream's thread
//! touches the downstream. The downstream record is a loom cell: any two signals not ordered by
//! happens-before fail the model.
#![cfg(loom)]

use backflow::prelude::*;
use backflow_loom_tests::manual::{downstream, Manual};

fn scanned(upstream: &Manual) -> Flux<impl Publisher<Item = usize>> {
    Flux::new(upstream.clone()).scan(100usize, |acc, x| acc + x)
}

/// The upstream completes (at once, from its thread) while the main thread's request emits the
/// seed: the completion waits behind the seed, exactly once.
#[test]
fn terminal_races_the_seed() {
    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(0);
        scanned(&upstream).subscribe(down);
        let producer = upstream.spawn(vec![], true);
        probe.handle().request(1);
        producer.join().unwrap();
        let record = probe.record();
        assert_eq!(record.items, vec![100], "the seed, then the completion");
        assert_eq!(record.completed, 1);
        assert!(probe.released(), "downstream released (3.13)");
    });
}

/// The request that emits the seed also forwards the rest of its demand; the upstream's item
/// (sent once that demand arrives, from its own thread) follows the seed in order.
#[test]
fn first_item_follows_the_seed_hand_off() {
    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(0);
        scanned(&upstream).subscribe(down);
        let producer = upstream.spawn(vec![5], true);
        let handle = probe.handle();
        let requester = loom::thread::spawn(move || handle.request(2));
        requester.join().unwrap();
        producer.join().unwrap();
        assert_eq!(
            upstream.upstream.requested(),
            1,
            "2 asked, 1 spent on the seed"
        );
        let record = probe.record();
        assert_eq!(record.items, vec![100, 105]);
        assert_eq!(record.completed, 1);
        assert!(probe.released(), "downstream released (3.13)");
    });
}

/// A cancel races the upstream's terminal while the seed is still pending: no signal at all
/// reaches the downstream, which is released.
#[test]
fn cancel_races_a_held_terminal() {
    loom::model(|| {
        let upstream = Manual::new();
        let (down, probe) = downstream(0);
        scanned(&upstream).subscribe(down);
        let producer = upstream.spawn(vec![], true);
        probe.handle().cancel();
        producer.join().unwrap();
        let record = probe.record();
        assert_eq!(
            record,
            Default::default(),
            "nothing after a cancel before the seed"
        );
        assert!(upstream.upstream.is_cancelled());
        assert!(probe.released(), "downstream released (3.13)");
    });
}
