//! The subscription arbiter (src/ops/arbiter.rs), through `concat`: the downstream's requests race
//! the switch from a finished upstream to the next one and the finished one's `produced` count.
//! Whatever the interleaving, the next upstream is asked for exactly what is still owed (nothing
//! lost, nothing asked twice), and upstream calls are never made inside the arbiter's gate.
#![cfg(loom)]

use backflow::prelude::*;
use backflow_loom_tests::manual::{downstream, Manual};

/// Two requests of 1 from two threads while the first source delivers one item and completes:
/// the second source must be asked for exactly 1 in total.
#[test]
fn requests_race_the_switch() {
    loom::model(|| {
        let sources = [Manual::new(), Manual::new()];
        let (down, probe) = downstream(0);
        backflow::concat(sources.clone()).subscribe(down);
        let handle = probe.handle();
        let requester = loom::thread::spawn(move || handle.request(1));
        let first = sources[0].spawn(vec![0], true);
        probe.handle().request(1);
        requester.join().unwrap();
        first.join().unwrap();
        // The second source was subscribed by the first one's completion.
        let second = sources[1].spawn(vec![1], true);
        second.join().unwrap();
        let first_asked = sources[0].upstream.requested();
        let second_asked = sources[1].upstream.requested();
        assert!((1..=2).contains(&first_asked), "first asked {first_asked}");
        assert_eq!(second_asked, 1, "first asked {first_asked}: owed 2 - 1 = 1");
        let record = probe.record();
        assert_eq!(record.items, vec![0, 1]);
        assert_eq!(record.completed, 1);
        assert!(probe.released());
    });
}

/// Unbounded demand racing the switch stays unbounded: the second source is asked for
/// `u64::MAX` once, and nothing else.
#[test]
fn unbounded_demand_survives_the_switch() {
    loom::model(|| {
        let sources = [Manual::new(), Manual::new()];
        let (down, probe) = downstream(0);
        backflow::concat(sources.clone()).subscribe(down);
        let handle = probe.handle();
        let requester = loom::thread::spawn(move || handle.request(u64::MAX));
        let first = sources[0].spawn(vec![], true);
        requester.join().unwrap();
        first.join().unwrap();
        let second = &sources[1].upstream;
        assert_eq!(
            second
                .unbounded_calls
                .load(loom::sync::atomic::Ordering::SeqCst),
            1
        );
        assert_eq!(
            second
                .request_calls
                .load(loom::sync::atomic::Ordering::SeqCst),
            1
        );
        sources[1].spawn(vec![], true).join().unwrap();
        assert_eq!(probe.record().completed, 1);
        assert!(probe.released());
    });
}
