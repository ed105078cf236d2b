//! The fused runs of the stateful synchronous stages (`skip`, `scan`, `take`, `take_while`, and
//! the `filter_map` / `inspect` they are chained with): each keeps its state in a local for a whole
//! run and writes it back when the run ends. These tests pin that down: under unbounded and
//! bounded demand (request(1), request(7), batches of 256) every chain gives what its `Iterator`
//! twin gives, with state carried across runs and across requests; a panic mid-run ends the stream
//! after exactly the items before it; a cancel mid-run stops the source; `take` ends inside a run.
//! Inputs are several runs long (a range source hands down runs of up to 1024 items).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow::prelude::*;
use backflow::{TestProbe, TestSubscriber};

const WAIT: Duration = Duration::from_secs(10);
/// Longer than three of the source's runs.
const N: u64 = 3_500;

/// How the test subscriber asks for items.
#[derive(Clone, Copy, Debug)]
enum Ask {
    Unbounded,
    /// `request(1)` up front and again from inside every `on_next`.
    One,
    /// `request(7)` up front and again from inside each seventh `on_next`.
    Seven,
    /// `request(256)` up front, topped up by 192 each time 192 arrived (`Request::Batch(256)`).
    Batch256,
}

const ASKS: [Ask; 4] = [Ask::Unbounded, Ask::One, Ask::Seven, Ask::Batch256];

fn subscriber(ask: Ask) -> (TestSubscriber<u64>, TestProbe<u64>) {
    let builder = TestSubscriber::builder();
    match ask {
        Ask::Unbounded => builder.initial_request(u64::MAX),
        Ask::One => builder.initial_request(1).request_after_each(1),
        Ask::Seven => builder.initial_request(7).on_each(|probe, count| {
            if count % 7 == 0 {
                probe.request(7)
            }
        }),
        Ask::Batch256 => builder.initial_request(256).on_each(|probe, count| {
            if count % 192 == 0 {
                probe.request(192)
            }
        }),
    }
    .build()
}

/// Runs `flux` to its end under `ask`; checks the protocol on the way.
fn drive<P>(flux: Flux<P>, ask: Ask) -> TestProbe<u64>
where
    P: Publisher<Item = u64>,
{
    let (subscriber, probe) = subscriber(ask);
    flux.subscribe(subscriber);
    probe.await_terminal(WAIT).unwrap();
    assert!(!probe.demand_exceeded(), "{ask:?}: rule 1.01");
    probe.assert_protocol();
    probe
}

/// Runs `flux` to completion under `ask` and returns its items.
fn items<P>(flux: Flux<P>, ask: Ask) -> Vec<u64>
where
    P: Publisher<Item = u64>,
{
    let probe = drive(flux, ask);
    assert!(probe.is_complete(), "{ask:?}: {:?}", probe.error());
    probe.values()
}

/// The same through the blocking fold sink, as the benches run it.
fn folded<P>(flux: Flux<P>, request: Request) -> Vec<u64>
where
    P: Publisher<Item = u64> + Send + Sync + 'static,
{
    flux.fold_with(request, Vec::new(), |mut all, x| {
        all.push(x);
        all
    })
    .unwrap()
}

fn counter() -> (Arc<AtomicU64>, impl Fn(&u64) + Send + Sync + 'static) {
    let pulled = Arc::new(AtomicU64::new(0));
    let p = pulled.clone();
    (pulled, move |_: &u64| {
        p.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn skip_spanning_several_runs_matches_the_iterator() {
    for ask in ASKS {
        for n in [0, 1, 1_023, 1_024, 1_025, 2_500, N - 1, N, N + 10] {
            let expected: Vec<u64> = (0..N).skip(n as usize).collect();
            assert_eq!(
                items(backflow::range(0..N).skip(n), ask),
                expected,
                "{ask:?} skip({n})"
            );
        }
        // Behind a filter: the count is of the items that reach skip, over runs of any length.
        let expected: Vec<u64> = (0..N).filter(|x| x % 3 == 0).skip(700).collect();
        let ours = backflow::range(0..N).filter(|x| x % 3 == 0).skip(700);
        assert_eq!(items(ours, ask), expected, "{ask:?}");
    }
}

#[test]
fn scan_carries_its_state_across_runs_and_requests() {
    let expected: Vec<u64> = std::iter::once(7)
        .chain((0..N).scan(7u64, |acc, x| {
            *acc = acc.wrapping_mul(31).wrapping_add(x);
            Some(*acc)
        }))
        .collect();
    for ask in ASKS {
        let ours = backflow::range(0..N).scan(7u64, |acc, x| acc.wrapping_mul(31).wrapping_add(x));
        assert_eq!(items(ours, ask), expected, "{ask:?}");
    }
    // A non-Copy accumulator: each item is cloned once, the state carries over.
    let lengths = backflow::range(0..N)
        .scan(String::new(), |mut s, x| {
            s.push(char::from(b'a' + (x % 26) as u8));
            s
        })
        .map(|s| s.len() as u64)
        .collect_with(Request::Batch(7))
        .unwrap();
    assert_eq!(lengths, (0..=N).collect::<Vec<_>>());
}

#[test]
fn take_while_and_take_match_the_iterator_and_end_inside_a_run() {
    for ask in ASKS {
        let expected: Vec<u64> = (0..N).take_while(|x| *x < 2_000).collect();
        let ours = backflow::range(0..N).take_while(|x| *x < 2_000);
        assert_eq!(items(ours, ask), expected, "{ask:?}");
        for n in [0, 1, 7, 1_023, 1_024, 1_500, N, N + 1] {
            let (pulled, count) = counter();
            let expected: Vec<u64> = (0..N).take(n as usize).collect();
            let ours = backflow::range(0..N).inspect(count).take(n);
            assert_eq!(items(ours, ask), expected, "{ask:?} take({n})");
            // take(n) pulls exactly what it passes on: no item past the end.
            assert_eq!(pulled.load(Ordering::SeqCst), n.min(N), "{ask:?} take({n})");
        }
    }
}

#[test]
fn take_reaching_n_inside_a_run_completes_once_and_cancels_upstream() {
    for ask in ASKS {
        let (pulled, count) = counter();
        // An infinite source: only take's cancel ends it.
        let ours = backflow::generate(0u64, |n| {
            *n += 1;
            Some(Ok(*n))
        })
        .inspect(count)
        .take(1_500);
        let probe = drive(ours, ask);
        assert!(probe.is_complete(), "{ask:?}");
        assert_eq!(probe.values(), (1..=1_500).collect::<Vec<_>>(), "{ask:?}");
        assert_eq!(probe.terminal_count(), 1);
        assert_eq!(pulled.load(Ordering::SeqCst), 1_500, "{ask:?}");
        probe.await_dropped(WAIT).unwrap();
    }
    // Items the downstream discards still count: take passes n on, whatever happens below it.
    let odd = backflow::range(0..N)
        .take(1_500)
        .filter(|x| x % 2 == 1)
        .collect_with(Request::Batch(7))
        .unwrap();
    assert_eq!(odd, (0..1_500).filter(|x| x % 2 == 1).collect::<Vec<_>>());
}

/// The benches' chain, every changed stage at once.
fn chain(n: u64) -> Flux<impl Publisher<Item = u64> + Send + Sync + 'static> {
    backflow::range(0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(move |x| *x < 2 * n - 100)
        .inspect(|x| assert!(x % 2 == 0))
        .scan(0u64, |acc, x| acc.wrapping_add(x))
        .skip(1)
        .take(n / 2)
}

fn iterator_chain(n: u64) -> Vec<u64> {
    (0..n)
        .skip(3)
        .filter_map(|x| (x % 3 != 0).then_some(x * 2))
        .take_while(|x| *x < 2 * n - 100)
        .scan(0u64, |acc, x| {
            *acc = acc.wrapping_add(x);
            Some(*acc)
        })
        .take((n / 2) as usize)
        .collect()
}

#[test]
fn the_bench_chain_matches_the_iterator_under_every_demand() {
    for n in [60, 1_000, 5_000, 20_000] {
        let expected = iterator_chain(n);
        for ask in ASKS {
            assert_eq!(items(chain(n), ask), expected, "{ask:?} n={n}");
        }
        for request in [
            Request::Unbounded,
            Request::Batch(1),
            Request::Batch(7),
            Request::Batch(256),
        ] {
            assert_eq!(folded(chain(n), request), expected, "{request:?} n={n}");
        }
    }
}

/// Panics at item `at` of a stage's closure, mid-run, under every demand.
fn assert_panic_mid_run<P>(
    stage: &str,
    at: u64,
    expected: Vec<u64>,
    pulled: &AtomicU64,
    build: impl Fn() -> Flux<P>,
) where
    P: Publisher<Item = u64>,
{
    for ask in ASKS {
        pulled.store(0, Ordering::SeqCst);
        let probe = drive(build(), ask);
        let error = probe.error().unwrap_or_else(|| panic!("{ask:?}: no error"));
        assert_eq!(error.kind(), ErrorKind::Panicked, "{ask:?}");
        assert!(error.to_string().contains(stage), "{ask:?}: {error}");
        // Exactly the items before the panic, none lost, none twice.
        assert_eq!(probe.values(), expected, "{ask:?}");
        assert_eq!(probe.terminal_count(), 1);
        // The run stopped at the item that panicked, and the source with it.
        assert_eq!(pulled.load(Ordering::SeqCst), at + 1, "{ask:?}");
        probe.await_dropped(WAIT).unwrap();
    }
}

#[test]
fn a_panic_in_scan_mid_run_is_an_error_after_exactly_the_items_before_it() {
    let (pulled, count) = counter();
    let count = Arc::new(count);
    let at = 2_500;
    let expected: Vec<u64> = std::iter::once(0)
        .chain((0..at).scan(0u64, |acc, x| {
            *acc += x;
            Some(*acc)
        }))
        .collect();
    assert_panic_mid_run("scan", at, expected, &pulled, || {
        let count = count.clone();
        backflow::range(0..N)
            .inspect(move |x| count(x))
            .scan(0u64, move |acc, x| {
                assert!(x != at, "scan panics at {at}");
                acc + x
            })
    });
}

#[test]
fn a_panic_in_take_while_mid_run_is_an_error_after_exactly_the_items_before_it() {
    let (pulled, count) = counter();
    let count = Arc::new(count);
    let at = 2_100;
    assert_panic_mid_run("take_while", at, (0..at).collect(), &pulled, || {
        let count = count.clone();
        backflow::range(0..N)
            .inspect(move |x| count(x))
            .take_while(move |x| {
                assert!(*x != at, "take_while panics at {at}");
                true
            })
    });
}

#[test]
fn a_panic_below_take_and_skip_mid_run_loses_and_repeats_nothing() {
    // The panic unwinds through take's and skip's runs (their state is written back) to the
    // source, which reports it after exactly the items before it.
    for ask in ASKS {
        let (subscriber, probe) = match ask {
            Ask::Unbounded => TestSubscriber::builder().initial_request(u64::MAX),
            _ => TestSubscriber::builder()
                .initial_request(1)
                .request_after_each(1),
        }
        .panic_on_item(1_700)
        .build();
        backflow::range(0..N)
            .skip(10)
            .take(3_000)
            .subscribe(subscriber);
        let error = probe.await_error(WAIT).unwrap();
        assert_eq!(error.kind(), ErrorKind::Panicked, "{ask:?}");
        assert_eq!(probe.values(), (10..1_710).collect::<Vec<_>>(), "{ask:?}");
        assert_eq!(probe.terminal_count(), 1);
    }
}

#[test]
fn a_cancel_from_a_downstream_on_next_mid_run_stops_the_source() {
    for stage in ["skip", "scan", "take", "take_while"] {
        for ask in [Ask::Unbounded, Ask::Seven, Ask::Batch256] {
            let (pulled, count) = counter();
            let builder = match ask {
                Ask::Unbounded => TestSubscriber::builder().initial_request(u64::MAX),
                Ask::Seven => {
                    TestSubscriber::builder()
                        .initial_request(7)
                        .on_each(|probe, count| {
                            if count % 7 == 0 {
                                probe.request(7)
                            }
                        })
                }
                _ => TestSubscriber::builder()
                    .initial_request(256)
                    .on_each(|probe, count| {
                        if count % 192 == 0 {
                            probe.request(192)
                        }
                    }),
            };
            let (subscriber, probe) = builder.cancel_after(1_500).build();
            let source = backflow::range(0..1_000_000u64).inspect(count);
            match stage {
                "skip" => source.skip(5).subscribe(subscriber),
                "scan" => source.scan(0, |a, x| a + x).subscribe(subscriber),
                "take" => source.take(900_000).subscribe(subscriber),
                _ => source.take_while(|_| true).subscribe(subscriber),
            }
            probe.await_dropped(WAIT).unwrap();
            assert!(
                probe.terminal().is_none(),
                "{stage} {ask:?}: no terminal after a cancel"
            );
            // Items already in the run may still arrive (rule 1.08), no more than a run's worth.
            let seen = probe.next_count();
            assert!(seen >= 1_500, "{stage} {ask:?}");
            assert!(seen <= 1_500 + 1_024, "{stage} {ask:?}: {seen} items");
            let pulled = pulled.load(Ordering::SeqCst);
            assert!(
                pulled <= 1_500 + 2 * 1_024,
                "{stage} {ask:?}: the source went on: {pulled}"
            );
        }
    }
}

#[test]
fn spec_3_09_request_zero_mid_run_through_the_stateful_stages() {
    for chain in 0..3 {
        let (subscriber, probe) = TestSubscriber::builder()
            .initial_request(100)
            .on_each(|probe, count| {
                if count == 20 {
                    probe.request(0)
                }
            })
            .build();
        let source = backflow::range(0..N);
        match chain {
            0 => source.skip(3).take(50).subscribe(subscriber),
            1 => source.scan(0, |a, x| a + x).skip(1).subscribe(subscriber),
            _ => source
                .take_while(|_| true)
                .take(2_000)
                .subscribe(subscriber),
        }
        let error = probe.await_error(WAIT).unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidDemand, "chain {chain}");
        assert!(error.to_string().contains("3.9"), "{error}");
        assert!(probe.next_count() <= 100);
        assert!(!probe.demand_exceeded());
    }
}

/// A hand-written publisher that hands its whole input to `on_next_iter` in one run, ignoring
/// demand, through an iterator whose size hint may lie.
struct OneRun {
    n: u64,
    lie: bool,
}

struct Lying {
    next: u64,
    end: u64,
    lie: bool,
}

impl Iterator for Lying {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.next) as usize;
        if self.lie {
            (0, Some(left.min(2)))
        } else {
            (left, Some(left))
        }
    }
}

impl Publisher for OneRun {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(backflow::NoopSubscription::shared());
        subscriber.on_next_iter(Lying {
            next: 0,
            end: self.n,
            lie: self.lie,
        });
        subscriber.on_complete();
    }
}

#[test]
fn take_passes_at_most_n_from_a_run_longer_than_its_demand() {
    // An honest run longer than take's n: exactly n, then complete.
    let out = Flux::new(OneRun { n: 100, lie: false })
        .take(10)
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    // A run whose size hint promises fewer items than it has: never more than n go down; the
    // broken promise ends the stream with an error.
    let (subscriber, probe) = TestSubscriber::builder().initial_request(u64::MAX).build();
    Flux::new(OneRun { n: 100, lie: true })
        .take(10)
        .scan(0, |a, x| a + x)
        .subscribe(subscriber);
    probe.await_terminal(WAIT).unwrap();
    // The seed, then the sums of exactly the 10 items take may pass.
    let sums: Vec<u64> = std::iter::once(0)
        .chain((0..10).scan(0, |a, x| {
            *a += x;
            Some(*a)
        }))
        .collect();
    assert_eq!(probe.values(), sums);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panicked));
}
