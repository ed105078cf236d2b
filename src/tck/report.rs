//! [`Report`]: one [`Outcome`] per rule, printable as a table.

use std::fmt;

use super::Rule;

/// The result of checking one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The rule held.
    Passed,
    /// The rule was broken; the reason says what was seen.
    Failed(String),
    /// The rule could not be checked on this subject; the reason says why.
    Skipped(String),
}

impl Outcome {
    /// Whether the rule held.
    pub fn is_passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }

    /// Whether the rule was broken.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// Whether the rule was not checked.
    pub fn is_skipped(&self) -> bool {
        matches!(self, Outcome::Skipped(_))
    }

    fn word(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// The verdicts of a verifier run: one line per rule.
///
/// `Display` prints a table; [`assert_all_passed`](Report::assert_all_passed) turns it into a test.
///
/// ```text
/// backflow tck: publisher `range` (22 rules: 22 passed, 0 failed, 0 skipped)
///   1.01         passed   on_next never exceeds the demand requested
///   ...
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    subject: String,
    lines: Vec<(Rule, Outcome)>,
}

impl Report {
    pub(crate) fn new(subject: String, lines: Vec<(Rule, Outcome)>) -> Self {
        Report { subject, lines }
    }

    /// What was verified, e.g. "publisher `range`".
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Every rule checked and its outcome, in order.
    pub fn outcomes(&self) -> &[(Rule, Outcome)] {
        &self.lines
    }

    /// The outcome of the rule with this id (`"1.01"`, `"3.17-sum"`, ...), if it was checked.
    pub fn rule(&self, id: &str) -> Option<&Outcome> {
        self.lines
            .iter()
            .find(|(rule, _)| rule.id() == id)
            .map(|(_, outcome)| outcome)
    }

    /// The outcome of `rule`, if it was checked.
    pub fn outcome(&self, rule: Rule) -> Option<&Outcome> {
        self.lines
            .iter()
            .find(|(r, _)| *r == rule)
            .map(|(_, outcome)| outcome)
    }

    /// The broken rules and why.
    pub fn failures(&self) -> impl Iterator<Item = (Rule, &str)> {
        self.lines
            .iter()
            .filter_map(|(rule, outcome)| match outcome {
                Outcome::Failed(reason) => Some((*rule, reason.as_str())),
                _ => None,
            })
    }

    /// Whether no rule failed (skipped rules do not count as failures).
    pub fn all_passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// Panics listing every failed rule and its reason, followed by the whole table.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        if !self.all_passed() {
            let failures: Vec<String> = self
                .failures()
                .map(|(rule, reason)| format!("  {rule} {}: {reason}", rule.title()))
                .collect();
            panic!(
                "{} broke {} rule(s):\n{}\n\n{self}",
                self.subject,
                failures.len(),
                failures.join("\n")
            );
        }
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.lines.iter().filter(|(_, o)| f(o)).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backflow tck: {} ({} rules: {} passed, {} failed, {} skipped)",
            self.subject,
            self.lines.len(),
            self.count(Outcome::is_passed),
            self.count(Outcome::is_failed),
            self.count(Outcome::is_skipped),
        )?;
        for (rule, outcome) in &self.lines {
            writeln!(
                f,
                "  {:<12} {:<8} {}",
                rule.id(),
                outcome.word(),
                rule.title()
            )?;
            if let Outcome::Failed(reason) | Outcome::Skipped(reason) = outcome {
                writeln!(f, "  {:<12} {:<8} -> {reason}", "", "")?;
            }
        }
        Ok(())
    }
}
