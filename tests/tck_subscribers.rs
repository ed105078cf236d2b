//! The conformance verifier over the crate's subscribers: the blocking sinks and `TestSubscriber`.
//!
//! Adding a subscriber is one line: `subscriber_tck!(name, || make_subscriber(), options);`.

#[macro_use]
mod tck_common;

use std::sync::{mpsc, Arc, Mutex};

use backflow::prelude::*;
use backflow::tck::SubscriberOptions;

fn items() -> SubscriberOptions<u64> {
    SubscriberOptions::new(|n| n)
}

/// A publisher that hands the subscriber it is given to the test instead of driving it.
struct Capture(mpsc::Sender<Box<dyn Subscriber<u64>>>);

impl Publisher for Capture {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        self.0.send(Box::new(subscriber)).unwrap();
    }
}

/// The subscriber behind a blocking sink: the sink runs on a thread of its own, blocked until the
/// verifier ends the run (a terminal signal, or dropping the subscriber).
fn blocking_sink(run: impl FnOnce(Flux<Capture>) + Send + 'static) -> Box<dyn Subscriber<u64>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || run(Flux::new(Capture(tx))));
    rx.recv().unwrap()
}

subscriber_tck!(
    fold_batch_of_8,
    || blocking_sink(|flux| {
        let _ = flux.fold_with(Request::Batch(8), 0u64, |a, x| a.wrapping_add(x));
    }),
    items(),
    skip[Spec2_08]
);
subscriber_tck!(
    collect_unbounded,
    || blocking_sink(|flux| {
        let _ = flux.collect_with(Request::Unbounded);
    }),
    items(),
    skip [Spec2_08, Spec3_08]
);
subscriber_tck!(
    for_each_default_batch,
    || blocking_sink(|flux| {
        let _ = flux.for_each(drop);
    }),
    items(),
    skip[Spec2_08]
);
// The pull-side bridges, drained by a consumer thread as fast as items come.
subscriber_tck!(
    into_blocking_iter,
    || blocking_sink(|flux| flux.into_blocking_iter_with(8).for_each(drop)),
    items(),
    skip[Spec2_08]
);
subscriber_tck!(
    into_stream,
    || blocking_sink(|flux| {
        futures::executor::block_on_stream(flux.into_stream_with(8)).for_each(drop)
    }),
    items(),
    skip[Spec2_08]
);

/// The subscriber behind `subscribe_with`, which returns at once with a `Disposable`.
fn lambda_sink(
    subscribe: impl FnOnce(Flux<Capture>) -> backflow::sink::Disposable,
) -> (Box<dyn Subscriber<u64>>, backflow::sink::Disposable) {
    let (tx, rx) = mpsc::channel();
    let disposable = subscribe(Flux::new(Capture(tx)));
    (rx.recv().unwrap(), disposable)
}

subscriber_tck!(
    subscribe_with,
    || lambda_sink(|flux| flux.subscribe_with(drop, drop, || {})).0,
    items(),
    skip[Spec2_08]
);
// Cancelled through its Disposable from inside the third on_next.
subscriber_tck!(
    subscribe_with_disposed,
    || {
        let handle: Arc<Mutex<Option<backflow::sink::Disposable>>> = Arc::default();
        let slot = handle.clone();
        let mut seen = 0;
        let (subscriber, disposable) = lambda_sink(move |flux| {
            flux.subscribe_with_request(
                Request::Batch(10),
                move |_| {
                    seen += 1;
                    if seen == 3 {
                        if let Some(d) = slot.lock().unwrap().as_ref() {
                            d.cancel()
                        }
                    }
                },
                drop,
                || {},
            )
        });
        *handle.lock().unwrap() = Some(disposable);
        subscriber
    },
    items(),
    skip[Spec3_08]
);
subscriber_tck!(
    test_subscriber_unbounded,
    || TestSubscriber::<u64>::new(u64::MAX).0,
    items(),
    skip [Spec2_08, Spec3_08]
);
subscriber_tck!(
    test_subscriber_one_by_one,
    || TestSubscriber::<u64>::builder()
        .initial_request(1)
        .request_after_each(1)
        .build()
        .0,
    items(),
    skip[Spec2_08]
);
subscriber_tck!(
    test_subscriber_cancelling,
    || TestSubscriber::<u64>::builder()
        .initial_request(10)
        .cancel_after(3)
        .build()
        .0,
    items(),
    skip[Spec3_08]
);
subscriber_tck!(
    test_subscriber_cancelling_one_by_one,
    || TestSubscriber::<u64>::builder()
        .initial_request(2)
        .request_after_each(1)
        .cancel_after(5)
        .build()
        .0,
    items()
);
