//! The hook behind [`Flux::do_on_request`](crate::Flux::do_on_request); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::ops::lifecycle::{Hooked, Hooks};

/// Calls a function with each downstream request. Built by [`Flux::do_on_request`](crate::Flux::do_on_request).
pub type DoOnRequest<P, F> = Hooked<P, OnRequest<F>>;

/// The `do_on_request` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct OnRequest<F>(pub(crate) F);

impl<F> Hooks for OnRequest<F>
where
    F: Fn(u64) + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_on_request's function";
    fn requested(&self, n: u64) {
        (self.0)(n)
    }
}
