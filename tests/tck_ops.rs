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
