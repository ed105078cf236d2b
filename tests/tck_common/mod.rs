//! Shared by the `tck_*` test suites: macros that stamp out one test per rule, and small
//! publishers the suites need.
#![allow(dead_code)]

use std::marker::PhantomData;

use backflow::prelude::*;
use backflow::source::Iter;
use backflow::tck::{Outcome, Report, Rule};

/// Asserts `rule` passed; or, if it is listed in `skipped`, that it was skipped; or, if it is
/// listed in `deviating` (a documented departure of the subject from backflow's contract), that it
/// failed. Prints the whole report otherwise.
#[track_caller]
pub fn expect(report: Report, rule: Rule, skipped: &[Rule], deviating: &[Rule]) {
    let outcome = report.outcome(rule).expect("the rule was run");
    if skipped.contains(&rule) {
        assert!(
            outcome.is_skipped(),
            "{rule} was expected to be skipped\n{report}"
        );
    } else if deviating.contains(&rule) {
        assert!(
            outcome.is_failed(),
            "{rule} was a known deviation, but no longer fails: update the suite\n{report}"
        );
    } else {
        assert_eq!(outcome, &Outcome::Passed, "\n{report}");
    }
}

/// One test per publisher rule for a publisher factory:
/// `publisher_tck!(name, |n| factory(n), options);`, optionally followed by `, skip [Spec1_04, ...]`
/// for rules that cannot apply (asserted to be skipped) and `, deviates [...]` for documented
/// departures from backflow's contract (asserted to fail); every other rule must pass.
#[allow(unused_macros)]
macro_rules! publisher_tck {
    ($name:ident, $factory:expr, $options:expr $(, skip [$($skip:ident),* $(,)?])? $(, deviates [$($deviates:ident),* $(,)?])? $(,)?) => {
        publisher_tck!(@tests $name, $factory, $options, [$($(Rule::$skip),*)?], [$($(Rule::$deviates),*)?], [
            spec_1_01_on_next_never_exceeds_demand => Spec1_01,
            spec_1_02_may_deliver_fewer_then_terminate => Spec1_02,
            spec_1_03_signals_never_overlap => Spec1_03,
            spec_1_04_failing_publisher_signals_on_error => Spec1_04,
            spec_1_05_finite_publisher_completes => Spec1_05,
            spec_1_05_empty_completes_without_request => Spec1_05Empty,
            spec_1_07_nothing_after_terminal => Spec1_07,
            spec_1_09_on_subscribe_first => Spec1_09,
            spec_1_09_rejection_is_on_subscribe_then_on_error => Spec1_09Reject,
            spec_1_11_several_subscribers => Spec1_11,
            spec_2_13_panicking_subscriber_is_cancelled => Spec2_13,
            spec_3_02_request_from_on_subscribe_and_on_next => Spec3_02,
            spec_3_03_reentrant_request_depth_one => Spec3_03,
            spec_3_05_cancel_idempotent_and_thread_safe => Spec3_05,
            spec_3_06_request_after_cancel_is_noop => Spec3_06,
            spec_3_07_cancel_after_cancel_is_noop => Spec3_07,
            spec_3_09_request_zero_signals_invalid_demand => Spec3_09,
            spec_3_12_cancel_stops_the_publisher => Spec3_12,
            spec_3_13_cancel_releases_the_subscriber => Spec3_13,
            spec_3_17_request_max_is_unbounded => Spec3_17,
            spec_3_17_requests_summing_past_max_saturate => Spec3_17Sum,
            spec_3_17_many_requests_accumulate_to_max => Spec3_17Many,
        ]);
    };
    (@tests $name:ident, $factory:expr, $options:expr, $skip:tt, $deviates:tt, [$($test:ident => $rule:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use backflow::tck::{verify_publisher_rule, Report, Rule};

            /// One instance of the verifier per publisher, shared by its tests (compile time).
            fn verify(rule: Rule) -> Report {
                verify_publisher_rule(rule, $factory, ($options).name(stringify!($name)))
            }

            $(
                #[test]
                fn $test() {
                    $crate::tck_common::expect(verify(Rule::$rule), Rule::$rule, &$skip, &$deviates);
                }
            )*

            #[test]
            fn covers_every_publisher_rule() {
                let covered = [$(Rule::$rule),*];
                for rule in Rule::PUBLISHER {
                    assert!(covered.contains(rule), "no test for rule {rule}");
                }
            }
        }
    };
}

/// One test per subscriber rule for a subscriber factory:
/// `subscriber_tck!(name, || make(), options);`, optionally with `, skip [Spec2_08]`.
#[allow(unused_macros)]
macro_rules! subscriber_tck {
    ($name:ident, $factory:expr, $options:expr $(, skip [$($skip:ident),* $(,)?])? $(,)?) => {
        subscriber_tck!(@tests $name, $factory, $options, [$($(Rule::$skip),*)?], [], [
            spec_2_01_requests_before_expecting_items => Spec2_01,
            spec_2_03_terminal_handlers_leave_the_subscription_alone => Spec2_03,
            spec_2_05_second_on_subscribe_is_cancelled => Spec2_05,
            spec_2_08_accepts_on_next_after_own_cancel => Spec2_08,
            spec_2_09_accepts_on_complete_with_or_without_request => Spec2_09,
            spec_2_10_accepts_on_error_with_or_without_request => Spec2_10,
            spec_3_08_requests_add_up => Spec3_08,
        ]);
    };
    (@tests $name:ident, $factory:expr, $options:expr, $skip:tt, $deviates:tt, [$($test:ident => $rule:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use backflow::tck::{verify_subscriber_rule, Report, Rule};

            /// One instance of the verifier per subscriber, shared by its tests (compile time).
            fn verify(rule: Rule) -> Report {
                verify_subscriber_rule(rule, $factory, ($options).name(stringify!($name)))
            }

            $(
                #[test]
                fn $test() {
                    $crate::tck_common::expect(verify(Rule::$rule), Rule::$rule, &$skip, &$deviates);
                }
            )*

            #[test]
            fn covers_every_subscriber_rule() {
                let covered = [$(Rule::$rule),*];
                for rule in Rule::SUBSCRIBER {
                    assert!(covered.contains(rule), "no test for rule {rule}");
                }
            }
        }
    };
}

/// An iterator that panics on its first `next`.
pub struct Boom<T>(PhantomData<fn() -> T>);

impl<T> Clone for Boom<T> {
    fn clone(&self) -> Self {
        Boom(PhantomData)
    }
}

impl<T> Iterator for Boom<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        panic!("tck: a source that cannot start")
    }
}

/// A source that fails at once, before any request: its iterator panics on the first pull, which
/// the source turns into `on_subscribe` + `on_error(Panicked)`.
pub fn failing<T: Send + 'static>() -> Flux<Iter<Boom<T>>> {
    backflow::from_iter(Boom(PhantomData))
}

/// A publisher that hides `try_on_next` from the stage above it: every item reaches that stage
/// through plain `on_next`, so a filter there takes its `request(1)` replenishing path instead of
/// the fused one.
#[derive(Clone)]
pub struct Plain<P>(pub P);

struct PlainSubscriber<S>(S);

impl<P: Publisher> Publisher for Plain<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(PlainSubscriber(subscriber))
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for PlainSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.0.on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item)
    }
    fn try_on_next(&mut self, item: T) -> bool {
        self.0.on_next(item);
        true
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}
