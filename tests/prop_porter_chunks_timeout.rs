//! Properties of `chunks_timeout` over random arrival schedules and random demand, on virtual
//! time: every item is delivered exactly once and in order, no chunk is empty or longer than
//! `size`, no chunk leaves later than `timeout` after its first item once there is demand for it,
//! and the stage never holds or is owed more than `size` items.

mod timed_support;

use backflow::prelude::*;
use backflow::sched::VirtualTime;
use proptest::prelude::*;
use timed_support::*;

fn check(size: usize, d: u64, gaps: &[u64], requests: &[(u64, u64)]) {
    let clock = VirtualTime::new();
    let hot = Hot::<u64>::new();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .chunks_timeout(size, ms(d))
        .scheduler(clock.clone())
        .subscribe(sub);

    // When the producer offers each item; it sends one only while the stage has asked for it.
    let mut offered = Vec::new();
    let mut t = 0;
    for gap in gaps {
        t += gap;
        offered.push(t);
    }
    let end = offered
        .last()
        .copied()
        .unwrap_or(0)
        .max(requests.iter().map(|r| r.0).max().unwrap_or(0))
        + 1;
    let mut arrivals: Vec<u64> = Vec::new();
    let mut requested_at: Vec<(u64, u64)> = Vec::new(); // (time, cumulative chunks requested)
    let mut total_chunks: u64 = 0;
    let delivered =
        |probe: &Probe<Vec<u64>>| probe.values().iter().map(|c| c.len() as u64).sum::<u64>();
    let offer = |now: u64, arrivals: &mut Vec<u64>, all: bool| {
        while arrivals.len() < offered.len()
            && (all || offered[arrivals.len()] <= now)
            && hot.total_requested() > arrivals.len() as u64
        {
            arrivals.push(now);
            hot.emit(arrivals.len() as u64 - 1);
        }
    };
    for now in 0..=end {
        at(&clock, now);
        for &(when, n) in requests {
            if when == now {
                probe.request(n);
                total_chunks = total_chunks.saturating_add(n);
                requested_at.push((now, total_chunks));
            }
        }
        offer(now, &mut arrivals, false);
        assert!(
            hot.total_requested() <= delivered(&probe) + size as u64,
            "held + owed exceeds size at {now}"
        );
    }
    // Flush: unbounded demand, the rest of the items, completion.
    probe.request(u64::MAX);
    requested_at.push((end, u64::MAX));
    offer(end, &mut arrivals, true);
    hot.complete();
    at(&clock, end + d + 1);

    let chunks = probe.nexts_by(|c| c.clone());
    let flat: Vec<u64> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    assert_eq!(
        flat,
        (0..offered.len() as u64).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    assert!(probe
        .events()
        .last()
        .is_some_and(|e| matches!(e, Complete(_))));
    for (k, (emitted, chunk)) in chunks.iter().enumerate() {
        assert!(
            !chunk.is_empty() && chunk.len() <= size,
            "chunk {k}: {chunk:?}"
        );
        let first_arrival = arrivals[chunk[0] as usize];
        let demand_at = requested_at
            .iter()
            .find(|(_, total)| *total > k as u64)
            .map(|(t, _)| *t)
            .expect("emitted with demand");
        assert!(
            *emitted <= (first_arrival + d).max(demand_at),
            "chunk {k} {chunk:?} left at {emitted}: first item at {first_arrival}, demand at {demand_at}, timeout {d}"
        );
        assert!(
            *emitted >= demand_at,
            "chunk {k} left before it was requested"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunks_timeout_delivers_everything_in_time(
        size in 1..6usize,
        d in 1..20u64,
        gaps in prop::collection::vec(0..8u64, 0..40),
        requests in prop::collection::vec((0..120u64, 1..4u64), 0..12),
    ) {
        check(size, d, &gaps, &requests);
    }
}

#[test]
fn a_slow_consumer_with_a_fast_producer() {
    check(3, 5, &[0; 30], &[(0, 1), (10, 1), (50, 2), (51, 1)]);
}
