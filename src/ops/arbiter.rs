//! The subscription arbiter: one downstream subscription over a sequence of upstream ones.
//!
//! Operators that switch upstreams (`concat`, `concat_map`, resubscribing retries) hand the
//! downstream this arbiter. It remembers the outstanding demand, and when the upstream changes it
//! asks the new one for whatever the old one still owed. Requests, switches, production and cancel
//! may race from different threads; a drain gate serialises them (Reactor's
//! `MultiSubscriptionSubscriber`), and upstream `request` calls are made outside the gate.

use crate::demand::{GateCell, UNBOUNDED};
use crate::protocol::{SharedSubscription, Subscription};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering};

/// What only the gate owner touches.
struct Owned {
    /// Outstanding demand not yet satisfied by the current upstream; `UNBOUNDED` is sticky.
    requested: u64,
    current: Option<SharedSubscription>,
}

pub(crate) struct Arbiter {
    /// Demand added while someone else owned the gate (saturating), folded in by the owner.
    missed_requested: AtomicU64,
    /// Items produced while someone else owned the gate, folded in by the owner.
    missed_produced: AtomicU64,
    /// A new upstream handed over while someone else owned the gate (cold path: a lock is fine,
    /// and it is never held across a call out).
    missed_subscription: Mutex<Option<SharedSubscription>>,
    /// Set by `request(0)`; the owner forwards it to the current upstream, which answers with the
    /// rule 3.9 error through its own serialised signal path.
    invalid: AtomicBool,
    /// Set by `cancel` (Release); read by the gate owner (Acquire).
    cancelled: AtomicBool,
    /// Behind the arbiter's drain gate.
    owned: GateCell<Owned>,
}

/// A call out to an upstream, made after the gate is released (never call out while owning it).
enum Call {
    Request(SharedSubscription, u64),
    Cancel(SharedSubscription),
}

impl Arbiter {
    pub(crate) fn new() -> Self {
        Arbiter {
            missed_requested: AtomicU64::new(0),
            missed_produced: AtomicU64::new(0),
            missed_subscription: Mutex::new(None),
            invalid: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            owned: GateCell::new(Owned {
                requested: 0,
                current: None,
            }),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Makes `upstream` the current subscription and asks it for the outstanding demand. The
    /// previous upstream is assumed finished (it completed) and is released, not cancelled.
    pub(crate) fn switch_to(&self, upstream: SharedSubscription) {
        *self.missed_subscription.lock() = Some(upstream);
        self.drain();
    }

    /// Records `n` items delivered downstream by the current upstream.
    pub(crate) fn produced(&self, n: u64) {
        if n != 0 {
            saturating_add(&self.missed_produced, n);
            self.drain();
        }
    }

    fn drain(&self) {
        let mut calls: smallvec::SmallVec<[Call; 2]> = smallvec::SmallVec::new();
        self.owned.drain(|owned| {
            let switched = self.missed_subscription.lock().take();
            let more = self.missed_requested.swap(0, Ordering::AcqRel);
            let produced = self.missed_produced.swap(0, Ordering::AcqRel);
            if self.cancelled.load(Ordering::Acquire) {
                calls.clear();
                calls.extend(owned.current.take().map(Call::Cancel));
                calls.extend(switched.map(Call::Cancel));
                return;
            }
            let mut r = owned.requested;
            if r != UNBOUNDED {
                r = r.saturating_add(more);
                if r != UNBOUNDED {
                    r = r.saturating_sub(produced);
                }
            }
            owned.requested = r;
            if let Some(next) = switched {
                owned.current = Some(next.clone());
                if r != 0 {
                    calls.push(Call::Request(next, r));
                }
            } else if more != 0 {
                if let Some(current) = &owned.current {
                    calls.push(Call::Request(current.clone(), more));
                }
            }
            if let Some(current) = &owned.current {
                if self.invalid.swap(false, Ordering::AcqRel) {
                    calls.push(Call::Request(current.clone(), 0));
                }
            }
        });
        for call in calls {
            match call {
                Call::Request(upstream, n) => upstream.request(n),
                Call::Cancel(upstream) => upstream.cancel(),
            }
        }
    }
}

fn saturating_add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

impl Subscription for Arbiter {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            saturating_add(&self.missed_requested, n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.drain();
        }
    }
}
