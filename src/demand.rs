//! Lock-free demand accounting and the drain-loop gate.
//!
//! Two small atomics carry the whole Reactive Streams concurrency story of a stage:
//!
//! - [`Demand`] counts outstanding `request(n)` credits, saturating at `u64::MAX` = unbounded
//!   (rules 3.8, 3.17).
//! - [`DrainGate`] is the work-in-progress counter: whoever moves it from 0 owns the drain loop and
//!   is the only thread that signals the subscriber; everyone else (a `request` from another thread,
//!   a re-entrant `request` from inside `on_next`, a `cancel`) just increments it and leaves. The owner
//!   loops until it has seen every increment. This gives rule 1.03 (signals never overlap) and rule
//!   3.03 (recursion depth 1) in one mechanism.
//!
//! ```
//! use backflow::demand::{Demand, DrainGate};
//!
//! let demand = Demand::new();
//! let gate = DrainGate::new();
//! demand.add(3);
//! if gate.enter() {
//!     let mut missed = 1;
//!     loop {
//!         let mut emitted = 0;
//!         while emitted < demand.get() { emitted += 1; } // deliver items here
//!         demand.produced(emitted);
//!         missed = gate.leave(missed);
//!         if missed == 0 { break; }
//!     }
//! }
//! assert_eq!(demand.get(), 0);
//! ```

use std::any::Any;

use crate::error::Error;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// The demand value that means "unbounded": no accounting is needed any more.
pub const UNBOUNDED: u64 = u64::MAX;

/// Outstanding demand: a saturating `u64` credit counter where `u64::MAX` means unbounded.
#[derive(Debug, Default)]
pub struct Demand {
    /// Credits requested and not yet produced, in `0..=u64::MAX`; `u64::MAX` is sticky (unbounded).
    /// `add` is AcqRel so a requester's writes happen-before the drain that serves its credits.
    outstanding: AtomicU64,
}

impl Demand {
    /// Zero demand.
    pub fn new() -> Self {
        Demand {
            outstanding: AtomicU64::new(0),
        }
    }

    /// Adds `n` credits, saturating at [`UNBOUNDED`]. Returns the value before the add.
    #[inline]
    pub fn add(&self, n: u64) -> u64 {
        let mut current = self.outstanding.load(Ordering::Relaxed);
        loop {
            if current == UNBOUNDED {
                return UNBOUNDED;
            }
            let next = current.saturating_add(n);
            match self.outstanding.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(previous) => return previous,
                Err(actual) => current = actual,
            }
        }
    }

    /// The outstanding demand now.
    #[inline]
    pub fn get(&self) -> u64 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Whether demand is unbounded (no accounting needed).
    #[inline]
    pub fn is_unbounded(&self) -> bool {
        self.get() == UNBOUNDED
    }

    /// Records that `n` items were delivered against the demand; returns what is left.
    ///
    /// Unbounded demand stays unbounded. `n` must not exceed the outstanding demand (the caller is
    /// the drain-loop owner, the only one that consumes credits).
    #[inline]
    pub fn produced(&self, n: u64) -> u64 {
        let mut current = self.outstanding.load(Ordering::Relaxed);
        loop {
            if current == UNBOUNDED {
                return UNBOUNDED;
            }
            debug_assert!(n <= current, "produced {n} with only {current} requested");
            let next = current.saturating_sub(n);
            match self.outstanding.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes all outstanding demand (sets it to zero), returning it; unbounded stays unbounded.
    #[inline]
    pub fn take(&self) -> u64 {
        let mut current = self.outstanding.load(Ordering::Relaxed);
        loop {
            if current == UNBOUNDED || current == 0 {
                return current;
            }
            match self.outstanding.compare_exchange_weak(
                current,
                0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return current,
                Err(actual) => current = actual,
            }
        }
    }
}

/// The work-in-progress gate that serialises a stage's drain loop.
///
/// ```
/// use backflow::demand::DrainGate;
/// let gate = DrainGate::new();
/// assert!(gate.enter());      // we own the drain
/// assert!(!gate.enter());     // someone else signalled while we drain: recorded, not run
/// assert_eq!(gate.leave(1), 1); // one missed signal: drain once more
/// assert_eq!(gate.leave(1), 0); // done, gate released
/// ```
#[derive(Debug, Default)]
pub struct DrainGate {
    /// Number of drain requests not yet seen by the owner; 0 = nobody drains. `enter` / `leave` are
    /// AcqRel so each pass of the owner sees every write made before the `enter` that it answers.
    wip: AtomicUsize,
}

impl DrainGate {
    /// A released gate.
    pub fn new() -> Self {
        DrainGate {
            wip: AtomicUsize::new(0),
        }
    }

    /// Signals that there is work. Returns `true` if the caller now owns the drain loop and must run
    /// it (starting with `missed = 1`) until [`leave`](Self::leave) returns 0.
    #[inline]
    pub fn enter(&self) -> bool {
        self.wip.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// Ends one pass of the drain loop that saw `missed` signals. Returns the signals that arrived
    /// meanwhile: 0 means the gate is released and the caller must stop touching the guarded state.
    #[inline]
    pub fn leave(&self, missed: usize) -> usize {
        self.wip.fetch_sub(missed, Ordering::AcqRel) - missed
    }

    /// Signals work; if the caller becomes the owner, runs `pass` until every signal is seen.
    ///
    /// The drain loop of every stage, written once: whoever moves the gate from 0 runs `pass`,
    /// then again for each signal that arrived meanwhile, and releases the gate when none did.
    ///
    /// ```
    /// use backflow::demand::DrainGate;
    /// let gate = DrainGate::new();
    /// let mut passes = 0;
    /// gate.run(|| passes += 1);
    /// assert_eq!(passes, 1);
    /// assert!(!gate.is_busy());
    /// ```
    #[inline]
    pub fn run(&self, pass: impl FnMut()) {
        if self.enter() {
            self.run_owned(pass);
        }
    }

    /// Runs `pass` until every signal is seen, then releases the gate. The caller must own the
    /// gate ([`enter`](Self::enter) returned `true`) and must not have left it.
    ///
    /// # Panics
    ///
    /// None escape. A panic out of a pass (a stage catches its users' panics itself, so this is
    /// one from an item's or a subscriber's `Drop`, or from a panic payload's own `Drop`) is
    /// reported to the [error hook](crate::set_error_hook) and counts as the end of that pass: the
    /// signals it answered are left, later ones get a pass of their own, and the gate is released
    /// as usual. Without that the gate would stay taken and the stage would never drain again.
    ///
    /// ```
    /// use backflow::demand::DrainGate;
    /// let gate = DrainGate::new();
    /// gate.run(|| panic!("a destructor panicked")); // reported, not unwound
    /// assert!(!gate.is_busy());
    /// let mut passes = 0;
    /// gate.run(|| passes += 1);
    /// assert_eq!(passes, 1);
    /// ```
    #[inline]
    pub fn run_owned(&self, mut pass: impl FnMut()) {
        let mut missed = 1;
        loop {
            // One catch around the whole run: a landing pad, free until something unwinds.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.passes(&mut missed, &mut pass)
            }));
            match run {
                Ok(()) => return,
                Err(payload) => {
                    report_escaped(payload);
                    missed = self.leave(missed);
                    if missed == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// Passes until the gate is released; `missed` always holds the signals the current pass
    /// answers, so that a pass that unwinds can still be left.
    #[inline(always)]
    fn passes(&self, missed: &mut usize, pass: &mut impl FnMut()) {
        loop {
            pass();
            *missed = self.leave(*missed);
            if *missed == 0 {
                return;
            }
        }
    }

    /// Whether some thread is draining (or about to). For diagnostics and tests only.
    pub fn is_busy(&self) -> bool {
        self.wip.load(Ordering::Acquire) != 0
    }

    /// Whether nobody owns the drain loop, read with a SeqCst load.
    ///
    /// For a hand-off that signals without a read-modify-write: a producer that published its
    /// work with a SeqCst RMW (a ring's claim) and then sees the gate busy may leave the work to
    /// the owner, provided the owner, after it left the gate, issues a SeqCst fence and looks for
    /// work once more (C++20 \[atomics.order\] p4: either the load is ordered after the owner's
    /// `leave` and sees the gate free, or the owner's look sees the work). Loom regards SeqCst
    /// accesses as AcqRel, so under `cfg(loom)` callers put a SeqCst fence before this load.
    ///
    /// ```
    /// use backflow::demand::DrainGate;
    /// let gate = DrainGate::new();
    /// assert!(gate.is_idle());
    /// assert!(gate.enter());
    /// assert!(!gate.is_idle());
    /// ```
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.wip.load(Ordering::SeqCst) == 0
    }
}

/// Reports a panic that escaped a drain pass. Dropping the payload runs its destructor, which may
/// panic in turn; that one is swallowed (there is nobody left to tell), never unwound.
#[cold]
fn report_escaped(payload: Box<dyn Any + Send>) {
    let error = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Error::panicked("a drain pass", payload)
    }));
    if let Ok(error) = error {
        crate::error::report_undeliverable(&error);
    }
}

/// State owned by whoever holds a [`DrainGate`]: a stage's downstream subscriber and whatever its
/// drain loop alone touches.
///
/// The only way in is through the gate: [`drain`](Self::drain) signals work and, if the caller
/// becomes the owner, hands `&mut T` to each pass until every signal is seen;
/// [`enter_with`](Self::enter_with) does the same after a first step of its own (a stage calls
/// `on_subscribe` there, so that requests made inside it are served after it returns, rule 1.03).
/// Signals from other threads (`request`, `cancel`, an upstream item) never block and never touch
/// `T`; one thread at a time runs passes, and each pass happens-before the next (the gate's AcqRel
/// read-modify-writes order them). This is the one place where a stage's single-owner state is
/// declared `Sync`.
///
/// A panic that escapes a pass is reported and ends that pass (see [`DrainGate::run_owned`]).
///
/// ```
/// use backflow::demand::GateCell;
///
/// let cell = GateCell::new(Vec::new());
/// cell.drain(|seen: &mut Vec<u32>| seen.push(1));
/// let first = cell.enter_with(|seen| seen.len(), |seen| seen.push(2));
/// assert_eq!(first, Some(1));
/// assert_eq!(cell.into_inner(), vec![1, 2]);
/// ```
pub struct GateCell<T> {
    gate: DrainGate,
    /// Touched only by the gate's owner (from `enter` returning true until `leave` returns 0), or
    /// through `&mut self`.
    state: UnsafeCell<T>,
}

// `state` is reached only inside `drain` / `enter_with`, by the one thread that moved `gate` from
// 0 until its `leave` returns 0 (or through `&mut self`); the gate's AcqRel RMWs make each owner's
// accesses happen-before the next owner's. T: Send suffices, since at most one thread holds a
// `&mut T` at a time and none holds a `&T` across owners. (`Send` is automatic.)
// SAFETY: only the gate's current owner touches `state` (above), so sharing the cell is sound.
unsafe impl<T: Send> Sync for GateCell<T> {}

impl<T> std::fmt::Debug for GateCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateCell")
            .field("busy", &self.is_busy())
            .finish_non_exhaustive()
    }
}

impl<T> GateCell<T> {
    /// A cell holding `state`, with its gate released.
    pub fn new(state: T) -> Self {
        GateCell {
            gate: DrainGate::new(),
            state: UnsafeCell::new(state),
        }
    }

    /// Signals work; if the caller becomes the owner, runs `pass` on the state until every signal
    /// (this one and all that arrive meanwhile) is seen, then releases the gate.
    #[inline]
    pub fn drain(&self, mut pass: impl FnMut(&mut T)) {
        if self.gate.enter() {
            self.run_owned(&mut pass);
        }
    }

    /// Signals work; if the caller becomes the owner, runs `first` on the state, then `pass`
    /// until every signal is seen. Returns what `first` returned, or `None` when another thread
    /// owned the gate (the signal is recorded, `first` did not run) or `first` panicked (reported,
    /// as a pass would be).
    ///
    /// The subscribe protocol of a stage: own the gate while calling the downstream's
    /// `on_subscribe`, so that requests made inside it are only recorded, and the first items flow
    /// after it returns.
    pub fn enter_with<R>(
        &self,
        first: impl FnOnce(&mut T) -> R,
        mut pass: impl FnMut(&mut T),
    ) -> Option<R> {
        if !self.gate.enter() {
            return None;
        }
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: we own the gate (entered above, not yet left).
            self.state.with_mut(|state| first(unsafe { &mut *state }))
        }));
        let first = first.map_err(report_escaped).ok();
        self.run_owned(&mut pass);
        first
    }

    #[inline]
    fn run_owned(&self, pass: &mut impl FnMut(&mut T)) {
        self.gate.run_owned(|| {
            // SAFETY: `run_owned` runs passes only while the caller owns the gate.
            self.state.with_mut(|state| pass(unsafe { &mut *state }))
        });
    }

    /// Whether some thread is draining (or about to). For diagnostics and tests only.
    pub fn is_busy(&self) -> bool {
        self.gate.is_busy()
    }

    /// [`DrainGate::is_idle`] of this cell's gate: nobody owns it (a SeqCst load).
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.gate.is_idle()
    }

    /// The state, through exclusive access (no gate needed).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every other access, gate owner or not.
        self.state.with_mut(|state| unsafe { &mut *state })
    }

    /// The state, consuming the cell.
    pub fn into_inner(self) -> T {
        self.state.into_inner()
    }
}

/// Batch replenishment for prefetching stages (Reactor's rule): request `prefetch` up front, then
/// each time `limit = prefetch - prefetch / 4` items have been consumed, request `limit` more.
///
/// ```
/// use backflow::demand::Replenish;
/// let mut r = Replenish::new(256);
/// assert_eq!(r.initial(), 256);
/// for _ in 0..191 { assert_eq!(r.consumed(1), 0); }
/// assert_eq!(r.consumed(1), 192); // 75% consumed: top up
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Replenish {
    prefetch: u64,
    /// Items per top-up, in `1..=prefetch`; `UNBOUNDED` when the prefetch is unbounded.
    limit: u64,
    /// Items consumed since the last top-up, in `0..limit`.
    consumed: u64,
}

impl Replenish {
    /// Top up when 75% of `prefetch` is consumed. `prefetch == UNBOUNDED` never tops up.
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn new(prefetch: u64) -> Self {
        assert!(prefetch > 0, "prefetch must be at least 1");
        let limit = if prefetch == UNBOUNDED {
            UNBOUNDED
        } else {
            (prefetch - prefetch / 4).max(1)
        };
        Replenish {
            prefetch,
            limit,
            consumed: 0,
        }
    }

    /// Top up each time `prefetch - low_tide` items are consumed (`low_tide` < `prefetch`).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0 or `low_tide >= prefetch`.
    pub fn with_low_tide(prefetch: u64, low_tide: u64) -> Self {
        assert!(prefetch > 0, "prefetch must be at least 1");
        assert!(
            low_tide < prefetch,
            "low tide {low_tide} must be below the prefetch {prefetch}"
        );
        Replenish {
            prefetch,
            limit: prefetch - low_tide,
            consumed: 0,
        }
    }

    /// The demand to request up front.
    pub fn initial(&self) -> u64 {
        self.prefetch
    }

    /// Whether this never tops up (unbounded prefetch).
    pub fn is_unbounded(&self) -> bool {
        self.limit == UNBOUNDED
    }

    /// Records `n` consumed items; returns how many to request now (0: nothing yet).
    #[inline]
    pub fn consumed(&mut self, n: u64) -> u64 {
        if self.limit == UNBOUNDED {
            return 0;
        }
        self.consumed += n;
        if self.consumed >= self.limit {
            let top_up = self.consumed;
            self.consumed = 0;
            top_up
        } else {
            0
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::sync::atomic::Ordering::SeqCst;

    /// A panic payload whose own destructor panics (the second panic of `protocol::catch`).
    struct Nasty;
    impl Drop for Nasty {
        fn drop(&mut self) {
            panic!("a payload's destructor");
        }
    }

    #[test]
    fn a_panicking_pass_releases_the_gate() {
        let gate = DrainGate::new();
        gate.run(|| panic!("an item's destructor"));
        assert!(!gate.is_busy());
        let passes = StdCount::new(0);
        gate.run(|| {
            passes.fetch_add(1, SeqCst);
        });
        assert_eq!(passes.load(SeqCst), 1, "the stage still drains");
    }

    #[test]
    fn a_payload_that_panics_on_drop_is_swallowed() {
        let gate = DrainGate::new();
        gate.run(|| std::panic::panic_any(Nasty));
        assert!(!gate.is_busy());
    }

    #[test]
    fn signals_missed_during_a_panicking_pass_get_their_pass() {
        let gate = DrainGate::new();
        let passes = StdCount::new(0);
        gate.run(|| {
            if passes.fetch_add(1, SeqCst) == 0 {
                // Another thread signals while this pass runs; then the pass unwinds.
                assert!(!gate.enter());
                panic!("after a signal arrived");
            }
        });
        assert_eq!(passes.load(SeqCst), 2, "the missed signal got a pass");
        assert!(!gate.is_busy());
    }

    #[test]
    fn gate_cell_serves_signals_through_the_gate() {
        let cell = GateCell::new(0u32);
        cell.drain(|n| *n += 1);
        let started = cell.enter_with(
            |n| {
                // A re-entrant signal from inside the first step is recorded, then served.
                cell.drain(|_| unreachable!("the owner runs it"));
                *n
            },
            |n| *n += 10,
        );
        assert_eq!(started, Some(1));
        assert_eq!(
            cell.into_inner(),
            21,
            "one pass for the entry, one for the missed signal"
        );
    }

    #[test]
    fn gate_cell_survives_a_panicking_first_step() {
        let cell = GateCell::new(0u32);
        let started: Option<()> = cell.enter_with(|_| panic!("on_subscribe's drop"), |n| *n += 1);
        assert_eq!(started, None);
        assert!(!cell.is_busy());
        cell.drain(|n| *n += 1);
        assert_eq!(cell.into_inner(), 2);
    }
}
