//! `chunks_timeout` on virtual time, marble style: chunks by size and by time, the demand it
//! passes upstream (a full chunk without demand stops the upstream), terminal ordering, cancel,
//! overflow from a non-compliant upstream, and a panicking downstream.

mod timed_support;

use backflow::metrics::DropReason;
use backflow::ops::ErrorMode;
use backflow::prelude::*;
use backflow::sched::VirtualTime;
use timed_support::*;

const MAX: u64 = u64::MAX;

type Fixture = (VirtualTime, Hot<char>, Probe<Vec<char>>, Drops<Vec<char>>);

fn setup(size: usize, d: u64, initial: u64) -> Fixture {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, initial);
    hot.flux()
        .chunks_timeout(size, ms(d))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .subscribe(sub);
    (clock, hot, probe, log)
}

#[test]
fn a_full_chunk_goes_at_once() {
    let (clock, hot, probe, _) = setup(3, 100, MAX);
    assert_eq!(hot.requests(), [3], "one chunk's worth up front");
    for (t, c) in [(1, 'a'), (2, 'b'), (3, 'c')] {
        at(&clock, t);
        hot.emit(c);
    }
    assert_eq!(probe.events(), [Next(3, vec!['a', 'b', 'c'])]);
    assert_eq!(hot.requests(), [3, 3], "topped up as the chunk left");
}

#[test]
fn a_partial_chunk_goes_timeout_after_its_first_item() {
    let (clock, hot, probe, _) = setup(3, 10, MAX);
    at(&clock, 5);
    hot.emit('a');
    at(&clock, 8);
    hot.emit('b');
    at(&clock, 30);
    at(&clock, 32);
    hot.emit('c');
    at(&clock, 50);
    assert_eq!(
        probe.events(),
        [Next(15, vec!['a', 'b']), Next(42, vec!['c'])],
        "each chunk's clock starts at its own first item"
    );
    assert_eq!(hot.requests(), [3, 2, 1], "the room each chunk freed");
}

#[test]
fn the_timer_of_a_chunk_that_left_full_does_not_cut_the_next_short() {
    let (clock, hot, probe, _) = setup(2, 10, MAX);
    at(&clock, 0);
    hot.emit('a');
    hot.emit('b'); // full at 0; its timer (due 10) is still pending
    at(&clock, 8);
    hot.emit('c'); // due 18
    at(&clock, 12);
    assert_eq!(probe.events(), [Next(0, vec!['a', 'b'])]);
    at(&clock, 18);
    assert_eq!(
        probe.events(),
        [Next(0, vec!['a', 'b']), Next(18, vec!['c'])]
    );
}

#[test]
fn a_full_chunk_without_demand_is_held_and_stops_the_upstream() {
    let (clock, hot, probe, _) = setup(3, 10, 0);
    for c in ['a', 'b', 'c'] {
        hot.emit(c);
    }
    at(&clock, 100);
    assert!(probe.events().is_empty(), "no demand: held");
    assert_eq!(
        hot.requests(),
        [3],
        "and nothing more is asked of the upstream"
    );
    probe.request(1);
    assert_eq!(probe.events(), [Next(100, vec!['a', 'b', 'c'])]);
    assert_eq!(hot.requests(), [3, 3]);
}

#[test]
fn a_chunk_past_its_time_keeps_filling_until_demand_comes() {
    let (clock, hot, probe, _) = setup(3, 10, 0);
    hot.emit('a');
    at(&clock, 15);
    hot.emit('b');
    at(&clock, 20);
    assert!(probe.events().is_empty());
    probe.request(2);
    assert_eq!(
        probe.events(),
        [Next(20, vec!['a', 'b'])],
        "overdue: goes at the request"
    );
    hot.emit('c');
    at(&clock, 30);
    assert_eq!(
        probe.events(),
        [Next(20, vec!['a', 'b']), Next(30, vec!['c'])]
    );
}

#[test]
fn completion_flushes_the_open_chunk_first() {
    let (clock, hot, probe, _) = setup(3, 10, 0);
    hot.emit('a');
    hot.complete();
    assert!(probe.events().is_empty(), "waits for demand");
    at(&clock, 4);
    probe.request(1);
    assert_eq!(probe.events(), [Next(4, vec!['a']), Complete(4)]);
    assert!(probe.is_released());
}

#[test]
fn empty_completion_without_demand() {
    let (_clock, hot, probe, _) = setup(3, 10, 0);
    hot.complete();
    assert_eq!(probe.events(), [Complete(0)]);
}

#[test]
fn error_after_the_open_chunk_by_default() {
    let (_clock, hot, probe, _) = setup(3, 10, MAX);
    hot.emit('a');
    hot.error(Error::msg("boom"));
    assert_eq!(
        probe.events(),
        [Next(0, vec!['a']), Err(0, ErrorKind::Custom)]
    );
}

#[test]
fn immediate_error_drops_the_open_chunk() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (log, on_drop) = drops();
    let (sub, probe) = probe(&clock, 0);
    hot.flux()
        .chunks_timeout(3, ms(10))
        .scheduler(clock.clone())
        .on_drop(on_drop)
        .error_mode(ErrorMode::Immediate)
        .subscribe(sub);
    hot.emit('a');
    hot.error(Error::msg("boom"));
    assert_eq!(probe.events(), [Err(0, ErrorKind::Custom)]);
    assert_eq!(*log.lock().unwrap(), [(vec!['a'], DropReason::Cancelled)]);
}

#[test]
fn cancel_drops_the_open_chunk_and_cancels_upstream_and_timer() {
    let (clock, hot, probe, log) = setup(3, 10, 0);
    hot.emit('a');
    hot.emit('b');
    assert_eq!(clock.pending(), 1, "the chunk's timer");
    probe.cancel();
    assert!(hot.is_cancelled());
    assert_eq!(
        *log.lock().unwrap(),
        [(vec!['a', 'b'], DropReason::Cancelled)]
    );
    assert_eq!(clock.pending(), 0, "timer cancelled");
    assert!(probe.is_released(), "rule 3.13");
    at(&clock, 100);
    assert!(probe.events().is_empty());
}

#[test]
fn more_than_requested_is_an_overflow() {
    let (_clock, hot, probe, log) = setup(2, 10, 0);
    for c in ['a', 'b', 'c'] {
        hot.emit(c);
    }
    assert!(hot.is_cancelled());
    assert_eq!(*log.lock().unwrap(), [(vec!['c'], DropReason::Overflow)]);
    // What it held still goes first (ErrorMode::AfterDrain), then the overflow error.
    probe.request(1);
    assert_eq!(
        probe.events(),
        [Next(0, vec!['a', 'b']), Err(0, ErrorKind::Overflow)]
    );
}

#[test]
fn a_panicking_downstream_gets_the_panic_and_upstream_is_cancelled() {
    let clock = VirtualTime::new();
    let hot = Hot::new();
    let (sub, probe) = probe(&clock, MAX);
    hot.flux()
        .chunks_timeout(2, ms(10))
        .scheduler(clock.clone())
        .subscribe(sub.panicking(|chunk: &Vec<char>| chunk[0] == 'a'));
    hot.emit('a');
    hot.emit('b');
    assert!(hot.is_cancelled());
    assert_eq!(probe.events(), [Err(0, ErrorKind::Panicked)]);
}

#[test]
fn request_zero_is_rule_3_09() {
    let (_clock, hot, probe, _) = setup(2, 10, 0);
    probe.request(0);
    assert_eq!(probe.events(), [Err(0, ErrorKind::InvalidDemand)]);
    assert!(hot.is_cancelled());
}

#[test]
fn on_range_with_batched_demand() {
    let clock = VirtualTime::new();
    let out = backflow::range(0..10u32)
        .chunks_timeout(4, ms(10))
        .scheduler(clock)
        .collect_with(Request::Batch(1))
        .unwrap();
    assert_eq!(out, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
}

#[test]
#[should_panic(expected = "at least one item")]
fn zero_size_panics() {
    let _ = backflow::range(0..1u8).chunks_timeout(0, ms(1));
}
