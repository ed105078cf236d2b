//! The publisher behind [`Flux::all`](crate::Flux::all) and, with the test flipped,
//! [`Flux::any`](crate::Flux::any).

use super::aggregate::{Aggregate, AggregateSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::sync::StdArc;

/// Emits whether every item matches a predicate (stopping at the first that does not). Built by
/// [`Flux::all`](crate::Flux::all).
#[derive(Debug)]
pub struct All<P, F> {
    upstream: P,
    predicate: StdArc<F>,
    /// `false`: `all`; `true`: `any` (the same fold, looking for a match instead of a miss).
    any: bool,
}

impl<P: Clone, F> Clone for All<P, F> {
    fn clone(&self) -> Self {
        All {
            upstream: self.upstream.clone(),
            predicate: self.predicate.clone(),
            any: self.any,
        }
    }
}

impl<P, F> All<P, F> {
    pub(crate) fn new(upstream: P, predicate: F, any: bool) -> Self {
        All {
            upstream,
            predicate: StdArc::new(predicate),
            any,
        }
    }
}

struct Test<F> {
    predicate: StdArc<F>,
    /// The item that decides: a miss for `all`, a match for `any`.
    looking_for: bool,
    found: bool,
}

impl<T, F> Aggregate<T> for Test<F>
where
    F: Fn(&T) -> bool + Send + Sync + 'static,
{
    type Output = bool;

    #[inline]
    fn push(&mut self, item: T) {
        if !self.found && (self.predicate)(&item) == self.looking_for {
            self.found = true;
        }
    }

    #[inline]
    fn push_iter<I: Iterator<Item = T>>(&mut self, items: I) -> u64 {
        // Stop pulling at the deciding item: the rest is never needed.
        let mut used = 0;
        for item in items {
            used += 1;
            self.push(item);
            if self.found {
                break;
            }
        }
        used
    }

    fn finish(self) -> Option<bool> {
        // all: true unless a miss was found; any: true if a match was found.
        Some(self.found == self.looking_for)
    }

    fn decided(&self) -> bool {
        self.found
    }
}

impl<P, F> Publisher for All<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = bool;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<bool> + 'static,
    {
        let test = Test {
            predicate: self.predicate.clone(),
            looking_for: self.any,
            found: false,
        };
        self.upstream
            .subscribe(AggregateSubscriber::new(subscriber, test))
    }
}
