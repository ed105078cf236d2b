//! The publisher and subscriber behind [`Flux::take_while`](crate::Flux::take_while).

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Guarded, Publisher, SharedSubscription, Subscriber};

use super::run::{Counted, Deliver, Local, Uncounted};

/// Passes items while a predicate holds, then completes. Built by
/// [`Flux::take_while`](crate::Flux::take_while).
#[derive(Clone, Debug)]
pub struct TakeWhile<P, F> {
    upstream: P,
    predicate: Arc<F>,
}

impl<P, F> TakeWhile<P, F> {
    pub(crate) fn new(upstream: P, predicate: F) -> Self {
        TakeWhile {
            upstream,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P, F> Publisher for TakeWhile<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(TakeWhileSubscriber {
            guarded: Guarded::new(subscriber, "take_while"),
            predicate: self.predicate.clone(),
        })
    }
}

/// Catches a panic in the predicate (or downstream) itself ([`Guarded`]); the first miss ends the
/// stage as a completion.
struct TakeWhileSubscriber<S, F> {
    guarded: Guarded<S>,
    predicate: Arc<F>,
}

impl<S, F> TakeWhileSubscriber<S, F> {
    /// Hands the run on up to the first miss (pulled, not passed), then ends the stage.
    #[inline(always)]
    fn run<D: Deliver, I: Iterator>(&mut self, items: I) -> D::Out
    where
        S: Subscriber<I::Item>,
        F: Fn(&I::Item) -> bool,
    {
        let mut missed = false;
        let run = TakeWhileRun {
            items,
            predicate: &*self.predicate,
            missed: Local::take(&mut missed),
        };
        let out = self.guarded.run::<I::Item, _>(|down| D::deliver(down, run));
        if missed {
            self.guarded.finish(Ok(()));
        }
        out
    }
}

/// A run through `take_while`: items up to the first miss, which it pulls and drops. The run owns
/// the flag of the miss (it goes back to the stage when the run drops), so it stays in a register
/// as the run is moved down the chain.
struct TakeWhileRun<'a, I, F> {
    items: I,
    predicate: &'a F,
    missed: Local<'a, bool>,
}

impl<I, F> Iterator for TakeWhileRun<'_, I, F>
where
    I: Iterator,
    F: Fn(&I::Item) -> bool,
{
    type Item = I::Item;

    #[inline(always)]
    fn next(&mut self) -> Option<I::Item> {
        if self.missed.value {
            return None;
        }
        let item = self.items.next()?;
        if (self.predicate)(&item) {
            Some(item)
        } else {
            self.missed.value = true;
            None
        }
    }

    /// The whole run as one internal loop (the upstream adapters' own `try_fold`), stopping at
    /// the first miss.
    #[inline(always)]
    fn fold<B, G>(self, init: B, mut g: G) -> B
    where
        G: FnMut(B, I::Item) -> B,
    {
        let TakeWhileRun {
            mut items,
            predicate,
            mut missed,
        } = self;
        if missed.value {
            return init;
        }
        let run = items.try_fold(init, |acc, item| {
            if predicate(&item) {
                ControlFlow::Continue(g(acc, item))
            } else {
                ControlFlow::Break(acc)
            }
        });
        match run {
            ControlFlow::Continue(acc) => acc,
            ControlFlow::Break(acc) => {
                missed.value = true;
                acc
            }
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.missed.value {
            true => (0, Some(0)),
            false => (0, self.items.size_hint().1),
        }
    }
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // Demand passes through unchanged; a clone is kept to cancel upstream at the first miss.
        self.guarded
            .on_subscribe(subscription.clone(), subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let predicate = &*self.predicate;
        let missed = self.guarded.run(|down| {
            let keep = predicate(&item);
            if keep {
                down.on_next(item)
            }
            !keep
        });
        if missed {
            self.guarded.finish(Ok(()));
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let predicate = &*self.predicate;
        let (used, missed) = self.guarded.run(|down| {
            if predicate(&item) {
                (down.try_on_next(item), false)
            } else {
                (true, true)
            }
        });
        if missed {
            self.guarded.finish(Ok(()));
        }
        used
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        self.run::<Counted, I>(items)
    }

    #[inline]
    fn on_next_unbounded<I>(&mut self, items: I)
    where
        I: Iterator<Item = T>,
    {
        // Demand passes straight through: the downstream's demand is the caller's.
        self.run::<Uncounted, I>(items)
    }

    fn on_error(&mut self, error: Error) {
        self.guarded.on_error(error)
    }

    fn on_complete(&mut self) {
        self.guarded.on_complete()
    }
}
