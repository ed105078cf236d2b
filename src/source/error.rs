//! [`error`]: fails at once.

use std::fmt;
use std::marker::PhantomData;

use crate::error::Error;
use crate::protocol::Flux;
use crate::protocol::{reject, Publisher, Subscriber};

/// The publisher behind [`error`](fn@error).
pub struct Fail<T> {
    error: Error,
    item: PhantomData<fn() -> T>,
}

impl<T> Clone for Fail<T> {
    fn clone(&self) -> Self {
        Fail {
            error: self.error.clone(),
            item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Fail<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fail").field(&self.error).finish()
    }
}

impl<T> Publisher for Fail<T> {
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let mut subscriber = subscriber;
        reject(&mut subscriber, self.error.clone())
    }
}

/// A source that fails: `on_subscribe`, then `on_error(error)` at once, without any request
/// (rules 1.04, 1.09). Every subscriber gets a clone of the same error.
///
/// Reactor: `Flux.error(e)`; RxJava: `Flowable.error(e)`; Akka: `Source.failed`.
///
/// ```
/// use backflow::prelude::*;
/// let failed = backflow::error::<u32>(Error::msg("no data")).collect();
/// assert_eq!(failed.unwrap_err().to_string(), "no data");
/// ```
#[doc(alias = "failed")]
pub fn error<T>(error: Error) -> Flux<Fail<T>> {
    Flux::new(Fail {
        error,
        item: PhantomData,
    })
}
