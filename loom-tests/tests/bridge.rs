//! The pull-side bridge (`into_blocking_iter`): a consumer that parks when the ring is empty is
//! always woken by the producer's next item or terminal signal (the `sleeping` flag + SeqCst fence
//! hand-off), and every item arrives exactly once, in order.
#![cfg(loom)]

use backflow::prelude::*;
use loom::sync::{Arc, Mutex};
use loom::thread;

struct HotPublisher {
    slot: Arc<Mutex<Option<Box<dyn Subscriber<u32>>>>>,
}

impl Publisher for HotPublisher {
    type Item = u32;
    fn subscribe<S: Subscriber<u32> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(backflow::NoopSubscription::shared());
        *self.slot.lock().unwrap() = Some(Box::new(subscriber));
    }
}

fn run(items: u32, complete: bool) {
    loom::model(move || {
        let slot: Arc<Mutex<Option<Box<dyn Subscriber<u32>>>>> = Arc::new(Mutex::new(None));
        let mut iter = Flux::new(HotPublisher { slot: slot.clone() }).into_blocking_iter_with(2);
        let mut subscriber = slot
            .lock()
            .unwrap()
            .take()
            .expect("subscribed synchronously");
        let producer = thread::spawn(move || {
            for i in 0..items {
                subscriber.on_next(i);
            }
            if complete {
                subscriber.on_complete();
            } else {
                subscriber.on_error(Error::msg("boom"));
            }
        });
        for expected in 0..items {
            assert_eq!(iter.next().unwrap().unwrap(), expected);
        }
        match iter.next() {
            None => assert!(complete),
            Some(Err(e)) => assert!(!complete && e.to_string() == "boom"),
            Some(Ok(x)) => panic!("unexpected item {x}"),
        }
        assert!(iter.next().is_none());
        producer.join().unwrap();
    });
}

#[test]
fn two_items_then_complete_wake_the_parked_consumer() {
    run(2, true);
}

#[test]
fn an_error_wakes_the_parked_consumer() {
    run(1, false);
}

#[test]
fn an_immediate_end_wakes_the_parked_consumer() {
    run(0, true);
}

/// The async flavour: a task that returned `Pending` is always woken by the next item or the end.
#[test]
fn into_stream_wakes_the_pending_task() {
    use std::pin::Pin;
    use std::task::{Context, Poll, Wake, Waker};

    use futures_core::Stream;
    use loom::sync::Condvar;

    /// A waker that records the wake-up under a lock, so a lost one shows as a deadlock.
    struct Flag(Mutex<bool>, Condvar);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            *self.0.lock().unwrap() = true;
            self.1.notify_one();
        }
    }

    loom::model(|| {
        let slot: Arc<Mutex<Option<Box<dyn Subscriber<u32>>>>> = Arc::new(Mutex::new(None));
        let mut stream = Flux::new(HotPublisher { slot: slot.clone() }).into_stream_with(2);
        let mut subscriber = slot
            .lock()
            .unwrap()
            .take()
            .expect("subscribed synchronously");
        let producer = thread::spawn(move || {
            subscriber.on_next(7);
            subscriber.on_complete();
        });
        let flag = std::sync::Arc::new(Flag(Mutex::new(false), Condvar::new()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut got = Vec::new();
        loop {
            match Pin::new(&mut stream).poll_next(&mut cx) {
                Poll::Ready(Some(item)) => got.push(item.unwrap()),
                Poll::Ready(None) => break,
                Poll::Pending => {
                    // A lost wake-up would wait here forever: loom reports a deadlock.
                    let mut woken = flag.0.lock().unwrap();
                    while !*woken {
                        woken = flag.1.wait(woken).unwrap();
                    }
                    *woken = false;
                }
            }
        }
        assert_eq!(got, vec![7]);
        producer.join().unwrap();
    });
}
