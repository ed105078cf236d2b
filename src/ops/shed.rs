//! The publisher and subscriber behind [`Flux::shed`](crate::Flux::shed).

use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};
use crate::resilience::shed::LoadShedder;
use crate::sync::StdArc;

/// Drops items whose priority the load does not admit. Built by [`Flux::shed`](crate::Flux::shed).
pub struct Shed<P: Publisher, Q, F> {
    upstream: P,
    shedder: LoadShedder<Q>,
    priority_of: StdArc<F>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone, Q, F> Clone for Shed<P, Q, F> {
    fn clone(&self) -> Self {
        Shed {
            upstream: self.upstream.clone(),
            shedder: self.shedder.clone(),
            priority_of: self.priority_of.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug, Q: std::fmt::Debug, F> std::fmt::Debug for Shed<P, Q, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shed")
            .field("upstream", &self.upstream)
            .field("shedder", &self.shedder)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher, Q, F> Shed<P, Q, F> {
    pub(crate) fn new(upstream: P, shedder: &LoadShedder<Q>, priority_of: F) -> Self {
        Shed {
            upstream,
            shedder: shedder.clone(),
            priority_of: StdArc::new(priority_of),
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher, Q, F> Configurable for Shed<P, Q, F> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P, Q, F> Publisher for Shed<P, Q, F>
where
    P: Publisher,
    P::Item: 'static,
    Q: Ord + Clone + Send + Sync + 'static,
    F: Fn(&P::Item) -> Q + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(ShedSubscriber {
            downstream: subscriber,
            shedder: self.shedder.clone(),
            priority_of: self.priority_of.clone(),
            options: self.options.clone(),
            upstream: None,
        })
    }
}

struct ShedSubscriber<S, T, Q, F> {
    downstream: S,
    shedder: LoadShedder<Q>,
    priority_of: StdArc<F>,
    options: StageOptions<T>,
    upstream: Option<SharedSubscription>,
}

impl<S, T, Q, F> ShedSubscriber<S, T, Q, F>
where
    Q: Ord + Clone + Send + Sync + 'static,
    F: Fn(&T) -> Q,
{
    /// The item if admitted; otherwise it is dropped as `Shed` and `None` comes back.
    #[inline]
    fn admit(&self, item: T) -> Option<T> {
        if let Some(m) = self.options.metrics() {
            m.record_received(1);
        }
        if self.shedder.admits(&(self.priority_of)(&item)) {
            if let Some(m) = self.options.metrics() {
                m.record_emitted(1);
            }
            Some(item)
        } else {
            self.options.discard(item, DropReason::Shed);
            None
        }
    }
}

impl<T, S, Q, F> Subscriber<T> for ShedSubscriber<S, T, Q, F>
where
    T: 'static,
    S: Subscriber<T>,
    Q: Ord + Clone + Send + Sync + 'static,
    F: Fn(&T) -> Q + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    fn on_next(&mut self, item: T) {
        match self.admit(item) {
            Some(item) => self.downstream.on_next(item),
            None => {
                // The credit the shed item used goes back upstream (a filter's rule).
                if let Some(upstream) = &self.upstream {
                    upstream.request(1)
                }
            }
        }
    }

    fn try_on_next(&mut self, item: T) -> bool {
        match self.admit(item) {
            Some(item) => self.downstream.try_on_next(item),
            None => false,
        }
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
