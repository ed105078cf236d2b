//! The publishers behind [`zip`](crate::zip), [`zip_with`](crate::zip_with),
//! [`zip_all`](crate::zip_all), [`Flux::zip`](crate::Flux::zip) and
//! [`Flux::zip_with`](crate::Flux::zip_with).

use std::fmt;
use std::marker::PhantomData;

use crate::demand::Replenish;
use crate::error::Error;
use crate::ops::fanin::{Cx, Drain, FanIn, Inputs, Plain};
use crate::protocol::{complete_now, Publisher, Subscriber};
use crate::queue::spsc::{self, Consumer};
use crate::sync::StdArc;

/// Items each input of a zip is asked for ahead, unless set with `prefetch`.
pub const ZIP_PREFETCH: usize = 32;

/// Pairs two sources' items and combines each pair. Built by [`zip_with`](crate::zip_with) and
/// [`Flux::zip_with`](crate::Flux::zip_with).
pub struct ZipWith<A, B, F> {
    a: A,
    b: B,
    f: StdArc<F>,
    prefetch: usize,
}

/// Pairs two sources' items into tuples. Built by [`zip`](crate::zip) and [`Flux::zip`](crate::Flux::zip).
pub type Zip<A, B> = ZipWith<
    A,
    B,
    fn(
        <A as Publisher>::Item,
        <B as Publisher>::Item,
    ) -> (<A as Publisher>::Item, <B as Publisher>::Item),
>;

impl<A: Clone, B: Clone, F> Clone for ZipWith<A, B, F> {
    fn clone(&self) -> Self {
        ZipWith {
            a: self.a.clone(),
            b: self.b.clone(),
            f: self.f.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl<A: fmt::Debug, B: fmt::Debug, F> fmt::Debug for ZipWith<A, B, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipWith")
            .field("a", &self.a)
            .field("b", &self.b)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<A, B, F> ZipWith<A, B, F> {
    pub(crate) fn new(a: A, b: B, f: F) -> Self {
        ZipWith {
            a,
            b,
            f: StdArc::new(f),
            prefetch: ZIP_PREFETCH,
        }
    }

    /// Sets how many items each source is asked for ahead ([`ZIP_PREFETCH`] by default); each
    /// source's queue holds exactly that many, allocated at subscription.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let zipped = backflow::zip(backflow::range(0..3u8), backflow::range(5..9u8)).into_inner().prefetch(1);
    /// assert_eq!(Flux::new(zipped).collect().unwrap(), vec![(0, 5), (1, 6), (2, 7)]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        assert!(prefetch > 0, "zip: prefetch must be at least 1");
        self.prefetch = prefetch;
        self
    }
}

fn pair<X, Y>(x: X, y: Y) -> (X, Y) {
    (x, y)
}

impl<A, B> Zip<A, B>
where
    A: Publisher,
    B: Publisher,
{
    /// Zips `a` and `b` into tuples (the publisher behind [`zip`](crate::zip)).
    pub(crate) fn pairs(a: A, b: B) -> Self {
        ZipWith::new(a, b, pair as fn(_, _) -> _)
    }
}

impl<A, B, F, O> Publisher for ZipWith<A, B, F>
where
    A: Publisher + Send + Sync + 'static,
    B: Publisher + Send + Sync + 'static,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    F: Fn(A::Item, B::Item) -> O + Send + Sync + 'static,
{
    type Item = O;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<O> + 'static,
    {
        let (to_a, from_a) = spsc::channel(self.prefetch);
        let (to_b, from_b) = spsc::channel(self.prefetch);
        let drain = ZipDrain::new((from_a, from_b), self.prefetch);
        FanIn::start(
            Inputs::new(2, self.prefetch),
            Pairwise(self.f.clone()),
            drain,
            subscriber,
            |core| {
                core.subscribe_input::<A, Plain>(&self.a, 0, to_a);
                core.subscribe_input::<B, Plain>(&self.b, 1, to_b);
            },
        );
    }
}

/// Zips any number of sources of one type into `Vec`s. Built by [`zip_all`](crate::zip_all).
pub struct ZipAll<P> {
    sources: StdArc<[P]>,
    prefetch: usize,
}

impl<P> ZipAll<P> {
    /// Zips `sources` (the publisher behind [`zip_all`](crate::zip_all)).
    pub(crate) fn new(sources: impl IntoIterator<Item = P>) -> Self {
        ZipAll {
            sources: sources.into_iter().collect(),
            prefetch: ZIP_PREFETCH,
        }
    }
}

impl<P> Clone for ZipAll<P> {
    fn clone(&self) -> Self {
        ZipAll {
            sources: self.sources.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl<P> fmt::Debug for ZipAll<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipAll")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl<P> ZipAll<P> {
    /// Sets how many items each source is asked for ahead ([`ZIP_PREFETCH`] by default).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        assert!(prefetch > 0, "zip_all: prefetch must be at least 1");
        self.prefetch = prefetch;
        self
    }
}

impl<P> Publisher for ZipAll<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<Vec<P::Item>> + 'static,
    {
        let count = self.sources.len();
        if count == 0 {
            return complete_now(&mut subscriber);
        }
        let (producers, consumers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| spsc::channel(self.prefetch)).unzip();
        let drain = ZipDrain::new(consumers.into_boxed_slice(), self.prefetch);
        FanIn::start(
            Inputs::new(count, self.prefetch),
            Rows,
            drain,
            subscriber,
            |core| {
                for (lane, (source, producer)) in self.sources.iter().zip(producers).enumerate() {
                    core.subscribe_input::<P, Plain>(source, lane, producer);
                }
            },
        );
    }
}

/// The queues of a zip's inputs, one item of each making a row.
trait Lanes: Send + 'static {
    type Row;
    fn count(&self) -> usize;
    fn is_empty(&self, lane: usize) -> bool;
    /// One item from every lane. Every lane holds one.
    fn pop_row(&mut self) -> Self::Row;
    fn clear(&mut self);
}

impl<X: Send + 'static, Y: Send + 'static> Lanes for (Consumer<X>, Consumer<Y>) {
    type Row = (X, Y);

    fn count(&self) -> usize {
        2
    }

    #[inline]
    fn is_empty(&self, lane: usize) -> bool {
        if lane == 0 {
            self.0.is_empty()
        } else {
            self.1.is_empty()
        }
    }

    #[inline]
    fn pop_row(&mut self) -> (X, Y) {
        let x = self.0.pop().expect("checked non-empty");
        let y = self.1.pop().expect("checked non-empty");
        (x, y)
    }

    fn clear(&mut self) {
        while self.0.pop().is_some() {}
        while self.1.pop().is_some() {}
    }
}

impl<T: Send + 'static> Lanes for Box<[Consumer<T>]> {
    type Row = Vec<T>;

    fn count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn is_empty(&self, lane: usize) -> bool {
        self[lane].is_empty()
    }

    fn pop_row(&mut self) -> Vec<T> {
        self.iter_mut()
            .map(|lane| lane.pop().expect("checked non-empty"))
            .collect()
    }

    fn clear(&mut self) {
        for lane in self.iter_mut() {
            while lane.pop().is_some() {}
        }
    }
}

/// What a zip makes of a row.
trait Combine<R>: Send + Sync + 'static {
    type Out;
    fn combine(&self, row: R) -> Self::Out;
}

/// Applies the user's function to a pair.
struct Pairwise<F>(StdArc<F>);

impl<X, Y, O, F> Combine<(X, Y)> for Pairwise<F>
where
    F: Fn(X, Y) -> O + Send + Sync + 'static,
{
    type Out = O;

    #[inline]
    fn combine(&self, (x, y): (X, Y)) -> O {
        (self.0)(x, y)
    }
}

/// Emits the row as it is.
struct Rows;

impl<R> Combine<R> for Rows {
    type Out = R;

    #[inline]
    fn combine(&self, row: R) -> R {
        row
    }
}

/// Zip's part of the drain loop: emit a row whenever every lane holds an item.
struct ZipDrain<L, C> {
    lanes: L,
    /// Every row uses one item of every lane, so one counter serves all of them.
    replenish: Replenish,
    _combine: PhantomData<fn() -> C>,
}

impl<L, C> ZipDrain<L, C> {
    fn new(lanes: L, prefetch: usize) -> Self {
        ZipDrain {
            lanes,
            replenish: Replenish::new(prefetch as u64),
            _combine: PhantomData,
        }
    }
}

impl<L: Lanes, C: Combine<L::Row>> Drain for ZipDrain<L, C> {
    type Out = C::Out;
    type Shared = C;
    const STAGE: &'static str = "zip";

    fn emit<S: Subscriber<C::Out>>(
        &mut self,
        cx: &Cx<'_, C>,
        downstream: &mut S,
    ) -> Option<Result<(), Error>> {
        let count = self.lanes.count();
        let mut credits = cx.credits();
        loop {
            if cx.is_cancelled() {
                return None;
            }
            let mut ready = true;
            for lane in 0..count {
                if self.lanes.is_empty(lane) {
                    ready = false;
                    // Empty for good: its input completed (`is_done` first: its Acquire makes
                    // every pushed item visible), or an input failed and the rest are cancelled.
                    let exhausted = cx.inputs.is_done(lane) || cx.inputs.failed();
                    if exhausted && self.lanes.is_empty(lane) {
                        return Some(if cx.inputs.failed() {
                            Err(cx.inputs.take_error())
                        } else {
                            Ok(())
                        });
                    }
                }
            }
            if !ready || credits.available() == 0 {
                return None;
            }
            let row = self.lanes.pop_row();
            let used = downstream.try_on_next(cx.shared.combine(row));
            credits.spend(used as u64);
            let top_up = self.replenish.consumed(1);
            if top_up > 0 {
                for lane in 0..count {
                    cx.inputs.request(lane, top_up);
                }
            }
        }
    }

    fn discard_held(&mut self, _combine: &C) {
        self.lanes.clear();
    }
}
