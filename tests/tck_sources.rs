//! The conformance verifier over every source: one test per rule per source.
//!
//! Adding a source is one line: `publisher_tck!(name, |n| source_of_n_items(n), options);`.

#[macro_use]
mod tck_common;

use std::sync::Arc;

use backflow::tck::PublisherOptions;
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
publisher_tck!(
    arc_range,
    |n| Arc::new(backflow::range(0..n)),
    sync(),
    skip [Spec1_04, Spec1_09Reject]
);
