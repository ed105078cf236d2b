//! The publisher behind [`Flux::flat_map`](crate::Flux::flat_map), and the machinery it shares with
//! [`Flux::switch_map`](crate::Flux::switch_map): one drain loop over inner streams that come and go.
//!
//! Every outer item is mapped to an inner publisher, which is subscribed with its own bounded spsc
//! ring of `prefetch` slots. The inner's subscriber pushes into the ring on whatever thread the inner
//! signals from and then asks for a drain pass ([`GateCell`](crate::demand::GateCell)): whoever enters the gate serves the
//! downstream, round-robin over the rings, everyone else only records a missed pass. The drain tops
//! each inner up by what it took out of its ring once 75% of the prefetch is consumed
//! ([`Replenish`]), so an inner's outstanding demand plus what its ring holds never exceeds the
//! ring's capacity: a push into a full ring means the inner sent more than it was asked for, and the
//! stage fails with [`Error::overflow`] instead of growing.
//!
//! An inner is finished when its producer end is gone (its subscriber dropped the ring's producer
//! on `on_complete`, or was released) and its ring is empty: the ring's hang-up flag is published
//! after the last push, so the drain never misses an item. Under [`Policy::Merge`] each finished
//! inner frees a slot and the outer is asked for one more item; under [`Policy::Switch`] the outer
//! is asked for everything and each new item retires the previous inner.
//!
//! A new inner is handed to the drain through a short lock (`pending`, once per inner) before it is
//! subscribed, so a cancel always reaches it. Inners the stage gave up on (cancel, terminal, or
//! switched away) are *retired*: the drain keeps their ring until their producer hangs up, so
//! items that raced the cancel are still dropped through `on_drop`, exactly once.

use crate::demand::{Demand, GateCell, Replenish, UNBOUNDED};
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, ErrorMode, StageOptions};
use crate::protocol::{catch, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::queue::spsc;
use crate::stage::start;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, StdArc};

/// The number of inner streams [`Flux::flat_map`](crate::Flux::flat_map) subscribes at once
/// (Reactor's default).
pub const FLAT_MAP_CONCURRENCY: usize = 256;

/// The items [`Flux::flat_map`](crate::Flux::flat_map) and [`Flux::switch_map`](crate::Flux::switch_map)
/// request from each inner stream up front (Reactor's default).
pub const FLAT_MAP_PREFETCH: usize = 32;

/// Subscribes to the inner streams of each outer item at once, merging them.
/// Built by [`Flux::flat_map`](crate::Flux::flat_map).
pub struct FlatMap<P, F, T> {
    upstream: P,
    f: StdArc<F>,
    concurrency: usize,
    prefetch: usize,
    options: StageOptions<T>,
}

impl<P: Clone, F, T> Clone for FlatMap<P, F, T> {
    fn clone(&self) -> Self {
        FlatMap {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
            concurrency: self.concurrency,
            prefetch: self.prefetch,
            options: self.options.clone(),
        }
    }
}

impl<P: std::fmt::Debug, F, T> std::fmt::Debug for FlatMap<P, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatMap")
            .field("upstream", &self.upstream)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P, F, T> FlatMap<P, F, T> {
    pub(crate) fn new(upstream: P, f: F, concurrency: usize, prefetch: usize) -> Self {
        assert!(concurrency > 0, "flat_map: concurrency must be at least 1");
        assert!(prefetch > 0, "flat_map: prefetch must be at least 1");
        FlatMap {
            upstream,
            f: StdArc::new(f),
            concurrency,
            prefetch,
            options: StageOptions::default(),
        }
    }
}

impl<P, F, T> Configurable for FlatMap<P, F, T> {
    type Dropped = T;
    fn options_mut(&mut self) -> &mut StageOptions<T> {
        &mut self.options
    }
}

impl<P, F, Q, T> Publisher for FlatMap<P, F, T>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
    T: Send + 'static,
{
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        subscribe_inners(
            &self.upstream,
            &self.f,
            Policy::Merge {
                concurrency: self.concurrency,
            },
            self.prefetch,
            &self.options,
            subscriber,
        )
    }
}

/// How the outer stream's items become inner subscriptions.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Policy {
    /// Up to `concurrency` inners at once: the outer is asked for that many up front, then for one
    /// more each time an inner finishes (`usize::MAX`: unbounded).
    Merge { concurrency: usize },
    /// One live inner: the outer is asked for everything, and each new item cancels the previous
    /// inner and drops what it queued.
    Switch,
}

impl Policy {
    fn stage(self) -> &'static str {
        match self {
            Policy::Merge { .. } => "flat_map",
            Policy::Switch => "switch_map",
        }
    }

    /// The outer demand asked for when the stage starts.
    fn initial_outer_demand(self) -> u64 {
        match self {
            Policy::Merge { concurrency } => u64::try_from(concurrency).unwrap_or(UNBOUNDED),
            Policy::Switch => UNBOUNDED,
        }
    }
}

/// Subscribes `subscriber` to the inners of `upstream`'s items under `policy`.
pub(crate) fn subscribe_inners<P, F, Q, T, S>(
    upstream: &P,
    f: &StdArc<F>,
    policy: Policy,
    prefetch: usize,
    options: &StageOptions<T>,
    subscriber: S,
) where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    let core = StdArc::new(Core {
        policy,
        prefetch,
        options: options.clone(),
        demand: Demand::new(),
        cancelled: AtomicBool::new(false),
        invalid: AtomicBool::new(false),
        outer_done: AtomicBool::new(false),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        stopped: AtomicBool::new(false),
        latest: AtomicU64::new(0),
        pending: Mutex::new(Pending {
            inners: Vec::new(),
            closed: false,
        }),
        owned: GateCell::new(Owned {
            downstream: Some(subscriber),
            outer: None,
            inners: Vec::new(),
            retired: Vec::new(),
            cursor: 0,
            upstreams_cancelled: false,
        }),
    });
    upstream.subscribe(OuterSubscriber {
        core,
        f: f.clone(),
        next_index: 0,
        current: None,
        subscribed: false,
        done: false,
    });
}

/// One inner's control block, shared by its subscriber and the drain.
#[derive(Default)]
struct Lane {
    /// The inner's subscription and whether the stage cancelled it. A lock: touched on subscribe,
    /// when the drain first tops the inner up, and on cancel; never held across a call out. Because
    /// `attach` and `cancel` both run under it, a subscription is either stored before `cancel`
    /// takes it out, or refused.
    upstream: Mutex<LaneUpstream>,
}

#[derive(Default)]
struct LaneUpstream {
    subscription: Option<SharedSubscription>,
    cancelled: bool,
}

impl Lane {
    /// Stores the inner's subscription; `false` if the lane was cancelled first.
    fn attach(&self, subscription: SharedSubscription) -> bool {
        let mut upstream = self.upstream.lock();
        if upstream.cancelled {
            return false;
        }
        upstream.subscription = Some(subscription);
        true
    }

    fn subscription(&self) -> Option<SharedSubscription> {
        self.upstream.lock().subscription.clone()
    }

    fn cancel(&self) {
        let subscription = {
            let mut upstream = self.upstream.lock();
            upstream.cancelled = true;
            upstream.subscription.take()
        };
        if let Some(subscription) = subscription {
            subscription.cancel();
        }
    }
}

/// The drain's end of one inner.
struct InnerEnd<T> {
    consumer: spsc::Consumer<T>,
    lane: StdArc<Lane>,
    replenish: Replenish,
    /// The outer item's position: under [`Policy::Switch`] only the newest inner is served.
    index: u64,
    /// The inner's subscription, cached by the drain at the first top-up (the lane's lock is then
    /// no longer needed for requests). Cleared when the lane is cancelled.
    upstream: Option<SharedSubscription>,
}

impl<T> InnerEnd<T> {
    fn request(&mut self, n: u64) {
        if self.upstream.is_none() {
            self.upstream = self.lane.subscription();
        }
        if let Some(upstream) = &self.upstream {
            upstream.request(n);
        }
    }

    fn cancel(&mut self) {
        self.upstream = None;
        self.lane.cancel();
    }

    /// Drops every item the ring holds through `on_drop`.
    fn discard_queued(&mut self, options: &StageOptions<T>) {
        while let Some(item) = self.consumer.pop() {
            options.discard(item, DropReason::Cancelled);
        }
    }
}

/// Inners created on the outer's thread and not yet adopted by the drain.
struct Pending<T> {
    inners: Vec<InnerEnd<T>>,
    /// Set once the stage stops: no inner is subscribed any more.
    closed: bool,
}

/// What only the owner of the drain gate touches.
struct Owned<T, S> {
    /// `None` once terminated or cancelled (the downstream subscriber is released, rule 3.13).
    downstream: Option<S>,
    outer: Option<SharedSubscription>,
    /// Live inners, served round-robin from `cursor`.
    inners: Vec<InnerEnd<T>>,
    /// Inners given up on whose producers may still push: drained into `on_drop` until they hang up.
    retired: Vec<InnerEnd<T>>,
    cursor: usize,
    upstreams_cancelled: bool,
}

/// The state of one subscription, shared by the outer subscriber, the inner subscribers and the
/// downstream's handle (this is the downstream's [`Subscription`]).
pub(crate) struct Core<T, S> {
    policy: Policy,
    prefetch: usize,
    options: StageOptions<T>,
    /// Downstream demand: added by `request` on any thread, spent by the drain.
    demand: Demand,
    /// Set by the downstream's `cancel` (AcqRel swap); the drain's Acquire load pairs with it.
    cancelled: AtomicBool,
    /// Set by `request(0)` (Release); the drain answers it with the rule 3.9 error (Acquire).
    invalid: AtomicBool,
    /// Set with Release by the outer's `on_complete`, after its last inner was put in `pending`;
    /// the drain's Acquire load pairs with it, so it adopts every inner before it decides to complete.
    outer_done: AtomicBool,
    /// Set with Release after `error` is written (and before a failing inner hangs up its ring);
    /// the drain's Acquire load pairs with it.
    failed: AtomicBool,
    /// The first error of the outer, an inner, or the mapping function.
    error: Mutex<Option<Error>>,
    /// Set with Release when the drain cancels the upstreams; inner subscribers read it (Acquire)
    /// to drop late items at once instead of queueing them.
    stopped: AtomicBool,
    /// [`Policy::Switch`]: the index of the newest inner, stored (Release) by the outer's thread
    /// before that inner is handed over; the drain (Acquire) drops every older inner.
    latest: AtomicU64,
    pending: Mutex<Pending<T>>,
    /// The drain owner's state, behind the stage's drain gate.
    owned: GateCell<Owned<T, S>>,
}

/// What one sweep over the live inners did.
#[derive(Default)]
struct Sweep {
    /// Credits of downstream demand used.
    used: u64,
    /// Inners that finished (completed and drained).
    finished: u64,
    /// Whether anything was taken or removed: another sweep may find more.
    progress: bool,
}

impl<T, S> Core<T, S>
where
    T: Send + 'static,
    S: Subscriber<T>,
{
    fn drain(&self) {
        self.owned.drain(|owned| self.pass_caught(owned));
    }

    /// One catch per pass: a panic in the downstream (or in an upstream's `request`) ends the
    /// stream with an error instead of unwinding into the caller's thread.
    fn pass_caught(&self, owned: &mut Owned<T, S>) {
        if let Err(panic) = catch("a stream stage", || self.pass(owned)) {
            self.terminate(owned, Err(panic));
        }
    }

    fn pass(&self, owned: &mut Owned<T, S>) {
        self.sweep_retired(owned);
        if owned.downstream.is_none() {
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            self.shutdown(owned);
            owned.downstream = None;
            return;
        }
        if self.invalid.load(Ordering::Acquire) {
            return self.terminate(owned, Err(Error::invalid_demand()));
        }
        // Read before adopting: every inner the outer handed over before completing is then adopted.
        let outer_done = self.outer_done.load(Ordering::Acquire);
        self.adopt(owned);
        if self.failed.load(Ordering::Acquire) {
            self.cancel_upstreams(owned);
            if self.options.error_mode == ErrorMode::Immediate {
                return self.terminate(owned, Err(self.take_error()));
            }
        }
        self.emit(owned);
        if self.cancelled.load(Ordering::Acquire) {
            self.shutdown(owned);
            owned.downstream = None;
            return;
        }
        // Re-read after the sweep: an inner that failed hung up its ring after setting `failed`,
        // so having seen it finished we also see the failure, and never complete instead.
        if self.failed.load(Ordering::Acquire) {
            self.cancel_upstreams(owned);
            if owned.inners.iter().all(|inner| inner.consumer.is_empty()) {
                self.terminate(owned, Err(self.take_error()));
            }
            return;
        }
        if outer_done && owned.inners.is_empty() {
            self.terminate(owned, Ok(()));
        }
    }

    /// Serves downstream demand from the live inners' rings until demand or items run out.
    fn emit(&self, owned: &mut Owned<T, S>) {
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        loop {
            let budget = if requested == UNBOUNDED {
                UNBOUNDED
            } else {
                requested - emitted
            };
            let sweep = self.sweep(owned, budget);
            if requested != UNBOUNDED {
                emitted += sweep.used;
                if emitted == requested {
                    requested = self.demand.produced(emitted);
                    emitted = 0;
                }
            }
            if sweep.finished > 0 {
                self.replace_finished(owned, sweep.finished);
            }
            if !sweep.progress || self.cancelled.load(Ordering::Acquire) {
                break;
            }
        }
        if emitted > 0 {
            self.demand.produced(emitted);
        }
    }

    /// Asks the outer for one item per finished inner (merge with bounded concurrency only).
    fn replace_finished(&self, owned: &mut Owned<T, S>, finished: u64) {
        let Policy::Merge { concurrency } = self.policy else {
            return;
        };
        if u64::try_from(concurrency).unwrap_or(UNBOUNDED) == UNBOUNDED
            || owned.upstreams_cancelled
            || self.outer_done.load(Ordering::Acquire)
        {
            return;
        }
        if let Some(outer) = &owned.outer {
            outer.request(finished);
        }
    }

    /// Visits each live inner once, round-robin, taking up to `budget` items in all; removes the
    /// finished and (switch) the superseded ones.
    fn sweep(&self, owned: &mut Owned<T, S>, budget: u64) -> Sweep {
        let mut sweep = Sweep::default();
        let Owned {
            downstream,
            inners,
            retired,
            cursor,
            ..
        } = owned;
        let Some(downstream) = downstream.as_mut() else {
            return sweep;
        };
        let latest = match self.policy {
            Policy::Switch => Some(self.latest.load(Ordering::Acquire)),
            Policy::Merge { .. } => None,
        };
        let metrics = self.options.metrics();
        let mut left = budget;
        // The next sweep starts after the inner served last; idle visits do not move it.
        let mut at = *cursor;
        let mut visits = inners.len();
        while visits > 0 && !inners.is_empty() {
            visits -= 1;
            if at >= inners.len() {
                at = 0;
            }
            let inner = &mut inners[at];
            if latest.is_some_and(|latest| inner.index != latest) {
                let mut stale = inners.remove(at);
                if at < *cursor {
                    *cursor -= 1;
                }
                stale.cancel();
                stale.discard_queued(&self.options);
                retired.push(stale);
                sweep.progress = true;
                continue;
            }
            if left > 0 {
                let take = inner
                    .consumer
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                if take > 0 {
                    let mut chunk = inner
                        .consumer
                        .read_chunk(take)
                        .expect("the consumer saw this many items");
                    let used = downstream.on_next_iter(&mut chunk);
                    // A downstream that stops early (take) leaves the rest first in line.
                    let consumed = (take - chunk.len()) as u64;
                    drop(chunk);
                    if left != UNBOUNDED {
                        left -= used;
                    }
                    sweep.used += used;
                    if consumed > 0 {
                        sweep.progress = true;
                        *cursor = at + 1;
                    }
                    if let Some(m) = metrics {
                        m.record_emitted(used);
                    }
                    let top_up = inner.replenish.consumed(consumed);
                    if top_up > 0 && !self.stopped.load(Ordering::Relaxed) {
                        if let Some(m) = metrics {
                            m.record_requested(top_up);
                        }
                        inner.request(top_up);
                    }
                    if self.cancelled.load(Ordering::Acquire) {
                        return sweep;
                    }
                }
            }
            // Hang-up first, emptiness second: once the producer is gone, every push is visible.
            if inner.consumer.is_abandoned() && inner.consumer.is_empty() {
                // `remove`, not `swap_remove`: inners keep their arrival order.
                inners.remove(at);
                if at < *cursor {
                    *cursor -= 1;
                }
                sweep.finished += 1;
                sweep.progress = true;
                continue;
            }
            at += 1;
        }
        sweep
    }

    /// Moves the inners the outer handed over into the live set.
    fn adopt(&self, owned: &mut Owned<T, S>) {
        let mut pending = self.pending.lock();
        if !pending.inners.is_empty() {
            owned.inners.append(&mut pending.inners);
        }
    }

    /// Drops what retired inners still push, until each producer hangs up.
    fn sweep_retired(&self, owned: &mut Owned<T, S>) {
        owned.retired.retain_mut(|inner| {
            let hung_up = inner.consumer.is_abandoned();
            inner.discard_queued(&self.options);
            !hung_up
        });
    }

    /// Cancels the outer and every inner, and refuses new inners. Queued items stay (an error
    /// after drain still delivers them).
    fn cancel_upstreams(&self, owned: &mut Owned<T, S>) {
        if owned.upstreams_cancelled {
            return;
        }
        owned.upstreams_cancelled = true;
        self.stopped.store(true, Ordering::Release);
        if let Some(outer) = owned.outer.take() {
            outer.cancel();
        }
        let late = {
            let mut pending = self.pending.lock();
            pending.closed = true;
            std::mem::take(&mut pending.inners)
        };
        owned.inners.extend(late);
        for inner in &mut owned.inners {
            inner.cancel();
        }
    }

    /// Stops everything: upstreams cancelled, queued items dropped through `on_drop`.
    fn shutdown(&self, owned: &mut Owned<T, S>) {
        self.cancel_upstreams(owned);
        for mut inner in owned.inners.drain(..) {
            inner.discard_queued(&self.options);
            owned.retired.push(inner);
        }
        self.sweep_retired(owned);
    }

    /// Shuts down and signals the one terminal signal, releasing the downstream.
    fn terminate(&self, owned: &mut Owned<T, S>, end: Result<(), Error>) {
        self.shutdown(owned);
        let Some(mut downstream) = owned.downstream.take() else {
            if let Err(e) = end {
                crate::error::report_undeliverable(&e);
            }
            return;
        };
        crate::protocol::deliver_terminal(&mut downstream, end);
    }

    fn take_error(&self) -> Error {
        self.error
            .lock()
            .take()
            .unwrap_or_else(|| Error::msg(format!("{} failed", self.policy.stage())))
    }

    /// Records the error that ends the stream (the first one wins; later ones go to the error
    /// hook) and asks for a drain pass, which cancels everything.
    fn fail(&self, error: Error) {
        if self.stopped.load(Ordering::Acquire) {
            crate::error::report_undeliverable(&error);
        } else {
            let mut slot = self.error.lock();
            if slot.is_none() {
                *slot = Some(error);
            } else {
                drop(slot);
                crate::error::report_undeliverable(&error);
            }
        }
        self.failed.store(true, Ordering::Release);
        self.drain();
    }
}

impl<T, S> Subscription for Core<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
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

/// Subscribes to the outer stream and turns each item into an inner subscription.
struct OuterSubscriber<F, T, S> {
    core: StdArc<Core<T, S>>,
    f: StdArc<F>,
    next_index: u64,
    /// [`Policy::Switch`]: the newest inner's lane, cancelled when the next item arrives.
    current: Option<StdArc<Lane>>,
    subscribed: bool,
    done: bool,
}

impl<O, F, Q, T, S> Subscriber<O> for OuterSubscriber<F, T, S>
where
    F: Fn(O) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            subscription.cancel(); // rule 2.05
            return;
        }
        let core = &self.core;
        let handle: SharedSubscription = core.clone();
        start(
            &core.owned,
            handle,
            |owned| {
                owned.outer = Some(subscription.clone());
                owned.downstream.as_mut()
            },
            |owned, panic| core.terminate(owned, Err(panic)),
            |owned| core.pass_caught(owned),
        );
        // Outside the gate: a synchronous outer then hands over its items (and their inners'
        // items) one by one, each delivered before the next arrives, instead of queueing them all.
        if !core.stopped.load(Ordering::Acquire) {
            subscription.request(core.policy.initial_outer_demand());
        }
    }

    fn on_next(&mut self, item: O) {
        if self.done {
            return;
        }
        let core = &*self.core;
        if core.stopped.load(Ordering::Acquire) {
            return;
        }
        let inner = match catch(core.policy.stage(), || (self.f)(item)) {
            Ok(inner) => inner,
            Err(panic) => {
                self.done = true;
                return core.fail(panic);
            }
        };
        let index = self.next_index;
        self.next_index += 1;
        let (producer, consumer) = spsc::channel(core.prefetch);
        let lane = StdArc::new(Lane::default());
        if let Policy::Switch = core.policy {
            if let Some(previous) = self.current.replace(lane.clone()) {
                previous.cancel();
            }
            core.latest.store(index, Ordering::Release);
        }
        {
            let mut pending = core.pending.lock();
            if pending.closed {
                return;
            }
            pending.inners.push(InnerEnd {
                consumer,
                lane: lane.clone(),
                replenish: Replenish::new(core.prefetch as u64),
                index,
                upstream: None,
            });
        }
        let subscriber = InnerSubscriber {
            core: self.core.clone(),
            producer: Some(producer),
            lane,
            subscribed: false,
            done: false,
        };
        if let Err(panic) = catch("subscribe", || inner.subscribe(subscriber)) {
            self.done = true;
            return core.fail(panic);
        }
        if let Policy::Switch = core.policy {
            // Drop what the previous inner queued now, not when the new one first signals.
            core.drain();
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.core.fail(error);
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.core.outer_done.store(true, Ordering::Release);
            self.core.drain();
        }
    }
}

/// Subscribes to one inner stream and queues its items in the inner's ring.
struct InnerSubscriber<T, S> {
    core: StdArc<Core<T, S>>,
    /// Dropped on the terminal signal: the hang-up tells the drain the inner is finished.
    producer: Option<spsc::Producer<T>>,
    lane: StdArc<Lane>,
    subscribed: bool,
    done: bool,
}

impl<T, S> InnerSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T>,
{
    /// The inner sent more than it was asked for: never grow, fail the stage.
    #[cold]
    fn overflow(&mut self, item: T) {
        self.done = true;
        self.core.options.discard(item, DropReason::Overflow);
        self.lane.cancel();
        self.core.fail(Error::overflow(self.core.policy.stage()));
        // After `failed` is set: the drain must not take the hang-up for a completion.
        self.producer = None;
    }

    fn discard(&self, item: T) {
        self.core.options.discard(item, DropReason::Cancelled);
    }

    fn accepting(&self) -> bool {
        !self.done && !self.core.stopped.load(Ordering::Acquire)
    }
}

impl<T, S> Subscriber<T> for InnerSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            subscription.cancel(); // rule 2.05
            return;
        }
        if !self.lane.attach(subscription.clone()) {
            return subscription.cancel();
        }
        let prefetch = self.core.prefetch as u64;
        if let Some(m) = self.core.options.metrics() {
            m.record_requested(prefetch);
        }
        subscription.request(prefetch);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.accepting() {
            return self.discard(item);
        }
        let Some(producer) = self.producer.as_mut() else {
            return self.discard(item);
        };
        match producer.push(item) {
            Ok(()) => {
                if let Some(m) = self.core.options.metrics() {
                    m.record_received(1);
                }
                self.core.drain();
            }
            Err(full) => self.overflow(full.into_inner()),
        }
    }

    fn on_next_iter<I>(&mut self, mut items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if !self.accepting() || self.producer.is_none() {
            return items.fold(0, |n, item| {
                self.discard(item);
                n + 1
            });
        }
        let producer = self.producer.as_mut().expect("checked above");
        // A compliant inner never sends more than the free slots: its demand plus what the ring
        // holds is the ring's capacity. One push for the whole run, one drain request.
        let free = producer.slots();
        let mut pushed = 0;
        if free > 0 {
            let mut chunk = producer
                .write_chunk(free)
                .expect("free slots stay free for the producer");
            pushed = chunk.fill_from_iter(&mut items);
            chunk.commit();
        }
        if pushed > 0 {
            if let Some(m) = self.core.options.metrics() {
                m.record_received(pushed as u64);
            }
            self.core.drain();
        }
        match items.next() {
            None => pushed as u64,
            Some(extra) => {
                // Stop consuming the run: the inner is cancelled.
                self.overflow(extra);
                pushed as u64 + 1
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.core.fail(error);
            self.producer = None;
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.producer = None;
            self.core.drain();
        }
    }
}
