//! A bounded, wait-free single-producer single-consumer ring.
//!
//! [`channel`] allocates the ring and splits it into a [`Producer`] and a [`Consumer`]; each is
//! `Send`, so each side can live on its own thread. Items go in one at a time ([`Producer::push`])
//! or in reserved runs ([`Producer::write_chunk`] or [`Producer::write_chunk_up_to`], then
//! [`WriteChunk::commit`]), and come out the same way ([`Consumer::pop`], [`Consumer::read_chunk`]
//! or [`Consumer::read_chunk_up_to`], then [`ReadChunk::release`]). No call blocks,
//! spins or allocates: a full ring hands the value back, an empty one returns `None`.
//!
//! ```
//! use backflow::queue::spsc;
//!
//! let (mut producer, mut consumer) = spsc::channel::<u64>(4);
//! let writer = std::thread::spawn(move || {
//!     for i in 0..1_000 {
//!         let mut item = i;
//!         while let Err(full) = producer.push(item) {
//!             item = full.into_inner();
//!             std::thread::yield_now();
//!         }
//!     }
//! });
//! let mut next = 0;
//! while next < 1_000 {
//!     match consumer.pop() {
//!         Some(item) => {
//!             assert_eq!(item, next);
//!             next += 1;
//!         }
//!         None => std::thread::yield_now(),
//!     }
//! }
//! writer.join().unwrap();
//! ```
//!
//! # Design
//!
//! Head and tail sit on their own cache lines. Each side keeps its own index in a plain field and a
//! *limit* cached from the other side's index, and reloads that atomic only when the ring looks
//! full (producer) or empty (consumer): in the steady state a push or pop is one slot access and one
//! release store.
//!
//! What each operation touches, line by line (128-byte blocks, as `CachePadded` pads on x86_64,
//! where the adjacent-line prefetcher pulls lines in pairs):
//!
//! | | written | read |
//! |---|---|---|
//! | `push` | its slot; [`Producer`]'s own `tail` (its handle's block); the published `tail` | `write_limit` (its handle); the shared head only when the ring looks full |
//! | `pop` | [`Consumer`]'s own `head` (its handle's block); the published `head` | its slot; `read_limit` (its handle); the shared tail only when the ring looks empty |
//!
//! Both handles are `#[repr(align(128))]`: a handle's private index and its cached copy of the other
//! side's index live in a block no other field can share, wherever the handle is stored. A stage
//! that keeps its producer next to fields the other thread writes (a demand counter, a gate) would
//! otherwise have every push stall on a line the consumer's thread keeps taking away. The
//! read-only fields (`capacity`, `mask`, the slot pointer) sit together on a line nobody writes
//! while both ends live (`abandoned` is written once, by the first end dropped). The slots are a power of two so a position maps to its slot with a mask; the
//! capacity is still exactly what was asked for (a ring of 1000 allocates 1024 slots and holds
//! 1000 items).

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::error::{ChunkError, PushError};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// Creates a ring that holds up to `capacity` items and returns its two ends.
///
/// Slot storage is rounded up to a power of two (`capacity.next_power_of_two()` slots); the ring
/// never holds more than `capacity` items.
///
/// # Panics
///
/// If `capacity` is 0, or so large that the slot count overflows `usize`.
///
/// ```
/// let (mut producer, mut consumer) = backflow::queue::spsc::channel(2);
/// assert!(producer.push('a').is_ok());
/// assert!(producer.push('b').is_ok());
/// assert!(producer.push('c').is_err());
/// assert_eq!(consumer.pop(), Some('a'));
/// ```
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "spsc::channel: capacity must be at least 1");
    let slot_count = capacity
        .checked_next_power_of_two()
        .expect("spsc::channel: capacity too large");
    let slots = (0..slot_count)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        abandoned: AtomicBool::new(false),
        capacity,
        mask: slot_count - 1,
        slots,
    });
    let producer = Producer {
        ring: ring.clone(),
        tail: 0,
        write_limit: capacity,
    };
    let consumer = Consumer {
        ring,
        head: 0,
        read_limit: 0,
        _items: PhantomData,
    };
    (producer, consumer)
}

/// The storage both ends share.
///
/// Positions are monotonic wrapping `usize` counters; position `p` lives in slot `p & mask`. The
/// items held are exactly the positions `head..tail`, so `tail.wrapping_sub(head)` is in
/// `0..=capacity`.
struct Ring<T> {
    /// Position of the oldest item (the next to pop). Written only by the consumer, with Release
    /// after it has moved items out; the producer's Acquire load (refreshing its `write_limit`)
    /// pairs with it, so a slot is read before it is written again.
    head: CachePadded<AtomicUsize>,
    /// Position of the next push. Written only by the producer, with Release after the slots below
    /// it are written; the consumer's Acquire load (refreshing its `read_limit`) pairs with it, so
    /// an item is written before it is read.
    tail: CachePadded<AtomicUsize>,
    /// Set with Release by the first end to be dropped, after its last index store; read with
    /// Acquire by the other end's `is_abandoned`, so everything the dropped end did is visible.
    abandoned: AtomicBool,
    /// The most items the ring holds, in `1..=slots.len()`.
    capacity: usize,
    /// `slots.len() - 1`; `slots.len()` is a power of two.
    mask: usize,
    /// Slot `p & mask` holds an initialised item exactly when `p` is in `head..tail`.
    slots: Box<[Slot<T>]>,
}

// SAFETY: the ring moves `T`s between the two ends, so it needs `T: Send`; slot access is split by
// the head/tail protocol (the producer touches only `tail..head + capacity`, the consumer only
// `head..tail`), so sharing the ring between the two ends' threads is sound.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above: no slot is ever accessed by both ends at once.
unsafe impl<T: Send> Sync for Ring<T> {}

type Slot<T> = UnsafeCell<MaybeUninit<T>>;

impl<T> Ring<T> {
    #[inline(always)]
    fn slot(&self, position: usize) -> &Slot<T> {
        // SAFETY: `mask` is `slots.len() - 1` with `slots.len()` a power of two, so the masked
        // position is in bounds.
        unsafe { self.slots.get_unchecked(position & self.mask) }
    }

    /// The slots of positions `start..start + len` (`len <= slots.len()`), as the run up to the
    /// end of the buffer and the run that wrapped around to its start.
    #[inline(always)]
    fn runs(&self, start: usize, len: usize) -> (&[Slot<T>], &[Slot<T>]) {
        let first = start & self.mask;
        let first_len = len.min(self.slots.len() - first);
        (
            &self.slots[first..first + first_len],
            &self.slots[..len - first_len],
        )
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Both ends are gone: the Arc's final decrement ordered their last stores before this.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut position = head;
        while position != tail {
            self.slot(position).with_mut(|slot| {
                // SAFETY: positions in `head..tail` hold initialised items, and nobody else can
                // reach them any more; each is dropped once because the loop visits each once.
                unsafe { slot.cast::<T>().drop_in_place() }
            });
            position = position.wrapping_add(1);
        }
    }
}

/// The writing end of an [`spsc`](self) ring. Created by [`channel`].
///
/// `Send` (and `Sync`: its `&self` methods only read atomics) when `T: Send`; only the thread that
/// owns it pushes.
#[repr(align(128))]
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Position of the next push; equal to `ring.tail` whenever no [`WriteChunk`] is open.
    tail: usize,
    /// A stale `ring.head + capacity`: positions below it are known free. It only lags, so the
    /// producer may think the ring full when it is not, never the other way round.
    write_limit: usize,
}

impl<T> Producer<T> {
    /// Moves `value` into the ring, or hands it back in [`PushError::Full`] if the ring is full.
    ///
    /// ```
    /// use backflow::error::PushError;
    /// let (mut producer, _consumer) = backflow::queue::spsc::channel(1);
    /// assert_eq!(producer.push(1), Ok(()));
    /// assert_eq!(producer.push(2), Err(PushError::Full(2)));
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        let tail = self.tail;
        if tail == self.write_limit && self.refresh_write_limit() == 0 {
            return Err(PushError::Full(value));
        }
        self.ring.slot(tail).with_mut(|slot| {
            // SAFETY: `tail` is below `write_limit`, so its slot is free: the consumer has moved
            // its previous item out (Acquire on `head` in `refresh_write_limit`) and will not
            // touch it until `tail` is published.
            unsafe { slot.cast::<T>().write(value) }
        });
        self.tail = tail.wrapping_add(1);
        self.ring.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Reloads the consumer's head; returns the free slots now known.
    #[inline]
    fn refresh_write_limit(&mut self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        self.write_limit = head.wrapping_add(self.ring.capacity);
        self.write_limit.wrapping_sub(self.tail)
    }

    /// Reserves exactly `n` free slots to fill in order; nothing is visible to the consumer until
    /// [`WriteChunk::commit`].
    ///
    /// # Errors
    ///
    /// [`ChunkError::TooFewSlots`] with the number of free slots if fewer than `n` are free.
    ///
    /// ```
    /// let (mut producer, mut consumer) = backflow::queue::spsc::channel(8);
    /// let mut chunk = producer.write_chunk(3).unwrap();
    /// assert_eq!(chunk.fill_from_iter(10..), 3);
    /// assert_eq!(consumer.pop(), None); // not committed yet
    /// chunk.commit();
    /// assert_eq!(consumer.len(), 3);
    /// assert!(producer.write_chunk(6).is_err());
    /// ```
    #[inline]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        if self.write_limit.wrapping_sub(self.tail) < n {
            let free = self.refresh_write_limit();
            if free < n {
                return Err(ChunkError::TooFewSlots(free));
            }
        }
        Ok(self.reserve(n))
    }

    /// Reserves as many free slots as there are, up to `max` (possibly none), with at most one
    /// look at the consumer's head: the chunked-writer loop without a separate [`slots`] call.
    ///
    /// [`slots`]: Self::slots
    ///
    /// ```
    /// let (mut producer, mut consumer) = backflow::queue::spsc::channel(4);
    /// let mut chunk = producer.write_chunk_up_to(10);
    /// assert_eq!(chunk.len(), 4);
    /// chunk.fill_from_iter(0..);
    /// chunk.commit();
    /// assert!(producer.write_chunk_up_to(10).is_empty());
    /// ```
    #[inline]
    pub fn write_chunk_up_to(&mut self, max: usize) -> WriteChunk<'_, T> {
        let mut free = self.write_limit.wrapping_sub(self.tail);
        if free < max {
            free = self.refresh_write_limit();
        }
        self.reserve(free.min(max))
    }

    /// A chunk of `n` slots from the tail; the caller checked that they are free.
    #[inline(always)]
    fn reserve(&mut self, n: usize) -> WriteChunk<'_, T> {
        WriteChunk {
            ring: &self.ring,
            tail: &mut self.tail,
            reserved: n,
            written: 0,
        }
    }

    /// The number of free slots now (the consumer may free more at any time).
    pub fn slots(&self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        self.ring.capacity - self.tail.wrapping_sub(head)
    }

    /// Whether no slot is free now. A `false` answer stays valid until this producer pushes.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.tail == self.write_limit && self.slots() == 0
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
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
            .field("slots", &self.slots())
            .finish_non_exhaustive()
    }
}

/// `n` reserved free slots of a [`Producer`], filled front to back, published by [`commit`].
///
/// Dropping the chunk without committing drops the items written into it: the consumer never
/// sees them. Forgetting it (`mem::forget`) leaks them.
///
/// [`commit`]: WriteChunk::commit
#[must_use = "nothing is sent until the chunk is committed"]
pub struct WriteChunk<'a, T> {
    ring: &'a Ring<T>,
    /// The producer's tail: the first reserved position. Moves only on commit.
    tail: &'a mut usize,
    /// Slots reserved, from `*tail`; all free.
    reserved: usize,
    /// Slots written, in `0..=reserved`, from `*tail`.
    written: usize,
}

/// Adds the items written by one fill call to the chunk's count, even if the call unwinds, so
/// every written item is dropped or committed exactly once.
struct Progress<'a> {
    written: &'a mut usize,
    added: usize,
}

impl Drop for Progress<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        *self.written += self.added;
    }
}

impl<T> WriteChunk<'_, T> {
    /// The number of slots reserved.
    pub fn len(&self) -> usize {
        self.reserved
    }

    /// Whether the chunk reserves no slot at all.
    pub fn is_empty(&self) -> bool {
        self.reserved == 0
    }

    /// The number of slots written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// The number of reserved slots not written yet.
    pub fn remaining(&self) -> usize {
        self.reserved - self.written
    }

    /// Writes `next()` into the unwritten slots in order until it returns `None`; returns how
    /// many it wrote.
    #[inline(always)]
    fn fill(&mut self, mut next: impl FnMut() -> Option<T>) -> usize {
        let start = self.tail.wrapping_add(self.written);
        let (first, wrapped) = self.ring.runs(start, self.reserved - self.written);
        let mut progress = Progress {
            written: &mut self.written,
            added: 0,
        };
        for run in [first, wrapped] {
            for slot in run {
                let Some(value) = next() else {
                    return progress.added;
                };
                slot.with_mut(|slot| {
                    // SAFETY: the slot is reserved (below the consumer's head + capacity, checked
                    // by `write_chunk`) and not written yet: it is free and only this chunk
                    // touches it.
                    unsafe { slot.cast::<T>().write(value) }
                });
                progress.added += 1;
            }
        }
        progress.added
    }

    /// Writes `value` into the next reserved slot, or hands it back if every slot is written.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.written == self.reserved {
            return Err(PushError::Full(value));
        }
        let mut value = Some(value);
        self.fill(|| value.take());
        Ok(())
    }

    /// Writes items from `iter` until the chunk or the iterator runs out; returns how many.
    #[inline]
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(&mut self, iter: I) -> usize {
        let mut iter = iter.into_iter();
        self.fill(|| iter.next())
    }

    /// Writes `make()` into every remaining slot; returns how many.
    #[inline]
    pub fn fill_with(&mut self, mut make: impl FnMut() -> T) -> usize {
        self.fill(|| Some(make()))
    }

    /// Publishes the written items to the consumer (one release store); returns how many.
    #[inline]
    pub fn commit(mut self) -> usize {
        let written = std::mem::take(&mut self.written);
        *self.tail = self.tail.wrapping_add(written);
        self.ring.tail.store(*self.tail, Ordering::Release);
        written
    }
}

impl<T> Drop for WriteChunk<'_, T> {
    fn drop(&mut self) {
        let (first, wrapped) = self.ring.runs(*self.tail, self.written);
        for slot in first.iter().chain(wrapped) {
            slot.with_mut(|slot| {
                // SAFETY: the first `written` reserved slots hold items written by this chunk
                // and never published; dropping them here is their only drop.
                unsafe { slot.cast::<T>().drop_in_place() }
            });
        }
    }
}

impl<T> fmt::Debug for WriteChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("reserved", &self.reserved)
            .field("written", &self.written)
            .finish()
    }
}

/// The reading end of an [`spsc`](self) ring. Created by [`channel`].
///
/// `Send` when `T: Send`; `Sync` only when `T` is also `Sync`, because [`peek`](Self::peek)
/// lends out `&T`.
#[repr(align(128))]
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Position of the next pop. Ahead of `ring.head` only while a [`ReadChunk`] is open, or after
    /// one was forgotten (its items count as taken at once, so none is ever dropped twice).
    head: usize,
    /// A stale `ring.tail`: positions below it are known to hold items. It only lags, so the
    /// consumer may think the ring empty when it is not, never the other way round.
    read_limit: usize,
    /// `peek` lends `&T`: sharing the consumer shares the items.
    _items: PhantomData<T>,
}

impl<T> Consumer<T> {
    /// Moves the oldest item out of the ring, or returns `None` if it is empty.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let head = self.head;
        if head == self.read_limit && self.refresh_read_limit() == 0 {
            return None;
        }
        let value = self.ring.slot(head).with(|slot| {
            // SAFETY: `head` is below `read_limit`: the producer wrote this slot before publishing
            // a tail past it (Acquire in `refresh_read_limit`), and will not reuse it until we
            // publish a head past it below.
            unsafe { slot.cast::<T>().read() }
        });
        self.head = head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Reloads the producer's tail; returns the items now known to be readable.
    #[inline]
    fn refresh_read_limit(&mut self) -> usize {
        self.read_limit = self.ring.tail.load(Ordering::Acquire);
        self.read_limit.wrapping_sub(self.head)
    }

    /// The oldest item, left in the ring; `None` if it is empty.
    ///
    /// ```
    /// let (mut producer, mut consumer) = backflow::queue::spsc::channel(2);
    /// assert_eq!(consumer.peek(), None);
    /// producer.push(7).unwrap();
    /// assert_eq!(consumer.peek(), Some(&7));
    /// assert_eq!(consumer.pop(), Some(7));
    /// ```
    pub fn peek(&self) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let item = self.ring.slot(self.head).with(|slot| {
            // SAFETY: the slot holds an item (checked above against the Acquire-loaded tail) that
            // only this consumer may move out, which needs `&mut self`: the borrow keeps it alive.
            unsafe { &*slot.cast::<T>() }
        });
        Some(item)
    }

    /// Takes exactly `n` items to move out in order: iterate the chunk, then
    /// [`release`](ReadChunk::release) it (or drop it) to hand the slots back to the producer.
    ///
    /// # Errors
    ///
    /// [`ChunkError::TooFewSlots`] with the number of items held if fewer than `n` are.
    ///
    /// ```
    /// let (mut producer, mut consumer) = backflow::queue::spsc::channel(8);
    /// for i in 0..5 {
    ///     producer.push(i).unwrap();
    /// }
    /// let chunk = consumer.read_chunk(consumer.len()).unwrap();
    /// assert_eq!(chunk.sum::<i32>(), 10); // the chunk is released when the iterator is dropped
    /// assert_eq!(producer.slots(), 8);
    /// ```
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, ChunkError> {
        if self.read_limit.wrapping_sub(self.head) < n {
            let held = self.refresh_read_limit();
            if held < n {
                return Err(ChunkError::TooFewSlots(held));
            }
        }
        Ok(self.claim(n))
    }

    /// Takes as many items as there are, up to `max` (possibly none), with at most one look at
    /// the producer's tail: the chunked-reader loop without a separate [`len`] call.
    ///
    /// [`len`]: Self::len
    ///
    /// ```
    /// let (mut producer, mut consumer) = backflow::queue::spsc::channel(8);
    /// for i in 0..5 {
    ///     producer.push(i).unwrap();
    /// }
    /// assert_eq!(consumer.read_chunk_up_to(3).collect::<Vec<_>>(), [0, 1, 2]);
    /// assert_eq!(consumer.read_chunk_up_to(usize::MAX).len(), 2);
    /// ```
    #[inline]
    pub fn read_chunk_up_to(&mut self, max: usize) -> ReadChunk<'_, T> {
        let mut held = self.read_limit.wrapping_sub(self.head);
        if held < max {
            held = self.refresh_read_limit();
        }
        self.claim(held.min(max))
    }

    /// A chunk of the `n` items from the head; the caller checked that they are there.
    #[inline(always)]
    fn claim(&mut self, n: usize) -> ReadChunk<'_, T> {
        let start = self.head;
        let end = start.wrapping_add(n);
        // Counted as taken up front: if the chunk is forgotten, the items it did not hand out
        // leak instead of being dropped a second time after it moved some out.
        self.head = end;
        ReadChunk {
            ring: &self.ring,
            head: &mut self.head,
            position: start,
            end,
        }
    }

    /// The number of items held now (the producer may add more at any time).
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether the ring holds no item now. A `false` answer stays valid until this consumer pops.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.read_limit && self.len() == 0
    }

    /// The most items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// Whether the [`Producer`] has been dropped. Once this is true, every item it pushed is
    /// visible: pop until `None` and nothing is missed.
    pub fn is_abandoned(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // A forgotten ReadChunk leaves `head` ahead of `ring.head`: publish it, or the ring's
        // drop would drop the items that chunk moved out a second time.
        self.ring.head.store(self.head, Ordering::Release);
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

/// `n` items of a [`Consumer`], moved out in order by iterating; [`release`] (or drop) hands
/// their slots back to the producer.
///
/// Items not taken stay in the ring, first in line for the next read. Forgetting the chunk
/// (`mem::forget`) leaks the items it did not hand out.
///
/// [`release`]: ReadChunk::release
#[must_use = "iterate the chunk to take its items"]
pub struct ReadChunk<'a, T> {
    ring: &'a Ring<T>,
    /// The consumer's head; set to `end` while the chunk is open, to `position` when it closes.
    head: &'a mut usize,
    /// Position of the next item to hand out, from the chunk's start up to `end`.
    position: usize,
    /// One past the last position of the chunk.
    end: usize,
}

impl<T> ReadChunk<'_, T> {
    /// The number of items not taken yet.
    pub fn len(&self) -> usize {
        self.end.wrapping_sub(self.position)
    }

    /// Whether every item of the chunk was taken.
    pub fn is_empty(&self) -> bool {
        self.end == self.position
    }

    /// The next item of the chunk, left in place.
    pub fn peek(&self) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let item = self.ring.slot(self.position).with(|slot| {
            // SAFETY: positions in `position..end` hold items (read_chunk checked `end` against
            // the Acquire-loaded tail) that only this chunk moves out, which needs `&mut self`.
            unsafe { &*slot.cast::<T>() }
        });
        Some(item)
    }

    /// Hands the slots of the items taken so far back to the producer (one release store).
    #[inline]
    pub fn release(self) {}
}

impl<T> Iterator for ReadChunk<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        let position = self.position;
        if position == self.end {
            return None;
        }
        let value = self.ring.slot(position).with(|slot| {
            // SAFETY: as in `peek`; `position` moves past the slot right after, so the item is
            // handed out once.
            unsafe { slot.cast::<T>().read() }
        });
        self.position = position.wrapping_add(1);
        Some(value)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<T> ExactSizeIterator for ReadChunk<'_, T> {}

impl<T> Drop for ReadChunk<'_, T> {
    #[inline]
    fn drop(&mut self) {
        *self.head = self.position;
        self.ring.head.store(self.position, Ordering::Release);
    }
}

impl<T> fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_exact_while_slots_are_a_power_of_two() {
        let (mut producer, consumer) = channel(3);
        assert_eq!(producer.ring.slots.len(), 4);
        for i in 0..3 {
            producer.push(i).unwrap();
        }
        assert!(producer.is_full());
        assert_eq!(producer.push(3), Err(PushError::Full(3)));
        assert_eq!(consumer.len(), 3);
    }

    #[test]
    fn each_handle_owns_its_cache_lines() {
        // The private index and the cached limit of each side must not share a 128-byte block
        // with anything the other side writes, wherever the handle is stored.
        assert_eq!(std::mem::align_of::<Producer<u64>>(), 128);
        assert_eq!(std::mem::align_of::<Consumer<u64>>(), 128);
        assert_eq!(std::mem::size_of::<Producer<u64>>(), 128);
        assert_eq!(std::mem::size_of::<Consumer<u64>>(), 128);
        // Both ends side by side in one struct land in different blocks.
        let (producer, consumer) = channel::<u64>(4);
        let pair = (producer, consumer);
        let p = &pair.0 as *const _ as usize;
        let c = &pair.1 as *const _ as usize;
        assert_eq!(p % 128, 0);
        assert_eq!(c % 128, 0);
        assert!(p.abs_diff(c) >= 128);
    }

    #[test]
    fn positions_wrap_around_usize() {
        let (mut producer, mut consumer) = channel(2);
        let start = usize::MAX - 2;
        producer.tail = start;
        producer.write_limit = start.wrapping_add(2);
        producer.ring.head.store(start, Ordering::Relaxed);
        producer.ring.tail.store(start, Ordering::Relaxed);
        consumer.head = start;
        consumer.read_limit = start;
        for i in 0..10 {
            producer.push(i).unwrap();
            producer.push(i + 100).unwrap();
            assert!(producer.push(0).is_err());
            assert_eq!(consumer.pop(), Some(i));
            assert_eq!(consumer.pop(), Some(i + 100));
            assert_eq!(consumer.pop(), None);
        }
    }

    #[test]
    fn forgotten_read_chunk_leaks_instead_of_double_dropping() {
        struct Counted<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = std::sync::atomic::AtomicUsize::new(0);
        let (mut producer, mut consumer) = channel(4);
        producer.push(Counted(&drops)).ok().unwrap();
        producer.push(Counted(&drops)).ok().unwrap();
        let mut chunk = consumer.read_chunk(2).unwrap();
        let taken = chunk.next().unwrap();
        std::mem::forget(chunk);
        drop(taken);
        drop((producer, consumer));
        // The item the chunk handed out was dropped once; the one it did not hand out leaked.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }
}
