//! What every check shares: early exits, time-outs, and a watchdog around each rule.

use std::time::{Duration, Instant};

use super::Outcome;
use crate::error::Error;
use crate::sink::{ProbeError, TestProbe};
use crate::sync::{thread, Arc, Condvar, Mutex};

/// The environment variable that overrides the default time-out, in milliseconds.
pub const TIMEOUT_ENV: &str = "BACKFLOW_TCK_TIMEOUT_MS";

/// The default time-out: [`TIMEOUT_ENV`] if set to a number of milliseconds, else 100 ms.
pub fn default_timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map_or(Duration::from_millis(100), Duration::from_millis)
}

/// How a check ends early.
pub(crate) enum Stop {
    Fail(String),
    Skip(String),
}

impl From<ProbeError> for Stop {
    fn from(e: ProbeError) -> Self {
        Stop::Fail(e.to_string())
    }
}

/// The result of a check: `Ok` = passed.
pub(crate) type Step = Result<(), Stop>;

pub(crate) fn fail(reason: impl Into<String>) -> Stop {
    Stop::Fail(reason.into())
}

pub(crate) fn skip(reason: impl Into<String>) -> Stop {
    Stop::Skip(reason.into())
}

/// Fails the check with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($reason:tt)+) => {
        if !$cond {
            return Err($crate::tck::check::fail(format!($($reason)+)));
        }
    };
}
pub(crate) use ensure;

/// Adds what the check was doing to a probe error.
pub(crate) trait Context<R> {
    fn context(self, what: &str) -> Result<R, Stop>;
}

impl<R> Context<R> for Result<R, ProbeError> {
    fn context(self, what: &str) -> Result<R, Stop> {
        self.map_err(|e| fail(format!("{what}: {e}")))
    }
}

/// Fails with every protocol breach the probe saw.
pub(crate) fn clean<T>(probe: &TestProbe<T>) -> Step {
    let violations = probe.violations();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(fail(violations.join("; ")))
    }
}

/// Waits for `n` items in total, allowing `timeout` between one item and the next (a long run on a
/// slow publisher is fine as long as it keeps moving).
pub(crate) fn await_all<T>(probe: &TestProbe<T>, n: u64, timeout: Duration) -> Step {
    loop {
        let seen = probe.next_count();
        if seen >= n {
            return Ok(());
        }
        probe
            .await_values(seen + 1, timeout)
            .context(&format!("waiting for item {} of {n}", seen + 1))?;
    }
}

/// Waits until a whole `window` passes with no signal (items in flight after a cancel may still
/// arrive meanwhile), or fails after `limit`.
pub(crate) fn settle<T>(probe: &TestProbe<T>, window: Duration, limit: Duration) -> Step {
    let deadline = Instant::now() + limit;
    loop {
        let seen = probe.next_count();
        match probe.expect_no_signal(window) {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => continue,
            Err(_) => {
                return Err(fail(format!(
                    "signals kept coming for {limit:?} ({} items, {seen} when the wait began)",
                    probe.next_count()
                )))
            }
        }
    }
}

pub(crate) fn panic_text(place: &str, payload: Box<dyn std::any::Any + Send>) -> String {
    Error::panicked(place, payload).to_string()
}

/// Runs one check on a thread of its own and waits at most `budget` for it.
///
/// A publisher that blocks (a lock held across `on_next`, re-entered by a `request` from inside
/// it) would otherwise hang the whole test run; this turns it into a failure. The stuck thread is
/// left behind. A panic inside the check is a failure too.
pub(crate) fn run_guarded(
    budget: Duration,
    check: impl FnOnce() -> Step + Send + 'static,
) -> Outcome {
    let slot = Arc::new((Mutex::new(None::<Outcome>), Condvar::new()));
    let done = slot.clone();
    let _detached = thread::spawn(move || {
        let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(Stop::Fail(reason))) => Outcome::Failed(reason),
            Ok(Err(Stop::Skip(reason))) => Outcome::Skipped(reason),
            Err(payload) => Outcome::Failed(panic_text("the check", payload)),
        };
        *done.0.lock() = Some(outcome);
        done.1.notify_all();
    });
    let deadline = Instant::now() + budget;
    let mut outcome = slot.0.lock();
    loop {
        if let Some(outcome) = outcome.take() {
            return outcome;
        }
        let (guard, timed_out) = slot.1.wait_until(outcome, deadline);
        outcome = guard;
        if timed_out && outcome.is_none() {
            return Outcome::Failed(format!(
                "the check did not finish within {budget:?}: a call into the publisher or subscriber \
                 blocked (a lock held across a signal and re-entered from inside it?)"
            ));
        }
    }
}
