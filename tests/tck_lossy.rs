//! The conformance verifier over the backpressure buffers: buffer (fused, unfused, threaded),
//! drop_oldest, drop_newest and buffer_with(Overflow::Error), each on top of `range`.

#[macro_use]
mod tck_common;

use backflow::prelude::*;
use backflow::tck::PublisherOptions;
use tck_common::{failing, Plain};

const CAP: usize = 4096;

fn sync<T: 'static>() -> PublisherOptions<T> {
    PublisherOptions::default().threaded(false)
}

publisher_tck!(
    buffer,
    |n| backflow::range(0..n).buffer(16),
    sync().failing_factory(|| failing::<u64>().buffer(16))
);
publisher_tck!(
    buffer_unfused,
    |n| Flux::new(Plain(backflow::range(0..n))).buffer(3),
    sync().failing_factory(|| Flux::new(Plain(failing::<u64>())).buffer(3))
);
publisher_tck!(
    buffer_threaded,
    |n| backflow::range(0..n).buffer(16),
    PublisherOptions::default().failing_factory(|| failing::<u64>().buffer(16))
);
publisher_tck!(
    drop_oldest,
    |n| backflow::range(0..n).drop_oldest(CAP),
    sync()
        .max_elements(CAP as u64)
        .failing_factory(|| failing::<u64>().drop_oldest(4))
);
publisher_tck!(
    drop_newest,
    |n| backflow::range(0..n).drop_newest(CAP),
    sync()
        .max_elements(CAP as u64)
        .failing_factory(|| failing::<u64>().drop_newest(4))
);
publisher_tck!(
    buffer_error,
    |n| backflow::range(0..n).buffer_with(CAP, Overflow::Error),
    sync()
        .max_elements(CAP as u64)
        .failing_factory(|| failing::<u64>().buffer_with(4, Overflow::Error))
);
publisher_tck!(
    drop_oldest_unfused,
    |n| Flux::new(Plain(backflow::range(0..n))).drop_oldest(CAP),
    sync()
        .max_elements(CAP as u64)
        .failing_factory(|| failing::<u64>().drop_oldest(4))
);
