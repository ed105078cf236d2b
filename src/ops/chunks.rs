//! The publisher and subscriber behind [`Flux::chunks`](crate::Flux::chunks).

use crate::error::Error;
use crate::protocol::{Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sync::StdArc;

/// Collects items into `Vec`s of a fixed size. Built by [`Flux::chunks`](crate::Flux::chunks).
#[derive(Clone, Debug)]
pub struct Chunks<P> {
    upstream: P,
    size: usize,
}

impl<P> Chunks<P> {
    pub(crate) fn new(upstream: P, size: usize) -> Self {
        assert!(size > 0, "chunks(0): a chunk must hold at least one item");
        Chunks { upstream, size }
    }
}

impl<P> Publisher for Chunks<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Vec<P::Item>> + 'static,
    {
        self.upstream.subscribe(ChunksSubscriber {
            downstream: subscriber,
            size: self.size,
            chunk: Vec::new(),
            done: false,
        })
    }
}

struct ChunksSubscriber<S, T> {
    downstream: S,
    size: usize,
    chunk: Vec<T>,
    done: bool,
}

/// Turns chunk demand into item demand: `request(k)` asks upstream for `k * size` items.
struct ChunksSubscription {
    upstream: SharedSubscription,
    size: u64,
}

impl Subscription for ChunksSubscription {
    fn request(&self, n: u64) {
        // Saturating: k chunks of `size` may exceed u64::MAX, which means unbounded anyway.
        self.upstream.request(n.saturating_mul(self.size))
    }

    fn cancel(&self) {
        self.upstream.cancel()
    }
}

impl<S, T> Subscriber<T> for ChunksSubscriber<S, T>
where
    S: Subscriber<Vec<T>>,
    T: Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.downstream
            .on_subscribe(StdArc::new(ChunksSubscription {
                upstream: subscription,
                size: self.size as u64,
            }))
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if self.chunk.capacity() == 0 {
            self.chunk.reserve_exact(self.size);
        }
        self.chunk.push(item);
        if self.chunk.len() == self.size {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.size));
            self.downstream.on_next(full);
        }
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.done = true;
            // Reactor's buffer(int) discards the partial chunk on error.
            self.chunk = Vec::new();
            self.downstream.on_error(error)
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            // The partial chunk's items were requested as part of a chunk credit that is still
            // outstanding, so there is demand for it.
            if !self.chunk.is_empty() {
                let last = std::mem::take(&mut self.chunk);
                self.downstream.on_next(last);
            }
            self.downstream.on_complete()
        }
    }
}
