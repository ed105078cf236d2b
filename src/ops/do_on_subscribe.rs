//! The hook behind [`Flux::do_on_subscribe`](crate::Flux::do_on_subscribe); the stage is the shared
//! [`Hooked`](super::lifecycle) pass-through.

use crate::ops::lifecycle::{Hooked, Hooks};
use crate::protocol::SharedSubscription;

/// Calls a function when the stream is subscribed. Built by [`Flux::do_on_subscribe`](crate::Flux::do_on_subscribe).
pub type DoOnSubscribe<P, F> = Hooked<P, OnSubscribe<F>>;

/// The `do_on_subscribe` callback, as the [`Hooked`] stage calls it.
#[derive(Debug)]
pub struct OnSubscribe<F>(pub(crate) F);

impl<F> Hooks for OnSubscribe<F>
where
    F: Fn(&SharedSubscription) + Send + Sync + 'static,
{
    const PLACE: &'static str = "do_on_subscribe's function";
    fn subscribed(&self, subscription: &SharedSubscription) {
        (self.0)(subscription)
    }
}
