//! [`TestSubscriber`]: a subscriber that records everything it sees, and the [`TestProbe`] that
//! drives and inspects it from the test.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::protocol::{SharedSubscription, Subscriber};
use crate::sync::{
    std_thread_id, Arc, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, StdArc,
    StdWeak,
};

/// A subscriber for tests: it records every signal and checks the protocol as it goes.
///
/// [`TestSubscriber::new`] returns the subscriber, to hand to a publisher, and a [`TestProbe`], which
/// stays with the test: it requests and cancels, waits for items or a terminal signal with a
/// time-out, and reports what the publisher did, including the protocol breaches it saw (more items
/// than requested, overlapping or nested signals, signals after the end). The probe is `Clone + Send
/// + Sync`, so several threads can request at once.
///
/// ```
/// use backflow::prelude::*;
/// use backflow::TestSubscriber;
/// use std::time::Duration;
///
/// let (subscriber, probe) = TestSubscriber::new(2); // request(2) in on_subscribe
/// backflow::range(0..5u32).subscribe(subscriber);
/// probe.await_values(2, Duration::from_secs(5)).unwrap();
/// assert_eq!(probe.values(), vec![0, 1]);
/// probe.expect_no_signal(Duration::from_millis(5)).unwrap(); // demand is spent: nothing more
///
/// probe.request(10);
/// probe.await_complete(Duration::from_secs(5)).unwrap();
/// assert_eq!(probe.values(), vec![0, 1, 2, 3, 4]);
/// probe.assert_protocol(); // no breach of the Reactive Streams rules was seen
/// ```
///
/// The [builder](TestSubscriber::builder) scripts behaviour from inside `on_next`: a re-entrant
/// request after each item, a cancel after `k` items, a panic (to test rule 2.13), or any action.
///
/// ```
/// use backflow::prelude::*;
/// use backflow::TestSubscriber;
/// use std::time::Duration;
///
/// let (subscriber, probe) = TestSubscriber::builder()
///     .initial_request(1)
///     .request_after_each(1) // request(1) from inside every on_next (rule 3.02)
///     .cancel_after(3)
///     .build();
/// backflow::range(0..100u64).subscribe(subscriber);
/// assert_eq!(probe.values(), vec![0, 1, 2]);
/// assert_eq!(probe.max_depth(), 1); // the source trampolined the re-entrant requests (rule 3.03)
/// assert!(probe.await_dropped(Duration::from_secs(5)).is_ok()); // released after cancel (3.13)
/// ```
///
/// # Drops
///
/// Items are kept for [`TestProbe::values`] unless [`keep_values(false)`](TestSubscriberBuilder::keep_values).
/// The probe holds the subscription handle, so a stream that is never cancelled nor terminated stays
/// alive as long as a probe does, like any live subscription.
pub struct TestSubscriber<T> {
    probe: TestProbe<T>,
    script: Script<T>,
    /// The only strong reference to the liveness token: the probe's `Weak` dies with `self`.
    /// Taken in `drop` before the probe is told, so `await_dropped` implies `upgrade() == None`.
    alive: Option<StdArc<Liveness>>,
}

/// The token whose [`Weak`](std::sync::Weak) the probe hands out: it is dropped with the
/// [`TestSubscriber`], so `weak.upgrade().is_none()` tells that the publisher released it (rule 3.13).
#[derive(Debug)]
pub struct Liveness {
    _private: (),
}

/// Builds a [`TestSubscriber`] with scripted behaviour. Made by [`TestSubscriber::builder`].
pub struct TestSubscriberBuilder<T> {
    script: Script<T>,
}

type Hook<T> = Box<dyn FnMut(&TestProbe<T>, u64) + Send>;

struct Script<T> {
    initial_request: u64,
    request_after_each: u64,
    cancel_after: Option<u64>,
    panic_on_item: Option<u64>,
    keep_values: bool,
    on_each: Option<Hook<T>>,
}

/// The test's handle on a [`TestSubscriber`]: drive it and read what it saw.
///
/// Every method may be called from any thread. Waiting methods take a time-out and return a
/// [`ProbeError`] saying what was expected and what was seen.
pub struct TestProbe<T> {
    shared: Arc<Shared<T>>,
}

/// How a stream ended.
#[derive(Clone, Debug)]
pub enum Terminal {
    /// `on_complete`.
    Complete,
    /// `on_error` with this error.
    Error(Error),
}

/// One kind of signal a subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `on_subscribe`.
    Subscribe,
    /// `on_next`.
    Next,
    /// `on_error`.
    Error,
    /// `on_complete`.
    Complete,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Subscribe => "on_subscribe",
            Signal::Next => "on_next",
            Signal::Error => "on_error",
            Signal::Complete => "on_complete",
        })
    }
}

/// Why a [`TestProbe`] wait or expectation failed.
#[derive(Clone, Debug)]
pub struct ProbeError {
    kind: ProbeErrorKind,
    message: String,
}

/// What kind of expectation a [`ProbeError`] reports.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeErrorKind {
    /// The awaited signal did not arrive in time.
    Timeout,
    /// The stream ended before the awaited signal, or ended the other way (error vs. complete).
    Terminated,
    /// A signal arrived where none was expected.
    UnexpectedSignal,
}

impl ProbeError {
    fn new(kind: ProbeErrorKind, message: String) -> Self {
        ProbeError { kind, message }
    }

    /// What kind of expectation failed.
    pub fn kind(&self) -> ProbeErrorKind {
        self.kind
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProbeError {}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Notified on every signal, on drop of the subscriber, and on probe requests.
    changed: Condvar,
    /// Signal handlers running now, on any thread. SeqCst, like `entered_by`: the two are read
    /// together to tell a nested call (same thread) from an overlapping one (another thread).
    in_flight: AtomicUsize,
    /// Thread key of the thread whose handler moved `in_flight` from 0; 0 = none.
    entered_by: AtomicU64,
    liveness: StdWeak<Liveness>,
}

enum Pending {
    Request(u64),
    Cancel,
}

struct State<T> {
    subscription: Option<SharedSubscription>,
    /// Probe calls made before `on_subscribe`, replayed there.
    pending: Vec<Pending>,
    subscribe_count: usize,
    values: Vec<T>,
    next_count: u64,
    /// Total requested through this subscriber, saturating at `u64::MAX`.
    requested: u64,
    /// `(on_next count, requested)` when the count first exceeded the demand (rule 1.01).
    exceeded: Option<(u64, u64)>,
    terminal: Option<Terminal>,
    terminal_count: usize,
    after_terminal: usize,
    before_subscribe: usize,
    overlaps: usize,
    max_depth: usize,
    threads: Vec<ThreadId>,
    cancelled: bool,
    next_after_cancel: u64,
    dropped: bool,
    /// Signals seen so far, any kind.
    signals: u64,
    last: Option<Signal>,
}

/// Where a handler call sits relative to others on the same subscriber.
enum Nesting {
    /// No other handler running: the normal case.
    Top,
    /// Called from inside another handler on the same thread, this deep (2 = one level nested).
    Nested(usize),
    /// Another thread is inside a handler right now (rule 1.03 breach).
    Overlap,
}

std::thread_local! {
    /// A non-zero key per thread, so `entered_by` fits in an atomic.
    static THREAD: (u64, ThreadId) = {
        let id = std_thread_id();
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        (hasher.finish() | 1, id)
    };
}

/// Marks a handler as running until dropped (also on unwind, so a panicking handler is counted out).
struct Entered<'a, T> {
    shared: &'a Shared<T>,
    key: u64,
    top: bool,
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if self.top {
            let _ = self.shared.entered_by.compare_exchange(
                self.key,
                0,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> Shared<T> {
    fn enter(&self) -> (Entered<'_, T>, Nesting, ThreadId) {
        let (key, id) = THREAD.with(|t| *t);
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let nesting = if before == 0 {
            self.entered_by.store(key, Ordering::SeqCst);
            Nesting::Top
        } else if self.entered_by.load(Ordering::SeqCst) == key {
            Nesting::Nested(before + 1)
        } else {
            Nesting::Overlap
        };
        let top = matches!(nesting, Nesting::Top);
        (
            Entered {
                shared: self,
                key,
                top,
            },
            nesting,
            id,
        )
    }
}

impl<T> State<T> {
    /// Bookkeeping common to every signal.
    fn record(&mut self, signal: Signal, nesting: &Nesting, thread: ThreadId) {
        self.signals += 1;
        self.last = Some(signal);
        if self.terminal.is_some() {
            self.after_terminal += 1;
        }
        if self.subscribe_count == 0 && signal != Signal::Subscribe {
            self.before_subscribe += 1;
        }
        match nesting {
            Nesting::Top => self.max_depth = self.max_depth.max(1),
            Nesting::Nested(depth) => self.max_depth = self.max_depth.max(*depth),
            Nesting::Overlap => self.overlaps += 1,
        }
        if !self.threads.contains(&thread) {
            self.threads.push(thread);
        }
    }

    fn summary(&self) -> String {
        let end = match &self.terminal {
            None => "no terminal signal".to_string(),
            Some(Terminal::Complete) => "on_complete".to_string(),
            Some(Terminal::Error(e)) => format!("on_error({e})"),
        };
        format!(
            "{} on_subscribe, {} items of {} requested, {end}",
            self.subscribe_count,
            self.next_count,
            show_demand(self.requested)
        )
    }
}

fn show_demand(n: u64) -> String {
    if n == u64::MAX {
        "u64::MAX".to_string()
    } else {
        n.to_string()
    }
}

impl<T> TestSubscriber<T> {
    /// A builder for a subscriber with scripted behaviour.
    ///
    /// ```
    /// use backflow::TestSubscriber;
    /// let (subscriber, probe) = TestSubscriber::<u8>::builder().initial_request(4).cancel_after(2).build();
    /// # drop((subscriber, probe));
    /// ```
    pub fn builder() -> TestSubscriberBuilder<T> {
        TestSubscriberBuilder {
            script: Script {
                initial_request: 0,
                request_after_each: 0,
                cancel_after: None,
                panic_on_item: None,
                keep_values: true,
                on_each: None,
            },
        }
    }

    /// A subscriber that requests `initial_request` in `on_subscribe` (nothing if 0), and its probe.
    ///
    /// `u64::MAX` asks for everything (unbounded demand).
    pub fn new(initial_request: u64) -> (TestSubscriber<T>, TestProbe<T>) {
        TestSubscriber::builder()
            .initial_request(initial_request)
            .build()
    }

    /// A probe on this subscriber (the same as the one [`new`](Self::new) returned).
    pub fn probe(&self) -> TestProbe<T> {
        self.probe.clone()
    }
}

impl<T> TestSubscriberBuilder<T> {
    /// Request `n` in `on_subscribe` (0, the default: request nothing until the probe does).
    pub fn initial_request(mut self, n: u64) -> Self {
        self.script.initial_request = n;
        self
    }

    /// After each item, request `n` more from inside `on_next` (a re-entrant request, rule 3.02).
    /// Stops once the subscriber has cancelled.
    pub fn request_after_each(mut self, n: u64) -> Self {
        self.script.request_after_each = n;
        self
    }

    /// Cancel from inside `on_next` when the `k`-th item arrives (`k` counts from 1).
    pub fn cancel_after(mut self, k: u64) -> Self {
        self.script.cancel_after = Some(k);
        self
    }

    /// Panic in `on_next` when the `k`-th item arrives (after recording it), to test how a
    /// publisher treats a failing subscriber (rule 2.13).
    pub fn panic_on_item(mut self, k: u64) -> Self {
        self.script.panic_on_item = Some(k);
        self
    }

    /// Whether to keep the items for [`TestProbe::values`] (default `true`). Turn it off for long
    /// runs: counts and protocol checks still work.
    pub fn keep_values(mut self, keep: bool) -> Self {
        self.script.keep_values = keep;
        self
    }

    /// Run `action(probe, count)` at the end of each `on_next`, on the signalling thread, where
    /// `count` is the number of items received so far. Requests and cancels made through `probe`
    /// here are re-entrant calls from inside `on_next`, and are counted like any other.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use backflow::TestSubscriber;
    /// // request(0) from inside on_next: the source must answer with on_error (rule 3.09).
    /// let (subscriber, probe) = TestSubscriber::builder()
    ///     .initial_request(10)
    ///     .on_each(|probe, count| if count == 2 { probe.request(0) })
    ///     .build();
    /// backflow::range(0..1_000u32).subscribe(subscriber);
    /// assert_eq!(probe.error().unwrap().kind(), ErrorKind::InvalidDemand);
    /// assert!(probe.next_count() <= 10);
    /// ```
    pub fn on_each(mut self, action: impl FnMut(&TestProbe<T>, u64) + Send + 'static) -> Self {
        self.script.on_each = Some(Box::new(action));
        self
    }

    /// The subscriber and its probe.
    pub fn build(self) -> (TestSubscriber<T>, TestProbe<T>) {
        let alive = StdArc::new(Liveness { _private: () });
        let probe = TestProbe {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    subscription: None,
                    pending: Vec::new(),
                    subscribe_count: 0,
                    values: Vec::new(),
                    next_count: 0,
                    requested: 0,
                    exceeded: None,
                    terminal: None,
                    terminal_count: 0,
                    after_terminal: 0,
                    before_subscribe: 0,
                    overlaps: 0,
                    max_depth: 0,
                    threads: Vec::new(),
                    cancelled: false,
                    next_after_cancel: 0,
                    dropped: false,
                    signals: 0,
                    last: None,
                }),
                changed: Condvar::new(),
                in_flight: AtomicUsize::new(0),
                entered_by: AtomicU64::new(0),
                liveness: StdArc::downgrade(&alive),
            }),
        };
        let subscriber = TestSubscriber {
            probe: probe.clone(),
            script: self.script,
            alive: Some(alive),
        };
        (subscriber, probe)
    }
}

impl<T: Send> Subscriber<T> for TestSubscriber<T> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let shared = &*self.probe.shared;
        let (_entered, nesting, thread) = shared.enter();
        let replay = {
            let mut st = shared.state.lock();
            let st = &mut *st;
            st.record(Signal::Subscribe, &nesting, thread);
            st.subscribe_count += 1;
            let first = st.subscription.is_none();
            if first {
                st.subscription = Some(subscription.clone());
                st.requested = st.requested.saturating_add(self.script.initial_request);
                for call in &st.pending {
                    match call {
                        Pending::Request(n) => st.requested = st.requested.saturating_add(*n),
                        Pending::Cancel => st.cancelled = true,
                    }
                }
            }
            shared.changed.notify_all();
            first.then(|| std::mem::take(&mut st.pending))
        };
        let Some(pending) = replay else {
            // Rule 2.05: already subscribed, so the new subscription is cancelled.
            subscription.cancel();
            return;
        };
        if self.script.initial_request > 0 {
            subscription.request(self.script.initial_request);
        }
        for call in pending {
            match call {
                Pending::Request(n) => subscription.request(n),
                Pending::Cancel => subscription.cancel(),
            }
        }
    }

    fn on_next(&mut self, item: T) {
        let shared = &*self.probe.shared;
        let (_entered, nesting, thread) = shared.enter();
        let script = &mut self.script;
        let (count, cancel, request) = {
            let mut st = shared.state.lock();
            st.record(Signal::Next, &nesting, thread);
            st.next_count += 1;
            let count = st.next_count;
            if count > st.requested && st.exceeded.is_none() {
                st.exceeded = Some((count, st.requested));
            }
            if st.cancelled {
                st.next_after_cancel += 1;
            }
            if script.keep_values {
                st.values.push(item);
            }
            let mut cancel = None;
            let mut request = None;
            if script.panic_on_item != Some(count) {
                if script.cancel_after == Some(count) && !st.cancelled {
                    st.cancelled = true;
                    cancel = st.subscription.clone();
                }
                if script.request_after_each > 0 && !st.cancelled {
                    st.requested = st.requested.saturating_add(script.request_after_each);
                    request = st.subscription.clone();
                }
            }
            shared.changed.notify_all();
            (count, cancel, request)
        };
        if script.panic_on_item == Some(count) {
            panic!("TestSubscriber: panic_on_item({count}) as scripted");
        }
        if let Some(subscription) = cancel {
            subscription.cancel();
        }
        if let Some(subscription) = request {
            subscription.request(script.request_after_each);
        }
        if let Some(action) = &mut script.on_each {
            action(&self.probe, count);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.terminate(Signal::Error, Terminal::Error(error));
    }

    fn on_complete(&mut self) {
        self.terminate(Signal::Complete, Terminal::Complete);
    }
}

impl<T> TestSubscriber<T> {
    /// Records a terminal signal. Rule 2.03: it never calls back into the subscription.
    fn terminate(&mut self, signal: Signal, terminal: Terminal) {
        let shared = &*self.probe.shared;
        let (_entered, nesting, thread) = shared.enter();
        let mut st = shared.state.lock();
        st.record(signal, &nesting, thread);
        st.terminal_count += 1;
        if st.terminal.is_none() {
            st.terminal = Some(terminal);
        }
        shared.changed.notify_all();
    }
}

impl<T> Drop for TestSubscriber<T> {
    fn drop(&mut self) {
        drop(self.alive.take());
        let shared = &*self.probe.shared;
        shared.state.lock().dropped = true;
        shared.changed.notify_all();
    }
}

impl<T> fmt::Debug for TestSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TestSubscriber").field(&self.probe).finish()
    }
}

impl<T> fmt::Debug for TestSubscriberBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.script;
        f.debug_struct("TestSubscriberBuilder")
            .field("initial_request", &s.initial_request)
            .field("request_after_each", &s.request_after_each)
            .field("cancel_after", &s.cancel_after)
            .field("panic_on_item", &s.panic_on_item)
            .field("keep_values", &s.keep_values)
            .field("on_each", &s.on_each.is_some())
            .finish()
    }
}

// Every update of the probe's state is complete before any code that may panic runs (user hooks and
// publisher calls happen outside the lock), so a probe observed after a caught panic is consistent.
impl<T> std::panic::UnwindSafe for TestProbe<T> {}
impl<T> std::panic::RefUnwindSafe for TestProbe<T> {}

impl<T> Clone for TestProbe<T> {
    fn clone(&self) -> Self {
        TestProbe {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for TestProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestProbe({})", self.lock().summary())
    }
}

impl<T> TestProbe<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.shared.state.lock()
    }

    /// Requests `n` more items (`request(0)` too: it is how rule 3.09 is tested).
    ///
    /// Before `on_subscribe` the call is remembered and made right after the subscriber's own
    /// initial request.
    pub fn request(&self, n: u64) {
        let subscription = {
            let mut st = self.lock();
            match st.subscription.clone() {
                Some(s) => {
                    st.requested = st.requested.saturating_add(n);
                    s
                }
                None => {
                    st.pending.push(Pending::Request(n));
                    return;
                }
            }
        };
        // Never under the lock: a synchronous publisher delivers from inside this call.
        subscription.request(n);
    }

    /// Cancels the subscription (remembered until `on_subscribe` if it has not arrived yet).
    pub fn cancel(&self) {
        let subscription = {
            let mut st = self.lock();
            st.cancelled = true;
            match st.subscription.clone() {
                Some(s) => s,
                None => {
                    st.pending.push(Pending::Cancel);
                    return;
                }
            }
        };
        subscription.cancel();
    }

    /// Waits until `done` holds or `timeout` passes; `done` may also end the wait with an error.
    fn wait<R>(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&State<T>) -> Option<Result<R, ProbeError>>,
    ) -> Result<R, ProbeError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(result) = done(&st) {
                return result;
            }
            let (guard, timed_out) = self.shared.changed.wait_until(st, deadline);
            st = guard;
            if timed_out {
                if let Some(result) = done(&st) {
                    return result;
                }
                return Err(ProbeError::new(
                    ProbeErrorKind::Timeout,
                    format!(
                        "timed out after {timeout:?} waiting for {what}: saw {}",
                        st.summary()
                    ),
                ));
            }
        }
    }

    /// Waits for `on_subscribe`.
    pub fn await_subscribed(&self, timeout: Duration) -> Result<(), ProbeError> {
        self.wait(timeout, "on_subscribe", |st| {
            (st.subscribe_count > 0).then_some(Ok(()))
        })
    }

    /// Waits until at least `k` items have arrived in total.
    ///
    /// # Errors
    ///
    /// [`Terminated`](ProbeErrorKind::Terminated) if the stream ends with fewer, or
    /// [`Timeout`](ProbeErrorKind::Timeout).
    pub fn await_values(&self, k: u64, timeout: Duration) -> Result<(), ProbeError> {
        self.wait(timeout, &format!("{k} items"), |st| {
            if st.next_count >= k {
                Some(Ok(()))
            } else if st.terminal.is_some() {
                Some(Err(ProbeError::new(
                    ProbeErrorKind::Terminated,
                    format!("expected {k} items, but the stream ended: {}", st.summary()),
                )))
            } else {
                None
            }
        })
    }

    /// Waits for `on_complete` or `on_error`, and returns which.
    pub fn await_terminal(&self, timeout: Duration) -> Result<Terminal, ProbeError> {
        self.wait(timeout, "a terminal signal", |st| {
            st.terminal.clone().map(Ok)
        })
    }

    /// Waits for `on_complete`.
    ///
    /// # Errors
    ///
    /// [`Terminated`](ProbeErrorKind::Terminated) if the stream failed instead, or
    /// [`Timeout`](ProbeErrorKind::Timeout).
    pub fn await_complete(&self, timeout: Duration) -> Result<(), ProbeError> {
        match self.await_terminal(timeout)? {
            Terminal::Complete => Ok(()),
            Terminal::Error(e) => Err(ProbeError::new(
                ProbeErrorKind::Terminated,
                format!("expected on_complete, got on_error({e})"),
            )),
        }
    }

    /// Waits for `on_error` and returns the error.
    ///
    /// # Errors
    ///
    /// [`Terminated`](ProbeErrorKind::Terminated) if the stream completed instead, or
    /// [`Timeout`](ProbeErrorKind::Timeout).
    pub fn await_error(&self, timeout: Duration) -> Result<Error, ProbeError> {
        match self.await_terminal(timeout)? {
            Terminal::Error(e) => Ok(e),
            Terminal::Complete => Err(ProbeError::new(
                ProbeErrorKind::Terminated,
                format!(
                    "expected on_error, got on_complete after {} items",
                    self.next_count()
                ),
            )),
        }
    }

    /// Waits until the publisher has dropped the subscriber (rule 3.13).
    pub fn await_dropped(&self, timeout: Duration) -> Result<(), ProbeError> {
        self.wait(timeout, "the subscriber to be dropped", |st| {
            st.dropped.then_some(Ok(()))
        })
    }

    /// Succeeds if no signal at all arrives within `window` (this waits the whole window).
    ///
    /// Only signals that arrive during the window count: to also catch those a synchronous
    /// publisher delivers inside a call you make first, take [`signals_seen`](Self::signals_seen)
    /// before the call and use [`expect_no_signal_since`](Self::expect_no_signal_since).
    ///
    /// # Errors
    ///
    /// [`UnexpectedSignal`](ProbeErrorKind::UnexpectedSignal), naming the first signal that came.
    pub fn expect_no_signal(&self, window: Duration) -> Result<(), ProbeError> {
        let seen = self.signals_seen();
        self.expect_no_signal_since(seen, window)
    }

    /// Succeeds if no signal arrives after the `seen`-th (a value of
    /// [`signals_seen`](Self::signals_seen)), waiting `window` for a late one.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// use std::time::Duration;
    ///
    /// let (subscriber, probe) = TestSubscriber::new(1);
    /// backflow::range(0..5u8).subscribe(subscriber);
    /// probe.cancel();
    /// let seen = probe.signals_seen();
    /// probe.request(3); // after cancel: must be a no-op (rule 3.06)
    /// probe.expect_no_signal_since(seen, Duration::from_millis(5)).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`UnexpectedSignal`](ProbeErrorKind::UnexpectedSignal), naming the last signal that came.
    pub fn expect_no_signal_since(&self, seen: u64, window: Duration) -> Result<(), ProbeError> {
        let deadline = Instant::now() + window;
        let mut st = self.lock();
        loop {
            if st.signals != seen {
                let last = st.last.map_or("a signal".into(), |s| s.to_string());
                return Err(ProbeError::new(
                    ProbeErrorKind::UnexpectedSignal,
                    format!(
                        "expected no signal, got {} more (the last: {last}): saw {}",
                        st.signals.saturating_sub(seen),
                        st.summary()
                    ),
                ));
            }
            let (guard, timed_out) = self.shared.changed.wait_until(st, deadline);
            st = guard;
            if timed_out && st.signals == seen {
                return Ok(());
            }
        }
    }

    /// How many signals (of any kind) have arrived so far: a mark for
    /// [`expect_no_signal_since`](Self::expect_no_signal_since).
    pub fn signals_seen(&self) -> u64 {
        self.lock().signals
    }

    /// The items received so far, in order (empty if the subscriber does not keep them).
    pub fn values(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.lock().values.clone()
    }

    /// Runs `f` on the items received so far, for item types that are not `Clone`.
    pub fn with_values<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&self.lock().values)
    }

    /// The error the stream ended with, if it failed.
    pub fn error(&self) -> Option<Error> {
        match &self.lock().terminal {
            Some(Terminal::Error(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Whether `on_complete` arrived (as the first terminal signal).
    pub fn is_complete(&self) -> bool {
        matches!(self.lock().terminal, Some(Terminal::Complete))
    }

    /// The first terminal signal, if any.
    pub fn terminal(&self) -> Option<Terminal> {
        self.lock().terminal.clone()
    }

    /// How many times `on_subscribe` was called (1 in a correct run; a second one is cancelled).
    pub fn subscribe_count(&self) -> usize {
        self.lock().subscribe_count
    }

    /// How many items arrived.
    pub fn next_count(&self) -> u64 {
        self.lock().next_count
    }

    /// The total requested so far through this subscriber (saturating at `u64::MAX`).
    pub fn requested(&self) -> u64 {
        self.lock().requested
    }

    /// Whether more items arrived than were requested (rule 1.01).
    pub fn demand_exceeded(&self) -> bool {
        self.lock().exceeded.is_some()
    }

    /// How many terminal signals arrived (more than 1 breaks rule 1.07).
    pub fn terminal_count(&self) -> usize {
        self.lock().terminal_count
    }

    /// How many signals arrived after the first terminal signal (rule 1.07).
    pub fn signals_after_terminal(&self) -> usize {
        self.lock().after_terminal
    }

    /// How many signals arrived before `on_subscribe` (rule 1.09).
    pub fn signals_before_subscribe(&self) -> usize {
        self.lock().before_subscribe
    }

    /// How many signals began while another thread was inside a handler (rule 1.03).
    pub fn overlaps(&self) -> usize {
        self.lock().overlaps
    }

    /// The deepest nesting of signal handlers on one thread: 1 when no handler was ever called from
    /// inside another (rule 3.03), 0 before the first signal.
    pub fn max_depth(&self) -> usize {
        self.lock().max_depth
    }

    /// The threads signals arrived on, in order of first appearance.
    pub fn threads(&self) -> Vec<ThreadId> {
        self.lock().threads.clone()
    }

    /// Whether the subscriber or the probe cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// How many items arrived after the cancel (allowed for items in flight, rule 2.08).
    pub fn next_after_cancel(&self) -> u64 {
        self.lock().next_after_cancel
    }

    /// A `Weak` to a token the subscriber owns: `upgrade()` returns `None` once the publisher has
    /// dropped the subscriber (rule 3.13).
    pub fn liveness(&self) -> std::sync::Weak<Liveness> {
        self.shared.liveness.clone()
    }

    /// Whether the subscriber has been dropped.
    pub fn is_dropped(&self) -> bool {
        self.lock().dropped
    }

    /// Every protocol breach seen so far, each naming its rule; empty for a correct run.
    pub fn violations(&self) -> Vec<String> {
        let st = self.lock();
        let mut out = Vec::new();
        if st.subscribe_count > 1 {
            out.push(format!(
                "[1.09] on_subscribe called {} times",
                st.subscribe_count
            ));
        }
        if st.before_subscribe > 0 {
            out.push(format!(
                "[1.09] {} signals arrived before on_subscribe",
                st.before_subscribe
            ));
        }
        if let Some((count, requested)) = st.exceeded {
            out.push(format!(
                "[1.01] on_next #{count} arrived with only {} requested",
                show_demand(requested)
            ));
        }
        if st.overlaps > 0 {
            out.push(format!(
                "[1.03] {} signals overlapped a signal running on another thread",
                st.overlaps
            ));
        }
        if st.max_depth > 1 {
            out.push(format!(
                "[3.03] signal handlers nested {} deep on one thread: the publisher signalled from inside a call made by a handler",
                st.max_depth
            ));
        }
        if st.terminal_count > 1 {
            out.push(format!("[1.07] {} terminal signals", st.terminal_count));
        }
        if st.after_terminal > 0 {
            out.push(format!(
                "[1.07] {} signals after the terminal signal",
                st.after_terminal
            ));
        }
        out
    }

    /// Panics listing every protocol breach seen so far (see [`violations`](Self::violations)).
    #[track_caller]
    pub fn assert_protocol(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "protocol violations: {}",
            violations.join("; ")
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn shared() -> (TestSubscriber<u8>, TestProbe<u8>) {
        TestSubscriber::new(0)
    }

    #[test]
    fn sequential_handlers_are_top_level() {
        let (_s, probe) = shared();
        for _ in 0..3 {
            let (_entered, nesting, _) = probe.shared.enter();
            assert!(matches!(nesting, Nesting::Top));
        }
    }

    #[test]
    fn nested_handler_on_one_thread_is_nested() {
        let (_s, probe) = shared();
        let (_outer, outer, _) = probe.shared.enter();
        let (_inner, inner, _) = probe.shared.enter();
        assert!(matches!(outer, Nesting::Top));
        assert!(matches!(inner, Nesting::Nested(2)));
    }

    #[test]
    fn handler_on_another_thread_meanwhile_is_an_overlap() {
        let (_s, probe) = shared();
        let (entered, nesting, _) = probe.shared.enter();
        assert!(matches!(nesting, Nesting::Top));
        let other = probe.clone();
        let overlapped = std::thread::spawn(move || {
            let (_entered, nesting, _) = other.shared.enter();
            matches!(nesting, Nesting::Overlap)
        })
        .join()
        .unwrap();
        assert!(overlapped);
        drop(entered);
        // Once the first handler is out, the other thread enters cleanly.
        let other = probe.clone();
        let clean = std::thread::spawn(move || {
            let (_entered, nesting, _) = other.shared.enter();
            matches!(nesting, Nesting::Top)
        })
        .join()
        .unwrap();
        assert!(clean);
    }

    #[test]
    fn unwinding_handler_is_counted_out() {
        let (_s, probe) = shared();
        let p = probe.clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let (_entered, _, _) = p.shared.enter();
            panic!("handler panics");
        }));
        let (_entered, nesting, _) = probe.shared.enter();
        assert!(matches!(nesting, Nesting::Top));
    }
}
