//! The publisher behind [`Flux::replay`](crate::Flux::replay): one upstream subscription shared
//! by every subscriber, with a bounded history that late subscribers start from.
//!
//! The history holds the last `n` items with their sequence numbers. Each subscriber has a cursor
//! (the sequence number of its next item) and a drain gate of its own; it reads items from the
//! history under the lock (cloning them) and delivers them outside it. The upstream is asked for
//! items only so far that no live subscriber falls more than `n` behind, so nothing is lost and
//! memory stays bounded: the slowest subscriber sets the pace.

use std::collections::VecDeque;

use crate::demand::Demand;
use crate::error::{report_undeliverable, Error};
use crate::ops::timed::Serial;
use crate::protocol::{catch, deliver_error, deliver_terminal, Publisher, SharedSubscription};
use crate::protocol::{Subscriber, Subscription};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// Shares one upstream subscription among its subscribers and replays the last `n` items to
/// each new one. Built by [`Flux::replay`](crate::Flux::replay).
pub struct Replay<P: Publisher> {
    shared: StdArc<Shared<P>>,
}

impl<P: Publisher> Clone for Replay<P> {
    fn clone(&self) -> Self {
        Replay {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Publisher> std::fmt::Debug for Replay<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("history", &self.shared.history)
            .finish_non_exhaustive()
    }
}

struct Shared<P: Publisher> {
    upstream: P,
    history: usize,
    state: Mutex<State<P::Item>>,
}

type BoxedSubscriber<T> = Box<dyn Subscriber<T>>;

struct State<T> {
    /// The last `history` items; `items[0]` has sequence number `first`.
    items: VecDeque<T>,
    first: u64,
    /// Sequence number of the next item to arrive (= items received).
    received: u64,
    /// Total requested upstream.
    requested: u64,
    end: Option<Result<(), Error>>,
    members: Vec<StdArc<Member<T>>>,
    upstream: Option<SharedSubscription>,
    /// Subscribed upstream (at the first subscriber).
    connected: bool,
}

struct Member<T> {
    serial: Serial<BoxedSubscriber<T>>,
    demand: Demand,
    /// Sequence number of the next item this member gets. Only its drain owner moves it; read
    /// under the state lock to compute the pace.
    cursor: Mutex<u64>,
    cancelled: AtomicBool,
    invalid: AtomicBool,
}

impl<P: Publisher> Replay<P> {
    pub(crate) fn new(upstream: P, history: usize) -> Self {
        assert!(history > 0, "replay(0): keep at least one item");
        Replay {
            shared: StdArc::new(Shared {
                upstream,
                history,
                state: Mutex::new(State {
                    items: VecDeque::new(),
                    first: 0,
                    received: 0,
                    requested: 0,
                    end: None,
                    members: Vec::new(),
                    upstream: None,
                    connected: false,
                }),
            }),
        }
    }
}

impl<P> Shared<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    /// How many more items to ask upstream for: up to `history` beyond the slowest member.
    fn top_up(&self, state: &mut State<P::Item>) -> u64 {
        if state.end.is_some() || state.upstream.is_none() {
            return 0;
        }
        let Some(slowest) = state.members.iter().map(|m| *m.cursor.lock()).min() else {
            return 0;
        };
        let target = slowest.saturating_add(self.history as u64);
        let n = target.saturating_sub(state.requested);
        state.requested += n;
        n
    }

    fn request_more(&self) {
        let (upstream, n) = {
            let mut state = self.state.lock();
            let n = self.top_up(&mut state);
            (state.upstream.clone(), n)
        };
        if let (Some(upstream), true) = (upstream, n > 0) {
            upstream.request(n);
        }
    }

    fn drain(self: &StdArc<Self>, member: &StdArc<Member<P::Item>>) {
        member.serial.drain(|slot| self.pass(member, slot));
    }

    fn pass(
        self: &StdArc<Self>,
        member: &StdArc<Member<P::Item>>,
        slot: &mut Option<BoxedSubscriber<P::Item>>,
    ) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if member.cancelled.load(Ordering::Acquire) {
            *slot = None;
            return self.leave(member);
        }
        if member.invalid.load(Ordering::Acquire) {
            let mut downstream = slot.take().expect("checked above");
            self.leave(member);
            return deliver_error(&mut downstream, Error::invalid_demand());
        }
        let mut moved = false;
        while member.demand.get() > 0 && !member.cancelled.load(Ordering::Acquire) {
            let item = {
                let state = self.state.lock();
                let mut cursor = member.cursor.lock();
                // The pace keeps every member within the history; one that joined while items
                // owed to the others were still arriving starts at the oldest one left.
                *cursor = (*cursor).max(state.first);
                let item = state.items.get((*cursor - state.first) as usize).cloned();
                if item.is_some() {
                    *cursor += 1;
                }
                item
            };
            let Some(item) = item else { break };
            moved = true;
            if let Err(panic) = catch("a replay subscriber", || downstream.on_next(item)) {
                member.cancelled.store(true, Ordering::Release);
                let mut downstream = slot.take().expect("checked above");
                self.leave(member);
                return deliver_error(&mut downstream, panic);
            }
            member.demand.produced(1);
        }
        if moved {
            self.request_more();
        }
        if member.cancelled.load(Ordering::Acquire) || member.invalid.load(Ordering::Acquire) {
            return;
        }
        let end = {
            let state = self.state.lock();
            match &state.end {
                Some(end) if *member.cursor.lock() == state.received => Some(end.clone()),
                _ => None,
            }
        };
        if let Some(end) = end {
            let mut downstream = slot.take().expect("checked above");
            self.leave(member);
            deliver_terminal(&mut downstream, end);
        }
    }

    fn leave(&self, member: &StdArc<Member<P::Item>>) {
        self.state
            .lock()
            .members
            .retain(|m| !StdArc::ptr_eq(m, member));
        // The slowest may have gone: the others may run further ahead now.
        self.request_more();
    }

    fn on_item(self: &StdArc<Self>, item: P::Item) {
        let members = {
            let mut state = self.state.lock();
            if state.end.is_some() {
                return;
            }
            state.items.push_back(item);
            state.received += 1;
            if state.items.len() > self.history {
                state.items.pop_front();
                state.first += 1;
            }
            state.members.clone()
        };
        for member in &members {
            self.drain(member);
        }
    }

    fn on_end(self: &StdArc<Self>, end: Result<(), Error>) {
        let members = {
            let mut state = self.state.lock();
            if state.end.is_some() {
                drop(state);
                if let Err(error) = end {
                    report_undeliverable(&error);
                }
                return;
            }
            state.end = Some(end);
            state.upstream = None;
            state.members.clone()
        };
        for member in &members {
            self.drain(member);
        }
    }
}

impl<T: Send> Subscription for MemberHandle<T> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.member.invalid.store(true, Ordering::Release);
        } else {
            self.member.demand.add(n);
        }
        (self.drain)(&self.member);
    }

    fn cancel(&self) {
        self.member.cancelled.store(true, Ordering::Release);
        (self.drain)(&self.member);
    }
}

/// A member's subscription handle: its own demand and cancel, and the way back to the shared
/// drain.
struct MemberHandle<T> {
    member: StdArc<Member<T>>,
    drain: DrainFn<T>,
}

/// Runs a member's drain on the shared state (erases the upstream's type from the handle).
type DrainFn<T> = Box<dyn Fn(&StdArc<Member<T>>) + Send + Sync>;

impl<P> Publisher for Replay<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let shared = &self.shared;
        let member = StdArc::new(Member {
            serial: Serial::new(Box::new(subscriber) as BoxedSubscriber<P::Item>),
            demand: Demand::new(),
            cursor: Mutex::new(0),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        let connect = {
            let mut state = shared.state.lock();
            // A late subscriber starts at the oldest item still held.
            *member.cursor.lock() = state.first;
            state.members.push(member.clone());
            !std::mem::replace(&mut state.connected, true)
        };
        let for_drain = shared.clone();
        let handle: SharedSubscription = StdArc::new(MemberHandle {
            member: member.clone(),
            drain: Box::new(move |m| for_drain.drain(m)),
        });
        let for_pass = shared.clone();
        member.serial.start(
            handle,
            || member.cancelled.store(true, Ordering::Release),
            |slot| for_pass.pass(&member, slot),
        );
        if connect {
            shared.upstream.subscribe(ReplaySubscriber {
                shared: shared.clone(),
            });
        } else {
            shared.request_more();
        }
    }
}

struct ReplaySubscriber<P: Publisher> {
    shared: StdArc<Shared<P>>,
}

impl<P> Subscriber<P::Item> for ReplaySubscriber<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Clone + Send + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        {
            let mut state = self.shared.state.lock();
            if state.upstream.is_some() {
                drop(state);
                return subscription.cancel();
            }
            state.upstream = Some(subscription);
        }
        self.shared.request_more();
    }

    fn on_next(&mut self, item: P::Item) {
        self.shared.on_item(item);
    }

    fn on_error(&mut self, error: Error) {
        self.shared.on_end(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.on_end(Ok(()));
    }
}
