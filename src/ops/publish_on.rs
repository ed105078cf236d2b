//! The publisher, subscribers and drain loop behind [`Flux::publish_on`](crate::Flux::publish_on).
//!
//! The hand-off: the upstream side (`Upstream`) owns the producer end of an spsc ring of
//! `prefetch` slots and writes whole runs into it ([`Subscriber::on_next_iter`] → `write_chunk`);
//! the drain (`Shared::drain_owned`) owns the consumer end and the downstream subscriber, and runs
//! as a [`Runnable`] on one [`Worker`] per subscription. Whoever moves the [`DrainGate`] from 0
//! schedules the drain (one task per batch, never per item); everyone else only records that there
//! is more to do, and the running drain loops until it has seen every such record. So a push that
//! races a drain that is just leaving is either seen by that drain's next pass, or schedules a new
//! drain: no wake-up is lost, and two drains never run at once (`loom-tests/tests/publish_on.rs`).

use std::fmt;

use crossbeam_utils::CachePadded;

use crate::demand::{Demand, DrainGate, Replenish, UNBOUNDED};
use crate::error::{report_undeliverable, ChunkError, Error, PushError};
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, ErrorMode, StageOptions};
use crate::protocol::{
    catch, Publisher, Pull, PullWaker, SharedSubscription, Subscriber, Subscription,
};
use crate::queue::spsc::{self, Consumer, Producer};
use crate::sched::{Runnable, Scheduler, Task, Worker};
use crate::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, StdArc, UnsafeCell};
use crate::wait::Coalesce;

/// The prefetch [`Flux::publish_on`](crate::Flux::publish_on) uses unless told otherwise (Reactor's
/// `Queues.SMALL_BUFFER_SIZE`).
pub const DEFAULT_PREFETCH: usize = 256;

/// Delivers signals on a scheduler. Built by [`Flux::publish_on`](crate::Flux::publish_on).
pub struct PublishOn<P: Publisher, Sc> {
    upstream: P,
    scheduler: Sc,
    /// Ring capacity and initial upstream request, in `1..`.
    prefetch: usize,
    /// Top up when this many requested items are still outstanding; `None` = Reactor's 25%.
    low_tide: Option<usize>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher, Sc> PublishOn<P, Sc> {
    pub(crate) fn new(upstream: P, scheduler: Sc, prefetch: usize) -> Self {
        assert!(prefetch > 0, "publish_on: prefetch must be at least 1");
        PublishOn {
            upstream,
            scheduler,
            prefetch,
            low_tide: None,
            options: StageOptions::default(),
        }
    }

    fn replenish(&self) -> Replenish {
        match self.low_tide {
            Some(low_tide) => Replenish::with_low_tide(self.prefetch as u64, low_tide as u64),
            None => Replenish::new(self.prefetch as u64),
        }
    }
}

impl<P: Publisher + Clone, Sc: Clone> Clone for PublishOn<P, Sc> {
    fn clone(&self) -> Self {
        PublishOn {
            upstream: self.upstream.clone(),
            scheduler: self.scheduler.clone(),
            prefetch: self.prefetch,
            low_tide: self.low_tide,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + fmt::Debug, Sc> fmt::Debug for PublishOn<P, Sc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOn")
            .field("upstream", &self.upstream)
            .field("prefetch", &self.prefetch)
            .field("low_tide", &self.low_tide)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher, Sc> Configurable for PublishOn<P, Sc> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P: Publisher, Sc> PublishOn<P, Sc> {
    /// [`Flux::prefetch`](crate::Flux::prefetch) on a `publish_on` stage.
    pub(crate) fn set_prefetch(&mut self, prefetch: usize) {
        assert!(prefetch > 0, "publish_on: prefetch must be at least 1");
        if let Some(low_tide) = self.low_tide {
            assert!(
                low_tide < prefetch,
                "publish_on: low tide {low_tide} must be below the prefetch {prefetch}"
            );
        }
        self.prefetch = prefetch;
    }

    /// [`Flux::low_tide`](crate::Flux::low_tide) on a `publish_on` stage.
    pub(crate) fn set_low_tide(&mut self, low_tide: usize) {
        assert!(
            low_tide < self.prefetch,
            "publish_on: low tide {low_tide} must be below the prefetch {}",
            self.prefetch
        );
        self.low_tide = Some(low_tide);
    }
}

impl<P, Sc> Publisher for PublishOn<P, Sc>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sc: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let (producer, consumer) = spsc::channel(self.prefetch);
        let shared = StdArc::new(Shared {
            gate: CachePadded::new(DrainGate::new()),
            demand: CachePadded::new(Demand::new()),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            upstream_end: AtomicUsize::new(RUNNING),
            prefetch: self.prefetch as u64,
            worker: self.scheduler.worker(),
            options: self.options.clone(),
            upstream: Mutex::new(None),
            error: Mutex::new(None),
            sample: WaitSample::new(),
            drain: CachePadded::new(UnsafeCell::new(Drain {
                consumer,
                downstream: Some(subscriber),
                upstream: None,
                replenish: self.replenish(),
                taken: 0,
                pull: None,
                coalesce: Coalesce::default(),
            })),
        });
        self.upstream.subscribe(Upstream {
            shared,
            producer,
            subscription: None,
            stopped: false,
            pushed: 0,
            until_sample: 0,
        })
    }
}

/// `Shared::upstream_end`: upstream has not terminated.
const RUNNING: usize = 0;
/// `Shared::upstream_end`: upstream completed.
const COMPLETED: usize = 1;
/// `Shared::upstream_end`: upstream failed (or overflowed); the error is in `Shared::error`.
const FAILED: usize = 2;

/// Every this many runs pushed, the upstream side time-stamps one for the queue-wait metric.
const SAMPLE_EVERY: u32 = 64;

/// What the upstream side, the drain and the downstream's subscription handle share.
struct Shared<T, S> {
    /// The drain loop's gate. Whoever moves it from 0 schedules (or, on cancel, runs) the drain.
    gate: CachePadded<DrainGate>,
    /// Downstream demand: added by `request` (any thread), spent by the drain.
    demand: CachePadded<Demand>,
    /// Set once by `cancel`, by a terminal signal the drain delivered, or by a protocol error;
    /// afterwards nothing reaches the downstream. Swapped AcqRel (one winner); read Relaxed by the
    /// upstream side to stop pushing (a stale read only pushes an item the drain then discards).
    cancelled: AtomicBool,
    /// `request(0)` was called (rule 3.9). Release by `request`, Acquire by the drain.
    invalid: AtomicBool,
    /// `RUNNING`, `COMPLETED` or `FAILED`. Stored Release by the upstream side after its last push
    /// (and after storing the error); loaded Acquire by the drain before it looks at the ring, so a
    /// drain that sees the end also sees every item pushed before it.
    upstream_end: AtomicUsize,
    /// The initial upstream request, for metrics.
    prefetch: u64,
    worker: Worker,
    options: StageOptions<T>,
    /// The upstream subscription, for `cancel` from any thread; taken by whoever cancels or ends.
    upstream: Mutex<Option<SharedSubscription>>,
    /// The upstream error, set before `upstream_end` becomes `FAILED`.
    error: Mutex<Option<Error>>,
    sample: WaitSample,
    /// Touched only by the owner of `gate`.
    drain: CachePadded<UnsafeCell<Drain<T, S>>>,
}

// Soundness: `drain` (the only non-Sync field) is accessed solely by the thread that owns `gate`
// (`enter` returned true, until `leave` returns 0); the gate's AcqRel RMWs order those accesses.
// Its contents (the consumer end, the downstream subscriber) are Send, so moving their use from one
// owner thread to the next is sound. Every other field is Sync.
// SAFETY: every access follows the protocol just described.
unsafe impl<T: Send, S: Send> Sync for Shared<T, S> {}
// SAFETY: every field is Send when T and S are.
unsafe impl<T: Send, S: Send> Send for Shared<T, S> {}

/// The drain's state: the consumer end of the ring and the downstream subscriber.
struct Drain<T, S> {
    consumer: Consumer<T>,
    /// `Some` until a terminal signal or a cancel; then dropped (rule 3.13).
    downstream: Option<S>,
    /// The upstream subscription, for top-ups; set by `on_subscribe`, dropped at the end.
    upstream: Option<SharedSubscription>,
    replenish: Replenish,
    /// Items taken out of the ring so far (matches `Upstream::pushed`, for wait samples).
    taken: u64,
    /// The upstream accepted pull fusion ([`Subscription::fuse_pull`]): an empty ring is refilled
    /// by running the upstream's drain here, and upstream producers only wake this stage.
    /// Dropped with the downstream (the upstream holds our waker: no cycle outlives the stream).
    pull: Option<StdArc<dyn Pull>>,
    /// Batches the pulls ([`Coalesce`]).
    coalesce: Coalesce,
}

/// The waker a fused upstream calls after each push: schedules the drain unless it runs. The
/// SeqCst load of the gate is ordered by the push's SeqCst claim; a drain that is leaving looks at
/// the upstream once more after a SeqCst fence (`Shared::drain_owned`), so one of them sees the
/// other.
struct Wake<T, S>(StdArc<Shared<T, S>>);

impl<T, S> PullWaker for Wake<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    #[inline]
    fn wake(&self) {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        if self.0.gate.is_idle() {
            self.0.schedule();
        }
    }
}

/// One item in flight, time-stamped for the queue-wait metric: the upstream side stamps the first
/// item of a run when no sample is in flight, the drain records the wait once it took that item.
struct WaitSample {
    /// The stamped item's index in push order. Written Relaxed before `stamped_at`'s Release store.
    index: AtomicU64,
    /// When the item was pushed, in nanoseconds on the worker's clock, plus one; 0 = no sample in
    /// flight. Stored Release by the upstream side (only when 0), loaded Acquire and reset with a
    /// Release store of 0 by the drain (only when not 0): one writer at a time.
    stamped_at: AtomicU64,
}

impl WaitSample {
    fn new() -> Self {
        WaitSample {
            index: AtomicU64::new(0),
            stamped_at: AtomicU64::new(0),
        }
    }
}

impl<T, S> Shared<T, S> {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.worker.now().since_epoch().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Cancels upstream, once, from whichever thread gets here first.
    fn cancel_upstream(&self) {
        let upstream = self.upstream.lock().take();
        if let Some(upstream) = upstream {
            upstream.cancel();
        }
    }

    /// Records the upstream's end; the drain delivers it.
    fn end_upstream(&self, end: Result<(), Error>) {
        match end {
            Ok(()) => self.upstream_end.store(COMPLETED, Ordering::Release),
            Err(error) => {
                *self.error.lock() = Some(error);
                self.upstream_end.store(FAILED, Ordering::Release);
            }
        }
    }

    fn take_error(&self) -> Error {
        self.error
            .lock()
            .take()
            .unwrap_or_else(|| Error::msg("publish_on: the upstream failed"))
    }

    /// Discards every item held in the ring, as cancelled.
    fn discard_held(&self, consumer: &mut Consumer<T>) {
        while let Some(item) = consumer.pop() {
            self.options.discard(item, DropReason::Cancelled);
        }
        if let Some(metrics) = self.options.metrics() {
            metrics.set_buffered(0);
        }
    }
}

impl<T, S> Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    /// Signals that there is work; schedules the drain if nobody runs it.
    #[inline]
    fn schedule(self: &StdArc<Self>) {
        if self.gate.enter() {
            self.worker
                .schedule_task(Task::from_runnable(StdArc::clone(self)));
        }
    }

    /// Runs drain passes until the gate is released. The caller owns the gate.
    ///
    /// With a fused upstream, producers that find the gate busy leave their items upstream: after
    /// leaving, look once more (behind a SeqCst fence) and drain again if a pull would deliver.
    fn drain_owned(self: &StdArc<Self>) {
        let mut pull: Option<StdArc<dyn Pull>> = None;
        self.gate.run_owned(|| {
            self.drain.with_mut(|drain| {
                // SAFETY: the caller owns the gate, so no other thread touches `drain`.
                let drain = unsafe { &mut *drain };
                self.pass(drain);
                if pull.is_none() {
                    pull.clone_from(&drain.pull);
                }
            });
        });
        let Some(pull) = pull else {
            return;
        };
        fence(Ordering::SeqCst);
        if !self.cancelled.load(Ordering::Relaxed) && self.demand.get() > 0 && pull.has_work() {
            self.schedule();
        }
    }

    fn pass(&self, drain: &mut Drain<T, S>) {
        if drain.downstream.is_none() {
            // Over: items still pushed in flight (rule 1.08) are discarded as they come.
            return self.discard_held(&mut drain.consumer);
        }
        if self.cancelled.load(Ordering::Acquire) {
            drain.downstream = None;
            drain.upstream = None;
            drain.pull = None;
            return self.discard_held(&mut drain.consumer);
        }
        if self.invalid.load(Ordering::Acquire) {
            return self.finish(drain, Err(Error::invalid_demand()), true);
        }
        let Drain {
            consumer,
            downstream: Some(downstream),
            upstream,
            replenish,
            taken,
            pull,
            coalesce,
        } = drain
        else {
            return;
        };
        let pull = pull.as_deref();
        let outcome = catch("publish_on's downstream", || loop {
            let outcome = self.emit(consumer, downstream, replenish, upstream.as_ref(), taken);
            if matches!(outcome, Pass::Idle) {
                // Fused: refill the empty ring by running the upstream's drain here.
                if let Some(pull) = pull {
                    if consumer.is_empty() && self.demand.get() > 0 && pull.has_work() {
                        coalesce.before_pull(|| pull.looks_ready(Coalesce::DEPTH));
                        pull.pull();
                        if !consumer.is_empty() {
                            continue;
                        }
                    }
                }
                // Free cores: the producer is usually a few hundred nanoseconds from its next
                // run. Wait for it here (bounded) rather than leave and be rescheduled per few
                // items.
                if self.linger(consumer, pull) {
                    continue;
                }
            }
            break outcome;
        });
        match outcome {
            Ok(Pass::Idle) => {}
            Ok(Pass::Done(end)) => self.finish(drain, end, false),
            // Rule 2.13: a panicking subscriber counts as cancelled, and hears why.
            Err(panic) => self.finish(drain, Err(panic), true),
        }
    }

    /// After a pass that emptied the ring: spins a short bounded time ([`crate::wait`]) for the
    /// next items, and says whether something came. Only while it delays nobody: on a scheduler
    /// thread with no other task waiting ([`sched::may_linger`](crate::sched::may_linger)), with
    /// demand left, the upstream still running and nobody cancelled. Everything else that can
    /// happen meanwhile (a request, a cancel) enters the gate and gets its own pass after this.
    #[inline]
    fn linger(&self, consumer: &Consumer<T>, pull: Option<&dyn Pull>) -> bool {
        let worth_it = crate::sched::may_linger()
            && self.demand.get() > 0
            && self.upstream_end.load(Ordering::Relaxed) == RUNNING
            && !self.cancelled.load(Ordering::Relaxed);
        // The cheap guess: this only spins, and the look that decides is `drain_owned`'s.
        let upstream_holds = || pull.is_some_and(|pull| pull.looks_ready(1));
        worth_it
            && crate::wait::spin_until(|| {
                let waiting = !consumer.is_empty()
                    || upstream_holds()
                    || self.upstream_end.load(Ordering::Relaxed) != RUNNING
                    || self.cancelled.load(Ordering::Relaxed)
                    || !crate::sched::may_linger();
                waiting.then_some(())
            })
            .is_some()
            && (!consumer.is_empty() || upstream_holds())
    }

    /// Ends the subscription with `end`: releases upstream (cancelling it if asked), signals the
    /// downstream unless it cancelled meanwhile, drops it, and discards what is still held.
    fn finish(&self, drain: &mut Drain<T, S>, end: Result<(), Error>, cancel_upstream: bool) {
        let Some(mut downstream) = drain.downstream.take() else {
            return;
        };
        drain.upstream = None;
        drain.pull = None;
        let cancelled_meanwhile = self.cancelled.swap(true, Ordering::AcqRel);
        if cancel_upstream {
            self.cancel_upstream();
        } else {
            drop(self.upstream.lock().take());
        }
        if cancelled_meanwhile {
            // No terminal signal follows a cancel (rules 1.06, 3.07); an error is still reported.
            if let Err(error) = end {
                report_undeliverable(&error);
            }
        } else {
            crate::protocol::deliver_terminal(&mut downstream, end);
        }
        drop(downstream);
        self.discard_held(&mut drain.consumer);
    }

    /// Delivers held items while there is demand, in runs handed down with `on_next_iter`; tops up
    /// upstream as the ring empties. Ends the stream when upstream ended and nothing is held (or at
    /// once for an error in [`ErrorMode::Immediate`]).
    #[inline]
    fn emit(
        &self,
        consumer: &mut Consumer<T>,
        downstream: &mut S,
        replenish: &mut Replenish,
        upstream: Option<&SharedSubscription>,
        taken_total: &mut u64,
    ) -> Pass {
        let metrics = self.options.metrics();
        let immediate = self.options.error_mode == ErrorMode::Immediate;
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        loop {
            // Read the end before the ring: items pushed before it are then visible.
            let end = self.upstream_end.load(Ordering::Acquire);
            if end == FAILED && immediate {
                return Pass::Done(Err(self.take_error()));
            }
            let held = consumer.len();
            if held == 0 {
                match end {
                    RUNNING => break,
                    COMPLETED => return Pass::Done(Ok(())),
                    _ => return Pass::Done(Err(self.take_error())),
                }
            }
            let want = if requested == UNBOUNDED {
                held
            } else {
                (requested - emitted).min(held as u64) as usize
            };
            if want == 0 || self.cancelled.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut run) = consumer.read_chunk(want) else {
                break;
            };
            // Every item uses at most one credit, so a run no longer than the credits left can
            // never overshoot the demand.
            let used = downstream.on_next_iter(&mut run);
            let taken = want - run.len();
            // Clamp to what was actually pulled: a subscriber that over-reports cannot spend
            // credits it did not use (the subtraction below never underflows).
            let used = used.min(taken as u64);
            // Hand the slots back before asking for more, so the items asked for always fit.
            drop(run);
            emitted += used;
            *taken_total += taken as u64;
            if let Some(metrics) = metrics {
                metrics.record_emitted(used);
                metrics.set_buffered((held - taken) as u64);
                self.record_wait(metrics, *taken_total);
            }
            let top_up = replenish.consumed(taken as u64);
            if top_up > 0 {
                if let Some(upstream) = upstream {
                    if let Some(metrics) = metrics {
                        metrics.record_requested(top_up);
                    }
                    upstream.request(top_up);
                }
            }
            if requested != UNBOUNDED && emitted == requested {
                requested = self.demand.produced(emitted);
                emitted = 0;
            }
            if taken == 0 {
                // The downstream took nothing (it cancelled, or misbehaves): do not spin on it.
                break;
            }
        }
        if emitted > 0 && requested != UNBOUNDED {
            self.demand.produced(emitted);
        }
        Pass::Idle
    }

    /// Records the sampled queue wait once the drain has taken the stamped item.
    #[inline]
    fn record_wait(&self, metrics: &crate::metrics::StageMetrics, taken_total: u64) {
        let stamped_at = self.sample.stamped_at.load(Ordering::Acquire);
        if stamped_at != 0 && taken_total > self.sample.index.load(Ordering::Relaxed) {
            let waited = self.now_ns().saturating_sub(stamped_at - 1);
            metrics.record_wait(std::time::Duration::from_nanos(waited));
            self.sample.stamped_at.store(0, Ordering::Release);
        }
    }
}

/// What one drain pass ended with.
enum Pass {
    /// No demand, nothing held, or cancelled: wait for the next signal.
    Idle,
    /// The stream is over, with this end.
    Done(Result<(), Error>),
}

impl<T, S> Runnable for Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn run(self: StdArc<Self>) {
        // Scheduled by whoever moved the gate from 0: this task owns it.
        self.drain_owned();
    }
}

/// The handle the downstream gets: `request` schedules the drain, `cancel` stops everything.
struct PublishOnSubscription<T, S> {
    shared: StdArc<Shared<T, S>>,
}

impl<T, S> Subscription for PublishOnSubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn request(&self, n: u64) {
        let shared = &self.shared;
        if shared.cancelled.load(Ordering::Relaxed) {
            return;
        }
        if n == 0 {
            shared.invalid.store(true, Ordering::Release);
        } else {
            shared.demand.add(n);
        }
        shared.schedule();
    }

    fn cancel(&self) {
        let shared = &self.shared;
        if shared.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        shared.cancel_upstream();
        // Nothing is delivered after a cancel, so the clean-up may run right here when no drain
        // is running (Reactor does the same); a running drain sees the flag and does it.
        if shared.gate.enter() {
            shared.drain_owned();
        }
    }
}

/// The subscriber publish_on gives its upstream: pushes items into the ring and signals the drain.
struct Upstream<T, S> {
    shared: StdArc<Shared<T, S>>,
    /// The producer end of the ring; only this subscriber pushes (upstream signals are serial).
    producer: Producer<T>,
    /// The upstream subscription once `on_subscribe` delivered it.
    subscription: Option<SharedSubscription>,
    /// Upstream terminated, or overflowed and was cancelled: later items are refused.
    stopped: bool,
    /// Items pushed so far (matches `Drain::taken`, for wait samples).
    pushed: u64,
    /// Runs until the next wait sample, when metrics are on.
    until_sample: u32,
}

impl<T, S> Upstream<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    /// The ring was full: the upstream sent more than was requested (missing backpressure).
    #[cold]
    fn overflow(&mut self, item: T) {
        self.stopped = true;
        self.shared.options.discard(item, DropReason::Overflow);
        if let Some(subscription) = &self.subscription {
            subscription.cancel();
        }
        self.shared.end_upstream(Err(Error::overflow("publish_on")));
    }

    /// A refused item: after an overflow, or after the downstream went away.
    #[cold]
    fn refuse(&self, item: T) {
        let reason = if self.stopped {
            DropReason::Overflow
        } else {
            DropReason::Cancelled
        };
        self.shared.options.discard(item, reason);
    }

    /// Counts a pushed run and, every [`SAMPLE_EVERY`] runs, stamps its first item.
    #[inline]
    fn account(&mut self, first: u64, count: usize) {
        let Some(metrics) = self.shared.options.metrics() else {
            return;
        };
        metrics.record_received(count as u64);
        if self.until_sample > 0 {
            self.until_sample -= 1;
            return;
        }
        let sample = &self.shared.sample;
        if sample.stamped_at.load(Ordering::Acquire) == 0 {
            self.until_sample = SAMPLE_EVERY;
            sample.index.store(first, Ordering::Relaxed);
            let now = self.shared.now_ns();
            sample
                .stamped_at
                .store(now.saturating_add(1), Ordering::Release);
        }
    }

    /// Reserves up to `n` slots and fills them from `items`: `Ok((written, reserved))`, or
    /// `Err(free)` when fewer than `n` slots are free.
    #[inline]
    fn push_run<I: Iterator<Item = T>>(
        &mut self,
        items: &mut I,
        n: usize,
    ) -> Result<(usize, usize), usize> {
        match self.producer.write_chunk(n) {
            Ok(mut chunk) => {
                let reserved = chunk.len();
                let written = chunk.fill_from_iter(items);
                chunk.commit();
                Ok((written, reserved))
            }
            Err(ChunkError::TooFewSlots(free)) => Err(free),
        }
    }
}

impl<T, S> Subscriber<T> for Upstream<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscription.is_some() {
            // Rule 2.05: already subscribed.
            return subscription.cancel();
        }
        self.subscription = Some(subscription.clone());
        let shared = &self.shared;
        *shared.upstream.lock() = Some(subscription.clone());
        // Own the gate while the downstream's on_subscribe runs (here, on the subscribing thread,
        // as Reactor does): its requests are only recorded, and the first items go out on the
        // worker after it returned (rule 1.03).
        let owned = shared.gate.enter();
        debug_assert!(owned, "a fresh subscription's gate is free");
        let handle: SharedSubscription = StdArc::new(PublishOnSubscription {
            shared: shared.clone(),
        });
        let started = shared.drain.with_mut(|drain| {
            // SAFETY: we own the gate (entered above, not yet left).
            let drain = unsafe { &mut *drain };
            drain.upstream = Some(subscription.clone());
            drain.pull = subscription.fuse_pull(StdArc::new(Wake(shared.clone())));
            let Some(downstream) = drain.downstream.as_mut() else {
                return false;
            };
            match catch("on_subscribe", || downstream.on_subscribe(handle)) {
                Ok(()) => true,
                Err(panic) => {
                    shared.finish(drain, Err(panic), true);
                    false
                }
            }
        });
        if started && !shared.cancelled.load(Ordering::Acquire) {
            if let Some(metrics) = shared.options.metrics() {
                metrics.record_requested(shared.prefetch);
            }
            subscription.request(shared.prefetch);
        }
        if shared.gate.leave(1) != 0 {
            // Requests, items or a cancel came in meanwhile: the worker takes over the gate.
            shared
                .worker
                .schedule_task(Task::from_runnable(shared.clone()));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.stopped || self.shared.cancelled.load(Ordering::Relaxed) {
            return self.refuse(item);
        }
        match self.producer.push(item) {
            Ok(()) => {
                self.account(self.pushed, 1);
                self.pushed += 1;
                self.shared.schedule();
            }
            Err(PushError::Full(item)) => {
                self.overflow(item);
                self.shared.schedule();
            }
        }
    }

    /// The fused path: the whole run goes into the ring in one or two chunk writes, published with
    /// one store each, and the drain is signalled once.
    fn on_next_iter<I>(&mut self, mut items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if self.stopped || self.shared.cancelled.load(Ordering::Relaxed) {
            // Stop consuming: the rest of the run is not ours to take (upstream is cancelled).
            return 0;
        }
        let first = self.pushed;
        let mut pushed = 0usize;
        let mut overflowed = false;
        loop {
            let wanted = match items.size_hint() {
                (_, Some(0)) => break,
                (_, Some(upper)) => upper,
                (_, None) => usize::MAX,
            };
            let (written, reserved) = match self.push_run(&mut items, wanted) {
                Ok(done) => done,
                Err(0) => match items.next() {
                    None => break,
                    Some(item) => {
                        overflowed = true;
                        self.overflow(item);
                        break;
                    }
                },
                Err(free) => match self.push_run(&mut items, free) {
                    Ok(done) => done,
                    // Free slots stay free until this producer fills them.
                    Err(_) => break,
                },
            };
            pushed += written;
            if written < reserved {
                break;
            }
        }
        self.pushed += pushed as u64;
        if pushed > 0 {
            self.account(first, pushed);
        }
        if pushed > 0 || overflowed {
            self.shared.schedule();
        }
        pushed as u64 + overflowed as u64
    }

    fn on_error(&mut self, error: Error) {
        if self.stopped {
            return report_undeliverable(&error);
        }
        self.stopped = true;
        self.shared.end_upstream(Err(error));
        self.shared.schedule();
    }

    fn on_complete(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.shared.end_upstream(Ok(()));
        self.shared.schedule();
    }
}
