//! [`just`]: one item, then completion.

use super::pull::{subscribe_pull, Pull};
use crate::error::Error;
use crate::protocol::Flux;
use crate::protocol::{Publisher, Subscriber};

/// The publisher behind [`just`].
#[derive(Clone, Debug)]
pub struct Just<T> {
    item: T,
}

struct JustPull<T>(Option<T>);

impl<T: Send + 'static> Pull for JustPull<T> {
    type Item = T;
    const LOOKAHEAD: bool = true;
    type Chunk<'a> = std::iter::Take<std::option::IntoIter<T>>;

    #[inline]
    fn pull(&mut self) -> Result<Option<T>, Error> {
        Ok(self.0.take())
    }

    #[inline]
    fn chunk(&mut self, max: usize) -> Self::Chunk<'_> {
        self.0.take().into_iter().take(max)
    }

    #[inline]
    fn exhausted(&self) -> Option<bool> {
        Some(self.0.is_none())
    }
}

impl<T> Publisher for Just<T>
where
    T: Clone + Send + 'static,
{
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        subscribe_pull(JustPull(Some(self.item.clone())), subscriber)
    }
}

/// A cold source of one item: each subscriber gets a clone of `item`, then `on_complete`.
///
/// Reactor: `Flux.just(item)` / `Mono.just`; RxJava: `Flowable.just`; Akka: `Source.single`.
///
/// # Demand
///
/// The item waits for the first `request`; completion follows it at once, without another request.
///
/// ```
/// let one = backflow::just("hello");
/// assert_eq!(one.clone().collect().unwrap(), vec!["hello"]);
/// assert_eq!(one.collect().unwrap(), vec!["hello"]); // cold: every subscriber gets the item
/// ```
#[doc(alias = "single")]
pub fn just<T>(item: T) -> Flux<Just<T>>
where
    T: Clone + Send + 'static,
{
    Flux::new(Just { item })
}
