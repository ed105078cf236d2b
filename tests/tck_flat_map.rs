//! The conformance verifier over `flat_map`, `concat_map` and `switch_map`: one test per rule per
//! chain, with synchronous inners and with inners on a pool (`publish_on`).

#[macro_use]
mod tck_common;

use backflow::tck::PublisherOptions;
use tck_common::failing;

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}
fn pool() -> backflow::sched::Pool {
    static POOL: std::sync::OnceLock<backflow::sched::Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| backflow::sched::pool(2)).clone()
}

publisher_tck!(
    flat_map_just,
    |n| backflow::range(0..n).flat_map(backflow::just),
    sync().failing_factory(|| failing::<u64>().flat_map(backflow::just))
);
publisher_tck!(
    flat_map_one_inner,
    |n| backflow::just(0u64).flat_map_with(move |_| backflow::range(0..n), 2, 2),
    sync().failing_factory(|| backflow::just(0u64).flat_map(|_| failing::<u64>()))
);
publisher_tck!(
    flat_map_threaded_inners,
    |n| backflow::range(0..n).flat_map_with(|x| backflow::just(x).publish_on(pool()), 4, 2),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().flat_map(|x| backflow::just(x).publish_on(pool())))
);
publisher_tck!(
    concat_map_just,
    |n| backflow::range(0..n).concat_map(backflow::just),
    sync().failing_factory(|| failing::<u64>().concat_map(backflow::just))
);
publisher_tck!(
    concat_map_threaded_inners,
    |n| backflow::range(0..n).concat_map(|x| backflow::just(x).publish_on(pool())),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().concat_map(|x| backflow::just(x).publish_on(pool())))
);
publisher_tck!(
    switch_map_one_inner,
    |n| backflow::just(0u64).switch_map(move |_| backflow::range(0..n)),
    sync().failing_factory(|| failing::<u64>().switch_map(backflow::just))
);
publisher_tck!(
    switch_map_threaded_inner,
    |n| backflow::just(0u64).switch_map(move |_| backflow::range(0..n).publish_on(pool())),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().switch_map(|x| backflow::just(x).publish_on(pool())))
);
