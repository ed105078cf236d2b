//! [`emitter`]: the hot push source where a producer thread, a callback or a socket feeds a stream.
//!
//! [`emitter`] returns two ends: an [`Emitter`] handle for the producers (cloneable, `Send +
//! Sync`) and a [`Flux`] of [`EmitterSource`] for the one subscriber. The emitter holds up to
//! `capacity` items while the subscriber has no demand; an item offered while the subscriber has
//! demand goes straight through. So its capacity is *buffered items plus outstanding downstream
//! demand*, and a producer meets backpressure only when both are used up. Then each method says
//! what to do, and hands the item back whenever it was not taken:
//!
//! | method | when the buffer is full | strategy |
//! |---|---|---|
//! | [`try_emit`](Emitter::try_emit) | `Err(Full { item, retry_after })` at once | reject, fail fast |
//! | [`emit_timeout`](Emitter::emit_timeout) | waits for room up to a deadline, then `Err(Timeout(item))` | bounded buffer |
//! | [`emit`](Emitter::emit) | waits for room as long as it takes | bounded buffer, explicit opt-in |
//!
//! Once the subscriber cancelled or the stream ended, every method answers `Err(Closed(item))`.
//! Producers that must never block pick an [`Overflow`] policy instead ([`emitter_with`], or
//! [`Emitter::builder`]): drop the oldest held item, drop the incoming one, or fail the stream.
//!
//! ```
//! use backflow::prelude::*;
//!
//! let (emitter, flux) = backflow::emitter::<u64>(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..1_000 {
//!         // Blocks while 16 items wait and the subscriber asks for no more.
//!         emitter.emit(i).unwrap();
//!     }
//!     // Dropping the last handle completes the stream, after the buffered items.
//! });
//! let sum = flux.fold(0, |acc, x| acc + x).unwrap();
//! producer.join().unwrap();
//! assert_eq!(sum, (0..1_000).sum::<u64>());
//! ```
//!
//! # Where the subscriber runs
//!
//! An emitter has no thread of its own. Its subscriber's signals run on the thread that emits (when
//! the subscriber has demand, the item is handed over inside the `emit` call) or on the thread that
//! requests (items that waited in the buffer are delivered inside `request`). Signals never
//! overlap: one drain loop at a time delivers them (rule 1.03). A slow subscriber therefore slows
//! the producer that hands it items; put a thread boundary (`publish_on`) after the emitter to
//! run the consumer elsewhere.
//!
//! One exception makes the common hop cheap: read through
//! [`into_blocking_iter`](crate::Flux::into_blocking_iter) or
//! [`into_stream`](crate::Flux::into_stream) (directly, or behind stages that pass the
//! subscription through, like `map`), the emitter is *pull-fused*: the consumer's thread runs the
//! drain whenever it looks for items, and a producer only pushes into the ring and wakes the
//! consumer if it parked — one read-modify-write per item, the ring's claim, and none from a
//! [`SingleEmitter`] (the handle of a stream with one producer thread). The stages in
//! between then run on the consumer's thread. A producer drains on its own thread only when it
//! finds the ring full (delivering against outstanding demand before it waits or gives up), and
//! the end of the stream is delivered by whichever thread ends it.
//!
//! # Design
//!
//! Producers push into a lock-free bounded multi-producer ring ([`mpsc`](crate::queue::mpsc)); one
//! drain loop at a time ([`GateCell`]) pops and hands items down in runs
//! ([`Subscriber::on_next_iter`]). The common paths cost:
//!
//! - **nobody drains** (one producer, a subscriber with demand): the producer takes the gate and
//!   hands its item straight to the subscriber, without the ring; credits are taken from the
//!   demand counter in bulk, so one item costs the gate's enter and leave.
//! - **a drain is running** (several producers, or a consumer requesting): a producer only
//!   claims a slot (one CAS) and reads the gate (a SeqCst load); the running drain looks at the
//!   ring's tail once more after it left the gate, behind a SeqCst fence, so the item is never
//!   stranded (`loom-tests/tests/emitter.rs`).
//! - **pull-fused** (the subscriber is a blocking iterator or a stream): a producer claims a slot
//!   (one SeqCst CAS) and reads the consumer's park announcement with a SeqCst load that the
//!   claim orders; no fence, no gate. The consumer drains for itself
//!   (`loom-tests/tests/emitter.rs`, `a_fused_*`).
//! - **pull-fused, one producer** ([`SingleEmitter`], from [`Emitter::into_single`]): no
//!   read-modify-write. The claim is a plain store of the tail, then one SeqCst fence before
//!   the look for a parked consumer. A full ring makes the producer wait a moment (bounded)
//!   for 64 free slots before it drains on its own thread, so that it does not fight the
//!   consumer for the drain (`loom-tests/tests/emitter.rs`, `a_single_emitter_*`).
//! - **the ring is full while the subscriber has demand** (its drain is busy in a slow
//!   `on_next`): the item is taken all the same into a small locked spill, delivered after the
//!   ring's items, so capacity really is buffered items plus outstanding demand.
//!
//! A producer that waits for room spins briefly and then parks ([`crate::wait`]); the drain
//! wakes it after freeing slots, a cancel or a terminal signal wakes it with `Closed`. The lock
//! is touched only when someone parks.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use std::collections::VecDeque;

use crate::demand::{Demand, GateCell, UNBOUNDED};
use crate::error::{report_undeliverable, EmitError, Error, ErrorKind};
use crate::metrics::{DropReason, StageMetrics};
use crate::ops::Overflow;
use crate::ops::{ErrorMode, StageOptions};
use crate::protocol::Flux;
use crate::protocol::{
    catch, deliver_error, reject, Publisher, Pull, PullWaker, SharedSubscription, Subscriber,
    Subscription,
};
use crate::queue::{mpsc, Backoff};
use crate::sched::Scheduler;
use crate::sync::{
    fence, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, StdArc, UnsafeCell,
};
use crate::wait::Parker;

/// Items handed down per run, between two checks of the demand counter.
const CHUNK: u64 = 1024;

/// The shortest span the drain rate behind `retry_after` is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(50);

/// A measured span longer than this did not see a steady overload: no estimate comes from it.
const RATE_STALE: Duration = Duration::from_secs(1);

/// Creates an emitter that holds up to `capacity` items: the [`Emitter`] for producers and the
/// [`Flux`] its one subscriber reads.
///
/// Full buffer: [`try_emit`](Emitter::try_emit) refuses, [`emit`](Emitter::emit) and
/// [`emit_timeout`](Emitter::emit_timeout) wait ([`Overflow::Backpressure`]). See
/// [`emitter_with`] and [`Emitter::builder`] for the other policies, `on_drop` and metrics.
///
/// The stream is *hot* and *unicast*: items emitted before anyone subscribes wait in the buffer
/// (up to `capacity`) for the subscriber, and a second subscriber is rejected (`on_subscribe`,
/// then an [`ErrorKind::Closed`] error).
///
/// # Demand
///
/// Items are delivered only against the subscriber's demand; an item offered while there is
/// demand passes straight through without taking a slot. Capacity = buffered items + outstanding
/// demand.
///
/// # Drops
///
/// Nothing under the default policy: an item not taken is handed back to the producer. Items
/// still buffered when the subscriber cancels go to `on_drop` as [`DropReason::Cancelled`].
///
/// # Panics
///
/// If `capacity` is 0.
///
/// ```
/// use backflow::prelude::*;
///
/// let (emitter, flux) = backflow::emitter::<&str>(8);
/// emitter.try_emit("hello").unwrap(); // nobody subscribed yet: buffered
/// emitter.try_emit("world").unwrap();
/// emitter.complete(); // delivered after the buffered items
/// assert_eq!(flux.collect().unwrap(), ["hello", "world"]);
/// ```
#[doc(alias = "create")]
#[doc(alias = "push")]
#[doc(alias = "sink")]
#[doc(alias = "Sinks")]
#[doc(alias = "queue")]
pub fn emitter<T: Send + 'static>(capacity: usize) -> (Emitter<T>, Flux<EmitterSource<T>>) {
    Emitter::builder(capacity).build()
}

/// [`emitter`] with an [`Overflow`] policy for a full buffer.
///
/// ```
/// use backflow::prelude::*;
/// use backflow::ops::Overflow;
///
/// // A producer that must never block: keep the freshest items.
/// let (emitter, flux) = backflow::emitter_with::<u32>(2, Overflow::DropOldest);
/// for i in 0..5 {
///     emitter.emit(i).unwrap(); // never blocks, never refuses
/// }
/// drop(emitter);
/// assert_eq!(flux.collect().unwrap(), [3, 4]);
/// ```
pub fn emitter_with<T: Send + 'static>(
    capacity: usize,
    overflow: Overflow,
) -> (Emitter<T>, Flux<EmitterSource<T>>) {
    Emitter::builder(capacity).overflow(overflow).build()
}

/// Configures an emitter before it is built: overflow policy, `on_drop`, metrics, error mode.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use backflow::prelude::*;
/// use backflow::metrics::Registry;
/// use backflow::ops::Overflow;
/// use backflow::source::Emitter;
/// use backflow::DropReason;
///
/// let registry = Registry::new();
/// let dropped = Arc::new(Mutex::new(Vec::new()));
/// let log = dropped.clone();
/// let (emitter, flux) = Emitter::builder(2)
///     .overflow(Overflow::DropNewest)
///     .on_drop(move |item, reason| log.lock().unwrap().push((item, reason)))
///     .metrics(registry.stage("ingest", 2))
///     .build();
/// for i in 0..4 {
///     emitter.try_emit(i).unwrap();
/// }
/// assert_eq!(*dropped.lock().unwrap(), [(2, DropReason::Overflow), (3, DropReason::Overflow)]);
/// assert_eq!(registry.snapshot()[0].dropped.get(DropReason::Overflow), 2);
/// drop(emitter);
/// assert_eq!(flux.collect().unwrap(), [0, 1]);
/// ```
#[must_use = "an emitter builder does nothing until `build` is called"]
pub struct EmitterBuilder<T> {
    capacity: usize,
    overflow: Overflow,
    options: StageOptions<T>,
    clock: Option<StdArc<dyn Scheduler>>,
}

impl<T> fmt::Debug for EmitterBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmitterBuilder")
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("options", &self.options)
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

impl<T: Send + 'static> EmitterBuilder<T> {
    /// What to do when the buffer is full; [`Overflow::Backpressure`] by default.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The callback that receives every item the emitter discards, by value, with the reason:
    /// evicted or refused by the overflow policy, or still buffered when the subscriber cancelled
    /// ([`DropReason::Cancelled`]). It runs on the producer thread that overflowed or on the
    /// thread that drains, possibly on several threads at once. A panic in it is reported to the
    /// [error hook](crate::set_error_hook) and does not stop the stream.
    pub fn on_drop<F>(mut self, on_drop: F) -> Self
    where
        F: Fn(T, DropReason) + Send + Sync + 'static,
    {
        self.options.on_drop = Some(StdArc::new(on_drop));
        self
    }

    /// Counts the emitter's traffic in `metrics`: `received` (items taken into the buffer,
    /// including those later evicted), `emitted`, `dropped` by reason, `rejected` (refusals
    /// handed back as [`Full`](EmitError::Full) or [`Timeout`](EmitError::Timeout)),
    /// `requested`, and the `buffered` gauge. Received and buffered are updated by the drain, once
    /// per pass.
    pub fn metrics(mut self, metrics: StdArc<StageMetrics>) -> Self {
        self.options.metrics = Some(metrics);
        self
    }

    /// Whether [`Emitter::error`] waits for the buffered items ([`ErrorMode::AfterDrain`], the
    /// default) or overtakes them, dropping them as [`DropReason::Cancelled`]
    /// ([`ErrorMode::Immediate`]). Completion always waits for the buffered items.
    pub fn error_mode(mut self, mode: ErrorMode) -> Self {
        self.options.error_mode = mode;
        self
    }

    /// The clock the `retry_after` estimate of a [`Full`](EmitError::Full) refusal reads; the
    /// real clock by default. Tests pass a [`VirtualTime`](crate::sched::VirtualTime). Waiting in
    /// [`emit_timeout`](Emitter::emit_timeout) always uses real time.
    pub fn clock<S: Scheduler + 'static>(mut self, clock: S) -> Self {
        self.clock = Some(StdArc::new(clock));
        self
    }

    /// Builds the emitter: the producers' handle and the subscriber's stream.
    ///
    /// # Panics
    ///
    /// If the capacity is 0.
    pub fn build(self) -> (Emitter<T>, Flux<EmitterSource<T>>) {
        assert!(self.capacity > 0, "emitter: capacity must be at least 1");
        let (inlet, consumer) = mpsc::channel(self.capacity);
        let epoch = std::time::Instant::now();
        let shared = Arc::new(Shared {
            stage: CachePadded::new(GateCell::new(Stage {
                target: None,
                adopted: false,
                over: false,
                delivered: 0,
                received_seen: 0,
                credits: 0,
                handed_over: false,
            })),
            demand: CachePadded::new(Demand::new()),
            inlet,
            outlet: OutletCell(UnsafeCell::new(Outlet {
                consumer,
                popped: 0,
            })),
            outlet_lock: Mutex::new(()),
            flags: Flags {
                closed: AtomicBool::new(false),
                cancelled: AtomicBool::new(false),
                invalid: AtomicBool::new(false),
                terminated: AtomicBool::new(false),
                subscribed: AtomicBool::new(false),
                handed_over: AtomicBool::new(false),
                spilled: AtomicUsize::new(0),
                fusing: AtomicBool::new(false),
                fused: AtomicBool::new(false),
            },
            puller: WakerCell(UnsafeCell::new(None)),
            spill: Mutex::new(VecDeque::new()),
            pending: Mutex::new(None),
            terminal: Mutex::new(None),
            room: Parker::new(),
            senders: AtomicUsize::new(1),
            sources: AtomicUsize::new(1),
            rate: CachePadded::new(RateProbe {
                delivered: AtomicU64::new(0),
                in_hand: AtomicU64::new(0),
                since_ns: AtomicU64::new(0),
                delivered_then: AtomicU64::new(0),
                per_item_ns: AtomicU64::new(0),
            }),
            #[cfg(not(loom))]
            drainer: AtomicUsize::new(0),
            overflow: self.overflow,
            options: self.options,
            clock: self.clock,
            epoch,
        });
        let now = shared.now_ns();
        shared.rate.since_ns.store(now, Ordering::Relaxed);
        let source = EmitterSource {
            shared: shared.clone(),
        };
        (Emitter { shared }, Flux::new(source))
    }
}

/// The producers' handle of an [`emitter`]: clone it for each producer thread or callback.
///
/// `Send + Sync` when `T: Send`. Dropping the last handle completes the stream (after the
/// buffered items), unless it already ended: like the last `Sender` of a channel.
///
/// Every method that offers an item hands it back whenever it is not taken, in an
/// [`EmitError`] that says why.
pub struct Emitter<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Emitter<T> {
    /// Starts configuring an emitter that holds up to `capacity` items; see [`EmitterBuilder`].
    ///
    /// # Panics
    ///
    /// [`build`](EmitterBuilder::build) panics if `capacity` is 0.
    pub fn builder(capacity: usize) -> EmitterBuilder<T> {
        EmitterBuilder {
            capacity,
            overflow: Overflow::default(),
            options: StageOptions::default(),
            clock: None,
        }
    }

    /// Offers `item` without waiting: it is handed to the subscriber if it has demand, buffered if
    /// there is room, or handed back.
    ///
    /// # Errors
    ///
    /// - [`EmitError::Full`] under [`Overflow::Backpressure`] (or [`Overflow::Error`], which also
    ///   fails the stream): every slot is taken and the subscriber has no demand. `retry_after`
    ///   estimates when one slot will have freed: the mean time the subscriber took per item over
    ///   the last measured span (at least 50 ms between two refusals, at most 1 s). It is `None`
    ///   until such a span was seen, and after a span in which the subscriber took nothing.
    /// - [`EmitError::Closed`]: the subscriber cancelled, or the stream ended.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (emitter, _flux) = backflow::emitter::<u32>(2);
    /// emitter.try_emit(1).unwrap();
    /// emitter.try_emit(2).unwrap();
    /// let refused = emitter.try_emit(3).unwrap_err();
    /// assert!(refused.is_full());
    /// assert_eq!(refused.retry_after(), None); // no drain rate seen yet
    /// assert_eq!(refused.into_inner(), 3);
    /// ```
    #[doc(alias = "offer")]
    #[doc(alias = "try_send")]
    #[doc(alias = "tryEmitNext")]
    pub fn try_emit(&self, item: T) -> Result<(), EmitError<T>> {
        self.shared.offer(item, Wait::Never)
    }

    /// Offers `item`, waiting up to `timeout` for room when the buffer is full (bounded buffer,
    /// block with timeout). The calling thread parks; it is woken when the subscriber frees a
    /// slot, cancels or the stream ends.
    ///
    /// Under a policy other than [`Overflow::Backpressure`] this never waits: it behaves as
    /// [`try_emit`](Self::try_emit).
    ///
    /// # Errors
    ///
    /// - [`EmitError::Timeout`]: no room came within `timeout`.
    /// - [`EmitError::Closed`]: the subscriber cancelled, or the stream ended (also while waiting).
    /// - [`EmitError::Full`]: only under [`Overflow::Error`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (emitter, _flux) = backflow::emitter::<u32>(1);
    /// emitter.emit_timeout(1, Duration::from_millis(10)).unwrap();
    /// let late = emitter.emit_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert!(late.is_timeout());
    /// assert_eq!(late.into_inner(), 2);
    /// ```
    #[doc(alias = "send_timeout")]
    #[doc(alias = "offer_timeout")]
    pub fn emit_timeout(&self, item: T, timeout: Duration) -> Result<(), EmitError<T>> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        self.shared.offer(item, Wait::Until(deadline))
    }

    /// Offers `item`, waiting as long as it takes for room when the buffer is full.
    ///
    /// Under a policy other than [`Overflow::Backpressure`] this never waits: it behaves as
    /// [`try_emit`](Self::try_emit).
    ///
    /// # Deadlock
    ///
    /// Room comes only when the subscriber asks for more. Never call `emit` on the thread that
    /// drives the consumer: from the subscriber's own `on_next` (detected: it panics instead of
    /// hanging, and the panic fails the stream), or from the thread that would call `request`
    /// after this call returns (not detectable: it hangs). Prefer
    /// [`emit_timeout`](Self::emit_timeout) when in doubt.
    ///
    /// # Errors
    ///
    /// - [`EmitError::Closed`]: the subscriber cancelled, or the stream ended (also while waiting).
    /// - [`EmitError::Full`]: only under [`Overflow::Error`].
    ///
    /// ```
    /// use backflow::prelude::*;
    ///
    /// let (emitter, flux) = backflow::emitter::<u32>(1);
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..10 {
    ///         emitter.emit(i).unwrap();
    ///     }
    /// });
    /// assert_eq!(flux.collect_with(Request::Batch(1)).unwrap(), (0..10).collect::<Vec<_>>());
    /// producer.join().unwrap();
    /// ```
    #[doc(alias = "send")]
    #[doc(alias = "put")]
    #[doc(alias = "next")]
    pub fn emit(&self, item: T) -> Result<(), EmitError<T>> {
        self.shared.offer(item, Wait::Forever)
    }

    /// Ends the stream successfully: the subscriber gets the buffered items (as its demand
    /// allows), then `on_complete`. Later offers are refused as [`Closed`](EmitError::Closed), and
    /// producers waiting for room are woken with `Closed`. A no-op if the stream already ended.
    ///
    /// An offer that races with `complete` on another thread may be taken and then dropped as
    /// [`DropReason::Cancelled`]; order them (finish the offers first) when that matters.
    pub fn complete(&self) {
        self.shared.terminate(Ok(()));
    }

    /// Ends the stream with `error`, delivered after the buffered items
    /// ([`ErrorMode::AfterDrain`], the default) or at once ([`ErrorMode::Immediate`], see
    /// [`EmitterBuilder::error_mode`]). If the stream already ended, `error` goes to the
    /// [error hook](crate::set_error_hook).
    pub fn error(&self, error: Error) {
        self.shared.terminate(Err(error));
    }

    /// Whether offers are refused now: the subscriber cancelled, or the stream ended.
    pub fn is_closed(&self) -> bool {
        self.shared.flags.closed.load(Ordering::Acquire)
    }

    /// The number of items buffered now (a snapshot), including those taken against
    /// outstanding demand beyond the capacity.
    pub fn len(&self) -> usize {
        self.shared.held()
    }

    /// Whether no item is buffered now (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the emitter buffers (outstanding demand comes on top).
    pub fn capacity(&self) -> usize {
        self.shared.inlet.capacity()
    }

    /// The subscriber's outstanding demand now (`u64::MAX`: unbounded; 0 before it subscribes).
    /// A producer that can choose when to produce may produce only this much.
    #[doc(alias = "requestedFromDownstream")]
    pub fn requested(&self) -> u64 {
        self.shared.requested_now()
    }

    /// Turns this handle, if it is the only one, into a [`SingleEmitter`]: the handle of an
    /// emitter fed by one thread, whose offers skip the read-modify-write that lets handles be
    /// shared (as the Disruptor's `build_single_producer` does). `Err(self)` while clones of it
    /// live.
    ///
    /// ```
    /// let (emitter, flux) = backflow::emitter::<u64>(1024);
    /// let spare = emitter.clone();
    /// let emitter = emitter.into_single().unwrap_err(); // `spare` still lives
    /// drop(spare);
    /// let single = emitter.into_single().unwrap();
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..10_000 {
    ///         single.emit(i).unwrap();
    ///     }
    /// });
    /// let sum: u64 = flux.into_blocking_iter().map(Result::unwrap).sum();
    /// producer.join().unwrap();
    /// assert_eq!(sum, (0..10_000).sum::<u64>());
    /// ```
    pub fn into_single(self) -> Result<SingleEmitter<T>, Emitter<T>> {
        // Acquire: pairs with the AcqRel decrement of every dropped clone, so each push they
        // made happens-before the single handle's first (`mpsc::Producer::push_single`).
        if self.shared.senders.load(Ordering::Acquire) == 1 {
            Ok(SingleEmitter {
                emitter: self,
                _one_thread: PhantomData,
            })
        } else {
            Err(self)
        }
    }
}

/// The handle of an [`emitter`]'s only producer, made by [`Emitter::into_single`].
///
/// It offers what an [`Emitter`] offers, with the same outcomes ([`Full`](EmitError::Full) with
/// `retry_after`, [`Timeout`](EmitError::Timeout), [`Closed`](EmitError::Closed), every
/// [`Overflow`] policy); dropping it completes the stream. It is `Send` but neither `Clone` nor
/// `Sync`: no other handle exists while it does, so no other thread pushes at the same time.
///
/// That buys speed where the consumer is pull-fused (read through
/// [`into_blocking_iter`](crate::Flux::into_blocking_iter),
/// [`into_stream`](crate::Flux::into_stream) or `publish_on`, see the
/// [module docs](crate::source::emitter)): an offer claims its ring slot with a plain store
/// instead of a compare-and-swap, then fences before it looks whether the consumer sleeps, and
/// a producer that finds the ring full waits a moment for room rather than run the consumer's
/// drain on its own thread. Behind a plain subscriber it behaves as an `Emitter`. `cargo bench --bench emitter` times it against the shared
/// `Emitter`, crossbeam-channel and the Disruptor's single-producer ring.
///
/// ```
/// let (emitter, flux) = backflow::emitter::<u32>(2);
/// let single = emitter.into_single().unwrap();
/// single.try_emit(1).unwrap();
/// single.try_emit(2).unwrap();
/// // Full: handed back, as from an `Emitter`.
/// let refused = single.try_emit(3).unwrap_err();
/// assert!(refused.is_full());
/// assert_eq!(refused.into_inner(), 3);
/// drop(single); // completes the stream after the buffered items
/// let got: Vec<u32> = flux.into_blocking_iter().map(Result::unwrap).collect();
/// assert_eq!(got, [1, 2]);
/// ```
pub struct SingleEmitter<T> {
    emitter: Emitter<T>,
    /// `!Sync` (and, without `Clone`, one handle): the contract of `mpsc::Producer::push_single`.
    _one_thread: PhantomData<Cell<()>>,
}

impl<T: Send + 'static> SingleEmitter<T> {
    /// As [`Emitter::try_emit`]: hands `item` to the subscriber, buffers it, or hands it back.
    ///
    /// # Errors
    ///
    /// As [`Emitter::try_emit`]: [`EmitError::Full`] (with `retry_after`) or
    /// [`EmitError::Closed`].
    pub fn try_emit(&self, item: T) -> Result<(), EmitError<T>> {
        self.offer(item, Wait::Never)
    }

    /// As [`Emitter::emit_timeout`]: waits up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`Emitter::emit_timeout`]: [`EmitError::Timeout`], [`EmitError::Closed`], or
    /// [`EmitError::Full`] under [`Overflow::Error`].
    pub fn emit_timeout(&self, item: T, timeout: Duration) -> Result<(), EmitError<T>> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        self.offer(item, Wait::Until(deadline))
    }

    /// As [`Emitter::emit`]: waits as long as it takes for room (same deadlock caveats).
    ///
    /// # Errors
    ///
    /// As [`Emitter::emit`]: [`EmitError::Closed`], or [`EmitError::Full`] under
    /// [`Overflow::Error`].
    pub fn emit(&self, item: T) -> Result<(), EmitError<T>> {
        self.offer(item, Wait::Forever)
    }

    #[inline]
    fn offer(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        // SAFETY: this is the only producer handle (`into_single` saw no other live one, it
        // cannot be cloned, and no other kind of handle pushes) and it is `!Sync`, so no other
        // push runs now; earlier pushes were this thread's, happened-before it was sent here, or
        // were by clones whose drop `into_single` synchronised with.
        unsafe { self.emitter.shared.offer_single(item, wait) }
    }

    /// As [`Emitter::complete`].
    pub fn complete(&self) {
        self.emitter.complete();
    }

    /// As [`Emitter::error`].
    pub fn error(&self, error: Error) {
        self.emitter.error(error);
    }

    /// As [`Emitter::is_closed`].
    pub fn is_closed(&self) -> bool {
        self.emitter.is_closed()
    }

    /// As [`Emitter::len`].
    pub fn len(&self) -> usize {
        self.emitter.len()
    }

    /// As [`Emitter::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.emitter.is_empty()
    }

    /// As [`Emitter::capacity`].
    pub fn capacity(&self) -> usize {
        self.emitter.capacity()
    }

    /// As [`Emitter::requested`].
    pub fn requested(&self) -> u64 {
        self.emitter.requested()
    }

    /// Back to a shareable [`Emitter`] (to clone it for more producers).
    pub fn into_shared(self) -> Emitter<T> {
        self.emitter
    }
}

impl<T> fmt::Debug for SingleEmitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SingleEmitter").field(&self.emitter).finish()
    }
}

impl<T> Clone for Emitter<T> {
    fn clone(&self) -> Self {
        // Relaxed: cloning needs a live handle, which keeps the count above zero already.
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Emitter {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Emitter<T> {
    fn drop(&mut self) {
        // AcqRel: the last handle's completion comes after every other handle's offers.
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.terminate(Ok(()));
        }
    }
}

impl<T> fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("capacity", &self.shared.inlet.capacity())
            .field("len", &self.shared.inlet.len())
            .field("overflow", &self.shared.overflow)
            .field("closed", &self.shared.flags.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// The publisher side of an [`emitter`]: hot and unicast (one subscriber, ever).
/// Built by [`emitter`], [`emitter_with`] and [`EmitterBuilder::build`].
///
/// Dropping every clone of it before anyone subscribed closes the emitter: producers get
/// [`Closed`](EmitError::Closed) and the buffered items go to `on_drop` as
/// [`DropReason::Cancelled`].
pub struct EmitterSource<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for EmitterSource<T> {
    fn clone(&self) -> Self {
        // Relaxed: cloning needs a live source, which keeps the count above zero already.
        self.shared.sources.fetch_add(1, Ordering::Relaxed);
        EmitterSource {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for EmitterSource<T> {
    fn drop(&mut self) {
        // Nobody subscribed and nobody can any more: like a channel whose receiver is gone, the
        // emitter closes (waiting producers get Closed) and what it holds goes to on_drop.
        let shared = &self.shared;
        if shared.sources.fetch_sub(1, Ordering::AcqRel) == 1
            && !shared.flags.subscribed.load(Ordering::Acquire)
        {
            shared.flags.cancelled.store(true, Ordering::Release);
            shared.close();
            shared.drain();
        }
    }
}

impl<T> fmt::Debug for EmitterSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmitterSource")
            .field("capacity", &self.shared.inlet.capacity())
            .field(
                "subscribed",
                &self.shared.flags.subscribed.load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl<T: Send + 'static> Publisher for EmitterSource<T> {
    type Item = T;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let shared = &self.shared;
        if shared.flags.subscribed.swap(true, Ordering::AcqRel) {
            return reject(
                &mut subscriber,
                Error::new(
                    ErrorKind::Closed,
                    "emitter: it already has a subscriber (an emitter is unicast)",
                ),
            );
        }
        let link: SharedSubscription = StdArc::new(Link(shared.clone()));
        if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(link)) {
            shared.flags.cancelled.store(true, Ordering::Release);
            shared.close();
            deliver_error(&mut subscriber, panic);
            return shared.drain();
        }
        // The drain adopts the subscriber only now, so nothing reaches it before on_subscribe
        // returned (rule 1.03), even when a producer drains meanwhile.
        *shared.pending.lock() = Some(Box::new(Deliver(subscriber)));
        shared.flags.handed_over.store(true, Ordering::Release);
        shared.drain();
    }
}

/// The subscription handed to the subscriber: a `std` `Arc` (it coerces to `dyn Subscription`)
/// around the shared state.
struct Link<T>(Arc<Shared<T>>);

impl<T: Send + 'static> Subscription for Link<T> {
    fn request(&self, n: u64) {
        let shared = &self.0;
        if shared.flags.cancelled.load(Ordering::Acquire) {
            // Rule 3.6: after a cancel, a request is a no-op (no demand, no metrics).
            return;
        }
        if n == 0 {
            shared.flags.invalid.store(true, Ordering::Release);
        } else {
            shared.demand.add(n);
            if let Some(m) = shared.options.metrics() {
                m.record_requested(n);
            }
        }
        shared.drain();
    }

    fn cancel(&self) {
        let shared = &self.0;
        if !shared.flags.cancelled.swap(true, Ordering::AcqRel) {
            shared.close();
            shared.drain();
        }
    }

    fn fuse_pull(&self, waker: StdArc<dyn PullWaker>) -> Option<StdArc<dyn Pull>> {
        let shared = &self.0;
        if shared.flags.fusing.swap(true, Ordering::AcqRel) {
            return None;
        }
        shared.puller.0.with_mut(|slot| {
            // SAFETY: only the caller that won `fusing` gets here, once, and no offer reads the
            // cell before `fused` is stored below (`WakerCell`).
            unsafe { *slot = Some(waker) }
        });
        shared.flags.fused.store(true, Ordering::Release);
        Some(StdArc::new(Pulling(shared.clone())))
    }
}

/// The fused consumer's handle on the emitter ([`Subscription::fuse_pull`]).
struct Pulling<T>(Arc<Shared<T>>);

impl<T: Send + 'static> Pull for Pulling<T> {
    fn pull(&self) {
        // No look at the tail after leaving the gate (`recheck`): producers of a fused emitter
        // wake the puller after each push instead of leaving items to the gate's owner, and the
        // puller looks exactly (`has_work`, behind its SeqCst announcement) before it parks.
        self.0.stage.drain(|stage| self.0.pass(stage));
    }

    fn looks_ready(&self, depth: usize) -> bool {
        let shared = &self.0;
        let requested = shared.requested_now();
        let depth = usize::try_from(requested).unwrap_or(usize::MAX).min(depth);
        requested > 0
            && (shared.inlet.looks_written(depth)
                || shared.flags.spilled.load(Ordering::Relaxed) != 0)
            && shared.stage.is_idle()
    }

    fn has_work(&self) -> bool {
        // A busy gate's owner delivers what it finds (and looks again after it leaves), and its
        // deliveries wake the consumer: a pull now would only record a signal.
        self.0.held() > 0 && self.0.requested_now() > 0 && self.0.stage.is_idle()
    }
}

/// What to do with an error that comes after the stream ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Late {
    Report,
    Ignore,
}

/// How much room a [`SingleEmitter`] waits for when it finds the ring full
/// (`Shared::room_soon`): 64 slots, several cache lines behind the consumer, so that the two
/// sides do not work on the line at the head together. On the 2-core reference machine (one
/// producer, a blocking iterator, 1M items, 12 rounds in one process) one slot gave a median of
/// 74–78 M items/s, 16 to 256 slots 78–85 quiet; with two busy threads beside them 64 and 256
/// did best (19–30 M/s, against 19–23 for one slot).
const ROOM_DEPTH: usize = 64;

/// How long an offer may wait for room.
#[derive(Clone, Copy)]
enum Wait {
    Never,
    /// `None`: a deadline too far to represent, i.e. no deadline.
    Until(Option<std::time::Instant>),
    Forever,
}

/// The state shared by the producers' handles, the publisher and the subscription.
struct Shared<T> {
    /// The drain's own state behind the drain gate. Entered by `request` / `cancel` / the end,
    /// and by a producer that finds it idle; a producer that finds it busy leaves its pushed item
    /// to the owner without a read-modify-write (see [`Shared::signal`]). Its owner alone touches
    /// the stage and (except under `DropOldest`) `outlet`.
    stage: CachePadded<GateCell<Stage<T>>>,
    /// The subscriber's outstanding demand not yet taken by the drain (which holds what it took
    /// in `Stage::credits`, mirrored in `RateProbe::in_hand`).
    demand: CachePadded<Demand>,
    /// Where producers push. Holds at most `capacity` items.
    inlet: mpsc::Producer<T>,
    /// The ring's consuming end. Accessed by the gate owner; under [`Overflow::DropOldest`] also
    /// by producers that evict, so under that policy every access holds `outlet_lock`.
    outlet: OutletCell<T>,
    /// Serialises `outlet` between the drain and evicting producers (`DropOldest` only). Held for
    /// one pop at a time, never across user code.
    outlet_lock: Mutex<()>,
    flags: Flags,
    /// Items taken against outstanding demand while the ring was full (capacity = buffered +
    /// outstanding demand): at most as many as the subscriber asked for and the ring could not
    /// hold. Delivered after the ring's items; while it holds any, every offer joins it, so each
    /// producer's order is kept. Cold: a slow subscriber with demand, several producers.
    spill: Mutex<VecDeque<T>>,
    /// The subscriber, from `subscribe` (after its `on_subscribe` returned) until the drain adopts it.
    pending: Mutex<Option<Box<dyn Target<T>>>>,
    /// How the producers ended the stream; set once, under the lock, before `flags.terminated`.
    terminal: Mutex<Option<Result<(), Error>>>,
    /// Where producers wait for room ([`Parker`]: they spin briefly, announce, re-check, park;
    /// the drain notifies after freeing slots, and `close` after closing).
    room: Parker,
    /// Live [`Emitter`] handles; the last one to go completes the stream. Incremented Relaxed by
    /// `clone` (a live handle already keeps it above zero); decremented AcqRel by `drop`, so the
    /// last handle's completion comes after every other handle's offers.
    senders: AtomicUsize,
    /// Live [`EmitterSource`] handles; if the last one goes before anyone subscribed, the emitter
    /// closes. Same orderings as `senders`.
    sources: AtomicUsize,
    rate: CachePadded<RateProbe>,
    /// The fused consumer's waker ([`Subscription::fuse_pull`]): written once, before
    /// `flags.fused` is stored.
    puller: WakerCell,
    /// A token of the thread running the drain (0: none), so `emit` can refuse to wait for a
    /// drain that it is itself blocking. Relaxed: a thread only ever compares it to its own
    /// token, which only it stores.
    #[cfg(not(loom))]
    drainer: AtomicUsize,
    overflow: Overflow,
    options: StageOptions<T>,
    clock: Option<StdArc<dyn Scheduler>>,
    epoch: std::time::Instant,
}

/// The ring's consuming end, shared between the gate owner and (under `DropOldest`) evicting
/// producers; see [`Shared::with_outlet`].
struct OutletCell<T>(UnsafeCell<Outlet<T>>);

// The outlet is reached only through `Shared::with_outlet` / `pop_owned`, whose callers own the
// drain gate (one thread at a time, ordered by the gate's AcqRel RMWs), and under `DropOldest`
// every access additionally holds `outlet_lock` (the evicting producers too), or through `&mut`
// in `Drop`. It holds the ring's consumer end and `T: Send` items.
// SAFETY: one accessor at a time (the gate's owner, or `outlet_lock`'s holder), as above.
unsafe impl<T: Send> Sync for OutletCell<T> {}

/// The one-way switches of a subscription.
struct Flags {
    /// Offers are refused from now on. Stored with Release by `close`, which then notifies
    /// `room` (a fence and a load): a producer that registered there sees it.
    closed: AtomicBool,
    /// The subscriber cancelled, or the stream ended: no signal follows. Set with Release (AcqRel
    /// swap) before the drain is entered; the drain's Acquire load pairs with it. `PopRun` also
    /// reads it Relaxed per item, only to stop early.
    cancelled: AtomicBool,
    /// `request(0)` was called; the drain answers with the rule 3.9 error (Release / Acquire).
    /// `PopRun` also reads it Relaxed per item, only to stop early.
    invalid: AtomicBool,
    /// `terminal` holds the end. Stored with Release after the terminal, and after every offer the
    /// terminating producer made; the drain's Acquire load makes those items visible before it
    /// checks that the buffer is empty.
    terminated: AtomicBool,
    /// The one subscriber arrived (AcqRel swap: a second one is rejected).
    subscribed: AtomicBool,
    /// `pending` holds the subscriber (Release after the store; the drain's Acquire load pairs).
    handed_over: AtomicBool,
    /// `spill.len()`, stored under its lock with Release; offers read it (Acquire) to tell
    /// whether they must join the spill. A producer always sees its own spilled items.
    spilled: AtomicUsize,
    /// Someone asked for pull fusion (AcqRel swap: only the first is answered).
    fusing: AtomicBool,
    /// The subscriber pulls ([`Subscription::fuse_pull`]): `puller` holds its waker (written
    /// before this is stored with Release; offers load it with Acquire). From then on an offer
    /// only pushes and wakes the puller; it runs the drain only when the ring is full.
    fused: AtomicBool,
}

/// Where the fused consumer's waker lives: written once by [`Link::fuse_pull`] (the one caller
/// that won `flags.fusing`), before `flags.fused` is stored with Release; read only by offers
/// that loaded `flags.fused == true` with Acquire, so the write happens-before every read.
struct WakerCell(UnsafeCell<Option<StdArc<dyn PullWaker>>>);

// SAFETY: one write, published by the Release store of `flags.fused` before any read (above);
// the waker itself is `Send + Sync`.
unsafe impl Sync for WakerCell {}

/// What the drain measures for the `retry_after` estimate, and the credits it holds. All
/// Relaxed: each is a hint, read and written by whoever gets there; each value is a
/// self-contained number.
struct RateProbe {
    /// Items handed to the subscriber so far. Written by the drain owner once per pass.
    delivered: AtomicU64,
    /// The credits the drain took from `demand` and has not spent on items popped yet
    /// (`Stage::credits` less the current run's pops). Written by the drain owner only; read by
    /// `Emitter::requested` and by offers that meet a full ring.
    in_hand: AtomicU64,
    /// When the current measuring span started (nanoseconds on the emitter's clock).
    since_ns: AtomicU64,
    /// `delivered` when the current span started.
    delivered_then: AtomicU64,
    /// The last estimate of the time per delivered item, in nanoseconds; 0 = unknown.
    per_item_ns: AtomicU64,
}

/// The ring's consuming end and a count of everything that left it.
struct Outlet<T> {
    consumer: mpsc::Consumer<T>,
    /// Items popped (delivered, evicted, discarded). `popped + len` is every item ever taken in.
    popped: u64,
}

impl<T> Outlet<T> {
    #[inline]
    fn pop(&mut self) -> Option<T> {
        let item = self.consumer.pop();
        self.popped += item.is_some() as u64;
        item
    }
}

/// The drain's state.
struct Stage<T> {
    /// The subscriber once adopted from `pending`; dropped on cancel or terminal (rule 3.13).
    target: Option<Box<dyn Target<T>>>,
    /// `pending` was looked at after `handed_over` was set.
    adopted: bool,
    /// Cancelled or terminated: whatever arrives from now on is discarded.
    over: bool,
    /// Items handed to the subscriber.
    delivered: u64,
    /// `received` already recorded in the metrics.
    received_seen: u64,
    /// Credits taken from `demand` (all of it at once, one RMW) and not spent yet; `UNBOUNDED`
    /// is sticky.
    credits: u64,
    /// An offer just handed its item straight through: the pass that follows in the same gate
    /// ownership has nothing to do (the ring was empty, later claims are caught by the look after
    /// the gate is left, other signals get passes of their own) and is skipped.
    handed_over: bool,
}

/// The subscriber, type-erased once per subscription: the drain makes one dynamic call per pass,
/// and the item loop inside is monomorphised for the subscriber's type.
trait Target<T>: Send {
    /// Delivers buffered items while there are credits; adds the number popped to `popped`, even
    /// if the subscriber panics half way.
    fn deliver(&mut self, shared: &Shared<T>, credits: &mut u64, popped: &mut u64);
    /// Hands `item` straight to the subscriber, as a run of one; gives it back if the subscriber
    /// did not take it. Spends the credit it used.
    fn deliver_one(&mut self, item: T, credits: &mut u64) -> Option<T>;
    fn complete(&mut self);
    fn fail(&mut self, error: Error);
}

struct Deliver<S>(S);

impl<T, S> Target<T> for Deliver<S>
where
    T: Send + 'static,
    S: Subscriber<T>,
{
    fn deliver(&mut self, shared: &Shared<T>, credits: &mut u64, popped: &mut u64) {
        shared.deliver_to(&mut self.0, credits, popped)
    }

    #[inline]
    fn deliver_one(&mut self, item: T, credits: &mut u64) -> Option<T> {
        let mut one = One(Some(item));
        let used = self.0.on_next_iter(&mut one);
        let left = one.0.take();
        // Clamp to what was pulled: a subscriber that over-reports cannot spend credits it did
        // not use.
        let used = used.min(u64::from(left.is_none()));
        if *credits != UNBOUNDED {
            *credits -= used;
        }
        left
    }

    fn complete(&mut self) {
        crate::protocol::deliver_complete(&mut self.0);
    }

    fn fail(&mut self, error: Error) {
        deliver_error(&mut self.0, error)
    }
}

/// A run of one item, which remembers whether the subscriber pulled it.
struct One<T>(Option<T>);

impl<T> Iterator for One<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.0.take()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.0.is_some());
        (n, Some(n))
    }
}

/// A run of at most `left` items popped from the ring (then from the spill) as the subscriber
/// takes them.
struct PopRun<'a, T> {
    shared: &'a Shared<T>,
    left: u64,
    popped: &'a mut u64,
    /// The credits when the run started, for the `in_hand` mirror (`UNBOUNDED`: no mirror).
    credits: u64,
    /// Pops in this run.
    taken: u64,
}

impl<T> Iterator for PopRun<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        // Stop at once after a cancel (what is left goes to on_drop as Cancelled) or a request(0)
        // (the error must not wait for the buffer to run dry).
        let flags = &self.shared.flags;
        if self.left == 0
            || flags.cancelled.load(Ordering::Relaxed)
            || flags.invalid.load(Ordering::Relaxed)
        {
            return None;
        }
        // SAFETY: a PopRun only exists inside `deliver_to`, called by the gate owner.
        let item = unsafe { self.shared.pop_waiting() }?;
        self.left -= 1;
        self.taken += 1;
        *self.popped += 1;
        if self.credits != UNBOUNDED {
            // A plain store on the drain's own line: producers that meet a full ring read it.
            self.shared
                .rate
                .in_hand
                .store(self.credits - self.taken, Ordering::Relaxed);
        }
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, usize::try_from(self.left).ok())
    }
}

/// What [`Shared::pop_spilled`] found.
enum Spilled<T> {
    Item(T),
    Empty,
    /// The ring holds items again: they go first.
    RingFirst,
}

#[cfg(not(loom))]
fn thread_token() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|token| token as *const u8 as usize)
}

impl<T> Shared<T> {
    /// Runs `f` on the ring's consuming end.
    ///
    /// # Safety
    ///
    /// The caller owns the drain gate, or the policy is [`Overflow::DropOldest`] (then every
    /// access, including this one, holds `outlet_lock`).
    #[inline]
    unsafe fn with_outlet<R>(&self, f: impl FnOnce(&mut Outlet<T>) -> R) -> R {
        let _lock = (self.overflow == Overflow::DropOldest).then(|| self.outlet_lock.lock());
        self.outlet.0.with_mut(|outlet| {
            // SAFETY: per this function's contract, no other thread accesses the outlet now.
            f(unsafe { &mut *outlet })
        })
    }

    /// Pops the oldest item.
    ///
    /// # Safety
    ///
    /// As for [`with_outlet`](Self::with_outlet).
    #[inline]
    unsafe fn pop_owned(&self) -> Option<T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.with_outlet(Outlet::pop) }
    }

    /// Pops the oldest item, from the ring, then from the spill. A slot claimed by a producer
    /// that has not finished writing it is waited for (it is a few instructions from done): a
    /// drain stops on "empty" only when no claimed item is left, which is what lets producers
    /// that see the drain busy leave their items to it (see [`signal`](Self::signal)).
    ///
    /// # Safety
    ///
    /// The caller owns the drain gate.
    #[inline]
    unsafe fn pop_waiting(&self) -> Option<T> {
        let mut backoff = Backoff::new();
        loop {
            // SAFETY: forwarded from the caller.
            if let Some(item) = unsafe { self.pop_owned() } {
                return Some(item);
            }
            // SAFETY: forwarded from the caller.
            if !unsafe { self.with_outlet(|o| o.consumer.is_claimed()) } {
                match self.pop_spilled() {
                    Spilled::Item(item) => return Some(item),
                    Spilled::Empty => return None,
                    Spilled::RingFirst => {}
                }
            }
            backoff.snooze();
        }
    }

    /// Pops the oldest spilled item, if any, and only while the ring is empty (looked at under
    /// the spill's lock): an item spills only after its producer found the ring
    /// full under that lock, so every ring item pushed before it is then visible, and is taken
    /// first. The caller owns the drain gate.
    #[inline]
    fn pop_spilled(&self) -> Spilled<T> {
        if self.flags.spilled.load(Ordering::Acquire) == 0 {
            return Spilled::Empty;
        }
        let mut spill = self.spill.lock();
        if !self.inlet.is_empty() {
            return Spilled::RingFirst;
        }
        let Some(item) = spill.pop_front() else {
            return Spilled::Empty;
        };
        self.flags.spilled.store(spill.len(), Ordering::Release);
        drop(spill);
        // SAFETY: the caller owns the drain gate.
        unsafe { self.with_outlet(|o| o.popped += 1) };
        Spilled::Item(item)
    }

    /// Items held: in the ring and in the spill.
    fn held(&self) -> usize {
        self.inlet.len() + self.flags.spilled.load(Ordering::Acquire)
    }

    /// The subscriber's outstanding demand: what the drain holds plus what it has not taken.
    fn requested_now(&self) -> u64 {
        self.demand
            .get()
            .saturating_add(self.rate.in_hand.load(Ordering::Relaxed))
    }

    /// Marks the emitter closed to offers and wakes every waiting producer (they get `Closed`).
    fn close(&self) {
        if !self.flags.closed.swap(true, Ordering::AcqRel) {
            self.room.notify();
        }
    }

    /// The emitter's clock, in nanoseconds since its epoch.
    fn now_ns(&self) -> u64 {
        let since_epoch = match &self.clock {
            Some(clock) => clock.now().since_epoch(),
            None => self.epoch.elapsed(),
        };
        u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The `retry_after` hint of a refusal; refreshes the estimate when a span has passed.
    fn retry_after(&self) -> Option<Duration> {
        let rate = &*self.rate;
        let now = self.now_ns();
        let since = rate.since_ns.load(Ordering::Relaxed);
        let span = now.saturating_sub(since);
        let window = RATE_WINDOW.as_nanos() as u64;
        if span >= window
            && rate
                .since_ns
                .compare_exchange(since, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let delivered = rate.delivered.load(Ordering::Relaxed);
            let taken =
                delivered.wrapping_sub(rate.delivered_then.swap(delivered, Ordering::Relaxed));
            let per_item = if taken > 0 && span <= RATE_STALE.as_nanos() as u64 {
                (span / taken).max(1)
            } else {
                0
            };
            rate.per_item_ns.store(per_item, Ordering::Relaxed);
        }
        match rate.per_item_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Stores the end of the stream (first caller wins), closes, and lets the drain deliver it.
    /// A later error goes to the error hook.
    fn terminate(&self, end: Result<(), Error>) {
        self.end(end, Late::Report)
    }

    fn end(&self, end: Result<(), Error>, late: Late) {
        let stored = {
            let mut terminal = self.terminal.lock();
            let ended = self.flags.terminated.load(Ordering::Relaxed)
                || self.flags.cancelled.load(Ordering::Acquire);
            if ended {
                Err(end)
            } else {
                *terminal = Some(end);
                self.flags.terminated.store(true, Ordering::Release);
                Ok(())
            }
        };
        match stored {
            Ok(()) => {
                self.close();
                self.drain();
            }
            // Too late: an error is never swallowed, it goes to the hook.
            Err(Err(error)) if late == Late::Report => report_undeliverable(&error),
            Err(_) => {}
        }
    }

    /// After a push into the ring: makes sure a drain will see the item, without a
    /// read-modify-write when one is running.
    ///
    /// The push's claim is a SeqCst CAS, and the gate is read with a SeqCst load: either that
    /// load is ordered after a running drain's `leave` (it sees the gate idle and enters), or the
    /// drain's look at the tail after it left, behind a SeqCst fence, sees the claim and drains
    /// again (see [`drain`](Self::drain)). The drain waits for a claimed slot to be written
    /// ([`pop_waiting`](Self::pop_waiting)), so it never leaves a claimed item behind.
    #[inline]
    fn signal(&self) {
        if self.flags.fused.load(Ordering::Acquire) {
            return self.wake_puller();
        }
        // Loom regards SeqCst accesses as AcqRel: the fence stands for the SeqCst order that the
        // C++ model gives the CAS and the load (see `DrainGate::is_idle`).
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        if self.stage.is_idle() {
            self.drain();
        }
    }

    /// After a push, with a fused consumer: it drains for itself, so only wake it if it announced
    /// that it parks. No fence: the push's claim was a SeqCst read-modify-write, and the waker
    /// reads the announcement with a SeqCst load, which that claim orders (`crate::wait`).
    #[inline]
    fn wake_puller(&self) {
        // (Under loom each waker puts in the fence that stands for the SeqCst order itself.)
        self.puller.0.with(|slot| {
            // SAFETY: callers loaded `fused == true` with Acquire, after the one write (`WakerCell`).
            if let Some(waker) = unsafe { &*slot } {
                waker.wake();
            }
        });
    }

    /// [`wake_puller`](Self::wake_puller) after a plain-store claim
    /// (`mpsc::Producer::push_single`): the waker reads the consumer's announcement behind a
    /// SeqCst fence, which stands for the order a claim's read-modify-write gives
    /// (`PullWaker::wake_after_store`, `crate::wait`).
    #[inline]
    fn wake_puller_after_store(&self) {
        self.puller.0.with(|slot| {
            // SAFETY: callers loaded `fused == true` with Acquire, after the one write (`WakerCell`).
            if let Some(waker) = unsafe { &*slot } {
                waker.wake_after_store();
            }
        });
    }

    /// Enters the drain gate; runs the drain loop if this thread now owns it.
    ///
    /// With a fused consumer the look after leaving does not drain again: it wakes the puller if
    /// something was claimed since the last pass began (a producer whose `signal` still saw the
    /// emitter unfused may have left its item to this pass). The puller looks exactly before it
    /// parks, so waking it is enough, and draining here again and again while the producers keep
    /// pushing would run short passes on the requesting thread, each taking the tail's line from
    /// them. The order: a claim the puller's look missed comes after its announcement's fence in
    /// the single total order, and this thread's fence comes after it saw the claim, so its load
    /// of the announcement sees it (`wait::Parker::notify_after_seqcst_rmw`).
    fn drain(&self) {
        let mut seen = self.inlet.tail_token();
        self.stage.drain(|stage| {
            seen = self.inlet.tail_token();
            self.pass(stage)
        });
        if self.flags.fused.load(Ordering::Acquire) {
            fence(Ordering::SeqCst);
            if self.inlet.tail_token() != seen {
                self.wake_puller();
            }
            return;
        }
        self.recheck(seen);
    }

    /// After the gate was released: items claimed since the last pass began may belong to
    /// producers that saw the gate busy and left them to us. Look (behind a SeqCst fence) and
    /// drain again if so; if another thread took the gate meanwhile, it sees them.
    #[inline]
    fn recheck(&self, mut seen: usize) {
        loop {
            fence(Ordering::SeqCst);
            if self.inlet.tail_token() == seen {
                return;
            }
            let mut owned = false;
            self.stage.drain(|stage| {
                owned = true;
                seen = self.inlet.tail_token();
                self.pass(stage)
            });
            if !owned {
                return;
            }
        }
    }

    /// One drain pass: adopt the subscriber, deliver what demand allows, deliver the end, discard
    /// what arrives after it, wake producers if slots freed up.
    fn pass(&self, stage: &mut Stage<T>) {
        if std::mem::take(&mut stage.handed_over) {
            return;
        }
        #[cfg(not(loom))]
        self.drainer.store(thread_token(), Ordering::Relaxed);
        self.adopt(stage);
        let mut freed = 0;
        if !stage.over {
            freed += self.serve(stage);
        }
        if stage.over {
            stage.target = None;
            // Waiting for claimed slots too: an offer that raced the end and saw the gate busy
            // left its item to this pass.
            // SAFETY: we own the gate (`pass` runs only inside the gate cell).
            while let Some(item) = unsafe { self.pop_waiting() } {
                self.options.discard(item, DropReason::Cancelled);
                freed += 1;
            }
        }
        if freed > 0 {
            self.room.notify();
        }
        self.record_counts(stage);
        #[cfg(not(loom))]
        self.drainer.store(0, Ordering::Relaxed);
    }

    #[inline]
    fn adopt(&self, stage: &mut Stage<T>) {
        if !stage.adopted && self.flags.handed_over.load(Ordering::Acquire) {
            stage.target = self.pending.lock().take();
            stage.adopted = true;
        }
    }

    #[inline]
    fn record_counts(&self, stage: &mut Stage<T>) {
        if let Some(metrics) = self.options.metrics() {
            // SAFETY: we own the gate.
            let (received, buffered) = unsafe {
                self.with_outlet(|o| {
                    let held = o.consumer.len() as u64;
                    (o.popped + held, held)
                })
            };
            let spilled = self.flags.spilled.load(Ordering::Acquire) as u64;
            let received = received + spilled;
            metrics.record_received(received.saturating_sub(stage.received_seen));
            stage.received_seen = stage.received_seen.max(received);
            metrics.set_buffered(buffered + spilled);
        }
    }

    /// Delivers to the subscriber, if there is one and it is still listening; returns the items
    /// popped. Sets `stage.over` when the stream ended in this pass.
    fn serve(&self, stage: &mut Stage<T>) -> u64 {
        if self.flags.cancelled.load(Ordering::Acquire) {
            stage.over = true;
            return 0;
        }
        let Stage {
            target, credits, ..
        } = stage;
        let Some(target) = target.as_mut() else {
            // Nobody subscribed yet: items wait in the buffer.
            return 0;
        };
        if self.flags.invalid.load(Ordering::Acquire) {
            self.finish(stage, Err(Error::invalid_demand()));
            return 0;
        }
        // Read before the buffer is looked at: every item offered before the end is then visible.
        let terminated = self.flags.terminated.load(Ordering::Acquire);
        if terminated && self.options.error_mode == ErrorMode::Immediate {
            let mut terminal = self.terminal.lock();
            if let Some(Err(_)) = &*terminal {
                let end = terminal.take().unwrap_or(Ok(()));
                drop(terminal);
                self.finish(stage, end);
                return 0;
            }
        }
        let mut popped = 0;
        let delivered = catch("an emitter's subscriber", || {
            target.deliver(self, credits, &mut popped)
        });
        self.delivered(stage, popped);
        if let Err(panic) = delivered {
            // Rule 2.13: a panicking subscriber counts as cancelled; its panic is reported.
            self.finish(stage, Err(panic));
            return popped;
        }
        if self.flags.invalid.load(Ordering::Acquire) {
            // request(0) from inside the run: it wins over a completion the run reached.
            self.finish(stage, Err(Error::invalid_demand()));
            return popped;
        }
        if terminated && self.held() == 0 {
            let end = self.terminal.lock().take().unwrap_or(Ok(()));
            self.finish(stage, end);
        }
        popped
    }

    /// Counts `n` items handed to the subscriber.
    #[inline]
    fn delivered(&self, stage: &mut Stage<T>, n: u64) {
        if n == 0 {
            return;
        }
        stage.delivered += n;
        self.rate
            .delivered
            .store(stage.delivered, Ordering::Relaxed);
        if let Some(metrics) = self.options.metrics() {
            metrics.record_emitted(n);
        }
    }

    /// Ends the subscription with `end` (unless the subscriber cancelled meanwhile), releases the
    /// subscriber, and closes the emitter.
    fn finish(&self, stage: &mut Stage<T>, end: Result<(), Error>) {
        stage.over = true;
        self.close();
        let Some(mut target) = stage.target.take() else {
            return;
        };
        if self.flags.cancelled.swap(true, Ordering::AcqRel) {
            // Cancelled inside the last run: no terminal signal follows a cancel (rule 1.06).
            if let Err(error) = end {
                report_undeliverable(&error);
            }
            return;
        }
        match end {
            Ok(()) => target.complete(),
            Err(error) => target.fail(error),
        }
    }

    /// The gate owner's first step of an offer: hand `item` straight to the subscriber when it
    /// has demand and nothing is held ahead of it; else push it into the ring. Gives the item
    /// back if the ring is full.
    #[inline]
    fn hand_over(&self, stage: &mut Stage<T>, item: T) -> Option<T> {
        self.adopt(stage);
        let item = match self.try_direct(stage, item) {
            Ok(()) => return None,
            Err(item) => item,
        };
        self.inlet.push(item).err().map(|full| full.into_inner())
    }

    /// Delivers `item` at once if the subscriber listens, has a credit, and no item is held.
    #[inline]
    fn try_direct(&self, stage: &mut Stage<T>, item: T) -> Result<(), T> {
        if stage.over
            || stage.target.is_none()
            || self.flags.cancelled.load(Ordering::Acquire)
            || self.flags.invalid.load(Ordering::Acquire)
            || self.flags.terminated.load(Ordering::Acquire)
            || !self.inlet.is_empty()
            || self.flags.spilled.load(Ordering::Acquire) != 0
        {
            return Err(item);
        }
        if stage.credits == 0 {
            stage.credits = self.demand.take();
            if stage.credits == 0 {
                return Err(item);
            }
        }
        let Stage {
            target, credits, ..
        } = stage;
        let Some(target) = target.as_mut() else {
            return Err(item);
        };
        if *credits != UNBOUNDED {
            self.rate.in_hand.store(*credits - 1, Ordering::Relaxed);
        }
        #[cfg(not(loom))]
        self.drainer.store(thread_token(), Ordering::Relaxed);
        let outcome = catch("an emitter's subscriber", || {
            target.deliver_one(item, credits)
        });
        #[cfg(not(loom))]
        self.drainer.store(0, Ordering::Relaxed);
        if stage.credits != UNBOUNDED {
            self.rate.in_hand.store(stage.credits, Ordering::Relaxed);
        }
        match outcome {
            Ok(None) => {
                self.delivered(stage, 1);
                // SAFETY: we own the gate.
                unsafe { self.with_outlet(|o| o.popped += 1) };
                // Metrics are counted by a pass: keep it then.
                stage.handed_over = self.options.metrics().is_none();
                Ok(())
            }
            // Not pulled: it goes into the buffer like any other.
            Ok(Some(item)) => Err(item),
            Err(panic) => {
                // The item went down with the subscriber's panic (it was pulled and dropped).
                self.delivered(stage, 1);
                // SAFETY: we own the gate.
                unsafe { self.with_outlet(|o| o.popped += 1) };
                self.finish(stage, Err(panic));
                Ok(())
            }
        }
    }
}

impl<T: Send + 'static> Shared<T> {
    /// Offers `item` under the emitter's policy, waiting as `wait` allows.
    #[inline]
    fn offer(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        if self.flags.closed.load(Ordering::Acquire) {
            return Err(EmitError::Closed(item));
        }
        if self.flags.spilled.load(Ordering::Acquire) != 0 {
            return self.on_full(item, wait);
        }
        if self.flags.fused.load(Ordering::Acquire) {
            return self.offer_fused(item, wait);
        }
        if self.stage.is_idle() {
            // Nobody drains: take the gate and hand the item straight through (or buffer it).
            let mut refused = None;
            let mut item = Some(item);
            let mut seen = self.inlet.tail_token();
            let entered = self.stage.enter_with(
                |stage| {
                    if let Some(item) = item.take() {
                        refused = self.hand_over(stage, item);
                    }
                },
                |stage| {
                    seen = self.inlet.tail_token();
                    self.pass(stage)
                },
            );
            if entered.is_some() || item.is_none() {
                self.recheck(seen);
                return match refused {
                    None => Ok(()),
                    Some(item) => self.on_full(item, wait),
                };
            }
            // Someone else took the gate first (our signal is recorded): push as usual.
            let Some(back) = item else {
                return Ok(());
            };
            return self.push(back, wait);
        }
        self.push(item, wait)
    }

    /// An offer to a fused consumer: push and wake it (one read-modify-write, the claim). A full
    /// ring first gets a drain pass on this thread, which delivers against outstanding demand
    /// (capacity = buffered + demand), then the push is tried once more.
    #[inline]
    fn offer_fused(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        match self.inlet.push(item) {
            Ok(()) => {
                self.wake_puller();
                Ok(())
            }
            Err(full) => {
                self.drain();
                self.push(full.into_inner(), wait)
            }
        }
    }

    /// [`offer`](Self::offer) from a [`SingleEmitter`]: to a fused consumer with room in the ring,
    /// the claim is a plain store and the waker puts in the barrier; everything else goes the
    /// shared way.
    ///
    /// # Safety
    ///
    /// Only the emitter's `SingleEmitter` calls this: no other push into `inlet` runs at the same
    /// time, and every earlier one happened-before (`mpsc::Producer::push_single`).
    #[inline]
    unsafe fn offer_single(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        if !self.flags.fused.load(Ordering::Acquire)
            || self.flags.closed.load(Ordering::Acquire)
            || self.flags.spilled.load(Ordering::Acquire) != 0
        {
            return self.offer(item, wait);
        }
        // SAFETY: this function's contract, passed on.
        let mut item = match unsafe { self.push_single_and_wake(item) } {
            Ok(()) => return Ok(()),
            Err(item) => item,
        };
        if self.room_soon(wait) {
            // SAFETY: as above.
            item = match unsafe { self.push_single_and_wake(item) } {
                Ok(()) => return Ok(()),
                Err(item) => item,
            };
        }
        self.drain();
        self.push(item, wait)
    }

    /// The plain-store claim, then the wake-up check; `Err(item)` when the ring is full.
    ///
    /// # Safety
    ///
    /// As [`offer_single`](Self::offer_single).
    #[inline]
    unsafe fn push_single_and_wake(&self, item: T) -> Result<(), T> {
        // SAFETY: the caller's contract, which is `push_single`'s.
        match unsafe { self.inlet.push_single(item) } {
            Ok(()) => {
                self.wake_puller_after_store();
                Ok(())
            }
            Err(full) => Err(full.into_inner()),
        }
    }

    /// A fused consumer drains for itself: when the ring is full and this offer may wait for
    /// room, give the consumer a moment to free [`ROOM_DEPTH`] slots (the wait strategy's
    /// bounded spin, [`crate::wait::spin_until`], on a slot stamp only the consumer writes)
    /// before taking over its drain. A single producer outruns its consumer, and would otherwise
    /// run drain passes on its own thread each time the ring fills, fighting the consumer for
    /// the gate and the lines it works on: waiting took one producer read by a blocking
    /// iterator from 1.13–1.40× to 1.44–1.73× the shared `Emitter` on the reference machine
    /// (1.15–1.71× with two busy threads beside). `true`: the slot looks free now.
    #[inline(never)]
    fn room_soon(&self, wait: Wait) -> bool {
        match wait {
            Wait::Never => return false,
            Wait::Until(Some(deadline)) if std::time::Instant::now() >= deadline => return false,
            Wait::Until(_) | Wait::Forever => {}
        }
        if self.overflow != Overflow::Backpressure {
            return false;
        }
        crate::wait::spin_until(|| self.inlet.looks_free(ROOM_DEPTH).then_some(())).is_some()
    }

    #[inline]
    fn push(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        match self.inlet.push(item) {
            Ok(()) => {
                self.signal();
                Ok(())
            }
            Err(full) => self.on_full(full.into_inner(), wait),
        }
    }

    #[cold]
    fn on_full(&self, item: T, wait: Wait) -> Result<(), EmitError<T>> {
        let item = match self.spill_against_demand(item) {
            Ok(outcome) => return outcome,
            Err(item) => item,
        };
        match self.overflow {
            Overflow::Backpressure => match wait {
                Wait::Never => Err(self.refuse(item)),
                Wait::Until(deadline) => self.wait_for_room(item, deadline, false),
                Wait::Forever => self.wait_for_room(item, None, true),
            },
            Overflow::DropNewest => {
                self.options.discard(item, DropReason::Overflow);
                Ok(())
            }
            Overflow::DropOldest => self.evict_and_push(item),
            Overflow::Error => {
                if let Some(m) = self.options.metrics() {
                    m.record_rejected(1);
                }
                // Producers racing to overflow: the first one's error ends the stream, the
                // others' are the same news and not reported again.
                let overflow = Error::overflow("emitter (Overflow::Error)");
                self.end(Err(overflow), Late::Ignore);
                Err(EmitError::Full {
                    item,
                    retry_after: None,
                })
            }
        }
    }

    /// Capacity = buffered items + outstanding demand: an item that finds the ring full while
    /// the subscriber has demand the held items do not cover is taken all the same, into the
    /// spill (delivered after the ring's items). Also where every offer goes while the spill
    /// holds items, so that each producer's order is kept. `Err(item)`: no room and no demand
    /// for it, the policy decides.
    fn spill_against_demand(&self, item: T) -> Result<Result<(), EmitError<T>>, T> {
        let mut spill = self.spill.lock();
        if self.flags.closed.load(Ordering::Acquire) {
            return Ok(Err(EmitError::Closed(item)));
        }
        let mut item = item;
        if spill.is_empty() {
            // Room may have come meanwhile: the ring first.
            match self.inlet.push(item) {
                Ok(()) => {
                    drop(spill);
                    self.signal();
                    return Ok(Ok(()));
                }
                Err(full) => item = full.into_inner(),
            }
        }
        let held = (self.inlet.len() + spill.len()) as u64;
        let room = (self.inlet.capacity() as u64).saturating_add(self.requested_now());
        if held >= room {
            if spill.is_empty() || self.overflow != Overflow::DropOldest {
                // The policy decides; while the spill holds items, a waiting offer waits for it
                // to empty (it must not overtake them into the ring).
                return Err(item);
            }
            // DropOldest behind a spill: evict the oldest held item, queue this one last.
            // SAFETY: the policy is DropOldest, so `with_outlet` holds `outlet_lock`.
            let oldest = unsafe { self.pop_owned() }.or_else(|| spill.pop_front());
            if let Some(oldest) = oldest {
                self.options.discard(oldest, DropReason::Evicted);
            }
        }
        spill.push_back(item);
        self.flags.spilled.store(spill.len(), Ordering::Release);
        drop(spill);
        // Cold path: the read-modify-write of entering the gate is fine here.
        self.drain();
        Ok(Ok(()))
    }

    /// A `Full` refusal, counted.
    fn refuse(&self, item: T) -> EmitError<T> {
        if let Some(m) = self.options.metrics() {
            m.record_rejected(1);
        }
        EmitError::Full {
            item,
            retry_after: self.retry_after(),
        }
    }

    /// `DropOldest`: evicts the oldest held item until `item` fits.
    fn evict_and_push(&self, mut item: T) -> Result<(), EmitError<T>> {
        let mut backoff = Backoff::new();
        loop {
            // SAFETY: the policy is DropOldest, so `with_outlet` holds `outlet_lock`.
            match unsafe { self.pop_owned() } {
                Some(oldest) => self.options.discard(oldest, DropReason::Evicted),
                // The oldest slot is claimed but still being written: its producer is a few
                // instructions from done.
                None => backoff.snooze(),
            }
            if self.flags.closed.load(Ordering::Acquire) {
                return Err(EmitError::Closed(item));
            }
            match self.inlet.push(item) {
                Ok(()) => {
                    self.signal();
                    return Ok(());
                }
                Err(full) => item = full.into_inner(),
            }
        }
    }

    /// Waits until `item` fits, the emitter closes, or `deadline` passes: spins briefly, then
    /// parks on `room` (the drain notifies it after freeing slots).
    fn wait_for_room(
        &self,
        item: T,
        deadline: Option<std::time::Instant>,
        forever: bool,
    ) -> Result<(), EmitError<T>> {
        #[cfg(not(loom))]
        if forever && self.drainer.load(Ordering::Relaxed) == thread_token() {
            panic!(
                "Emitter::emit called from inside this emitter's own drain (its subscriber's \
                 signal handler): waiting for room there would block forever"
            );
        }
        let mut item = Some(item);
        let deadline = if forever { None } else { deadline };
        let outcome = self.room.wait(
            || {
                if self.flags.closed.load(Ordering::Acquire) {
                    return item.take().map(|offered| Err(EmitError::Closed(offered)));
                }
                if self.flags.spilled.load(Ordering::Acquire) != 0 {
                    // Items taken against demand are ahead: do not overtake them.
                    return None;
                }
                let offered = item.take()?;
                match self.inlet.push(offered) {
                    Ok(()) => Some(Ok(())),
                    Err(full) => {
                        item = Some(full.into_inner());
                        None
                    }
                }
            },
            deadline,
        );
        match outcome {
            Some(Ok(())) => {
                self.signal();
                Ok(())
            }
            Some(Err(closed)) => Err(closed),
            None => {
                if let Some(m) = self.options.metrics() {
                    m.record_rejected(1);
                }
                let item = item.expect("an offer that timed out still holds its item");
                Err(EmitError::Timeout(item))
            }
        }
    }

    /// The item loop of one pass, monomorphised for the subscriber's type: runs of up to
    /// [`CHUNK`] items go down in one [`Subscriber::on_next_iter`] call. Credits are taken from
    /// `demand` all at once (one read-modify-write for many items) and spent locally.
    #[inline]
    fn deliver_to<S: Subscriber<T>>(
        &self,
        subscriber: &mut S,
        credits: &mut u64,
        popped: &mut u64,
    ) {
        loop {
            if *credits == 0 {
                *credits = self.demand.take();
                if *credits == 0 {
                    self.rate.in_hand.store(0, Ordering::Relaxed);
                    return;
                }
            }
            let unbounded = *credits == UNBOUNDED;
            let want = if unbounded {
                CHUNK
            } else {
                (*credits).min(CHUNK)
            };
            let before = *popped;
            let used = subscriber.on_next_iter(PopRun {
                shared: self,
                left: want,
                popped: &mut *popped,
                credits: *credits,
                taken: 0,
            });
            let taken = *popped - before;
            // Clamp to what was pulled: a subscriber that over-reports cannot spend credits it
            // did not use (rule 1.01 holds whatever it returns).
            let used = used.min(taken);
            if !unbounded {
                *credits -= used;
                self.rate.in_hand.store(*credits, Ordering::Relaxed);
            }
            if taken < want {
                // The buffer ran dry, or the subscriber cancelled.
                return;
            }
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Nobody can reach the emitter any more: items still held (nobody subscribed, or offers
        // that raced the end) go to on_drop rather than vanish.
        self.outlet.0.with_mut(|outlet| {
            // SAFETY: `&mut self`: no other reference exists.
            let outlet = unsafe { &mut *outlet };
            while let Some(item) = outlet.pop() {
                self.options.discard(item, DropReason::Cancelled);
            }
        });
        for item in std::mem::take(&mut *self.spill.lock()) {
            self.options.discard(item, DropReason::Cancelled);
        }
    }
}
