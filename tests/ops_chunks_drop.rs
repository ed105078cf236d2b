//! `chunks(n)` and `drop_unrequested()`: demand translation, what is emitted, what is dropped and where it goes.

use std::sync::{Arc, Mutex};

use backflow::metrics::{DropReason, Registry};
use backflow::prelude::*;

/// A publisher that records every request it gets and emits exactly what is asked, synchronously.
#[derive(Clone)]
struct Recording {
    requests: Arc<Mutex<Vec<u64>>>,
    items: u64,
}

impl Publisher for Recording {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let requests = self.requests.clone();
        let inner = backflow::range(0..self.items);
        // Wrap the range's subscription to log requests.
        struct Spy<S> {
            down: S,
            requests: Arc<Mutex<Vec<u64>>>,
        }
        struct SpySub {
            up: SharedSubscription,
            requests: Arc<Mutex<Vec<u64>>>,
        }
        impl Subscription for SpySub {
            fn request(&self, n: u64) {
                self.requests.lock().unwrap().push(n);
                self.up.request(n)
            }
            fn cancel(&self) {
                self.up.cancel()
            }
        }
        impl<S: Subscriber<u64>> Subscriber<u64> for Spy<S> {
            fn on_subscribe(&mut self, s: SharedSubscription) {
                self.down.on_subscribe(Arc::new(SpySub {
                    up: s,
                    requests: self.requests.clone(),
                }))
            }
            fn on_next(&mut self, x: u64) {
                self.down.on_next(x)
            }
            fn on_error(&mut self, e: Error) {
                self.down.on_error(e)
            }
            fn on_complete(&mut self) {
                self.down.on_complete()
            }
        }
        inner.subscribe(Spy {
            down: subscriber,
            requests,
        });
    }
}

fn recording(items: u64) -> (Flux<Recording>, Arc<Mutex<Vec<u64>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    (
        Flux::new(Recording {
            requests: requests.clone(),
            items,
        }),
        requests,
    )
}

#[test]
fn chunks_turn_chunk_demand_into_item_demand() {
    let (src, requests) = recording(100);
    let out = src.chunks(4).collect_with(Request::Batch(2)).unwrap();
    assert_eq!(out.len(), 25);
    assert!(out.iter().all(|c| c.len() == 4));
    let reqs = requests.lock().unwrap();
    assert_eq!(reqs[0], 8, "2 chunks of 4");
    assert!(reqs.iter().all(|r| r % 4 == 0), "{reqs:?}");
}

#[test]
fn chunks_emit_the_partial_last_chunk() {
    let out = backflow::range(0..10u32).chunks(4).collect().unwrap();
    assert_eq!(out, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    assert!(backflow::range(0..0u32)
        .chunks(4)
        .collect()
        .unwrap()
        .is_empty());
}

#[test]
fn chunks_saturate_huge_demand() {
    let out = backflow::range(0..10u32)
        .chunks(3)
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out.len(), 4);
}

#[test]
fn chunks_discard_the_partial_chunk_on_error() {
    let out = backflow::range(0..10u32)
        .map(|x| if x == 5 { panic!("boom") } else { x })
        .chunks(2)
        .collect();
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Panicked);
}

#[test]
#[should_panic(expected = "chunks(0)")]
fn chunks_of_zero_panic() {
    let _ = backflow::range(0..10u32).chunks(0);
}

/// A subscriber that requests `n` up front and never again.
struct Takes {
    n: u64,
    got: Arc<Mutex<Vec<u64>>>,
    done: Arc<Mutex<bool>>,
}

impl Subscriber<u64> for Takes {
    fn on_subscribe(&mut self, s: SharedSubscription) {
        s.request(self.n)
    }
    fn on_next(&mut self, x: u64) {
        self.got.lock().unwrap().push(x)
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}")
    }
    fn on_complete(&mut self) {
        *self.done.lock().unwrap() = true
    }
}

#[test]
fn drop_forwards_only_with_demand_and_counts_every_drop() {
    let registry = Registry::new();
    let stage = registry.stage("shed", 0);
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let got = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Mutex::new(false));
    backflow::range(0..10u64)
        .drop_unrequested()
        .on_drop(move |x, reason| d.lock().unwrap().push((x, reason)))
        .metrics(stage.clone())
        .subscribe(Takes {
            n: 3,
            got: got.clone(),
            done: done.clone(),
        });
    assert_eq!(*got.lock().unwrap(), vec![0, 1, 2]);
    let dropped = dropped.lock().unwrap();
    assert_eq!(dropped.len(), 7);
    assert!(dropped.iter().all(|(_, r)| *r == DropReason::NoDemand));
    assert!(*done.lock().unwrap(), "completion needs no demand");
    let snap = stage.snapshot();
    assert_eq!(
        (
            snap.received,
            snap.emitted,
            snap.dropped.get(DropReason::NoDemand)
        ),
        (10, 3, 7)
    );
    assert_eq!(snap.received, snap.emitted + snap.dropped.total());
    assert_eq!(snap.requested, u64::MAX);
}

#[test]
fn drop_requests_unbounded_upstream() {
    let (src, requests) = recording(5);
    let out = src
        .drop_unrequested()
        .collect_with(Request::Unbounded)
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3, 4]);
    assert_eq!(*requests.lock().unwrap(), vec![u64::MAX]);
}

#[test]
fn drop_without_callback_still_counts() {
    let registry = Registry::new();
    let stage = registry.stage("quiet", 0);
    let got = Arc::new(Mutex::new(Vec::new()));
    backflow::range(0..4u64)
        .drop_unrequested()
        .metrics(stage.clone())
        .subscribe(Takes {
            n: 1,
            got,
            done: Arc::new(Mutex::new(false)),
        });
    assert_eq!(stage.snapshot().dropped.total(), 3);
}

#[test]
fn a_panicking_on_drop_does_not_stop_the_stream() {
    backflow::set_error_hook(|_| {});
    let got = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Mutex::new(false));
    backflow::range(0..5u64)
        .drop_unrequested()
        .on_drop(|_, _| panic!("bad callback"))
        .subscribe(Takes {
            n: 2,
            got: got.clone(),
            done: done.clone(),
        });
    backflow::clear_error_hook();
    assert_eq!(*got.lock().unwrap(), vec![0, 1]);
    assert!(*done.lock().unwrap());
}
