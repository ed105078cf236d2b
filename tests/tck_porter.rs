//! The conformance verifier over the porter-parity operators (issue 10), on top of `range`.

#[macro_use]
mod tck_common;

use backflow::prelude::*;
use backflow::tck::PublisherOptions;
use tck_common::failing;

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

fn boom() -> Error {
    Error::msg("tck: upstream failed")
}

// ---- error recovery ----

// Half the items from the upstream, the rest from the fallback after the error.
publisher_tck!(
    on_error_resume,
    |n| {
        let half = n / 2;
        backflow::range(0..half)
            .concat_with(backflow::error(boom()))
            .on_error_resume(move |_| backflow::range(half..n))
    },
    sync().failing_factory(|| failing::<u64>().on_error_resume(backflow::error))
);
publisher_tck!(
    on_error_resume_clean,
    |n| backflow::range(0..n).on_error_resume(|_| backflow::empty()),
    sync().failing_factory(|| failing::<u64>().on_error_resume(backflow::error))
);
// n - 1 items, the error, and the replacement item; n = 0 has no room for the error.
publisher_tck!(
    on_error_return,
    |n| if n == 0 {
        backflow::empty().on_error_return(|_| 0).boxed()
    } else {
        backflow::range(0..n - 1)
            .concat_with(backflow::error(boom()))
            .on_error_return(move |_| n - 1)
            .boxed()
    },
    // Its own failure: the replacement function panics.
    sync().failing_factory(|| failing::<u64>().on_error_return(|_| panic!("tck: no replacement")))
);
publisher_tck!(
    on_error_map,
    |n| backflow::range(0..n).on_error_map(|e| e),
    sync().failing_factory(|| failing::<u64>().on_error_map(|e| e))
);
publisher_tck!(
    on_error_complete,
    |n| backflow::range(0..n)
        .concat_with(backflow::error(boom()))
        .on_error_complete(),
    sync().failing_factory(|| failing::<u64>()
        .on_error_complete()
        .concat_with(backflow::error(boom())))
);

// ---- time ----

// 3n items in chunks of 3: n chunks. The timer (an hour) never fires within a run.
publisher_tck!(
    chunks_timeout,
    |n| backflow::range(0..3 * n).chunks_timeout(3, std::time::Duration::from_secs(3600)),
    sync().failing_factory(
        || failing::<u64>().chunks_timeout(3, std::time::Duration::from_secs(3600))
    )
);

// ---- lifecycle ----

publisher_tck!(
    do_on_hooks,
    |n| backflow::range(0..n)
        .do_on_subscribe(|_| {})
        .do_on_request(|_| {})
        .do_on_cancel(|| {})
        .do_on_error(|_| {})
        .do_on_complete(|| {}),
    sync().failing_factory(|| failing::<u64>().do_on_error(|_| {}).do_on_complete(|| {}))
);
publisher_tck!(
    do_finally,
    |n| backflow::range(0..n).do_finally(|_| {}),
    sync().failing_factory(|| failing::<u64>().do_finally(|_| {}))
);
publisher_tck!(
    defer,
    |n| backflow::defer(move || backflow::range(0..n)),
    sync().failing_factory(|| backflow::defer(failing::<u64>))
);
publisher_tck!(
    using,
    |n| backflow::using(|| (), move |_| backflow::range(0..n), |_| {}),
    sync().failing_factory(|| backflow::using(|| (), |_| failing::<u64>(), |_| {}))
);

// ---- picking, filtering, aggregating ----

publisher_tck!(
    take_until,
    |n| backflow::range(0..n).take_until(backflow::never::<()>()),
    sync().failing_factory(|| failing::<u64>().take_until(backflow::never::<()>()))
);
publisher_tck!(
    skip_until,
    |n| backflow::range(0..n).skip_until(backflow::just(())),
    sync().failing_factory(|| failing::<u64>().skip_until(backflow::just(())))
);
publisher_tck!(
    take_last,
    |n| backflow::range(0..n + 7).take_last(n as usize),
    sync().failing_factory(|| failing::<u64>().take_last(3))
);
publisher_tck!(
    skip_last,
    |n| backflow::range(0..n + 3).skip_last(3),
    sync().failing_factory(|| failing::<u64>().skip_last(3))
);
publisher_tck!(
    default_if_empty,
    // One item: the default of an empty upstream. No run of default_if_empty is ever empty, so
    // rule 1.05-empty (n = 0) runs on a plain empty source.
    |n| match n {
        0 => backflow::empty().boxed(),
        1 => backflow::empty().default_if_empty(0).boxed(),
        _ => backflow::range(0..n).default_if_empty(0).boxed(),
    },
    sync().failing_factory(|| failing::<u64>().default_if_empty(0))
);
publisher_tck!(
    switch_if_empty,
    |n| backflow::empty().switch_if_empty(backflow::range(0..n)),
    sync().failing_factory(|| failing::<u64>().switch_if_empty(backflow::range(0..3)))
);
publisher_tck!(
    distinct,
    |n| backflow::range(0..2 * n).map(|x| x / 2).distinct(),
    sync().failing_factory(|| failing::<u64>().distinct())
);
publisher_tck!(
    distinct_within,
    |n| backflow::range(0..2 * n).map(|x| x / 2).distinct_within(1),
    sync().failing_factory(|| failing::<u64>().distinct_within(4))
);
publisher_tck!(
    then,
    |n| backflow::range(0..5u64).then(backflow::range(0..n)),
    sync().failing_factory(|| failing::<u64>().then(backflow::range(0..3)))
);

// ---- time (these run their timers on the default pool: threaded) ----

publisher_tck!(
    timestamp,
    |n| backflow::range(0..n).timestamp(),
    sync().failing_factory(|| failing::<u64>().timestamp())
);
publisher_tck!(
    elapsed,
    |n| backflow::range(0..n).elapsed(),
    sync().failing_factory(|| failing::<u64>().elapsed())
);
publisher_tck!(
    delay,
    |n| backflow::range(0..n).delay(std::time::Duration::from_millis(1)),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().delay(std::time::Duration::from_millis(1)))
);
publisher_tck!(
    delay_subscription,
    |n| backflow::range(0..n).delay_subscription(std::time::Duration::from_millis(1)),
    PublisherOptions::default().failing_factory(
        || failing::<u64>().delay_subscription(std::time::Duration::from_millis(1))
    )
);
publisher_tck!(
    timeout_with,
    |n| backflow::range(0..n).timeout_with(std::time::Duration::from_secs(3600), backflow::empty()),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>()
            .timeout_with(std::time::Duration::from_secs(3600), backflow::empty()))
);

// ---- grouping ----

// The groups themselves, as the downstream of group_by sees them: n keys, n groups (never
// subscribed; each holds its one item, well within the limits).
publisher_tck!(
    group_by_groups,
    |n| backflow::range(0..n).group_by_with(|x| *x, 512, 512),
    sync()
        .max_elements(200)
        .failing_factory(|| failing::<u64>().group_by(|x| *x))
);
publisher_tck!(
    group_by_flat_map,
    |n| backflow::range(0..n).group_by(|x| x % 3).flat_map(|g| g),
    sync().failing_factory(|| failing::<u64>().group_by(|x| x % 3).flat_map(|g| g))
);
publisher_tck!(
    window,
    |n| backflow::range(0..3 * n)
        .window(3)
        .concat_map(|w| w.count()),
    sync().failing_factory(|| failing::<u64>().window(3).concat_map(|w| w.count()))
);

// ---- replay: multicast (every subscriber gets the run) ----
publisher_tck!(
    replay,
    |n| backflow::range(0..n).replay(1024),
    sync()
        .max_elements(1024)
        .failing_factory(|| failing::<u64>().replay(4))
);
publisher_tck!(
    window_timeout,
    |n| backflow::range(0..2 * n)
        .window_timeout(2, std::time::Duration::from_secs(3600))
        .concat_map(|w| w.count()),
    sync().failing_factory(|| failing::<u64>()
        .window_timeout(2, std::time::Duration::from_secs(3600))
        .concat_map(|w| w.count()))
);
