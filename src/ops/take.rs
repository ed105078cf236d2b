//! The publisher, subscriber and subscription behind [`Flux::take`](crate::Flux::take).

use crate::error::{report_undeliverable, Error, ErrorKind};
use crate::protocol::{NoopSubscription, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sync::{AtomicBool, AtomicU64, Ordering, StdArc};

use super::run::Local;

/// Passes the first `n` items, then completes and cancels upstream. Built by
/// [`Flux::take`](crate::Flux::take).
#[derive(Clone, Debug)]
pub struct Take<P> {
    upstream: P,
    n: u64,
}

impl<P> Take<P> {
    pub(crate) fn new(upstream: P, n: u64) -> Self {
        Take { upstream, n }
    }
}

impl<P> Publisher for Take<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(TakeSubscriber {
            downstream: Some(subscriber),
            remaining: self.n,
            subscription: None,
            answered_invalid: false,
        })
    }
}

/// The downstream's handle: caps the demand passed upstream at the items `take` may still emit.
struct TakeSubscription {
    upstream: SharedSubscription,
    /// The most items upstream may ever be asked for.
    limit: u64,
    /// Total demand passed upstream so far, in `0..=limit`; CAS'd by concurrent `request`s (AcqRel
    /// success so the forwarded `request` calls follow the counter's order, Relaxed reloads).
    requested: AtomicU64,
    /// Set by the downstream's `cancel` (Release); read by the upstream side (Acquire) before it
    /// completes, so a downstream that cancelled in its last `on_next` sees no `on_complete`.
    cancelled: AtomicBool,
    /// Set by `request(0)` (Release); read by the upstream side (Acquire) before it completes:
    /// the last items may pass before upstream answers, and then `take` ends with the rule 3.9
    /// error instead of `on_complete`.
    invalid: AtomicBool,
}

impl Subscription for TakeSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // Let upstream answer the rule 3.9 violation with its `on_error`; if `take` reaches its
            // end first, it answers itself.
            self.invalid.store(true, Ordering::Release);
            return self.upstream.request(0);
        }
        let mut current = self.requested.load(Ordering::Relaxed);
        loop {
            if current >= self.limit {
                return;
            }
            let next = current.saturating_add(n).min(self.limit);
            match self.requested.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.upstream.request(next - current),
                Err(actual) => current = actual,
            }
        }
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.upstream.cancel()
        }
    }
}

struct TakeSubscriber<S> {
    /// `None` once a terminal signal went down: later upstream signals are ignored (rule 1.07) and
    /// the downstream subscriber is released (rule 3.13). `Some` implies `remaining > 0`.
    downstream: Option<S>,
    /// Items still to pass before completing.
    remaining: u64,
    subscription: Option<StdArc<TakeSubscription>>,
    /// `take` ended with the rule 3.9 error itself: upstream's own answer, coming later, is moot.
    answered_invalid: bool,
}

impl<S> TakeSubscriber<S> {
    /// Cancels upstream once `take` has passed its last item: item by item before that item goes
    /// down (a `request` from inside its `on_next` has nothing to wake), after the run on the
    /// fused path (see `on_next_iter`).
    #[cold]
    fn cancel_upstream(&self) {
        if let Some(subscription) = &self.subscription {
            subscription.upstream.cancel();
        }
    }

    /// Completes after the last item, unless the downstream cancelled while handling it, or made
    /// a `request(0)` that upstream had no time to answer (then the rule 3.9 error ends it).
    #[cold]
    fn finish<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        let downstream = self.downstream.take();
        let subscription = self.subscription.take();
        let cancelled = subscription
            .as_ref()
            .is_some_and(|s| s.cancelled.load(Ordering::Acquire));
        self.answered_invalid = subscription.is_some_and(|s| s.invalid.load(Ordering::Acquire));
        match (downstream, cancelled) {
            (Some(mut downstream), false) if self.answered_invalid => {
                downstream.on_error(Error::invalid_demand())
            }
            (Some(mut downstream), false) => downstream.on_complete(),
            _ => {}
        }
    }
}

/// A run through `take`: at most `remaining` items, pulled one by one (never one past the end).
struct TakeRun<'a, I> {
    items: I,
    remaining: Local<'a, u64>,
}

impl<I: Iterator> Iterator for TakeRun<'_, I> {
    type Item = I::Item;

    #[inline(always)]
    fn next(&mut self) -> Option<I::Item> {
        if self.remaining.value == 0 {
            return None;
        }
        let item = self.items.next()?;
        self.remaining.value -= 1;
        Some(item)
    }

    /// The whole run as one internal loop (the upstream adapters' own `fold`s) when the run
    /// cannot reach the end of `take` (its size hint says so, as a source's run does); item by
    /// item otherwise, so the last item is never followed by a pull. A fold cannot stop early,
    /// which is why the first case needs the size hint.
    #[inline(always)]
    fn fold<B, G>(mut self, init: B, mut g: G) -> B
    where
        G: FnMut(B, I::Item) -> B,
    {
        let fits =
            self.items.size_hint().1.is_some_and(|most| {
                u64::try_from(most).is_ok_and(|most| most <= self.remaining.value)
            });
        if !fits {
            let mut acc = init;
            for item in self.by_ref() {
                acc = g(acc, item);
            }
            return acc;
        }
        let TakeRun {
            items,
            mut remaining,
        } = self;
        items.fold(init, |acc, item| {
            remaining.value = match remaining.value.checked_sub(1) {
                Some(left) => left,
                None => past_the_end(),
            };
            g(acc, item)
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.remaining.value).unwrap_or(usize::MAX);
        let (low, high) = self.items.size_hint();
        (
            low.min(left),
            Some(high.map_or(left, |high| high.min(left))),
        )
    }
}

/// A run's size hint promised no more items than `take` may pass, and the run broke the promise.
/// `take` never asks upstream for more than it may pass, so this needs both a wrong upper bound
/// and an upstream that emits past its demand (rule 1.01): the item past the end is not passed on,
/// and the panic ends the stream with an error where it is caught, after exactly n items.
#[cold]
#[inline(never)]
fn past_the_end() -> ! {
    panic!("take: a run yielded more items than its size_hint's upper bound")
}

impl<T, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let (Some(downstream), None) = (&mut self.downstream, &self.subscription) else {
            // Rule 2.05 (already subscribed) or already terminated.
            return subscription.cancel();
        };
        if self.remaining == 0 {
            subscription.cancel();
            let mut downstream = self.downstream.take().expect("checked above");
            downstream.on_subscribe(NoopSubscription::shared());
            return downstream.on_complete();
        }
        let ours = StdArc::new(TakeSubscription {
            upstream: subscription,
            limit: self.remaining,
            requested: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        });
        self.subscription = Some(ours.clone());
        downstream.on_subscribe(ours)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let Some(downstream) = &mut self.downstream else {
            return;
        };
        self.remaining -= 1;
        if self.remaining != 0 {
            return downstream.on_next(item);
        }
        self.cancel_upstream();
        if let Some(downstream) = &mut self.downstream {
            downstream.on_next(item);
        }
        self.finish()
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let Some(downstream) = &mut self.downstream else {
            return false;
        };
        // An item the downstream discards still counts: `take(n)` passes at most n items on.
        self.remaining -= 1;
        if self.remaining != 0 {
            return downstream.try_on_next(item);
        }
        self.cancel_upstream();
        if let Some(downstream) = &mut self.downstream {
            downstream.try_on_next(item);
        }
        self.finish();
        true
    }

    #[inline]
    fn on_next_iter<I>(&mut self, items: I) -> u64
    where
        I: Iterator<Item = T>,
    {
        let TakeSubscriber {
            downstream,
            remaining,
            ..
        } = self;
        let Some(downstream) = downstream else {
            return 0;
        };
        // Pull no more than may still pass, counting in a register; the count goes back to its
        // field when the run ends, however it ends (a panic downstream unwinds through it).
        let run = TakeRun {
            items,
            remaining: Local::take(remaining),
        };
        let used = downstream.on_next_iter(run);
        if self.remaining == 0 {
            // After the run, not as the last item goes by: a call in the loop would cost the
            // fused loop its registers. The downstream's requests from inside that last
            // `on_next` are capped to nothing by `TakeSubscription::request` meanwhile.
            self.cancel_upstream();
            self.finish();
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        match self.downstream.take() {
            Some(mut downstream) => downstream.on_error(error),
            None if self.answered_invalid && error.kind() == ErrorKind::InvalidDemand => {}
            None => report_undeliverable(&error),
        }
        self.subscription = None;
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_complete()
        }
        self.subscription = None;
    }
}
