//! The reusable Reactive Streams conformance verifier (feature `tck`): the Rust counterpart of the
//! Reactive Streams TCK, for the crate's own stages and for yours.
//!
//! - [`verify_publisher`] checks a [`Publisher`](crate::Publisher) against the publisher and
//!   subscription rules ([`Rule::PUBLISHER`]), driving it with [`TestSubscriber`](crate::TestSubscriber)s.
//! - [`verify_subscriber`] checks a [`Subscriber`](crate::Subscriber) against the subscriber rules
//!   ([`Rule::SUBSCRIBER`]), playing a scripted publisher that records every request and cancel.
//! - Both return a [`Report`]: one [`Outcome`] per rule (passed, failed with the reason, or
//!   skipped with the reason). `Display` prints it as a table; [`Report::assert_all_passed`]
//!   makes it a test. [`verify_publisher_rule`] / [`verify_subscriber_rule`] check a single rule,
//!   so a test suite can have one test per rule.
//!
//! # Verifying a publisher
//!
//! The verifier needs a factory: `factory(n)` makes a fresh publisher of exactly `n` items that then
//! completes. Here it checks a hand-written publisher, which trampolines re-entrant requests with
//! an `emitting` flag and releases its subscriber on cancel and on completion:
//!
//! ```
//! use std::panic::{catch_unwind, AssertUnwindSafe};
//! use std::sync::{Arc, Mutex};
//! use backflow::prelude::*;
//! use backflow::tck::{verify_publisher, PublisherOptions};
//!
//! /// Counts `0..n`, on demand.
//! struct Count(u64);
//!
//! struct State<S> {
//!     subscriber: Option<S>, // None while a drain holds it, and once released
//!     next: u64,
//!     end: u64,
//!     demand: u64,
//!     emitting: bool,
//!     invalid: bool, // request(0) seen (rule 3.9)
//!     done: bool,    // cancelled or terminated
//! }
//!
//! struct CountSubscription<S>(Mutex<State<S>>);
//!
//! impl<S: Subscriber<u64>> CountSubscription<S> {
//!     /// Whoever finds `emitting` false drains; a call made meanwhile (a request from inside
//!     /// on_next, or from another thread) only updates the state, which the drain then sees.
//!     fn drain(&self) {
//!         let mut st = self.0.lock().unwrap();
//!         if st.emitting || st.done { return; }
//!         let Some(mut subscriber) = st.subscriber.take() else { return };
//!         st.emitting = true;
//!         loop {
//!             if st.done {
//!                 return; // cancelled meanwhile: `subscriber` is dropped here (rule 3.13)
//!             }
//!             if st.invalid || st.next == st.end {
//!                 st.done = true;
//!                 let invalid = st.invalid;
//!                 drop(st); // never hold the lock across a signal
//!                 if invalid { subscriber.on_error(Error::invalid_demand()) } else { subscriber.on_complete() }
//!                 return;
//!             }
//!             if st.demand == 0 {
//!                 st.subscriber = Some(subscriber);
//!                 st.emitting = false;
//!                 return;
//!             }
//!             if st.demand != u64::MAX { st.demand -= 1; }
//!             let item = st.next;
//!             st.next += 1;
//!             drop(st);
//!             if catch_unwind(AssertUnwindSafe(|| subscriber.on_next(item))).is_err() {
//!                 // Rule 2.13: a subscriber that panics counts as cancelled.
//!                 self.0.lock().unwrap().done = true;
//!                 return;
//!             }
//!             st = self.0.lock().unwrap();
//!         }
//!     }
//! }
//!
//! impl<S: Subscriber<u64>> Subscription for CountSubscription<S> {
//!     fn request(&self, n: u64) {
//!         {
//!             let mut st = self.0.lock().unwrap();
//!             if st.done { return; } // rule 3.06
//!             if n == 0 { st.invalid = true } else { st.demand = st.demand.saturating_add(n) }
//!         }
//!         self.drain();
//!     }
//!     fn cancel(&self) {
//!         let released = {
//!             let mut st = self.0.lock().unwrap();
//!             st.done = true;
//!             st.subscriber.take()
//!         };
//!         drop(released); // outside the lock: dropping user code may call back
//!     }
//! }
//!
//! impl Publisher for Count {
//!     type Item = u64;
//!     fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
//!         let subscription = Arc::new(CountSubscription(Mutex::new(State {
//!             subscriber: None, next: 0, end: self.0, demand: 0,
//!             emitting: true, // requests made inside on_subscribe are only recorded (rule 1.03)
//!             invalid: false, done: false,
//!         })));
//!         subscriber.on_subscribe(subscription.clone());
//!         {
//!             let mut st = subscription.0.lock().unwrap();
//!             st.subscriber = Some(subscriber);
//!             st.emitting = false;
//!         }
//!         subscription.drain(); // serves requests made in on_subscribe; an empty run completes
//!     }
//! }
//!
//! let report = verify_publisher(
//!     Count,
//!     PublisherOptions::default().name("Count").threaded(false),
//! );
//! println!("{report}");
//! report.assert_all_passed();
//! assert!(report.rule("3.03").unwrap().is_passed());
//! assert!(report.rule("1.04").unwrap().is_skipped()); // no failing_factory given
//! ```
//!
//! # Options and time
//!
//! [`PublisherOptions`] say what the factory can make (`min_elements` / `max_elements`: rules that
//! need other sizes are skipped), whether the publisher is `multicast` or takes a
//! `single_subscriber`, and whether it signals from threads of its own (`threaded`); and give a
//! `failing_factory` for the error rules (1.04, 1.09-reject), with `failing_needs_demand` for a
//! publisher that fails only once items are requested. Every wait for a signal that should come uses one time-out: 100 ms by default,
//! or [`TIMEOUT_ENV`] (`BACKFLOW_TCK_TIMEOUT_MS`) in milliseconds, for slow CI machines; an
//! explicit [`PublisherOptions::timeout`] wins over both. Checks that something does *not* happen
//! wait a whole window (the time-out, or a tenth of it for a publisher declared `threaded(false)`).
//! Each rule runs on its own thread under a watchdog, so a publisher that deadlocks (a lock held
//! across `on_next` and re-entered by a `request` from inside it) fails its rule instead of
//! hanging the test run.
//!
//! # What is checked, and how it differs from the JVM TCK
//!
//! Each check verifies what its rule says (see [`Rule`]); where backflow's contract
//! (`SEMANTICS.md`) is stricter than the spec, the check says so in its failure message:
//!
//! - 1.05-empty: an empty publisher completes *without* a request. 1.05 itself allows one extra
//!   request for a publisher to discover its end, as the JVM TCK does.
//! - 2.13 and 3.13 are also checked from the publisher side: a subscriber panicking in `on_next`
//!   must not unwind out of `request`, must stop the stream and be released (the scripted panic
//!   shows on stderr through the panic hook; that is expected); and a subscriber is released after
//!   a terminal signal, not only after cancel.
//! - 3.12: after cancelling, the subscriber asks for `u64::MAX` more; items requested before the
//!   cancel may still arrive (rule 1.08), anything beyond them fails the rule.
//! - 3.09 is also checked with `request(0)` made from inside `on_next` while demand is
//!   outstanding: the publisher must still signal the error rather than serve on and complete.
//!
//! Two flaws of the JVM TCK are deliberately not copied: its blackbox 2.01 check sends no item
//! at all (here items flow against the subscriber's own requests), and every wait here honours
//! the configured time-out.

pub(crate) mod check;
mod publisher;
mod report;
mod rule;
mod subscriber;

pub use check::{default_timeout, TIMEOUT_ENV};
pub use publisher::{
    verify_publisher, verify_publisher_rule, verify_publisher_rules, PublisherOptions,
};
pub use report::{Outcome, Report};
pub use rule::Rule;
pub use subscriber::{
    verify_subscriber, verify_subscriber_rule, verify_subscriber_rules, SubscriberOptions,
};
