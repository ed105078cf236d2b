//! The hook behind [`Flux::do_on_error`](crate::Flux::do_on_error); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::error::Error;
use crate::ops::lifecycle::{Hooked, Hooks};

/// Calls a function with the upstream error before passing it on. Built by [`Flux::do_on_error`](crate::Flux::do_on_error).
pub type DoOnError<P, F> = Hooked<P, OnError<F>>;

/// The `do_on_error` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct OnError<F>(pub(crate) F);

impl<F> Hooks for OnError<F>
where
    F: Fn(&Error) + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_on_error's function";
    fn failed(&self, error: &Error) {
        (self.0)(error)
    }
}
