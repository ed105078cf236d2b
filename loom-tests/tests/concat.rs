//! The `concat` / `concat_map` active hand-off (src/ops/concat_map.rs; `concat` is concat_map over
//! its sources' indices): one inner at a time owns the downstream; its last signal (or its drop)
//! clears `active` with Release and runs the trampoline, which subscribes the next inner only after
//! an Acquire load saw it clear. Inners signal from their own threads here, so the hand-off is all
//! that orders one inner's signals before the next one's: the downstream's record is a loom cell,
//! and loom fails the model if two signals are not ordered.
#![cfg(loom)]

use backflow::prelude::*;
use backflow_loom_tests::manual::{downstream, Manual};

/// Two sources, one item each, each signalling from its own thread; the downstream's demand comes
/// from the main thread while the first source completes and the second is subscribed.
#[test]
fn concat_hands_the_downstream_from_one_inner_to_the_next() {
    loom::model(|| {
        let sources = [Manual::new(), Manual::new()];
        let (down, probe) = downstream(0);
        backflow::concat(sources.clone()).subscribe(down);
        let first = sources[0].spawn(vec![0], true);
        let second = sources[1].spawn(vec![1], true);
        probe.handle().request(2);
        first.join().unwrap();
        second.join().unwrap();
        let record = probe.record();
        assert_eq!(record.items, vec![0, 1]);
        assert_eq!(record.completed, 1);
        assert!(record.errors.is_empty());
        assert!(probe.released(), "downstream released (3.13)");
    });
}

/// The same hand-off through `concat_map` over an outer `from_iter`, with the downstream's whole
/// demand up front.
#[test]
fn concat_map_hands_the_downstream_from_one_inner_to_the_next() {
    loom::model(|| {
        let inners = [Manual::new(), Manual::new()];
        let (down, probe) = downstream(u64::MAX);
        let mapped = inners.clone();
        backflow::from_iter(vec![0usize, 1])
            .concat_map(move |i| mapped[i].clone())
            .subscribe(down);
        let first = inners[0].spawn(vec![10], true);
        let second = inners[1].spawn(vec![11], true);
        first.join().unwrap();
        second.join().unwrap();
        let record = probe.record();
        assert_eq!(record.items, vec![10, 11]);
        assert_eq!(record.completed, 1);
        assert!(probe.released(), "downstream released (3.13)");
    });
}

/// A cancel from the main thread races the first inner's completion (and so the trampoline that
/// would subscribe the second): the downstream is released, hears no terminal signal, and the
/// second source is cancelled if it was subscribed at all.
#[test]
fn cancel_races_the_hand_off() {
    loom::model(|| {
        let sources = [Manual::new(), Manual::new()];
        let (down, probe) = downstream(1);
        backflow::concat(sources.clone()).subscribe(down);
        let first = sources[0].spawn(vec![0], true);
        probe.handle().cancel();
        first.join().unwrap();
        let record = probe.record();
        assert!(record.items.len() <= 1);
        assert_eq!(record.terminals(), 0, "no terminal signal after a cancel");
        assert!(
            !sources[1].is_subscribed() || sources[1].upstream.is_cancelled(),
            "a second source subscribed after the cancel is cancelled: {record:?}"
        );
        // A cancelled upstream lets go of its subscriber (Manual keeps it until taken).
        if sources[1].is_subscribed() {
            drop(sources[1].take());
        }
        assert!(probe.released(), "downstream released (3.13)");
    });
}
