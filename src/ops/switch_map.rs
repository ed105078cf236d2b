//! The publisher behind [`Flux::switch_map`](crate::Flux::switch_map): the
//! [`flat_map`](super::flat_map) drain with one live inner, which each new outer item replaces.

use crate::ops::flat_map::{subscribe_inners, Policy};
use crate::ops::stage::{Configurable, StageOptions};
use crate::protocol::{Publisher, Subscriber};
use crate::sync::StdArc;

/// Follows the inner stream of the latest outer item only. Built by
/// [`Flux::switch_map`](crate::Flux::switch_map).
pub struct SwitchMap<P, F, T> {
    upstream: P,
    f: StdArc<F>,
    prefetch: usize,
    options: StageOptions<T>,
}

impl<P: Clone, F, T> Clone for SwitchMap<P, F, T> {
    fn clone(&self) -> Self {
        SwitchMap {
            upstream: self.upstream.clone(),
            f: self.f.clone(),
            prefetch: self.prefetch,
            options: self.options.clone(),
        }
    }
}

impl<P: std::fmt::Debug, F, T> std::fmt::Debug for SwitchMap<P, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchMap")
            .field("upstream", &self.upstream)
            .field("prefetch", &self.prefetch)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P, F, T> SwitchMap<P, F, T> {
    pub(crate) fn new(upstream: P, f: F, prefetch: usize) -> Self {
        assert!(prefetch > 0, "switch_map: prefetch must be at least 1");
        SwitchMap {
            upstream,
            f: StdArc::new(f),
            prefetch,
            options: StageOptions::default(),
        }
    }
}

impl<P, F, T> Configurable for SwitchMap<P, F, T> {
    type Dropped = T;
    fn options_mut(&mut self) -> &mut StageOptions<T> {
        &mut self.options
    }
}

impl<P, F, Q, T> Publisher for SwitchMap<P, F, T>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
    T: Send + 'static,
{
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        subscribe_inners(
            &self.upstream,
            &self.f,
            Policy::Switch,
            self.prefetch,
            &self.options,
            subscriber,
        )
    }
}
