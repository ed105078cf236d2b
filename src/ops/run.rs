//! What the synchronous stages share to handle a run of items (`Subscriber::on_next_iter` /
//! `Subscriber::on_next_unbounded`) in one fused loop.
//!
//! - [`Local`]: a stage's run state (a counter, an accumulator) moved into a local for the run and
//!   written back once when the run ends, however it ends: the downstream returned, stopped
//!   pulling early, or a panic unwound through the run. A field reached through `&mut self` is
//!   stored back to memory on every item (the compiler cannot prove the downstream's code does not
//!   read it); a local stays in a register.
//! - [`Deliver`]: hands a run on the way the caller handed it, counted ([`Counted`]) or uncounted
//!   ([`Uncounted`]), so a stage writes its run once for both.

use crate::protocol::Subscriber;

/// A stage's state, moved out of its field for one run and written back when dropped.
///
/// While the run lasts the field holds `T::default()`; nothing reads it then (signals to one stage
/// never overlap, rule 1.03, and the run holds `&mut` to it).
pub(crate) struct Local<'a, T> {
    slot: &'a mut T,
    /// The state for the run; what is here when the `Local` drops goes back into the field.
    pub(crate) value: T,
}

impl<'a, T: Default> Local<'a, T> {
    /// Moves the state out of `slot` for the run.
    #[inline(always)]
    pub(crate) fn take(slot: &'a mut T) -> Self {
        let value = std::mem::take(slot);
        Local { slot, value }
    }
}

impl<T> Drop for Local<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // The placeholder the field held comes back here, and is dropped with `self`.
        std::mem::swap(self.slot, &mut self.value);
    }
}

/// How a run goes on downstream: the way it came in.
pub(crate) trait Deliver {
    /// What the caller gets back: the credits used, or nothing.
    type Out: Default;

    /// Hands `items` to `downstream`.
    fn deliver<T, S, I>(downstream: &mut S, items: I) -> Self::Out
    where
        S: Subscriber<T>,
        I: Iterator<Item = T>;
}

/// A counted run: [`Subscriber::on_next_iter`], the credits used go back to the caller.
pub(crate) struct Counted;

impl Deliver for Counted {
    type Out = u64;

    #[inline(always)]
    fn deliver<T, S, I>(downstream: &mut S, items: I) -> u64
    where
        S: Subscriber<T>,
        I: Iterator<Item = T>,
    {
        downstream.on_next_iter(items)
    }
}

/// An uncounted run under unbounded demand: [`Subscriber::on_next_unbounded`]. Only for a stage
/// whose downstream's demand is then unbounded too (it passes requests straight through).
pub(crate) struct Uncounted;

impl Deliver for Uncounted {
    type Out = ();

    #[inline(always)]
    fn deliver<T, S, I>(downstream: &mut S, items: I)
    where
        S: Subscriber<T>,
        I: Iterator<Item = T>,
    {
        downstream.on_next_unbounded(items)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Local;

    #[test]
    fn local_writes_back_on_return_and_on_unwind() {
        let mut count = 5u64;
        {
            let mut local = Local::take(&mut count);
            local.value -= 2;
        }
        assert_eq!(count, 3);
        let mut acc = Some(String::from("a"));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut local = Local::take(&mut acc);
            local.value.as_mut().unwrap().push('b');
            panic!("mid-run");
        }));
        assert!(unwound.is_err());
        assert_eq!(acc.as_deref(), Some("ab"));
    }
}
