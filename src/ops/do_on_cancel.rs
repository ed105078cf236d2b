//! The hook behind [`Flux::do_on_cancel`](crate::Flux::do_on_cancel); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::ops::lifecycle::{Hooked, Hooks};

/// Calls a function when the downstream cancels. Built by [`Flux::do_on_cancel`](crate::Flux::do_on_cancel).
pub type DoOnCancel<P, F> = Hooked<P, OnCancel<F>>;

/// The `do_on_cancel` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct OnCancel<F>(pub(crate) F);

impl<F> Hooks for OnCancel<F>
where
    F: Fn() + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_on_cancel's function";
    fn cancelled(&self) {
        (self.0)()
    }
}
