//! [`generate`]: a stateful generator driven by demand.

use std::fmt;
use std::sync::Arc;

use super::pull::{subscribe_pull, Pull};
use crate::error::Error;
use crate::protocol::Flux;
use crate::protocol::{Publisher, Subscriber};

/// The publisher behind [`generate`].
pub struct Generate<St, F> {
    init: St,
    step: Arc<F>,
}

impl<St: Clone, F> Clone for Generate<St, F> {
    fn clone(&self) -> Self {
        Generate {
            init: self.init.clone(),
            step: self.step.clone(),
        }
    }
}

impl<St: fmt::Debug, F> fmt::Debug for Generate<St, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generate")
            .field("init", &self.init)
            .finish_non_exhaustive()
    }
}

struct GeneratePull<St, F> {
    state: St,
    step: Arc<F>,
    /// How the step ended the stream, until the drain loop takes it.
    end: Option<Result<(), Error>>,
    /// The step ended the stream: it is never called again.
    ended: bool,
}

impl<St, F, T> GeneratePull<St, F>
where
    F: Fn(&mut St) -> Option<Result<T, Error>>,
{
    #[inline]
    fn step(&mut self) -> Option<T> {
        if self.ended {
            return None;
        }
        let end = match (self.step)(&mut self.state) {
            Some(Ok(item)) => return Some(item),
            Some(Err(error)) => Err(error),
            None => Ok(()),
        };
        self.ended = true;
        self.end = Some(end);
        None
    }
}

/// A run of at most `left` steps, stopping at the end the step reports.
struct GenerateChunk<'a, St, F> {
    pull: &'a mut GeneratePull<St, F>,
    left: usize,
}

impl<St, F, T> Iterator for GenerateChunk<'_, St, F>
where
    F: Fn(&mut St) -> Option<Result<T, Error>>,
{
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.pull.step()
    }
}

impl<St, F, T> Pull for GeneratePull<St, F>
where
    St: Send + 'static,
    F: Fn(&mut St) -> Option<Result<T, Error>> + Send + Sync + 'static,
{
    type Item = T;
    // The step is user code with side effects: run it only against demand, never ahead.
    const LOOKAHEAD: bool = false;
    type Chunk<'a> = GenerateChunk<'a, St, F>;

    fn pull(&mut self) -> Result<Option<T>, Error> {
        match self.step() {
            Some(item) => Ok(Some(item)),
            None => self.end.clone().unwrap_or(Ok(())).map(|()| None),
        }
    }

    #[inline]
    fn chunk(&mut self, max: usize) -> Self::Chunk<'_> {
        GenerateChunk {
            pull: self,
            left: max,
        }
    }

    fn take_end(&mut self) -> Option<Result<(), Error>> {
        self.end.take()
    }
}

impl<St, F, T> Publisher for Generate<St, F>
where
    St: Clone + Send + 'static,
    F: Fn(&mut St) -> Option<Result<T, Error>> + Send + Sync + 'static,
    T: Send,
{
    type Item = T;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + 'static,
    {
        let pull = GeneratePull {
            state: self.init.clone(),
            step: self.step.clone(),
            end: None,
            ended: false,
        };
        subscribe_pull(pull, subscriber)
    }
}

/// A cold source that calls `step` on a state to produce each item, only when there is demand.
///
/// Each subscriber starts from its own clone of `init_state`. `step` returns `Some(Ok(item))` for the
/// next item, `Some(Err(e))` to fail the stream, `None` to complete it; it is never called again after
/// an error or `None`. Reactor: `Flux.generate(stateSupplier, generator)`; RxJava: `Flowable.generate`;
/// Akka: `Source.unfold`.
///
/// # Demand
///
/// `step` runs once per item, only while there is outstanding demand, on the thread whose `request`
/// started the drain; it never runs ahead of demand (items a downstream filter discards use no
/// credit, so they are replaced by further steps). A generator that ends at once therefore completes
/// on the first `request`, and one that has produced exactly the requested items completes on the
/// next `request` (unlike [`from_iter`](crate::from_iter), which looks one item ahead). A panic in
/// `step` becomes an `on_error` ([`ErrorKind::Panicked`](crate::ErrorKind::Panicked)).
///
/// ```
/// use backflow::prelude::*;
/// // Fibonacci numbers below 100.
/// let fib = backflow::generate((0u64, 1u64), |(a, b)| {
///     let next = *a;
///     (*a, *b) = (*b, *a + *b);
///     (next < 100).then_some(Ok(next))
/// });
/// assert_eq!(fib.collect().unwrap(), vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]);
///
/// let failing = backflow::generate(0u32, |n| {
///     *n += 1;
///     Some(if *n < 3 { Ok(*n) } else { Err(Error::msg("three")) })
/// });
/// assert_eq!(failing.collect().unwrap_err().to_string(), "three");
/// ```
#[doc(alias = "unfold")]
pub fn generate<St, F, T>(init_state: St, step: F) -> Flux<Generate<St, F>>
where
    St: Clone + Send + 'static,
    F: Fn(&mut St) -> Option<Result<T, Error>> + Send + Sync + 'static,
    T: Send,
{
    Flux::new(Generate {
        init: init_state,
        step: Arc::new(step),
    })
}
