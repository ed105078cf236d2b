//! The conformance verifier over stages that run on a tokio runtime: `publish_on(Tokio)`,
//! `subscribe_on(Tokio)`, both, and a blocking `Tokio` scheduler; one test per rule per chain, on a
//! multi-thread runtime that outlives the checks (each rule runs on a thread of its own, outside it).

#[macro_use]
mod tck_common;

use std::sync::OnceLock;

use backflow::sched::Tokio;
use backflow::tck::PublisherOptions;
use tck_common::failing;

fn tokio() -> Tokio {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });
    Tokio::new(runtime.handle().clone())
}

publisher_tck!(
    publish_on_tokio,
    |n| backflow::range(0..n).publish_on(tokio()),
    PublisherOptions::default().failing_factory(|| failing::<u64>().publish_on(tokio()))
);

publisher_tck!(
    publish_on_tokio_prefetch_2,
    |n| backflow::range(0..n).publish_on(tokio()).prefetch(2),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().publish_on(tokio()).prefetch(2))
);

publisher_tck!(
    subscribe_on_then_publish_on_tokio,
    |n| backflow::range(0..n)
        .subscribe_on(tokio())
        .map(|x| x + 1)
        .publish_on(tokio()),
    PublisherOptions::default()
        .failing_factory(|| failing::<u64>().subscribe_on(tokio()).publish_on(tokio()))
);

publisher_tck!(
    publish_on_blocking_tokio,
    |n| backflow::range(0..n).publish_on(tokio().blocking()),
    PublisherOptions::default().failing_factory(|| failing::<u64>().publish_on(tokio().blocking()))
);
