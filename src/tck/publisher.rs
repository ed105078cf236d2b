//! [`verify_publisher`]: the publisher rules, checked with [`TestSubscriber`]s.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::check::{
    await_all, clean, default_timeout, ensure, fail, panic_text, run_guarded, settle, skip,
    Context, Step, Stop,
};
use super::{Outcome, Report, Rule};
use crate::error::{Error, ErrorKind};
use crate::protocol::{Publisher, Subscriber};
use crate::sink::{Terminal, TestProbe, TestSubscriber, TestSubscriberBuilder};
use crate::sync::{thread, Arc, StdArc};

type Failing<T> = StdArc<dyn Fn(Box<dyn Subscriber<T>>) + Send + Sync>;

/// How [`verify_publisher`] treats the publisher under test.
///
/// ```
/// use backflow::tck::PublisherOptions;
/// use std::time::Duration;
///
/// let options = PublisherOptions::<u64>::default()
///     .name("my source")
///     .timeout(Duration::from_millis(500))
///     .max_elements(1_000)
///     .threaded(false);
/// # let _ = options;
/// ```
pub struct PublisherOptions<T> {
    name: String,
    timeout: Duration,
    budget: Option<Duration>,
    min_elements: u64,
    max_elements: u64,
    multicast: bool,
    single_subscriber: bool,
    threaded: bool,
    failing: Option<Failing<T>>,
    failing_needs_demand: bool,
}

impl<T> Default for PublisherOptions<T> {
    fn default() -> Self {
        PublisherOptions {
            name: "publisher".into(),
            timeout: default_timeout(),
            budget: None,
            min_elements: 0,
            max_elements: u64::MAX,
            multicast: false,
            single_subscriber: false,
            threaded: true,
            failing: None,
            failing_needs_demand: false,
        }
    }
}

impl<T> fmt::Debug for PublisherOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherOptions")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("min_elements", &self.min_elements)
            .field("max_elements", &self.max_elements)
            .field("multicast", &self.multicast)
            .field("single_subscriber", &self.single_subscriber)
            .field("threaded", &self.threaded)
            .field("failing_factory", &self.failing.is_some())
            .field("failing_needs_demand", &self.failing_needs_demand)
            .finish()
    }
}

impl<T> PublisherOptions<T> {
    /// The defaults: see each setter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The name shown in the report (default `"publisher"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long to wait for a signal that should come (default 100 ms, or
    /// `BACKFLOW_TCK_TIMEOUT_MS`). Passing checks rarely wait this long; raise it on slow machines.
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

    /// The largest `n` the factory supports (default: any). Rules that need more are skipped.
    ///
    /// # Panics
    ///
    /// If `n` is below [`min_elements`](Self::min_elements).
    pub fn max_elements(mut self, n: u64) -> Self {
        assert!(n >= self.min_elements, "max_elements below min_elements");
        self.max_elements = n;
        self
    }

    /// The smallest `n` the factory supports (default 0: it can make an empty publisher).
    ///
    /// # Panics
    ///
    /// If `n` is above [`max_elements`](Self::max_elements).
    pub fn min_elements(mut self, n: u64) -> Self {
        assert!(n <= self.max_elements, "min_elements above max_elements");
        self.min_elements = n;
        self
    }

    /// Whether subscribers share one run (default `false`: each subscriber gets its own run of
    /// exactly `n` items). Rule 1.11 then only checks each run is correct, not its length.
    pub fn multicast(mut self, multicast: bool) -> Self {
        self.multicast = multicast;
        self
    }

    /// Whether the publisher accepts only one subscriber (default `false`), like a source over a
    /// stream that can be consumed once. Rule 1.11 then checks that each later subscriber is
    /// rejected as rule 1.09 says (`on_subscribe`, then `on_error`, with no request needed) while
    /// the first gets a correct run.
    pub fn single_subscriber(mut self, single: bool) -> Self {
        self.single_subscriber = single;
        self
    }

    /// Whether the publisher may signal from threads of its own (default `true`, the safe
    /// assumption). `false` declares that every signal happens inside a call to `subscribe`,
    /// `request` or `cancel`, so the "nothing more arrives" checks can use a window of a tenth of
    /// the time-out instead of all of it.
    pub fn threaded(mut self, threaded: bool) -> Self {
        self.threaded = threaded;
        self
    }

    /// A factory of publishers that fail: each signals `on_subscribe` and then `on_error` without
    /// needing any request (like a source that cannot start), unless
    /// [`failing_needs_demand`](Self::failing_needs_demand) says otherwise. Enables rules 1.04 and
    /// 1.09-reject, and the failing half of 1.07.
    pub fn failing_factory<Q, G>(mut self, factory: G) -> Self
    where
        G: Fn() -> Q + Send + Sync + 'static,
        Q: Publisher<Item = T>,
        T: 'static,
    {
        self.failing = Some(StdArc::new(move |subscriber| {
            factory().subscribe(subscriber)
        }));
        self
    }

    /// Declares that the [failing publishers](Self::failing_factory) fail only once items are
    /// requested (a stage that emits something first, like `scan`'s seed, or a source that fails
    /// mid-stream). Rule 1.09-reject, about failing without demand, is then skipped.
    pub fn failing_needs_demand(mut self, needs: bool) -> Self {
        self.failing_needs_demand = needs;
        self
    }

    fn budget(&self) -> Duration {
        self.budget
            .unwrap_or_else(|| (self.timeout * 100).max(Duration::from_secs(10)))
    }
}

/// Checks every publisher rule ([`Rule::PUBLISHER`]) on publishers made by `factory`.
///
/// `factory(n)` must return a fresh publisher of exactly `n` items that then completes, for any
/// `n` between [`min_elements`](PublisherOptions::min_elements) and
/// [`max_elements`](PublisherOptions::max_elements). Each rule runs on a thread of its own, with
/// new publishers and [`TestSubscriber`]s. See the [module docs](super) for an example.
pub fn verify_publisher<P, F>(factory: F, options: PublisherOptions<P::Item>) -> Report
where
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher + 'static,
    P::Item: Send + 'static,
{
    verify_publisher_rules(Rule::PUBLISHER, factory, options)
}

/// Checks one publisher rule; the report has one line.
///
/// ```
/// use backflow::tck::{verify_publisher_rule, PublisherOptions, Rule};
/// let report = verify_publisher_rule(
///     Rule::Spec3_09,
///     |n| backflow::range(0..n),
///     PublisherOptions::default().threaded(false),
/// );
/// report.assert_all_passed();
/// assert!(report.rule("3.09").unwrap().is_passed());
/// ```
pub fn verify_publisher_rule<P, F>(
    rule: Rule,
    factory: F,
    options: PublisherOptions<P::Item>,
) -> Report
where
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher + 'static,
    P::Item: Send + 'static,
{
    verify_publisher_rules(&[rule], factory, options)
}

/// Checks the given publisher rules, in order.
pub fn verify_publisher_rules<P, F>(
    rules: &[Rule],
    factory: F,
    options: PublisherOptions<P::Item>,
) -> Report
where
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher + 'static,
    P::Item: Send + 'static,
{
    let cx = Cx {
        factory: Arc::new(factory),
        options: Arc::new(options),
        _publisher: PhantomData,
    };
    let lines = rules
        .iter()
        .map(|&rule| {
            let outcome = if rule.is_publisher_rule() {
                let cx = cx.clone();
                run_guarded(cx.options.budget(), move || check(rule, &cx))
            } else {
                Outcome::Skipped(format!(
                    "{rule} is a subscriber rule: see verify_subscriber"
                ))
            };
            (rule, outcome)
        })
        .collect();
    Report::new(format!("publisher `{}`", cx.options.name), lines)
}

/// Everything a check needs: the factory and the options.
struct Cx<P, F, T> {
    factory: Arc<F>,
    options: Arc<PublisherOptions<T>>,
    _publisher: PhantomData<fn() -> P>,
}

impl<P, F, T> Clone for Cx<P, F, T> {
    fn clone(&self) -> Self {
        Cx {
            factory: self.factory.clone(),
            options: self.options.clone(),
            _publisher: PhantomData,
        }
    }
}

impl<P, F, T> Cx<P, F, T>
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The window of "nothing more arrives" checks.
    fn quiet(&self) -> Duration {
        if self.options.threaded {
            self.options.timeout
        } else {
            (self.options.timeout / 10).max(Duration::from_millis(1))
        }
    }

    /// A publisher size near `preferred` that the factory supports, or a skip if it cannot make
    /// one of at least `at_least` items.
    fn elements(&self, preferred: u64, at_least: u64) -> Result<u64, Stop> {
        let o = &self.options;
        let n = preferred.clamp(o.min_elements, o.max_elements);
        if n < at_least {
            return Err(skip(format!(
                "needs a publisher of at least {at_least} items; max_elements is {}",
                o.max_elements
            )));
        }
        Ok(n)
    }

    fn subscribe(&self, publisher: &P, subscriber: TestSubscriber<T>) -> Step {
        catch_unwind(AssertUnwindSafe(|| publisher.subscribe(subscriber))).map_err(|p| {
            fail(format!(
                "[1.09] subscribe panicked: {}",
                panic_text("subscribe", p)
            ))
        })
    }

    /// A new publisher of `n` items with a new subscriber from `builder`. The publisher is kept by
    /// the caller for the whole check, so a hot source is not torn down under the subscriber.
    fn fresh(&self, n: u64, builder: TestSubscriberBuilder<T>) -> Result<(P, TestProbe<T>), Stop> {
        let publisher = (self.factory)(n);
        let (subscriber, probe) = builder.build();
        self.subscribe(&publisher, subscriber)?;
        Ok((publisher, probe))
    }

    /// A new subscriber from `builder`, subscribed to a failing publisher; a skip if there is none.
    fn failing(&self, builder: TestSubscriberBuilder<T>) -> Result<TestProbe<T>, Stop> {
        let Some(failing) = &self.options.failing else {
            return Err(skip("no failing_factory in the options"));
        };
        let (subscriber, probe) = builder.build();
        catch_unwind(AssertUnwindSafe(|| failing(Box::new(subscriber)))).map_err(|p| {
            fail(format!(
                "[1.09] subscribe to the failing publisher panicked: {}",
                panic_text("subscribe", p)
            ))
        })?;
        Ok(probe)
    }
}

fn check<P, F, T>(rule: Rule, cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    match rule {
        Rule::Spec1_01 => spec_1_01(cx),
        Rule::Spec1_02 => spec_1_02(cx),
        Rule::Spec1_03 => spec_1_03(cx),
        Rule::Spec1_04 => spec_1_04(cx),
        Rule::Spec1_05 => spec_1_05(cx),
        Rule::Spec1_05Empty => spec_1_05_empty(cx),
        Rule::Spec1_07 => spec_1_07(cx),
        Rule::Spec1_09 => spec_1_09(cx),
        Rule::Spec1_09Reject => spec_1_09_reject(cx),
        Rule::Spec1_11 => spec_1_11(cx),
        Rule::Spec2_13 => spec_2_13(cx),
        Rule::Spec3_02 => spec_3_02(cx),
        Rule::Spec3_03 => spec_3_03(cx),
        Rule::Spec3_05 => spec_3_05(cx),
        Rule::Spec3_06 => spec_3_06(cx),
        Rule::Spec3_07 => spec_3_07(cx),
        Rule::Spec3_09 => spec_3_09(cx),
        Rule::Spec3_12 => spec_3_12(cx),
        Rule::Spec3_13 => spec_3_13(cx),
        Rule::Spec3_17 => spec_3_17(cx, Saturate::Once),
        Rule::Spec3_17Sum => spec_3_17(cx, Saturate::Sum),
        Rule::Spec3_17Many => spec_3_17(cx, Saturate::Many),
        _ => Err(skip(format!("{rule} is not a publisher rule"))),
    }
}

fn new<T>() -> TestSubscriberBuilder<T> {
    TestSubscriber::builder()
}

/// Completion after exactly `n` items, with the lenience rule 1.05 allows: a publisher that learns
/// it is exhausted only on the next request gets one more request (the JVM TCK's `requestEndOfStream`).
fn await_end<T>(probe: &TestProbe<T>, n: u64, quiet: Duration, timeout: Duration) -> Step {
    if probe.await_terminal(quiet).is_err() {
        probe.request(1);
    }
    probe.await_complete(timeout).context(&format!(
        "a publisher of {n} items must complete after them"
    ))?;
    ensure!(
        probe.next_count() == n,
        "a publisher of {n} items delivered {}",
        probe.next_count()
    );
    Ok(())
}

fn spec_1_01<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(4, 1)?;
    let (_publisher, probe) = cx.fresh(n, new())?;
    probe.await_subscribed(cx.timeout())?;
    probe
        .expect_no_signal_since(1, cx.quiet())
        .context("with no request made")?;
    for i in 1..n {
        let seen = probe.signals_seen();
        probe.request(1);
        probe.await_values(i, cx.timeout())?;
        clean(&probe)?;
        probe
            .expect_no_signal_since(seen + 1, cx.quiet())
            .context(&format!("after {i} x request(1) and {i} items"))?;
    }
    probe.request(1);
    await_all(&probe, n, cx.timeout())?;
    await_end(&probe, n, cx.quiet(), cx.timeout())?;
    clean(&probe)
}

fn spec_1_02<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(3, 0)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(n + 10))?;
    await_all(&probe, n, cx.timeout())?;
    probe
        .await_complete(cx.timeout())
        .context(&format!("{n} items with {} requested", n + 10))?;
    ensure!(
        probe.next_count() == n,
        "a publisher of {n} items delivered {}",
        probe.next_count()
    );
    clean(&probe)
}

fn spec_1_03<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    const THREADS: u64 = 4;
    const ROUNDS: usize = 3;
    let n = cx.elements(400, 2)?;
    for round in 1..=ROUNDS {
        let (_publisher, probe) = cx.fresh(n, new().keep_values(false))?;
        probe.await_subscribed(cx.timeout())?;
        // One request(1) more than items in total, so the last one can reveal the end.
        let per_thread = n / THREADS + 1;
        let requesters: Vec<_> = (0..THREADS)
            .map(|_| {
                let probe = probe.clone();
                thread::spawn(move || {
                    for _ in 0..per_thread {
                        probe.request(1);
                    }
                })
            })
            .collect();
        for requester in requesters {
            requester
                .join()
                .map_err(|p| fail(format!("round {round}: {}", panic_text("request", p))))?;
        }
        await_all(&probe, n, cx.timeout())?;
        probe
            .await_complete(cx.timeout())
            .context(&format!("round {round}"))?;
        ensure!(
            probe.next_count() == n,
            "round {round}: {} items from a publisher of {n}",
            probe.next_count()
        );
        clean(&probe).map_err(|e| match e {
            Stop::Fail(reason) => fail(format!("round {round}: {reason}")),
            other => other,
        })?;
    }
    Ok(())
}

fn spec_1_04<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let probe = cx.failing(new().initial_request(u64::MAX))?;
    probe
        .await_error(cx.timeout())
        .context("a failing publisher must signal on_error")?;
    clean(&probe)
}

fn spec_1_05<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(3, 1)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(n))?;
    await_all(&probe, n, cx.timeout())?;
    await_end(&probe, n, cx.quiet(), cx.timeout())?;
    clean(&probe)
}

fn spec_1_05_empty<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    if cx.options.min_elements > 0 {
        return Err(skip(format!(
            "the publisher cannot be empty (min_elements is {})",
            cx.options.min_elements
        )));
    }
    let (_publisher, probe) = cx.fresh(0, new())?;
    probe.await_complete(cx.timeout()).context(
        "an empty publisher must signal on_complete without waiting for a request (SEMANTICS 1.05)",
    )?;
    ensure!(
        probe.next_count() == 0,
        "an empty publisher delivered {} items",
        probe.next_count()
    );
    clean(&probe)
}

/// Requests and cancels after the end, which must all be no-ops (rules 1.06, 3.06, 3.07).
fn poke<T>(probe: &TestProbe<T>) {
    probe.request(1);
    probe.request(0);
    probe.cancel();
    probe.request(1);
}

fn spec_1_07<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(3, 0)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(u64::MAX))?;
    await_all(&probe, n, cx.timeout())?;
    probe.await_complete(cx.timeout())?;
    let seen = probe.signals_seen();
    poke(&probe);
    probe
        .expect_no_signal_since(seen, cx.quiet())
        .context("after on_complete, then request(1), request(0), cancel, request(1)")?;
    clean(&probe)?;
    if cx.options.failing.is_some() {
        let probe = cx.failing(new().initial_request(u64::MAX))?;
        probe.await_error(cx.timeout())?;
        let seen = probe.signals_seen();
        poke(&probe);
        probe
            .expect_no_signal_since(seen, cx.quiet())
            .context("after on_error, then request(1), request(0), cancel, request(1)")?;
        clean(&probe)?;
    }
    Ok(())
}

fn spec_1_09<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    if cx.options.max_elements > 0 {
        let n = cx.elements(3, 1)?;
        let (_publisher, probe) = cx.fresh(n, new())?;
        probe.await_subscribed(cx.timeout())?;
        probe
            .expect_no_signal_since(1, cx.quiet())
            .context("after on_subscribe with no request")?;
        probe.request(u64::MAX);
        await_all(&probe, n, cx.timeout())?;
        probe.await_complete(cx.timeout())?;
        clean(&probe)?;
    }
    if cx.options.min_elements == 0 {
        let (_publisher, probe) = cx.fresh(0, new().initial_request(1))?;
        probe
            .await_complete(cx.timeout())
            .context("empty publisher")?;
        clean(&probe).map_err(|e| match e {
            Stop::Fail(reason) => fail(format!("empty publisher: {reason}")),
            other => other,
        })?;
    }
    Ok(())
}

fn spec_1_09_reject<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    if cx.options.failing_needs_demand {
        return Err(skip("the failing publisher needs demand to fail"));
    }
    let probe = cx.failing(new())?;
    probe.await_error(cx.timeout()).context(
        "a rejecting publisher must signal on_subscribe then on_error, with no request made",
    )?;
    ensure!(
        probe.subscribe_count() == 1,
        "on_subscribe came {} times",
        probe.subscribe_count()
    );
    clean(&probe)
}

fn spec_1_11<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    const SUBSCRIBERS: usize = 3;
    let n = cx.elements(3, 0)?;
    let publisher = (cx.factory)(n);
    let mut probes = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let (subscriber, probe) = new().build();
        cx.subscribe(&publisher, subscriber)?;
        probes.push(probe);
    }
    for probe in &probes {
        probe.await_subscribed(cx.timeout())?;
    }
    if cx.options.single_subscriber {
        for (i, probe) in probes.iter().enumerate().skip(1) {
            let which = format!(
                "subscriber {} of {SUBSCRIBERS} (single-subscriber publisher)",
                i + 1
            );
            probe
                .await_error(cx.timeout())
                .context(&format!("{which} must be rejected"))?;
            clean(probe).map_err(|e| match e {
                Stop::Fail(reason) => fail(format!("{which}: {reason}")),
                other => other,
            })?;
        }
        probes.truncate(1);
    }
    for probe in probes.iter().rev() {
        probe.request(u64::MAX);
    }
    for (i, probe) in probes.iter().enumerate() {
        let which = format!("subscriber {} of {SUBSCRIBERS}", i + 1);
        if !cx.options.multicast {
            await_all(probe, n, cx.timeout()).map_err(|e| match e {
                Stop::Fail(reason) => fail(format!("{which} (unicast): {reason}")),
                other => other,
            })?;
        }
        probe.await_complete(cx.timeout()).context(&which)?;
        let count = probe.next_count();
        if cx.options.multicast {
            ensure!(count <= n, "{which}: {count} items from a publisher of {n}");
        } else {
            ensure!(
                count == n,
                "{which} (unicast): {count} items from a publisher of {n}"
            );
        }
        clean(probe).map_err(|e| match e {
            Stop::Fail(reason) => fail(format!("{which}: {reason}")),
            other => other,
        })?;
    }
    Ok(())
}

fn spec_2_13<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(3, 2)?;
    let (_publisher, probe) = cx.fresh(n, new().panic_on_item(1))?;
    probe.await_subscribed(cx.timeout())?;
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| probe.request(n))) {
        return Err(fail(format!(
            "the subscriber's panic unwound out of request(): the publisher must catch it, treat \
             the subscriber as cancelled and report the panic ({})",
            panic_text("on_next", p)
        )));
    }
    probe.await_values(1, cx.timeout())?;
    let _ = probe.await_terminal(cx.quiet());
    settle(&probe, cx.quiet(), cx.timeout())?;
    ensure!(
        probe.next_count() == 1,
        "on_next went on after the subscriber panicked: {} items",
        probe.next_count()
    );
    ensure!(
        !probe.is_complete(),
        "on_complete after the subscriber panicked: it must be treated as cancelled (or told on_error)"
    );
    probe
        .await_dropped(cx.timeout())
        .context("the subscriber that panicked was never released")?;
    clean(&probe)
}

fn spec_3_02<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10, 1)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(1).request_after_each(1))?;
    await_all(&probe, n, cx.timeout())?;
    probe
        .await_complete(cx.timeout())
        .context("request(1) from on_subscribe and from each on_next")?;
    ensure!(
        probe.next_count() == n,
        "{} items from a publisher of {n}",
        probe.next_count()
    );
    clean(&probe)
}

fn spec_3_03<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10_000, 2)?;
    // Stop requesting at the first nested call, so a recursive publisher fails here instead of
    // overflowing the stack.
    let builder = new()
        .initial_request(1)
        .keep_values(false)
        .on_each(|probe, _| {
            if probe.max_depth() > 1 {
                probe.cancel()
            } else {
                probe.request(1)
            }
        });
    let (_publisher, probe) = cx.fresh(n, builder)?;
    let delivered = await_all(&probe, n, cx.timeout());
    let depth = probe.max_depth();
    ensure!(
        depth <= 1,
        "on_next ran nested {depth} deep: a request(1) made inside on_next delivered the next item \
         before returning, instead of leaving it to the running drain loop"
    );
    delivered?;
    probe
        .await_complete(cx.timeout())
        .context(&format!("{n} re-entrant request(1)"))?;
    clean(&probe)
}

fn spec_3_05<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    const THREADS: usize = 4;
    let n = cx.elements(10, 2)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(1))?;
    probe.await_values(1, cx.timeout())?;
    let cancellers: Vec<_> = (0..THREADS)
        .map(|_| {
            let probe = probe.clone();
            thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for _ in 0..3 {
                    let start = Instant::now();
                    probe.cancel();
                    slowest = slowest.max(start.elapsed());
                }
                slowest
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for canceller in cancellers {
        let took = canceller
            .join()
            .map_err(|p| fail(panic_text("cancel", p)))?;
        slowest = slowest.max(took);
    }
    probe.cancel();
    // Generous, so a thread descheduled on a loaded machine is not mistaken for a slow cancel; a
    // cancel that blocks for good is caught by the rule's watchdog.
    let prompt = cx.timeout() * 10;
    ensure!(
        slowest < prompt,
        "a cancel took {slowest:?} (over {prompt:?}): it must return promptly"
    );
    clean(&probe)
}

fn spec_3_06<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10, 2)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(1))?;
    probe.await_values(1, cx.timeout())?;
    probe.cancel();
    let seen = probe.signals_seen();
    probe.request(5);
    probe.request(0);
    probe.request(u64::MAX);
    probe
        .expect_no_signal_since(seen, cx.quiet())
        .context("request(5), request(0), request(u64::MAX) after cancel must be no-ops")?;
    clean(&probe)
}

fn spec_3_07<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10, 2)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(1))?;
    probe.await_values(1, cx.timeout())?;
    probe.cancel();
    let seen = probe.signals_seen();
    probe.cancel();
    probe.cancel();
    probe
        .expect_no_signal_since(seen, cx.quiet())
        .context("cancel after cancel must be a no-op")?;
    clean(&probe)
}

fn expect_invalid_demand(error: &Error, case: &str) -> Step {
    ensure!(
        error.kind() == ErrorKind::InvalidDemand,
        "{case}: on_error of kind {:?} ({error}), expected InvalidDemand",
        error.kind()
    );
    ensure!(
        error.to_string().contains("3.9"),
        "{case}: the error message must name rule 3.9: {error:?}"
    );
    Ok(())
}

fn spec_3_09<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    // Before any demand.
    let n = cx.elements(3, 1)?;
    let (_publisher, probe) = cx.fresh(n, new())?;
    probe.await_subscribed(cx.timeout())?;
    probe.request(0);
    let error = probe
        .await_error(cx.timeout())
        .context("request(0) before any demand")?;
    expect_invalid_demand(&error, "request(0) before any demand")?;
    ensure!(
        probe.next_count() == 0,
        "{} items after request(0) alone",
        probe.next_count()
    );
    clean(&probe)?;

    // From inside on_next, with bounded demand left that cannot finish the stream.
    if cx.options.max_elements >= 6 {
        let n = cx.elements(20, 6)?;
        let case = "request(0) inside on_next with 5 requested";
        let builder = new().initial_request(5).on_each(|probe, count| {
            if count == 1 {
                probe.request(0)
            }
        });
        let (_publisher, probe) = cx.fresh(n, builder)?;
        let error = probe.await_error(cx.timeout()).context(case)?;
        expect_invalid_demand(&error, case)?;
        clean(&probe)?;
    }

    // From inside on_next, with unbounded demand: the running drain must not just carry on.
    if cx.options.max_elements >= 2 {
        let n = cx.elements(100, 2)?;
        let case = "request(0) inside on_next with unbounded demand";
        let builder = new()
            .initial_request(u64::MAX)
            .keep_values(false)
            .on_each(|probe, count| {
                if count == 1 {
                    probe.request(0)
                }
            });
        let (_publisher, probe) = cx.fresh(n, builder)?;
        match probe.await_terminal(cx.timeout()).context(case)? {
            Terminal::Error(error) => expect_invalid_demand(&error, case)?,
            // A threaded publisher may have finished before the request(0) reached it.
            Terminal::Complete if cx.options.threaded => {}
            Terminal::Complete => {
                return Err(fail(format!(
                    "{case}: the publisher completed after {} items instead of signalling on_error",
                    probe.next_count()
                )))
            }
        }
        clean(&probe)?;
    }
    Ok(())
}

fn spec_3_12<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(100, 6)?;
    let demand = n / 2;
    // Cancel at item 2, then ask for everything: items already requested may still arrive (rule
    // 1.08), but a publisher that stopped serves nothing beyond them.
    let builder = new()
        .initial_request(demand)
        .cancel_after(2)
        .keep_values(false)
        .on_each(|probe, count| {
            if count == 2 {
                probe.request(u64::MAX)
            }
        });
    let (_publisher, probe) = cx.fresh(n, builder)?;
    probe.await_values(2, cx.timeout())?;
    settle(&probe, cx.quiet(), cx.timeout() * 10).map_err(|e| match e {
        Stop::Fail(reason) => fail(format!("after cancel at item 2 of {n}: {reason}")),
        other => other,
    })?;
    let count = probe.next_count();
    ensure!(
        count <= demand,
        "{count} items arrived with {demand} requested before the cancel at item 2 and \
         request(u64::MAX) after it: the publisher kept serving after cancel"
    );
    clean(&probe)
}

fn spec_3_13<P, F, T>(cx: &Cx<P, F, T>) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10, 2)?;
    let (_publisher, probe) = cx.fresh(n, new().initial_request(1))?;
    probe.await_values(1, cx.timeout())?;
    let liveness = probe.liveness();
    probe.cancel();
    probe
        .await_dropped(cx.timeout())
        .context("after cancel the publisher still holds the subscriber")?;
    ensure!(
        liveness.upgrade().is_none(),
        "the subscriber's liveness token outlived it"
    );
    clean(&probe)?;

    let (_publisher, probe) = cx.fresh(n, new().initial_request(u64::MAX))?;
    probe.await_complete(cx.timeout())?;
    probe.await_dropped(cx.timeout()).context(
        "after on_complete the publisher still holds the subscriber (SEMANTICS 3.13: release it on a terminal signal too)",
    )?;
    clean(&probe)
}

/// How the 3.17 checks reach `u64::MAX` of demand.
#[derive(Clone, Copy)]
enum Saturate {
    /// `request(u64::MAX)` once, in `on_subscribe`.
    Once,
    /// `request(u64::MAX - 1)` twice: the sum passes `u64::MAX`.
    Sum,
    /// Ten requests of `u64::MAX / 10` and the remainder: exactly `u64::MAX` in total.
    Many,
}

impl Saturate {
    fn request<T>(self, probe: &TestProbe<T>) {
        match self {
            Saturate::Once => probe.request(u64::MAX),
            Saturate::Sum => {
                probe.request(u64::MAX - 1);
                probe.request(u64::MAX - 1);
            }
            Saturate::Many => {
                let chunk = u64::MAX / 10;
                for _ in 0..10 {
                    probe.request(chunk);
                }
                probe.request(u64::MAX - 10 * chunk);
            }
        }
    }
}

fn spec_3_17<P, F, T>(cx: &Cx<P, F, T>, how: Saturate) -> Step
where
    F: Fn(u64) -> P,
    P: Publisher<Item = T>,
    T: Send + 'static,
{
    let n = cx.elements(10, 2)?;
    // The accumulating cases request from inside the first on_next, so every request lands on a
    // live subscription before the publisher can finish, whatever its threading.
    let builder = match how {
        Saturate::Once => new().initial_request(u64::MAX),
        _ => new().initial_request(1).on_each(move |probe, count| {
            if count == 1 {
                how.request(probe)
            }
        }),
    };
    let (_publisher, probe) = cx.fresh(n, builder)?;
    await_all(&probe, n, cx.timeout())?;
    probe
        .await_complete(cx.timeout())
        .context("demand saturating at u64::MAX must not be an error")?;
    ensure!(
        probe.next_count() == n,
        "{} items from a publisher of {n}",
        probe.next_count()
    );
    clean(&probe)
}
