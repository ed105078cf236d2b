//! Send / Sync / Unpin of every public type, checked at compile time (the way `futures` does in
//! its `tests/auto_traits.rs`: functions with trait bounds that must type-check, and an ambiguity
//! trick for the traits a type must *not* have). A change that makes a public type lose an auto
//! trait, or gain one it must not have (a ring end that becomes `Send` for a `!Send` item), fails
//! to compile here. Generic types are checked with representative `Send + Sync` parameters, and
//! the containers of user items also with a `!Send` item (`Rc`).

#![allow(dead_code, clippy::type_complexity)]

use std::rc::Rc;

use backflow::demand::{Demand, DrainGate, Replenish};
use backflow::error::{ChunkError, EmitError, PushError};
use backflow::flux::{Boxed, Flux};
use backflow::metrics::{
    DropCounts, DropReason, MetricsSnapshot, Registry, StageMetrics, WaitStats,
};
use backflow::ops;
use backflow::protocol::{NoopSubscription, SharedSubscription};
use backflow::queue::{mpsc, overwrite, spsc};
use backflow::sched::{Immediate, Instant, Pool, Single, Task, TaskHandle, VirtualTime, Worker};
use backflow::sink::{
    BlockingIter, Disposable, FluxStream, Fold, Liveness, ProbeError, ProbeErrorKind, Request,
    Signal, Terminal, TestProbe, TestSubscriber, TestSubscriberBuilder,
};
use backflow::source::{
    Emitter, EmitterBuilder, EmitterSource, Empty, Fail, FromStream, FromStreamWith, Generate,
    Interval, Iter, Just, Never, Range, SingleEmitter,
};
use backflow::{Error, ErrorKind};

/// Compiles only if `$ty` has every listed trait.
macro_rules! assert_impl {
    ($ty:ty: $($tr:path),+ $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized $(+ $tr)+>() {}
            check::<$ty>();
        };
    };
}

/// Compiles only if `$ty` does NOT have `$tr` (two candidate impls make the call ambiguous
/// exactly when the bound holds; static_assertions' `assert_not_impl_any`).
macro_rules! assert_not_impl {
    ($ty:ty: $tr:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

/// `Send + Sync + Unpin`: what every handle, publisher and plain value type here is.
macro_rules! assert_all {
    ($($ty:ty),+ $(,)?) => {
        $(assert_impl!($ty: Send, Sync, Unpin);)+
    };
}

type Up = Range<u32>;
type Map = fn(u32) -> u32;
type Pred = fn(&u32) -> bool;
type Inner = Flux<Range<u32>>;
type ToInner = fn(u32) -> Inner;
type StreamOf = futures::stream::Iter<std::vec::IntoIter<u32>>;

// ---- ground floor: errors, protocol, demand ----
assert_all!(Error, ErrorKind, ChunkError, EmitError<u32>, PushError<u32>);
assert_not_impl!(PushError<Rc<u8>>: Send);
assert_not_impl!(EmitError<Rc<u8>>: Send);
assert_all!(
    NoopSubscription,
    SharedSubscription,
    Demand,
    DrainGate,
    Replenish
);

// ---- metrics ----
assert_all!(
    DropReason,
    DropCounts,
    MetricsSnapshot,
    Registry,
    StageMetrics,
    WaitStats
);

// ---- rings: the ends move items between threads ----
assert_impl!(spsc::Producer<u32>: Send, Sync, Unpin);
assert_impl!(spsc::Consumer<u32>: Send, Sync, Unpin);
assert_impl!(overwrite::Producer<u32>: Send, Unpin);
assert_impl!(overwrite::Consumer<u32>: Send, Unpin);
assert_impl!(mpsc::Producer<u32>: Send, Sync, Unpin);
assert_impl!(mpsc::Consumer<u32>: Send, Unpin);
assert_not_impl!(spsc::Producer<Rc<u8>>: Send);
assert_not_impl!(spsc::Consumer<Rc<u8>>: Send);
assert_not_impl!(overwrite::Producer<Rc<u8>>: Send);
assert_not_impl!(overwrite::Consumer<Rc<u8>>: Send);
assert_not_impl!(mpsc::Producer<Rc<u8>>: Send);
assert_not_impl!(mpsc::Consumer<Rc<u8>>: Send);
assert_impl!(spsc::ReadChunk<'static, u32>: Send);
assert_impl!(spsc::WriteChunk<'static, u32>: Send);

// ---- schedulers ----
assert_all!(
    Immediate,
    Pool,
    Single,
    VirtualTime,
    Worker,
    Instant,
    TaskHandle
);
assert_impl!(Task: Send, Unpin);

// ---- the fluent wrapper and type erasure ----
assert_all!(Flux<Up>, Boxed<u32>, Flux<Boxed<u32>>);

// ---- sources ----
assert_all!(
    Up,
    Empty<u32>,
    Fail<u32>,
    Just<u32>,
    Never<u32>,
    Iter<std::vec::IntoIter<u32>>,
    Generate<u32, fn(&mut u32) -> Option<Result<u32, Error>>>,
    Interval,
    FromStream<StreamOf>,
    FromStreamWith<fn() -> StreamOf>,
    Emitter<u32>,
    EmitterBuilder<u32>,
    EmitterSource<u32>,
);
assert_not_impl!(Just<Rc<u8>>: Send);
assert_not_impl!(Emitter<Rc<u8>>: Send);
// The one producer's handle moves between threads but is never shared or copied: its offers
// claim with a plain store (`Emitter::into_single`).
assert_impl!(SingleEmitter<u32>: Send, Unpin);
assert_not_impl!(SingleEmitter<u32>: Sync);
assert_not_impl!(SingleEmitter<u32>: Clone);
assert_not_impl!(SingleEmitter<Rc<u8>>: Send);

// ---- operators ----
assert_all!(
    ops::Map<Up, Map>,
    ops::Filter<Up, Pred>,
    ops::FilterMap<Up, fn(u32) -> Option<u32>>,
    ops::TryMap<Up, fn(u32) -> Result<u32, Error>>,
    ops::Inspect<Up, fn(&u32)>,
    ops::TakeWhile<Up, Pred>,
    ops::SkipWhile<Up, Pred>,
    ops::Take<Up>,
    ops::Skip<Up>,
    ops::Count<Up>,
    ops::DistinctUntilChanged<Up>,
    ops::Reduce<Up, fn(u32, u32) -> u32>,
    ops::Scan<Up, u32, fn(u32, u32) -> u32>,
    ops::Chunks<Up>,
    ops::Buffer<Up>,
    ops::DropOldest<Up>,
    ops::DropNewest<Up>,
    ops::DropNoDemand<Up>,
    ops::Sample<Up>,
    ops::Throttle<Up>,
    ops::ThrottleFirst<Up>,
    ops::Debounce<Up>,
    ops::Timeout<Up>,
    ops::PublishOn<Up, Single>,
    ops::SubscribeOn<Up, Single>,
    ops::Merge<Up>,
    ops::Concat<Up>,
    ops::Either<Up, Just<u32>>,
    ops::ConcatMap<Up, ToInner>,
    ops::FlatMap<Up, ToInner, Inner>,
    ops::SwitchMap<Up, ToInner, Inner>,
    ops::ZipWith<Up, Up, fn(u32, u32) -> u32>,
    ops::Zip<Up, Up>,
    ops::ZipAll<Up>,
    ops::CombineLatest<Up, Up, fn(&u32, &u32) -> u32>,
    ops::Broadcast<Up>,
    ops::BroadcastLane<Up>,
    ops::Connection,
    ops::Lane,
    ops::Overflow,
    ops::ErrorMode,
    ops::ThrottleMode,
    ops::StageOptions<u32>,
    ops::SharedScheduler,
    ops::DropFn<u32>,
);
assert_not_impl!(ops::Map<Just<Rc<u8>>, Map>: Send);

// ---- sinks and test tools ----
assert_all!(
    Disposable,
    Request,
    BlockingIter<u32>,
    FluxStream<u32>,
    TestProbe<u32>,
    Liveness,
    ProbeError,
    ProbeErrorKind,
    Signal,
    Terminal,
);
assert_impl!(TestSubscriber<u32>: Send, Unpin);
assert_impl!(TestSubscriberBuilder<u32>: Send, Unpin);
assert_impl!(Fold<u32, fn(u32, u32) -> u32>: Send, Unpin);
assert_not_impl!(TestProbe<Rc<u8>>: Send);
assert_not_impl!(FluxStream<Rc<u8>>: Send);

#[cfg(feature = "tck")]
mod tck {
    use backflow::tck::{Outcome, PublisherOptions, Report, Rule, SubscriberOptions};
    assert_all!(
        Outcome,
        Report,
        Rule,
        PublisherOptions<u32>,
        SubscriberOptions<u32>
    );
}

/// The checks above run at compile time; this makes the file a test target that cargo runs.
#[test]
fn auto_traits_are_checked_at_compile_time() {}
