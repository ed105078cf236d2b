//! The publisher behind [`merge`](crate::merge) and [`Flux::merge_with`](crate::Flux::merge_with).

use std::fmt;

use crate::demand::Replenish;
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::fanin::{Cx, Drain, FanIn, Hub, Inputs, Slotting};
use crate::ops::stage::{Configurable, ErrorMode, StageOptions};
use crate::protocol::{complete_now, Publisher, Subscriber};
use crate::queue::spsc::{self, Consumer};
use crate::sync::StdArc;

/// Items each input of a merge is asked for ahead, unless set with [`Merge::prefetch`].
pub const MERGE_PREFETCH: usize = 256;

/// Interleaves its sources' items as they arrive. Built by [`merge`](crate::merge) and
/// [`Flux::merge_with`](crate::Flux::merge_with).
pub struct Merge<P: Publisher> {
    sources: StdArc<[P]>,
    prefetch: usize,
    options: StageOptions<P::Item>,
}

impl<P: Publisher> Clone for Merge<P> {
    fn clone(&self) -> Self {
        Merge {
            sources: self.sources.clone(),
            prefetch: self.prefetch,
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher> fmt::Debug for Merge<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .field("options", &self.options)
            .finish()
    }
}

impl<P: Publisher> Merge<P> {
    pub(crate) fn new(sources: impl IntoIterator<Item = P>) -> Self {
        Merge {
            sources: sources.into_iter().collect(),
            prefetch: MERGE_PREFETCH,
            options: StageOptions::default(),
        }
    }

    /// Sets how many items each source is asked for ahead ([`MERGE_PREFETCH`] by default); each
    /// source's queue holds exactly that many, allocated at subscription.
    ///
    /// ```
    /// use backflow::prelude::*;
    /// let merged = Flux::new(backflow::merge(vec![backflow::range(0..3u8)]).into_inner().prefetch(1));
    /// assert_eq!(merged.collect().unwrap(), vec![0, 1, 2]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        assert!(prefetch > 0, "merge: prefetch must be at least 1");
        self.prefetch = prefetch;
        self
    }
}

impl<P: Publisher> Configurable for Merge<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for Merge<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let count = self.sources.len();
        if count == 0 {
            return complete_now(&mut subscriber);
        }
        let mut producers = Vec::with_capacity(count);
        let lanes = (0..count)
            .map(|_| {
                let (producer, consumer) = spsc::channel(self.prefetch);
                producers.push(producer);
                Lane {
                    consumer,
                    replenish: Replenish::new(self.prefetch as u64),
                    finished: false,
                }
            })
            .collect();
        let drain = MergeDrain {
            lanes,
            cursor: 0,
            live: count,
        };
        let inputs = Inputs::new(count, self.prefetch);
        FanIn::start(inputs, self.options.clone(), drain, subscriber, |core| {
            for (lane, (source, producer)) in self.sources.iter().zip(producers).enumerate() {
                core.subscribe_input::<P, MergeSlot>(source, lane, producer);
            }
            if let Some(m) = core.shared().metrics() {
                m.record_requested((self.prefetch * count) as u64);
            }
        });
    }
}

/// One source's ring, as the drain loop sees it.
struct Lane<T> {
    consumer: Consumer<T>,
    replenish: Replenish,
    /// The source completed and its ring was drained.
    finished: bool,
}

/// Merge's part of the drain loop: serve the lanes round-robin.
struct MergeDrain<T> {
    lanes: Box<[Lane<T>]>,
    /// The next lane to serve: round-robin across passes.
    cursor: usize,
    /// Lanes not finished.
    live: usize,
}

/// Merge's inputs push items as they are; refused items go to `on_drop`.
struct MergeSlot;

impl<T: Send + 'static> Slotting<T, StageOptions<T>> for MergeSlot {
    type Slot = T;

    #[inline(always)]
    fn slot(_options: &StageOptions<T>, item: T) -> T {
        item
    }

    #[inline(always)]
    fn unslot(slot: T) -> T {
        slot
    }

    fn refuse(options: &StageOptions<T>, item: T, reason: DropReason) {
        options.discard(item, reason)
    }
}

impl<T: Send + 'static> Drain for MergeDrain<T> {
    type Out = T;
    type Shared = StageOptions<T>;
    const STAGE: &'static str = "merge";

    /// Serves downstream demand round-robin from the lanes: each visit takes what one lane holds
    /// (at most the prefetch, at most the credits left) as one run.
    fn emit<S: Subscriber<T>>(
        &mut self,
        cx: &Cx<'_, StageOptions<T>>,
        downstream: &mut S,
    ) -> Option<Result<(), Error>> {
        let count = self.lanes.len();
        let metrics = cx.shared.metrics();
        let mut credits = cx.credits();
        'serve: loop {
            let mut served = false;
            for _ in 0..count {
                let available = credits.available();
                if available == 0 || cx.is_cancelled() {
                    break 'serve;
                }
                let index = self.cursor;
                self.cursor = if index + 1 == count { 0 } else { index + 1 };
                let lane = &mut self.lanes[index];
                if lane.finished {
                    continue;
                }
                let held = lane.consumer.len();
                if held == 0 {
                    continue;
                }
                let budget = available.min(held as u64) as usize;
                let mut run = lane
                    .consumer
                    .read_chunk(budget)
                    .expect("only the drain takes items out");
                let used = downstream.on_next_iter(run.by_ref());
                let taken = budget - run.len();
                // Hands the slots back before asking for more, so the top-up finds them free.
                drop(run);
                credits.spend(used);
                if let Some(m) = metrics {
                    m.record_received(taken as u64);
                    m.record_emitted(used);
                }
                let top_up = lane.replenish.consumed(taken as u64);
                if top_up > 0 {
                    if let Some(m) = metrics {
                        m.record_requested(top_up);
                    }
                    cx.inputs.request(index, top_up);
                }
                served |= taken > 0;
            }
            if !served {
                break;
            }
        }
        drop(credits);
        self.settle(cx)
    }

    fn discard_held(&mut self, options: &StageOptions<T>) {
        for lane in self.lanes.iter_mut() {
            while let Some(item) = lane.consumer.pop() {
                options.discard(item, DropReason::Cancelled);
            }
        }
    }

    fn error_is_immediate(options: &StageOptions<T>) -> bool {
        options.error_mode == ErrorMode::Immediate
    }
}

impl<T: Send + 'static> MergeDrain<T> {
    /// Marks drained, completed lanes finished; returns the terminal signal if the stream is over.
    fn settle(&mut self, cx: &Cx<'_, StageOptions<T>>) -> Option<Result<(), Error>> {
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            // `is_done` first: its Acquire makes every item the input pushed visible.
            if !lane.finished && cx.inputs.is_done(index) && lane.consumer.is_empty() {
                lane.finished = true;
                self.live -= 1;
            }
        }
        if cx.inputs.failed() {
            // The other inputs are cancelled: deliver what they left, then the error.
            if self.lanes.iter().all(|lane| lane.consumer.is_empty()) {
                return Some(Err(cx.inputs.take_error()));
            }
            return None;
        }
        (self.live == 0).then_some(Ok(()))
    }
}
