//! The conformance verifier over every operator, on top of `range`: one test per rule per chain.
//!
//! Adding an operator is one line: `publisher_tck!(name, |n| chain_of_n_items(n), options);`.

#[macro_use]
mod tck_common;

use backflow::prelude::*;
use backflow::tck::PublisherOptions;
use tck_common::{failing, Plain};

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

publisher_tck!(
    map,
    |n| backflow::range(0..n).map(|x| x * 2),
    sync().failing_factory(|| failing::<u64>().map(|x| x * 2))
);
publisher_tck!(
    map_to_string,
    |n| backflow::range(0..n).map(|x| x.to_string()),
    sync().failing_factory(|| failing::<u64>().map(|x| x.to_string()))
);
publisher_tck!(
    filter,
    |n| backflow::range(0..2 * n).filter(|x| x % 2 == 0),
    sync().failing_factory(|| failing::<u64>().filter(|x| x % 2 == 0))
);
// Items reach the filter through plain on_next: it replenishes each discard with request(1).
publisher_tck!(
    filter_unfused,
    |n| Flux::new(Plain(backflow::range(0..2 * n))).filter(|x| x % 2 == 1),
    sync().failing_factory(|| Flux::new(Plain(failing::<u64>())).filter(|x| x % 2 == 1))
);
publisher_tck!(
    map_filter_map,
    |n| backflow::range(1..3 * n + 1)
        .map(|x| x * 10)
        .filter(|x| x % 30 == 0)
        .map(|x| x / 30),
    sync().failing_factory(|| failing::<u64>().map(|x| x * 10).filter(|x| x % 30 == 0))
);
publisher_tck!(
    boxed_filter,
    |n| backflow::range(0..3 * n).filter(|x| x % 3 == 0).boxed(),
    sync().failing_factory(|| failing::<u64>().filter(|x| x % 3 == 0).boxed())
);
publisher_tck!(
    try_map,
    |n| backflow::range(0..n).try_map(|x| Ok(x + 1)),
    sync().failing_factory(|| failing::<u64>().try_map(Ok))
);
publisher_tck!(
    filter_map,
    |n| backflow::range(0..2 * n).filter_map(|x| (x % 2 == 0).then_some(x / 2)),
    sync().failing_factory(|| failing::<u64>().filter_map(Some))
);
publisher_tck!(
    filter_map_unfused,
    |n| Flux::new(Plain(backflow::range(0..2 * n))).filter_map(|x| (x % 2 == 1).then_some(x)),
    sync().failing_factory(|| Flux::new(Plain(failing::<u64>())).filter_map(Some))
);
publisher_tck!(
    inspect,
    |n| backflow::range(0..n).inspect(|x| assert!(*x < u64::MAX)),
    sync().failing_factory(|| failing::<u64>().inspect(|_| {}))
);
publisher_tck!(
    take,
    |n| backflow::range(0..n + 5).take(n),
    sync().failing_factory(|| failing::<u64>().take(3))
);
publisher_tck!(
    take_of_endless,
    |n| backflow::range(0..u64::MAX).take(n),
    sync().failing_factory(|| failing::<u64>().take(3))
);
// Where n = 0 the upstream is empty too: a run whose items are all discarded can only end once
// they were pulled, which takes demand (as in Reactor).
fn upstream(n: u64, extra: u64) -> Flux<backflow::source::Range<u64>> {
    backflow::range(0..if n == 0 { 0 } else { n + extra })
}

publisher_tck!(
    skip,
    |n| upstream(n, 3).skip(3),
    sync().failing_factory(|| failing::<u64>().skip(3))
);
publisher_tck!(
    skip_unfused,
    |n| Flux::new(Plain(upstream(n, 3))).skip(3),
    sync().failing_factory(|| Flux::new(Plain(failing::<u64>())).skip(3))
);
// Known gap (rule 3.9): take_while hands the upstream subscription straight down, so it cannot see
// a request(0); when its predicate ends the stream inside the run the source delivers before it
// answers the request(0), the downstream gets on_complete and the error goes to the error hook.
publisher_tck!(
    take_while,
    |n| upstream(n, n + 1).take_while(move |x| *x < n),
    sync().failing_factory(|| failing::<u64>().take_while(|_| true)),
    deviates[Spec3_09]
);
publisher_tck!(
    skip_while,
    |n| upstream(n, 3).skip_while(|x| *x < 3),
    sync().failing_factory(|| failing::<u64>().skip_while(|_| true))
);
// The seed comes first, so n - 1 upstream items make n; and never empty. An upstream error waits
// for the seed to go down, which takes demand.
publisher_tck!(
    scan,
    |n| backflow::range(0..n - 1).scan(0u64, |acc, x| acc + x),
    sync()
        .min_elements(1)
        .failing_factory(|| failing::<u64>().scan(0u64, |acc, x| acc + x))
        .failing_needs_demand(true),
    skip [Spec1_05Empty, Spec1_09Reject]
);
publisher_tck!(
    distinct_until_changed,
    |n| backflow::range(0..2 * n)
        .map(|x| x / 2)
        .distinct_until_changed(),
    sync().failing_factory(|| failing::<u64>().distinct_until_changed())
);
publisher_tck!(
    chunks,
    |n| backflow::range(0..2 * n).chunks(2),
    sync().failing_factory(|| failing::<u64>().chunks(2))
);
publisher_tck!(
    chunks_with_a_short_last_one,
    |n| backflow::range(0..(3 * n).saturating_sub(1)).chunks(3),
    sync().failing_factory(|| failing::<u64>().chunks(3))
);
// One item at most: the sum, or nothing from an empty upstream.
publisher_tck!(
    reduce,
    |n| backflow::range(0..3 * n).reduce(|a, b| a + b),
    sync().max_elements(1).failing_factory(|| failing::<u64>().reduce(|a, b| a + b)),
    skip [
        Spec1_03, Spec2_13, Spec3_03, Spec3_05, Spec3_06, Spec3_07, Spec3_12, Spec3_13, Spec3_17,
        Spec3_17Sum, Spec3_17Many,
    ]
);
// Always exactly one item.
publisher_tck!(
    count,
    |_| backflow::range(0..5u64).count(),
    sync().min_elements(1).max_elements(1).failing_factory(|| failing::<u64>().count()),
    skip [
        Spec1_03, Spec1_05Empty, Spec2_13, Spec3_03, Spec3_05, Spec3_06, Spec3_07, Spec3_12,
        Spec3_13, Spec3_17, Spec3_17Sum, Spec3_17Many,
    ]
);
publisher_tck!(
    concat_with,
    |n| backflow::range(0..n / 2).concat_with(backflow::range(n / 2..n)),
    sync().failing_factory(|| failing::<u64>().concat_with(backflow::range(0..3)))
);
publisher_tck!(
    start_with,
    |n| backflow::range(n.min(2)..n).start_with((0..n.min(2)).collect::<Vec<u64>>()),
    sync().failing_factory(|| failing::<u64>().start_with(Vec::new()))
);

// ---- graphs (issue 5) ----
publisher_tck!(
    merge_two,
    |n| backflow::merge(vec![backflow::range(0..n / 2), backflow::range(n / 2..n)]),
    PublisherOptions::default()
        .failing_factory(|| backflow::merge(vec![failing::<u64>(), failing::<u64>()]))
);
publisher_tck!(
    merge_with_map,
    |n| backflow::range(0..n)
        .map(|x| x + 1)
        .merge_with(backflow::range(0..0u64).map(|x| x + 1)),
    PublisherOptions::default().failing_factory(|| failing::<u64>()
        .map(|x| x + 1)
        .merge_with(backflow::range(0..3u64).map(|x| x + 1)))
);
publisher_tck!(
    zip_pairs,
    |n| backflow::zip(backflow::range(0..n), backflow::range(0..n + 5)),
    PublisherOptions::default()
        .failing_factory(|| backflow::zip(failing::<u64>(), backflow::range(0..10u64)))
);
publisher_tck!(
    zip_all_three,
    |n| backflow::zip_all(vec![
        backflow::range(0..n),
        backflow::range(1..n + 1),
        backflow::range(2..n + 2)
    ]),
    PublisherOptions::default()
        .failing_factory(|| backflow::zip_all(vec![failing::<u64>(), failing::<u64>()]))
);
publisher_tck!(
    concat_with_empty_and_range,
    |n| backflow::range(0..0u64).concat_with(backflow::range(0..n)),
    sync().failing_factory(|| failing::<u64>().concat_with(backflow::range(0..3u64)))
);
publisher_tck!(
    share_connects_per_run,
    |n| backflow::range(0..n).share(),
    PublisherOptions::default().failing_factory(|| failing::<u64>().share())
);

// ---- thread boundary (issue 3): signals cross threads, rule 1.03 across threads included ----
/// One shared two-thread pool: schedulers are cheap handles, and the suites run in parallel.
fn pool() -> backflow::sched::Pool {
    static POOL: std::sync::OnceLock<backflow::sched::Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| backflow::sched::pool(2)).clone()
}
publisher_tck!(
    publish_on_pool,
    |n| backflow::range(0..n).publish_on(pool()),
    PublisherOptions::default().failing_factory(|| failing::<u64>().publish_on(pool()))
);
publisher_tck!(
    publish_on_prefetch_2,
    |n| backflow::range(0..n).publish_on(pool()).prefetch(2),
    PublisherOptions::default().failing_factory(|| failing::<u64>().publish_on(pool()).prefetch(2))
);
publisher_tck!(
    subscribe_on_pool,
    |n| backflow::range(0..n).subscribe_on(pool()),
    PublisherOptions::default().failing_factory(|| failing::<u64>().subscribe_on(pool()))
);
publisher_tck!(
    subscribe_on_then_publish_on,
    |n| backflow::range(0..n)
        .subscribe_on(pool())
        .map(|x| x + 1)
        .publish_on(pool()),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().subscribe_on(pool()).publish_on(pool()))
);
publisher_tck!(
    merge_of_publish_on_inputs,
    |n| backflow::merge(vec![
        backflow::range(0..n / 2).publish_on(pool()).boxed(),
        backflow::range(n / 2..n).publish_on(pool()).boxed()
    ]),
    PublisherOptions::default()
        .failing_factory(|| backflow::merge(vec![failing::<u64>().publish_on(pool())]))
);

// ---- timed and batching operators (issue 4), with rates and limits that never bind ----
publisher_tck!(
    chunks_of_three,
    |n| backflow::range(0..3 * n).chunks(3),
    sync().failing_factory(|| failing::<u64>().chunks(3))
);
publisher_tck!(
    throttle_unbinding,
    |n| backflow::range(0..n).throttle(1_000_000_000, std::time::Duration::from_secs(1)),
    PublisherOptions::default().failing_factory(
        || failing::<u64>().throttle(1_000_000_000, std::time::Duration::from_secs(1))
    )
);
publisher_tck!(
    timeout_unbinding,
    |n| backflow::range(0..n).timeout(std::time::Duration::from_secs(3600)),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().timeout(std::time::Duration::from_secs(3600)))
);
publisher_tck!(
    combine_latest_with_a_constant,
    |n| backflow::combine_latest(backflow::just(10u64), backflow::range(0..n), |a, b| a + b),
    PublisherOptions::default().failing_factory(|| backflow::combine_latest(
        backflow::just(1u64),
        failing::<u64>(),
        |a, b| a + b
    ))
);
