//! The multicast hub behind [`Flux::broadcast`](crate::Flux::broadcast) and
//! [`Flux::share`](crate::Flux::share).
//!
//! The user-facing contract lives on those methods. How it is built:
//!
//! - A [`Broadcast`] routes new subscribers to its current *core*. A core is one connection: one
//!   upstream subscription, its items, its members. Reconnecting (after a disconnect, or `share()`
//!   after a termination) starts a fresh core; subscribers of an old core finish with it, so a
//!   reconnect never disturbs them.
//! - The upstream side (rule 1.03 serialises it) pushes items into an spsc ring of capacity
//!   `prefetch`. The core's drain loop, serialised by a [`DrainGate`], moves them into `held`, a
//!   window of sequence numbers `base..base + held.len()`, and serves every member from its own
//!   cursor into that window, cloning each item it hands out.
//! - `base` is the smallest cursor of the lossless members: the window keeps every item until each
//!   of them has taken it. Upstream is asked for `prefetch` at connect and topped up (75% rule) by
//!   the number of items the window released, so `held + ring + outstanding <= prefetch`: memory is
//!   bounded and the slowest lossless member sets the pace.
//! - A lossy member copies the items beyond its demand into its own drop-oldest queue at once, so
//!   it never holds the window back.
//! - Every change that is not demand (a member joining, the upstream handle arriving, the upstream
//!   terminating, a disconnect) goes through the core's `control` mutex, which is never held across
//!   a call out; the drain owner locks it only when the `dirty` flag says something changed.
//! - All calls to the upstream subscription (`request`, `cancel`) are made by the drain owner, so
//!   the demand arithmetic has a single writer and needs no atomics of its own.

use std::collections::VecDeque;
use std::fmt;

use crate::demand::{Demand, GateCell, Replenish, UNBOUNDED};
use crate::error::{report_undeliverable, Error, ErrorKind};
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, ErrorMode, StageOptions};
use crate::protocol::{catch, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::queue::spsc;
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// The number of items a [`Broadcast`] prefetches unless told otherwise
/// ([`Flux::broadcast_with`](crate::Flux::broadcast_with)).
pub const BROADCAST_PREFETCH: usize = 256;

/// How one subscriber of a [`Broadcast`] is served; see [`Flux::lane`](crate::Flux::lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Every item, at the pace of the slowest lossless subscriber (the default).
    Lossless,
    /// Holds at most `n` items beyond the subscriber's demand; a newer item evicts the oldest held
    /// one ([`DropReason::Evicted`]). Never slows the other subscribers down.
    DropOldest(usize),
    /// `DropOldest(1)`: the subscriber gets the newest item when it next asks.
    Latest,
}

impl Lane {
    /// The capacity of a lossy lane, `None` for a lossless one.
    fn capacity(self) -> Option<usize> {
        match self {
            Lane::Lossless => None,
            Lane::DropOldest(n) => Some(n),
            Lane::Latest => Some(1),
        }
    }
}

/// A publisher several subscribers share: what [`Flux::connect`](crate::Flux::connect),
/// [`Flux::auto_connect`](crate::Flux::auto_connect), [`Flux::ref_count`](crate::Flux::ref_count)
/// and [`Flux::lane`](crate::Flux::lane) work on. Implemented by [`Broadcast`].
pub trait Multicast: Publisher {
    /// The publisher of one lane of the hub.
    type Lane: Publisher<Item = Self::Item>;

    /// Subscribes upstream now, unless the current connection is live; returns its handle.
    fn connect(&self) -> Connection;

    /// Connects by itself once `subscribers` subscribers have arrived (0: connect now).
    fn set_auto_connect(&mut self, subscribers: usize);

    /// Connects once `subscribers` are subscribed at the same time; disconnects when the last leaves.
    fn set_ref_count(&mut self, subscribers: usize);

    /// A publisher whose subscribers are served by `lane`.
    fn lane(&self, lane: Lane) -> Self::Lane;
}

/// When a hub subscribes upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// On [`Multicast::connect`] only.
    Manual,
    /// Once, when this many subscribers have arrived in total.
    Auto(usize),
    /// When this many are subscribed at once; disconnects when none is left.
    RefCount(usize),
}

/// The multicast hub: subscribers share one upstream subscription. Built by
/// [`Flux::broadcast`](crate::Flux::broadcast) and [`Flux::share`](crate::Flux::share).
pub struct Broadcast<P: Publisher> {
    hub: StdArc<Hub<P>>,
}

/// The subscribers of one lane of a [`Broadcast`]. Built by [`Flux::lane`](crate::Flux::lane).
pub struct BroadcastLane<P: Publisher> {
    hub: StdArc<Hub<P>>,
    lane: Lane,
    options: StageOptions<P::Item>,
}

/// The handle of one connection of a [`Broadcast`], returned by
/// [`Flux::connect`](crate::Flux::connect). Cheap to clone; dropping it does not disconnect.
#[derive(Clone)]
pub struct Connection {
    link: StdArc<dyn Link>,
}

impl Connection {
    /// Cancels the upstream subscription. The connection's subscribers get an
    /// [`ErrorKind::Closed`] error (Reactor signals a `CancellationException("Disconnected")`), and
    /// the items it held are dropped ([`DropReason::Cancelled`]). Later subscribers wait for the
    /// next connect. Idempotent; a no-op once the upstream terminated.
    pub fn disconnect(&self) {
        self.link.disconnect()
    }

    /// Whether the upstream subscription is live: connected, not terminated, not disconnected.
    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// What a [`Connection`] needs of its core, without its item type.
trait Link: Send + Sync {
    fn disconnect(&self);
    fn is_connected(&self) -> bool;
}

struct Hub<P: Publisher> {
    source: P,
    mode: Mode,
    prefetch: usize,
    options: StageOptions<P::Item>,
    control: Mutex<HubControl<P::Item>>,
}

struct HubControl<T> {
    /// The core new subscribers join; replaced when it is finished (see `Hub::route`).
    current: Option<StdArc<Core<T>>>,
    /// Subscribers whose `on_subscribe` has returned, ever, for `Mode::Auto`.
    arrived: usize,
    /// Whether `Mode::Auto` has connected (it does so once).
    auto_fired: bool,
}

impl<P: Publisher> Clone for Broadcast<P> {
    fn clone(&self) -> Self {
        Broadcast {
            hub: self.hub.clone(),
        }
    }
}

impl<P: Publisher> Clone for BroadcastLane<P> {
    fn clone(&self) -> Self {
        BroadcastLane {
            hub: self.hub.clone(),
            lane: self.lane,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher> fmt::Debug for Broadcast<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("mode", &self.hub.mode)
            .field("prefetch", &self.hub.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> fmt::Debug for BroadcastLane<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastLane")
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Broadcast<P> {
    /// A hub over `source` that connects on [`Multicast::connect`] (or per `ref_count`).
    pub(crate) fn new(source: P, prefetch: usize, ref_count: bool) -> Self {
        assert!(prefetch > 0, "broadcast: prefetch must be at least 1");
        Broadcast {
            hub: StdArc::new(Hub {
                source,
                mode: if ref_count {
                    Mode::RefCount(1)
                } else {
                    Mode::Manual
                },
                prefetch,
                options: StageOptions::default(),
                control: Mutex::new(HubControl {
                    current: None,
                    arrived: 0,
                    auto_fired: false,
                }),
            }),
        }
    }

    fn hub_mut(&mut self) -> &mut Hub<P> {
        StdArc::get_mut(&mut self.hub).expect(
            "broadcast: configure the hub (on_drop, metrics, error_mode, auto_connect, ref_count) \
             before cloning it or taking a lane of it",
        )
    }
}

impl<P: Publisher> Configurable for Broadcast<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.hub_mut().options
    }
}

impl<P: Publisher> Configurable for BroadcastLane<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for Broadcast<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.hub.join(subscriber, None)
    }
}

impl<P> Publisher for BroadcastLane<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let lane = self.lane.capacity().map(|capacity| LaneQueue {
            capacity,
            queue: VecDeque::new(),
            options: self.options.clone(),
        });
        self.hub.join(subscriber, lane)
    }
}

impl<P> Multicast for Broadcast<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    type Lane = BroadcastLane<P>;

    fn connect(&self) -> Connection {
        self.hub.connect()
    }

    fn set_auto_connect(&mut self, subscribers: usize) {
        self.hub_mut().mode = Mode::Auto(subscribers);
        if subscribers == 0 {
            self.hub.control.lock().auto_fired = true;
            self.hub.connect();
        }
    }

    fn set_ref_count(&mut self, subscribers: usize) {
        self.hub_mut().mode = Mode::RefCount(subscribers.max(1));
    }

    fn lane(&self, lane: Lane) -> BroadcastLane<P> {
        if let Lane::DropOldest(0) = lane {
            panic!("broadcast lane: DropOldest(n) needs n >= 1 (Lane::Latest is DropOldest(1))");
        }
        BroadcastLane {
            hub: self.hub.clone(),
            lane,
            options: StageOptions::default(),
        }
    }
}

impl<P> Hub<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    fn new_core(&self) -> StdArc<Core<P::Item>> {
        StdArc::new(Core::new(
            self.prefetch,
            matches!(self.mode, Mode::RefCount(_)),
            self.options.clone(),
        ))
    }

    /// Picks the core a new subscriber joins and reserves its place there.
    fn route(&self) -> StdArc<Core<P::Item>> {
        let mut control = self.control.lock();
        let refcount = matches!(self.mode, Mode::RefCount(_));
        loop {
            let core = match &control.current {
                Some(core) => core.clone(),
                None => {
                    let core = self.new_core();
                    control.current = Some(core.clone());
                    core
                }
            };
            if !core.reserve(refcount) {
                // Finished: disconnected, or terminated under `share()` (Reactor resets a
                // ref-counted publish when its source terminates).
                control.current = None;
                continue;
            }
            return core;
        }
    }

    /// Counts a subscriber whose `on_subscribe` has returned (it is enlisted, or it failed) and
    /// says whether its arrival connects the hub. Counted only then, not when its place was
    /// reserved: a connection made while an earlier arrival was still inside `on_subscribe`
    /// would stream past it, and it would miss the first items that `auto_connect(n)` promises
    /// to all `n` (Reactor's `autoConnect` adds each subscriber before it counts it).
    fn arrive(&self) -> bool {
        match self.mode {
            Mode::Manual => false,
            Mode::Auto(n) => {
                let mut control = self.control.lock();
                control.arrived += 1;
                let fire = !control.auto_fired && control.arrived >= n;
                control.auto_fired |= fire;
                fire
            }
            // `Core::connect` counts the members enlisted there.
            Mode::RefCount(_) => true,
        }
    }

    fn join<S>(&self, mut subscriber: S, lane: Option<LaneQueue<P::Item>>)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let core = self.route();
        let link = StdArc::new(MemberLink {
            core: core.clone(),
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        let handle: SharedSubscription = link.clone();
        // on_subscribe runs before the member is handed to the drain loop: requests made inside it
        // are only recorded, and the first item follows its return (rule 1.03).
        match catch("on_subscribe", || subscriber.on_subscribe(handle)) {
            Ok(()) => core.enlist(Member {
                link,
                sink: Box::new(subscriber),
                cursor: 0,
                lane,
            }),
            Err(panic) => {
                link.cancelled.store(true, Ordering::Release);
                crate::protocol::deliver_error(&mut subscriber, panic);
                core.abandon();
            }
        }
        if self.arrive() {
            let min_members = match self.mode {
                Mode::RefCount(n) => n,
                _ => 0,
            };
            core.connect(&self.source, min_members);
        }
        core.drain();
    }

    fn connect(&self) -> Connection {
        let core = {
            let mut control = self.control.lock();
            match &control.current {
                Some(core) if !core.is_finished() => core.clone(),
                _ => {
                    let core = self.new_core();
                    control.current = Some(core.clone());
                    core
                }
            }
        };
        core.connect(&self.source, 0);
        Connection { link: core }
    }
}

/// The life of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not subscribed upstream yet.
    Idle,
    /// Subscribed upstream (the upstream handle may still be on its way).
    Connected,
    /// The upstream terminated; the drain owner has seen it.
    Terminated,
    /// Cancelled by `Connection::disconnect` or by the last subscriber leaving a ref-counted hub.
    Disconnected,
}

/// One connection: an upstream subscription and the members it serves.
struct Core<T> {
    /// Set (Release swap, `mark_dirty`) inside `control`'s lock after every change to it; the
    /// drain owner clears it (AcqRel swap) before locking, so a pass locks only when something
    /// changed, and a change made after the clear is followed by a `drain` call that gives the
    /// owner another pass.
    dirty: AtomicBool,
    /// The cold path: joins, the upstream handle, termination, disconnects.
    control: Mutex<Control<T>>,
    /// Disconnect when the last member leaves (`share()` / `ref_count`).
    refcount: bool,
    prefetch: usize,
    options: StageOptions<T>,
    /// The drain owner's state, behind the core's drain gate.
    owned: GateCell<Owned<T>>,
}

struct Control<T> {
    state: State,
    /// Members reserved by `Hub::route` and not yet removed by the drain owner.
    members: usize,
    /// Of those, the ones still inside their `on_subscribe` (not enlisted yet): they do not
    /// count towards a `ref_count(n)` connection.
    pending: usize,
    /// Members subscribed and waiting for the drain owner to take them in.
    joining: Vec<Member<T>>,
    /// The ring's writing end until `connect` hands it to the upstream side.
    producer: Option<spsc::Producer<T>>,
    /// The upstream handle, from `on_subscribe` until the drain owner takes it.
    upstream: Option<SharedSubscription>,
    /// The upstream's terminal signal, until the drain owner takes it.
    end: Option<Result<(), Error>>,
}

struct Owned<T> {
    inbound: spsc::Consumer<T>,
    /// Items with sequence numbers `base..base + held.len()`, kept until every lossless member
    /// has taken them.
    held: VecDeque<T>,
    base: u64,
    /// One past the newest item handed to any member: where a newcomer's cursor starts.
    frontier: u64,
    members: Vec<Member<T>>,
    upstream: Option<SharedSubscription>,
    /// Items requested upstream and not received yet: more than this is an overflow (a
    /// non-compliant upstream), whatever room the ring has.
    outstanding: u64,
    replenish: Replenish,
    /// The upstream's terminal signal, once every item before it is in `held`.
    end: Option<Result<(), Error>>,
    /// Disconnected: everything was released; joiners are turned away.
    closed: bool,
}

/// One subscriber of a core.
struct Member<T> {
    link: StdArc<MemberLink<T>>,
    sink: Box<dyn Deliver<T>>,
    /// Sequence number of the next item for this member, in `base..=base + held.len()`.
    cursor: u64,
    /// `Some` for a lossy lane: its own queue, so it never holds the window back.
    lane: Option<LaneQueue<T>>,
}

struct LaneQueue<T> {
    capacity: usize,
    queue: VecDeque<T>,
    options: StageOptions<T>,
}

/// The subscription a member holds.
struct MemberLink<T> {
    core: StdArc<Core<T>>,
    demand: Demand,
    /// Set by `cancel`, and by the drain owner when it removes the member (terminal, panic), so
    /// later calls are no-ops. Release by the writer, Acquire by the drain owner.
    cancelled: AtomicBool,
    /// Set (Release) by `request(0)`; the drain owner reads it (Acquire) and answers with the
    /// rule 3.9 error.
    invalid: AtomicBool,
}

impl<T: Clone + Send + 'static> Subscription for MemberLink<T> {
    fn request(&self, n: u64) {
        if self.cancelled.load(Ordering::Acquire) {
            return;
        }
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.core.drain();
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.core.drain();
        }
    }
}

/// What one delivery call did: items taken from the run, credits they used.
struct Served {
    taken: u64,
    used: u64,
}

/// A member's subscriber with its concrete type erased, one dynamic call per run of items: each
/// method is monomorphised for the subscriber, so the run still reaches it as one fused
/// [`Subscriber::on_next_iter`].
trait Deliver<T>: Send {
    /// Delivers clones of `run` until it ends, the subscriber stops taking, or it cancels.
    fn run_cloned(&mut self, run: &[T], cancelled: &AtomicBool) -> Served;
    /// Moves up to `max` items out of `queue`, oldest first, on the same terms.
    fn run_owned(&mut self, queue: &mut VecDeque<T>, max: u64, cancelled: &AtomicBool) -> Served;
    fn error(&mut self, error: Error);
    fn complete(&mut self);
}

impl<T: Clone, S: Subscriber<T>> Deliver<T> for S {
    fn run_cloned(&mut self, run: &[T], cancelled: &AtomicBool) -> Served {
        let mut taken = 0;
        let items = run
            .iter()
            .take_while(|_| !cancelled.load(Ordering::Relaxed))
            .map(|item| {
                taken += 1;
                item.clone()
            });
        let used = self.on_next_iter(items);
        Served { taken, used }
    }

    fn run_owned(&mut self, queue: &mut VecDeque<T>, max: u64, cancelled: &AtomicBool) -> Served {
        let mut taken = 0;
        let items = std::iter::from_fn(|| {
            if taken == max || cancelled.load(Ordering::Relaxed) {
                return None;
            }
            let item = queue.pop_front()?;
            taken += 1;
            Some(item)
        });
        let used = self.on_next_iter(items);
        Served { taken, used }
    }

    fn error(&mut self, error: Error) {
        self.on_error(error)
    }

    fn complete(&mut self) {
        self.on_complete()
    }
}

/// Delivers a terminal error to a member that may panic in `on_error`; a second panic goes to
/// the error hook with the first error.
fn fail_member<T>(sink: &mut dyn Deliver<T>, error: Error) {
    let shown = error.clone();
    if let Err(second) = catch("on_error", || sink.error(error)) {
        report_undeliverable(&shown);
        report_undeliverable(&second);
    }
}

fn disconnected_error() -> Error {
    Error::new(ErrorKind::Closed, "broadcast disconnected")
}

/// The longest contiguous run of `held[start..start + len]` that starts at `start`.
fn contiguous<T>(held: &VecDeque<T>, start: usize, len: usize) -> &[T] {
    let (front, back) = held.as_slices();
    if start < front.len() {
        &front[start..front.len().min(start + len)]
    } else {
        let start = start - front.len();
        &back[start..start + len]
    }
}

/// Counts a drop of an item that stays in the window; clones it only if `on_drop` wants it.
fn discard_ref<T: Clone>(options: &StageOptions<T>, item: &T, reason: DropReason) {
    if options.on_drop.is_some() {
        options.discard(item.clone(), reason);
    } else if let Some(metrics) = options.metrics() {
        metrics.record_dropped(reason, 1);
    }
}

impl<T: Clone + Send + 'static> Core<T> {
    fn new(prefetch: usize, refcount: bool, options: StageOptions<T>) -> Self {
        let (producer, inbound) = spsc::channel(prefetch);
        Core {
            dirty: AtomicBool::new(false),
            control: Mutex::new(Control {
                state: State::Idle,
                members: 0,
                pending: 0,
                joining: Vec::new(),
                producer: Some(producer),
                upstream: None,
                end: None,
            }),
            refcount,
            prefetch,
            options,
            owned: GateCell::new(Owned {
                inbound,
                held: VecDeque::new(),
                base: 0,
                frontier: 0,
                members: Vec::new(),
                upstream: None,
                outstanding: 0,
                replenish: Replenish::new(prefetch as u64),
                end: None,
                closed: false,
            }),
        }
    }

    /// Records a change to `control`; called with its lock held.
    fn mark_dirty(&self) {
        // A swap, not a store: loom lets a plain store slip between the read and the write of a
        // concurrent swap (tokio-rs/loom#254), which would lose the flag in the model though not
        // on hardware. As an RMW it is modelled exactly; this is the cold path.
        self.dirty.swap(true, Ordering::Release);
    }

    fn is_finished(&self) -> bool {
        matches!(
            self.control.lock().state,
            State::Terminated | State::Disconnected
        )
    }

    /// Reserves a place for a new member; `false` if this core takes no more (finished). A
    /// terminated core still takes members of a plain broadcast: they get the terminal signal.
    fn reserve(&self, refcount: bool) -> bool {
        let mut control = self.control.lock();
        match control.state {
            State::Disconnected => false,
            State::Terminated if refcount => false,
            _ => {
                control.members += 1;
                control.pending += 1;
                true
            }
        }
    }

    fn enlist(&self, member: Member<T>) {
        let mut control = self.control.lock();
        control.pending -= 1;
        control.joining.push(member);
        self.mark_dirty();
    }

    /// Gives up a place reserved for a member whose `on_subscribe` failed.
    fn abandon(&self) {
        self.control.lock().pending -= 1;
        self.release(1);
    }

    /// Gives up `n` reserved places; the last one leaving a ref-counted, connected core
    /// disconnects it. Returns whether it did.
    fn release(&self, n: usize) -> bool {
        let mut control = self.control.lock();
        control.members -= n;
        let disconnect = self.refcount && control.members == 0 && control.state == State::Connected;
        if disconnect {
            control.state = State::Disconnected;
            self.mark_dirty();
        }
        disconnect
    }

    /// Subscribes upstream if this core is idle and has at least `min_members`.
    fn connect<P>(self: &StdArc<Self>, source: &P, min_members: usize)
    where
        P: Publisher<Item = T>,
    {
        let producer = {
            let mut control = self.control.lock();
            if control.state != State::Idle || control.members - control.pending < min_members {
                return;
            }
            control.state = State::Connected;
            control
                .producer
                .take()
                .expect("an idle core has its producer")
        };
        source.subscribe(Upstream {
            core: self.clone(),
            producer,
            handle: None,
            done: false,
        });
    }

    /// Hands the upstream handle to the drain owner; `false` if the core was disconnected before
    /// it arrived (the caller cancels it).
    fn attach(&self, upstream: SharedSubscription) -> bool {
        {
            let mut control = self.control.lock();
            if control.state == State::Disconnected {
                return false;
            }
            control.upstream = Some(upstream);
            self.mark_dirty();
        }
        self.drain();
        true
    }

    fn finish(&self, end: Result<(), Error>) {
        {
            let mut control = self.control.lock();
            control.end = Some(end);
            self.mark_dirty();
        }
        self.drain();
    }

    fn drain(&self) {
        self.owned.drain(|owned| self.pass(owned));
    }

    /// One pass of the drain loop: take in control changes and new items, serve every member,
    /// release what every lossless member has taken, top up upstream.
    fn pass(&self, owned: &mut Owned<T>) {
        let mut joining = Vec::new();
        let mut upstream = None;
        let mut ended = None;
        let mut disconnected = false;
        if self.dirty.swap(false, Ordering::AcqRel) {
            let mut control = self.control.lock();
            joining = std::mem::take(&mut control.joining);
            upstream = control.upstream.take();
            if owned.end.is_none() {
                ended = control.end.take();
                if ended.is_some() && control.state == State::Connected {
                    control.state = State::Terminated;
                }
            }
            disconnected = control.state == State::Disconnected;
        }
        if let Some(upstream) = upstream {
            // Outside the lock: a synchronous upstream answers the request on this thread.
            owned.upstream = Some(upstream.clone());
            if !disconnected && ended.is_none() {
                if let Some(metrics) = self.options.metrics() {
                    metrics.record_requested(self.prefetch as u64);
                }
                owned.outstanding = self.prefetch as u64;
                upstream.request(self.prefetch as u64);
            }
        }
        if disconnected && !owned.closed {
            self.close(owned);
        }
        if owned.closed {
            self.turn_away(owned, joining);
            return;
        }
        // Taken after the terminal signal was read: every item pushed before it is visible now.
        if self.take_in(owned) && owned.end.is_none() {
            if let Some(upstream) = owned.upstream.take() {
                upstream.cancel();
            }
            let mut control = self.control.lock();
            if control.state == State::Connected {
                control.state = State::Terminated;
            }
            ended = Some(Err(Error::overflow("broadcast")));
        }
        if let Some(end) = ended {
            owned.upstream = None;
            let immediate = self.options.error_mode == ErrorMode::Immediate && end.is_err();
            owned.end = Some(end);
            if immediate {
                self.purge(owned);
            }
        }
        for mut member in joining {
            member.cursor = owned.frontier;
            owned.members.push(member);
        }
        let removed = self.serve_all(owned);
        self.trim(owned);
        if removed > 0 && self.release(removed) {
            self.close(owned);
        }
    }

    /// Moves the items that arrived into the window; returns whether more arrived than were
    /// requested (the excess is dropped with [`DropReason::Overflow`]).
    fn take_in(&self, owned: &mut Owned<T>) -> bool {
        let arrived = owned.inbound.len();
        if arrived == 0 {
            return false;
        }
        let fits = arrived.min(owned.outstanding as usize);
        let mut chunk = owned.inbound.read_chunk(arrived).expect("items counted");
        owned.held.extend(chunk.by_ref().take(fits));
        for extra in chunk {
            self.options.discard(extra, DropReason::Overflow);
        }
        owned.outstanding -= fits as u64;
        arrived > fits
    }

    fn serve_all(&self, owned: &mut Owned<T>) -> usize {
        let Owned {
            held,
            base,
            frontier,
            members,
            end,
            ..
        } = owned;
        let mut removed = 0;
        let mut i = 0;
        while i < members.len() {
            let keep = self.serve(&mut members[i], held, *base, end.as_ref());
            *frontier = (*frontier).max(members[i].cursor);
            if keep {
                i += 1;
            } else {
                // Dropping the member releases its subscriber (rule 3.13).
                members.remove(i);
                removed += 1;
            }
        }
        removed
    }

    /// Serves one member; `false` when it is done (cancelled, failed, terminated) and must go.
    fn serve(
        &self,
        member: &mut Member<T>,
        held: &VecDeque<T>,
        base: u64,
        end: Option<&Result<(), Error>>,
    ) -> bool {
        if member.link.cancelled.load(Ordering::Acquire) {
            Self::drop_lane(member);
            return false;
        }
        if member.link.invalid.load(Ordering::Acquire) {
            member.link.cancelled.store(true, Ordering::Release);
            Self::drop_lane(member);
            fail_member(&mut *member.sink, Error::invalid_demand());
            return false;
        }
        if let Err(panic) = catch("a broadcast subscriber", || {
            self.deliver(member, held, base)
        }) {
            // Rule 2.13: a panicking subscriber counts as cancelled; it hears of its own panic,
            // and the other members carry on.
            member.link.cancelled.store(true, Ordering::Release);
            Self::drop_lane(member);
            fail_member(&mut *member.sink, panic);
            return false;
        }
        if member.link.cancelled.load(Ordering::Acquire) {
            Self::drop_lane(member);
            return false;
        }
        let Some(end) = end else { return true };
        let drained = member.cursor == base + held.len() as u64
            && member
                .lane
                .as_ref()
                .map_or(true, |lane| lane.queue.is_empty());
        if !drained {
            return true;
        }
        member.link.cancelled.store(true, Ordering::Release);
        match end {
            Ok(()) => {
                if let Err(panic) = catch("on_complete", || member.sink.complete()) {
                    report_undeliverable(&panic);
                }
            }
            Err(error) => fail_member(&mut *member.sink, error.clone()),
        }
        false
    }

    /// Hands a member what its demand allows: a lossless member from the window; a lossy one from
    /// its queue, then from the window, queueing (and evicting) the rest.
    ///
    /// A member gets at most the demand it had when its turn came. Credits it adds meanwhile (a
    /// re-entrant `request` from `on_next`, a `request` from another thread) signal the gate, so
    /// they are served on the next pass, after every other member had its turn: a member that
    /// re-requests as it consumes (`Request::Batch`, a slow lossless sink) cannot keep the drain
    /// to itself while a lossy lane's request waits and its queue overflows.
    fn deliver(&self, member: &mut Member<T>, held: &VecDeque<T>, base: u64) {
        let end = base + held.len() as u64;
        let link = &*member.link;
        let sink = &mut *member.sink;
        let cursor = &mut member.cursor;
        let fresh = end - *cursor;
        let mut emitted = 0;
        let mut demand = link.demand.get();
        loop {
            if demand == 0 || link.cancelled.load(Ordering::Relaxed) {
                break;
            }
            let served = match &mut member.lane {
                Some(lane) if !lane.queue.is_empty() => {
                    sink.run_owned(&mut lane.queue, demand, &link.cancelled)
                }
                _ if *cursor < end => {
                    let want = (end - *cursor).min(demand) as usize;
                    let run = contiguous(held, (*cursor - base) as usize, want);
                    let served = sink.run_cloned(run, &link.cancelled);
                    *cursor += served.taken;
                    served
                }
                _ => break,
            };
            if demand != UNBOUNDED && served.used > 0 {
                link.demand.produced(served.used);
                demand -= served.used;
            }
            emitted += served.taken;
            if served.taken == 0 {
                break;
            }
        }
        if let Some(metrics) = self.options.metrics() {
            metrics.record_emitted(emitted);
        }
        if let Some(lane) = &mut member.lane {
            if let Some(metrics) = lane.options.metrics() {
                metrics.record_received(fresh);
                metrics.record_emitted(emitted);
            }
            if !link.cancelled.load(Ordering::Relaxed) {
                lane.enqueue(held, (*cursor - base) as usize);
            }
            *cursor = end;
            if let Some(metrics) = lane.options.metrics() {
                metrics.set_buffered(lane.queue.len() as u64);
            }
        }
    }

    fn drop_lane(member: &mut Member<T>) {
        if let Some(lane) = &mut member.lane {
            for item in lane.queue.drain(..) {
                lane.options.discard(item, DropReason::Cancelled);
            }
        }
    }

    /// Releases the items every lossless member has taken and tops up upstream by as many.
    fn trim(&self, owned: &mut Owned<T>) {
        let lossless_min = owned
            .members
            .iter()
            .filter(|m| m.lane.is_none())
            .map(|m| m.cursor)
            .min();
        // With no lossless member, what was handed to someone is free; what nobody has seen yet
        // waits for the next subscriber (a connected hub without subscribers holds up to
        // `prefetch` items, then stops requesting).
        let new_base = lossless_min.unwrap_or(owned.frontier);
        let released = (new_base - owned.base) as usize;
        if released > 0 {
            owned.held.drain(..released);
            owned.base = new_base;
        }
        if let Some(metrics) = self.options.metrics() {
            metrics.set_buffered(owned.held.len() as u64);
        }
        if released > 0 && owned.end.is_none() {
            let top_up = owned.replenish.consumed(released as u64);
            if let (true, Some(upstream)) = (top_up > 0, &owned.upstream) {
                if let Some(metrics) = self.options.metrics() {
                    metrics.record_requested(top_up);
                }
                owned.outstanding += top_up;
                upstream.request(top_up);
            }
        }
    }

    /// ErrorMode::Immediate: the error overtakes everything held.
    fn purge(&self, owned: &mut Owned<T>) {
        let end = owned.base + owned.held.len() as u64;
        for item in owned.held.drain(..) {
            self.options.discard(item, DropReason::Cancelled);
        }
        owned.base = end;
        owned.frontier = end;
        for member in &mut owned.members {
            member.cursor = end;
            Self::drop_lane(member);
        }
    }

    /// Disconnected: cancel upstream, drop everything held, tell every member.
    fn close(&self, owned: &mut Owned<T>) {
        owned.closed = true;
        if let Some(upstream) = owned.upstream.take() {
            upstream.cancel();
        }
        self.discard_inbound(owned);
        for item in owned.held.drain(..) {
            self.options.discard(item, DropReason::Cancelled);
        }
        for mut member in owned.members.drain(..) {
            member.link.cancelled.store(true, Ordering::Release);
            Self::drop_lane(&mut member);
            fail_member(&mut *member.sink, disconnected_error());
        }
    }

    /// After a disconnect: items still arriving are dropped, late joiners get the error.
    fn turn_away(&self, owned: &mut Owned<T>, joining: Vec<Member<T>>) {
        self.discard_inbound(owned);
        for mut member in joining {
            member.link.cancelled.store(true, Ordering::Release);
            fail_member(&mut *member.sink, disconnected_error());
        }
    }

    fn discard_inbound(&self, owned: &mut Owned<T>) {
        let arrived = owned.inbound.len();
        if arrived > 0 {
            let chunk = owned.inbound.read_chunk(arrived).expect("items counted");
            for item in chunk {
                self.options.discard(item, DropReason::Cancelled);
            }
        }
    }
}

impl<T: Clone> LaneQueue<T> {
    /// Queues `held[from..]`, which the member had no demand for, evicting the oldest items beyond
    /// the capacity (in arrival order, so `on_drop` sees them oldest first).
    fn enqueue(&mut self, held: &VecDeque<T>, from: usize) {
        let fresh = held.len() - from;
        if fresh == 0 {
            return;
        }
        let overflow = (self.queue.len() + fresh).saturating_sub(self.capacity);
        let from_queue = overflow.min(self.queue.len());
        for item in self.queue.drain(..from_queue) {
            self.options.discard(item, DropReason::Evicted);
        }
        let skipped = overflow - from_queue;
        for item in held.range(from..from + skipped) {
            discard_ref(&self.options, item, DropReason::Evicted);
        }
        self.queue.extend(held.range(from + skipped..).cloned());
    }
}

impl<T: Clone + Send + 'static> Link for Core<T> {
    fn disconnect(&self) {
        {
            let mut control = self.control.lock();
            if !matches!(control.state, State::Idle | State::Connected) {
                return;
            }
            control.state = State::Disconnected;
            self.mark_dirty();
        }
        self.drain();
    }

    fn is_connected(&self) -> bool {
        self.control.lock().state == State::Connected
    }
}

/// The hub's subscriber to its upstream: pushes items into the core's ring.
struct Upstream<T> {
    core: StdArc<Core<T>>,
    producer: spsc::Producer<T>,
    /// Kept to cancel upstream on overflow, and to answer a second `on_subscribe` (rule 2.05).
    handle: Option<SharedSubscription>,
    /// Terminated, or failed on overflow: later signals are ignored.
    done: bool,
}

impl<T: Clone + Send + 'static> Upstream<T> {
    /// The upstream sent more than was requested: cancel it and fail the core.
    #[cold]
    fn overflow(&mut self, item: T) {
        self.done = true;
        self.core.options.discard(item, DropReason::Overflow);
        if let Some(handle) = self.handle.take() {
            handle.cancel();
        }
        self.core.finish(Err(Error::overflow("broadcast")));
    }

    fn terminate(&mut self, end: Result<(), Error>) {
        if self.done {
            if let Err(error) = end {
                report_undeliverable(&error);
            }
            return;
        }
        self.done = true;
        self.handle = None;
        self.core.finish(end);
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for Upstream<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.handle.is_some() || self.done {
            subscription.cancel();
            return;
        }
        self.handle = Some(subscription.clone());
        if !self.core.attach(subscription.clone()) {
            self.done = true;
            self.handle = None;
            subscription.cancel();
        }
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if let Some(metrics) = self.core.options.metrics() {
            metrics.record_received(1);
        }
        match self.producer.push(item) {
            Ok(()) => self.core.drain(),
            Err(full) => self.overflow(full.into_inner()),
        }
    }

    fn on_next_iter<I>(&mut self, mut items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        if self.done {
            return 0;
        }
        // A run never exceeds the demand, and the demand never exceeds the free slots.
        let free = self.producer.slots();
        let mut written = 0;
        if free > 0 {
            let mut chunk = self.producer.write_chunk(free).expect("slots counted");
            chunk.fill_from_iter(items.by_ref());
            written = chunk.commit();
        }
        if let Some(metrics) = self.core.options.metrics() {
            metrics.record_received(written as u64);
        }
        if written > 0 {
            self.core.drain();
        }
        if written == free {
            if let Some(extra) = items.next() {
                self.overflow(extra);
                return written as u64 + 1;
            }
        }
        written as u64
    }

    fn on_error(&mut self, error: Error) {
        self.terminate(Err(error))
    }

    fn on_complete(&mut self) {
        self.terminate(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_runs_split_at_the_wrap() {
        let mut held: VecDeque<u32> = VecDeque::with_capacity(4);
        held.extend([0, 1, 2, 3]);
        held.drain(..2);
        held.extend([4, 5]);
        // Whatever the physical layout, a run never crosses the wrap and never overshoots.
        let mut seen = Vec::new();
        let mut start = 0;
        while start < held.len() {
            let run = contiguous(&held, start, held.len() - start);
            assert!(!run.is_empty());
            seen.extend_from_slice(run);
            start += run.len();
        }
        assert_eq!(seen, vec![2, 3, 4, 5]);
        assert_eq!(contiguous(&held, 1, 1), &[3]);
    }

    #[test]
    fn lane_queue_evicts_oldest_first() {
        let dropped = StdArc::new(Mutex::new(Vec::new()));
        let d = dropped.clone();
        let options = StageOptions {
            on_drop: Some(StdArc::new(move |x: u32, r| d.lock().push((x, r)))),
            ..StageOptions::default()
        };
        let mut lane = LaneQueue {
            capacity: 2,
            queue: VecDeque::from([10, 11]),
            options,
        };
        let held = VecDeque::from([1, 2, 3, 4]);
        lane.enqueue(&held, 1); // 2, 3, 4 arrive
        assert_eq!(lane.queue, VecDeque::from([3, 4]));
        assert_eq!(
            *dropped.lock(),
            vec![
                (10, DropReason::Evicted),
                (11, DropReason::Evicted),
                (2, DropReason::Evicted)
            ]
        );
    }
}
