//! Operators: one file per operator, each holding its publisher type, its subscriber, its
//! subscription and its drain loop. The user-facing docs and examples live on the [`Flux`](crate::Flux)
//! methods that build them.

mod filter;
mod map;
pub mod stage;

pub use filter::Filter;
pub use map::Map;
pub use stage::{Configurable, DropFn, ErrorMode, StageOptions};

// ---- synchronous operators (issue 2) ----
mod aggregate;
mod count;
mod distinct_until_changed;
mod filter_map;
mod inspect;
mod reduce;
mod run;
mod scan;
mod skip;
mod skip_while;
mod take;
mod take_while;
mod try_map;

pub use count::Count;
pub use distinct_until_changed::DistinctUntilChanged;
pub use filter_map::FilterMap;
pub use inspect::Inspect;
pub use reduce::Reduce;
pub use scan::Scan;
pub use skip::Skip;
pub use skip_while::SkipWhile;
pub use take::Take;
pub use take_while::TakeWhile;
pub use try_map::TryMap;

// ---- thread boundary (issue 3) ----
mod publish_on;
mod subscribe_on;
pub use publish_on::{PublishOn, DEFAULT_PREFETCH};
pub use subscribe_on::SubscribeOn;

// ---- backpressure operators (issue 4) ----
mod debounce;
mod sample;
mod throttle;
mod throttle_first;
pub(crate) mod timed;
mod timeout;
pub(crate) mod token_bucket;
pub use debounce::Debounce;
pub use sample::Sample;
pub use throttle::{Throttle, ThrottleMode};
pub use throttle_first::ThrottleFirst;
pub use timed::{SharedScheduler, Timed};
pub use timeout::Timeout;
mod buffer;
mod drop_newest;
mod drop_oldest;
mod held;
pub use buffer::{Buffer, Overflow};
pub use drop_newest::DropNewest;
pub use drop_oldest::DropOldest;
mod chunks;
mod drop;
pub use chunks::Chunks;
pub use drop::DropNoDemand;

// ---- graphs (issue 5) ----
mod concat_map;
mod flat_map;
mod switch_map;
pub use concat_map::ConcatMap;
pub use flat_map::{FlatMap, FLAT_MAP_CONCURRENCY, FLAT_MAP_PREFETCH};
pub use switch_map::SwitchMap;
mod broadcast;
pub use broadcast::{Broadcast, BroadcastLane, Connection, Lane, Multicast, BROADCAST_PREFETCH};
pub(crate) mod arbiter;
mod concat;
pub use concat::{Concat, Either};
pub(crate) mod fanin;
mod merge;
pub use merge::{Merge, MERGE_PREFETCH};
mod zip;
pub use zip::{Zip, ZipAll, ZipWith, ZIP_PREFETCH};
mod combine_latest;
pub use combine_latest::{CombineLatest, COMBINE_LATEST_PREFETCH};

// ---- porter parity (issue 10) ----
mod on_error_complete;
mod on_error_map;
mod on_error_resume;
mod on_error_return;
pub use on_error_complete::OnErrorComplete;
pub use on_error_map::OnErrorMap;
pub use on_error_resume::OnErrorResume;
pub use on_error_return::OnErrorReturn;
mod chunks_timeout;
pub use chunks_timeout::ChunksTimeout;
pub(crate) mod lifecycle;
pub use lifecycle::{Hooked, SignalType};
mod do_finally;
mod do_on_cancel;
mod do_on_complete;
mod do_on_error;
mod do_on_request;
mod do_on_subscribe;
pub use do_finally::{DoFinally, Finally};
pub use do_on_cancel::{DoOnCancel, OnCancel};
pub use do_on_complete::{DoOnComplete, OnComplete};
pub use do_on_error::{DoOnError, OnError};
pub use do_on_request::{DoOnRequest, OnRequest};
pub use do_on_subscribe::{DoOnSubscribe, OnSubscribe};
mod all;
mod collect_map;
pub use all::All;
pub use collect_map::CollectMap;
mod any;
mod default_if_empty;
mod switch_if_empty;
mod then;
pub use any::Any;
pub use default_if_empty::DefaultIfEmpty;
pub use switch_if_empty::SwitchIfEmpty;
pub use then::Then;
mod distinct;
mod ignore_elements;
mod skip_last;
mod take_last;
pub use distinct::Distinct;
pub use ignore_elements::IgnoreElements;
pub use skip_last::SkipLast;
pub use take_last::TakeLast;
mod skip_until;
mod take_until;
pub use skip_until::SkipUntil;
pub use take_until::TakeUntil;
mod delay;
mod delay_subscription;
mod elapsed;
mod timeout_with;
mod timestamp;
pub use delay::{Delay, DELAY_CAPACITY};
pub use delay_subscription::DelaySubscription;
pub use elapsed::Elapsed;
pub use timeout_with::TimeoutWith;
pub use timestamp::Timestamp;
mod group_by;
pub use group_by::{GroupBy, Grouped, GroupedFlux, GROUP_BY_MAX_GROUPS, GROUP_BY_PREFETCH};
mod window;
pub use window::Window;
mod replay;
pub use replay::Replay;
mod window_timeout;
pub use window_timeout::{TimedWindow, WindowTimeout};

// ---- resilience operators (issue 9) ----
mod rate_limit;
pub use rate_limit::RateLimit;
mod repeat;
mod retry;
pub use repeat::Repeat;
pub use retry::{Retry, RETRY_MAX_DELAY};
mod circuit_breaker;
pub use circuit_breaker::{CircuitBreakerMap, CircuitBreakerStage};
mod shed;
pub use shed::Shed;
mod pause_at;
pub use pause_at::PauseAt;

// ---- adaptive concurrency (issue 9): calls under a shared limiter ----
mod concurrent_map;
pub use concurrent_map::ConcurrentMap;
