//! The publisher behind [`Flux::any`](crate::Flux::any): the fold of [`All`](super::All) looking for
//! a match instead of a miss.

/// Emits whether some item matches a predicate (stopping at the first that does). Built by
/// [`Flux::any`](crate::Flux::any).
pub type Any<P, F> = super::All<P, F>;
