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

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

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
    #[inline]
    pub fn run_owned(&self, mut pass: impl FnMut()) {
        let mut missed = 1;
        loop {
            pass();
            missed = self.leave(missed);
            if missed == 0 {
                return;
            }
        }
    }

    /// Whether some thread is draining (or about to). For diagnostics and tests only.
    pub fn is_busy(&self) -> bool {
        self.wip.load(Ordering::Acquire) != 0
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
