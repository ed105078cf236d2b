//! # backflow-redis
//!
//! Redis Streams consumer groups as backflow sources and sinks: a worker's `request(n)` is the
//! fetch size, and an entry is acknowledged after it is processed. Run N worker processes on one
//! stream and group; a worker that dies loses nothing — its pending entries are taken over by the
//! others.
//!
//! - [`RedisStreamSource`]: a consumer of a group, a [`Publisher`](backflow::Publisher) of
//!   [`Delivery`]s. Demand becomes `XREADGROUP … COUNT min(demand, max_batch)`; no demand, no read.
//! - [`RedisStreamSink`]: writes a publisher's items with pipelined `XADD`s, requesting only what it
//!   has room for.
//! - [`metrics`]: fetched, acked, pending, reclaimed, dead-lettered, reconnects, round trips, in
//!   the Prometheus text format.
//!
//! The `redis` client is used fully synchronously (no async runtime): the source runs a reader
//! thread and an acknowledger thread per subscription, the sink one writer thread.
//!
//! ```no_run
//! use backflow_redis::{RedisStreamSource, RedisUrl, SourceConfig};
//!
//! let url = RedisUrl::new("redis+unix:///run/redis/redis.sock").unwrap();
//! let cfg = SourceConfig::new(url, "jobs", "workers", "worker-1").max_batch(128);
//! let source = RedisStreamSource::new(cfg, |e| e.parse::<u64>("n"));
//! source
//!     .flux()
//!     .take(1_000)
//!     .for_each(|job| {
//!         let _result = *job * 2; // process it ...
//!         job.ack();              // ... then acknowledge it
//!     })
//!     .unwrap();
//! ```
//!
//! ## The at-least-once guarantee, precisely
//!
//! An entry is removed from the group's pending list only by an `XACK` sent after the user called
//! [`Delivery::ack`] (or after it was moved to the dead-letter stream, or found deleted). So every
//! entry written to the stream is processed at least once, provided the stream itself keeps it
//! (see `MAXLEN` below) and the group exists. An entry can be delivered **more than once** when:
//!
//! 1. a worker dies (or is cancelled, or its reader hits an error) after it fetched an entry and
//!    before the batched `XACK` for it reached the server — including entries it had processed and
//!    acknowledged locally within the last `ack_interval`; another consumer reclaims them after
//!    `min_idle` (or the same consumer re-reads them from its pending history on restart);
//! 2. a handler does not ack (`nack`, drop, panic): the entry is redelivered after `min_idle`, up
//!    to `max_deliveries` times, and then dead-lettered;
//! 3. a worker is stalled for longer than `min_idle` (a stop-the-world pause, a frozen process, a
//!    lost connection to Redis on its acknowledger): its in-flight IDs are not refreshed in time,
//!    so another consumer may take them while it still works on them;
//! 4. a connection to Redis breaks after an `XACK` was applied but before its reply arrived: the
//!    IDs are sent again (harmless) — and the mirror case for the sink, whose batch is written
//!    again after a failure in mid-batch, so the output stream can hold duplicates.
//!
//! It never happens that a live worker's in-flight entry is reclaimed merely because processing
//! is slow: while a [`Delivery`] is held, its ID is refreshed every `claim.refresh` (at most
//! `min_idle / 2`) with `XCLAIM … 0 … JUSTID`, which resets its idle time without counting a
//! delivery. Processing must therefore be idempotent, or de-duplicated by entry ID.
//!
//! Nothing is lost by the connector itself: a malformed entry (missing field, decode error, a
//! panic in the decoder) and a poison entry (delivered `max_deliveries` times) are moved to the
//! dead-letter stream with the reason, atomically with their `XACK` (`MULTI`/`EXEC`). Entries
//! deleted from the stream while pending (`XDEL`, `MAXLEN` trimming) are acknowledged as gone.

#![deny(missing_docs)]

mod ack;
mod conn;
mod entry;
pub mod metrics;
mod resp;
mod sink;
mod source;
mod url;

pub use entry::{Delivery, Entry, Fields, Ticket};
pub use metrics::{RedisMetrics, RedisSnapshot};
pub use sink::{RedisStreamSink, SinkConfig, SinkHandle, SinkReport};
pub use source::{ClaimConfig, DeadLetterConfig, RedisStreamSource, SourceConfig};
pub use url::RedisUrl;
