//! [`range`]: the integers of a `Range`, on demand.

use std::ops::Range as StdRange;

use super::pull::{subscribe_pull, Pull};
use crate::error::Error;
use crate::flux::Flux;
use crate::protocol::{Publisher, Subscriber};

/// An integer type [`range`] can count over.
pub trait RangeInt: Copy + Ord + Send + Sync + 'static + sealed::Sealed {
    /// `self + by`, or `end` if that passes `end` (`self <= end`).
    #[doc(hidden)]
    fn advance_to(self, by: usize, end: Self) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! range_int {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl RangeInt for $t {
            #[inline(always)]
            fn advance_to(self, by: usize, end: Self) -> Self {
                // Distances are taken in i128, which holds every difference of these types.
                let left = end as i128 - self as i128;
                if (by as i128) >= left { end } else { (self as i128 + by as i128) as $t }
            }
        }
    )*};
}
range_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The publisher behind [`range`]. Built by [`range`].
#[derive(Clone, Debug)]
pub struct Range<T> {
    range: StdRange<T>,
}

struct RangePull<T>(StdRange<T>);

impl<T: RangeInt> Pull for RangePull<T>
where
    StdRange<T>: Iterator<Item = T>,
{
    type Item = T;
    const LOOKAHEAD: bool = true;
    type Chunk<'a> = StdRange<T>;

    #[inline(always)]
    fn pull(&mut self) -> Result<Option<T>, Error> {
        Ok(self.0.next())
    }

    #[inline(always)]
    fn exhausted(&self) -> Option<bool> {
        Some(self.0.start >= self.0.end)
    }

    /// A plain sub-range, which the compiler turns into a counted (often vectorised) loop.
    #[inline(always)]
    fn chunk(&mut self, max: usize) -> StdRange<T> {
        let start = self.0.start;
        let end = start.advance_to(max, self.0.end.max(start));
        self.0.start = end;
        start..end
    }
}

impl<T: RangeInt> Publisher for Range<T>
where
    StdRange<T>: Iterator<Item = T>,
{
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        subscribe_pull(RangePull(self.range.clone()), subscriber)
    }
}

/// A cold source of the integers in `range`, in order, delivered against demand.
///
/// Any primitive integer type works (`0..10u8`, `-5..5i64`, ...). Reactor's `Flux.range(start, count)`
/// is `range(start..start + count)`. An empty range (`5..5`, `5..1`) completes at once.
///
/// # Demand
///
/// Emits exactly what is requested; completes right after the last item even if the demand is
/// exactly used up; with unbounded demand it hands the chain whole sub-ranges, so a fused synchronous
/// chain runs at close to the speed of the equivalent `Iterator` loop.
///
/// ```
/// let evens = backflow::range(0..10u64).filter(|x| x % 2 == 0).collect().unwrap();
/// assert_eq!(evens, vec![0, 2, 4, 6, 8]);
/// assert!(backflow::range(5..1i32).collect().unwrap().is_empty());
/// ```
pub fn range<T: RangeInt>(range: StdRange<T>) -> Flux<Range<T>>
where
    StdRange<T>: Iterator<Item = T>,
{
    Flux::new(Range { range })
}
