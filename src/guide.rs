//! A guided tour: from a first pipeline to a stream on tokio whose metrics Prometheus scrapes.
//!
//! This module holds no code, only this page. Each step builds on the one before, and every block
//! below is a test that runs with `cargo test --doc`, so what you read here works.
//!
//! 1. [A first pipeline](#a-first-pipeline)
//! 2. [Demand: who decides how much flows](#demand-who-decides-how-much-flows)
//! 3. [Crossing threads](#crossing-threads)
//! 4. [Choosing a strategy for overload](#choosing-a-strategy-for-overload)
//! 5. [Running on tokio](#running-on-tokio)
//! 6. [Exporting metrics](#exporting-metrics)
//!
//! # A first pipeline
//!
//! A [`Flux`](crate::Flux) is a description of a stream: a source, then operators. Nothing runs
//! until something subscribes; a *sink* such as [`collect`](crate::Flux::collect) or
//! [`fold`](crate::Flux::fold) subscribes, runs the stream to its end and hands back the result,
//! or the first error.
//!
//! ```
//! use backflow::prelude::*;
//!
//! let squares_of_evens = backflow::range(1..11u64)
//!     .filter(|x| x % 2 == 0)
//!     .map(|x| x * x)
//!     .collect()
//!     .unwrap();
//! assert_eq!(squares_of_evens, [4, 16, 36, 64, 100]);
//!
//! // Any iterator is a source too; errors travel down the stream and end it.
//! let parsed: Result<Vec<u32>, _> = backflow::from_iter(["1", "2", "x"])
//!     .try_map(|s| s.parse::<u32>().map_err(Error::custom))
//!     .collect();
//! assert!(parsed.is_err());
//! ```
//!
//! # Demand: who decides how much flows
//!
//! backflow is a [Reactive Streams](https://www.reactive-streams.org) runtime: a subscriber asks
//! for `n` items (`request(n)`) and a publisher never sends more than was asked. That is the
//! backpressure: a slow consumer slows the whole chain down instead of drowning in it. A
//! [`TestSubscriber`](crate::TestSubscriber) lets you hold the demand yourself and watch.
//!
//! ```
//! use backflow::prelude::*;
//!
//! let (subscriber, probe) = TestSubscriber::<u32>::new(0); // requests nothing at first
//! backflow::range(0..100u32).map(|x| x + 1).subscribe(subscriber);
//! assert!(probe.values().is_empty()); // asked for nothing, got nothing
//! probe.request(3);
//! assert_eq!(probe.values(), [1, 2, 3]); // asked for three, got three
//! probe.cancel();
//! ```
//!
//! # Crossing threads
//!
//! Two operators move a stream onto a [scheduler](crate::sched):
//! [`subscribe_on`](crate::Flux::subscribe_on) runs the *source* there (where items are made),
//! [`publish_on`](crate::Flux::publish_on) runs *what follows* there (where items are used). Between
//! them sits a bounded ring of `prefetch` items; demand still flows back across it, so a producer
//! thread never gets more than a ring ahead of its consumer.
//!
//! ```
//! use backflow::prelude::*;
//! use backflow::sched;
//!
//! let producer = sched::single(); // one dedicated thread, FIFO
//! let workers = sched::pool(2); // a fixed pool
//! let total = backflow::range(0..100_000u64)
//!     .subscribe_on(producer) // the range runs on the producer thread
//!     .publish_on(workers).prefetch(1024) // the rest runs on a pool thread, 1024 items in flight
//!     .map(|x| x % 10)
//!     .fold(0u64, |sum, x| sum + x)
//!     .unwrap();
//! assert_eq!(total, 450_000);
//! ```
//!
//! Timed operators ([`sample`](crate::Flux::sample), [`throttle`](crate::Flux::throttle),
//! [`timeout`](crate::Flux::timeout), [`interval`](crate::interval)) read a scheduler's clock. In
//! tests, give them a [`VirtualTime`](crate::sched::VirtualTime) and move time yourself: no sleeps,
//! no flaky timing.
//!
//! ```
//! use std::time::Duration;
//! use backflow::prelude::*;
//! use backflow::sched::VirtualTime;
//!
//! let clock = VirtualTime::new();
//! let (subscriber, ticks) = TestSubscriber::<u64>::new(u64::MAX);
//! backflow::interval(Duration::from_secs(1))
//!     .scheduler(clock.clone())
//!     .take(3)
//!     .subscribe(subscriber);
//! clock.advance_by(Duration::from_secs(2));
//! assert_eq!(ticks.values(), [0, 1]);
//! clock.advance_by(Duration::from_secs(1));
//! assert_eq!(ticks.values(), [0, 1, 2]);
//! assert!(ticks.is_complete());
//! ```
//!
//! # Choosing a strategy for overload
//!
//! Outside data (requests, sensor readings, messages) does not wait for demand. An
//! [`emitter`](crate::emitter) is where it enters a stream: a bounded buffer with a policy for when
//! it is full. Pick by what the data is worth and whether its producer can wait:
//!
//! | the producer... | the data... | use |
//! |---|---|---|
//! | can wait | must not be lost | [`Emitter::emit`](crate::Emitter::emit) on a bounded emitter, or `.buffer(n)`: the producer blocks |
//! | must not wait, can retry | must not be lost | [`Emitter::try_emit`](crate::Emitter::try_emit): a full buffer hands the item back with a retry-after hint (an HTTP 503) |
//! | must not wait | only the latest matters | [`Overflow::DropOldest`](crate::ops::Overflow), `.drop_oldest(n)`, `.sample(period)` |
//! | must not wait | the earliest matters | [`Overflow::DropNewest`](crate::ops::Overflow), `.drop_newest(n)` |
//! | any | must be paced | `.throttle(n, per)` |
//!
//! ```
//! use backflow::prelude::*;
//! use backflow::ops::Overflow;
//!
//! // Reject: nothing is lost, the producer is told to come back later.
//! let (emitter, flux) = backflow::emitter::<u32>(2);
//! emitter.try_emit(1).unwrap();
//! emitter.try_emit(2).unwrap();
//! let refused = emitter.try_emit(3).unwrap_err();
//! assert!(refused.is_full());
//! assert_eq!(refused.into_inner(), 3); // handed back, not dropped
//! drop(emitter); // the last emitter gone: the stream completes after what it holds
//! assert_eq!(flux.collect().unwrap(), [1, 2]);
//!
//! // Drop the oldest: the producer never waits, the freshest items are kept, drops are counted.
//! let (emitter, flux) = backflow::emitter_with::<u32>(2, Overflow::DropOldest);
//! for i in 0..5 {
//!     emitter.emit(i).unwrap();
//! }
//! drop(emitter);
//! assert_eq!(flux.collect().unwrap(), [3, 4]);
//! ```
//!
//! A stream fed by one producer thread can turn its only handle into a
//! [`SingleEmitter`](crate::SingleEmitter) with [`Emitter::into_single`](crate::Emitter::into_single):
//! the same methods and outcomes, and a faster hand-off to a blocking iterator or a stream (no
//! read-modify-write per item). It is `Send` but not `Clone` or `Sync`.
//!
//! The demo `cargo run --release --example producer_consumer` runs every strategy against the
//! same overload (a producer twice as fast as its consumer) and prints what each one delivered,
//! refused, dropped and held, with a chart in `target/producer_consumer.svg`.
//!
//! # Running on tokio
//!
//! With the `tokio` feature, [`sched::Tokio`](crate::sched) runs stages on a tokio runtime: its
//! worker threads for the drain passes, its timer for the timed operators. Consume the stream from
//! async code with [`into_stream`](crate::Flux::into_stream), a `futures::Stream` that keeps the
//! demand bounded too.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() {
//! use backflow::prelude::*;
//! use backflow::sched::Tokio;
//! use futures::StreamExt;
//!
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! runtime.block_on(async {
//!     let on_tokio = Tokio::current();
//!     let mut lines = backflow::range(1..4u32)
//!         .subscribe_on(on_tokio.clone())
//!         .map(|n| format!("line {n}"))
//!         .publish_on(on_tokio)
//!         .into_stream();
//!     let mut seen = Vec::new();
//!     while let Some(line) = lines.next().await {
//!         seen.push(line.unwrap());
//!     }
//!     assert_eq!(seen, ["line 1", "line 2", "line 3"]);
//! });
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! User code in a tokio pass must not block (tokio's own rule); for blocking work, use
//! `Tokio::current().blocking()`, which runs the passes on tokio's blocking pool. Tests get
//! deterministic time from tokio itself: on a runtime with paused time
//! (`#[tokio::test(start_paused = true)]`) backflow's timed operators follow tokio's clock.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() {
//! use std::time::Duration;
//! use backflow::prelude::*;
//! use backflow::sched::Tokio;
//! use futures::StreamExt;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .start_paused(true)
//!     .build()
//!     .unwrap();
//! runtime.block_on(async {
//!     let start = tokio::time::Instant::now();
//!     let error = backflow::never::<u32>()
//!         .timeout(Duration::from_secs(60))
//!         .scheduler(Tokio::current())
//!         .into_stream()
//!         .next()
//!         .await
//!         .unwrap()
//!         .unwrap_err();
//!     assert_eq!(error.kind(), ErrorKind::Timeout);
//!     assert_eq!(start.elapsed(), Duration::from_secs(60)); // a minute, in no time
//! });
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! If the runtime shuts down under a running stream, nothing hangs or panics: see
//! `sched::Tokio`'s "When the runtime shuts down".
//!
//! # Exporting metrics
//!
//! Give a stage a [`StageMetrics`](crate::metrics::StageMetrics) with
//! [`.metrics(..)`](crate::Flux::metrics) and it counts what it received, emitted and dropped (by
//! reason), how full it is, how long items waited, and whether it is paused. A
//! [`Registry`](crate::metrics::Registry) renders every stage it holds as Prometheus text: serve
//! that at `/metrics` and Prometheus scrapes it.
//!
//! ```
//! use backflow::metrics::{DropReason, Registry};
//! use backflow::prelude::*;
//!
//! let registry = Registry::new();
//! let ingest = registry.stage("ingest", 2);
//! let kept = backflow::range(0..10u32)
//!     .drop_newest(2)
//!     .metrics(ingest.clone())
//!     .collect()
//!     .unwrap();
//! let snapshot = ingest.snapshot();
//! assert_eq!(snapshot.received, 10);
//! assert_eq!(snapshot.emitted + snapshot.dropped.get(DropReason::Overflow), 10);
//! assert_eq!(kept.len() as u64, snapshot.emitted);
//!
//! let text = registry.prometheus();
//! assert!(text.contains(r#"backflow_received_total{stage="ingest"} 10"#));
//! ```
//!
//! With the `metrics` feature every `StageMetrics` also reports to the
//! [`metrics`](https://docs.rs/metrics) facade under the same names, so an application that
//! already installs a recorder (such as `metrics-exporter-prometheus`) exports backflow's stages
//! with no further code. Install the recorder before building the stages.
//!
//! ```
//! # #[cfg(feature = "metrics")]
//! # fn main() {
//! use backflow::prelude::*;
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let stage = metrics::with_local_recorder(&recorder, || {
//!     std::sync::Arc::new(backflow::metrics::StageMetrics::new("parse", 0))
//! });
//! let n = backflow::range(0..5u32)
//!     .map(|x| x + 1)
//!     .drop_unrequested()
//!     .metrics(stage)
//!     .count()
//!     .collect()
//!     .unwrap();
//! assert_eq!(n, [5]);
//! let received = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .find(|(key, ..)| key.key().name() == "backflow_received_total")
//!     .map(|(.., value)| value);
//! assert_eq!(received, Some(DebugValue::Counter(5)));
//! # }
//! # #[cfg(not(feature = "metrics"))]
//! # fn main() {}
//! ```
//!
//! The repository ships Prometheus alerting rules for these metrics in
//! `deploy/prometheus/alerts.yml` (rejection rate, queue near capacity, drop rate, a stage paused
//! too long), with `promtool` unit tests beside them, and the demo serves a live `/metrics`:
//! `cargo run --release --example producer_consumer -- --serve 127.0.0.1:9898`.
