//! The publisher behind [`Flux::collect_map`](crate::Flux::collect_map).

use std::collections::HashMap;
use std::hash::Hash;

use super::aggregate::{Aggregate, AggregateSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::sync::StdArc;

/// Collects the items into a `HashMap` by key, emitting it on completion. Built by
/// [`Flux::collect_map`](crate::Flux::collect_map).
#[derive(Debug)]
pub struct CollectMap<P, K, V> {
    upstream: P,
    key: StdArc<K>,
    value: StdArc<V>,
}

impl<P: Clone, K, V> Clone for CollectMap<P, K, V> {
    fn clone(&self) -> Self {
        CollectMap {
            upstream: self.upstream.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

impl<P, K, V> CollectMap<P, K, V> {
    pub(crate) fn new(upstream: P, key: K, value: V) -> Self {
        CollectMap {
            upstream,
            key: StdArc::new(key),
            value: StdArc::new(value),
        }
    }
}

struct Collector<K, V, M> {
    key: StdArc<K>,
    value: StdArc<V>,
    map: M,
}

impl<T, K, V, Key, Val> Aggregate<T> for Collector<K, V, HashMap<Key, Val>>
where
    K: Fn(&T) -> Key + Send + Sync + 'static,
    V: Fn(T) -> Val + Send + Sync + 'static,
    Key: Hash + Eq + Send + 'static,
    Val: Send + 'static,
{
    type Output = HashMap<Key, Val>;

    #[inline]
    fn push(&mut self, item: T) {
        let key = (self.key)(&item);
        // A later item with the same key replaces the earlier one (Reactor's collectMap).
        self.map.insert(key, (self.value)(item));
    }

    fn finish(self) -> Option<HashMap<Key, Val>> {
        Some(self.map)
    }
}

impl<P, K, V, Key, Val> Publisher for CollectMap<P, K, V>
where
    P: Publisher,
    P::Item: Send + 'static,
    K: Fn(&P::Item) -> Key + Send + Sync + 'static,
    V: Fn(P::Item) -> Val + Send + Sync + 'static,
    Key: Hash + Eq + Send + 'static,
    Val: Send + 'static,
{
    type Item = HashMap<Key, Val>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<HashMap<Key, Val>> + 'static,
    {
        let collector = Collector {
            key: self.key.clone(),
            value: self.value.clone(),
            map: HashMap::new(),
        };
        self.upstream
            .subscribe(AggregateSubscriber::new(subscriber, collector))
    }
}
