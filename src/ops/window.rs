//! The publisher behind [`Flux::window`](crate::Flux::window): the grouping machinery of
//! [`group_by`](super::group_by), keyed by window number, each group completing at `size` items.

use crate::ops::group_by::{subscribe_grouping, GroupedFlux, Limits};
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, Subscriber};
use crate::sync::{AtomicU64, Ordering, StdArc};

/// Splits a stream into consecutive windows of `size` items, each a stream of its own. Built by
/// [`Flux::window`](crate::Flux::window).
pub struct Window<P: Publisher> {
    upstream: P,
    size: usize,
    prefetch: usize,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Window<P> {
    fn clone(&self) -> Self {
        Window {
            upstream: self.upstream.clone(),
            size: self.size,
            prefetch: self.prefetch,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Window<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("upstream", &self.upstream)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Window<P> {
    pub(crate) fn new(upstream: P, size: usize, prefetch: usize) -> Self {
        assert!(size > 0, "window(0): a window must hold at least one item");
        assert!(prefetch > 0, "window: prefetch must be at least 1");
        Window {
            upstream,
            size,
            prefetch,
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher> Configurable for Window<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for Window<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = GroupedFlux<u64, P::Item>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<GroupedFlux<u64, P::Item>> + 'static,
    {
        // The key is the window's number: a count of this subscription's items. Relaxed: only
        // the upstream's signals (serialised, rule 1.03) touch it.
        let seen = AtomicU64::new(0);
        let size = self.size as u64;
        let key = move |_: &P::Item| seen.fetch_add(1, Ordering::Relaxed) / size;
        subscribe_grouping(
            &self.upstream,
            subscriber,
            StdArc::new(key),
            Limits {
                // One window fills at a time; earlier ones may still wait for their subscriber.
                max_groups: usize::MAX,
                prefetch: self.prefetch,
                close_after: Some(self.size),
            },
            self.options.clone(),
        )
    }
}
