//! The hook behind [`Flux::do_on_complete`](crate::Flux::do_on_complete); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::ops::lifecycle::{Hooked, Hooks};

/// Calls a function when the upstream completes, before passing it on. Built by [`Flux::do_on_complete`](crate::Flux::do_on_complete).
pub type DoOnComplete<P, F> = Hooked<P, OnComplete<F>>;

/// The `do_on_complete` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct OnComplete<F>(pub(crate) F);

impl<F> Hooks for OnComplete<F>
where
    F: Fn() + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_on_complete's function";
    fn completed(&self) {
        (self.0)()
    }
}
