//! [`empty`]: completes at once.

use std::fmt;
use std::marker::PhantomData;

use crate::protocol::Flux;
use crate::protocol::{complete_now, Publisher, Subscriber};

/// The publisher behind [`empty`].
pub struct Empty<T> {
    item: PhantomData<fn() -> T>,
}

impl<T> Clone for Empty<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Empty<T> {}

impl<T> fmt::Debug for Empty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Empty")
    }
}

impl<T> Publisher for Empty<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let mut subscriber = subscriber;
        complete_now(&mut subscriber)
    }
}

/// A source with no items: `on_subscribe`, then `on_complete` at once, without any request (rule 1.05).
///
/// Reactor: `Flux.empty()`; RxJava: `Flowable.empty()`; Akka: `Source.empty`.
///
/// ```
/// let none = backflow::empty::<u32>().collect().unwrap();
/// assert!(none.is_empty());
/// ```
pub fn empty<T>() -> Flux<Empty<T>> {
    Flux::new(Empty { item: PhantomData })
}
