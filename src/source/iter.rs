//! [`from_iter`]: a cold source over any cloneable `IntoIterator`.

use super::pull::{subscribe_pull, Pull};
use crate::error::Error;
use crate::protocol::Flux;
use crate::protocol::{Publisher, Subscriber};

/// The publisher behind [`from_iter`] and [`range`](crate::range).
#[derive(Clone, Debug)]
pub struct Iter<I> {
    iterable: I,
}

pub(crate) struct IterPull<I>(pub(crate) I);

impl<I> Pull for IterPull<I>
where
    I: Iterator + Send + 'static,
{
    type Item = I::Item;
    const LOOKAHEAD: bool = true;
    type Chunk<'a> = std::iter::Take<&'a mut I>;

    #[inline(always)]
    fn pull(&mut self) -> Result<Option<I::Item>, Error> {
        Ok(self.0.next())
    }

    #[inline(always)]
    fn exhausted(&self) -> Option<bool> {
        match self.0.size_hint() {
            (_, Some(0)) => Some(true),
            (1.., _) => Some(false),
            _ => None,
        }
    }

    #[inline(always)]
    fn chunk(&mut self, max: usize) -> Self::Chunk<'_> {
        self.0.by_ref().take(max)
    }
}

impl<I> Publisher for Iter<I>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<I::Item> + 'static,
    {
        subscribe_pull(IterPull(self.iterable.clone().into_iter()), subscriber)
    }
}

/// A cold source that replays `iterable` to each subscriber, on demand.
///
/// Each subscription clones `iterable` and iterates its own copy (rule 1.11: unicast, every
/// subscriber sees every item). Reactor: `Flux.fromIterable`; RxJava: `Flowable.fromIterable`.
///
/// # Demand
///
/// Items are pulled from the iterator only against outstanding demand. One item is pulled ahead at
/// subscribe time and after each batch, so that an empty iterator completes without any request and a
/// stream of exactly `n` items completes right after `request(n)` (Reactor's `hasNext` check).
///
/// ```
/// let words = backflow::from_iter(vec!["a", "b", "c"]);
/// assert_eq!(words.clone().collect().unwrap(), vec!["a", "b", "c"]);
/// assert_eq!(words.map(str::len).collect().unwrap(), vec![1, 1, 1]); // cold: a second run
/// ```
#[doc(alias = "fromIterable")]
pub fn from_iter<I>(iterable: I) -> Flux<Iter<I>>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send,
{
    Flux::new(Iter { iterable })
}
