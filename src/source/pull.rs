//! The demand-driven drain loop shared by every cold, synchronous source.
//!
//! A source describes how to produce its next item ([`Pull`]); [`subscribe_pull`] does the
//! Reactive Streams part: `on_subscribe` first, an empty or failing source terminates without a
//! request, items flow only against demand, re-entrant `request` from `on_next` is trampolined
//! (depth 1), `cancel` stops and drops the subscriber, panics become `on_error`.

use crate::demand::{Demand, DrainGate, UNBOUNDED};
use crate::error::Error;
use crate::protocol::{
    catch, complete_now, deliver_error, reject, SharedSubscription, Subscriber, Subscription,
};
use crate::sync::{AtomicBool, Ordering, StdArc, UnsafeCell};

/// How a source produces items.
pub(crate) trait Pull: Send + 'static {
    /// The item type.
    type Item;

    /// Whether the drain may pull one item ahead to learn that the source is exhausted, so a stream
    /// of exactly `n` items completes after `request(n)` and an empty one without any request.
    /// Iterators say yes (Reactor's `hasNext`); `generate` says no (its step is user code).
    const LOOKAHEAD: bool;

    /// A run of at most `max` items, borrowed from the source.
    type Chunk<'a>: Iterator<Item = Self::Item>
    where
        Self: 'a;

    /// `Ok(Some(item))`, `Ok(None)` at the end, or the error that ends the stream.
    fn pull(&mut self) -> Result<Option<Self::Item>, Error>;

    /// The next run of at most `max` items (fewer at the end). Sources make this a plain iterator
    /// (a sub-range, `by_ref().take(max)`) so a fused chain compiles to one loop.
    fn chunk(&mut self, max: usize) -> Self::Chunk<'_>;

    /// An end (completion or error) met inside the last chunk, for sources without lookahead.
    fn take_end(&mut self) -> Option<Result<(), Error>> {
        None
    }

    /// Whether the source is known to be exhausted (`Some(true)`) or known to have more
    /// (`Some(false)`), without pulling; `None` when only a lookahead pull can tell.
    fn exhausted(&self) -> Option<bool> {
        None
    }
}

/// Items delivered per check of the `cancelled` flag. Cancellation stays prompt (a chunk is a few
/// microseconds of work) while the loop in between stays free of atomic loads.
const CHUNK: u64 = 1024;

/// What one drain pass ended with.
enum Pass {
    /// Demand is spent (or the subscriber cancelled): wait for the next signal.
    Idle,
    /// The source is exhausted or failed.
    Done(Result<(), Error>),
}

struct Active<P: Pull, S> {
    pull: P,
    /// An item pulled ahead (lookahead) and not delivered yet.
    ahead: Option<P::Item>,
    subscriber: S,
}

struct PullSubscription<P: Pull, S> {
    demand: Demand,
    gate: DrainGate,
    /// Set by `cancel` (Release), read by the drain owner (Acquire on the slow path, Relaxed per item).
    cancelled: AtomicBool,
    /// Set by `request(0)` (Release, before `cancelled`), read by the drain owner (Acquire), which
    /// answers it with `on_error` (rule 3.9).
    invalid: AtomicBool,
    /// `Some` while subscribed; taken (dropping the subscriber, rule 3.13) on terminal or cancel.
    /// Only the owner of `gate` touches it.
    active: UnsafeCell<Option<Active<P, S>>>,
}

// SAFETY: `active` (the only non-Sync field) is accessed solely by the thread that owns `gate`
// (`DrainGate::enter` returned true, until `leave` returns 0); the gate's AcqRel RMWs order those
// accesses. P and S are Send, so moving their use between owner threads is sound.
unsafe impl<P: Pull, S: Send> Sync for PullSubscription<P, S> {}
// SAFETY: every field is Send when P and S are (P::Item is owned by P's Send contract via `ahead`).
unsafe impl<P: Pull, S: Send> Send for PullSubscription<P, S> where P::Item: Send {}

/// Subscribes `subscriber` to a fresh run of `pull`.
pub(crate) fn subscribe_pull<P, S>(mut pull: P, mut subscriber: S)
where
    P: Pull,
    P::Item: Send,
    S: Subscriber<P::Item> + 'static,
{
    let mut ahead = None;
    if pull.exhausted() == Some(true) {
        return complete_now(&mut subscriber);
    }
    if P::LOOKAHEAD && pull.exhausted().is_none() {
        match catch("a source", || pull.pull()) {
            Ok(Ok(Some(item))) => ahead = Some(item),
            Ok(Ok(None)) => return complete_now(&mut subscriber),
            Ok(Err(e)) | Err(e) => return reject(&mut subscriber, e),
        }
    }
    let subscription = StdArc::new(PullSubscription {
        demand: Demand::new(),
        gate: DrainGate::new(),
        cancelled: AtomicBool::new(false),
        invalid: AtomicBool::new(false),
        active: UnsafeCell::new(Some(Active {
            pull,
            ahead,
            subscriber,
        })),
    });
    // Own the gate while calling on_subscribe, so requests made inside it are only recorded and the
    // first items flow after on_subscribe returns (rule 1.03).
    let owned = subscription.gate.enter();
    debug_assert!(owned);
    let handle: SharedSubscription = subscription.clone();
    let started = subscription.active.with_mut(|slot| {
        // SAFETY: we own the gate (entered above, not yet left).
        let slot = unsafe { &mut *slot };
        let active = slot.as_mut().expect("fresh subscription");
        match catch("on_subscribe", || active.subscriber.on_subscribe(handle)) {
            Ok(()) => true,
            Err(panic) => {
                subscription.cancelled.store(true, Ordering::Release);
                let mut active = slot.take().expect("fresh subscription");
                deliver_error(&mut active.subscriber, panic);
                false
            }
        }
    });
    let _ = started;
    subscription.drain_owned();
}

impl<P: Pull, S: Subscriber<P::Item>> PullSubscription<P, S> {
    fn drain(&self) {
        if self.gate.enter() {
            self.drain_owned();
        }
    }

    /// Runs drain passes until the gate is released. Caller owns the gate.
    fn drain_owned(&self) {
        self.gate.run_owned(|| {
            self.active.with_mut(|slot| {
                // SAFETY: the caller owns the gate, so no other thread touches `active`.
                self.pass(unsafe { &mut *slot })
            });
        });
    }

    fn pass(&self, slot: &mut Option<Active<P, S>>) {
        // Work on a local for the pass: state behind the shared cell would be written back to
        // memory on every item (the compiler cannot prove no other thread reads it), while a local
        // stays in registers. Dropping it on cancel releases the subscriber (rule 3.13).
        let Some(mut active) = slot.take() else {
            return;
        };
        // Before `cancelled`: `request(0)` raises both, and must end in on_error, not a silent stop.
        if self.invalid.load(Ordering::Acquire) {
            deliver_error(&mut active.subscriber, Error::invalid_demand());
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            return;
        }
        let outcome = catch("a stream stage", || {
            emit(&mut active, &self.demand, &self.cancelled)
        });
        let end = match outcome {
            Ok(Pass::Idle) => {
                *slot = Some(active);
                return;
            }
            Ok(Pass::Done(end)) => end,
            Err(panic) => Err(panic),
        };
        if self.cancelled.swap(true, Ordering::AcqRel) {
            // The subscriber cancelled inside the last run: no terminal signal follows a cancel
            // (rules 1.06, 3.07). An error it would have seen goes to the hook, not away.
            if let Err(e) = end {
                crate::error::report_undeliverable(&e);
            }
            // Unless it was a `request(0)` (rule 3.9): that ends in on_error, not in silence.
            if self.invalid.load(Ordering::Acquire) {
                deliver_error(&mut active.subscriber, Error::invalid_demand());
            }
            return;
        }
        crate::protocol::deliver_terminal(&mut active.subscriber, end);
    }
}

/// Credits a pass may use before settling them into the shared counter while demand lasts: the
/// counter reads high by the unsettled credits, so this bounds how far (far below anything that
/// saturates it by accident).
const SETTLE: u64 = 1 << 16;

/// Delivers items while there is demand. Runs of up to [`CHUNK`] items go down the chain in one
/// [`Subscriber::on_next_iter`] call, so a fused chain runs as one loop; under unbounded demand a
/// run goes down as [`Subscriber::on_next_unbounded`]: no count at all.
///
/// Credits are counted locally (`emitted`) and settled into `demand` (one RMW) when the pass
/// runs out of them, or every [`SETTLE`]. Only the drain owner takes credits, so the credits
/// left are always `demand.get() - emitted`: one load per run sees every request made meanwhile
/// (a sink tops up from inside its run), and runs stay as long as the demand allows without a
/// compare-and-swap per run. The `cancelled` flag is read once per run.
#[inline]
fn emit<P: Pull, S: Subscriber<P::Item>>(
    active: &mut Active<P, S>,
    demand: &Demand,
    cancelled: &AtomicBool,
) -> Pass {
    let mut emitted = 0u64;
    loop {
        let requested = demand.get();
        let unbounded = requested == UNBOUNDED;
        if !unbounded {
            debug_assert!(emitted <= requested, "{emitted} used of {requested}");
            if requested == emitted {
                // Spent. A request that races the settle is served by the next pass: its
                // `drain` bumped the gate, so the owner runs again.
                if emitted != 0 {
                    demand.produced(emitted);
                }
                return Pass::Idle;
            }
        }
        if cancelled.load(Ordering::Relaxed) {
            return Pass::Idle;
        }
        if let Some(item) = active.ahead.take() {
            emitted += active.subscriber.try_on_next(item) as u64;
        } else {
            if unbounded {
                // Nobody counts credits under unbounded demand: the run goes down uncounted, so
                // the fused loop carries no count of the items that pass.
                run_uncounted(&mut active.subscriber, active.pull.chunk(CHUNK as usize));
            } else {
                // Every item uses at most one credit, so a run no longer than the credits left
                // can never overshoot the demand.
                let want = (requested - emitted).min(CHUNK);
                // A run holds at most `want` items, so a subscriber cannot honestly report more
                // credits than that. Clamp: one that over-reports must not push `emitted` past
                // the credits (an underflow above, and in release a drain that keeps emitting
                // past the demand, rule 1.01). Short of `want` only at the source's end, after
                // which nothing more is emitted.
                let used = run_counted(&mut active.subscriber, active.pull.chunk(want as usize));
                emitted += used.min(want);
            }
            if let Some(end) = active.pull.take_end() {
                return Pass::Done(end);
            }
            // Learn now whether the stream is over, so a stream whose last item used the last
            // credit completes without another request.
            if let Some(end) = learn_end(active, cancelled) {
                return Pass::Done(end);
            }
        }
        if unbounded {
            // Sticky: nothing to settle, ever.
            emitted = 0;
        } else if emitted >= SETTLE {
            demand.produced(emitted);
            emitted = 0;
        }
    }
}

/// One counted run down the chain, as a call of its own: the whole fused loop of the chain is
/// compiled as one function, with the run's state (the stages' counters and accumulators, moved
/// into locals for the run) in registers, not spilled around the drain loop's state.
#[inline(never)]
fn run_counted<T, S: Subscriber<T>, I: Iterator<Item = T>>(subscriber: &mut S, items: I) -> u64 {
    subscriber.on_next_iter(items)
}

/// [`run_counted`] for an uncounted run (unbounded demand).
#[inline(never)]
fn run_uncounted<T, S: Subscriber<T>, I: Iterator<Item = T>>(subscriber: &mut S, items: I) {
    subscriber.on_next_unbounded(items)
}

/// After a run: the end of the stream if the source is exhausted (or failed), pulling one item
/// ahead where only that can tell.
#[inline(always)]
fn learn_end<P: Pull, S>(
    active: &mut Active<P, S>,
    cancelled: &AtomicBool,
) -> Option<Result<(), Error>> {
    match active.pull.exhausted() {
        Some(true) => Some(Ok(())),
        Some(false) => None,
        None if P::LOOKAHEAD && !cancelled.load(Ordering::Relaxed) => match active.pull.pull() {
            Ok(Some(item)) => {
                active.ahead = Some(item);
                None
            }
            Ok(None) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        },
        None => None,
    }
}

impl<P: Pull, S: Subscriber<P::Item>> Subscription for PullSubscription<P, S>
where
    P::Item: Send,
    S: Send,
{
    fn request(&self, n: u64) {
        if n == 0 {
            // Rule 3.9, unless already cancelled (3.6: then a no-op). The emit loop watches only
            // `cancelled`, so raise it too: a running drain stops at the end of its current run
            // instead of serving all of its demand (forever, if demand is unbounded and the source
            // infinite).
            if !self.cancelled.load(Ordering::Acquire) {
                self.invalid.store(true, Ordering::Release);
                self.cancelled.store(true, Ordering::Release);
            }
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.drain();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::error::Error;
    use crate::protocol::{Publisher, SharedSubscription, Subscriber};

    /// What the over-reporting subscriber saw, shared with the test.
    #[derive(Default)]
    struct Seen {
        items: u64,
        terminal: Option<Result<(), String>>,
        subscription: Option<SharedSubscription>,
    }

    /// A hand-written subscriber that claims far more credits than the items it was handed.
    struct OverReporting(Arc<Mutex<Seen>>);

    impl Subscriber<u64> for OverReporting {
        fn on_subscribe(&mut self, subscription: SharedSubscription) {
            self.0.lock().unwrap().subscription = Some(subscription.clone());
            subscription.request(10);
        }
        fn on_next(&mut self, _item: u64) {
            self.0.lock().unwrap().items += 1;
        }
        fn on_next_iter<I: Iterator<Item = u64>>(&mut self, items: I) -> u64 {
            let n = items.count() as u64;
            self.0.lock().unwrap().items += n;
            n + 1_000
        }
        fn on_error(&mut self, error: Error) {
            self.0.lock().unwrap().terminal = Some(Err(error.to_string()));
        }
        fn on_complete(&mut self) {
            self.0.lock().unwrap().terminal = Some(Ok(()));
        }
    }

    #[test]
    fn over_reported_credits_never_push_emission_past_demand() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        crate::range(0..1_000_000u64)
            .into_inner()
            .subscribe(OverReporting(seen.clone()));
        {
            let seen = seen.lock().unwrap();
            assert_eq!(
                seen.terminal, None,
                "no terminal signal: demand, not the source, ran out"
            );
            assert!(
                seen.items <= 10,
                "rule 1.01: {} items after request(10)",
                seen.items
            );
            assert!(seen.items > 0, "the first run was delivered");
        }
        let subscription = seen.lock().unwrap().subscription.clone().unwrap();
        subscription.request(5);
        let seen = seen.lock().unwrap();
        assert!(
            seen.items <= 15,
            "rule 1.01: {} items after 15 requested",
            seen.items
        );
        assert_eq!(seen.terminal, None);
    }

    /// Requests 256, tops up 192 each time 192 were consumed (a sink's `Request::Batch(256)`), and
    /// counts the runs it is handed.
    struct BatchSink {
        seen: Arc<Mutex<Seen>>,
        runs: Arc<Mutex<u64>>,
        since_top_up: u64,
    }

    impl Subscriber<u64> for BatchSink {
        fn on_subscribe(&mut self, subscription: SharedSubscription) {
            self.seen.lock().unwrap().subscription = Some(subscription.clone());
            subscription.request(256);
        }
        fn on_next(&mut self, item: u64) {
            self.on_next_iter(std::iter::once(item));
        }
        fn on_next_iter<I: Iterator<Item = u64>>(&mut self, items: I) -> u64 {
            let n = items.count() as u64;
            *self.runs.lock().unwrap() += 1;
            self.seen.lock().unwrap().items += n;
            self.since_top_up += n;
            if self.since_top_up >= 192 {
                self.since_top_up -= 192;
                let subscription = self.seen.lock().unwrap().subscription.clone().unwrap();
                subscription.request(192);
            }
            n
        }
        fn on_error(&mut self, error: Error) {
            self.seen.lock().unwrap().terminal = Some(Err(error.to_string()));
        }
        fn on_complete(&mut self) {
            self.seen.lock().unwrap().terminal = Some(Ok(()));
        }
    }

    /// Requests once, `first`, on subscribe; counts items and the terminal signal.
    struct Once(Arc<Mutex<Seen>>, u64);

    impl Subscriber<u64> for Once {
        fn on_subscribe(&mut self, subscription: SharedSubscription) {
            self.0.lock().unwrap().subscription = Some(subscription.clone());
            subscription.request(self.1);
        }
        fn on_next(&mut self, _item: u64) {
            self.0.lock().unwrap().items += 1;
        }
        fn on_error(&mut self, error: Error) {
            self.0.lock().unwrap().terminal = Some(Err(error.to_string()));
        }
        fn on_complete(&mut self) {
            self.0.lock().unwrap().terminal = Some(Ok(()));
        }
    }

    #[test]
    fn demand_beyond_a_settle_is_served_exactly() {
        // More credits than one pass settles at once (SETTLE), through a filter that spends
        // half a run's: exactly the demand arrives, then the rest after a top-up.
        let first = 3 * super::SETTLE + 11;
        let seen = Arc::new(Mutex::new(Seen::default()));
        // The last item passes, so the source is exhausted with the last credit.
        crate::range(0..2 * (first + 5) - 1)
            .filter(|x| x % 2 == 0)
            .into_inner()
            .subscribe(Once(seen.clone(), first));
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.items, first);
            assert_eq!(seen.terminal, None);
        }
        let subscription = seen.lock().unwrap().subscription.clone().unwrap();
        subscription.request(5);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.items, first + 5);
        assert_eq!(seen.terminal, Some(Ok(())));
    }

    #[test]
    fn unbounded_runs_go_down_uncounted_and_whole() {
        use crate::sink::Request;
        // Several runs of CHUNK, a partial last one, through every stage that forwards the
        // uncounted run, into the uncounted fold.
        let n = 10 * super::CHUNK + 7;
        let ours = crate::range(0..n)
            .map(|x| x * 3)
            .inspect(|_| {})
            .filter(|x| x % 2 == 0)
            .filter_map(|x| (x % 3 == 0).then_some(x + 1))
            .fold_with(Request::Unbounded, 0u64, |a, x| a + x)
            .unwrap();
        let theirs: u64 = (0..n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .filter_map(|x| (x % 3 == 0).then_some(x + 1))
            .sum();
        assert_eq!(ours, theirs);
        // And through a type-erased box (`DynSubscriber`), and a `Box<S>`.
        let count = crate::range(0..n)
            .boxed()
            .map(|x| x + 1)
            .fold_with(Request::Unbounded, 0u64, |c, _| c + 1)
            .unwrap();
        assert_eq!(count, n);
        let latch = crate::sink::block::Latch::new();
        crate::range(0..n)
            .filter(|x| x % 2 == 1)
            .into_inner()
            .subscribe(Box::new(crate::sink::Fold::new(
                0u64,
                |a, x| a + x,
                Request::Unbounded.replenish(),
                latch.clone(),
            )));
        let sum: u64 = (0..n).filter(|x| x % 2 == 1).sum();
        assert_eq!(latch.wait().unwrap(), sum);
    }

    #[test]
    fn a_panic_in_an_uncounted_run_is_an_error_at_its_stage_and_stops_the_source() {
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        let pulled = Arc::new(AtomicU64::new(0));
        let p = pulled.clone();
        let error = crate::range(0..1_000_000u64)
            .inspect(move |_| {
                p.fetch_add(1, SeqCst);
            })
            .map(|x| if x == 5_000 { panic!("boom") } else { x })
            .fold_with(crate::sink::Request::Unbounded, 0u64, |a, x| a + x)
            .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Panicked);
        assert!(error.to_string().contains("map"), "{error}");
        // The run unwound at the item that panicked, and the source stopped before its next run.
        assert_eq!(pulled.load(SeqCst), 5_001);
    }

    #[test]
    fn a_filtering_chain_keeps_long_runs_under_batched_demand() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let runs = Arc::new(Mutex::new(0));
        crate::range(0..100_000u64)
            .filter(|x| x % 2 == 0)
            .into_inner()
            .subscribe(BatchSink {
                seen: seen.clone(),
                runs: runs.clone(),
                since_top_up: 0,
            });
        let seen = seen.lock().unwrap();
        assert_eq!(seen.items, 50_000);
        assert_eq!(seen.terminal, Some(Ok(())));
        // Half of each run passes the filter, so waiting for the credits snapshot to be spent in
        // full halves the runs down to single items before each top-up is seen (~10 runs per
        // 192 items, ~2600 here); settling at half keeps them long (~2 per top-up).
        let runs = *runs.lock().unwrap();
        assert!(runs <= 50_000 / 64, "{runs} runs for 50000 items");
    }
}
