//! [`range`]: the integers of a `Range`, on demand.

use std::ops::Range as StdRange;

use super::pull::{subscribe_pull, Pull};
use crate::error::Error;
use crate::protocol::Flux;
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
    ($($t:ty => $u:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl RangeInt for $t {
            #[inline(always)]
            fn advance_to(self, by: usize, end: Self) -> Self {
                // `end - self` fits the unsigned type of the same width (`self <= end`), so the
                // wrapping difference is the distance; no type here is wider than 64 bits. Native
                // width keeps this to a few instructions per run (i128 took a dozen more).
                let left = (end as $u).wrapping_sub(self as $u);
                if by as u64 >= left as u64 {
                    end
                } else {
                    // `by < left`, so `by` fits `$u` and the sum stays at most `end`.
                    (self as $u).wrapping_add(by as $u) as $t
                }
            }
        }
    )*};
}
range_int!(u8 => u8, u16 => u16, u32 => u32, u64 => u64, usize => usize,
    i8 => u8, i16 => u16, i32 => u32, i64 => u64, isize => usize);

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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::RangeInt;

    #[test]
    fn advance_to_stops_at_the_end_across_the_whole_width() {
        assert_eq!((-128i8).advance_to(5, 127), -123);
        assert_eq!((-128i8).advance_to(255, 127), 127);
        assert_eq!((-128i8).advance_to(usize::MAX, 127), 127);
        assert_eq!((-100i8).advance_to(200, 100), 100);
        assert_eq!((-100i8).advance_to(199, 100), 99);
        assert_eq!(i64::MIN.advance_to(usize::MAX, i64::MAX), i64::MAX);
        assert_eq!(i64::MIN.advance_to(1, i64::MAX), i64::MIN + 1);
        assert_eq!((u64::MAX - 3).advance_to(2, u64::MAX), u64::MAX - 1);
        assert_eq!((u64::MAX - 3).advance_to(3, u64::MAX), u64::MAX);
        assert_eq!(0u8.advance_to(1024, 255), 255);
        assert_eq!(7u32.advance_to(0, 7), 7);
        assert_eq!(7u32.advance_to(1, 7), 7);
        assert_eq!((-5isize).advance_to(3, 5), -2);
    }

    #[test]
    fn full_width_ranges_deliver_every_item() {
        let all = crate::range(i8::MIN..i8::MAX).collect().unwrap();
        assert_eq!(all, (i8::MIN..i8::MAX).collect::<Vec<_>>());
        let n = crate::range(0..100_000u32)
            .fold_with(crate::sink::Request::Batch(7), 0u64, |n, _| n + 1)
            .unwrap();
        assert_eq!(n, 100_000);
    }
}
