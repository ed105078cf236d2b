//! The publisher and subscriber behind [`Flux::distinct`](crate::Flux::distinct) and
//! [`Flux::distinct_within`](crate::Flux::distinct_within).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber};

/// Passes each item the first time it is seen. Built by [`Flux::distinct`](crate::Flux::distinct)
/// and [`Flux::distinct_within`](crate::Flux::distinct_within).
#[derive(Clone, Debug)]
pub struct Distinct<P> {
    upstream: P,
    /// How many distinct items to remember; `None`: all of them.
    memory: Option<usize>,
}

impl<P> Distinct<P> {
    pub(crate) fn new(upstream: P, memory: Option<usize>) -> Self {
        if let Some(memory) = memory {
            assert!(
                memory > 0,
                "distinct_within(0): it must remember at least one item"
            );
        }
        Distinct { upstream, memory }
    }
}

impl<P> Publisher for Distinct<P>
where
    P: Publisher,
    P::Item: Hash + Eq + Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(DistinctSubscriber {
            downstream: subscriber,
            seen: HashSet::new(),
            order: VecDeque::new(),
            memory: self.memory,
            upstream: None,
        })
    }
}

struct DistinctSubscriber<T, S> {
    downstream: S,
    seen: HashSet<T>,
    /// With bounded memory: the remembered items, oldest first, to forget in that order.
    order: VecDeque<T>,
    memory: Option<usize>,
    upstream: Option<SharedSubscription>,
}

impl<T: Hash + Eq + Clone, S> DistinctSubscriber<T, S> {
    /// Whether `item` is new; remembers it (forgetting the oldest if memory is full).
    #[inline]
    fn first_time(&mut self, item: &T) -> bool {
        if self.seen.contains(item) {
            return false;
        }
        if let Some(memory) = self.memory {
            if self.order.len() == memory {
                if let Some(oldest) = self.order.pop_front() {
                    self.seen.remove(&oldest);
                }
            }
            self.order.push_back(item.clone());
        }
        self.seen.insert(item.clone());
        true
    }
}

impl<T, S> Subscriber<T> for DistinctSubscriber<T, S>
where
    T: Hash + Eq + Clone + Send,
    S: Subscriber<T>,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.upstream = Some(subscription.clone());
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.first_time(&item) {
            self.downstream.on_next(item)
        } else if let Some(upstream) = &self.upstream {
            // The repeat used a credit the downstream never saw: replenish it (SEMANTICS §2).
            upstream.request(1)
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.first_time(&item) && self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        self.seen.clear();
        self.order.clear();
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.seen.clear();
        self.order.clear();
        self.downstream.on_complete()
    }
}
