//! The hook behind [`Flux::do_finally`](crate::Flux::do_finally); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::ops::lifecycle::{Hooked, Hooks, SignalType};

/// Calls a function exactly once when the stream ends: completion, error or cancel. Built by [`Flux::do_finally`](crate::Flux::do_finally).
pub type DoFinally<P, F> = Hooked<P, Finally<F>>;

/// The `do_finally` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct Finally<F>(pub(crate) F);

impl<F> Hooks for Finally<F>
where
    F: Fn(SignalType) + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_finally's function";
    fn finally(&self, signal: SignalType) {
        (self.0)(signal)
    }
}
