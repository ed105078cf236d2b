//! The machinery shared by the fan-in operators ([`merge`](crate::merge), [`zip`](crate::zip),
//! [`combine_latest`](crate::combine_latest)): one drain loop serving several inputs.
//!
//! Each input gets its own bounded spsc ring. The producer end belongs to that input's subscriber
//! ([`Input`]), which pushes on whatever thread the input signals from; the consumer end belongs to
//! the operator's drain loop ([`FanIn`]), which runs behind a [`GateCell`](crate::demand::GateCell). After every push or
//! terminal signal the input calls [`Hub::drain`], so no work is missed: whoever enters the gate
//! drains, everyone else only records a missed pass. What an operator does with the items it
//! finds in its rings is its [`Drain`] strategy; the core does the protocol around it (demand,
//! `request(0)`, cancel, panics, the one terminal signal, releasing the downstream).
//!
//! The ring holds exactly `prefetch` items and an input is asked for `prefetch` up front, then for
//! as many as the drain took out of its ring (in batches, [`Replenish`](crate::demand::Replenish)):
//! an input's outstanding demand plus what it holds never exceeds the ring's capacity. So a full
//! ring means the input sent more than it was asked for: the input reports
//! [`Error::overflow`] and every input is cancelled, instead of the stage growing memory.

use std::marker::PhantomData;

use crate::demand::{Demand, GateCell, UNBOUNDED};
use crate::error::Error;
use crate::metrics::DropReason;
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::queue::spsc::Producer;
use crate::stage::subscribe_owned;
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// A fan-in operator's shared state, as its inputs see it.
pub(crate) trait Hub: Send + Sync + 'static {
    /// What the operator shares with its inputs besides their control blocks.
    type Shared;

    /// The operator's name, for overflow errors.
    const STAGE: &'static str;

    /// The inputs' control blocks.
    fn inputs(&self) -> &Inputs;

    /// The operator's shared part.
    fn shared(&self) -> &Self::Shared;

    /// Asks for a drain pass: runs it here if no other thread is draining, else records it.
    fn drain(&self);
}

/// What an input stores in its ring for an item, and what happens to an item it refuses.
pub(crate) trait Slotting<T, Sh>: Send + 'static {
    /// The ring's element.
    type Slot: Send;

    /// Wraps an item to push.
    fn slot(shared: &Sh, item: T) -> Self::Slot;

    /// Unwraps a slot the ring refused.
    fn unslot(slot: Self::Slot) -> T;

    /// Disposes of an item the input did not push (overflow, or arrived after the operator
    /// stopped). The default drops it.
    fn refuse(shared: &Sh, item: T, reason: DropReason) {
        let _ = (shared, reason);
        drop(item);
    }
}

/// Items go into the ring as they are.
pub(crate) struct Plain;

impl<T: Send + 'static, Sh> Slotting<T, Sh> for Plain {
    type Slot = T;

    #[inline(always)]
    fn slot(_shared: &Sh, item: T) -> T {
        item
    }

    #[inline(always)]
    fn unslot(slot: T) -> T {
        slot
    }
}

/// One input's control block.
struct Lane {
    /// The input's subscription, from its `on_subscribe` until the operator stops. A lock: it is
    /// touched on subscribe, once per top-up batch and on cancel, and never held across a call out.
    upstream: Mutex<Option<SharedSubscription>>,
    /// Set with Release by the input after its last push (on its terminal signal or overflow). The
    /// drain's Acquire load pairs with it: once it reads `true`, every item the input pushed is
    /// visible, so "done and ring empty" means the input is finished.
    done: AtomicBool,
}

/// The control blocks of every input of one subscription.
pub(crate) struct Inputs {
    lanes: Box<[Lane]>,
    /// Items each input is asked for up front; its ring holds exactly this many.
    prefetch: u64,
    /// Set by the first `cancel_all` (AcqRel swap). `attach` reads it under the lane's lock, after
    /// `cancel_all` released that lock or before `cancel_all` takes it, so a subscription is either
    /// stored before `cancel_all` takes it out, or refused.
    cancelled: AtomicBool,
    /// Set with Release after `error` is stored; the drain's Acquire load pairs with it.
    failed: AtomicBool,
    /// The first error an input reported (its own, or its overflow).
    error: Mutex<Option<Error>>,
}

impl Inputs {
    pub(crate) fn new(count: usize, prefetch: usize) -> Self {
        assert!(prefetch > 0, "prefetch must be at least 1");
        Inputs {
            lanes: (0..count)
                .map(|_| Lane {
                    upstream: Mutex::new(None),
                    done: AtomicBool::new(false),
                })
                .collect(),
            prefetch: prefetch as u64,
            cancelled: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    /// Stores input `lane`'s subscription; `false` if the operator already stopped (the caller
    /// cancels it).
    fn attach(&self, lane: usize, subscription: SharedSubscription) -> bool {
        let mut slot = self.lanes[lane].upstream.lock();
        if self.cancelled.load(Ordering::Acquire) {
            return false;
        }
        *slot = Some(subscription);
        true
    }

    /// Asks input `lane` for `n` more items (after the drain freed `n` slots of its ring).
    pub(crate) fn request(&self, lane: usize, n: u64) {
        let upstream = self.lanes[lane].upstream.lock().clone();
        if let Some(upstream) = upstream {
            upstream.request(n);
        }
    }

    /// Cancels every input and drops the operator's references to their subscriptions. Idempotent;
    /// inputs that subscribe later are cancelled at once.
    pub(crate) fn cancel_all(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        for lane in self.lanes.iter() {
            let upstream = lane.upstream.lock().take();
            if let Some(upstream) = upstream {
                upstream.cancel();
            }
        }
    }

    /// Whether `cancel_all` ran.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Records `error` if it is the first, then cancels every input. An error that arrives after
    /// the operator stopped (cancelled, terminated, or failed before) goes to the error hook.
    pub(crate) fn fail(&self, error: Error) {
        {
            let mut first = self.error.lock();
            if first.is_none() && !self.is_cancelled() {
                *first = Some(error);
                self.failed.store(true, Ordering::Release);
            } else {
                crate::error::report_undeliverable(&error);
            }
        }
        self.cancel_all();
    }

    /// Whether an input failed.
    #[inline]
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The first error, taken out (for the one terminal signal).
    pub(crate) fn take_error(&self) -> Error {
        self.error
            .lock()
            .take()
            .unwrap_or_else(|| Error::msg("a fan-in input failed"))
    }

    /// Marks input `lane` as having pushed its last item.
    fn finish(&self, lane: usize) {
        self.lanes[lane].done.store(true, Ordering::Release);
    }

    /// Whether input `lane` pushed its last item. Read it *before* looking at the ring.
    #[inline]
    pub(crate) fn is_done(&self, lane: usize) -> bool {
        self.lanes[lane].done.load(Ordering::Acquire)
    }

    pub(crate) fn prefetch(&self) -> u64 {
        self.prefetch
    }
}

/// The subscriber of one input: pushes its items into the input's ring and signals the drain.
pub(crate) struct Input<T, K: Hub, W: Slotting<T, K::Shared>> {
    hub: StdArc<K>,
    lane: usize,
    producer: Producer<W::Slot>,
    subscribed: bool,
    /// Set on the input's terminal signal or overflow: later signals are ignored.
    stopped: bool,
    _items: PhantomData<fn(T)>,
}

impl<T, K: Hub, W: Slotting<T, K::Shared>> Input<T, K, W> {
    pub(crate) fn new(hub: StdArc<K>, lane: usize, producer: Producer<W::Slot>) -> Self {
        Input {
            hub,
            lane,
            producer,
            subscribed: false,
            stopped: false,
            _items: PhantomData,
        }
    }

    /// The input sent more than it was asked for.
    #[cold]
    fn overflow(&mut self, item: T) {
        self.stopped = true;
        W::refuse(self.hub.shared(), item, DropReason::Overflow);
        let inputs = self.hub.inputs();
        inputs.fail(Error::overflow(K::STAGE));
        inputs.finish(self.lane);
        self.hub.drain();
    }

    #[inline]
    fn push(&mut self, item: T) {
        if self.hub.inputs().is_cancelled() {
            return W::refuse(self.hub.shared(), item, DropReason::Cancelled);
        }
        let slot = W::slot(self.hub.shared(), item);
        match self.producer.push(slot) {
            Ok(()) => self.hub.drain(),
            Err(full) => self.overflow(W::unslot(full.into_inner())),
        }
    }
}

impl<T, K, W> Subscriber<T> for Input<T, K, W>
where
    T: Send,
    K: Hub,
    W: Slotting<T, K::Shared>,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscribed {
            // Rule 2.05.
            subscription.cancel();
            return;
        }
        self.subscribed = true;
        let inputs = self.hub.inputs();
        if inputs.attach(self.lane, subscription.clone()) {
            subscription.request(inputs.prefetch());
        } else {
            subscription.cancel();
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.stopped {
            return W::refuse(self.hub.shared(), item, DropReason::Cancelled);
        }
        self.push(item);
    }

    /// Pushes the run into the ring with one publication per free stretch of slots, and signals
    /// the drain once per stretch instead of once per item.
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let mut items = items;
        let mut used = 0;
        while !self.stopped && !self.hub.inputs().is_cancelled() {
            let free = self.producer.slots();
            if free == 0 {
                // Full: the next item (if any) is one too many unless the drain just made room.
                match items.next() {
                    Some(item) => {
                        used += 1;
                        self.push(item);
                        continue;
                    }
                    None => return used,
                }
            }
            let shared = self.hub.shared();
            let Ok(mut chunk) = self.producer.write_chunk(free) else {
                continue;
            };
            let written = chunk.fill_from_iter(items.by_ref().map(|item| W::slot(shared, item)));
            chunk.commit();
            used += written as u64;
            if written > 0 {
                self.hub.drain();
            }
            if written < free {
                return used;
            }
        }
        // Stopped mid-run: consume nothing more (the operator cancelled this input).
        used
    }

    fn on_error(&mut self, error: Error) {
        if self.stopped {
            return crate::error::report_undeliverable(&error);
        }
        self.stopped = true;
        let inputs = self.hub.inputs();
        inputs.fail(error);
        inputs.finish(self.lane);
        self.hub.drain();
    }

    fn on_complete(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.hub.inputs().finish(self.lane);
        self.hub.drain();
    }
}

/// What a fan-in operator does with the items in its rings: its part of the drain loop.
pub(crate) trait Drain: Send + Sized + 'static {
    /// The items the operator emits.
    type Out;
    /// What the operator shares with its inputs (options, a combiner, a ticket counter).
    type Shared: Send + Sync + 'static;
    /// The operator's name, for overflow errors.
    const STAGE: &'static str;

    /// Serves downstream demand from the rings. Returns the terminal signal once the stream is
    /// over; the core then cancels every input, discards what is held, and delivers it.
    fn emit<S: Subscriber<Self::Out>>(
        &mut self,
        cx: &Cx<'_, Self::Shared>,
        downstream: &mut S,
    ) -> Option<Result<(), Error>>;

    /// Empties every ring (on cancel, on a terminal signal, and for items that land later).
    fn discard_held(&mut self, shared: &Self::Shared);

    /// Whether an input's error overtakes the held items ([`ErrorMode::Immediate`](crate::ops::ErrorMode)).
    fn error_is_immediate(shared: &Self::Shared) -> bool {
        let _ = shared;
        false
    }
}

/// What a [`Drain`] sees of the core while it serves.
pub(crate) struct Cx<'a, Sh> {
    pub(crate) inputs: &'a Inputs,
    pub(crate) shared: &'a Sh,
    demand: &'a Demand,
    cancelled: &'a AtomicBool,
}

impl<Sh> Cx<'_, Sh> {
    /// The downstream's credits, counted locally for this pass.
    pub(crate) fn credits(&self) -> Credits<'_> {
        Credits {
            demand: self.demand,
            requested: self.demand.get(),
            emitted: 0,
        }
    }

    /// Whether the downstream cancelled (checked between runs; Relaxed, the pass re-checks it).
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Downstream credits during one pass: spent locally, written back to the shared counter when
/// the local view runs out and when the pass ends (on drop).
pub(crate) struct Credits<'a> {
    demand: &'a Demand,
    requested: u64,
    /// Credits used since `requested` was read; always `<= requested`.
    emitted: u64,
}

impl Credits<'_> {
    /// Credits available now ([`UNBOUNDED`] for unbounded demand); re-reads the shared counter
    /// only when the local view is spent.
    #[inline]
    pub(crate) fn available(&mut self) -> u64 {
        if self.requested == UNBOUNDED {
            return UNBOUNDED;
        }
        if self.emitted == self.requested {
            self.requested = if self.emitted == 0 {
                self.demand.get()
            } else {
                self.demand.produced(self.emitted)
            };
            self.emitted = 0;
        }
        self.requested - self.emitted
    }

    /// Records `n` credits used (at most what `available` returned).
    #[inline]
    pub(crate) fn spend(&mut self, n: u64) {
        if self.requested != UNBOUNDED {
            self.emitted += n;
        }
    }
}

impl Drop for Credits<'_> {
    fn drop(&mut self) {
        if self.requested != UNBOUNDED && self.emitted > 0 {
            self.demand.produced(self.emitted);
        }
    }
}

/// What only the owner of the gate touches.
struct Owned<D, S> {
    /// `None` once terminated or cancelled (the downstream subscriber is released, rule 3.13).
    downstream: Option<S>,
    drain: D,
}

/// One subscription of a fan-in operator: the downstream's subscription and every input's hub.
pub(crate) struct FanIn<D: Drain, S> {
    inputs: Inputs,
    /// Downstream demand: added by `request` on any thread, spent by the drain owner.
    demand: Demand,
    /// Set (AcqRel swap) by downstream `cancel`, or by the drain when it stops; read by the drain
    /// owner (Acquire once per pass, Relaxed between runs).
    cancelled: AtomicBool,
    /// Set (Release) by `request(0)`; the drain owner (Acquire) answers it with rule 3.9's error.
    invalid: AtomicBool,
    shared: D::Shared,
    /// The drain owner's state, behind the stage's drain gate.
    owned: GateCell<Owned<D, S>>,
}

impl<D, S> Hub for FanIn<D, S>
where
    D: Drain,
    S: Subscriber<D::Out> + 'static,
{
    type Shared = D::Shared;
    const STAGE: &'static str = D::STAGE;

    #[inline]
    fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    #[inline]
    fn shared(&self) -> &D::Shared {
        &self.shared
    }

    #[inline]
    fn drain(&self) {
        self.owned.drain(|owned| self.pass(owned));
    }
}

impl<D, S> Subscription for FanIn<D, S>
where
    D: Drain,
    S: Subscriber<D::Out> + 'static,
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
            self.inputs.cancel_all();
            self.drain();
        }
    }
}

impl<D, S> FanIn<D, S>
where
    D: Drain,
    S: Subscriber<D::Out> + 'static,
{
    /// Subscribes `downstream`, then the inputs (through `subscribe_inputs`), then drains.
    ///
    /// The gate is owned throughout: requests made meanwhile are only recorded, synchronous inputs
    /// stop at their prefetch, and the first pass sees every input subscribed.
    pub(crate) fn start(
        inputs: Inputs,
        shared: D::Shared,
        drain: D,
        downstream: S,
        subscribe_inputs: impl FnOnce(&StdArc<Self>),
    ) {
        let core = StdArc::new(FanIn {
            inputs,
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            shared,
            owned: GateCell::new(Owned {
                downstream: Some(downstream),
                drain,
            }),
        });
        let handle: SharedSubscription = core.clone();
        let owned = core.owned.enter_with(
            |owned| {
                let started = subscribe_owned(
                    owned,
                    handle,
                    |owned| owned.downstream.as_mut(),
                    |owned, panic| {
                        core.cancelled.store(true, Ordering::Release);
                        core.inputs.cancel_all();
                        if let Some(mut downstream) = owned.downstream.take() {
                            deliver_error(&mut downstream, panic);
                        }
                    },
                );
                if started {
                    subscribe_inputs(&core);
                }
            },
            |owned| core.pass(owned),
        );
        debug_assert!(owned.is_some(), "a fresh stage has no other signaller yet");
    }

    /// Subscribes input `lane` to `source`, unless the operator already stopped.
    pub(crate) fn subscribe_input<P, W>(
        self: &StdArc<Self>,
        source: &P,
        lane: usize,
        producer: Producer<W::Slot>,
    ) where
        P: Publisher,
        P::Item: Send + 'static,
        W: Slotting<P::Item, D::Shared>,
    {
        if self.inputs.is_cancelled() {
            return;
        }
        let input = Input::<P::Item, Self, W>::new(self.clone(), lane, producer);
        if let Err(panic) = catch("subscribe", || source.subscribe(input)) {
            self.inputs.fail(panic);
        }
    }

    fn pass(&self, owned: &mut Owned<D, S>) {
        let Some(mut downstream) = owned.downstream.take() else {
            // Stopped: an input's item in flight may still land in its ring.
            return owned.drain.discard_held(&self.shared);
        };
        if self.cancelled.load(Ordering::Acquire) {
            drop(downstream);
            return owned.drain.discard_held(&self.shared);
        }
        if self.invalid.load(Ordering::Acquire) {
            self.stop(owned);
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        if self.inputs.failed() && D::error_is_immediate(&self.shared) {
            let error = self.inputs.take_error();
            self.stop(owned);
            return deliver_error(&mut downstream, error);
        }
        let cx = Cx {
            inputs: &self.inputs,
            shared: &self.shared,
            demand: &self.demand,
            cancelled: &self.cancelled,
        };
        let drain = &mut owned.drain;
        let end = match catch("a stream stage", || drain.emit(&cx, &mut downstream)) {
            Ok(None) => {
                owned.downstream = Some(downstream);
                return;
            }
            Ok(Some(end)) => end,
            Err(panic) => Err(panic),
        };
        let cancelled = self.cancelled.swap(true, Ordering::AcqRel);
        self.inputs.cancel_all();
        owned.drain.discard_held(&self.shared);
        if cancelled {
            // The downstream cancelled during the last run: no terminal signal follows a cancel.
            if let Err(e) = end {
                crate::error::report_undeliverable(&e);
            }
            return;
        }
        crate::protocol::deliver_terminal(&mut downstream, end);
    }

    /// Stops before a terminal signal: no more items, every input cancelled, held items dropped.
    fn stop(&self, owned: &mut Owned<D, S>) {
        self.cancelled.store(true, Ordering::Release);
        self.inputs.cancel_all();
        owned.drain.discard_held(&self.shared);
    }
}
