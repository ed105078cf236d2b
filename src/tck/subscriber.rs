//! [`verify_subscriber`]: the subscriber rules, checked by driving the subscriber with a scripted
//! publisher that records every call it makes on its subscription.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::check::{default_timeout, ensure, fail, panic_text, run_guarded, skip, Step, Stop};
use super::{Outcome, Report, Rule};
use crate::error::Error;
use crate::protocol::{SharedSubscription, Subscriber, Subscription};
use crate::sync::{std_thread_id, Arc, Condvar, Mutex, MutexGuard, StdArc};

/// How [`verify_subscriber`] drives the subscriber under test.
///
/// ```
/// use backflow::tck::SubscriberOptions;
/// // The items fed to the subscriber: the n-th is `n as u32`.
/// let options = SubscriberOptions::new(|n| n as u32).name("my sink");
/// # let _ = options;
/// ```
pub struct SubscriberOptions<T> {
    name: String,
    timeout: Duration,
    budget: Option<Duration>,
    element: StdArc<dyn Fn(u64) -> T + Send + Sync>,
}

impl<T> fmt::Debug for SubscriberOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberOptions")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<T> SubscriberOptions<T> {
    /// Options that feed the subscriber `element(0)`, `element(1)`, ...
    pub fn new(element: impl Fn(u64) -> T + Send + Sync + 'static) -> Self {
        SubscriberOptions {
            name: "subscriber".into(),
            timeout: default_timeout(),
            budget: None,
            element: StdArc::new(element),
        }
    }

    /// The name shown in the report (default `"subscriber"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long to wait for the subscriber to request or cancel (default 100 ms, or
    /// `BACKFLOW_TCK_TIMEOUT_MS`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest one rule's check may run before it is failed as blocked (default: 100 times
    /// the time-out, at least 10 s).
    pub fn rule_budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    fn budget(&self) -> Duration {
        self.budget
            .unwrap_or_else(|| (self.timeout * 100).max(Duration::from_secs(10)))
    }
}

/// Checks every subscriber rule ([`Rule::SUBSCRIBER`]) on subscribers made by `factory`.
///
/// The verifier plays the publisher: it calls `on_subscribe` with a subscription that records
/// every request and cancel, and sends items only against the demand the subscriber signalled.
/// Each rule gets fresh subscribers; the verifier ends every run it starts (a terminal signal, or
/// dropping the subscriber after it cancelled).
///
/// ```
/// use backflow::tck::{verify_subscriber, SubscriberOptions};
/// use backflow::TestSubscriber;
///
/// let report = verify_subscriber(
///     || TestSubscriber::<u64>::builder().initial_request(2).request_after_each(1).cancel_after(5).build().0,
///     SubscriberOptions::new(|n| n).name("TestSubscriber"),
/// );
/// report.assert_all_passed();
/// ```
pub fn verify_subscriber<S, F, T>(factory: F, options: SubscriberOptions<T>) -> Report
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Subscriber<T> + 'static,
    T: 'static,
{
    verify_subscriber_rules(Rule::SUBSCRIBER, factory, options)
}

/// Checks one subscriber rule; the report has one line.
pub fn verify_subscriber_rule<S, F, T>(
    rule: Rule,
    factory: F,
    options: SubscriberOptions<T>,
) -> Report
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Subscriber<T> + 'static,
    T: 'static,
{
    verify_subscriber_rules(&[rule], factory, options)
}

/// Checks the given subscriber rules, in order.
pub fn verify_subscriber_rules<S, F, T>(
    rules: &[Rule],
    factory: F,
    options: SubscriberOptions<T>,
) -> Report
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Subscriber<T> + 'static,
    T: 'static,
{
    let cx = Cx {
        factory: Arc::new(factory),
        options: Arc::new(options),
        _subscriber: PhantomData,
    };
    let lines = rules
        .iter()
        .map(|&rule| {
            let outcome = if rule.is_publisher_rule() {
                Outcome::Skipped(format!("{rule} is a publisher rule: see verify_publisher"))
            } else {
                let cx = cx.clone();
                run_guarded(cx.options.budget(), move || check(rule, &cx))
            };
            (rule, outcome)
        })
        .collect();
    Report::new(format!("subscriber `{}`", cx.options.name), lines)
}

struct Cx<S, F, T> {
    factory: Arc<F>,
    options: Arc<SubscriberOptions<T>>,
    _subscriber: PhantomData<fn() -> S>,
}

impl<S, F, T> Clone for Cx<S, F, T> {
    fn clone(&self) -> Self {
        Cx {
            factory: self.factory.clone(),
            options: self.options.clone(),
            _subscriber: PhantomData,
        }
    }
}

impl<S, F, T> Cx<S, F, T>
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    fn driver(&self) -> Driver<'_, S, T> {
        Driver {
            subscriber: (self.factory)(),
            script: Script::new(),
            delivered: 0,
            element: &*self.options.element,
            timeout: self.options.timeout,
        }
    }
}

/// The subscription the verifier hands out: it records what the subscriber asks.
struct Script {
    state: Mutex<ScriptState>,
    changed: Condvar,
}

struct ScriptState {
    /// Total requested, saturating at `u64::MAX` (unbounded).
    requested: u64,
    request_calls: u64,
    largest_request: u64,
    zero_requests: u64,
    cancelled: bool,
    /// The verifier's thread while it is inside `on_complete` / `on_error`.
    terminal_caller: Option<ThreadId>,
    /// Calls the subscriber made from inside its terminal handler (rule 2.03).
    calls_in_terminal: Vec<String>,
}

impl Script {
    fn new() -> StdArc<Script> {
        StdArc::new(Script {
            state: Mutex::new(ScriptState {
                requested: 0,
                request_calls: 0,
                largest_request: 0,
                zero_requests: 0,
                cancelled: false,
                terminal_caller: None,
                calls_in_terminal: Vec::new(),
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ScriptState> {
        self.state.lock()
    }

    /// Waits until `done` holds; whether it did before `timeout`.
    fn wait(&self, timeout: Duration, done: impl Fn(&ScriptState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if done(&st) {
                return true;
            }
            let (guard, timed_out) = self.changed.wait_until(st, deadline);
            st = guard;
            if timed_out {
                return done(&st);
            }
        }
    }
}

impl ScriptState {
    fn note_if_terminal(&mut self, call: String) {
        if self.terminal_caller == Some(std_thread_id()) {
            self.calls_in_terminal.push(call);
        }
    }
}

impl Subscription for Script {
    fn request(&self, n: u64) {
        let mut st = self.lock();
        st.note_if_terminal(format!("request({n})"));
        st.request_calls += 1;
        if n == 0 {
            st.zero_requests += 1;
        }
        st.largest_request = st.largest_request.max(n);
        st.requested = st.requested.saturating_add(n);
        self.changed.notify_all();
    }

    fn cancel(&self) {
        let mut st = self.lock();
        st.note_if_terminal("cancel()".into());
        st.cancelled = true;
        self.changed.notify_all();
    }
}

/// How a scripted run ends.
#[derive(Clone, Copy)]
enum End {
    Complete,
    Error,
}

/// One scripted run: the subscriber under test and the subscription it was given.
struct Driver<'a, S, T> {
    subscriber: S,
    script: StdArc<Script>,
    delivered: u64,
    element: &'a (dyn Fn(u64) -> T + Send + Sync),
    timeout: Duration,
}

impl<S: Subscriber<T>, T> Driver<'_, S, T> {
    /// Calls the subscriber; a panic fails the check (rule 2.13: handlers return normally).
    fn call(&mut self, what: &str, f: impl FnOnce(&mut S)) -> Step {
        let subscriber = &mut self.subscriber;
        catch_unwind(AssertUnwindSafe(|| f(subscriber)))
            .map_err(|p| fail(format!("{what} panicked: {}", panic_text(what, p))))
    }

    fn subscribe(&mut self) -> Step {
        let subscription: SharedSubscription = self.script.clone();
        self.call("on_subscribe", |s| s.on_subscribe(subscription))
    }

    /// Demand signalled and not yet served (`u64::MAX` = unbounded).
    fn outstanding(&self) -> u64 {
        let requested = self.script.lock().requested;
        if requested == u64::MAX {
            u64::MAX
        } else {
            requested - self.delivered
        }
    }

    /// Whether there is outstanding demand now or within `within`.
    fn await_demand(&self, within: Duration) -> bool {
        let delivered = self.delivered;
        self.script.wait(within, |st| st.requested > delivered)
    }

    fn cancelled(&self) -> bool {
        self.script.lock().cancelled
    }

    /// Sends the next item. Callers send only against outstanding demand, or as an item in flight
    /// when the subscriber cancels.
    fn next(&mut self) -> Step {
        let item = (self.element)(self.delivered);
        self.delivered += 1;
        let what = format!("on_next #{}", self.delivered);
        self.call(&what, |s| s.on_next(item))
    }

    /// Sends items while there is demand (waiting up to the time-out for more), at most `max` in all,
    /// stopping early if the subscriber cancels.
    fn serve(&mut self, max: u64) -> Step {
        while self.delivered < max && !self.cancelled() {
            if self.outstanding() == 0 && !self.await_demand(self.timeout) {
                break;
            }
            self.next()?;
        }
        Ok(())
    }

    fn terminate(&mut self, what: &str, signal: impl FnOnce(&mut S)) -> Step {
        self.script.lock().terminal_caller = Some(std_thread_id());
        let result = self.call(what, signal);
        let calls = {
            let mut st = self.script.lock();
            st.terminal_caller = None;
            std::mem::take(&mut st.calls_in_terminal)
        };
        result?;
        ensure!(
            calls.is_empty(),
            "[2.03] {what} called {} on its subscription",
            calls.join(", ")
        );
        self.finish()
    }

    fn complete(&mut self) -> Step {
        self.end(End::Complete)
    }

    fn end(&mut self, end: End) -> Step {
        match end {
            End::Complete => self.terminate("on_complete", |s| s.on_complete()),
            End::Error => {
                let error = Error::msg("tck: scripted failure");
                self.terminate("on_error", move |s| s.on_error(error))
            }
        }
    }

    /// Checks that hold for every run.
    fn finish(&self) -> Step {
        let zero = self.script.lock().zero_requests;
        ensure!(
            zero == 0,
            "[3.09] the subscriber called request(0) {zero} times"
        );
        Ok(())
    }
}

fn check<S, F, T>(rule: Rule, cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    match rule {
        Rule::Spec2_01 => spec_2_01(cx),
        Rule::Spec2_03 => spec_2_03(cx),
        Rule::Spec2_05 => spec_2_05(cx),
        Rule::Spec2_08 => spec_2_08(cx),
        Rule::Spec2_09 => spec_2_09_10(cx, End::Complete),
        Rule::Spec2_10 => spec_2_09_10(cx, End::Error),
        Rule::Spec3_08 => spec_3_08(cx),
        _ => Err(skip(format!("{rule} is not a subscriber rule"))),
    }
}

fn spec_2_01<S, F, T>(cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    let mut run = cx.driver();
    run.subscribe()?;
    ensure!(
        run.await_demand(run.timeout),
        "no request(n) within {:?} of on_subscribe: a subscriber signals demand to receive items",
        run.timeout
    );
    // Items flow, each against demand the subscriber signalled; it may stop asking at any time.
    run.serve(10)?;
    if run.cancelled() {
        return run.finish();
    }
    run.complete()
}

fn spec_2_03<S, F, T>(cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    for (what, end) in [("on_complete", End::Complete), ("on_error", End::Error)] {
        let mut run = cx.driver();
        run.subscribe()?;
        let _ = run.await_demand(run.timeout);
        let items = run.outstanding().min(3);
        for _ in 0..items {
            if run.cancelled() {
                break;
            }
            run.next()?;
        }
        let delivered = run.delivered;
        run.end(end).map_err(|e| match e {
            Stop::Fail(reason) => fail(format!("{what} after {delivered} items: {reason}")),
            other => other,
        })?;
    }
    Ok(())
}

fn spec_2_05<S, F, T>(cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    let mut run = cx.driver();
    run.subscribe()?;
    let second = Script::new();
    let handle: SharedSubscription = second.clone();
    run.call("a second on_subscribe", |s| s.on_subscribe(handle))?;
    ensure!(
        second.wait(run.timeout, |st| st.cancelled),
        "a second on_subscribe must be answered by cancelling that subscription; it was not \
         cancelled within {:?}",
        run.timeout
    );
    run.serve(3)?;
    if run.cancelled() {
        return run.finish();
    }
    run.complete()
}

fn spec_2_08<S, F, T>(cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    const MAX_ITEMS: u64 = 20;
    let mut run = cx.driver();
    run.subscribe()?;
    run.serve(MAX_ITEMS)?;
    if !run.cancelled() {
        run.complete()?;
        return Err(skip(format!(
            "the subscriber did not cancel within {} items; 2.08 needs one that cancels",
            run.delivered
        )));
    }
    // Items requested before the cancel may still be on their way: send up to two of them.
    let in_flight = run.outstanding().min(2);
    if in_flight == 0 {
        return Err(skip(
            "the subscriber cancelled with no demand outstanding, so no item can be in flight",
        ));
    }
    for _ in 0..in_flight {
        run.next().map_err(|e| match e {
            Stop::Fail(reason) => fail(format!("after the subscriber's own cancel: {reason}")),
            other => other,
        })?;
    }
    run.finish()
}

fn spec_2_09_10<S, F, T>(cx: &Cx<S, F, T>, end: End) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    // Without waiting for a request: right after on_subscribe.
    let mut run = cx.driver();
    run.subscribe()?;
    run.end(end).map_err(|e| match e {
        Stop::Fail(reason) => fail(format!("right after on_subscribe: {reason}")),
        other => other,
    })?;
    // After the subscriber's first request, with no item sent.
    let mut run = cx.driver();
    run.subscribe()?;
    let requested = run.await_demand(run.timeout);
    if run.cancelled() {
        return run.finish();
    }
    run.end(end).map_err(|e| match e {
        Stop::Fail(reason) if requested => fail(format!("after a request: {reason}")),
        Stop::Fail(reason) => fail(format!("after on_subscribe and no request: {reason}")),
        other => other,
    })
}

fn spec_3_08<S, F, T>(cx: &Cx<S, F, T>) -> Step
where
    F: Fn() -> S,
    S: Subscriber<T>,
{
    const MAX_ITEMS: u64 = 1_000;
    let mut run = cx.driver();
    run.subscribe()?;
    run.serve(MAX_ITEMS)?;
    let (calls, largest) = {
        let st = run.script.lock();
        (st.request_calls, st.largest_request)
    };
    let cancelled = run.cancelled();
    if !cancelled {
        run.complete()?;
    }
    if calls < 2 {
        return Err(skip(format!(
            "the subscriber made {calls} request(s) in {} items; nothing to add up",
            run.delivered
        )));
    }
    // Served until its demand ran dry (or the cap): it took the sum of its requests, each item
    // accepted without a failure; that is more than any one request asked for.
    if run.delivered <= largest && run.delivered < MAX_ITEMS {
        return Err(skip(format!(
            "the subscriber cancelled after {} items, before its {calls} requests could add up",
            run.delivered
        )));
    }
    run.finish()
}
