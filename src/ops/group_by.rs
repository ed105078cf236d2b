//! The publisher, the groups and the drain loops behind [`Flux::group_by`](crate::Flux::group_by)
//! and [`Flux::group_by_with`](crate::Flux::group_by_with).
//!
//! One shared core holds the open groups (a map by key), the groups created but not yet handed
//! downstream, and the upstream accounting: the groups together hold at most `prefetch` items,
//! which is all the stage ever asks of the upstream ahead of what group subscribers have taken.
//! The downstream of groups and each group's subscriber have a drain gate of their own
//! ([`Serial`]); the core's lock is taken briefly per item and never held while calling out.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{OnceLock, Weak};

use crate::demand::Demand;
use crate::error::{report_undeliverable, Error, ErrorKind};
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::Serial;
use crate::protocol::Flux;
use crate::protocol::{catch, deliver_error, deliver_terminal, reject, Publisher};
use crate::protocol::{SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// How many groups may be open at once by default: Reactor's `flatMap` concurrency, so that a
/// `group_by(..).flat_map(..)` with the defaults cannot stall on it.
pub const GROUP_BY_MAX_GROUPS: usize = 256;
/// How many items the groups hold together at most, by default (also the upstream prefetch).
pub const GROUP_BY_PREFETCH: usize = 256;

/// Splits a stream into one [`GroupedFlux`] per key. Built by
/// [`Flux::group_by`](crate::Flux::group_by).
pub struct GroupBy<P: Publisher, F> {
    upstream: P,
    key: StdArc<F>,
    max_groups: usize,
    prefetch: usize,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone, F> Clone for GroupBy<P, F> {
    fn clone(&self) -> Self {
        GroupBy {
            upstream: self.upstream.clone(),
            key: self.key.clone(),
            max_groups: self.max_groups,
            prefetch: self.prefetch,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug, F> std::fmt::Debug for GroupBy<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupBy")
            .field("upstream", &self.upstream)
            .field("max_groups", &self.max_groups)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher, F> GroupBy<P, F> {
    pub(crate) fn new(upstream: P, key: F, max_groups: usize, prefetch: usize) -> Self {
        assert!(max_groups > 0, "group_by: max_groups must be at least 1");
        assert!(prefetch > 0, "group_by: prefetch must be at least 1");
        GroupBy {
            upstream,
            key: StdArc::new(key),
            max_groups,
            prefetch,
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher, F> Configurable for GroupBy<P, F> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

/// The items of one key: a unicast publisher, subscribed once. Built by
/// [`Flux::group_by`](crate::Flux::group_by), handed downstream as a [`GroupedFlux`].
pub struct Grouped<K, T> {
    group: StdArc<Group<K, T>>,
}

/// One group as the downstream of [`Flux::group_by`](crate::Flux::group_by) receives it: a
/// [`Flux`] of the key's items, with its [`key`](Flux::key).
pub type GroupedFlux<K, T> = Flux<Grouped<K, T>>;

impl<K, T> Grouped<K, T> {
    /// The key of this group's items.
    pub fn key(&self) -> &K {
        &self.group.key
    }
}

impl<K: std::fmt::Debug, T> std::fmt::Debug for Grouped<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped")
            .field("key", &self.group.key)
            .finish()
    }
}

/// What a group needs from the core: upstream accounting and leaving the map.
trait Host<K, T>: Send + Sync {
    /// `n` items left the group's buffer (delivered or dropped): top the upstream up.
    fn consumed(&self, n: usize);
    /// The group closed early (its subscriber cancelled or panicked): forget it.
    fn closed(&self, group: &StdArc<Group<K, T>>);
}

struct Group<K, T> {
    key: K,
    host: Weak<dyn Host<K, T>>,
    /// The buffered items and how the group ends. Locked briefly, never while calling out.
    queue: Mutex<GroupQueue<T>>,
    /// Set once, when the group is subscribed.
    sub: OnceLock<StdArc<GroupSub<K, T>>>,
    options: StageOptions<T>,
}

struct GroupQueue<T> {
    items: VecDeque<T>,
    /// Items the group has received so far (for `window`, which closes a group at `size`).
    received: usize,
    end: Option<Result<(), Error>>,
    /// Closed early: arrivals are dropped as `Cancelled`.
    closed: bool,
}

type BoxedSubscriber<T> = Box<dyn Subscriber<T>>;

/// A group's subscription and drain.
struct GroupSub<K, T> {
    serial: Serial<BoxedSubscriber<T>>,
    /// The group, until the subscription ends (then let go, which breaks the group ↔ subscription
    /// cycle). Touched by the drain owner; the lock is for the type system (never contended).
    group: Mutex<Option<StdArc<Group<K, T>>>>,
    demand: Demand,
    /// Set by `cancel` (Release) / a panic; read by the drain owner (Acquire).
    cancelled: AtomicBool,
    invalid: AtomicBool,
}

impl<K: Send + Sync + 'static, T: Send + 'static> Publisher for Grouped<K, T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let mut subscriber: BoxedSubscriber<T> = Box::new(subscriber);
        if self.group.sub.get().is_some() {
            return reject(
                &mut subscriber,
                Error::new(
                    ErrorKind::Rejected,
                    "group_by: a group is unicast and was subscribed already",
                ),
            );
        }
        let sub = StdArc::new(GroupSub {
            serial: Serial::new(subscriber),
            group: Mutex::new(Some(self.group.clone())),
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        if self.group.sub.set(sub.clone()).is_err() {
            return; // lost a race to subscribe: the winner serves the group
        }
        let handle: SharedSubscription = sub.clone();
        sub.serial.start(
            handle,
            || sub.cancelled.store(true, Ordering::Release),
            |slot| sub.pass(slot),
        );
    }
}

impl<K: Send + Sync + 'static, T: Send + 'static> GroupSub<K, T> {
    fn drain(&self) {
        self.serial.drain(|slot| self.pass(slot));
    }

    fn pass(&self, slot: &mut Option<BoxedSubscriber<T>>) {
        let Some(group) = self.group.lock().clone() else {
            *slot = None;
            return;
        };
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.cancelled.load(Ordering::Acquire) {
            *slot = None;
            self.group.lock().take();
            return group.close();
        }
        if self.invalid.load(Ordering::Acquire) {
            let mut downstream = slot.take().expect("checked above");
            self.group.lock().take();
            group.close();
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        let mut delivered = 0;
        while self.demand.get() > 0 && !self.cancelled.load(Ordering::Acquire) {
            let Some(item) = group.queue.lock().items.pop_front() else {
                break;
            };
            delivered += 1;
            if let Err(panic) = catch("a group's subscriber", || downstream.on_next(item)) {
                self.cancelled.store(true, Ordering::Release);
                let mut downstream = slot.take().expect("checked above");
                self.group.lock().take();
                group.consumed(delivered);
                group.close();
                return deliver_error(&mut downstream, panic);
            }
            self.demand.produced(1);
        }
        group.consumed(delivered);
        if self.cancelled.load(Ordering::Acquire) || self.invalid.load(Ordering::Acquire) {
            return; // from inside on_next: the gate brings us back
        }
        let end = {
            let mut queue = group.queue.lock();
            if queue.items.is_empty() {
                queue.end.take()
            } else {
                None
            }
        };
        if let Some(end) = end {
            let mut downstream = slot.take().expect("checked above");
            self.group.lock().take();
            deliver_terminal(&mut downstream, end);
        }
    }
}

impl<K: Send + Sync + 'static, T: Send + 'static> Subscription for GroupSub<K, T> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.drain();
    }
}

impl<K: Send + Sync + 'static, T: Send + 'static> Group<K, T> {
    fn consumed(&self, n: usize) {
        if n > 0 {
            if let Some(host) = self.host.upgrade() {
                host.consumed(n);
            }
        }
    }

    /// The group is done early: drop what it holds, refuse the rest, leave the map.
    fn close(self: &StdArc<Self>) {
        let dropped = {
            let mut queue = self.queue.lock();
            queue.closed = true;
            queue.end = None;
            std::mem::take(&mut queue.items)
        };
        let n = dropped.len();
        for item in dropped {
            self.options.discard(item, DropReason::Cancelled);
        }
        if let Some(host) = self.host.upgrade() {
            host.closed(self);
            host.consumed(n);
        }
    }

    fn drain(&self) {
        if let Some(sub) = self.sub.get() {
            sub.drain();
        }
    }

    fn is_subscribed(&self) -> bool {
        self.sub.get().is_some()
    }
}

impl<K, T> Drop for Group<K, T> {
    fn drop(&mut self) {
        // Nobody can reach this group any more (a complete window or an ended group whose
        // `GroupedFlux` was dropped unsubscribed): what it holds is dropped, and its budget freed.
        let held = std::mem::take(&mut self.queue.lock().items);
        let n = held.len();
        for item in held {
            self.options.discard(item, DropReason::Cancelled);
        }
        if n > 0 {
            if let Some(host) = self.host.upgrade() {
                host.consumed(n);
            }
        }
    }
}

/// What the core guards with its lock.
struct State<K, T> {
    /// The open groups by key (handed downstream or pending).
    groups: HashMap<K, StdArc<Group<K, T>>>,
    /// Created and not yet handed downstream (no demand for groups).
    pending: VecDeque<StdArc<Group<K, T>>>,
    /// Every group that may still hold items (complete windows included), for the stall check;
    /// pruned of dead ones as it grows.
    live: Vec<Weak<Group<K, T>>>,
    /// `live.len()` after the last pruning.
    live_pruned: usize,
    /// Items in all groups' buffers. Invariant: `held + outstanding + unrequested == prefetch`.
    held: usize,
    /// Requested upstream and not yet received.
    outstanding: usize,
    /// Budget freed by consumption and not yet requested again.
    unrequested: usize,
    /// How the upstream ended (or the stage failed), for the downstream of groups.
    end: Option<Result<(), Error>>,
    /// The downstream of groups cancelled; open groups carry on.
    main_cancelled: bool,
    /// The upstream is cancelled or ended: nothing more arrives.
    upstream_done: bool,
}

struct Core<K, T, S> {
    me: Weak<Self>,
    main: Serial<S>,
    main_demand: Demand,
    main_invalid: AtomicBool,
    upstream: OnceLock<SharedSubscription>,
    max_groups: usize,
    prefetch: usize,
    /// `window(n)`: a group completes once it has received `n` items.
    close_after: Option<usize>,
    /// Top up once this much budget is free (75% of the prefetch, Reactor's rule).
    limit: usize,
    options: StageOptions<T>,
    state: Mutex<State<K, T>>,
}

/// What to do after the lock is released.
#[derive(Default)]
struct After {
    request: usize,
    cancel_upstream: bool,
}

impl<K, T, S> Core<K, T, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Subscriber<GroupedFlux<K, T>> + 'static,
{
    fn apply(&self, after: After) {
        if let Some(upstream) = self.upstream.get() {
            if after.cancel_upstream {
                upstream.cancel();
            } else if after.request > 0 {
                if let Some(m) = self.options.metrics() {
                    m.record_requested(after.request as u64);
                }
                upstream.request(after.request as u64);
            }
        }
    }

    /// Requests freed budget when enough is free, or when the upstream owes nothing (so the
    /// stage never waits on a top-up it did not ask for).
    fn top_up(&self, state: &mut State<K, T>) -> usize {
        if state.upstream_done || state.unrequested == 0 {
            return 0;
        }
        if state.unrequested >= self.limit || state.outstanding == 0 {
            let n = std::mem::take(&mut state.unrequested);
            state.outstanding += n;
            n
        } else {
            0
        }
    }

    fn drain_main(&self) {
        self.main.drain(|slot| self.pass_main(slot));
    }

    fn pass_main(&self, slot: &mut Option<S>) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.main_invalid.load(Ordering::Acquire) {
            let mut downstream = slot.take().expect("checked above");
            let after = self.cancel_main();
            self.apply(after);
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        loop {
            let next = {
                let mut state = self.state.lock();
                if state.main_cancelled {
                    drop(state);
                    *slot = None;
                    return;
                }
                if self.main_demand.get() == 0 {
                    None
                } else {
                    state.pending.pop_front()
                }
            };
            let Some(group) = next else { break };
            let grouped = Flux::new(Grouped { group });
            if let Err(panic) = catch("group_by's downstream", || downstream.on_next(grouped)) {
                let mut downstream = slot.take().expect("checked above");
                let after = self.cancel_main();
                self.apply(after);
                return deliver_error(&mut downstream, panic);
            }
            self.main_demand.produced(1);
        }
        let end = {
            let mut state = self.state.lock();
            if state.pending.is_empty() {
                state.end.take()
            } else {
                None
            }
        };
        if let Some(end) = end {
            let mut downstream = slot.take().expect("checked above");
            deliver_terminal(&mut downstream, end);
        }
    }

    /// The downstream of groups is gone: drop the groups it never took; cancel the upstream if
    /// no group it took is still open.
    fn cancel_main(&self) -> After {
        let dropped = {
            let mut state = self.state.lock();
            state.main_cancelled = true;
            let pending: Vec<_> = state.pending.drain(..).collect();
            for group in &pending {
                state.groups.remove(&group.key);
            }
            pending
        };
        for group in dropped {
            group.close();
        }
        let mut state = self.state.lock();
        if state.groups.is_empty() && !state.upstream_done {
            state.upstream_done = true;
            After {
                cancel_upstream: true,
                ..After::default()
            }
        } else {
            After::default()
        }
    }

    /// Fails the stage: cancels upstream, ends every group and the downstream with `error`.
    fn fail(&self, error: Error) {
        let already = {
            let mut state = self.state.lock();
            std::mem::replace(&mut state.upstream_done, true)
        };
        if !already {
            if let Some(upstream) = self.upstream.get() {
                upstream.cancel();
            }
        }
        self.end(Err(error));
    }

    /// The upstream ended (or the stage failed): every group ends after what it holds, and the
    /// downstream of groups after the pending groups.
    fn end(&self, end: Result<(), Error>) {
        let groups: Vec<_> = {
            let mut state = self.state.lock();
            state.upstream_done = true;
            if state.end.is_some() {
                drop(state);
                if let Err(error) = end {
                    report_undeliverable(&error);
                }
                return;
            }
            state.end = Some(end.clone());
            state.groups.drain().map(|(_, g)| g).collect()
        };
        for group in groups {
            group.queue.lock().end = Some(end.clone());
            group.drain();
        }
        self.drain_main();
    }

    fn on_item(&self, item: T, key: K) {
        let mut after = After::default();
        let decided = {
            let mut state = self.state.lock();
            if state.end.is_some() {
                Err((DropReason::Cancelled, None))
            } else if state.outstanding == 0 {
                Err((DropReason::Overflow, Some(Error::overflow("group_by"))))
            } else {
                state.outstanding -= 1;
                if state.outstanding == 0 {
                    // The upstream owes nothing: ask now for what consumption freed.
                    after.request = self.top_up(&mut state);
                }
                match state.groups.get(&key).cloned() {
                    Some(group) => Ok((group, false)),
                    None if state.main_cancelled => {
                        // Nobody takes new groups any more: it is consumed as dropped.
                        state.unrequested += 1;
                        after.request += self.top_up(&mut state);
                        Err((DropReason::Cancelled, None))
                    }
                    None if state.groups.len() >= self.max_groups => Err((
                        DropReason::Overflow,
                        Some(Error::new(
                            ErrorKind::Overflow,
                            format!(
                                "group_by: a new key arrived while {} groups are open, the limit \
                                 (max_groups = {}); raise it with group_by_with, or let groups \
                                 complete sooner",
                                state.groups.len(),
                                self.max_groups
                            ),
                        )),
                    )),
                    None => {
                        let group = StdArc::new(Group {
                            key: key.clone(),
                            host: self.me.clone() as Weak<dyn Host<K, T>>,
                            queue: Mutex::new(GroupQueue {
                                items: VecDeque::new(),
                                received: 0,
                                end: None,
                                closed: false,
                            }),
                            sub: OnceLock::new(),
                            options: self.options.clone(),
                        });
                        state.groups.insert(key, group.clone());
                        state.pending.push_back(group.clone());
                        if state.live.len() > 2 * state.live_pruned + 64 {
                            state.live.retain(|g| g.strong_count() > 0);
                            state.live_pruned = state.live.len();
                        }
                        state.live.push(StdArc::downgrade(&group));
                        Ok((group, true))
                    }
                }
            }
        };
        let (group, created) = match decided {
            Ok(found) => {
                self.apply(after);
                found
            }
            Err((reason, error)) => {
                self.options.discard(item, reason);
                self.apply(after);
                if let Some(error) = error {
                    self.fail(error);
                }
                return;
            }
        };
        let (refused, full) = {
            let mut queue = group.queue.lock();
            if queue.closed {
                (Some(item), false)
            } else {
                queue.items.push_back(item);
                queue.received += 1;
                (None, self.close_after == Some(queue.received))
            }
        };
        if full {
            // A complete window: it ends after what it holds; the next item opens the next one.
            {
                let mut state = self.state.lock();
                if state
                    .groups
                    .get(&group.key)
                    .is_some_and(|open| StdArc::ptr_eq(open, &group))
                {
                    state.groups.remove(&group.key);
                }
            }
            group.queue.lock().end = Some(Ok(()));
        }
        match refused {
            Some(item) => {
                self.options.discard(item, DropReason::Cancelled);
                self.consumed(1);
            }
            None => {
                self.state.lock().held += 1;
            }
        }
        if created {
            self.drain_main();
        }
        group.drain();
        if let Some(error) = self.stalled() {
            self.fail(error);
        }
    }

    /// Reactor's groupBy hang, detected: the upstream owes nothing, no budget is left to ask
    /// for, and every held item belongs to a group nobody has subscribed to, so no item can
    /// ever leave and the stream would wait forever.
    fn stalled(&self) -> Option<Error> {
        if self.close_after.is_some() {
            // Windows complete by size, so a downstream that takes them late still makes progress:
            // a full stage waits for it (a window kept and never subscribed is the caller's bug,
            // as in Reactor).
            return None;
        }
        let state = self.state.lock();
        if state.outstanding != 0 || state.unrequested != 0 || state.held == 0 {
            return None;
        }
        // Items held by groups nobody subscribed to (open ones, complete windows).
        let unsubscribed: usize = state
            .live
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|g| !g.is_subscribed())
            .map(|g| g.queue.lock().items.len())
            .sum();
        if unsubscribed < state.held {
            return None;
        }
        Some(Error::new(
            ErrorKind::Overflow,
            format!(
                "group_by stalled: all {} items it may hold (prefetch) belong to groups nobody has \
                 subscribed to, {} of them not taken by the downstream, which asks for no more \
                 groups; with {} groups open, a flat_map after group_by needs a concurrency of at \
                 least the number of distinct keys (Reactor's groupBy hang); raise it, or use \
                 group_by_with with a larger prefetch",
                self.prefetch,
                state.pending.len(),
                state.groups.len(),
            ),
        ))
    }
}

impl<K, T, S> Host<K, T> for Core<K, T, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Subscriber<GroupedFlux<K, T>> + 'static,
{
    fn consumed(&self, n: usize) {
        let request = {
            let mut state = self.state.lock();
            state.held = state.held.saturating_sub(n);
            state.unrequested += n;
            self.top_up(&mut state)
        };
        self.apply(After {
            request,
            cancel_upstream: false,
        });
    }

    fn closed(&self, group: &StdArc<Group<K, T>>) {
        let cancel = {
            let mut state = self.state.lock();
            if state
                .groups
                .get(&group.key)
                .is_some_and(|open| StdArc::ptr_eq(open, group))
            {
                state.groups.remove(&group.key);
            }
            if state.main_cancelled && state.groups.is_empty() && !state.upstream_done {
                state.upstream_done = true;
                true
            } else {
                false
            }
        };
        if cancel {
            self.apply(After {
                request: 0,
                cancel_upstream: true,
            });
        }
    }
}

impl<K, T, S> Subscription for Core<K, T, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Subscriber<GroupedFlux<K, T>> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.main_invalid.store(true, Ordering::Release);
        } else {
            self.main_demand.add(n);
        }
        self.drain_main();
    }

    fn cancel(&self) {
        let after = self.cancel_main();
        self.apply(after);
        self.drain_main();
    }
}

impl<P, F, K> Publisher for GroupBy<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Item = GroupedFlux<K, P::Item>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<GroupedFlux<K, P::Item>> + 'static,
    {
        subscribe_grouping(
            &self.upstream,
            subscriber,
            self.key.clone(),
            Limits {
                max_groups: self.max_groups,
                prefetch: self.prefetch,
                close_after: None,
            },
            self.options.clone(),
        )
    }
}

/// The sizes a grouping stage runs with.
pub(crate) struct Limits {
    pub(crate) max_groups: usize,
    pub(crate) prefetch: usize,
    /// `window(n)`: each group completes after `n` items.
    pub(crate) close_after: Option<usize>,
}

/// Subscribes a grouping stage (`group_by`, `window`) to `upstream`.
pub(crate) fn subscribe_grouping<P, F, K, S>(
    upstream: &P,
    subscriber: S,
    key: StdArc<F>,
    limits: Limits,
    options: StageOptions<P::Item>,
) where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: Subscriber<GroupedFlux<K, P::Item>> + 'static,
{
    let prefetch = limits.prefetch;
    let core = StdArc::new_cyclic(|me| Core {
        me: me.clone(),
        main: Serial::new(subscriber),
        main_demand: Demand::new(),
        main_invalid: AtomicBool::new(false),
        upstream: OnceLock::new(),
        max_groups: limits.max_groups,
        prefetch,
        close_after: limits.close_after,
        limit: (prefetch - prefetch / 4).max(1),
        options,
        state: Mutex::new(State {
            groups: HashMap::new(),
            pending: VecDeque::new(),
            live: Vec::new(),
            live_pruned: 0,
            held: 0,
            outstanding: 0,
            unrequested: prefetch,
            end: None,
            main_cancelled: false,
            upstream_done: false,
        }),
    });
    upstream.subscribe(GroupBySubscriber {
        core,
        key,
        subscribed: false,
    })
}

struct GroupBySubscriber<K, T, S, F> {
    core: StdArc<Core<K, T, S>>,
    key: StdArc<F>,
    subscribed: bool,
}

impl<K, T, S, F> Subscriber<T> for GroupBySubscriber<K, T, S, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    S: Subscriber<GroupedFlux<K, T>> + 'static,
    F: Fn(&T) -> K + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if std::mem::replace(&mut self.subscribed, true) {
            return subscription.cancel();
        }
        let core = &self.core;
        let _ = core.upstream.set(subscription.clone());
        let handle: SharedSubscription = core.clone();
        let started = core.main.start(
            handle,
            || {
                core.state.lock().main_cancelled = true;
                subscription.cancel();
            },
            |slot| core.pass_main(slot),
        );
        if started {
            let request = {
                let mut state = core.state.lock();
                if state.main_cancelled {
                    0
                } else {
                    state.unrequested = 0;
                    state.outstanding = core.prefetch;
                    core.prefetch
                }
            };
            core.apply(After {
                request,
                cancel_upstream: false,
            });
        }
    }

    fn on_next(&mut self, item: T) {
        if let Some(m) = self.core.options.metrics() {
            m.record_received(1);
        }
        let key = &self.key;
        match catch("group_by's key function", || key(&item)) {
            Ok(k) => self.core.on_item(item, k),
            Err(panic) => {
                self.core.options.discard(item, DropReason::Cancelled);
                self.core.fail(panic);
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.core.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.core.end(Ok(()));
    }
}
