//! A bounded multi-producer single-consumer ring (Vyukov's per-slot sequence design).
//!
//! [`channel`] returns a cloneable [`Producer`] and one [`Consumer`]. Producers claim a position
//! with a compare-and-swap on the tail, write their item, then stamp the slot; the consumer reads
//! slots in position order and needs no read-modify-write at all. This is the ring for fan-in:
//! several emitters feeding one drain loop.
//!
//! ```
//! use backflow::queue::mpsc;
//!
//! let (producer, mut consumer) = mpsc::channel::<u32>(64);
//! let writers: Vec<_> = (0..4)
//!     .map(|w| {
//!         let producer = producer.clone();
//!         std::thread::spawn(move || {
//!             for i in 0..100 {
//!                 let mut item = w * 1000 + i;
//!                 while let Err(full) = producer.push(item) {
//!                     item = full.into_inner();
//!                     std::thread::yield_now();
//!                 }
//!             }
//!         })
//!     })
//!     .collect();
//! drop(producer);
//! let mut received = 0;
//! while !(consumer.is_abandoned() && consumer.is_empty()) {
//!     match consumer.pop() {
//!         Some(_) => received += 1,
//!         None => std::thread::yield_now(),
//!     }
//! }
//! writers.into_iter().for_each(|w| w.join().unwrap());
//! assert_eq!(received, 400);
//! ```
//!
//! # Ordering
//!
//! Items from one producer come out in the order that producer pushed them. Across producers the
//! order is the order in which they claimed positions. An item becomes visible to the consumer
//! once it is written *and* every item claimed before it is written: a producer preempted between
//! its claim and its write delays the items behind it (never loses or reorders them).

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::Backoff;
use crate::error::PushError;
use crate::sync::{fence, Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// Creates a ring that holds up to `capacity` items; clone the [`Producer`] for more producers.
///
/// # Panics
///
/// If `capacity` is 0, or so large that positions cannot be encoded (above `usize::MAX / 4`).
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "mpsc::channel: capacity must be at least 1");
    assert!(
        capacity <= usize::MAX / 4,
        "mpsc::channel: capacity too large"
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
        producers: AtomicUsize::new(1),
        consumer_gone: AtomicBool::new(false),
        capacity,
        one_lap,
        slots,
    });
    let producer = Producer { ring: ring.clone() };
    let consumer = Consumer {
        ring,
        head: 0,
        claimed: 0,
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

/// The storage all ends share. Positions are encoded as in the overwrite ring:
/// `lap * one_lap + index` with `index` in `0..capacity`, slot `position & (one_lap - 1)`.
struct Ring<T> {
    /// Position of the next pop. Written only by the consumer, after it stamped the slot free;
    /// producers read it (after a SeqCst fence) only to tell "full" from "a stale stamp".
    head: CachePadded<AtomicUsize>,
    /// Position of the next push, claimed by producers with a compare-and-swap. The slot itself
    /// is handed over through its stamp; the CAS is SeqCst (as in crossbeam's `ArrayQueue`) so
    /// that it takes part in the single total order of SeqCst operations and fences:
    ///
    /// - the full check below (`fence(SeqCst)`, then `head`) is ordered against every claim, so a
    ///   producer reports `Full` only if, at a point of that order after its own stale reads,
    ///   every slot was claimed and not popped (see [`Producer::push`]);
    /// - a user of the ring can hand an item over without a read-modify-write of its own: "claim
    ///   (SeqCst CAS), then a SeqCst load of a *busy* flag" pairs with "clear the flag, SeqCst
    ///   fence, read the tail" on the consumer's side (the emitter's drain does this, see
    ///   `source/emitter.rs`). On x86 a Relaxed and a SeqCst CAS are the same instruction.
    tail: CachePadded<AtomicUsize>,
    /// Live producers. Decremented with Release when one is dropped; the consumer's Acquire load
    /// in `is_abandoned` pairs with it, so every push of a dropped producer is visible.
    producers: AtomicUsize,
    /// Set with Release when the consumer is dropped; read with Acquire by producers.
    consumer_gone: AtomicBool,
    /// The most items the ring holds; also the slot count.
    capacity: usize,
    /// The smallest power of two above `capacity`.
    one_lap: usize,
    slots: Box<[Slot<T>]>,
}

// SAFETY: the ring moves `T`s from producer threads to the consumer thread (needs `T: Send`);
// every value access is owned through the stamp / tail protocol (one writer or one reader per
// slot at a time).
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

    /// The position `depth - 1` places after `position` (`depth` clamped to `1..=capacity`),
    /// across a lap if need be: the slot a look `depth` items deep reads.
    #[inline(always)]
    fn ahead(&self, position: usize, depth: usize) -> usize {
        let k = depth.clamp(1, self.capacity) - 1;
        let index = (position & (self.one_lap - 1)) + k;
        let lap = position & !(self.one_lap - 1);
        if index < self.capacity {
            lap + index
        } else {
            lap.wrapping_add(self.one_lap) + (index - self.capacity)
        }
    }

    /// Positions claimed from `head` (the consumer's own, exact) up to the tail: one tail load.
    fn claimed_from(&self, head: usize) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        let head_index = head & (self.one_lap - 1);
        let tail_index = tail & (self.one_lap - 1);
        if head_index < tail_index {
            tail_index - head_index
        } else if head_index > tail_index {
            self.capacity - head_index + tail_index
        } else if tail == head {
            0
        } else {
            self.capacity
        }
    }

    /// Claimed positions minus popped ones (claimed items may still be being written).
    fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            let head = self.head.load(Ordering::Acquire);
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
        // Every end is gone, so every claimed position was written (a push completes before its
        // producer can be dropped) and the Arc's final decrement ordered those writes before this.
        let tail = self.tail.load(Ordering::Relaxed);
        let mut position = self.head.load(Ordering::Relaxed);
        while position != tail {
            self.slot(position).value.with_mut(|value| {
                // SAFETY: positions in `head..tail` hold written, unpopped items; each once.
                unsafe { value.cast::<T>().drop_in_place() }
            });
            position = self.next(position);
        }
    }
}

/// A writing end of an [`mpsc`](self) ring; clone it for each producer. Created by [`channel`].
///
/// `Send` and `Sync` when `T: Send`: pushes through a shared `&Producer` are fine too.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Producer<T> {
    /// Moves `value` into the ring, or hands it back in [`PushError::Full`] if the ring is full.
    ///
    /// # When `Full` is reported (weak memory)
    ///
    /// Only when the slot at the tail this producer read still holds the item one lap behind
    /// *and*, after a SeqCst fence, `head` says that item was not popped. The stamp is read with
    /// Acquire and the consumer stamps a slot free (Release) before it moves `head`, so a pop
    /// that happened-before this call is always seen (coherence: a load cannot read a value older
    /// than one that happens-before it), through the stamp or through `head`; a stale `tail` only
    /// makes the check look at a slot whose item was claimed earlier, which is full-er, never
    /// emptier, and then `head` decides. So `Full` is never reported for a ring that was not full
    /// at an instant during the call, on ARM and POWER as on x86 (`loom-tests/tests/mpsc.rs`
    /// explores the weak orderings: a pop that happens-before a push leaves room for it).
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        let ring = &*self.ring;
        let mut backoff = Backoff::new();
        let mut tail = ring.tail.load(Ordering::Relaxed);
        loop {
            let slot = ring.slot(tail);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                match ring.tail.compare_exchange_weak(
                    tail,
                    ring.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.with_mut(|slot_value| {
                            // SAFETY: the stamp (Acquire, pairing with the consumer's Release
                            // after it moved the previous item out) says the slot is free for
                            // `tail`, and winning the CAS made this producer its only writer.
                            unsafe { slot_value.cast::<T>().write(value) }
                        });
                        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(ring.one_lap) == tail.wrapping_add(1) {
                // The slot still holds the item one lap behind: full, unless our view is stale.
                fence(Ordering::SeqCst);
                let head = ring.head.load(Ordering::Relaxed);
                if head.wrapping_add(ring.one_lap) == tail {
                    return Err(PushError::Full(value));
                }
                backoff.spin();
                tail = ring.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed `tail` meanwhile: catch up.
                backoff.snooze();
                tail = ring.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// [`push`](Self::push) for a caller that is the ring's only producer: the claim is a plain
    /// store of the tail, not a compare-and-swap (no read-modify-write per item). When the slot
    /// at the tail does not look free it hands over to [`push`](Self::push), which decides
    /// `Full` exactly.
    ///
    /// The tail is stored before the item is written and stamped, as a claim is: a reader of the
    /// tail (`len`, `Consumer::is_claimed`) never counts fewer positions than are stamped. Unlike
    /// a claim, the store is not SeqCst: a caller that pairs the push with a SeqCst fence of the
    /// consumer's (`Parker`) puts in a barrier of its own.
    ///
    /// # Safety
    ///
    /// No other push into this ring (through any `Producer`) may run at the same time, and every
    /// earlier push must happen-before this call.
    #[inline]
    pub(crate) unsafe fn push_single(&self, value: T) -> Result<(), PushError<T>> {
        let ring = &*self.ring;
        // Relaxed: only this producer stores the tail (the caller's contract), so it reads its
        // own latest store.
        let tail = ring.tail.load(Ordering::Relaxed);
        let slot = ring.slot(tail);
        if slot.stamp.load(Ordering::Acquire) != tail {
            return self.push(value);
        }
        ring.tail.store(ring.next(tail), Ordering::Relaxed);
        slot.value.with_mut(|slot_value| {
            // SAFETY: the stamp (Acquire, pairing with the consumer's Release after it moved the
            // previous item out) says the slot is free for `tail`, and the caller guarantees that
            // no other producer claims positions now, so this is the slot's only writer.
            unsafe { slot_value.cast::<T>().write(value) }
        });
        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Whether the slot of the next claim looks free: a hint for a producer that waits for
    /// room, read from the tail and that slot's stamp (the line the consumer writes as it frees
    /// the slot, so polling it does not slow the consumer down). It may be stale either way;
    /// [`push`](Self::push) decides.
    ///
    /// `depth` asks for the slot `depth - 1` places ahead of the tail (1: the tail's own): a
    /// producer that waits for a few cache lines of room, rather than for the next slot, stays
    /// off the line the consumer is reading (clamped to the capacity).
    #[inline]
    pub(crate) fn looks_free(&self, depth: usize) -> bool {
        let ring = &*self.ring;
        let position = ring.ahead(ring.tail.load(Ordering::Relaxed), depth);
        ring.slot(position).stamp.load(Ordering::Relaxed) == position
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// The number of items held now (a snapshot).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring held no item at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the [`Consumer`] has been dropped; pushed items will never be read.
    pub fn is_abandoned(&self) -> bool {
        self.ring.consumer_gone.load(Ordering::Acquire)
    }

    /// The position of the next claim: it changes with every successful push and with nothing
    /// else, so two equal readings mean no item was claimed in between. Relaxed: callers order
    /// it with a SeqCst fence of their own (see `tail`).
    #[inline]
    pub(crate) fn tail_token(&self) -> usize {
        self.ring.tail.load(Ordering::Relaxed)
    }

    /// Whether the oldest unpopped item looks written: a hint for a consumer that spins, read
    /// from `head` and that slot's stamp (lines the consumer writes itself), never from the
    /// tail, which every push writes: polling it would take that line from the producers each
    /// time. It misses an item still being written, and may be stale: decide to park only on an
    /// exact look ([`len`](Self::len) after a SeqCst fence).
    ///
    /// `depth` asks for the item `depth - 1` places behind the oldest (1: the oldest itself):
    /// a consumer that waits for a few cache lines of items, rather than for the next one, stays
    /// off the line the producer is writing (clamped to the capacity).
    #[inline]
    pub(crate) fn looks_written(&self, depth: usize) -> bool {
        let ring = &*self.ring;
        let position = ring.ahead(ring.head.load(Ordering::Acquire), depth);
        ring.slot(position).stamp.load(Ordering::Acquire) == position.wrapping_add(1)
    }
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        // Relaxed: cloning needs a live producer, which keeps the count above zero already.
        self.ring.producers.fetch_add(1, Ordering::Relaxed);
        Producer {
            ring: self.ring.clone(),
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.ring.producers.fetch_sub(1, Ordering::Release);
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

/// The reading end of an [`mpsc`](self) ring. Created by [`channel`].
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Position of the next pop; always equal to `ring.head` (only the consumer moves it).
    head: usize,
    /// Positions from `head` on that producers are known to have claimed (the tail was read at
    /// or past them): each stays claimed until popped, so [`is_claimed`](Self::is_claimed)
    /// reads the tail again only once these are used up.
    claimed: usize,
    /// The consumer hands out `T`s it owns; `PhantomData<T>` keeps its auto traits honest.
    _items: PhantomData<T>,
}

impl<T> Consumer<T> {
    /// Moves the oldest visible item out of the ring, or returns `None` if there is none.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let ring = &*self.ring;
        let head = self.head;
        let slot = ring.slot(head);
        if slot.stamp.load(Ordering::Acquire) != head.wrapping_add(1) {
            return None;
        }
        let value = slot.value.with(|value| {
            // SAFETY: the stamp (Acquire, pairing with the producer's Release after writing) says
            // the slot holds the item at `head`; only the consumer reads slots, and producers
            // wait for the stamp below before reusing it.
            unsafe { value.cast::<T>().read() }
        });
        slot.stamp
            .store(head.wrapping_add(ring.one_lap), Ordering::Release);
        self.head = ring.next(head);
        self.claimed = self.claimed.saturating_sub(1);
        // Release: a producer that sees the new head and then the slot's stamp sees it free.
        ring.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Whether a producer has claimed the position of the next pop (its item may still be being
    /// written: [`pop`](Self::pop) then returns `None` until it is). `false` means no item was
    /// claimed and not popped at an instant during the call. Reads the tail (the line every push
    /// writes) only when the claims it saw last time are all popped: once per run of items, not
    /// once per item.
    #[inline]
    pub(crate) fn is_claimed(&mut self) -> bool {
        if self.claimed == 0 {
            self.claimed = self.ring.claimed_from(self.head);
        }
        self.claimed > 0
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// The number of items held now, counting claimed items still being written (a snapshot).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no position was claimed and not popped, at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether every [`Producer`] has been dropped. Once this is true, every item they pushed is
    /// visible: pop until `None` and nothing is missed.
    pub fn is_abandoned(&self) -> bool {
        self.ring.producers.load(Ordering::Acquire) == 0
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.ring.consumer_gone.store(true, Ordering::Release);
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
    fn fills_and_drains_across_laps() {
        let (producer, mut consumer) = channel(3);
        for round in 0..10 {
            for i in 0..3 {
                producer.push(round * 3 + i).unwrap();
            }
            assert_eq!(producer.push(99), Err(PushError::Full(99)));
            assert_eq!(consumer.len(), 3);
            for i in 0..3 {
                assert_eq!(consumer.pop(), Some(round * 3 + i));
            }
            assert_eq!(consumer.pop(), None);
        }
    }

    #[test]
    fn looks_free_counts_room_ahead_of_the_tail_across_a_lap() {
        let (producer, mut consumer) = channel(5);
        assert!(producer.looks_free(1) && producer.looks_free(5));
        for i in 0..5 {
            producer.push(i).unwrap();
        }
        // Full: not even the tail's own slot is free.
        assert!(!producer.looks_free(1));
        assert_eq!((consumer.pop(), consumer.pop()), (Some(0), Some(1)));
        // Tail at index 0 of the next lap: two slots free (indexes 0 and 1), not three.
        assert!(producer.looks_free(2) && !producer.looks_free(3));
        producer.push(5).unwrap();
        assert!(producer.looks_free(1) && !producer.looks_free(2));
        // Deeper than the ring: clamped to its capacity.
        assert!(!producer.looks_free(64));
        while consumer.pop().is_some() {}
        assert!(producer.looks_free(64));
    }

    #[test]
    fn push_single_fills_claims_and_hands_back_when_full() {
        let (producer, mut consumer) = channel(3);
        for round in 0..4u32 {
            for i in 0..3 {
                // SAFETY: this test's only producer, on this thread.
                unsafe { producer.push_single(round * 10 + i) }.unwrap();
            }
            assert_eq!(producer.len(), 3);
            // SAFETY: as above.
            let full = unsafe { producer.push_single(99) }.unwrap_err();
            assert_eq!(full.into_inner(), 99);
            assert!(consumer.is_claimed());
            let got: Vec<u32> = std::iter::from_fn(|| consumer.pop()).collect();
            assert_eq!(got, [round * 10, round * 10 + 1, round * 10 + 2]);
            assert!(!consumer.is_claimed());
        }
        // Mixed with the CAS push on the same thread: one sequence of positions.
        // SAFETY: as above.
        unsafe { producer.push_single(1) }.unwrap();
        producer.push(2).unwrap();
        // SAFETY: as above.
        unsafe { producer.push_single(3) }.unwrap();
        let got: Vec<u32> = std::iter::from_fn(|| consumer.pop()).collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn looks_written_counts_depth_from_the_oldest_across_a_lap() {
        let (producer, mut consumer) = channel(5);
        assert!(!producer.looks_written(1));
        for i in 0..3 {
            producer.push(i).unwrap();
        }
        assert!(producer.looks_written(1) && producer.looks_written(3));
        assert!(!producer.looks_written(4));
        assert_eq!((consumer.pop(), consumer.pop()), (Some(0), Some(1)));
        assert!(producer.looks_written(1));
        assert!(!producer.looks_written(2));
        // Head at index 2: four more items wrap into the next lap (indexes 3, 4, 0, 1).
        for i in 3..7 {
            producer.push(i).unwrap();
        }
        assert!(producer.looks_written(5));
        // Deeper than the ring: clamped to its capacity.
        assert!(producer.looks_written(64));
        assert_eq!(consumer.pop(), Some(2));
        assert!(producer.looks_written(4) && !producer.looks_written(5));
    }

    #[test]
    fn is_claimed_reads_the_tail_again_once_the_seen_claims_are_popped() {
        let (producer, mut consumer) = channel(4);
        assert!(!consumer.is_claimed());
        producer.push(1).unwrap();
        producer.push(2).unwrap();
        assert!(consumer.is_claimed());
        assert_eq!(consumer.pop(), Some(1));
        assert!(consumer.is_claimed());
        assert_eq!(consumer.pop(), Some(2));
        assert!(!consumer.is_claimed());
        producer.push(3).unwrap();
        assert!(consumer.is_claimed());
        for i in 4..7 {
            producer.push(i).unwrap();
        }
        assert_eq!(producer.push(7), Err(PushError::Full(7)));
        for i in 3..7 {
            assert!(consumer.is_claimed());
            assert_eq!(consumer.pop(), Some(i));
        }
        assert!(!consumer.is_claimed());
    }

    #[test]
    fn abandoned_once_every_producer_is_gone() {
        let (producer, consumer) = channel::<u8>(2);
        let second = producer.clone();
        drop(producer);
        assert!(!consumer.is_abandoned());
        drop(second);
        assert!(consumer.is_abandoned());
    }
}
