//! `into_blocking_iter` / `IntoIterator` and `into_stream`: bounded prefetch, errors, cancel on drop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use backflow::prelude::*;
use futures::StreamExt;
use futures_core::Stream;

#[test]
fn for_loop_over_a_flux() {
    let mut seen = Vec::new();
    for item in backflow::range(0..1000u32).filter(|x| x % 7 == 0) {
        seen.push(item.unwrap());
    }
    assert_eq!(seen, (0..1000).filter(|x| x % 7 == 0).collect::<Vec<_>>());
}

#[test]
fn every_prefetch_delivers_everything_in_order() {
    for prefetch in [1usize, 2, 3, 16, 1000] {
        let got: Vec<u32> = backflow::range(0..500u32)
            .into_blocking_iter_with(prefetch)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, (0..500).collect::<Vec<_>>(), "prefetch {prefetch}");
    }
}

#[test]
fn the_error_comes_last_and_once() {
    let items: Vec<Result<u32, Error>> = backflow::range(0..5u32)
        .map(|x| if x == 3 { panic!("three") } else { x })
        .into_blocking_iter()
        .collect();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[..3]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(items[3].as_ref().unwrap_err().kind(), ErrorKind::Panicked);
}

/// Counts how many items the upstream produced, so a test can see demand stop.
fn counted(
    n: u64,
) -> (
    Flux<impl Publisher<Item = u64> + Send + Sync>,
    Arc<AtomicU64>,
) {
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    (
        backflow::range(0..n).map(move |x| {
            p.fetch_add(1, Ordering::SeqCst);
            x
        }),
        produced,
    )
}

#[test]
fn the_iterator_prefetches_a_bounded_amount() {
    let (flux, produced) = counted(1_000_000);
    let mut it = flux.into_blocking_iter_with(8);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert!(
        produced.load(Ordering::SeqCst) <= 8 + 6,
        "{}",
        produced.load(Ordering::SeqCst)
    );
    drop(it);
    let after = produced.load(Ordering::SeqCst);
    assert!(after < 100, "dropping the iterator cancels: {after}");
}

struct CountingWaker(AtomicU64);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A hot publisher driven by a test thread: pushes `n` items as fast as demand allows.
fn threaded_source(n: u64) -> Flux<impl Publisher<Item = u64> + Send + Sync + Clone> {
    backflow::from_stream_with(move || {
        let (mut tx, rx) = futures::channel::mpsc::channel::<u64>(16);
        std::thread::spawn(move || {
            for i in 0..n {
                if futures::executor::block_on(futures::SinkExt::send(&mut tx, i)).is_err() {
                    return;
                }
            }
        });
        rx
    })
}

#[test]
fn items_from_another_thread_reach_the_iterator() {
    let sum: u64 = threaded_source(20_000)
        .into_blocking_iter_with(32)
        .map(Result::unwrap)
        .sum();
    assert_eq!(sum, (0..20_000u64).sum());
}

#[test]
fn stream_on_an_executor() {
    let stream = threaded_source(10_000).map(|x| x * 2).into_stream_with(64);
    let total =
        futures::executor::block_on(stream.fold(0u64, |acc, r| async move { acc + r.unwrap() }));
    assert_eq!(total, (0..10_000u64).map(|x| x * 2).sum());
}

#[test]
fn round_trip_stream_to_flux_to_stream() {
    let source = futures::stream::iter(0..1000u32);
    let back = backflow::from_stream(source)
        .filter(|x| x % 2 == 1)
        .map(|x| x + 1)
        .into_stream_with(7);
    let got: Vec<u32> = futures::executor::block_on(back.map(Result::unwrap).collect());
    assert_eq!(
        got,
        (0..1000)
            .filter(|x| x % 2 == 1)
            .map(|x| x + 1)
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_task_is_woken_only_when_something_arrives() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<u64>();
    let mut stream = backflow::from_stream(rx).into_stream_with(4);
    let counter = Arc::new(CountingWaker(AtomicU64::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut stream)
        .poll_next(&mut cx)
        .is_pending());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    tx.unbounded_send(7).unwrap();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "one item, one wake");
    assert!(matches!(
        std::pin::Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(Some(Ok(7)))
    ));
    assert!(std::pin::Pin::new(&mut stream)
        .poll_next(&mut cx)
        .is_pending());
    drop(tx);
    assert_eq!(counter.0.load(Ordering::SeqCst), 2, "the end wakes once");
    assert!(matches!(
        std::pin::Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

#[test]
fn dropping_the_stream_cancels_and_releases_the_source() {
    struct Tracked {
        _alive: Arc<()>,
    }
    impl Stream for Tracked {
        type Item = u64;
        fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u64>> {
            Poll::Ready(Some(1))
        }
    }
    let alive = Arc::new(());
    let weak: Weak<()> = Arc::downgrade(&alive);
    let mut stream = backflow::from_stream(Tracked { _alive: alive }).into_stream_with(4);
    let first = futures::executor::block_on(stream.next());
    assert!(matches!(first, Some(Ok(1))));
    drop(stream);
    assert!(
        weak.upgrade().is_none(),
        "cancel reached the source, which dropped the stream"
    );
}

#[test]
fn a_misbehaving_publisher_overflows_instead_of_growing() {
    struct Flood;
    impl Publisher for Flood {
        type Item = u32;
        fn subscribe<S: Subscriber<u32> + 'static>(&self, mut s: S) {
            s.on_subscribe(backflow::NoopSubscription::shared());
            for i in 0..100 {
                s.on_next(i); // ignores demand
            }
            s.on_complete();
        }
    }
    let items: Vec<_> = Flux::new(Flood).into_blocking_iter_with(4).collect();
    assert_eq!(items.len(), 5);
    assert_eq!(items[4].as_ref().unwrap_err().kind(), ErrorKind::Overflow);
}

/// Pull fusion: an emitter read through a blocking iterator is drained by the iterator's thread.
/// The producer only pushes (and wakes a parked consumer), so the stages between the emitter and
/// the iterator run on the consumer's thread, never on the producer's, while the ring has room.
#[test]
fn an_emitter_read_by_a_blocking_iterator_is_drained_on_the_consumer_thread() {
    let (emitter, flux) = backflow::emitter::<u64>(1024);
    let mut iter = flux
        .map(|i| (i, std::thread::current().id()))
        .into_blocking_iter_with(64);
    // The producer keeps its handle (the stream stays open): no completion drains on its thread.
    let producer = std::thread::spawn(move || {
        for i in 0..500 {
            emitter.emit(i).unwrap();
        }
        emitter
    });
    let me = std::thread::current().id();
    let seen: Vec<_> = iter.by_ref().take(500).map(Result::unwrap).collect();
    assert_eq!(
        seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..500).collect::<Vec<_>>()
    );
    assert!(
        seen.iter().all(|(_, thread)| *thread == me),
        "a stage ran on the producer's thread although the ring never filled"
    );
    drop(producer.join().unwrap());
    assert!(iter.next().is_none());
}

/// Pull fusion under pressure: a ring of 1 and a prefetch of 1, four producers. Offers that find
/// the ring full drain on their own thread against the demand or wait for room; every item
/// arrives once and each producer's items in order.
#[test]
fn a_fused_emitter_with_a_full_ring_loses_and_doubles_nothing() {
    let (emitter, flux) = backflow::emitter::<(u64, u64)>(1);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let emitter = emitter.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    emitter.emit((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(emitter);
    let mut next = [0u64; 4];
    for item in flux.into_blocking_iter_with(1) {
        let (p, i) = item.unwrap();
        assert_eq!(i, next[p as usize], "producer {p}'s items out of order");
        next[p as usize] += 1;
    }
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(next, [2_000; 4]);
}

/// Pull fusion for a stream on an executor: the task drains the emitter itself and is woken by
/// the producer's pushes.
#[test]
fn a_fused_emitter_read_as_a_stream_gets_everything() {
    let (emitter, flux) = backflow::emitter::<u64>(8);
    let producer = std::thread::spawn(move || {
        for i in 0..10_000 {
            emitter.emit(i).unwrap();
        }
    });
    let stream = flux.into_stream_with(4);
    let sum =
        futures::executor::block_on(stream.fold(0u64, |acc, r| async move { acc + r.unwrap() }));
    producer.join().unwrap();
    assert_eq!(sum, (0..10_000).sum::<u64>());
}
