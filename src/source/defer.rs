//! [`defer`]: builds the publisher anew for each subscriber.

use crate::protocol::Flux;
use crate::protocol::{catch, reject, Publisher, Subscriber};
use crate::sync::StdArc;

/// The publisher behind [`defer`].
#[derive(Debug)]
pub struct Defer<F> {
    make: StdArc<F>,
}

impl<F> Clone for Defer<F> {
    fn clone(&self) -> Self {
        Defer {
            make: self.make.clone(),
        }
    }
}

impl<F, Q> Publisher for Defer<F>
where
    F: Fn() -> Q + Send + Sync + 'static,
    Q: Publisher,
{
    type Item = Q::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<Q::Item> + 'static,
    {
        match catch("defer's factory", || (self.make)()) {
            Ok(publisher) => publisher.subscribe(subscriber),
            Err(panic) => reject(&mut subscriber, panic),
        }
    }
}

/// A source that calls `make` at each subscription and subscribes to the publisher it returns:
/// state captured at subscription time instead of at assembly time (a fresh timestamp, a new
/// connection, a counter).
///
/// Reactor: `Flux.defer`; RxJava: `Flowable.defer`; Akka: `Source.lazySource`. For Reactor's
/// `create` / `push` (a callback or producer thread feeding the stream) use
/// [`emitter`](crate::emitter): it covers them, with backpressure that hands an item back when it is
/// not taken. For a pull callback (Reactor's `generate`) use [`generate`](crate::generate).
///
/// # Demand
///
/// That of the publisher `make` returns; `defer` adds nothing. A panic in `make` rejects the
/// subscriber (`on_subscribe`, then `on_error` with [`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// let runs = Arc::new(AtomicU32::new(0));
/// let r = runs.clone();
/// let numbered = backflow::defer(move || {
///     let run = r.fetch_add(1, Ordering::SeqCst);
///     backflow::range(0..2u32).map(move |x| (run, x))
/// });
/// assert_eq!(numbered.clone().collect().unwrap(), vec![(0, 0), (0, 1)]);
/// assert_eq!(numbered.collect().unwrap(), vec![(1, 0), (1, 1)]);
/// ```
#[doc(alias = "lazySource")]
#[doc(alias = "lazy")]
pub fn defer<F, Q>(make: F) -> Flux<Defer<F>>
where
    F: Fn() -> Q + Send + Sync + 'static,
    Q: Publisher,
{
    Flux::new(Defer {
        make: StdArc::new(make),
    })
}
