//! The publisher, subscriber and subscription behind [`Flux::scan`](crate::Flux::scan).
//!
//! `scan` emits its seed before any upstream item, so it owns one item that the upstream never
//! requested: the seed waits for the first downstream credit, and an upstream terminal that arrives
//! before the seed went down waits behind it. Until then a [`DrainGate`] serialises everything that
//! touches the downstream (its `request`/`cancel` from any thread, the upstream's terminal). Once the
//! seed is out the stage switches to `RUNNING` for good: from then on only the upstream's signal
//! thread touches the downstream, exactly like `map`, with no synchronisation per item.

use std::sync::Arc;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::demand::{DrainGate, UNBOUNDED};
use crate::error::{report_undeliverable, Error};
use crate::protocol::{
    cancel_quietly, catch, deliver_error, panicked, Publisher, SharedSubscription, Subscriber,
    Subscription,
};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, StdArc, UnsafeCell};

use super::run::{Counted, Deliver, Local, Uncounted};

/// Emits a seed, then the accumulator after each item. Built by [`Flux::scan`](crate::Flux::scan).
#[derive(Clone, Debug)]
pub struct Scan<P, A, F> {
    upstream: P,
    seed: A,
    f: Arc<F>,
}

impl<P, A, F> Scan<P, A, F> {
    pub(crate) fn new(upstream: P, seed: A, f: F) -> Self {
        Scan {
            upstream,
            seed,
            f: Arc::new(f),
        }
    }
}

impl<P, A, F> Publisher for Scan<P, A, F>
where
    P: Publisher,
    P::Item: 'static,
    A: Clone + Send + 'static,
    F: Fn(A, P::Item) -> A + Send + Sync + 'static,
{
    type Item = A;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<A> + 'static,
    {
        self.upstream.subscribe(ScanSubscriber {
            downstream: Some(subscriber),
            acc: Some(self.seed.clone()),
            f: self.f.clone(),
            shared: None,
            running: false,
        })
    }
}

/// The seed has not gone down yet; no upstream terminal either.
const PENDING: usize = 0;
/// The seed has not gone down yet, and the upstream terminated: its signal waits in `held`.
const HELD: usize = 1;
/// The seed went down: the upstream side owns the downstream from now on.
const RUNNING: usize = 2;
/// Terminated or cancelled; the downstream is gone.
const DONE: usize = 3;

struct Shared<S, A> {
    gate: DrainGate,
    /// `PENDING` → `HELD` (upstream side, CAS) → `DONE` (gate owner);
    /// `PENDING` → `RUNNING` (gate owner, CAS) → `DONE` (upstream side);
    /// `PENDING` → `DONE` (gate owner). The CASes are AcqRel and the loads Acquire: each move hands
    /// `downstream` (and `held`) from the side that made it to the side that reads it.
    phase: AtomicUsize,
    /// Downstream demand recorded while the seed is pending (saturating; `u64::MAX` = unbounded);
    /// forwarded upstream, less the seed's credit, when the stage starts running. Added to by
    /// `request` before it enters the gate and swapped to 0 by the gate owner (AcqRel both).
    pending: AtomicU64,
    /// `request(0)` recorded while the seed is pending (Release / Acquire).
    invalid: AtomicBool,
    /// The downstream cancelled (swap AcqRel in `cancel`, Acquire in the drain).
    cancelled: AtomicBool,
    /// The seed to emit; only the gate owner touches it, before `RUNNING`.
    seed: UnsafeCell<Option<A>>,
    /// The upstream's terminal (`Some(None)` = complete), written by the upstream side before its
    /// `PENDING` → `HELD` CAS and read by the gate owner only after seeing `HELD`.
    held: UnsafeCell<Option<Option<Error>>>,
    /// Before `RUNNING`: touched only by the owner of `gate`. In `RUNNING` and the `DONE` that follows
    /// it: only by the upstream side. `None` once released (rule 3.13).
    downstream: UnsafeCell<Option<S>>,
    upstream: SharedSubscription,
}

// Soundness: the non-Sync fields are handed between threads by `phase` as documented on it: `seed` and
// `downstream` belong to the gate owner (serialised by the gate's AcqRel RMWs) until the owner's
// Release CAS to `RUNNING`, then to the upstream side, which acquires that CAS before its first
// access; `held` is written before the upstream side's Release CAS to `HELD` and read only by a gate
// owner that acquired it. S and A are Send, so moving their use between threads is sound.
// SAFETY: every access follows the protocol just described.
unsafe impl<S: Send, A: Send> Sync for Shared<S, A> {}
// (`Send` is automatic: every field is Send under these bounds.)

/// What a drain pass leaves to do once it no longer borrows the downstream.
enum After {
    Nothing,
    /// Forward this much demand upstream (the stage is running).
    Request(u64),
}

impl<S: Subscriber<A>, A> Shared<S, A> {
    fn drain(&self) {
        if self.gate.enter() {
            self.drain_owned();
        }
    }

    fn drain_owned(&self) {
        self.gate.run_owned(|| {
            match self.pass() {
                After::Nothing => {}
                // Outside the pass: a synchronous upstream may deliver items from inside `request`.
                After::Request(n) => self.upstream.request(n),
            }
        });
    }

    fn pass(&self) -> After {
        match self.phase.load(Ordering::Acquire) {
            RUNNING => {
                // Demand recorded just before the switch. The downstream is not ours any more.
                if self.invalid.swap(false, Ordering::AcqRel) {
                    self.upstream.request(0);
                }
                return self.forward_pending();
            }
            DONE => return After::Nothing,
            _ => {}
        }
        let seed_out = self.downstream.with_mut(|slot| {
            // SAFETY: before `RUNNING` the downstream belongs to the gate owner, which we are.
            self.pass_pending(unsafe { &mut *slot })
        });
        if !seed_out {
            return After::Nothing;
        }
        // Hand the downstream over only now that no reference to it is live on this thread: from
        // the moment the CAS succeeds the upstream's thread may use it.
        match self
            .phase
            .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => self.forward_pending(),
            Err(_held) => {
                debug_assert_eq!(_held, HELD);
                self.downstream.with_mut(|slot| {
                    // SAFETY: still ours: the phase is `HELD`, which only the gate owner leaves.
                    self.deliver_held(unsafe { &mut *slot })
                });
                After::Nothing
            }
        }
    }

    /// A pass before the seed went down: we own the downstream. True once the seed went down and
    /// the downstream did not cancel: the caller then hands the downstream over.
    fn pass_pending(&self, slot: &mut Option<S>) -> bool {
        let Some(downstream) = slot.as_mut() else {
            return false;
        };
        if self.cancelled.load(Ordering::Acquire) {
            self.release(slot);
            return false;
        }
        if self.invalid.load(Ordering::Acquire) {
            self.fail(slot, Error::invalid_demand());
            return false;
        }
        if self.pending.load(Ordering::Acquire) == 0 {
            return false;
        }
        let seed = self.seed.with_mut(|seed| {
            // SAFETY: only the gate owner touches `seed`, before `RUNNING`.
            unsafe { (*seed).take() }
        });
        let Some(seed) = seed else { return false };
        if let Err(panic) = catch("on_next", || downstream.on_next(seed)) {
            // Rule 2.13: the panicking subscriber counts as cancelled; it hears of the panic.
            self.fail(slot, panic);
            return false;
        }
        self.spend_seed_credit();
        if self.cancelled.load(Ordering::Acquire) {
            self.release(slot);
            return false;
        }
        true
    }

    /// After the seed: the upstream's terminal that waited behind it.
    fn deliver_held(&self, slot: &mut Option<S>) {
        self.phase.store(DONE, Ordering::Release);
        let terminal = self.held.with_mut(|held| {
            // SAFETY: we acquired `HELD`, so the upstream side wrote `held` and is done with it.
            unsafe { (*held).take() }
        });
        if let Some(mut downstream) = slot.take() {
            match terminal {
                Some(Some(error)) => deliver_error(&mut downstream, error),
                _ => crate::protocol::deliver_complete::<A, _>(&mut downstream),
            }
        }
    }

    fn release(&self, slot: &mut Option<S>) {
        self.phase.store(DONE, Ordering::Release);
        *slot = None;
    }

    fn add_pending(&self, n: u64) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |p| {
                Some(p.saturating_add(n))
            });
    }

    /// The seed used one credit of the pending demand (unbounded stays unbounded).
    fn spend_seed_credit(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |p| match p {
                UNBOUNDED => None,
                p => Some(p - 1),
            });
    }

    fn forward_pending(&self) -> After {
        match self.pending.swap(0, Ordering::AcqRel) {
            0 => After::Nothing,
            n => After::Request(n),
        }
    }

    #[cold]
    fn fail(&self, slot: &mut Option<S>, error: Error) {
        self.phase.store(DONE, Ordering::Release);
        self.cancelled.store(true, Ordering::Release);
        self.upstream.cancel();
        if let Some(mut downstream) = slot.take() {
            deliver_error(&mut downstream, error);
        }
    }
}

impl<S: Subscriber<A> + Send, A: Send> Subscription for Shared<S, A> {
    fn request(&self, n: u64) {
        if self.phase.load(Ordering::Acquire) == RUNNING {
            // Running: 1:1 from here on, and a `request(0)` is the upstream's to answer.
            return self.upstream.request(n);
        }
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.add_pending(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.upstream.cancel();
            self.drain();
        }
    }
}

struct ScanSubscriber<S, A, F> {
    /// The downstream until `on_subscribe` moves it into `shared`.
    downstream: Option<S>,
    /// The accumulator; `None` after a terminal signal (or a panic in `f`).
    acc: Option<A>,
    f: Arc<F>,
    shared: Option<StdArc<Shared<S, A>>>,
    /// `phase` was seen `RUNNING`: only this side can move it on, so the downstream is ours for good.
    running: bool,
}

impl<S, A, F> ScanSubscriber<S, A, F> {
    /// Whether the downstream is ours (the seed went down), caching the answer once it is yes.
    #[inline]
    fn running(&mut self) -> bool {
        if !self.running {
            self.running = self
                .shared
                .as_ref()
                .is_some_and(|s| s.phase.load(Ordering::Acquire) == RUNNING);
        }
        self.running
    }

    /// Runs `f` on the downstream, if it is ours and still there.
    #[inline]
    fn with_downstream<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        if !self.running() {
            return None;
        }
        let shared = self.shared.as_ref()?;
        shared.downstream.with_mut(|slot| {
            // SAFETY: `running` means we acquired `RUNNING`, and only this side moves on from it:
            // the downstream is ours (see `Shared::phase`).
            unsafe { (*slot).as_mut() }.map(f)
        })
    }

    fn terminate(&mut self, terminal: Option<Error>)
    where
        S: Subscriber<A>,
    {
        self.acc = None;
        let Some(shared) = self.shared.take() else {
            if let Some(error) = terminal {
                report_undeliverable(&error);
            }
            return;
        };
        let mut terminal = terminal;
        if !self.running && shared.phase.load(Ordering::Acquire) != RUNNING {
            shared.held.with_mut(|held| {
                // SAFETY: nobody reads `held` before our CAS to `HELD` below; we write it once.
                unsafe { *held = Some(terminal) }
            });
            match shared
                .phase
                .compare_exchange(PENDING, HELD, Ordering::AcqRel, Ordering::Acquire)
            {
                // The gate owner delivers it once the seed went down.
                Ok(_) => return shared.drain(),
                // Cancelled or failed meanwhile: nobody left to tell.
                Err(DONE) => return,
                // The seed went down meanwhile: the downstream is ours, deliver it ourselves.
                Err(_) => {
                    terminal = shared
                        .held
                        .with_mut(|held| {
                            // SAFETY: the CAS failed, so no gate owner will read `held`: it is ours.
                            unsafe { (*held).take() }
                        })
                        .flatten();
                }
            }
        }
        // SAFETY (for the accesses below): the phase is `RUNNING`, so the downstream is ours.
        shared.phase.store(DONE, Ordering::Release);
        let downstream = shared.downstream.with_mut(|slot| {
            // SAFETY: see above; nobody else touches it in `RUNNING` or the `DONE` after it.
            unsafe { (*slot).take() }
        });
        if let Some(mut downstream) = downstream {
            let end = terminal.map_or(Ok(()), Err);
            crate::protocol::deliver_terminal(&mut downstream, end);
        }
    }

    /// An item arrived before the stage asked upstream for any: the upstream ignores backpressure.
    #[cold]
    fn overflow(&mut self)
    where
        S: Subscriber<A>,
    {
        if let Some(shared) = &self.shared {
            shared.upstream.cancel();
        }
        self.terminate(Some(Error::overflow("scan")))
    }
}

impl<T, S, A, F> Subscriber<T> for ScanSubscriber<S, A, F>
where
    S: Subscriber<A> + Send + 'static,
    A: Clone + Send + 'static,
    F: Fn(A, T) -> A + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(downstream) = self.downstream.take() else {
            // Rule 2.05: already subscribed.
            return subscription.cancel();
        };
        let shared = StdArc::new(Shared {
            gate: DrainGate::new(),
            phase: AtomicUsize::new(PENDING),
            pending: AtomicU64::new(0),
            invalid: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            seed: UnsafeCell::new(self.acc.clone()),
            held: UnsafeCell::new(None),
            downstream: UnsafeCell::new(Some(downstream)),
            upstream: subscription,
        });
        self.shared = Some(shared.clone());
        // Own the gate while the downstream's on_subscribe runs, so what it requests or cancels
        // there is only recorded, and served after it returns (rule 1.03).
        let owned = shared.gate.enter();
        debug_assert!(owned);
        let handle: SharedSubscription = shared.clone();
        shared.downstream.with_mut(|slot| {
            // SAFETY: we own the gate and the phase is `PENDING`: the downstream is ours.
            let slot = unsafe { &mut *slot };
            let downstream = slot.as_mut().expect("fresh stage");
            if let Err(panic) = catch("on_subscribe", || downstream.on_subscribe(handle)) {
                shared.fail(slot, panic);
            }
        });
        shared.drain_owned();
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.running() {
            return self.not_running();
        }
        let Some(acc) = self.acc.take() else { return };
        let step = catch_unwind(AssertUnwindSafe(|| {
            let acc = (self.f)(acc, item);
            self.acc = Some(acc.clone());
            self.with_downstream(|downstream| downstream.on_next(acc));
        }));
        if let Err(panic) = step {
            self.panicked(panic)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if !self.running() {
            self.not_running();
            return true;
        }
        let Some(acc) = self.acc.take() else {
            return true;
        };
        let step = catch_unwind(AssertUnwindSafe(|| {
            let acc = (self.f)(acc, item);
            self.acc = Some(acc.clone());
            self.with_downstream(|downstream| downstream.try_on_next(acc))
                .unwrap_or(true)
        }));
        step.unwrap_or_else(|panic| {
            self.panicked(panic);
            true
        })
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if !self.running() {
            return items.fold(0, |used, item| used + self.try_on_next(item) as u64);
        }
        self.run::<Counted, I>(items)
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        if !self.running() {
            // Before the seed went down (an upstream that ignores backpressure): as counted.
            self.on_next_iter(items);
            return;
        }
        // Running, demand passes straight through (`Shared::request`): the downstream's demand is
        // the caller's.
        self.run::<Uncounted, I>(items)
    }

    fn on_error(&mut self, error: Error) {
        self.terminate(Some(error))
    }

    fn on_complete(&mut self) {
        self.terminate(None)
    }
}

impl<S, A, F> ScanSubscriber<S, A, F>
where
    S: Subscriber<A>,
{
    /// A run while the downstream is ours: the accumulator lives in a local for the whole run
    /// and goes back to its field once, when the run ends or a panic unwinds through it. One
    /// catch around the run: a panic in `f` (or downstream) ends the stage here.
    #[inline(always)]
    fn run<D: Deliver, I: Iterator>(&mut self, items: I) -> D::Out
    where
        A: Clone,
        F: Fn(A, I::Item) -> A,
    {
        let ScanSubscriber { acc, f, shared, .. } = self;
        let (Some(shared), f) = (shared.as_ref(), &**f) else {
            return D::Out::default();
        };
        let run = catch_unwind(AssertUnwindSafe(|| {
            shared.downstream.with_mut(|slot| {
                // SAFETY: `running` means the downstream is ours (see `Shared::phase`).
                let Some(downstream) = (unsafe { &mut *slot }).as_mut() else {
                    return D::Out::default();
                };
                let run = ScanRun {
                    items,
                    acc: Local::take(acc),
                    f,
                };
                // Checked here, on the run's own copy, so the check per item folds away.
                if run.acc.value.is_none() {
                    return D::Out::default();
                }
                D::deliver(downstream, run)
            })
        }));
        run.unwrap_or_else(|panic| {
            self.panicked(panic);
            D::Out::default()
        })
    }

    /// `f` or the downstream panicked while the downstream is ours: cancel upstream, and the
    /// panic goes down as the terminal error (rule 2.13).
    #[cold]
    #[inline(never)]
    fn panicked(&mut self, payload: Box<dyn std::any::Any + Send>) {
        let error = panicked("scan", payload);
        if let Some(shared) = &self.shared {
            cancel_quietly(&shared.upstream);
        }
        self.terminate(Some(error))
    }

    #[cold]
    fn not_running(&mut self) {
        // After our own terminal an in-flight item is simply dropped (rule 1.08).
        if self.shared.is_some() {
            self.overflow()
        }
    }
}

/// A run through `scan`: the accumulator after each item. The run owns the accumulator (it goes
/// back to the stage when the run drops), so it stays in a register as the run is moved down the
/// chain. `None` (after a panic in `f`) ends the run.
struct ScanRun<'a, I, A, F> {
    items: I,
    acc: Local<'a, Option<A>>,
    f: &'a F,
}

impl<I, A, F> Iterator for ScanRun<'_, I, A, F>
where
    I: Iterator,
    A: Clone,
    F: Fn(A, I::Item) -> A,
{
    type Item = A;

    #[inline(always)]
    fn next(&mut self) -> Option<A> {
        let item = self.items.next()?;
        let next = (self.f)(self.acc.value.take()?, item);
        self.acc.value = Some(next.clone());
        Some(next)
    }

    /// The whole run as one internal loop (the upstream adapters' own `fold`s). The accumulator
    /// is `Some` on entry (checked where the run is made) and stays so: only a panic in `f` leaves
    /// it `None`, and that unwinds out of the loop.
    #[inline(always)]
    fn fold<B, G>(self, init: B, mut g: G) -> B
    where
        G: FnMut(B, A) -> B,
    {
        let ScanRun { items, mut acc, f } = self;
        items.fold(init, |b, item| match acc.value.take() {
            Some(a) => {
                let next = f(a, item);
                acc.value = Some(next.clone());
                g(b, next)
            }
            None => b,
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.items.size_hint().1)
    }
}

impl<S, A, F> Drop for ScanSubscriber<S, A, F> {
    fn drop(&mut self) {
        // The upstream lets go of us after a cancel: if the downstream is ours, release it too, which
        // breaks the cycle downstream → its handle (`Shared`) → downstream (rule 3.13). Before
        // `RUNNING` the gate owner releases it instead.
        if let Some(shared) = self.shared.take() {
            if self.running || shared.phase.load(Ordering::Acquire) == RUNNING {
                let downstream = shared.downstream.with_mut(|slot| {
                    // SAFETY: in `RUNNING` the downstream belongs to this side.
                    unsafe { (*slot).take() }
                });
                drop(downstream);
            }
        }
    }
}
