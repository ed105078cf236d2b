//! [`Rule`]: the Reactive Streams rules the verifier checks, named by their spec numbers.

use std::fmt;

/// One check of the verifier, named after the Reactive Streams 1.0.4 rule it verifies.
///
/// [`id`](Rule::id) is the spec number (`"1.01"`); a rule checked in several distinct situations
/// has one entry per situation with a suffix (`"3.17-sum"`), so each can be its own test.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// 1.01: the number of `on_next` never exceeds the total demand requested.
    Spec1_01,
    /// 1.02: a publisher may deliver fewer items than requested and then terminate.
    Spec1_02,
    /// 1.03: signals never overlap, even when several threads request at once.
    Spec1_03,
    /// 1.04: a failing publisher signals `on_error` (needs a failing factory).
    Spec1_04,
    /// 1.05: a finite publisher signals `on_complete` after its items.
    Spec1_05,
    /// 1.05: an empty publisher completes without any request.
    Spec1_05Empty,
    /// 1.07: nothing follows a terminal signal, even if the subscriber requests or cancels.
    Spec1_07,
    /// 1.09: `subscribe` returns normally and `on_subscribe` is the first signal.
    Spec1_09,
    /// 1.09: rejecting a subscriber is `on_subscribe` then `on_error`, with no request needed
    /// (needs a failing factory).
    Spec1_09Reject,
    /// 1.11: several subscribers each get a correct run.
    Spec1_11,
    /// 2.13: a subscriber that panics in `on_next` is treated as cancelled; the panic does not
    /// unwind into the caller of `request`.
    Spec2_13,
    /// 3.02: `request` may be called synchronously from `on_subscribe` and `on_next`.
    Spec3_02,
    /// 3.03: re-entrant `request` from `on_next` never nests `on_next` (recursion depth 1).
    Spec3_03,
    /// 3.05: `cancel` returns promptly, is idempotent and thread-safe.
    Spec3_05,
    /// 3.06: after `cancel`, `request` is a no-op.
    Spec3_06,
    /// 3.07: after `cancel`, `cancel` is a no-op.
    Spec3_07,
    /// 3.09: `request(0)` signals `on_error` of kind `InvalidDemand` whose message names rule 3.9.
    Spec3_09,
    /// 3.12: `cancel` makes the publisher stop signalling.
    Spec3_12,
    /// 3.13: `cancel` (and a terminal signal) makes the publisher drop the subscriber.
    Spec3_13,
    /// 3.17: a single `request(u64::MAX)` is unbounded demand, not an error.
    Spec3_17,
    /// 3.17: two requests whose sum passes `u64::MAX` saturate, without error.
    Spec3_17Sum,
    /// 3.17: many requests accumulating to exactly `u64::MAX`, without error.
    Spec3_17Many,
    /// 2.01: the subscriber requests before it expects items.
    Spec2_01,
    /// 2.03: `on_complete` and `on_error` do not call back into the subscription.
    Spec2_03,
    /// 2.05: a second `on_subscribe` is answered by cancelling that second subscription.
    Spec2_05,
    /// 2.08: the subscriber accepts `on_next` after its own `cancel` (items in flight).
    Spec2_08,
    /// 2.09: the subscriber accepts `on_complete` with or without a prior request.
    Spec2_09,
    /// 2.10: the subscriber accepts `on_error` with or without a prior request.
    Spec2_10,
    /// 3.08: the subscriber's successive requests add up, and it takes everything it asked for.
    Spec3_08,
}

impl Rule {
    /// Every rule [`verify_publisher`](super::verify_publisher) checks, in report order.
    pub const PUBLISHER: &'static [Rule] = &[
        Rule::Spec1_01,
        Rule::Spec1_02,
        Rule::Spec1_03,
        Rule::Spec1_04,
        Rule::Spec1_05,
        Rule::Spec1_05Empty,
        Rule::Spec1_07,
        Rule::Spec1_09,
        Rule::Spec1_09Reject,
        Rule::Spec1_11,
        Rule::Spec2_13,
        Rule::Spec3_02,
        Rule::Spec3_03,
        Rule::Spec3_05,
        Rule::Spec3_06,
        Rule::Spec3_07,
        Rule::Spec3_09,
        Rule::Spec3_12,
        Rule::Spec3_13,
        Rule::Spec3_17,
        Rule::Spec3_17Sum,
        Rule::Spec3_17Many,
    ];

    /// Every rule [`verify_subscriber`](super::verify_subscriber) checks, in report order.
    pub const SUBSCRIBER: &'static [Rule] = &[
        Rule::Spec2_01,
        Rule::Spec2_03,
        Rule::Spec2_05,
        Rule::Spec2_08,
        Rule::Spec2_09,
        Rule::Spec2_10,
        Rule::Spec3_08,
    ];

    /// The spec number, with a suffix for a rule checked in several situations: `"1.01"`,
    /// `"1.05-empty"`, `"1.09-reject"`, `"3.17-sum"`, `"3.17-many"`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Spec1_01 => "1.01",
            Rule::Spec1_02 => "1.02",
            Rule::Spec1_03 => "1.03",
            Rule::Spec1_04 => "1.04",
            Rule::Spec1_05 => "1.05",
            Rule::Spec1_05Empty => "1.05-empty",
            Rule::Spec1_07 => "1.07",
            Rule::Spec1_09 => "1.09",
            Rule::Spec1_09Reject => "1.09-reject",
            Rule::Spec1_11 => "1.11",
            Rule::Spec2_13 => "2.13",
            Rule::Spec3_02 => "3.02",
            Rule::Spec3_03 => "3.03",
            Rule::Spec3_05 => "3.05",
            Rule::Spec3_06 => "3.06",
            Rule::Spec3_07 => "3.07",
            Rule::Spec3_09 => "3.09",
            Rule::Spec3_12 => "3.12",
            Rule::Spec3_13 => "3.13",
            Rule::Spec3_17 => "3.17",
            Rule::Spec3_17Sum => "3.17-sum",
            Rule::Spec3_17Many => "3.17-many",
            Rule::Spec2_01 => "2.01",
            Rule::Spec2_03 => "2.03",
            Rule::Spec2_05 => "2.05",
            Rule::Spec2_08 => "2.08",
            Rule::Spec2_09 => "2.09",
            Rule::Spec2_10 => "2.10",
            Rule::Spec3_08 => "3.08",
        }
    }

    /// What the rule requires, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Rule::Spec1_01 => "on_next never exceeds the demand requested",
            Rule::Spec1_02 => "may deliver fewer than requested, then terminate",
            Rule::Spec1_03 => "signals never overlap, with requests from several threads",
            Rule::Spec1_04 => "a failing publisher signals on_error",
            Rule::Spec1_05 => "a finite publisher signals on_complete",
            Rule::Spec1_05Empty => "an empty publisher completes without any request",
            Rule::Spec1_07 => "nothing follows a terminal signal",
            Rule::Spec1_09 => "subscribe returns normally, on_subscribe comes first",
            Rule::Spec1_09Reject => "rejection is on_subscribe then on_error, no request needed",
            Rule::Spec1_11 => "several subscribers each get a correct run",
            Rule::Spec2_13 => "a panicking subscriber is treated as cancelled",
            Rule::Spec3_02 => "request may be called from on_subscribe and on_next",
            Rule::Spec3_03 => "re-entrant request never nests on_next (depth 1)",
            Rule::Spec3_05 => "cancel is prompt, idempotent and thread-safe",
            Rule::Spec3_06 => "request after cancel is a no-op",
            Rule::Spec3_07 => "cancel after cancel is a no-op",
            Rule::Spec3_09 => "request(0) signals on_error(InvalidDemand) naming rule 3.9",
            Rule::Spec3_12 => "cancel makes the publisher stop signalling",
            Rule::Spec3_13 => "cancel makes the publisher drop the subscriber",
            Rule::Spec3_17 => "request(u64::MAX) is unbounded demand, not an error",
            Rule::Spec3_17Sum => "requests summing past u64::MAX saturate, no error",
            Rule::Spec3_17Many => "many requests accumulating to u64::MAX, no error",
            Rule::Spec2_01 => "requests before it expects items",
            Rule::Spec2_03 => "terminal handlers do not call the subscription",
            Rule::Spec2_05 => "a second on_subscribe is cancelled",
            Rule::Spec2_08 => "accepts on_next after its own cancel",
            Rule::Spec2_09 => "accepts on_complete with or without a prior request",
            Rule::Spec2_10 => "accepts on_error with or without a prior request",
            Rule::Spec3_08 => "its requests add up",
        }
    }

    /// The rule with this [`id`](Rule::id), if any.
    ///
    /// ```
    /// use backflow::tck::Rule;
    /// assert_eq!(Rule::from_id("3.17-sum"), Some(Rule::Spec3_17Sum));
    /// assert_eq!(Rule::from_id("9.99"), None);
    /// ```
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::PUBLISHER
            .iter()
            .chain(Rule::SUBSCRIBER)
            .copied()
            .find(|rule| rule.id() == id)
    }

    /// Whether [`verify_publisher`](super::verify_publisher) checks this rule (otherwise
    /// [`verify_subscriber`](super::verify_subscriber) does).
    pub fn is_publisher_rule(self) -> bool {
        Rule::PUBLISHER.contains(&self)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
