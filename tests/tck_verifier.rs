//! The verifier verified: a correct hand-written publisher and subscriber pass every rule, and each
//! deliberate fault makes the rule it breaks fail (and only where the fault shows).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use backflow::prelude::*;
use backflow::tck::{
    verify_publisher, verify_publisher_rules, verify_subscriber, verify_subscriber_rules, Outcome,
    PublisherOptions, Report, Rule, SubscriberOptions,
};

/// A way to break the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// Sends everything on the first request, whatever was asked (1.01).
    IgnoreDemand,
    /// Finds out it is exhausted only when asked, even when empty (1.05-empty).
    LazyEmpty,
    /// Never signals on_complete (1.02, 1.05).
    NeverComplete,
    /// Signals on_complete twice (1.07).
    CompleteTwice,
    /// Completes an empty run before on_subscribe (1.09).
    CompleteBeforeSubscribe,
    /// Every subscriber after the first gets one item fewer (1.11, claimed unicast).
    LaterSubscribersShort,
    /// Lets a subscriber's panic unwind out of request (2.13).
    LetPanicThrough,
    /// Holds its lock while signalling, so a request from inside on_next deadlocks (3.02, 3.03).
    LockAcrossSignal,
    /// Panics on the second cancel (3.05, 3.07).
    CancelTwicePanics,
    /// A request after cancel resumes the stream (3.06).
    RequestRevives,
    /// Ignores request(0) (3.09).
    IgnoreZero,
    /// Answers request(0) with an error of the wrong kind (3.09).
    WrongZeroError,
    /// Ignores cancel altogether (3.12, 3.13).
    IgnoreCancel,
    /// Stops on cancel but keeps the subscriber (3.13).
    KeepAfterCancel,
    /// Fails when the demand sum overflows `u64` (3.17-sum).
    CheckedSum,
    /// Treats demand above `i64::MAX` as an error, like a JVM `long` (all of 3.17).
    LongDemand,
}

/// Counts `0..n` on demand: the tck module's example publisher, with faults to inject.
struct Faulty {
    n: u64,
    fault: Fault,
    subscriptions: AtomicU64,
}

impl Faulty {
    fn new(n: u64, fault: Fault) -> Self {
        Faulty {
            n,
            fault,
            subscriptions: AtomicU64::new(0),
        }
    }
}

struct State<S> {
    subscriber: Option<S>,
    next: u64,
    end: u64,
    demand: u64,
    emitting: bool,
    failure: Option<Error>,
    done: bool,
    cancels: u64,
}

struct Sub<S> {
    state: Mutex<State<S>>,
    fault: Fault,
}

impl<S: Subscriber<u64>> Sub<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drain(&self) {
        let mut st = self.lock();
        if st.emitting || (st.done && self.fault != Fault::IgnoreCancel) {
            return;
        }
        let Some(mut subscriber) = st.subscriber.take() else {
            return;
        };
        st.emitting = true;
        loop {
            if st.done && self.fault != Fault::IgnoreCancel {
                st.emitting = false;
                if matches!(self.fault, Fault::KeepAfterCancel | Fault::RequestRevives) {
                    st.subscriber = Some(subscriber);
                }
                return;
            }
            if let Some(error) = st.failure.take() {
                st.done = true;
                drop(st);
                subscriber.on_error(error);
                return;
            }
            if st.next == st.end {
                if self.fault == Fault::NeverComplete {
                    st.subscriber = Some(subscriber);
                    st.emitting = false;
                    return;
                }
                st.done = true;
                drop(st);
                subscriber.on_complete();
                if self.fault == Fault::CompleteTwice {
                    subscriber.on_complete();
                }
                return;
            }
            if st.demand == 0 {
                st.subscriber = Some(subscriber);
                st.emitting = false;
                return;
            }
            if st.demand != u64::MAX {
                st.demand -= 1;
            }
            let item = st.next;
            st.next += 1;
            if self.fault == Fault::LockAcrossSignal {
                subscriber.on_next(item);
                continue;
            }
            drop(st);
            if self.fault == Fault::LetPanicThrough {
                subscriber.on_next(item);
            } else if catch_unwind(AssertUnwindSafe(|| subscriber.on_next(item))).is_err() {
                self.lock().done = true;
                return;
            }
            st = self.lock();
        }
    }
}

impl<S: Subscriber<u64>> Subscription for Sub<S> {
    fn request(&self, n: u64) {
        {
            let mut st = self.lock();
            if st.done {
                match self.fault {
                    Fault::IgnoreCancel => {}
                    Fault::RequestRevives if st.next < st.end => st.done = false,
                    _ => return,
                }
            }
            if n == 0 {
                match self.fault {
                    Fault::IgnoreZero => {}
                    Fault::WrongZeroError => st.failure = Some(Error::msg("bad request")),
                    _ => st.failure = Some(Error::invalid_demand()),
                }
            } else if self.fault == Fault::IgnoreDemand {
                st.demand = u64::MAX;
            } else if self.fault == Fault::CheckedSum {
                match st.demand.checked_add(n) {
                    Some(demand) => st.demand = demand,
                    None => st.failure = Some(Error::msg("demand overflow")),
                }
            } else {
                st.demand = st.demand.saturating_add(n);
                if self.fault == Fault::LongDemand && st.demand > i64::MAX as u64 {
                    st.failure = Some(Error::msg("demand above Long.MAX_VALUE"));
                }
            }
        }
        self.drain();
    }

    fn cancel(&self) {
        let released = {
            let mut st = self.lock();
            st.cancels += 1;
            if self.fault == Fault::CancelTwicePanics && st.cancels == 2 {
                panic!("cancelled twice");
            }
            if self.fault == Fault::IgnoreCancel {
                return;
            }
            st.done = true;
            match self.fault {
                Fault::KeepAfterCancel | Fault::RequestRevives => None,
                _ => st.subscriber.take(),
            }
        };
        drop(released);
    }
}

impl Publisher for Faulty {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let earlier = self.subscriptions.fetch_add(1, Ordering::SeqCst);
        let mut end = self.n;
        if self.fault == Fault::LaterSubscribersShort && earlier > 0 {
            end = end.saturating_sub(1);
        }
        if self.fault == Fault::CompleteBeforeSubscribe && end == 0 {
            subscriber.on_complete();
        }
        let subscription = Arc::new(Sub {
            state: Mutex::new(State {
                subscriber: None,
                next: 0,
                end,
                demand: 0,
                emitting: true,
                failure: None,
                done: false,
                cancels: 0,
            }),
            fault: self.fault,
        });
        subscriber.on_subscribe(subscription.clone());
        {
            let mut st = subscription.lock();
            st.subscriber = Some(subscriber);
            st.emitting = false;
        }
        if !(self.fault == Fault::LazyEmpty && end == 0) {
            subscription.drain();
        }
    }
}

/// A publisher that rejects every subscriber: on_subscribe, then on_error at once, or (`late`)
/// only once something is requested.
struct Rejecting {
    late: bool,
}

impl Publisher for Rejecting {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let failure = Some(Error::msg("tck: cannot start"));
        let subscription = Arc::new(Sub {
            state: Mutex::new(State {
                subscriber: None,
                next: 0,
                end: u64::MAX,
                demand: 0,
                emitting: true,
                failure,
                done: false,
                cancels: 0,
            }),
            fault: Fault::None,
        });
        subscriber.on_subscribe(subscription.clone());
        {
            let mut st = subscription.lock();
            st.subscriber = Some(subscriber);
            st.emitting = false;
        }
        let requested = subscription.lock().demand > 0;
        if !self.late || requested {
            subscription.drain();
        }
    }
}

fn options() -> PublisherOptions<u64> {
    PublisherOptions::default()
        .threaded(false)
        .failing_factory(|| Rejecting { late: false })
}

fn check(fault: Fault, rules: &[Rule]) -> Report {
    verify_publisher_rules(rules, move |n| Faulty::new(n, fault), options())
}

/// Asserts each of `rules` fails under `fault`, with a reason containing `why`.
#[track_caller]
fn fails(fault: Fault, rules: &[Rule], why: &str) {
    let report = check(fault, rules);
    for (rule, outcome) in report.outcomes() {
        match outcome {
            Outcome::Failed(reason) => assert!(
                reason.contains(why),
                "{fault:?}: {rule} failed, but not for {why:?}\n{report}"
            ),
            other => panic!("{fault:?}: {rule} should fail, got {other:?}\n{report}"),
        }
    }
}

#[test]
fn correct_publisher_passes_every_rule() {
    let report = verify_publisher(|n| Faulty::new(n, Fault::None), options().name("Faulty"));
    report.assert_all_passed();
    assert!(
        report.outcomes().iter().all(|(_, o)| o.is_passed()),
        "nothing may be skipped here\n{report}"
    );
    assert_eq!(report.outcomes().len(), Rule::PUBLISHER.len());
    let table = report.to_string();
    assert!(
        table.contains("22 rules: 22 passed, 0 failed, 0 skipped"),
        "{table}"
    );
}

#[test]
fn ignoring_demand_fails_1_01() {
    fails(Fault::IgnoreDemand, &[Rule::Spec1_01], "[1.01]");
}

#[test]
fn never_completing_fails_1_02_and_1_05() {
    fails(
        Fault::NeverComplete,
        &[Rule::Spec1_02, Rule::Spec1_05],
        "timed out",
    );
}

#[test]
fn lazy_empty_fails_1_05_empty_only() {
    fails(
        Fault::LazyEmpty,
        &[Rule::Spec1_05Empty],
        "without waiting for a request",
    );
    check(Fault::LazyEmpty, &[Rule::Spec1_05]).assert_all_passed();
}

#[test]
fn completing_twice_fails_1_07() {
    fails(Fault::CompleteTwice, &[Rule::Spec1_07], "[1.07]");
}

#[test]
fn signalling_before_on_subscribe_fails_1_09() {
    fails(Fault::CompleteBeforeSubscribe, &[Rule::Spec1_09], "[1.09]");
}

#[test]
fn rejecting_only_after_a_request_fails_1_09_reject_but_not_1_04() {
    let late = || {
        PublisherOptions::default()
            .threaded(false)
            .failing_factory(|| Rejecting { late: true })
    };
    let report = verify_publisher_rules(
        &[Rule::Spec1_04, Rule::Spec1_09Reject],
        |n| Faulty::new(n, Fault::None),
        late(),
    );
    assert!(report.rule("1.04").unwrap().is_passed(), "{report}");
    assert!(report.rule("1.09-reject").unwrap().is_failed(), "{report}");
}

#[test]
fn a_failing_publisher_that_needs_demand_can_be_declared() {
    let report = verify_publisher_rules(
        &[Rule::Spec1_04, Rule::Spec1_07, Rule::Spec1_09Reject],
        |n| Faulty::new(n, Fault::None),
        PublisherOptions::default()
            .threaded(false)
            .failing_factory(|| Rejecting { late: true })
            .failing_needs_demand(true),
    );
    assert!(report.rule("1.04").unwrap().is_passed(), "{report}");
    assert!(report.rule("1.07").unwrap().is_passed(), "{report}");
    assert!(report.rule("1.09-reject").unwrap().is_skipped(), "{report}");
}

#[test]
fn single_subscriber_publishers_must_reject_the_others() {
    let single = |n: u64| backflow::from_stream(futures::stream::iter(0..n));
    let strict = verify_publisher_rules(
        &[Rule::Spec1_11],
        single,
        PublisherOptions::default().threaded(false),
    );
    assert!(strict.rule("1.11").unwrap().is_failed(), "{strict}");
    let declared = verify_publisher_rules(
        &[Rule::Spec1_11],
        single,
        PublisherOptions::default()
            .threaded(false)
            .single_subscriber(true),
    );
    declared.assert_all_passed();
    // A publisher that claims to take one subscriber but serves them all breaks the claim.
    let report = verify_publisher_rules(
        &[Rule::Spec1_11],
        |n| Faulty::new(n, Fault::None),
        options().single_subscriber(true),
    );
    assert!(report.rule("1.11").unwrap().is_failed(), "{report}");
}

#[test]
fn without_a_failing_factory_the_error_rules_are_skipped() {
    let report = verify_publisher_rules(
        &[Rule::Spec1_04, Rule::Spec1_09Reject],
        |n| Faulty::new(n, Fault::None),
        PublisherOptions::default().threaded(false),
    );
    for (_, outcome) in report.outcomes() {
        assert_eq!(
            outcome,
            &Outcome::Skipped("no failing_factory in the options".into())
        );
    }
    report.assert_all_passed();
}

#[test]
fn short_later_runs_fail_1_11() {
    fails(Fault::LaterSubscribersShort, &[Rule::Spec1_11], "unicast");
}

#[test]
fn multicast_relaxes_1_11_to_correct_runs() {
    let report = verify_publisher_rules(
        &[Rule::Spec1_11],
        |n| Faulty::new(n, Fault::LaterSubscribersShort),
        options().multicast(true),
    );
    report.assert_all_passed();
}

#[test]
fn letting_a_subscriber_panic_through_fails_2_13() {
    fails(
        Fault::LetPanicThrough,
        &[Rule::Spec2_13],
        "unwound out of request",
    );
}

#[test]
fn holding_a_lock_across_on_next_fails_3_02_and_3_03_without_hanging() {
    let report = verify_publisher_rules(
        &[Rule::Spec3_02, Rule::Spec3_03],
        |n| Faulty::new(n, Fault::LockAcrossSignal),
        options().rule_budget(Duration::from_millis(300)),
    );
    for (rule, outcome) in report.outcomes() {
        assert!(
            matches!(outcome, Outcome::Failed(reason) if reason.contains("did not finish")),
            "{rule}\n{report}"
        );
    }
}

#[test]
fn panicking_on_a_second_cancel_fails_3_05_and_3_07() {
    fails(
        Fault::CancelTwicePanics,
        &[Rule::Spec3_05, Rule::Spec3_07],
        "cancelled twice",
    );
}

#[test]
fn resuming_after_cancel_fails_3_06() {
    fails(Fault::RequestRevives, &[Rule::Spec3_06], "no-ops");
}

#[test]
fn ignoring_request_zero_fails_3_09() {
    fails(Fault::IgnoreZero, &[Rule::Spec3_09], "request(0)");
}

#[test]
fn the_wrong_error_for_request_zero_fails_3_09() {
    fails(
        Fault::WrongZeroError,
        &[Rule::Spec3_09],
        "expected InvalidDemand",
    );
}

#[test]
fn ignoring_cancel_fails_3_12_and_3_13() {
    fails(
        Fault::IgnoreCancel,
        &[Rule::Spec3_12],
        "kept serving after cancel",
    );
    fails(
        Fault::IgnoreCancel,
        &[Rule::Spec3_13],
        "still holds the subscriber",
    );
}

#[test]
fn keeping_the_subscriber_after_cancel_fails_3_13_only() {
    fails(
        Fault::KeepAfterCancel,
        &[Rule::Spec3_13],
        "still holds the subscriber",
    );
    check(Fault::KeepAfterCancel, &[Rule::Spec3_12, Rule::Spec3_06]).assert_all_passed();
}

#[test]
fn overflowing_demand_sum_fails_3_17_sum_only() {
    fails(Fault::CheckedSum, &[Rule::Spec3_17Sum], "u64::MAX");
    check(Fault::CheckedSum, &[Rule::Spec3_17, Rule::Spec3_17Many]).assert_all_passed();
}

#[test]
fn long_sized_demand_fails_every_3_17_case() {
    fails(
        Fault::LongDemand,
        &[Rule::Spec3_17, Rule::Spec3_17Sum, Rule::Spec3_17Many],
        "Long.MAX_VALUE",
    );
}

#[test]
fn a_panicking_factory_fails_instead_of_aborting_the_report() {
    let report = verify_publisher_rules(
        &[Rule::Spec1_01, Rule::Spec1_02],
        |n: u64| -> Faulty { panic!("factory({n}) broke") },
        options(),
    );
    assert_eq!(report.failures().count(), 2, "{report}");
    assert!(report.to_string().contains("factory(4) broke"), "{report}");
}

#[test]
fn report_lookup_and_table() {
    let report = check(Fault::IgnoreDemand, &[Rule::Spec1_01, Rule::Spec1_02]);
    assert!(report.rule("1.01").unwrap().is_failed());
    assert!(
        report.outcome(Rule::Spec1_02).unwrap().is_failed()
            || report.rule("1.02").unwrap().is_passed()
    );
    assert!(report.rule("3.09").is_none());
    assert!(!report.all_passed());
    let table = report.to_string();
    assert!(
        table.starts_with("backflow tck: publisher `publisher` (2 rules:"),
        "{table}"
    );
    assert!(
        table.contains("1.01         FAILED   on_next never exceeds the demand requested"),
        "{table}"
    );
    let panic = catch_unwind(|| report.assert_all_passed()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("broke"), "{message}");
    assert!(message.contains("1.01"), "{message}");
}

#[test]
fn rules_are_named_by_their_ids() {
    for rule in Rule::PUBLISHER.iter().chain(Rule::SUBSCRIBER) {
        assert_eq!(Rule::from_id(rule.id()), Some(*rule));
        assert_eq!(rule.to_string(), rule.id());
    }
    let report = verify_publisher_rules(
        &[Rule::Spec2_01],
        |n| Faulty::new(n, Fault::None),
        options(),
    );
    assert!(report.rule("2.01").unwrap().is_skipped());
}

/// Runs a publisher on a worker thread of its own: `subscribe` and every `request` are sent to the
/// worker, so every signal arrives there, after the caller's call returned. `cancel` goes straight
/// to the real subscription (it is thread-safe), so it takes effect while the worker drains.
struct OnWorker<P>(Arc<P>);

type Slot = Arc<Mutex<Option<SharedSubscription>>>;

struct Forward {
    requests: Mutex<mpsc::Sender<u64>>,
    real: Slot,
}

impl Subscription for Forward {
    fn request(&self, n: u64) {
        let _ = self.requests.lock().unwrap().send(n);
    }
    fn cancel(&self) {
        let real = self.real.lock().unwrap().clone();
        if let Some(real) = real {
            real.cancel();
        }
    }
}

/// Hands the subscriber the forwarding subscription, and keeps the real one for the worker.
struct Relay<S> {
    downstream: S,
    forward: SharedSubscription,
    real: Slot,
}

impl<S: Subscriber<u64>> Subscriber<u64> for Relay<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        *self.real.lock().unwrap() = Some(subscription);
        self.downstream.on_subscribe(self.forward.clone())
    }
    fn on_next(&mut self, item: u64) {
        self.downstream.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }
    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}

impl<P: Publisher<Item = u64> + Send + Sync + 'static> Publisher for OnWorker<P> {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let (requests, inbox) = mpsc::channel();
        let real: Slot = Arc::new(Mutex::new(None));
        let forward: SharedSubscription = Arc::new(Forward {
            requests: Mutex::new(requests),
            real: real.clone(),
        });
        let inner = self.0.clone();
        std::thread::spawn(move || {
            inner.subscribe(Relay {
                downstream: subscriber,
                forward,
                real: real.clone(),
            });
            // Ends when every handle on the forwarding subscription is gone.
            for n in inbox {
                let real = real.lock().unwrap().clone();
                if let Some(real) = real {
                    real.request(n);
                }
            }
        });
    }
}

#[test]
fn threaded_publisher_passes_every_rule() {
    let report = verify_publisher(
        |n| OnWorker(Arc::new(Faulty::new(n, Fault::None))),
        PublisherOptions::default()
            .name("OnWorker")
            .timeout(Duration::from_millis(50).max(backflow::tck::default_timeout()))
            .failing_factory(|| OnWorker(Arc::new(Rejecting { late: false }))),
    );
    report.assert_all_passed();
    assert_eq!(report.failures().count(), 0);
    assert!(
        report.outcomes().iter().all(|(_, o)| o.is_passed()),
        "nothing may be skipped here\n{report}"
    );
}

#[test]
fn threaded_publisher_that_ignores_cancel_fails_3_12() {
    let report = verify_publisher_rules(
        &[Rule::Spec3_12, Rule::Spec3_13],
        |n| OnWorker(Arc::new(Faulty::new(n, Fault::IgnoreCancel))),
        // The fault shows only once the worker runs after the cancel: give it the verifier's
        // default wait (raised on slow machines), not a fixed 50 ms a loaded machine can miss.
        PublisherOptions::default()
            .timeout(Duration::from_millis(50).max(backflow::tck::default_timeout())),
    );
    assert_eq!(report.failures().count(), 2, "{report}");
}

// ---- subscribers ----

/// A way for a subscriber to break its rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// Never requests (2.01).
    NeverRequests,
    /// Requests from inside on_complete / on_error (2.03).
    RequestsWhenDone,
    /// Takes a second subscription instead of cancelling it (2.05).
    KeepsSecondSubscription,
    /// Panics on an item after its own cancel (2.08).
    PanicsAfterCancel,
    /// Panics on on_complete without having received an item (2.09).
    PanicsOnEarlyComplete,
    /// Panics in on_error (2.10).
    PanicsOnError,
    /// Asks 4, then 4 more, but panics past its first request (3.08).
    CountsOnlyTheFirstRequest,
    /// Requests 0 once (a rule 3.09 breach on the subscriber side).
    RequestsZero,
}

/// Requests 4 at a time; cancels after 6 items.
struct Sink {
    flaw: Flaw,
    subscription: Option<SharedSubscription>,
    received: u64,
    cancelled: bool,
}

fn sink(flaw: Flaw) -> Sink {
    Sink {
        flaw,
        subscription: None,
        received: 0,
        cancelled: false,
    }
}

impl Subscriber<u64> for Sink {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.subscription.is_some() && self.flaw != Flaw::KeepsSecondSubscription {
            subscription.cancel();
            return;
        }
        if self.flaw == Flaw::RequestsZero {
            subscription.request(0);
        }
        if self.flaw != Flaw::NeverRequests {
            subscription.request(4);
        }
        self.subscription = Some(subscription);
    }

    fn on_next(&mut self, _item: u64) {
        if self.cancelled && self.flaw == Flaw::PanicsAfterCancel {
            panic!("an item after cancel");
        }
        self.received += 1;
        if self.flaw == Flaw::CountsOnlyTheFirstRequest && self.received > 4 {
            panic!("more than the first request");
        }
        let subscription = self.subscription.as_ref().unwrap();
        if self.received == 6 {
            self.cancelled = true;
            subscription.cancel();
        } else if self.received % 4 == 0 && !self.cancelled {
            subscription.request(4);
        }
    }

    fn on_error(&mut self, _error: Error) {
        if self.flaw == Flaw::PanicsOnError {
            panic!("on_error");
        }
        if self.flaw == Flaw::RequestsWhenDone {
            self.subscription.as_ref().unwrap().request(1);
        }
    }

    fn on_complete(&mut self) {
        if self.flaw == Flaw::PanicsOnEarlyComplete && self.received == 0 {
            panic!("on_complete before any item");
        }
        if self.flaw == Flaw::RequestsWhenDone {
            self.subscription.as_ref().unwrap().cancel();
        }
    }
}

fn items() -> SubscriberOptions<u64> {
    SubscriberOptions::new(|n| n).name("Sink")
}

#[track_caller]
fn sink_fails(flaw: Flaw, rules: &[Rule], why: &str) {
    let report = verify_subscriber_rules(rules, move || sink(flaw), items());
    for (rule, outcome) in report.outcomes() {
        match outcome {
            Outcome::Failed(reason) => assert!(
                reason.contains(why),
                "{flaw:?}: {rule} failed, but not for {why:?}\n{report}"
            ),
            other => panic!("{flaw:?}: {rule} should fail, got {other:?}\n{report}"),
        }
    }
}

#[test]
fn correct_subscriber_passes_every_rule() {
    let report = verify_subscriber(|| sink(Flaw::None), items());
    report.assert_all_passed();
    assert!(
        report.outcomes().iter().all(|(_, o)| o.is_passed()),
        "nothing may be skipped here\n{report}"
    );
}

#[test]
fn never_requesting_fails_2_01() {
    sink_fails(Flaw::NeverRequests, &[Rule::Spec2_01], "no request(n)");
}

#[test]
fn requesting_from_terminal_handlers_fails_2_03() {
    sink_fails(Flaw::RequestsWhenDone, &[Rule::Spec2_03], "[2.03]");
}

#[test]
fn keeping_a_second_subscription_fails_2_05() {
    sink_fails(
        Flaw::KeepsSecondSubscription,
        &[Rule::Spec2_05],
        "cancelling that subscription",
    );
}

#[test]
fn panicking_on_an_item_in_flight_fails_2_08() {
    sink_fails(
        Flaw::PanicsAfterCancel,
        &[Rule::Spec2_08],
        "after the subscriber's own cancel",
    );
}

#[test]
fn panicking_on_an_early_complete_fails_2_09() {
    sink_fails(
        Flaw::PanicsOnEarlyComplete,
        &[Rule::Spec2_09],
        "right after on_subscribe",
    );
}

#[test]
fn panicking_in_on_error_fails_2_10() {
    sink_fails(Flaw::PanicsOnError, &[Rule::Spec2_10], "on_error panicked");
}

#[test]
fn not_adding_up_requests_fails_3_08() {
    sink_fails(
        Flaw::CountsOnlyTheFirstRequest,
        &[Rule::Spec3_08],
        "more than the first request",
    );
}

#[test]
fn requesting_zero_fails_every_subscriber_rule_it_reaches() {
    sink_fails(
        Flaw::RequestsZero,
        &[Rule::Spec2_01, Rule::Spec2_09],
        "[3.09]",
    );
}

#[test]
fn a_subscriber_that_never_cancels_skips_2_08() {
    let report = verify_subscriber_rules(
        &[Rule::Spec2_08],
        || TestSubscriber::<u64>::new(u64::MAX).0,
        items(),
    );
    assert!(report.rule("2.08").unwrap().is_skipped(), "{report}");
}
