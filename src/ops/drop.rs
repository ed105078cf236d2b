//! The publisher and subscriber behind [`Flux::drop_unrequested`](crate::Flux::drop_unrequested).

use crate::demand::{Demand, UNBOUNDED};
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sync::StdArc;

/// Forwards items only while there is downstream demand, dropping the rest.
/// Built by [`Flux::drop_unrequested`](crate::Flux::drop_unrequested).
#[derive(Debug)]
pub struct DropNoDemand<P: Publisher> {
    upstream: P,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for DropNoDemand<P> {
    fn clone(&self) -> Self {
        DropNoDemand {
            upstream: self.upstream.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher> DropNoDemand<P> {
    pub(crate) fn new(upstream: P) -> Self {
        DropNoDemand {
            upstream,
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher> Configurable for DropNoDemand<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for DropNoDemand<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(DropSubscriber {
            downstream: subscriber,
            demand: StdArc::new(Demand::new()),
            options: self.options.clone(),
        })
    }
}

struct DropSubscriber<S, T> {
    downstream: S,
    /// Downstream demand: added by `request` on any thread, spent by `on_next` (upstream's thread).
    demand: StdArc<Demand>,
    options: StageOptions<T>,
}

struct DropSubscription {
    upstream: SharedSubscription,
    demand: StdArc<Demand>,
}

impl Subscription for DropSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // Let the upstream answer with the rule 3.9 error, through the serialised signal path.
            self.upstream.request(0);
        } else {
            self.demand.add(n);
        }
    }

    fn cancel(&self) {
        self.upstream.cancel()
    }
}

impl<S, T> Subscriber<T> for DropSubscriber<S, T>
where
    S: Subscriber<T>,
    T: Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.downstream.on_subscribe(StdArc::new(DropSubscription {
            upstream: subscription.clone(),
            demand: self.demand.clone(),
        }));
        if let Some(m) = self.options.metrics() {
            m.record_requested(UNBOUNDED);
        }
        // Lossy stages absorb overload by discarding: ask for everything (SEMANTICS §2).
        subscription.request(UNBOUNDED);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let metrics = self.options.metrics();
        if let Some(m) = metrics {
            m.record_received(1);
        }
        if self.demand.get() > 0 {
            self.demand.produced(1);
            if let Some(m) = metrics {
                m.record_emitted(1);
            }
            self.downstream.on_next(item)
        } else {
            self.options.discard(item, DropReason::NoDemand)
        }
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
