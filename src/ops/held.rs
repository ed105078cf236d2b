//! The machinery shared by the stages that hold items for a slower downstream:
//! [`Flux::buffer`](crate::Flux::buffer), [`Flux::buffer_with`](crate::Flux::buffer_with),
//! [`Flux::drop_oldest`](crate::Flux::drop_oldest), [`Flux::latest`](crate::Flux::latest) and
//! [`Flux::drop_newest`](crate::Flux::drop_newest).
//!
//! Two sides meet at a ring. The upstream side ([`HeldSubscriber`]) runs on the upstream's thread
//! (its signals are serialised by rule 1.03): it moves each arriving item into the ring, or applies
//! the [`Overflow`] policy when the ring is full, then signals the drain if the downstream has
//! demand (see the hand-off on [`Stage`]). The downstream side is a drain loop behind a
//! [`GateCell`]: whoever enters the gate (the upstream's `on_next`, the downstream's `request` or
//! `cancel`, from any thread) moves items from the ring to the downstream as its demand allows,
//! until nobody has signalled meanwhile. So the stage works the same whether producer and consumer
//! share a thread or not, and the ring is the only memory it holds.
//!
//! - [`Overflow::Backpressure`]: an spsc ring of `capacity`; the stage requests `capacity` up front
//!   and tops up as the drain empties the ring (75%, [`Replenish`]), so a compliant upstream can
//!   never overfill it. It counts what it requested: one item beyond that is an overflow error.
//! - [`Overflow::DropNewest`] / [`Overflow::Error`]: the same ring, unbounded upstream demand; a push
//!   into the full ring rejects the incoming item (and, for `Error`, ends the stream).
//! - [`Overflow::DropOldest`]: the overwrite ring, whose push evicts the oldest held item and hands it
//!   back (to `on_drop`), racing the drain's pops without a lock.

use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::demand::{Demand, GateCell, Replenish, UNBOUNDED};
use crate::error::{report_undeliverable, Error};
use crate::metrics::{DropReason, StageMetrics};
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::queue::{overwrite, spsc};
use crate::stage::{start, ErrorMode, Overflow, StageOptions};
use crate::sync::{fence, AtomicBool, AtomicU64, Mutex, Ordering, StdArc};

/// Most items handed downstream in one `on_next_iter` run: the drain re-checks `cancelled` (and
/// tops up upstream demand) between runs.
const RUN: u64 = 1024;

/// One arrival in this many is time-stamped to measure queue wait (when metrics are on).
const WAIT_SAMPLE_EVERY: u64 = 64;

/// Implements `Clone`, `Debug`, `Configurable` and `Publisher` for a public stage type that is a
/// newtype over [`Holding`] (`buffer`, `drop_oldest`, `drop_newest`): they differ only in the
/// overflow policy they build the holding stage with.
macro_rules! holding_stage {
    ($stage:ident) => {
        impl<P: Publisher + Clone> Clone for $stage<P> {
            fn clone(&self) -> Self {
                $stage {
                    inner: self.inner.clone(),
                }
            }
        }

        impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for $stage<P> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }

        impl<P: Publisher> $crate::ops::stage::Configurable for $stage<P> {
            type Dropped = P::Item;
            fn options_mut(&mut self) -> &mut $crate::ops::stage::StageOptions<P::Item> {
                &mut self.inner.options
            }
        }

        impl<P> Publisher for $stage<P>
        where
            P: Publisher,
            P::Item: Send + 'static,
        {
            type Item = P::Item;

            fn subscribe<S>(&self, subscriber: S)
            where
                S: $crate::protocol::Subscriber<P::Item> + 'static,
            {
                self.inner.subscribe(subscriber)
            }
        }
    };
}
pub(crate) use holding_stage;

/// The configuration of a holding stage; the publisher types of the operators wrap it.
pub(crate) struct Holding<P: Publisher> {
    upstream: P,
    capacity: usize,
    overflow: Overflow,
    /// The operator's name, for the overflow error's message.
    name: &'static str,
    pub(crate) options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Holding<P> {
    fn clone(&self) -> Self {
        Holding {
            upstream: self.upstream.clone(),
            capacity: self.capacity,
            overflow: self.overflow,
            name: self.name,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Holding<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name)
            .field("upstream", &self.upstream)
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("options", &self.options)
            .finish()
    }
}

impl<P: Publisher> Holding<P> {
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub(crate) fn new(
        upstream: P,
        capacity: usize,
        overflow: Overflow,
        name: &'static str,
    ) -> Self {
        assert!(
            capacity > 0,
            "{name}({capacity}): the capacity must be at least 1"
        );
        Holding {
            upstream,
            capacity,
            overflow,
            name,
            options: StageOptions::default(),
        }
    }

    pub(crate) fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
        P::Item: Send + 'static,
    {
        self.upstream.subscribe(HeldSubscriber {
            setup: Some(Setup {
                downstream: subscriber,
                capacity: self.capacity,
                overflow: self.overflow,
            }),
            name: self.name,
            options: self.options.clone(),
            live: None,
        })
    }
}

/// What the upstream side needs to build the stage once the upstream's subscription arrives.
struct Setup<S> {
    downstream: S,
    capacity: usize,
    overflow: Overflow,
}

/// The upstream-facing subscriber of a holding stage.
pub(crate) struct HeldSubscriber<S, T> {
    /// `Some` until `on_subscribe`.
    setup: Option<Setup<S>>,
    name: &'static str,
    options: StageOptions<T>,
    /// `Some` from `on_subscribe` until the upstream side ends (upstream terminal, or the stage
    /// failed it with an overflow error); afterwards arriving items are dropped as `Cancelled`.
    live: Option<Live<S, T>>,
}

struct Live<S, T> {
    stage: StdArc<Stage<S, T>>,
    inlet: Inlet<T>,
}

/// The producing end of the ring, owned by the upstream side.
struct Inlet<T> {
    ring: InRing<T>,
    overflow: Overflow,
    /// Items accepted so far (bounded policy: checked against `allowed`).
    accepted: u64,
    /// A stale copy of `Stage::allowed`; reloaded only when `accepted` reaches it.
    allowed: u64,
    /// Items that entered the ring so far: the arrival number of the next one.
    pushed: u64,
    /// The next arrival number to time-stamp (when metrics are on).
    next_sample: u64,
}

enum InRing<T> {
    Fifo(spsc::Producer<T>),
    Overwrite(overwrite::Producer<T>),
}

/// The consuming end of the ring, owned by the drain loop.
enum Outlet<T> {
    Fifo(spsc::Consumer<T>),
    Overwrite(overwrite::Consumer<T>),
}

/// What happened to one offered item.
enum Offer<T> {
    /// It entered the ring (possibly evicting the oldest).
    Held,
    /// It was dropped (drop-newest).
    Dropped,
    /// It broke the bound (`Overflow::Error`, or a publisher ignoring backpressure): the stage
    /// must fail. The item comes back so the failure path can drop it.
    Failed(T),
}

/// The state shared by both sides and the downstream's subscription handle.
///
/// The gate, the demand and the rarely written flags sit on separate cache lines: the consumer
/// writes the first two on every request while the producer only reads the last two per item.
///
/// # The push / request hand-off
///
/// After a push the upstream side enters the drain only when there is downstream demand (or the
/// stage was cancelled), so an overloaded stage costs the producer no read-modify-write on the gate
/// per item. No item can be stranded with demand waiting: the producer stores the item, then a
/// `SeqCst` fence, then loads `demand` / `cancelled`; `request` and `cancel` store those, then a
/// `SeqCst` fence, then drain (which loads the ring). By the fences' total order, either the drain
/// sees the item or the producer sees the demand and drains itself.
struct Stage<S, T> {
    /// Downstream demand: added by `request` (any thread, then a `SeqCst` fence), spent by the drain
    /// owner, read by the upstream side after its own fence (see above).
    demand: CachePadded<Demand>,
    flags: CachePadded<Flags>,
    /// The upstream side's end: `Ok` = complete, `Err` = error (its own or an overflow). Written
    /// once before `done`; afterwards read by the gate's owner. Locked a few times per stream,
    /// never on the item path.
    terminal: Mutex<Option<Result<(), Error>>>,
    upstream: SharedSubscription,
    options: StageOptions<T>,
    /// The queue-wait sampler, when metrics are on.
    probe: Option<WaitProbe>,
    /// The drain owner's state, behind the stage's drain gate.
    drain: CachePadded<GateCell<Drain<S, T>>>,
}

/// The rarely written state of a [`Stage`].
struct Flags {
    /// Set once (swap, AcqRel, then a `SeqCst` fence) by the downstream's `cancel`, a panic,
    /// `request(0)`, or the terminal signal; read by the drain owner with Acquire before it touches
    /// the downstream, and by the upstream side (Relaxed, after its fence) to stop pushing and to
    /// let the drain flush what it pushed.
    cancelled: AtomicBool,
    /// The downstream called `request(0)` (Release / Acquire, like `cancelled`).
    invalid: AtomicBool,
    /// Set (Release) by the upstream side right after it wrote `terminal`, and after its last push;
    /// the drain owner reads `terminal` and trusts "ring empty means all delivered" only after
    /// seeing it with Acquire.
    done: AtomicBool,
    /// Total demand requested upstream (bounded policy; `UNBOUNDED` otherwise). Raised by the drain
    /// owner with AcqRel *before* it calls `upstream.request`; the upstream side's Acquire reload
    /// pairs with it through the upstream's own demand hand-off, so an item delivered against a
    /// top-up always finds the top-up counted.
    allowed: AtomicU64,
}

/// The drain owner's state.
struct Drain<S, T> {
    /// `Some` until the stage terminates or is cancelled (then dropped, rule 3.13).
    downstream: Option<S>,
    outlet: Outlet<T>,
    /// Top-ups of upstream demand (bounded policy only).
    replenish: Option<Replenish>,
    /// Items moved out of the ring towards the downstream so far.
    delivered: u64,
}

/// Samples queue wait: the upstream side time-stamps one arrival in [`WAIT_SAMPLE_EVERY`] (when no
/// sample is pending), the drain records the wait once it has moved that arrival out.
struct WaitProbe {
    base: Instant,
    /// The arrival number of the pending sample, or [`WaitProbe::EMPTY`]. Published by the upstream
    /// side with Release after `stamp_ns`; claimed back to `EMPTY` by compare-and-swap (AcqRel) by
    /// the drain when it records the wait, or by the upstream side when it evicts that very item.
    /// The upstream side loads it with Acquire before reusing `stamp_ns`, pairing with the claim.
    pending: AtomicU64,
    /// Nanoseconds since `base` at which the pending arrival came in.
    stamp_ns: AtomicU64,
    /// Items evicted so far (drop-oldest). Single writer (the upstream side), Release; the drain
    /// adds it (Acquire) to what it delivered to know how far the front of the ring has moved.
    evicted: AtomicU64,
}

impl WaitProbe {
    const EMPTY: u64 = u64::MAX;

    fn new() -> Self {
        WaitProbe {
            base: Instant::now(),
            pending: AtomicU64::new(Self::EMPTY),
            stamp_ns: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Whether no sample is pending, so a new one may be taken.
    fn is_free(&self) -> bool {
        self.pending.load(Ordering::Acquire) == Self::EMPTY
    }

    /// Publishes arrival `seq`, which came in at `stamp_ns`. Upstream side only, after `is_free`.
    fn publish(&self, seq: u64, stamp_ns: u64) {
        self.stamp_ns.store(stamp_ns, Ordering::Relaxed);
        self.pending.store(seq, Ordering::Release);
    }

    /// The upstream side evicted arrival `seq`: it never reaches the downstream, so no wait.
    fn evict(&self, seq: u64) {
        let _ =
            self.pending
                .compare_exchange(seq, Self::EMPTY, Ordering::AcqRel, Ordering::Relaxed);
        let evicted = self.evicted.load(Ordering::Relaxed);
        self.evicted.store(evicted + 1, Ordering::Release);
    }

    /// Drain side: `delivered` items have left the ring towards the downstream.
    fn check(&self, delivered: u64, metrics: &StageMetrics) {
        let seq = self.pending.load(Ordering::Acquire);
        if seq == Self::EMPTY || delivered + self.evicted.load(Ordering::Acquire) <= seq {
            return;
        }
        let stamp = self.stamp_ns.load(Ordering::Relaxed);
        if self
            .pending
            .compare_exchange(seq, Self::EMPTY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let wait = self.now_ns().saturating_sub(stamp);
            metrics.record_wait(std::time::Duration::from_nanos(wait));
        }
    }
}

impl<T> Outlet<T> {
    fn len(&self) -> usize {
        match self {
            Outlet::Fifo(ring) => ring.len(),
            Outlet::Overwrite(ring) => ring.len(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Outlet::Fifo(ring) => ring.is_empty(),
            Outlet::Overwrite(ring) => ring.is_empty(),
        }
    }

    fn pop(&mut self) -> Option<T> {
        match self {
            Outlet::Fifo(ring) => ring.pop(),
            Outlet::Overwrite(ring) => ring.pop(),
        }
    }

    /// Hands at most `max` held items to `downstream` in one run; counts the items moved out in
    /// `taken` (even if the downstream panics) and returns the credits they used.
    #[inline]
    fn deliver<S: Subscriber<T>>(&mut self, downstream: &mut S, max: u64, taken: &mut u64) -> u64 {
        match self {
            Outlet::Fifo(ring) => {
                let n = (ring.len() as u64).min(max) as usize;
                if n == 0 {
                    return 0;
                }
                let chunk = ring.read_chunk(n).expect("the consumer saw `n` items held");
                downstream.on_next_iter(Tally {
                    inner: chunk,
                    taken,
                })
            }
            Outlet::Overwrite(ring) => downstream.on_next_iter(Tally {
                inner: std::iter::from_fn(|| ring.pop()).take(max as usize),
                taken,
            }),
        }
    }
}

/// Counts the items a run hands out, in a place that survives a panic in the downstream.
struct Tally<'a, I> {
    inner: I,
    taken: &'a mut u64,
}

impl<I: Iterator> Iterator for Tally<'_, I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        *self.taken += 1;
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S: Subscriber<T>, T> Stage<S, T> {
    fn drain(&self) {
        self.drain.drain(|d| self.pass(d));
    }

    fn pass(&self, d: &mut Drain<S, T>) {
        if d.downstream.is_none() {
            // Items pushed in a race with the cancel or terminal that ended the stage.
            return self.flush(d);
        }
        if self.flags.cancelled.load(Ordering::Acquire) {
            d.downstream = None;
            return self.flush(d);
        }
        if self.flags.invalid.load(Ordering::Acquire) {
            self.flags.cancelled.store(true, Ordering::Release);
            self.upstream.cancel();
            return self.fail_downstream(d, Error::invalid_demand());
        }
        let done = self.flags.done.load(Ordering::Acquire);
        if done && self.options.error_mode == ErrorMode::Immediate && self.failed() {
            if let Some(Err(error)) = self.take_terminal() {
                self.flags.cancelled.store(true, Ordering::Release);
                return self.fail_downstream(d, error);
            }
        }
        let mut run = 0;
        if let Err(panic) = catch("a downstream stage", || self.emit(d, &mut run)) {
            // Rule 2.13: the panicking subscriber counts as cancelled, and hears of its panic.
            self.count_delivered(d, run);
            if !self.flags.cancelled.swap(true, Ordering::AcqRel) {
                self.upstream.cancel();
            }
            return self.fail_downstream(d, panic);
        }
        if done && d.outlet.is_empty() {
            return self.finish(d);
        }
        if let Some(m) = self.options.metrics() {
            m.set_buffered(d.outlet.len() as u64);
        }
    }

    /// Delivers the upstream side's end once every held item is out. The caller saw `done`.
    fn finish(&self, d: &mut Drain<S, T>) {
        let end = self.take_terminal().unwrap_or(Ok(()));
        let downstream = d.downstream.take();
        if let Some(m) = self.options.metrics() {
            m.set_buffered(0);
        }
        let Some(mut downstream) = downstream else {
            return;
        };
        if self.flags.cancelled.swap(true, Ordering::AcqRel) {
            // The downstream cancelled inside the last run: no terminal follows a cancel.
            if let Err(error) = end {
                report_undeliverable(&error);
            }
            return;
        }
        crate::protocol::deliver_terminal(&mut downstream, end);
    }

    /// Delivers held items while there is demand, in runs of up to [`RUN`].
    #[inline]
    fn emit(&self, d: &mut Drain<S, T>, run: &mut u64) {
        let Some(downstream) = d.downstream.as_mut() else {
            return;
        };
        let mut requested = self.demand.get();
        let mut used = 0u64;
        while requested != 0 && !self.flags.cancelled.load(Ordering::Relaxed) {
            let unbounded = requested == UNBOUNDED;
            let max = if unbounded {
                RUN
            } else {
                (requested - used).min(RUN)
            };
            let credits = d.outlet.deliver(downstream, max, run);
            let taken = std::mem::take(run);
            // A subscriber's count is only a claim: a run cannot use more credits than it
            // had items (an over-report would underflow the demand accounting).
            used += credits.min(taken);
            if taken == 0 {
                break;
            }
            d.delivered += taken;
            if let Some(m) = self.options.metrics() {
                m.record_emitted(taken);
                if let Some(probe) = &self.probe {
                    probe.check(d.delivered, m);
                }
            }
            if let Some(replenish) = &mut d.replenish {
                let top_up = replenish.consumed(taken);
                if top_up > 0 {
                    self.request_upstream(top_up);
                }
            }
            if unbounded {
                used = 0;
            } else if used == requested {
                requested = self.demand.produced(used);
                used = 0;
            }
        }
        if used > 0 && requested != UNBOUNDED {
            self.demand.produced(used);
        }
    }

    /// Counts the items a panicking run had already handed to the downstream.
    fn count_delivered(&self, d: &mut Drain<S, T>, taken: u64) {
        d.delivered += taken;
        if let Some(m) = self.options.metrics() {
            m.record_emitted(taken);
        }
    }

    fn request_upstream(&self, n: u64) {
        if self.flags.done.load(Ordering::Relaxed) || self.flags.cancelled.load(Ordering::Relaxed) {
            return;
        }
        self.flags.allowed.fetch_add(n, Ordering::AcqRel);
        if let Some(m) = self.options.metrics() {
            m.record_requested(n);
        }
        self.upstream.request(n);
    }

    /// Drops every held item through `on_drop` (`Cancelled`).
    fn flush(&self, d: &mut Drain<S, T>) {
        while let Some(item) = d.outlet.pop() {
            self.options.discard(item, DropReason::Cancelled);
        }
        if let Some(m) = self.options.metrics() {
            m.set_buffered(0);
        }
    }

    /// Ends the downstream with `error` at once, dropping what is held.
    fn fail_downstream(&self, d: &mut Drain<S, T>, error: Error) {
        let downstream = d.downstream.take();
        self.flush(d);
        if let Some(mut downstream) = downstream {
            deliver_error(&mut downstream, error);
        }
    }

    /// Whether the upstream side ended with an error. The caller saw `done` and owns the gate.
    fn failed(&self) -> bool {
        matches!(*self.terminal.lock(), Some(Err(_)))
    }

    /// Takes the upstream side's end. The caller saw `done` and owns the gate.
    fn take_terminal(&self) -> Option<Result<(), Error>> {
        self.terminal.lock().take()
    }

    /// Upstream side, after items entered the ring: drains if someone may want them now (see the
    /// hand-off on [`Stage`]); otherwise only refreshes the `buffered` gauge.
    #[inline]
    fn after_push(&self, inlet: &Inlet<T>) {
        fence(Ordering::SeqCst);
        if self.demand.get() != 0 || self.flags.cancelled.load(Ordering::Relaxed) {
            self.drain();
        } else if let Some(m) = self.options.metrics() {
            m.set_buffered(inlet.len() as u64);
        }
    }

    /// Upstream side: records the end and lets the drain deliver it (after the held items, unless
    /// `ErrorMode::Immediate` and it is an error).
    fn terminate(&self, end: Result<(), Error>) {
        *self.terminal.lock() = Some(end);
        self.flags.done.store(true, Ordering::Release);
        self.drain();
    }
}

impl<S, T> Drop for Stage<S, T> {
    fn drop(&mut self) {
        // The last handle is gone with items still held (nobody will ever ask for them): they still
        // go through `on_drop`, so nothing vanishes unaccounted.
        let options = &self.options;
        let drain = self.drain.get_mut();
        while let Some(item) = drain.outlet.pop() {
            options.discard(item, DropReason::Cancelled);
        }
    }
}

impl<S, T> Subscription for Stage<S, T>
where
    S: Subscriber<T> + Send,
    T: Send,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        // The hand-off with `after_push`: the drain's ring loads come after this fence.
        fence(Ordering::SeqCst);
        self.drain();
    }

    fn cancel(&self) {
        if !self.flags.cancelled.swap(true, Ordering::AcqRel) {
            fence(Ordering::SeqCst);
            self.upstream.cancel();
            self.drain();
        }
    }
}

impl<T> Inlet<T> {
    /// Items held now (a snapshot: the drain may be taking some).
    fn len(&self) -> usize {
        match &self.ring {
            InRing::Fifo(ring) => ring.capacity() - ring.slots(),
            InRing::Overwrite(ring) => ring.len(),
        }
    }

    /// Free slots now, capped by what upstream may still send (bounded policy).
    fn room<S>(&mut self, stage: &Stage<S, T>) -> usize {
        let free = match &self.ring {
            InRing::Fifo(ring) => ring.slots(),
            InRing::Overwrite(ring) => ring.capacity() - ring.len().min(ring.capacity()),
        };
        if self.overflow != Overflow::Backpressure {
            return free;
        }
        if self.accepted == self.allowed {
            self.allowed = stage.flags.allowed.load(Ordering::Acquire);
        }
        free.min(usize::try_from(self.allowed - self.accepted).unwrap_or(usize::MAX))
    }

    /// Whether one more item is within what the stage requested (bounded policy).
    #[inline]
    fn admit<S>(&mut self, stage: &Stage<S, T>) -> bool {
        if self.accepted == self.allowed {
            self.allowed = stage.flags.allowed.load(Ordering::Acquire);
            if self.accepted == self.allowed {
                return false;
            }
        }
        self.accepted += 1;
        true
    }

    /// Starts a queue-wait sample if one is due: returns the arrival's time stamp.
    #[inline]
    fn sample<S>(&mut self, stage: &Stage<S, T>) -> Option<u64> {
        let probe = stage.probe.as_ref()?;
        if self.pushed < self.next_sample || !probe.is_free() {
            return None;
        }
        self.next_sample = self.pushed + WAIT_SAMPLE_EVERY;
        Some(probe.now_ns())
    }

    /// Moves one item in, or applies the overflow policy.
    #[inline]
    fn offer<S>(&mut self, item: T, stage: &Stage<S, T>) -> Offer<T> {
        if self.overflow == Overflow::Backpressure && !self.admit(stage) {
            return Offer::Failed(item);
        }
        let stamp = self.sample(stage);
        match &mut self.ring {
            InRing::Fifo(ring) => {
                if let Err(full) = ring.push(item) {
                    let item = full.into_inner();
                    return match self.overflow {
                        Overflow::DropNewest => {
                            stage.options.discard(item, DropReason::Overflow);
                            Offer::Dropped
                        }
                        _ => Offer::Failed(item),
                    };
                }
            }
            InRing::Overwrite(ring) => {
                if let Some(oldest) = ring.push_overwrite(item) {
                    if let Some(probe) = &stage.probe {
                        probe.evict(self.pushed - ring.capacity() as u64);
                    }
                    stage.options.discard(oldest, DropReason::Evicted);
                }
            }
        }
        if let (Some(stamp), Some(probe)) = (stamp, &stage.probe) {
            probe.publish(self.pushed, stamp);
        }
        self.pushed += 1;
        Offer::Held
    }

    /// Moves up to `room` items from `items` into the ring in one go (no overflow possible);
    /// returns how many.
    #[inline]
    fn fill<S, I: Iterator<Item = T>>(
        &mut self,
        items: &mut I,
        room: usize,
        stage: &Stage<S, T>,
    ) -> u64 {
        let stamp = self.sample(stage);
        let n = match &mut self.ring {
            InRing::Fifo(ring) => match ring.write_chunk(room) {
                Ok(mut chunk) => {
                    chunk.fill_from_iter(items.by_ref());
                    chunk.commit() as u64
                }
                Err(_) => 0,
            },
            InRing::Overwrite(ring) => {
                let mut n = 0;
                for item in items.by_ref().take(room) {
                    // Only this side adds items and there was room, so nothing is evicted.
                    if let Some(oldest) = ring.push_overwrite(item) {
                        stage.options.discard(oldest, DropReason::Evicted);
                    }
                    n += 1;
                }
                n
            }
        };
        if n > 0 {
            if let (Some(stamp), Some(probe)) = (stamp, &stage.probe) {
                probe.publish(self.pushed, stamp);
            }
        }
        self.pushed += n;
        if self.overflow == Overflow::Backpressure {
            self.accepted += n;
        }
        n
    }
}

impl<S, T> HeldSubscriber<S, T>
where
    S: Subscriber<T>,
    T: Send,
{
    /// The stage broke its bound with `item`: cancel upstream at once, drop the item as
    /// `Overflow`, and end with an overflow error (after the held items, by default).
    fn fail(&mut self, item: T) {
        let Some(live) = self.live.take() else {
            return self.options.discard(item, DropReason::Cancelled);
        };
        live.stage.upstream.cancel();
        self.options.discard(item, DropReason::Overflow);
        live.stage.terminate(Err(Error::overflow(self.name)));
    }

    fn end(&mut self, end: Result<(), Error>) {
        match self.live.take() {
            Some(live) => live.stage.terminate(end),
            // A terminal after the stage failed (or a second one): nobody downstream to tell.
            None => {
                if let Err(error) = end {
                    report_undeliverable(&error)
                }
            }
        }
    }
}

impl<S, T> Subscriber<T> for HeldSubscriber<S, T>
where
    S: Subscriber<T> + Send + 'static,
    T: Send + 'static,
{
    fn on_subscribe(&mut self, upstream: SharedSubscription) {
        let Some(setup) = self.setup.take() else {
            // Rule 2.05: already subscribed.
            return upstream.cancel();
        };
        let (ring, outlet) = match setup.overflow {
            Overflow::DropOldest => {
                let (producer, consumer) = overwrite::channel(setup.capacity);
                (InRing::Overwrite(producer), Outlet::Overwrite(consumer))
            }
            _ => {
                let (producer, consumer) = spsc::channel(setup.capacity);
                (InRing::Fifo(producer), Outlet::Fifo(consumer))
            }
        };
        let bounded = setup.overflow == Overflow::Backpressure;
        // Lossy stages absorb overload by discarding: they ask for everything (SEMANTICS §2).
        let prefetch = if bounded {
            setup.capacity as u64
        } else {
            UNBOUNDED
        };
        let stage = StdArc::new(Stage {
            demand: CachePadded::new(Demand::new()),
            flags: CachePadded::new(Flags {
                cancelled: AtomicBool::new(false),
                invalid: AtomicBool::new(false),
                done: AtomicBool::new(false),
                allowed: AtomicU64::new(prefetch),
            }),
            terminal: Mutex::new(None),
            upstream: upstream.clone(),
            options: self.options.clone(),
            probe: self.options.metrics().map(|_| WaitProbe::new()),
            drain: CachePadded::new(GateCell::new(Drain {
                downstream: Some(setup.downstream),
                outlet,
                replenish: bounded.then(|| Replenish::new(prefetch)),
                delivered: 0,
            })),
        });
        let handle: SharedSubscription = stage.clone();
        start(
            &stage.drain,
            handle,
            |d| d.downstream.as_mut(),
            |d, panic| {
                stage.flags.cancelled.store(true, Ordering::Release);
                if let Some(mut downstream) = d.downstream.take() {
                    deliver_error(&mut downstream, panic);
                }
            },
            |d| stage.pass(d),
        );
        if stage.flags.cancelled.load(Ordering::Acquire) {
            return upstream.cancel();
        }
        self.live = Some(Live {
            stage,
            inlet: Inlet {
                ring,
                overflow: setup.overflow,
                accepted: 0,
                allowed: prefetch,
                pushed: 0,
                next_sample: 0,
            },
        });
        if let Some(m) = self.options.metrics() {
            m.record_requested(prefetch);
        }
        upstream.request(prefetch);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(m) = self.options.metrics() {
            m.record_received(1);
        }
        let Some(live) = &mut self.live else {
            // In flight after the stage failed, or sent after a terminal.
            return self.options.discard(item, DropReason::Cancelled);
        };
        if live.stage.flags.cancelled.load(Ordering::Relaxed) {
            return self.options.discard(item, DropReason::Cancelled);
        }
        match live.inlet.offer(item, &live.stage) {
            Offer::Held => live.stage.after_push(&live.inlet),
            Offer::Dropped => {}
            Offer::Failed(item) => self.fail(item),
        }
    }

    /// Fills the ring's free room with a whole run at a time (one publish, one drain signal), and
    /// goes item by item only while the ring is full, so what is dropped is what item-by-item
    /// delivery would drop. Stops consuming the run once the stage is cancelled or has failed.
    fn on_next_iter<I>(&mut self, mut items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let mut used = 0;
        while let Some(live) = &mut self.live {
            if live.stage.flags.cancelled.load(Ordering::Relaxed) {
                break;
            }
            let room = live.inlet.room(&live.stage);
            if room > 0 {
                let n = live.inlet.fill(&mut items, room, &live.stage);
                if n == 0 {
                    break;
                }
                used += n;
                if let Some(m) = self.options.metrics() {
                    m.record_received(n);
                }
                live.stage.after_push(&live.inlet);
            } else {
                let Some(item) = items.next() else { break };
                used += 1;
                self.on_next(item);
            }
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error))
    }

    fn on_complete(&mut self) {
        self.end(Ok(()))
    }
}
