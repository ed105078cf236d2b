//! The conformance verifier over every source: one test per rule per source.
//!
//! Adding a source is one line: `publisher_tck!(name, |n| source_of_n_items(n), options);`.

#[macro_use]
mod tck_common;

use std::sync::Arc;

use backflow::tck::PublisherOptions;
use backflow::Error;
use tck_common::failing;

/// Options for the crate's synchronous sources: they signal only inside subscribe/request/cancel.
fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

publisher_tck!(
    range_u64,
    |n| backflow::range(0..n),
    sync().failing_factory(failing::<u64>)
);
publisher_tck!(
    range_i64_negative_start,
    |n| backflow::range(-7..n as i64 - 7),
    sync().failing_factory(failing::<i64>)
);
publisher_tck!(
    range_u8,
    |n| backflow::range(0..n as u8),
    sync().max_elements(255).failing_factory(failing::<u8>)
);
publisher_tck!(
    from_iter_vec,
    |n| backflow::from_iter((0..n).collect::<Vec<u64>>()),
    sync().failing_factory(failing::<u64>)
);
publisher_tck!(
    from_iter_strings,
    |n| backflow::from_iter((0..n).map(|i| format!("item {i}")).collect::<Vec<_>>()),
    sync().failing_factory(failing::<String>)
);
publisher_tck!(
    boxed_range,
    |n| backflow::range(0..n).boxed(),
    sync().failing_factory(|| failing::<u64>().boxed())
);
// A single item: the rules that need two or more cannot be checked.
publisher_tck!(
    just,
    |_| backflow::just(7u64),
    sync().min_elements(1).max_elements(1).failing_factory(failing::<u64>),
    skip [
        Spec1_03, Spec1_05Empty, Spec2_13, Spec3_03, Spec3_05, Spec3_06, Spec3_07, Spec3_12,
        Spec3_13, Spec3_17, Spec3_17Sum, Spec3_17Many,
    ]
);
// No item: only the rules about terminal signals apply.
publisher_tck!(
    empty,
    |_| backflow::empty::<u64>(),
    sync().max_elements(0).failing_factory(|| backflow::error::<u64>(Error::msg("tck"))),
    skip [
        Spec1_01, Spec1_03, Spec1_05, Spec2_13, Spec3_02, Spec3_03, Spec3_05, Spec3_06, Spec3_07,
        Spec3_09, Spec3_12, Spec3_13, Spec3_17, Spec3_17Sum, Spec3_17Many,
    ]
);
// generate and the Stream bridges never run user code ahead of demand (their documented
// contract), so an empty one completes on the first request, not at once as SEMANTICS 1.05 asks.
publisher_tck!(
    generate,
    |n| backflow::generate(0u64, move |i| {
        let item = *i;
        *i += 1;
        (item < n).then_some(Ok(item))
    }),
    sync().failing_factory(|| backflow::error::<u64>(Error::msg("tck"))),
    deviates[Spec1_05Empty]
);
publisher_tck!(
    concat,
    |n| backflow::concat(vec![backflow::range(0..n / 2), backflow::range(n / 2..n)]),
    sync().failing_factory(|| backflow::concat(vec![failing::<u64>()]))
);
// Runs of zero and one item, so most steps of the concat hop from one source to the next.
publisher_tck!(
    concat_of_short_runs,
    |n| backflow::concat((0..2 * n).map(|i| backflow::range(i / 2..i / 2 + i % 2))),
    sync().failing_factory(|| backflow::concat(vec![
        backflow::empty().boxed(),
        failing::<u64>().boxed()
    ]))
);
publisher_tck!(
    from_stream_with,
    |n| backflow::from_stream_with(move || futures::stream::iter(0..n)),
    sync().failing_factory(|| backflow::error::<u64>(Error::msg("tck"))),
    deviates[Spec1_05Empty]
);
// A stream can be consumed once: later subscribers are rejected.
publisher_tck!(
    from_stream,
    |n| backflow::from_stream(futures::stream::iter(0..n)),
    sync()
        .single_subscriber(true)
        .failing_factory(|| backflow::error::<u64>(Error::msg("tck"))),
    deviates[Spec1_05Empty]
);
publisher_tck!(
    arc_range,
    |n| Arc::new(backflow::range(0..n)),
    sync(),
    skip [Spec1_04, Spec1_09Reject]
);
