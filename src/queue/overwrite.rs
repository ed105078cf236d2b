//! A bounded single-producer single-consumer ring that never refuses a push: when it is full, the
//! oldest item is evicted and handed back to the producer.
//!
//! This is the ring behind drop-oldest buffering: the producer calls
//! [`Producer::push_overwrite`] and gets the evicted item (if any) back, so it can pass it to an
//! `on_drop` callback, while the consumer pops concurrently. The producer and the consumer race
//! for the oldest item with a compare-and-swap on the head; exactly one of them gets it, so no
//! item is lost, none is delivered twice and none is dropped twice.
//!
//! ```
//! use backflow::queue::overwrite;
//!
//! let (mut producer, mut consumer) = overwrite::channel(2);
//! assert_eq!(producer.push_overwrite(1), None);
//! assert_eq!(producer.push_overwrite(2), None);
//! assert_eq!(producer.push_overwrite(3), Some(1)); // full: the oldest comes back
//! assert_eq!(consumer.pop(), Some(2));
//! assert_eq!(consumer.pop(), Some(3));
//! assert_eq!(consumer.pop(), None);
//! ```
//!
//! # Progress
//!
//! No lock, no allocation. A push or pop is a few atomic operations on one slot and the head. The
//! one wait: when the ring is full and the consumer has just claimed the oldest item, the
//! producer, which needs that very slot, spins until the consumer has moved the item out (a copy
//! of one `T`; no user code runs in that window).

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::Backoff;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// Creates a ring that holds up to `capacity` items and returns its two ends.
///
/// # Panics
///
/// If `capacity` is 0, or so large that positions cannot be encoded (above `usize::MAX / 4`).
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(
        capacity > 0,
        "overwrite::channel: capacity must be at least 1"
    );
    assert!(
        capacity <= usize::MAX / 4,
        "overwrite::channel: capacity too large"
    );
    let one_lap = (capacity + 1).next_power_of_two();
    let slots = (0..capacity)
        .map(|index| Slot {
            stamp: AtomicUsize::new(index),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        })
        .collect();
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        abandoned: AtomicBool::new(false),
        capacity,
        one_lap,
        slots,
    });
    let producer = Producer {
        ring: ring.clone(),
        tail: 0,
    };
    let consumer = Consumer {
        ring,
        _items: PhantomData,
    };
    (producer, consumer)
}

/// One slot and the position it serves.
struct Slot<T> {
    /// `p` means "free, waiting for the item at position `p`"; `p + 1` means "holds the item at
    /// position `p`". Stored with Release after the value is written (producer) or moved out
    /// (consumer); loaded with Acquire before the value is touched, pairing with those stores.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The storage both ends share.
///
/// A position is `lap * one_lap + index` with `index` in `0..capacity` (crossbeam's encoding): the
/// slot is `position & (one_lap - 1)` and the next position after the last index starts the next
/// lap. `one_lap > capacity`, so `position + 1` never spills into the lap bits. Positions wrap
/// around `usize` and are only compared for equality.
struct Ring<T> {
    /// Position of the oldest item. Moved forward only by compare-and-swap: by the consumer
    /// claiming an item to pop, by the producer claiming one to evict. The CAS arbitrates which of
    /// them owns the item; the item's contents travel through the slot's stamp. The producer's
    /// eviction CAS is Release and every consumer read of `head` is Acquire: see [`Consumer::pop`]
    /// for why a Relaxed head let the consumer report "empty" on weak memory.
    head: CachePadded<AtomicUsize>,
    /// Position of the next push. Written only by the producer (Release, after the slot's stamp);
    /// read with Acquire by `len`, which is only a snapshot, and by `pop` before it reports empty.
    tail: CachePadded<AtomicUsize>,
    /// Set with Release by the first end to be dropped; read with Acquire by the other end.
    abandoned: AtomicBool,
    /// The most items the ring holds; also the slot count.
    capacity: usize,
    /// The smallest power of two above `capacity`.
    one_lap: usize,
    slots: Box<[Slot<T>]>,
}

// SAFETY: the ring moves `T`s between the two ends (needs `T: Send`); every value access is owned
// through the stamp / head protocol (one writer or one reader per slot at a time).
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    #[inline(always)]
    fn slot(&self, position: usize) -> &Slot<T> {
        &self.slots[position & (self.one_lap - 1)]
    }

    /// The position after `position`.
    #[inline(always)]
    fn next(&self, position: usize) -> usize {
        let index = position & (self.one_lap - 1);
        if index + 1 < self.capacity {
            position.wrapping_add(1)
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            let head = self.head.load(Ordering::Acquire);
            // A consistent pair: tail did not move while head was read.
            if self.tail.load(Ordering::Acquire) == tail {
                let head_index = head & (self.one_lap - 1);
                let tail_index = tail & (self.one_lap - 1);
                return if head_index < tail_index {
                    tail_index - head_index
                } else if head_index > tail_index {
                    self.capacity - head_index + tail_index
                } else if tail == head {
                    0
                } else {
                    self.capacity
                };
            }
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Both ends are gone: the Arc's final decrement ordered their last stores before this.
        let tail = self.tail.load(Ordering::Relaxed);
        let mut position = self.head.load(Ordering::Relaxed);
        while position != tail {
            self.slot(position).value.with_mut(|value| {
                // SAFETY: positions in `head..tail` hold items nobody claimed; each is visited once.
                unsafe { value.cast::<T>().drop_in_place() }
            });
            position = self.next(position);
        }
    }
}

/// The writing end of an [`overwrite`](self) ring. Created by [`channel`].
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Position of the next push; always equal to `ring.tail` (only the producer moves it).
    tail: usize,
}

impl<T> Producer<T> {
    /// Moves `value` into the ring. If the ring is full, the oldest item is evicted and returned.
    #[inline]
    pub fn push_overwrite(&mut self, value: T) -> Option<T> {
        let ring = &*self.ring;
        let tail = self.tail;
        let slot = ring.slot(tail);
        let mut evicted = None;
        if slot.stamp.load(Ordering::Acquire) != tail {
            // The slot still serves the item one lap behind, which is the oldest: the ring is full.
            let oldest = tail.wrapping_sub(ring.one_lap);
            // Release on success: a consumer that reads the new head (Acquire) also sees every
            // stamp this producer stored before, so it never pairs our head with a stale stamp.
            if ring
                .head
                .compare_exchange(
                    oldest,
                    ring.next(oldest),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                evicted = Some(slot.value.with_mut(|value| {
                    // SAFETY: winning the CAS made us the owner of the item at `oldest`, which we
                    // wrote ourselves; the consumer can no longer claim it.
                    unsafe { value.cast::<T>().read() }
                }));
            } else {
                // The consumer claimed it first and is moving it out of this slot right now.
                let mut backoff = Backoff::new();
                while slot.stamp.load(Ordering::Acquire) != tail {
                    backoff.snooze();
                }
            }
        }
        slot.value.with_mut(|slot_value| {
            // Soundness: the slot is free for position `tail`: either its stamp says so (Acquire,
            // pairing with the consumer's Release after moving the old item out), or we just
            // moved the old item out ourselves. The consumer touches it only after the stamp
            // below says it holds `tail`.
            // SAFETY: every access follows the protocol just described.
            unsafe { slot_value.cast::<T>().write(value) }
        });
        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
        self.tail = ring.next(tail);
        ring.tail.store(self.tail, Ordering::Release);
        evicted
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// The number of items held now (a snapshot: the consumer may pop at any time).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring held no item at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the [`Consumer`] has been dropped; pushed items will never be read.
    pub fn is_abandoned(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.ring.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The reading end of an [`overwrite`](self) ring. Created by [`channel`].
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// The consumer hands out `T`s it owns; `PhantomData<T>` keeps its auto traits honest.
    _items: PhantomData<T>,
}

impl<T> Consumer<T> {
    /// Moves the oldest item out of the ring, or returns `None` if it is empty.
    ///
    /// # Weak memory
    ///
    /// "Empty" is reported only when the slot at `head` still waits for position `head`
    /// (`stamp == head`) *and* `tail == head`. Two orderings make that answer true on ARM/POWER,
    /// where a load may return an older value than another load of the same thread has seen:
    ///
    /// - `head` is read with Acquire, pairing with the producer's Release eviction CAS. The
    ///   producer evicts only after it pushed every item up to its tail, so a consumer that sees a
    ///   head moved by an eviction also sees those pushes' stamps. With a Relaxed head (the code
    ///   before issue 8) the consumer could read the evicted-to head together with the stale stamp
    ///   it wrote itself when it popped that slot a lap earlier (`stamp == head`), and report
    ///   empty while the ring held items at every instant (`loom-tests/tests/overwrite_weak.rs`
    ///   finds exactly that interleaving on the old code).
    /// - Before reporting empty, `tail` is re-read with Acquire (crossbeam's `ArrayQueue` does the
    ///   same after a SeqCst fence). `tail` has one writer, which stores it with Release after the
    ///   stamp, so a tail past `head` proves the stamp we read is stale: look again instead of
    ///   answering. crossbeam needs the SeqCst fence because its tail is claimed by a CAS of many
    ///   producers, before the stamp is written; here the single producer publishes tail after
    ///   the stamp, and the Acquire/Release pair alone orders them (loom checks it).
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let ring = &*self.ring;
        let mut head = ring.head.load(Ordering::Acquire);
        let mut backoff = Backoff::new();
        loop {
            let slot = ring.slot(head);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head.wrapping_add(1) {
                match ring.head.compare_exchange_weak(
                    head,
                    ring.next(head),
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let value = slot.value.with(|value| {
                            // SAFETY: the stamp (Acquire, pairing with the producer's Release)
                            // says the slot holds the item at `head`, and winning the CAS made us
                            // its only owner: the producer waits for the stamp below to reuse it.
                            unsafe { value.cast::<T>().read() }
                        });
                        slot.stamp
                            .store(head.wrapping_add(ring.one_lap), Ordering::Release);
                        return Some(value);
                    }
                    Err(current) => head = current,
                }
            } else if stamp == head {
                // Position `head` looks unwritten. Empty only if the producer's tail agrees (see
                // "Weak memory" above); otherwise our stamp was stale: look again.
                if ring.tail.load(Ordering::Acquire) == head {
                    return None;
                }
                backoff.spin();
                head = ring.head.load(Ordering::Acquire);
            } else {
                // The producer evicted the item at `head` (or our view of the slot is stale).
                backoff.spin();
                head = ring.head.load(Ordering::Acquire);
            }
        }
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// The number of items held now (a snapshot: the producer may push or evict at any time).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring held no item at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the [`Producer`] has been dropped. Once this is true, every item it pushed is
    /// visible: pop until `None` and nothing is missed.
    pub fn is_abandoned(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.ring.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn positions_cross_laps_with_odd_capacity() {
        let (mut producer, mut consumer) = channel(3);
        for i in 0..100usize {
            assert_eq!(producer.push_overwrite(i), i.checked_sub(3));
            assert_eq!(producer.len(), 3.min(i + 1));
        }
        assert_eq!(consumer.pop(), Some(97));
        assert_eq!(producer.push_overwrite(100), None);
        assert_eq!(
            std::iter::from_fn(|| consumer.pop()).collect::<Vec<_>>(),
            [98, 99, 100]
        );
        assert!(consumer.is_empty());
    }

    #[test]
    fn capacity_one_evicts_every_time() {
        let (mut producer, mut consumer) = channel(1);
        assert_eq!(producer.push_overwrite('a'), None);
        assert_eq!(producer.push_overwrite('b'), Some('a'));
        assert_eq!(consumer.pop(), Some('b'));
        assert_eq!(consumer.pop(), None);
        assert_eq!(producer.push_overwrite('c'), None);
        assert_eq!(consumer.len(), 1);
    }
}
