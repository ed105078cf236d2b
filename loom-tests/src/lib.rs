//! Model checks (loom) of backflow's atomic protocols live in `tests/`, one file per protocol.
//!
//! Run them with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p backflow-loom-tests --release`.
//!
//! This library holds what the models share: [`Tracked`] items that record their drops in a
//! [`DropLog`], so a model can assert that every item was dropped exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Per-item drop counts of one model run.
///
/// Plain std atomics on purpose: loom runs the model's threads one at a time and switches only at
/// loom operations, so these are bookkeeping, not part of the protocol under test.
#[derive(Clone, Debug)]
pub struct DropLog {
    drops: Arc<Vec<AtomicUsize>>,
}

impl DropLog {
    /// A log for items `0..items`.
    pub fn new(items: usize) -> Self {
        DropLog {
            drops: Arc::new((0..items).map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    /// A tracked item with id `id`.
    pub fn item(&self, id: usize) -> Tracked {
        Tracked {
            id,
            log: self.clone(),
        }
    }

    /// How many times item `id` was dropped.
    pub fn drops(&self, id: usize) -> usize {
        self.drops[id].load(Ordering::Relaxed)
    }

    /// Asserts that every item was dropped exactly once.
    pub fn assert_each_dropped_once(&self) {
        for id in 0..self.drops.len() {
            assert_eq!(
                self.drops(id),
                1,
                "item {id} dropped {} times",
                self.drops(id)
            );
        }
    }
}

/// An item that records its drop in a [`DropLog`].
#[derive(Debug)]
pub struct Tracked {
    /// Which item this is.
    pub id: usize,
    log: DropLog,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.drops[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

// Issue 8 (helper `defects`): the hand-driven upstream and recording downstream shared by the
// models of timeout, scan, concat, the arbiter, the timer slot and subscribe_on.
#[cfg(loom)]
pub mod manual;
