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
pub use merge::{merge, Merge, MERGE_PREFETCH};
mod zip;
pub use zip::{zip, zip_all, zip_with, Zip, ZipAll, ZipWith, ZIP_PREFETCH};
mod combine_latest;
pub use combine_latest::{combine_latest, CombineLatest, COMBINE_LATEST_PREFETCH};
// Adaptive concurrency (resilience): calls under a shared limiter.
mod concurrent_map;
pub use concurrent_map::ConcurrentMap;

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
