//! [`range`]: the integers of a `Range`, on demand.

use std::ops::Range;

use super::iter::{from_iter, Iter};
use crate::flux::Flux;

/// A cold source of the integers in `range`, in order, delivered against demand.
///
/// Any integer type works (`0..10u8`, `-5..5i64`, ...). Reactor's `Flux.range(start, count)` is
/// `range(start..start + count)`.
///
/// # Demand
///
/// Emits exactly what is requested; completes right after the last item even if the demand is
/// exactly used up; with unbounded demand it runs a counting-free loop.
///
/// ```
/// let evens = backflow::range(0..10u64).filter(|x| x % 2 == 0).collect().unwrap();
/// assert_eq!(evens, vec![0, 2, 4, 6, 8]);
/// ```
pub fn range<T>(range: Range<T>) -> Flux<Iter<Range<T>>>
where
    Range<T>: Iterator<Item = T> + Clone + Send + 'static,
    T: Send,
{
    from_iter(range)
}
