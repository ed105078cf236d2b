//! Lock-free bounded rings for the places where a stream crosses threads.
//!
//! Three rings, every slot allocated up front:
//!
//! - [`spsc`]: the bounded queue. A full ring hands the pushed value back
//!   ([`PushError::Full`](crate::error::PushError)), an empty one returns `None`; nothing blocks.
//!   Single items ([`push`](spsc::Producer::push) / [`pop`](spsc::Consumer::pop)) or chunks
//!   ([`write_chunk`](spsc::Producer::write_chunk) /
//!   [`write_chunk_up_to`](spsc::Producer::write_chunk_up_to) + [`commit`](spsc::WriteChunk::commit),
//!   [`read_chunk`](spsc::Consumer::read_chunk) /
//!   [`read_chunk_up_to`](spsc::Consumer::read_chunk_up_to) + [`release`](spsc::ReadChunk::release)),
//!   which publish a whole run with one atomic store. This is what `buffer` and `publish_on` stand on.
//! - [`overwrite`]: the drop-oldest ring. [`push_overwrite`](overwrite::Producer::push_overwrite)
//!   never refuses: when the ring is full it evicts the oldest item and hands it back, so the
//!   caller can pass it to `on_drop`, while the consumer pops concurrently.
//! - [`mpsc`]: many producers (clone the [`Producer`](mpsc::Producer)), one consumer, for fan-in.
//!
//! ```
//! use backflow::queue::spsc;
//!
//! let (mut producer, mut consumer) = spsc::channel(1024);
//! let sender = std::thread::spawn(move || {
//!     let mut next = 0u64;
//!     while next < 10_000 {
//!         // Fill whatever is free in one go, then publish it with one store.
//!         let mut chunk = producer.write_chunk_up_to((10_000 - next) as usize);
//!         next += chunk.fill_from_iter(next..) as u64;
//!         chunk.commit();
//!     }
//! });
//! let mut sum = 0;
//! let mut received = 0;
//! while received < 10_000 {
//!     match consumer.pop() {
//!         Some(x) => {
//!             sum += x;
//!             received += 1;
//!         }
//!         None => std::hint::spin_loop(),
//!     }
//! }
//! sender.join().unwrap();
//! assert_eq!(sum, (0..10_000u64).sum());
//! ```
//!
//! # Ordering guarantees
//!
//! - **FIFO, exactly once.** Items come out in the order they went in (for `mpsc`: in each
//!   producer's order, interleaved in the order positions were claimed). Every item pushed is
//!   popped once, or evicted once (overwrite ring), or dropped once with the ring.
//! - **Happens-before.** Everything the producer did before pushing an item happens-before the
//!   consumer's pop that returns it (release on publish, acquire on read), so the item and any
//!   data it points to are fully visible. Likewise a slot is vacated before it is reused.
//! - **Snapshots.** `len`, `slots`, `is_empty`, `is_full` answer for an instant during the call;
//!   the other side may change the answer right after. An answer that only this side can change
//!   (a non-empty ring seen by the consumer, free room seen by the producer) stays true.
//! - **Hang-ups.** `is_abandoned` turns true once the other end is dropped; after the consumer has
//!   seen it, every item the producer pushed is visible, so "pop until `None`" drains everything.
//! - **Drops.** Dropping the last end drops the items still held, each exactly once.
//!
//! Every atomic access is modelled under loom (`loom-tests/`): build with `RUSTFLAGS="--cfg loom"`.

pub mod mpsc;
pub mod overwrite;
pub mod spsc;

/// Bounded spinning for the short waits on another thread's few instructions.
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// Beyond this step, `snooze` yields the thread instead of spinning.
    const SPIN_LIMIT: u32 = 6;

    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Spins a little longer each time; for waits that end without our help.
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(loom)]
        crate::sync::thread::yield_now();
        #[cfg(not(loom))]
        for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
            std::hint::spin_loop();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Spins, then yields the thread, so a preempted thread we wait for gets to run.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if self.step <= Self::SPIN_LIMIT {
            self.spin();
        } else {
            crate::sync::thread::yield_now();
        }
    }
}
