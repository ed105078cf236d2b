//! The publisher behind [`Flux::concurrent_map`](crate::Flux::concurrent_map) and
//! [`Flux::concurrent_map_ordered`](crate::Flux::concurrent_map_ordered): calls under an adaptive
//! concurrency limit, with upstream demand following the limit.
//!
//! Each upstream item waits for a [`Permit`] of the shared [`Limiter`], then becomes a call: the
//! user's function maps it to an inner publisher of `Result` items (one per call, usually), which is
//! subscribed and asked for one item at a time. A call *slot* lives from the permit to the moment
//! its last result is handed downstream; the stage keeps `slots + waiting items + outstanding
//! upstream requests ≤ limit`, so it asks upstream for `limit − in flight` and holds at most
//! `limit` results, whatever downstream's pace. A call's permit is released when its inner
//! completes — [`Permit::success`] if it emitted no `Err`, [`Permit::dropped`] if it did — so the
//! limiter learns each call's round-trip time and outcome.
//!
//! All the stage's bookkeeping sits behind one short lock (`State`), never held across user code;
//! signals to the downstream are serialised by the drain gate of [`Serial`]: whoever enters it runs
//! the drain, which starts calls, hands results down and tops up upstream demand. Every signal
//! that changes the state (an upstream item, a call's result or end, a request, a cancel) enters
//! the gate after changing it, so a pass may stop as soon as the state it last saw under the lock
//! had nothing more for it: a change made during the pass runs another pass. The lock is taken
//! once per started call, once per result handed down, and once per pass to settle demand and
//! the end.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::demand::Demand;
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::Serial;
use crate::protocol::{
    catch, deliver_terminal, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::resilience::limit::{Limiter, Permit};
use crate::sync::{AtomicBool, Mutex, Ordering};

/// Runs calls under a [`Limiter`]. Built by [`Flux::concurrent_map`](crate::Flux::concurrent_map).
pub struct ConcurrentMap<P, F, R> {
    upstream: P,
    limiter: Limiter,
    f: Arc<F>,
    ordered: bool,
    options: StageOptions<R>,
}

impl<P: std::fmt::Debug, F, R> std::fmt::Debug for ConcurrentMap<P, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrentMap")
            .field("upstream", &self.upstream)
            .field("limiter", &self.limiter)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl<P, F, R> ConcurrentMap<P, F, R> {
    pub(crate) fn new(upstream: P, limiter: Limiter, f: F, ordered: bool) -> Self {
        ConcurrentMap {
            upstream,
            limiter,
            f: Arc::new(f),
            ordered,
            options: StageOptions::default(),
        }
    }
}

impl<P, F, R> Configurable for ConcurrentMap<P, F, R> {
    type Dropped = R;
    fn options_mut(&mut self) -> &mut StageOptions<R> {
        &mut self.options
    }
}

impl<P, F, Q, U, E> Publisher for ConcurrentMap<P, F, Result<U, E>>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    type Item = Result<U, E>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Result<U, E>> + 'static,
    {
        let stage = Arc::new(Stage {
            serial: Serial::new(Downstream {
                subscriber,
                started: false,
            }),
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            state: Mutex::new(State {
                upstream: None,
                requested: 0,
                waiting: VecDeque::new(),
                slots: Vec::new(),
                free: Vec::new(),
                queue: VecDeque::new(),
                live: 0,
                upstream_end: None,
                failure: None,
                cancelled: false,
            }),
            limiter: self.limiter.clone(),
            f: self.f.clone(),
            ordered: self.ordered,
            options: self.options.clone(),
        });
        self.upstream.subscribe(Outer { stage });
    }
}

struct Downstream<S> {
    subscriber: S,
    /// Whether `on_subscribe` was delivered (the first drain pass does it).
    started: bool,
}

/// One call: from its permit until its last result went downstream.
struct Slot<R> {
    permit: Option<Permit>,
    inner: Option<SharedSubscription>,
    /// A result waiting for downstream demand (the inner is asked for one at a time).
    result: Option<R>,
    /// The inner emitted an `Err`: the permit is released as dropped.
    failed: bool,
    /// The inner terminated.
    done: bool,
}

struct State<T, R> {
    upstream: Option<SharedSubscription>,
    /// Items requested upstream and not yet arrived.
    requested: u64,
    /// Items that arrived and wait for a permit.
    waiting: VecDeque<T>,
    slots: Vec<Option<Slot<R>>>,
    free: Vec<usize>,
    /// Unordered: slots holding a result, in the order results arrived. Ordered: every live slot,
    /// in arrival order.
    queue: VecDeque<usize>,
    /// Live slots.
    live: usize,
    upstream_end: Option<Result<(), Error>>,
    /// A call's stream failed, or user code panicked: the stage ends with it once drained.
    failure: Option<Error>,
    cancelled: bool,
}

impl<T, R> State<T, R> {
    fn slot(&mut self, id: usize) -> Option<&mut Slot<R>> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    fn open_slot(&mut self, permit: Permit) -> usize {
        let slot = Slot {
            permit: Some(permit),
            inner: None,
            result: None,
            failed: false,
            done: false,
        };
        self.live += 1;
        match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(slot);
                id
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    /// Marks call `id` over, returning its permit and whether it failed. An unordered slot with no
    /// result left closes now; an ordered one waits for its turn at the front of the queue.
    fn finish_slot(&mut self, id: usize, ordered: bool) -> Option<(Permit, bool)> {
        let slot = self.slot(id)?;
        if slot.done {
            return None;
        }
        slot.done = true;
        slot.inner = None;
        let failed = slot.failed;
        let permit = slot.permit.take();
        if !ordered && slot.result.is_none() {
            self.close_slot(id);
        }
        permit.map(|p| (p, failed))
    }

    fn close_slot(&mut self, id: usize) -> Option<Slot<R>> {
        let slot = self.slots.get_mut(id)?.take()?;
        self.live -= 1;
        self.free.push(id);
        Some(slot)
    }

    /// Everything to cancel and discard when the stage gives up.
    fn abandon(&mut self) -> (Vec<SharedSubscription>, Vec<R>, Vec<Permit>) {
        let mut subs: Vec<SharedSubscription> = self.upstream.take().into_iter().collect();
        let mut held = Vec::new();
        let mut permits = Vec::new();
        for id in 0..self.slots.len() {
            if let Some(mut slot) = self.close_slot(id) {
                subs.extend(slot.inner.take());
                held.extend(slot.result.take());
                permits.extend(slot.permit.take());
            }
        }
        self.queue.clear();
        (subs, held, permits)
    }
}

struct Stage<S, T, R, F> {
    serial: Serial<Downstream<S>>,
    demand: Demand,
    /// `State::cancelled`, readable without the lock: set with it (under the lock, before the
    /// cancel enters the gate, whose entry orders it before the pass that must see it), read by
    /// each pass and by `request` without taking the lock.
    cancelled: AtomicBool,
    state: Mutex<State<T, R>>,
    limiter: Limiter,
    f: Arc<F>,
    ordered: bool,
    options: StageOptions<R>,
}

enum Next<R> {
    /// A result, the call to ask for its next one, and whether the queue was left empty (for an
    /// ordered stage: whether the next slot in line has no result yet).
    Emit(R, Option<SharedSubscription>, bool),
    Nothing,
}

impl<S, T, F, Q, U, E> Stage<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    fn drain(self: &Arc<Self>) {
        self.serial.drain(|slot| {
            let Some(down) = slot.as_mut() else { return };
            if self.cancelled.load(Ordering::Relaxed) {
                *slot = None; // rule 3.13: drop the subscriber
                return;
            }
            if !down.started {
                down.started = true;
                // The link holds the stage, the stage holds the subscriber that holds the link: the
                // cycle breaks when the drain drops the subscriber (terminal or cancel, rule 3.13).
                let link: SharedSubscription = Arc::new(Link {
                    stage: self.clone(),
                });
                if let Err(panic) = catch("on_subscribe", || down.subscriber.on_subscribe(link)) {
                    self.give_up(None);
                    crate::error::report_undeliverable(&panic);
                    *slot = None;
                    return;
                }
            }
            self.start_calls();
            if self.emit(down).is_err() {
                *slot = None;
                return;
            }
            if let Some(end) = self.settle() {
                let mut down = slot.take().expect("checked above");
                deliver_terminal(&mut down.subscriber, end);
            }
        });
    }

    /// Starts calls for waiting items while permits are free. A stream with no call in flight
    /// always starts one, so it cannot starve when other streams hold its limiter's permits.
    fn start_calls(self: &Arc<Self>) {
        loop {
            let (item, id, more) = {
                let mut state = self.state.lock();
                if state.cancelled || state.failure.is_some() || state.waiting.is_empty() {
                    return;
                }
                let permit = match self.limiter.try_acquire() {
                    Ok(permit) => permit,
                    Err(_) if state.live == 0 => self.limiter.acquire_over_limit(),
                    Err(_) => return,
                };
                let item = state.waiting.pop_front().expect("checked above");
                let id = state.open_slot(permit);
                if self.ordered {
                    state.queue.push_back(id);
                }
                (item, id, !state.waiting.is_empty())
            };
            let f = &self.f;
            match catch("concurrent_map", || f(item)) {
                Ok(call) => {
                    let subscribed = catch("concurrent_map subscribe", || {
                        call.subscribe(Inner {
                            stage: self.clone(),
                            id,
                            ended: false,
                            wake: Self::drain,
                        })
                    });
                    if let Err(panic) = subscribed {
                        self.give_up(Some(panic));
                    }
                }
                Err(panic) => self.give_up(Some(panic)),
            }
            if !more {
                // Items arriving meanwhile entered the gate: the next pass starts them.
                return;
            }
        }
    }

    /// Hands results downstream while there is demand. `Err(())` if the subscriber panicked.
    fn emit(&self, down: &mut Downstream<S>) -> Result<(), ()> {
        loop {
            if self.demand.get() == 0 {
                return Ok(());
            }
            let next = {
                let mut state = self.state.lock();
                if state.cancelled {
                    return Ok(());
                }
                self.next_result(&mut state)
            };
            match next {
                Next::Nothing => return Ok(()),
                Next::Emit(result, more, last) => {
                    self.demand.produced(1);
                    if let Some(m) = self.options.metrics() {
                        m.record_emitted(1);
                    }
                    if let Err(panic) = catch("on_next", || down.subscriber.on_next(result)) {
                        self.give_up(None);
                        crate::error::report_undeliverable(&panic);
                        return Err(());
                    }
                    if let Some(inner) = more {
                        inner.request(1);
                    }
                    if last {
                        // Nothing else was queued; a result arriving since entered the gate.
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The next result to hand down, closing slots whose call is over.
    fn next_result(&self, state: &mut State<T, Result<U, E>>) -> Next<Result<U, E>> {
        loop {
            let Some(&id) = state.queue.front() else {
                return Next::Nothing;
            };
            let Some(slot) = state.slot(id) else {
                state.queue.pop_front();
                continue;
            };
            let result = slot.result.take();
            let done = slot.done;
            let inner = slot.inner.clone();
            match (result, self.ordered) {
                (Some(result), _) => {
                    state.queue.pop_front();
                    if done {
                        state.close_slot(id);
                        return Next::Emit(result, None, self.drained(state));
                    }
                    if self.ordered {
                        state.queue.push_front(id);
                        // The same call is next in line, and has no result until asked again.
                        return Next::Emit(result, inner, true);
                    }
                    return Next::Emit(result, inner, self.drained(state));
                }
                // Ordered: the oldest call has no result yet.
                (None, true) if !done => return Next::Nothing,
                (None, _) => {
                    state.queue.pop_front();
                    if done {
                        state.close_slot(id);
                    }
                }
            }
        }
    }

    /// Whether the queue holds no result to hand down now: unordered, it is empty; ordered, the
    /// call next in line has no result yet and is still running.
    fn drained(&self, state: &State<T, Result<U, E>>) -> bool {
        match state.queue.front() {
            None => true,
            Some(_) if !self.ordered => false,
            Some(&id) => state
                .slots
                .get(id)
                .and_then(Option::as_ref)
                .is_some_and(|slot| slot.result.is_none() && !slot.done),
        }
    }

    /// Once per pass, under one lock: the terminal signal if nothing is left to deliver;
    /// otherwise asks upstream for `limit − (calls + waiting + requested)`.
    fn settle(&self) -> Option<Result<(), Error>> {
        let (upstream, want) = {
            let mut state = self.state.lock();
            if state.cancelled {
                return None;
            }
            if let Some(error) = state.failure.take() {
                if state.live == 0 {
                    return Some(Err(error));
                }
                state.failure = Some(error);
                return None;
            }
            if state.upstream_end.is_some() {
                if state.live == 0 && state.waiting.is_empty() {
                    return state.upstream_end.take();
                }
                return None;
            }
            let upstream = state.upstream.clone()?;
            let held = state.live as u64 + state.waiting.len() as u64 + state.requested;
            let want = (self.limiter.limit() as u64).saturating_sub(held);
            if want == 0 {
                return None;
            }
            state.requested += want;
            (upstream, want)
        };
        if let Some(m) = self.options.metrics() {
            m.record_requested(want);
        }
        // Items this brings enter the gate: the next pass starts them.
        upstream.request(want);
        None
    }

    /// Stops for good: cancels upstream and every call, discards held results, and records
    /// `failure` (if any) to be delivered. Results already held are still delivered first only
    /// when the stage fails; on cancel everything goes to `on_drop`.
    fn give_up(&self, failure: Option<Error>) {
        let (subs, held, permits) = {
            let mut state = self.state.lock();
            match failure {
                Some(error) => {
                    state.failure.get_or_insert(error);
                }
                None => {
                    state.cancelled = true;
                    self.cancelled.store(true, Ordering::Relaxed);
                }
            }
            state.waiting.clear();
            let (subs, held, permits) = state.abandon();
            (subs, held, permits)
        };
        for sub in subs {
            sub.cancel();
        }
        for permit in permits {
            permit.ignore();
        }
        for result in held {
            self.options.discard(result, DropReason::Cancelled);
        }
    }
}

struct Link<S, T, R, F> {
    stage: Arc<Stage<S, T, R, F>>,
}

impl<S, T, F, Q, U, E> Subscription for Link<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    fn request(&self, n: u64) {
        let stage = &self.stage;
        if stage.cancelled.load(Ordering::Relaxed) {
            return; // rule 3.6
        }
        if n == 0 {
            stage.give_up(Some(Error::invalid_demand()));
        } else {
            stage.demand.add(n);
        }
        stage.drain();
    }

    fn cancel(&self) {
        self.stage.give_up(None);
        self.stage.drain();
    }
}

struct Outer<S, T, R, F> {
    stage: Arc<Stage<S, T, R, F>>,
}

impl<S, T, F, Q, U, E> Subscriber<T> for Outer<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        {
            let mut state = self.stage.state.lock();
            if state.upstream.is_some() || state.cancelled || state.upstream_end.is_some() {
                drop(state);
                subscription.cancel(); // rule 2.05
                return;
            }
            state.upstream = Some(subscription);
        }
        self.stage.drain();
    }

    fn on_next(&mut self, item: T) {
        {
            let mut state = self.stage.state.lock();
            if state.cancelled || state.failure.is_some() {
                return;
            }
            if state.requested == 0 {
                drop(state);
                self.stage.give_up(Some(Error::overflow("concurrent_map")));
                self.stage.drain();
                return;
            }
            state.requested -= 1;
            state.waiting.push_back(item);
        }
        if let Some(m) = self.stage.options.metrics() {
            m.record_received(1);
        }
        self.stage.drain();
    }

    fn on_error(&mut self, error: Error) {
        self.stage
            .state
            .lock()
            .upstream_end
            .get_or_insert(Err(error));
        self.stage.drain();
    }

    fn on_complete(&mut self) {
        self.stage.state.lock().upstream_end.get_or_insert(Ok(()));
        self.stage.drain();
    }
}

/// A stage's drain as a plain function pointer.
type Wake<S, T, R, F> = fn(&Arc<Stage<S, T, R, F>>);

struct Inner<S, T, R, F> {
    stage: Arc<Stage<S, T, R, F>>,
    id: usize,
    /// This call terminated (or was found abandoned): later signals are ignored.
    ended: bool,
    /// The stage's drain, as a plain function so that `Drop` (which cannot name the stage's
    /// bounds) can run it.
    wake: Wake<S, T, R, F>,
}

impl<S, T, F, Q, U, E> Inner<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    /// Ends this call: marks its slot done and releases its permit with the call's outcome.
    fn end(&mut self, error: Option<Error>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let (permit, stage_failed) = {
            let mut state = self.stage.state.lock();
            let failed = error.is_some();
            let permit = state.finish_slot(self.id, self.stage.ordered);
            if let Some(error) = error {
                state.failure.get_or_insert(error);
            }
            (
                permit.map(|(p, f)| (p, f || failed)),
                state.failure.is_some(),
            )
        };
        if let Some((permit, failed)) = permit {
            if failed {
                permit.dropped();
            } else {
                permit.success();
            }
        }
        if stage_failed {
            self.stage.give_up_calls();
        }
        (self.wake)(&self.stage);
    }
}

impl<S, T, F, Q, U, E> Stage<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    /// After a failure: cancel upstream and the calls still running; results already held stay,
    /// to be delivered before the error (`ErrorMode::AfterDrain`).
    fn give_up_calls(&self) {
        let (subs, permits) = {
            let mut state = self.state.lock();
            state.waiting.clear();
            let mut subs: Vec<SharedSubscription> = state.upstream.take().into_iter().collect();
            let mut permits = Vec::new();
            for id in 0..state.slots.len() {
                let Some(slot) = state.slot(id) else { continue };
                if slot.done {
                    continue;
                }
                subs.extend(slot.inner.take());
                permits.extend(slot.permit.take());
                slot.done = true;
                if slot.result.is_none() {
                    state.close_slot(id);
                    state.queue.retain(|&q| q != id);
                }
            }
            (subs, permits)
        };
        for sub in subs {
            sub.cancel();
        }
        for permit in permits {
            permit.ignore();
        }
    }
}

impl<S, T, F, Q, U, E> Subscriber<Result<U, E>> for Inner<S, T, Result<U, E>, F>
where
    S: Subscriber<Result<U, E>> + 'static,
    T: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = Result<U, E>>,
    U: Send + 'static,
    E: Send + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let keep = {
            let mut state = self.stage.state.lock();
            match state.slot(self.id) {
                Some(slot) if !slot.done && slot.inner.is_none() => {
                    slot.inner = Some(subscription.clone());
                    true
                }
                _ => false,
            }
        };
        if keep {
            subscription.request(1);
        } else {
            subscription.cancel(); // abandoned, or a second on_subscribe (rule 2.05)
        }
    }

    fn on_next(&mut self, result: Result<U, E>) {
        if self.ended {
            return;
        }
        let overflow = {
            let mut state = self.stage.state.lock();
            let ordered = self.stage.ordered;
            let Some(slot) = state.slot(self.id) else {
                drop(state);
                self.stage.options.discard(result, DropReason::Cancelled);
                return;
            };
            if slot.result.is_some() {
                Some(result)
            } else {
                slot.failed |= result.is_err();
                slot.result = Some(result);
                if !ordered {
                    state.queue.push_back(self.id);
                }
                None
            }
        };
        if let Some(extra) = overflow {
            self.stage.options.discard(extra, DropReason::Overflow);
            self.end(Some(Error::overflow("concurrent_map")));
            return;
        }
        self.stage.drain();
    }

    fn on_error(&mut self, error: Error) {
        self.end(Some(error));
    }

    fn on_complete(&mut self) {
        self.end(None);
    }
}

impl<S, T, R, F> Drop for Inner<S, T, R, F> {
    fn drop(&mut self) {
        // A call that drops its subscriber without a terminal signal would hold its permit and
        // slot forever: end it (the permit is ignored: no outcome is known) and let the stage on.
        if !std::mem::replace(&mut self.ended, true) {
            let permit = self
                .stage
                .state
                .lock()
                .finish_slot(self.id, self.stage.ordered);
            drop(permit);
            (self.wake)(&self.stage);
        }
    }
}
