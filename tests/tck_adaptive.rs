//! The conformance verifier over `concurrent_map` / `concurrent_map_ordered` (resilience): exactly
//! `n` results for `n` items, synchronous calls and calls on a pool.

#[macro_use]
mod tck_common;

use backflow::resilience::limit::{Aimd, Fixed, Limiter};
use backflow::tck::PublisherOptions;
use tck_common::failing;

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

publisher_tck!(
    concurrent_map,
    |n| backflow::range(0..n).concurrent_map(Limiter::new(Fixed::new(4)), |x| backflow::just(
        Ok::<_, ()>(x)
    )),
    sync().failing_factory(
        || failing::<u64>().concurrent_map(Limiter::new(Fixed::new(4)), |x| backflow::just(Ok::<
            _,
            (),
        >(
            x
        )))
    )
);
publisher_tck!(
    concurrent_map_ordered_aimd,
    |n| backflow::range(0..n)
        .concurrent_map_ordered(Limiter::new(Aimd::new(3).min_limit(1)), |x| {
            backflow::just(Ok::<_, ()>(x))
        }),
    sync().failing_factory(|| failing::<u64>()
        .concurrent_map_ordered(Limiter::new(Fixed::new(2)), |x| backflow::just(
            Ok::<_, ()>(x)
        )))
);
publisher_tck!(
    concurrent_map_on_pool,
    |n| {
        let pool = backflow::sched::pool(2);
        backflow::range(0..n).concurrent_map(Limiter::new(Fixed::new(8)), move |x| {
            backflow::just(Ok::<_, ()>(x)).subscribe_on(pool.clone())
        })
    },
    PublisherOptions::default().failing_factory(|| failing::<u64>()
        .concurrent_map(Limiter::new(Fixed::new(8)), |x| backflow::just(
            Ok::<_, ()>(x)
        )))
);
